"""Read stage: stream an XML extract as :class:`Record`\\ s, with each record's exact bytes and offset.

A record's ``raw`` bytes, ``offset`` and ``line`` come from a small byte scanner working in the file's
own encoding (lxml gives neither byte offsets nor line numbers above 65535); its ``tree`` from lxml.
The file is read in chunks of 1 MiB. Two ways of reading, chosen per file:

**Fragment reading** (files without a DOCTYPE, the usual extract). The whole file goes through a
libxml2 parser with an empty target: it checks well-formedness at C speed without building any tree.
The scanner (:class:`_Skeleton`) walks the same bytes, *one chunk behind* the checker, so it only
ever sees bytes the checker has accepted: it follows the elements around the records (tracking their
namespace declarations), recognises record start tags by the configured tag filter and finds each
record's matching end tag. Only records the caller selects (``select(number)``, all of them by
default) are parsed, each from its own bytes (``etree.fromstring``), the namespace declarations in
scope where the record sits being added to its start tag for that parse. Each record is thus parsed
once into its own small document: no tree of the whole file, no deep copy, and a record nobody
composes costs no tree at all. On a well-formedness error, the records that end before the error's
position are yielded, then the error is raised, as below.

**Tree reading** (files with a DOCTYPE, whose entities a fragment could not resolve, or a prolog
longer than a chunk). An lxml ``XMLPullParser`` filtered on the record tag builds the records' trees;
each finished record is deep-copied into its own small document (if selected) and removed from the
parse tree together with everything parsed before it, so memory stays flat. The same scanner
as above (:class:`_Skeleton`, which resolves namespace prefixes as lxml does) finds each record's
bytes when lxml reports the record finished.

Both ways give the same records: ``Record.tree`` is the root of its own document (absolute XPaths such
as ``/invoice/@id`` work, the tree stays usable after the reader moves on, ``tail`` is ``None``).
Finding a record's end is a few ``bytes.find`` calls (the first ``</name`` after the start tag, when
no comment, CDATA section, processing instruction or nested element of the same name comes first),
falling back to a token-by-token scan otherwise.

Decisions:

* Nested records (a record element inside another one) belong to the outermost record.
* ``select(number) -> bool``: records it rejects are still yielded, in order, with their exact
  ``raw``/``offset``/``line`` but ``tree=None`` and ``key=""`` (callers count and skip them). In
  fragment reading, namespace well-formedness (undeclared prefixes …) is checked by the parse of
  each *selected* record and for the element names around records; the plain XML well-formedness of
  the whole file is always checked.
* Only ASCII-compatible encodings (UTF-8, ISO-8859-1, windows-1252, …) are accepted; a UTF-16/32
  byte-order mark or declaration raises :class:`~ccm_batch.errors.InputError`.
* No external DTD, entity or network resource is ever loaded (``load_dtd=False``, ``no_network=True``);
  the entity rules (external declarations refuse the extract, undefined references reject their record,
  internal entities expand within libxml2's limits) are :mod:`ccm_batch.records.entities`. The
  well-formedness checker and fragment parses keep ``huge_tree=True`` (large text nodes are bounded by
  :mod:`ccm_batch.records.limits` instead); tree reading of a DTD that declares entities does not.
* Size limits (:mod:`ccm_batch.records.limits`): a record over ``max_record_bytes`` is followed to its
  end without being kept (:class:`~ccm_batch.records.limits.RecordSkipper`) and yielded rejected, its
  ``raw`` a :class:`~ccm_batch.records.model.SourceSpan`; a text node or attribute value over
  ``max_field_chars`` rejects its record before it is parsed. In tree reading the limits are checked
  when the record is complete (the pull parser holds it meanwhile), and more than ``max_record_bytes``
  (plus a chunk) without a record's end stops the extract (:class:`InputError`).
* A file that is not well-formed raises ``InputError("file:line:column: reason")`` after yielding
  every record that was complete before the error.
"""
from __future__ import annotations

import codecs
import re
from typing import Callable, Iterator

