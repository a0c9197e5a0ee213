"""Hostile extracts (issue 19 items 1 and 2): bounded memory for any record, entities never printed.

A 50 MB field is rejected while reading (the whole process tree stays under 300 MB), its record copied
byte for byte to the rejects file; a CSV quote that never closes stops the extract naming its line;
an external entity declaration refuses the extract, an undefined entity rejects its record, an
expansion bomb stops the extract; no ``&name;`` reaches a print file (checked with pdftotext).
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import time

import psutil
import pytest

from ccm_batch.errors import InputError
from ccm_batch.records import InputConfig, open_records
from ccm_batch.records.limits import RecordSkipper
from ccm_batch.records.model import SourceSpan
from ccm_batch.records.xml import XmlRecordReader
from runjobs import CLI, make_extract, run_cli, write_job

BIG = 50 << 20


def _run_measured(args, cwd=None) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI; returns its result and the peak of the summed RSS of its process tree (MB)."""
    proc = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)
    root = psutil.Process(proc.pid)
    peak = 0
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            procs = [root] + root.children(recursive=True)
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, total)
        except psutil.NoSuchProcess:
            pass
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, out, err), peak / 2 ** 20


def _reasons(out) -> list[dict]:
    [path] = out.glob("*.reasons.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _pdf_text(out) -> str:
    texts = []
    for pdf in sorted(out.glob("*.pdf")):
        texts.append(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                    check=True).stdout)
    return "\n".join(texts)


def _needs(tool):
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed")
        pytest.skip(f"{tool} is not installed")


# -- item 1: a huge field ------------------------------------------------------------------------

