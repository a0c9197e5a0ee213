"""Read stage: stream an XML extract as :class:`Record`\\ s, with each record's exact bytes and offset.

How it works. The file is read in chunks of 1 MiB and fed to an lxml ``XMLPullParser`` filtered on
the record tag; lxml checks well-formedness, resolves namespaces and builds each record's tree. The
same bytes go to a small byte scanner (:class:`_RawLocator`) which finds, in the file's own encoding,
the record's start tag and its matching end tag (skipping comments, CDATA sections, processing
instructions and the DOCTYPE), so ``raw`` is the record byte for byte and ``offset``/``line`` are exact
(lxml itself gives neither byte offsets nor line numbers above 65535). The scanner is driven by lxml's
events: it looks for the qualified name lxml saw (prefix included), so the two always agree on which
elements are records.

Memory stays flat: each finished record is deep-copied into its own small document (``Record.tree``
is the root of that document, so absolute XPaths such as ``/invoice/@id`` work and the tree stays
usable after the reader moves on), then removed from the parse tree together with everything parsed
before it (preceding siblings of the record and of its ancestors). The scanner's buffer is compacted
at every chunk, so it holds at most one chunk plus the record in progress.

Decisions:

* Nested records (a record element inside another one) belong to the outermost record.
* Only ASCII-compatible encodings (UTF-8, ISO-8859-1, windows-1252, …) are accepted; a UTF-16/32
  byte-order mark or declaration raises :class:`~ccm_batch.errors.InputError`.
* Entities are not resolved and no DTD or network resource is loaded (``resolve_entities=False``,
  ``no_network=True``); ``huge_tree=True`` lifts libxml2's limits on very large text nodes.
* A file that is not well-formed raises ``InputError("file:line:column: reason")`` after yielding
  every record that was complete before the error.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterator

from lxml import etree

from ..errors import InputError
from .model import Record

CHUNK_SIZE = 1 << 20

_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
TAG_REST = re.compile(rb"""(?:[^>"']+|"[^"]*"|'[^']*')*>""")
_DOCTYPE_END = re.compile(rb"""(?:[^>\["']+|"[^"]*"|'[^']*')*(?:>|\[)""")
_SUBSET_END = re.compile(rb"\]\s*>")


def detect_encoding(head: bytes) -> str | None:
    """The encoding named by the XML declaration at the start of ``head`` (``None`` if not declared).

    Raises :class:`InputError` for UTF-16/UTF-32 (byte-order mark or declaration).
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"<\x00?\x00", b"\x00<\x00?")):
        raise InputError("UTF-16/UTF-32 extracts are not supported: convert the file to UTF-8")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    m = _DECL.match(head)
    if not m:
        return None
    name = m.group(1).decode("ascii")
    if not ascii_compatible(name):
        raise InputError(f"encoding {name} is not supported: convert the file to UTF-8 "
                         "(records are located byte by byte, which needs an ASCII-compatible encoding)")
    return name


def ascii_compatible(name: str) -> bool:
    """True when ``name`` is a known encoding that writes XML markup characters as ASCII bytes."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        return True                      # unknown to Python: let libxml2 decide
    if codec.name.startswith(("utf_16", "utf_32")):
        return False
    try:
        return codec.encode("<?xml/>='\" _-:[]!az09")[0] == b"<?xml/>='\" _-:[]!az09"
    except (UnicodeError, LookupError):
        return False


def python_codec(name: str | None) -> str:
    """The Python codec for an XML encoding name (``utf-8`` when unknown or ``None``)."""
    if not name:
        return "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def root_start(head: bytes) -> int | None:
    """Index of the root element's ``<`` in the first bytes of an XML file (after the prolog), or None."""
    at = 0
    while True:
        at = head.find(b"<", at)
        if at < 0 or at + 1 >= len(head):
            return None
        nxt = head[at + 1:at + 2]
        if head.startswith(b"<!--", at):
            end = head.find(b"-->", at + 4)
            at = end + 3 if end >= 0 else -1
        elif nxt == b"?":
            end = head.find(b"?>", at + 2)
            at = end + 2 if end >= 0 else -1
        elif nxt == b"!":
            m = _DOCTYPE_END.match(head, at + 2)
            if not m:
                return None
            at = m.end()
            if head[at - 1:at] == b"[":
                m = _SUBSET_END.search(head, at)
                at = m.end() if m else -1
        else:
            return at
        if at < 0:
            return None


class _RawLocator:
    """Finds records' start and end tags in the bytes fed so far; tracks byte offsets and lines.

    ``buf`` holds the bytes from absolute offset ``base``; ``pos`` is where the next search starts
    (always on a markup boundary outside any record). Line numbers are counted incrementally from
    ``line_pos`` (an index into ``buf`` whose line number is ``line_no``).
    """

    def __init__(self, codec: str):
        self.codec = codec
        self.buf = bytearray()
        self.base = 0
        self.pos = 0
        self.line_pos = 0
        self.line_no = 1
        self._patterns: dict = {}

    def feed(self, data: bytes) -> None:
        """Append ``data``, dropping the bytes before ``pos`` (already consumed)."""
        if self.pos:
            self.line_no += self.buf.count(b"\n", self.line_pos, self.pos)
            del self.buf[:self.pos]
            self.base += self.pos
            self.pos = self.line_pos = 0
        self.buf += data

    def _line_at(self, index: int) -> int:
        self.line_no += self.buf.count(b"\n", self.line_pos, index)
        self.line_pos = index
        return self.line_no

    def _compiled(self, qname: str):
        pats = self._patterns.get(qname)
        if pats is None:
            q = re.escape(qname.encode(self.codec))
            outside = re.compile(rb"<(?:(!--)|(!\[CDATA\[)|(\?)|(!)|" + q + rb"(?=[\s/>]))")
            inside = re.compile(rb"<(?:(!--)|(!\[CDATA\[)|(\?)|(/)?" + q + rb"(?=[\s/>]))")
            pats = self._patterns[qname] = (outside, inside)
        return pats

    def _skip(self, kind: int, at: int) -> int:
        """Index just after the comment (1), CDATA (2), PI (3) or declaration (4) starting at ``at``."""
        buf = self.buf
        if kind == 1:
            end = buf.find(b"-->", at + 4)
            return self._need(end) + 3
        if kind == 2:
            end = buf.find(b"]]>", at + 9)
            return self._need(end) + 3
        if kind == 3:
            end = buf.find(b"?>", at + 2)
            return self._need(end) + 2
        m = _DOCTYPE_END.match(buf, at + 2)
        if not m:
            self._need(-1)
        if buf[m.end() - 1:m.end()] == b"[":
            m2 = _SUBSET_END.search(buf, m.end())
            return self._need(m2.end() if m2 else -1)
        return m.end()

    @staticmethod
    def _need(index: int) -> int:
        if index < 0:
            raise InputError("internal error: the record scanner lost its place in the file")
        return index

    def _tag_end(self, at: int) -> int:
        m = TAG_REST.match(self.buf, at)
        if not m:
            self._need(-1)
        return m.end()

    def locate(self, qname: str) -> tuple[int, int, bytes]:
        """Find the next record element named ``qname``: ``(offset, line, raw bytes)``."""
        outside, inside = self._compiled(qname)
        buf = self.buf
        at = self.pos
        while True:
            m = outside.search(buf, at)
            if m is None:
                self._need(-1)
            kind = m.lastindex
            if kind is None:
                break
            at = self._skip(kind, m.start())
        start = m.start()
        at = self._tag_end(m.end())
        depth = 0 if buf[at - 2:at - 1] == b"/" else 1
        while depth:
            m = inside.search(buf, at)
            if m is None:
                self._need(-1)
            kind = m.lastindex
            if kind in (1, 2, 3):
                at = self._skip(kind, m.start())
            elif kind == 4:                             # end tag </qname ...>
                at = self._need(buf.find(b">", m.end())) + 1
                depth -= 1
            else:                                       # nested start tag of the same name
                at = self._tag_end(m.end())
                if buf[at - 2:at - 1] != b"/":
                    depth += 1
        line = self._line_at(start)
        self.pos = at
        return self.base + start, line, bytes(buf[start:at])


class XmlRecordReader:
    """Iterator over the records of an XML extract (see the module docstring).

    Attributes known once iteration has started: ``encoding`` (the declared or configured encoding,
    ``None`` if the file declares none, i.e. UTF-8) and ``records`` (how many were yielded).
    """

    def __init__(self, cfg, start_number: int = 1, chunk_size: int = CHUNK_SIZE):
        self.cfg = cfg
        self.path = Path(cfg.path)
        self.source = str(cfg.path)
        self.start_number = start_number
        self.chunk_size = chunk_size
        self.encoding: str | None = cfg.encoding
        self.header = None
        self.records = 0
        self._key = (etree.XPath(f"string({cfg.key})", namespaces=cfg.namespace_map or None)
                     if cfg.key else None)
        self._it = self._read()

    def __iter__(self):
        return self

    def __next__(self) -> Record:
        return next(self._it)

    def close(self) -> None:
        """Stop reading and close the file."""
        self._it.close()

    def _read(self) -> Iterator[Record]:
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise InputError(f"{self.source}: cannot open the extract: {exc.strerror}") from None
        with f:
            head = f.read(self.chunk_size)
            declared = detect_encoding(head)
            if self.encoding is None:
                self.encoding = declared
            locator = _RawLocator(python_codec(self.encoding))
            parser = etree.XMLPullParser(events=("start", "end"), tag=self.cfg.record_tag,
                                         encoding=self.cfg.encoding, resolve_entities=False,
                                         no_network=True, load_dtd=False, huge_tree=True)
            state = {"depth": 0, "number": self.start_number}
            chunk = head
            while True:
                locator.feed(chunk)
                try:
                    if chunk:
                        parser.feed(chunk)
                    else:
                        parser.close()
                except etree.XMLSyntaxError as exc:
                    yield from self._drain(parser, locator, state)
                    raise InputError(self._where(exc)) from None
                yield from self._drain(parser, locator, state)
                if not chunk:
                    break
                try:
                    chunk = f.read(self.chunk_size)
                except OSError as exc:
                    raise InputError(f"{self.source}: read error: {exc.strerror}") from None

    def _where(self, exc: etree.XMLSyntaxError) -> str:
        line, column = exc.position if exc.position else (exc.lineno or 0, 0)
        msg = exc.msg or str(exc)
        msg = re.sub(r",? line \d+, column \d+$", "", msg).strip()
        if "Document is empty" in msg or ("Start tag expected" in msg and line <= 1):
            msg += " (is this an XML file?)"
        elif "encoding" in msg.lower() or "utf-8" in msg.lower():
            msg += (f" (the file is read as {self.encoding or 'UTF-8'}: fix the XML declaration "
                    "or set [input] encoding)")
        return f"{self.source}:{line}:{column}: {msg}"

    def _drain(self, parser, locator: _RawLocator, state: dict) -> Iterator[Record]:
        for event, elem in parser.read_events():
            if event == "start":
                state["depth"] += 1
                continue
            state["depth"] -= 1
            if state["depth"]:
                continue                                  # a nested record: part of the outer one
            qname = f"{elem.prefix}:{etree.QName(elem).localname}" if elem.prefix \
                else etree.QName(elem).localname
            offset, line, raw = locator.locate(qname)
            tree = elem.__deepcopy__(None)
            tree.tail = None
            self._release(elem)
            key = self._key(tree) if self._key is not None else ""
            number = state["number"]
            state["number"] += 1
            self.records += 1
            yield Record(self.source, number, offset, line, raw, tree, str(key).strip())

    @staticmethod
    def _release(elem) -> None:
        """Free the parsed record and everything before it in the parse tree."""
        elem.clear(keep_tail=False)
        for node in elem.iterancestors():
            parent = node.getparent()
            if parent is None:
                break
            while node.getprevious() is not None:
                del parent[0]
        parent = elem.getparent()
        if parent is not None:
            while elem.getprevious() is not None:
                del parent[0]
            parent.remove(elem)


def read_xml(cfg, start_number: int = 1) -> Iterator[Record]:
    """Stream the records of an XML extract (``cfg`` is an :class:`~ccm_batch.records.config.InputConfig`)."""
    return XmlRecordReader(cfg, start_number)