from lxml import etree

from ..errors import InputError
from . import entities
from .limits import RecordSkipper, long_text, record_too_large
from .model import Record, RecordStream, SourceSpan

CHUNK_SIZE = 1 << 20

_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
TAG_REST = re.compile(rb"""(?:[^>"']+|"[^"]*"|'[^']*')*>""")
_TAG_REST = re.compile(rb"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")     # atomic: fails fast if cut
_START_TAG = re.compile(rb"""<([^\s/>!?"'=<]++)(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_XMLNS = re.compile(rb"""\sxmlns(?::([^\s=]+))?\s*=\s*("[^"]*"|'[^']*')""")
_DOCTYPE_END = re.compile(rb"""(?:[^>\["']+|"[^"]*"|'[^']*')*(?:>|\[)""")
_SUBSET_END = re.compile(rb"\]\s*>")
_AFTER_NAME = frozenset(b" \t\r\n/>")       # bytes that may follow an element name in a tag
_UNDECLARED_ENTITY = 26                       # libxml2's XML_ERR_UNDECLARED_ENTITY
_PREDEFINED = {b"amp": "&", b"lt": "<", b"gt": ">", b"quot": '"', b"apos": "'"}


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


def _find_name(buf, needle: bytes, start: int, end: int | None = None) -> int:
    """Index of the first ``needle`` (``<name`` or ``</name``) in ``buf[start:end]`` that is followed
    by white space, ``/`` or ``>``; -1 when there is none (or the byte after it is not read yet)."""
    size = len(buf)
    limit = size if end is None else end
    at = buf.find(needle, start, limit)
    while at >= 0:
        after = at + len(needle)
        if after >= size:
            return -1
        if buf[after] in _AFTER_NAME:
            return at
        at = buf.find(needle, after, limit)
    return -1


def _uri(quoted: bytes, codec: str) -> str:
    """The namespace URI of a quoted ``xmlns`` attribute value (predefined and character references
    resolved)."""
    value = quoted[1:-1].decode(codec, "replace")
    if "&" not in value:
        return value

    def ref(m):
        name = m.group(1).encode()
        if name.startswith(b"#x"):
            return chr(int(name[2:], 16))
        if name.startswith(b"#"):
            return chr(int(name[1:]))
        return _PREDEFINED.get(name, m.group(0))
    return re.sub(r"&([^;]+);", ref, value)