def test_a_50_mb_field_is_rejected_while_reading_in_bounded_memory(tmp_path):
    small = make_extract(tmp_path / "small.xml", 6)
    data = small.read_bytes()
    at = data.index(b"</name>", data.index(b'<customer id="C0000003"'))
    extract = tmp_path / "huge.xml"
    with open(extract, "wb") as f:                 # customer 3's name gets 50 MB of base64-ish text
        f.write(data[:at])
        for _ in range(BIG // (1 << 20)):
            f.write(b"QUJD" * (1 << 18))
        f.write(data[at:])
    source = extract.read_bytes()
    start = source.index(b'<customer id="C0000003"')
    end = source.index(b"</customer>", start) + len(b"</customer>")
    del source
    job = write_job(tmp_path, extract, formats=("pdf",))
    proc, peak = _run_measured(["run", job])
    assert proc.returncode == 4, proc.stderr
    assert peak < 300, f"peak RSS of the process tree {peak:.0f} MB"
    out = tmp_path / "out"
    reasons = _reasons(out)
    assert [(r["record"], r["field"]) for r in reasons] == [("3", "customer")]
    assert "max_record_bytes = 16,777,216" in reasons[0]["message"]
    assert f"{end - start:,} bytes" in reasons[0]["message"]
    rejects = (out / "inv.rejects.xml").read_bytes()
    with open(extract, "rb") as f:
        f.seek(start)
        assert rejects.count(f.read(end - start)) == 1          # byte for byte
    report = (out / "report.json").read_text()
    assert '"documents_produced": 5' in report


def test_field_limit_names_the_element_and_the_limit(tmp_path):
    path = tmp_path / "x.xml"
    path.write_bytes(b'<r>\n<a id="1"><n>ok</n></a>\n<a id="2"><n>' + "é".encode() * 600 +
                     b'</n></a>\n<a id="3" note="' + b"x" * 700 + b'"/>\n</r>\n')
    cfg = InputConfig.from_dict({"path": str(path), "record": "a", "key": "@id", "max_field_chars": 500},
                                tmp_path)
    records = list(open_records(cfg))
    assert [r.problems for r in records] == [
        (), (("n", "the text of <n> of 600 characters is over the limit [input] max_field_chars = 500"),),
        (("a", "an attribute value of <a> of 700 characters is over the limit [input] max_field_chars "
               "= 500"),)]
    assert records[1].raw == path.read_bytes()[path.read_bytes().index(b'<a id="2"'):].split(b"\n")[0]


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_skipped_records_end_where_the_parser_says(tmp_path, chunk):
    """Records over the limit are followed to their end block by block: nested records of the same
    name, comments and CDATA holding end tags, '>' in attribute values, self-closing records."""
    body = (b'<a id="1" t="x>y"><a>in</a><!-- </a> --><![CDATA[</a>]]><?pi </a>?>' + b"z" * 300 + b'</a>\n'
            b'<a id="2" t=\'/a>\' ' + b'k="' + b"v" * 300 + b'"/>\n'
            b'<a id="3">short</a>\n'
            b'<a id="4"><b><a/><a x="1">' + b"w" * 300 + b'</a></b></a >\n')
    path = tmp_path / "x.xml"
    path.write_bytes(b'<?xml version="1.0"?>\n<r>\n' + body + b'</r>\n')
    cfg = InputConfig.from_dict({"path": str(path), "record": "a", "key": "@id", "max_record_bytes": 100},
                                tmp_path)
    got = [(r.line, r.offset, len(r.raw), bool(r.problems)) for r in XmlRecordReader(cfg, chunk_size=chunk)]
    big = InputConfig.from_dict({"path": str(path), "record": "a", "key": "@id"}, tmp_path)
    want = [(r.line, r.offset, len(r.raw), len(r.raw) > 100) for r in XmlRecordReader(big, chunk_size=chunk)]
    assert got == want and [w[3] for w in want] == [True, True, False, True]


def test_record_skipper_on_tiny_blocks():
    data = b'<a x=">"><a/><!--</a>--><a>1</a>tail</a>rest'
    for size in (1, 2, 3, 5):
        skipper = RecordSkipper(b"a")
        feed, end, pos = data[2:], -1, 2
        for i in range(0, len(feed), size):
            end = skipper.feed(feed[i:i + size])
            if end >= 0:
                end += pos + i
                break
        assert data[:end] == b'<a x=">"><a/><!--</a>--><a>1</a>tail</a>'


def test_csv_huge_row_rejected_and_unclosed_quote_stops_with_its_line(tmp_path):
    path = tmp_path / "x.csv"
    with open(path, "wb") as f:
        f.write(b'id,comment\n1,"ok"\n2,"')
        for _ in range(20):
            f.write(b"y" * (1 << 20) + b'\n""q""\n')
        f.write(b'"\n3,fine\n')
    cfg = InputConfig.from_dict({"path": str(path), "format": "csv", "key": "id"}, tmp_path)
    records = list(open_records(cfg))
    assert [(r.number, r.line, r.key) for r in records] == [(1, 2, "1"), (2, 3, ""), (3, 44, "3")]
    assert "over the limit [input] max_record_bytes" in records[1].problems[0][1]
    data = path.read_bytes()
    assert b"".join(records[1].raw.blocks()) == data[data.index(b'2,"'):data.index(b"3,fine")]

    with open(path, "wb") as f:
        f.write(b'id,comment\n1,"ok"\n2,"never closed\n')
        for _ in range(20):
            f.write(b"z" * (1 << 20) + b"\n")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:3: a quoted field opened on this line"):
        list(open_records(cfg))


def test_csv_long_field_names_the_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,name,comment\n1,a,b\n2,b," + "c" * 40 + "\n", encoding="utf-8")
    cfg = InputConfig.from_dict({"path": str(path), "format": "csv", "key": "id", "max_field_chars": 30},
                                tmp_path)
    assert [r.problems for r in open_records(cfg)] == [
        (), (("comment", "field comment of 40 characters is over the limit [input] max_field_chars = 30"),)]


# -- item 2: entities ----------------------------------------------------------------------------

def _with_dtd(tmp_path, dtd: bytes, name_of_3: bytes = None) -> object:
    data = make_extract(tmp_path / "plain.xml", 4).read_bytes()
    decl_end = data.index(b"?>") + 2
    root = data[decl_end:].lstrip()[1:].split(b" ")[0]
    if name_of_3 is not None:
        at = data.index(b"<name>", data.index(b'<customer id="C0000003"')) + len(b"<name>")
        end = data.index(b"</name>", at)
        data = data[:at] + name_of_3 + data[end:]
    path = tmp_path / "extract.xml"
    path.write_bytes(data[:decl_end] + b"\n<!DOCTYPE " + root + b" [\n" + dtd + b"]>" + data[decl_end:])
    return path


def test_external_entity_refuses_the_whole_extract(tmp_path):
    extract = _with_dtd(tmp_path, b'<!ENTITY co "ACME">\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n',
                        b"&xxe;")
    proc = run_cli("run", write_job(tmp_path, extract, formats=("pdf",)))
    assert proc.returncode == 8
    assert f"{extract}:4: the DTD declares the external entity &xxe;" in proc.stderr
    assert not list((tmp_path / "out").glob("*.pdf"))
    assert "root:" not in proc.stderr


def test_undefined_entity_rejects_the_record_internal_ones_expand(tmp_path):
    _needs("pdftotext")
    extract = _with_dtd(tmp_path, b'<!ENTITY co "ACME &amp; Fils">\n', b"M. &undefined; &co;")
    text = extract.read_bytes().replace(b"<line>", b"<line>&co; ", 1)        # customer 1 is &co;
    extract.write_bytes(text)
    proc = run_cli("run", write_job(tmp_path, extract, formats=("pdf", "afp")))
    assert proc.returncode == 4, proc.stderr
    out = tmp_path / "out"
    reasons = _reasons(out)
    assert [(r["record"], r["field"]) for r in reasons] == [("3", "entity")]
    assert reasons[0]["message"].startswith("undefined entity &undefined; (line ")
    printed = _pdf_text(out)
    assert "ACME & Fils" in printed
    [afp] = out.glob("*.afp")
    afp_text = run_cli("inspect", afp, "--text").stdout
    assert "ACME & Fils" in afp_text
    indexes = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.glob("*.index.*"))
    for text in (printed, afp_text, indexes):
        assert not re.search(r"&\w+;", text)
    assert b"&undefined;" in (out / "inv.rejects.xml").read_bytes()


