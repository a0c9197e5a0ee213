"""Read stage, size limits: bounded memory for any record, however large the extract's records are.

Two limits, set in ``[input]`` (defaults far above any genuine statement):

``max_record_bytes`` (default 16 MiB)
    A record (XML element, CSV row) larger than this is rejected with the reason
    ``record of N bytes is over [input] max_record_bytes = M`` and the run goes on. The readers never
    hold more than about this many bytes (plus one read chunk) of a record: past the limit they only
    look for its end, block by block, and hand the record over as a
    :class:`~ccm_batch.records.model.SourceSpan`: the rejects file copies its bytes from the extract,
    byte for byte, in blocks.
``max_field_chars`` (default 1 Mi characters)
    A text node, attribute value (XML) or field (CSV) longer than this rejects its record, naming the
    element or column: checked on the record's bytes before they are parsed into a tree.

A CSV quote that never closes is found the same way: past ``max_record_bytes`` the reader follows the
quotes without keeping the bytes; at the end of the file it stops the extract (exit 8) naming the line
where the quote opened.
"""
from __future__ import annotations

import re

DEFAULT_MAX_RECORD_BYTES = 16 << 20
DEFAULT_MAX_FIELD_CHARS = 1 << 20
BLOCK = 1 << 20
_TAG_STOP = re.compile(rb"[\"'>]")


def record_too_large(size: int, limit: int) -> str:
    return f"record of {size:,} bytes is over the limit [input] max_record_bytes = {limit:,}"


def field_too_long(chars: int, limit: int, what: str) -> str:
    return (f"{what} of {chars:,} characters is over the limit [input] max_field_chars = {limit:,}")


def long_text(raw: bytes, limit: int, codec: str) -> tuple[str, str] | None:
    """``(field, message)`` for the first text node or attribute value of the XML record ``raw``
    longer than ``limit`` characters, or ``None``."""
    if len(raw) <= limit:
        return None
    for m in re.finditer(rb"[^<>]{%d,}" % (limit + 1), raw):
        lt = raw.rfind(b"<", 0, m.start())
        name = re.match(rb"</?([^\s/>]+)", raw[lt:lt + 256]) if lt >= 0 else None
        field = name.group(1).decode(codec, "replace") if name else "record"
        in_tag = lt >= 0 and raw.rfind(b">", lt, m.start()) < 0 and raw[m.start() - 1:m.start()] != b">"
        if in_tag:                         # attribute values: measure each quoted value
            values = [v.group(0)[1:-1] for v in re.finditer(rb'"[^"]*"|\'[^\']*\'', m.group(0))]
            what = f"an attribute value of <{field}>"
        else:
            values = [m.group(0)]
            what = f"the text of <{field}>"
        for value in values:
            chars = len(value.decode(codec, "replace")) if len(value) > limit else 0
            if chars > limit:
                return field, field_too_long(chars, limit, what)
    return None


class RecordSkipper:
    """Finds the end of an XML record too large to hold, over successive blocks of the file.

    Started on the record's start tag (``qname`` its element name), it follows comments, CDATA
    sections, processing instructions, quoted attribute values and nested elements of the same name,
    keeping only a few bytes between blocks. :meth:`feed` returns the index just after the record's
    end tag in the block, or -1 when the record goes on.
    """

    def __init__(self, qname: bytes):
        self.qname = qname
        self.depth = 1
        self.mode = "tag"           # the record's own start tag comes first
        self.kind = "own"           # what the current tag is: own | open | close | other
        self.quote = b""
        self.last = b""             # the byte before the current position (for "/>")
        self.carry = b""

    def feed(self, block: bytes) -> int:
        buf = self.carry + block
        shift = len(self.carry)
        self.carry = b""
        i, n = 0, len(buf)
        q = self.qname
        while i < n:
            if self.mode == "text":
                j = buf.find(b"<", i)
                if j < 0:
                    return -1
                if n - j < 2:
                    self.carry = buf[j:]
                    return -1
                c = buf[j + 1]
                need = 9 if c == 0x21 else 2 if c == 0x3F else len(q) + 3 if c == 0x2F else len(q) + 2
                if n - j < need and not (c == 0x21 and buf.startswith(b"<!--", j)):
                    self.carry = buf[j:]
                    return -1
                if buf.startswith(b"<!--", j):
                    self.mode, i = "-->", j + 4
                elif buf.startswith(b"<![CDATA[", j):
                    self.mode, i = "]]>", j + 9
                elif buf.startswith(b"<?", j):
                    self.mode, i = "?>", j + 2
                elif buf.startswith(b"</" + q, j) and buf[j + 2 + len(q)] in b" \t\r\n>":
                    self.mode, self.kind, i = "tag", "close", j + 2 + len(q)
                elif buf.startswith(b"<" + q, j) and buf[j + 1 + len(q)] in b" \t\r\n/>":
                    self.mode, self.kind, i = "tag", "open", j + 1 + len(q)
                else:
                    self.mode, self.kind, i = "tag", "other", j + 1
                self.last = b""
            elif self.mode == "tag":
                if self.quote:
                    j = buf.find(self.quote, i)
                    if j < 0:
                        return -1
                    self.quote, i, self.last = b"", j + 1, self.quote
                    continue
                m = _TAG_STOP.search(buf, i)
                if m is None:
                    self.last = buf[n - 1:n]
                    return -1
                j = m.start()
                if buf[j] != 0x3E:                         # an attribute value starts
                    self.quote, i = buf[j:j + 1], j + 1
                    continue
                closed = (buf[j - 1:j] if j > i else self.last) == b"/"
                if self.kind == "close" or (self.kind == "own" and closed):
                    self.depth -= 1
                elif self.kind == "open" and not closed:
                    self.depth += 1
                i = j + 1
                self.mode = "text"
                if self.depth == 0:
                    return i - shift
            else:                                          # inside a comment, CDATA section or PI
                j = buf.find(self.mode.encode(), i)
                if j < 0:
                    self.carry = buf[max(i, n - len(self.mode) + 1):]
                    return -1
                i, self.mode = j + len(self.mode), "text"
        return -1


def csv_row_end(f, start: int, quotechar: bytes, block: int = BLOCK) -> tuple[int, int, bool]:
    """Follow a CSV row from byte ``start`` of ``f`` without keeping it: ``(end, newlines, closed)``
    where ``end`` is the offset after the line end at which its quotes are balanced (or the end of
    the file), ``newlines`` how many line ends it spans, ``closed`` False when a quote is still open
    at the end of the file."""
    f.seek(start)
    odd = False
    newlines = 0
    pos = start
    while True:
        data = f.read(block)
        if not data:
            return pos, newlines, not odd
        i = 0
        while True:
            nl = data.find(b"\n", i)
            segment = data[i:] if nl < 0 else data[i:nl]
            if segment.count(quotechar) % 2:
                odd = not odd
            if nl < 0:
                break
            newlines += 1
            i = nl + 1
            if not odd:
                return pos + i, newlines, True
        pos += len(data)