class _Scanner:
    """Byte buffer of the file from absolute offset ``base``, with incremental line counting.

    ``pos`` is where the next search starts (always on a markup boundary outside any record); the
    bytes before it are dropped at the next :meth:`feed`. Line numbers are counted from ``line_pos``
    (an index into ``buf`` whose line number is ``line_no``).
    """

    def __init__(self, codec: str):
        self.codec = codec
        self.buf = bytearray()
        self.base = 0
        self.pos = 0
        self.line_pos = 0
        self.line_no = 1
        self._inside: dict = {}

    def feed(self, data: bytes) -> None:
        """Append ``data``, dropping the bytes before ``pos`` (already consumed)."""
        if self.pos:
            self.line_no += self.buf.count(b"\n", self.line_pos, self.pos)
            del self.buf[:self.pos]
            self.base += self.pos
            self.pos = self.line_pos = 0
        self.buf += data

    def line_at(self, index: int) -> int:
        """Line number of ``buf[index]`` (``index`` never decreases between calls)."""
        self.line_no += self.buf.count(b"\n", self.line_pos, index)
        self.line_pos = index
        return self.line_no

    def column_at(self, index: int) -> int:
        """1-based column, in characters, of ``buf[index]`` (libxml2 counts characters)."""
        start = self.buf.rfind(b"\n", 0, index) + 1
        return len(bytes(self.buf[start:index]).decode(self.codec, "replace")) + 1

    def skip(self, kind: int, at: int) -> int:
        """Index just after the comment (1), CDATA section (2), PI (3) or declaration (4) starting
        at ``at``; -1 when it does not end in the buffer."""
        buf = self.buf
        if kind == 1:
            end = buf.find(b"-->", at + 4)
            return end + 3 if end >= 0 else -1
        if kind == 2:
            end = buf.find(b"]]>", at + 9)
            return end + 3 if end >= 0 else -1
        if kind == 3:
            end = buf.find(b"?>", at + 2)
            return end + 2 if end >= 0 else -1
        m = _DOCTYPE_END.match(buf, at + 2)
        if not m:
            return -1
        if buf[m.end() - 1:m.end()] == b"[":
            m2 = _SUBSET_END.search(buf, m.end())
            return m2.end() if m2 else -1
        return m.end()

    def record_end(self, qname: bytes, at: int) -> int:
        """End (exclusive) of the record element named ``qname`` whose start tag ends at ``at``;
        -1 when its end tag is not in the buffer yet."""
        buf = self.buf
        if buf[at - 2] == 0x2F:                           # <name … />
            return at
        close = _find_name(buf, b"</" + qname, at)
        if close < 0:
            return -1
        if (buf.find(b"<!", at, close) < 0 and buf.find(b"<?", at, close) < 0
                and _find_name(buf, b"<" + qname, at, close) < 0):
            gt = buf.find(b">", close)
            return gt + 1 if gt >= 0 else -1
        return self._record_end_slow(qname, at)

    def _record_end_slow(self, qname: bytes, at: int) -> int:
        """:meth:`record_end` token by token: comments, CDATA, PIs and nested same-name elements."""
        inside = self._inside.get(qname)
        if inside is None:
            inside = self._inside[qname] = re.compile(
                rb"<(?:(!--)|(!\[CDATA\[)|(\?)|(/)?" + re.escape(qname) + rb"(?=[\s/>]))")
        buf = self.buf
        depth = 1
        while depth:
            m = inside.search(buf, at)
            if m is None:
                return -1
            kind = m.lastindex
            if kind in (1, 2, 3):
                at = self.skip(kind, m.start())
            elif kind == 4:                             # end tag </qname ...>
                at = buf.find(b">", m.end())
                at = at + 1 if at >= 0 else -1
                depth -= 1
            else:                                       # nested start tag of the same name
                m = _TAG_REST.match(buf, m.end())
                at = m.end() if m else -1
                if at >= 0 and buf[at - 2] != 0x2F:
                    depth += 1
            if at < 0:
                return -1
        return at