def test_undefined_entity_without_dtd_rejects_only_its_record(tmp_path):
    _needs("pdftotext")
    data = make_extract(tmp_path / "plain.xml", 4).read_bytes()
    at = data.index(b"<name>", data.index(b'<customer id="C0000002"')) + len(b"<name>")
    extract = tmp_path / "extract.xml"
    extract.write_bytes(data[:at] + b"&xxe;" + data[at:])
    proc = run_cli("run", write_job(tmp_path, extract, formats=("pdf",)))
    assert proc.returncode == 4, proc.stderr
    out = tmp_path / "out"
    assert [(r["record"], r["field"]) for r in _reasons(out)] == [("2", "entity")]
    assert "&" not in re.sub(r"&(?!\w+;)", "", _pdf_text(out))


def test_entity_expansion_bomb_stops_the_extract(tmp_path):
    lol = b'<!ENTITY a "aaaaaaaaaa">\n' + b"".join(
        b'<!ENTITY %c "%s">\n' % (ord("b") + i, (b"&" + bytes([ord("a") + i]) + b";") * 10) for i in range(9))
    extract = _with_dtd(tmp_path, lol, b"&j;")
    proc = run_cli("run", write_job(tmp_path, extract, formats=("pdf",)))
    assert proc.returncode == 8
    assert "entity expansion bomb" in proc.stderr and str(extract) in proc.stderr
    assert not list((tmp_path / "out").glob("*.pdf"))


def test_csv_statement_with_a_50_mb_detail_line_is_rejected_whole(tmp_path):
    """The US statement job (header/detail CSV): a 50 MB description in a detail line rejects that
    statement (up to the next header line), byte for byte, in bounded memory; the others print."""
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    lines = (root / "samples" / "data" / "us-statements.csv").read_bytes().splitlines(keepends=True)
    headers = [i for i, ln in enumerate(lines) if ln.startswith(b"H,")]
    second, third = headers[1], headers[2]
    victim = second + 2                                   # a detail line of the second statement
    fields = lines[victim].split(b",")
    extract = tmp_path / "us.csv"
    with open(extract, "wb") as f:
        f.write(b"".join(lines[:victim]))
        f.write(b",".join(fields[:3]) + b',"')
        for _ in range(BIG // (1 << 20)):
            f.write(b"ZZZZ" * (1 << 18))
        f.write(b'",' + b",".join(fields[4:]))
        f.write(b"".join(lines[victim + 1:]))
    job = tmp_path / "us.toml"
    job.write_text((root / "samples" / "us-statement.toml").read_text()
                   .replace('path = "data/us-statements.csv"', f'path = "{extract}"')
                   .replace('path = "../layouts/us-statement.xml"',
                            f'path = "{root / "layouts" / "us-statement.xml"}"')
                   .replace('dir = "../demo-out/us-statement"', 'dir = "out"')
                   .replace('formats = ["pdf", "afp"]', 'formats = ["pdf"]'))
    proc, peak = _run_measured(["run", job])
    assert proc.returncode == 4, proc.stderr
    assert peak < 300, f"peak RSS of the process tree {peak:.0f} MB"
    out = tmp_path / "out"
    assert [(r["record"], r["field"]) for r in _reasons(out)] == [("2", "record")]
    data = extract.read_bytes()
    start = sum(len(ln) for ln in lines[:second])
    end = data.index(lines[third])
    rejects = (out / "us-statement.rejects.csv").read_bytes()
    assert rejects == data[start:end]
    assert f'"documents_produced": {len(headers) - 1}' in (out / "report.json").read_text()


def test_huge_record_in_an_extract_with_a_doctype_stops_in_bounded_memory(tmp_path):
    path = tmp_path / "x.xml"
    with open(path, "wb") as f:
        f.write(b'<!DOCTYPE r [<!ENTITY co "ACME">]>\n<r>\n<a id="1">&co;</a>\n<a id="2">')
        for _ in range(8):
            f.write(b"y" * (1 << 20))
        f.write(b"</a>\n</r>\n")
    cfg = InputConfig.from_dict({"path": str(path), "record": "a", "key": "@id", "max_record_bytes": 1 << 20},
                                tmp_path)
    got = []
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:3: more than 1,048,576 bytes without"):
        for record in open_records(cfg):
            got.append(record.tree.text)
    assert got == ["ACME"]


def test_skipping_agrees_with_the_scanner_on_random_records(tmp_path):
    """Random well-formed records (nested same-name elements, comments, CDATA, PIs, quotes, '>' in
    attribute values, self-closing tags) read with a small max_record_bytes: every record is where the
    unlimited reader finds it, whatever the chunk size."""
    import random
    rng = random.Random(19)

    def element(depth: int) -> bytes:
        name = rng.choice((b"a", b"b", b"ab"))
        attrs = b"".join(rng.sample((b' x=">"', b" y='\"/a>'", b' z="a&amp;b"', b""), 2))
        if depth > 3 or rng.random() < 0.2:
            return b"<" + name + attrs + b"/>"
        parts = [rng.choice((b"text", b"<!-- </a> <a> -->", b"<![CDATA[</a><a>]]>", b"<?pi </a>?>",
                             b"&lt;/a&gt;", b"x" * rng.randrange(0, 120), element(depth + 1)))
                 for _ in range(rng.randrange(0, 5))]
        return b"<" + name + attrs + b">" + b"".join(parts) + b"</" + name + b" >"

    skipped = 0
    for trial in range(25):
        records = [b'<a id="%d">' % i + b"".join(element(1) for _ in range(rng.randrange(0, 4))) + b"</a>"
                   for i in range(1, 8)]
        path = tmp_path / f"r{trial}.xml"
        path.write_bytes(b"<root>\n" + b"\n".join(records) + b"\n<!-- end --></root>\n")
        for chunk in (5, 33, 1 << 20):
            small = InputConfig.from_dict({"path": str(path), "record": "a", "max_record_bytes": 60}, tmp_path)
            big = InputConfig.from_dict({"path": str(path), "record": "a"}, tmp_path)
            read = list(XmlRecordReader(small, chunk_size=chunk))
            skipped += sum(isinstance(r.raw, SourceSpan) for r in read)
            got = [(r.offset, len(r.raw), r.line) for r in read]
            want = [(r.offset, len(r.raw), r.line) for r in XmlRecordReader(big, chunk_size=chunk)]
            assert got == want, (trial, chunk)
    assert skipped > 100          # the records were indeed followed block by block