class _Skeleton(_Scanner):
    """Walks the elements around the records and finds the records themselves (both readings).

    ``tag`` is the lxml tag filter of the record element (``{uri}name``, ``{*}name`` or ``{}name``).
    ``scopes`` is a stack of in-scope namespace maps (prefix bytes → (quoted value bytes, URI)), one
    per open element around the current position; ``b""`` is the default namespace.
    """

    def __init__(self, codec: str, tag: str, source: str):
        super().__init__(codec)
        m = re.match(r"^\{([^}]*)\}(.+)$", tag)
        self.any_ns = m.group(1) == "*"
        self.want_uri = m.group(1)
        self.want_local = m.group(2).encode(codec)
        self.source = source
        self.scopes: list[dict] = [{}]
        self.declared: frozenset = frozenset()     # internal entities the DTD declares (tree reading)

    def next_record(self):
        """``(start, end, qname, scope)`` of the next complete record in the buffer (indexes into
        ``buf``; ``scope`` the namespaces in scope around it), or ``None`` if more bytes are needed."""
        buf = self.buf
        at = self.pos
        while True:
            lt = buf.find(b"<", at)
            if lt < 0:
                self.pos = at
                return None
            if buf.find(b"&", at, lt) >= 0:
                self._check_references(at, lt)
            self.pos = lt
            if lt + 1 >= len(buf):
                return None
            c = buf[lt + 1]
            if c == 0x21:                                   # <!-- … -->, <![CDATA[ … ]]>
                if buf.startswith(b"<!--", lt):
                    at = self.skip(1, lt)
                elif buf.startswith(b"<![CDATA[", lt):
                    at = self.skip(2, lt)
                elif len(buf) - lt < 9:
                    return None
                else:                                       # <!DOCTYPE …> (tree reading only)
                    at = self.skip(4, lt)
                if at < 0:
                    return None
                continue
            if c == 0x3F:                                   # <? … ?>
                at = self.skip(3, lt)
                if at < 0:
                    return None
                continue
            if c == 0x2F:                                   # end tag of an element around records
                at = buf.find(b">", lt)
                if at < 0:
                    return None
                at += 1
                if len(self.scopes) > 1:
                    self.scopes.pop()
                continue
            m = _START_TAG.match(buf, lt)
            if m is None:
                return None                                 # the tag is cut: wait for more bytes
            qname, tag_end = m.group(1), m.end()
            scope = self.scopes[-1]
            own = self._declarations(buf, lt, tag_end)
            inner = {**scope, **own} if own else scope
            prefix, colon, local = qname.rpartition(b":")
            if colon and prefix not in inner and prefix != b"xml":
                raise InputError(f"{self.source}:{self.line_at(lt)}:{self.column_at(tag_end)}: "
                                 f"Namespace prefix {prefix.decode(self.codec, 'replace')} on "
                                 f"{local.decode(self.codec, 'replace')} is not defined")
            if local == self.want_local and (
                    self.any_ns or (inner[prefix][1] if prefix in inner else "") == self.want_uri):
                end = self.record_end(qname, tag_end)
                if end < 0:
                    return None
                self.pos = end
                return lt, end, qname, scope
            if buf[tag_end - 2] != 0x2F:
                self.scopes.append(inner)
            at = tag_end

    def _check_references(self, start: int, end: int) -> None:
        """Raise :class:`_Malformed` if a ``&`` in the text ``buf[start:end]`` has no ``;`` (libxml2
        would wait for one rather than report the error at once)."""
        buf = self.buf
        amp = buf.find(b"&", start, end)
        while amp >= 0:
            semi = buf.find(b";", amp, end)
            if semi < 0:
                raise _Malformed()
            amp = buf.find(b"&", semi, end)
        names = entities.undefined(bytes(buf[start:end]), self.declared)
        if names:
            raise InputError(f"{self.source}:{self.line_at(start)}: undefined entity &{names[0]}; outside any "
                             "record: the extract uses an entity it does not declare")

    def _declarations(self, buf, start: int, end: int) -> dict:
        """The namespace declarations of the start tag ``buf[start:end]`` (empty dict if none)."""
        if buf.find(b"xmlns", start, end) < 0:
            return {}
        return {m.group(1) or b"": (m.group(2), _uri(m.group(2), self.codec))
                for m in _XMLNS.finditer(bytes(buf[start:end]))}

    def with_scope(self, raw: bytes, qname: bytes, scope: dict) -> bytes:
        """``raw`` with the namespace declarations of ``scope`` that its start tag does not make
        itself added to the start tag, so that it parses on its own as it does in the file."""
        if not scope:
            return raw
        tag = _START_TAG.match(raw)
        own = self._declarations(raw, 0, tag.end())
        extra = b"".join((b" xmlns:" + prefix if prefix else b" xmlns") + b"=" + quoted
                         for prefix, (quoted, _uri_value) in scope.items() if prefix not in own)
        if not extra:
            return raw
        cut = 1 + len(qname)
        return raw[:cut] + extra + raw[cut:]


class _Rejected(Exception):
    """A record the reader rejects (its ``problem``: ``(field, message)``); the run goes on."""

    def __init__(self, problem: tuple):
        super().__init__(problem[1])
        self.problem = problem


class _Malformed(Exception):
    """The scanner found bytes that are not well-formed (libxml2 gives the error's position)."""


class _WellFormed:
    """Parser target that receives nothing: libxml2 only checks the file's well-formedness."""

    def close(self) -> None:
        return None


class XmlRecordReader(RecordStream):
    """Iterator over the records of an XML extract (see the module docstring).

    ``select``: an optional ``select(number) -> bool``; records it rejects come without a tree.
    Attributes known once iteration has started: ``encoding`` (the declared or configured encoding,
    ``None`` if the file declares none, i.e. UTF-8), ``records`` (how many were yielded) and
    ``mode`` (``"fragment"`` or ``"tree"``, see the module docstring).
    """

    def __init__(self, cfg, start_number: int = 1, chunk_size: int = CHUNK_SIZE,
                 select: Callable[[int], bool] | None = None, mode: str | None = None):
        super().__init__(cfg, start_number)
        self.chunk_size = chunk_size
        self.select = select
        self.mode = mode
        self.encoding: str | None = cfg.encoding

    def _options(self) -> dict:
        return {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": True}

    def _read(self) -> Iterator[Record]:
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise InputError(f"{self.source}: cannot open the extract: {exc.strerror}") from None
        with f:
            head = f.read(self.chunk_size)
            while root_start(head) is None and len(head) < (1 << 16):    # the whole prolog first
                more = f.read(self.chunk_size)
                if not more:
                    break
                head += more
            declared = detect_encoding(head)
            if self.encoding is None:
                self.encoding = declared
            if self.mode != "tree":
                self.mode = "fragment" if self._fragments_possible(head) else "tree"
            if self.mode == "fragment":
                yield from self._read_fragments(f, head)
            else:
                yield from self._read_tree(f, head)

    def _fragments_possible(self, head: bytes) -> bool:
        """Fragment reading needs the whole prolog in the first chunk and no DOCTYPE in it."""
        root = root_start(head)
        if root is None or b"<!DOCTYPE" in head[:root]:
            return False
        try:
            etree.XMLParser(encoding=self.encoding, **self._options())
        except LookupError:                 # an encoding only libxml2's own detection knows
            return False
        return True

    def _chunks(self, f, head: bytes) -> Iterator[bytes]:
        """The file's chunks, ``head`` first, then ``b""`` once at the end."""
        chunk = head
        while chunk:
            yield chunk
            try:
                chunk = f.read(self.chunk_size)
            except OSError as exc:
                raise InputError(f"{self.source}: read error: {exc.strerror}") from None
        yield b""

    # -- fragment reading ------------------------------------------------------------------------

    def _read_fragments(self, f, head: bytes) -> Iterator[Record]:
        codec = python_codec(self.encoding)
        self._checker = etree.XMLParser(target=_WellFormed(), encoding=self.cfg.encoding,
                                        **self._options())
        self._checked = 0               # absolute offset up to which the checker has the bytes
        self._last_semi = -1            # absolute offset of the last ';' the checker has
        self._held = b""                # a cut entity reference kept for the checker's next feed
        self._fragment_parser = etree.XMLParser(encoding=self.encoding, **self._options())
        scanner = _Skeleton(codec, self.cfg.record_tag, self.source)
        number = self.start_number
        select, source, key_of = self.select, self.source, self._key
        max_bytes, max_chars = self.cfg.max_record_bytes, self.cfg.max_field_chars
        chunks = self._chunks(f, head)
        for chunk in chunks:
            self._check_to(scanner, scanner.base + len(scanner.buf))
            scanner.feed(chunk)
            while True:
                try:
                    found = scanner.next_record()
                except (InputError, _Malformed) as exc:
                    self._fail(scanner, chunks, exc)
                if found is None:
                    self._check_to(scanner, scanner.base + len(scanner.buf))   # run ahead
                    if len(scanner.buf) - scanner.pos > max_bytes:
                        n = number
                        number += 1
                        self.records += 1
                        yield self._skip_record(scanner, chunks, n)
                        continue
                    break
                start, end, qname, scope = found
                self._check_to(scanner, scanner.base + end)   # never yield unchecked bytes
                offset, line = scanner.base + start, scanner.line_at(start)
                n = number
                number += 1
                self.records += 1
                if end - start > max_bytes:
                    yield Record(source, n, offset, line, bytes(scanner.buf[start:end]), None, "",
                                 ((qname.decode(codec, "replace"), record_too_large(end - start, max_bytes)),))
                    continue
                raw = bytes(scanner.buf[start:end])
                tree = None
                problem = long_text(raw, max_chars, codec) if len(raw) > max_chars else None
                amp = raw.rfind(b"&")
                if problem is None and amp >= 0 and offset + amp > self._last_semi:
                    # libxml2 waits for a ';' after a '&' rather than report it: the record is
                    # well-formed only if its '&'s are in comments, CDATA or PIs; its parse tells
                    try:
                        tree = self._parse(scanner, start, raw, qname, scope, line)
                    except InputError as exc:
                        self._fail(scanner, chunks, exc)
                    except _Rejected as exc:
                        problem = exc.problem
                if problem is not None:
                    yield Record(source, n, offset, line, raw, None, "", (problem,))
                    continue
                if select is not None and not select(n):
                    yield Record(source, n, offset, line, raw, None, "")
                    continue
                if tree is None:
                    try:
                        tree = self._parse(scanner, start, raw, qname, scope, line)
                    except InputError as exc:
                        self._fail(scanner, chunks, exc)
                    except _Rejected as exc:
                        yield Record(source, n, offset, line, raw, None, "", (exc.problem,))
                        continue
                key = key_of(tree) if key_of is not None else ""
                yield Record(source, n, offset, line, raw, tree, str(key).strip())
        self._check_to(scanner, scanner.base + len(scanner.buf))
        self._close_checker()

    def _skip_record(self, scanner: _Skeleton, chunks, number: int) -> Record:
        """The record starting at ``scanner.pos`` is over ``max_record_bytes``: follow it to its end
        without keeping its bytes (the checker still sees them all) and return it as a rejected
        record whose ``raw`` is a :class:`SourceSpan`."""
        buf, pos = scanner.buf, scanner.pos
        m = re.match(rb"<([^\s/>!?\"'=<]+)", bytes(buf[pos:pos + 1024]))
        qname = m.group(1) if m else b""
        local = qname.rpartition(b":")[2]
        line = scanner.line_at(pos)
        if not m or local != scanner.want_local:
            raise InputError(f"{self.source}:{line}: more than {self.cfg.max_record_bytes:,} bytes of "
                             "markup outside any record ([input] max_record_bytes): is [input] record "
                             "the right element?")
        offset = scanner.base + pos
        skipper = RecordSkipper(qname)
        first = pos + 1 + len(qname)
        end = skipper.feed(bytes(buf[first:]))
        if end >= 0:
            end += scanner.base + first
        else:
            # the checker has the buffer (it runs ahead): drop it, then follow the record block
            # by block, the checker still seeing every byte
            scanner.pos = len(buf)
            while end < 0:
                block = next(chunks, b"")
                if not block:
                    self._close_checker()
                    raise InputError(f"{self.source}:{line}: the record <{local.decode(scanner.codec, 'replace')}> "
                                     "starting here never ends (truncated extract?)")
                scanner.feed(block)
                self._check_to(scanner, scanner.base + len(scanner.buf))
                end = skipper.feed(block)
                scanner.pos = len(scanner.buf)
            end += scanner.base
        scanner.pos = end - scanner.base
        field = local.decode(scanner.codec, "replace")
        return Record(self.source, number, offset, line, SourceSpan(self.source, offset, end - offset), None, "",
                      ((field, record_too_large(end - offset, self.cfg.max_record_bytes)),))

    def _feed_checker(self, data: bytes, at: int, final: bool = False) -> None:
        """Feed the well-formedness checker ``data`` (absolute offset ``at``), entity references
        the extract does not declare blanked (records using them are rejected by their parse), a
        possibly cut reference at the end held back for the next feed."""
        semi = data.rfind(b";")
        if semi >= 0:
            self._last_semi = at + semi
        data = self._held + data
        keep = 0 if final else entities.held_back(data)
        self._held = data[len(data) - keep:] if keep else b""
        if keep:
            data = data[:-keep]
        try:
            self._checker.feed(entities.blank_undefined(data))
        except etree.XMLSyntaxError as exc:
            raise InputError(self._where(exc)) from None

    def _close_checker(self) -> None:
        self._feed_checker(b"", self._checked, final=True)
        try:
            self._checker.close()
        except etree.XMLSyntaxError as exc:
            raise InputError(self._where(exc)) from None

    def _check_to(self, scanner: _Skeleton, upto: int) -> None:
        """Give the well-formedness checker the file's bytes up to absolute offset ``upto``.

        libxml2 parses every complete token it is given, so once the bytes up to a record's end
        have passed, everything before that end is well-formed (an error is raised here otherwise)
        — except a ``&`` with no ``;`` anywhere after it: libxml2 waits for more bytes there
        (hence ``_last_semi``, see :meth:`_read_fragments`).
        """
        checked = self._checked
        if upto <= checked:
            return
        data = bytes(scanner.buf[checked - scanner.base:upto - scanner.base])
        self._checked = upto
        self._feed_checker(data, checked)

    def _fail(self, scanner: _Skeleton, chunks, exc: Exception):
        """The scanner or a record's parse found an error: raise libxml2's own error for the file
        (it lies at or before this point; the rest of the file may be needed to have it), else
        ``exc``."""
        self._check_to(scanner, scanner.base + len(scanner.buf))
        for chunk in chunks:
            scanner.pos = len(scanner.buf)
            scanner.feed(chunk)
            self._check_to(scanner, scanner.base + len(scanner.buf))
        self._close_checker()
        if isinstance(exc, InputError):
            raise exc
        raise InputError(f"{self.source}: internal error: the record scanner and libxml2 disagree "
                         "on the file's structure")

    def _parse(self, scanner: _Skeleton, start: int, raw: bytes, qname: bytes, scope: dict,
               line: int):
        """The tree of one record, parsed from its bytes (``scope``'s declarations added)."""
        data = scanner.with_scope(raw, qname, scope) if scope else raw
        try:
            return etree.fromstring(data, self._fragment_parser)
        except etree.XMLSyntaxError as exc:
            row, column = exc.position if exc.position else (exc.lineno or 1, 0)
            if row == 1:                                  # columns of the file's line
                added = len(data) - len(raw)
                if column > 1 + len(qname) + added:
                    column -= added
                column += scanner.column_at(start) - 1
            msg = re.sub(r",? line \d+, column \d+$", "", exc.msg or str(exc)).strip()
            if exc.code == _UNDECLARED_ENTITY:
                name = re.search(r"Entity '([^']*)'", msg)
                raise _Rejected(("entity", f"undefined entity &{name.group(1) if name else '?'}; "
                                 f"(line {line + row - 1}): the extract uses an entity it does not "
                                 "declare")) from None
            raise InputError(f"{self.source}:{line + row - 1}:{column}: {msg}") from None

    # -- tree reading ----------------------------------------------------------------------------

    def _read_tree(self, f, head: bytes) -> Iterator[Record]:
        codec = python_codec(self.encoding)
        root = root_start(head)
        if root is None and b"<!DOCTYPE" in head:
            raise InputError(f"{self.source}:1: the DOCTYPE is longer than {len(head):,} bytes or the "
                             "extract has no root element: not supported")
        declared = entities.declared_entities(head[:root], self.source, codec)   # refuses external ones
        locator = _Skeleton(codec, self.cfg.record_tag, self.source)
        locator.declared = declared
        options = self._options()
        # internal entities expand to their text within libxml2's expansion limits (not lifted by
        # huge_tree when the DTD declares entities); external ones were refused above
        options.update(resolve_entities="internal", huge_tree=not declared)
        parser = etree.XMLPullParser(events=("start", "end"), tag=self.cfg.record_tag,
                                     encoding=self.cfg.encoding, **options)
        state = {"depth": 0, "number": self.start_number, "declared": declared}
        held = b""
        for chunk in self._chunks(f, head):
            locator.feed(chunk)
            try:
                if chunk:
                    data = held + chunk
                    keep = entities.held_back(data)
                    held = data[len(data) - keep:] if keep else b""
                    parser.feed(entities.blank_undefined(data[:len(data) - keep], declared))
                else:
                    if held:
                        parser.feed(entities.blank_undefined(held, declared))
                    parser.close()
            except etree.XMLSyntaxError as exc:
                yield from self._drain(parser, locator, state)
                raise InputError(self._where(exc)) from None
            yield from self._drain(parser, locator, state)
            if len(locator.buf) - locator.pos > self.cfg.max_record_bytes + self.chunk_size:
                # the pull parser holds the record being read: stop before memory grows further
                raise InputError(f"{self.source}:{locator.line_at(locator.pos)}: more than "
                                 f"{self.cfg.max_record_bytes:,} bytes without the end of a record ([input] "
                                 "max_record_bytes) in an extract with a DOCTYPE, which is read as one tree: "
                                 "the extract is refused. Remove the DOCTYPE or fix the extract.")

    def _where(self, exc: etree.XMLSyntaxError) -> str:
        line, column = exc.position if exc.position else (exc.lineno or 0, 0)
        msg = exc.msg or str(exc)
        msg = re.sub(r",? line \d+, column \d+$", "", msg).strip()
        if "Document is empty" in msg or ("Start tag expected" in msg and line <= 1):
            msg += " (is this an XML file?)"
        elif "encoding" in msg.lower() or "utf-8" in msg.lower():
            msg += (f" (the file is read as {self.encoding or 'UTF-8'}: fix the XML declaration "
                    "or set [input] encoding)")
        else:
            msg += entities.expansion_hint(msg)
        return f"{self.source}:{line}:{column}: {msg}"

    def _drain(self, parser, locator: _Skeleton, state: dict) -> Iterator[Record]:
        select = self.select
        for event, elem in parser.read_events():
            if event == "start":
                state["depth"] += 1
                continue
            state["depth"] -= 1
            if state["depth"]:
                continue                                  # a nested record: part of the outer one
            found = locator.next_record()
            if found is None:
                raise InputError(f"{self.source}: internal error: the record scanner lost its place "
                                 "in the file")
            start, end = found[0], found[1]
            raw = bytes(locator.buf[start:end])
            offset, line = locator.base + start, locator.line_at(start)
            number = state["number"]
            state["number"] += 1
            self.records += 1
            problem = None
            if len(raw) > self.cfg.max_record_bytes:
                problem = (found[2].decode(locator.codec, "replace"),
                           record_too_large(len(raw), self.cfg.max_record_bytes))
            elif len(raw) > self.cfg.max_field_chars:
                problem = long_text(raw, self.cfg.max_field_chars, locator.codec)
            if problem is None:
                names = entities.undefined(raw, state["declared"])
                if names:
                    at = raw.find(b"&" + names[0].encode(locator.codec) + b";")
                    where = line + raw.count(b"\n", 0, at)
                    problem = ("entity", f"undefined entity &{names[0]}; (line {where}): "
                               "the extract uses an entity it does not declare")
            if problem is not None:
                self._release(elem)
                yield Record(self.source, number, offset, line, raw, None, "", (problem,))
                continue
            if select is not None and not select(number):
                self._release(elem)
                yield Record(self.source, number, offset, line, raw, None, "")
                continue
            tree = elem.__deepcopy__(None)
            tree.tail = None
            self._release(elem)
            key = self._key(tree) if self._key is not None else ""
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


def read_xml(cfg, start_number: int = 1, select: Callable[[int], bool] | None = None) -> Iterator[Record]:
    """Stream the records of an XML extract (``cfg`` is an :class:`~ccm_batch.records.config.InputConfig`)."""
    return XmlRecordReader(cfg, start_number, select=select)
