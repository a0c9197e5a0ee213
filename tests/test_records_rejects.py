"""Tests of the read stage's reject writer: byte-exact rejects, re-runnable extracts, reasons, commit/abort."""
import csv
import io

from ccm_batch.errors import RecordError
from ccm_batch.records import InputConfig, open_records
from ccm_batch.records.rejects import RejectWriter
from ccm_batch.records.validate import FieldSpec, Problem, validate_record

LATIN1 = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n'
          '<letters xmlns="urn:letters" job_date="2026-11-23">\n'
          '  <letter id="L1"><name>Hélène</name><premium>12.00</premium></letter>\n'
          '  <letter id="L2"><name>Zoé</name><premium>x12</premium></letter>\n'
          '  <letter id="L3"><name>Loïc</name></letter>\n'
          '</letters>\n').encode("latin-1")


def _reasons(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_xml_rejects_are_a_rerunnable_extract(tmp_path):
    src = tmp_path / "in" / "letters.xml"
    src.parent.mkdir()
    src.write_bytes(LATIN1)
    cfg = InputConfig.from_dict({"path": str(src), "record": "letter", "key": "@id"}, tmp_path)
    specs = [FieldSpec("premium", "*[local-name()='premium']", "amount")]
    writer = RejectWriter(tmp_path / "out", "letter", cfg.format, cfg.encoding)
    for record in open_records(cfg):
        found = validate_record(record, specs)
        if found:
            writer.add(record, found)
    assert not (tmp_path / "out" / "letter.rejects.xml").exists()       # temporary names until commit
    assert (tmp_path / "out" / "letter.rejects.xml.tmp").exists()
    paths = writer.commit()
    assert [p.name for p in paths] == ["letter.rejects.xml", "letter.reasons.csv"]
    data = paths[0].read_bytes()
    assert data == ('<?xml version="1.0" encoding="ISO-8859-1"?>\n'
                    '<letters xmlns="urn:letters" job_date="2026-11-23">\n'
                    '<letter id="L2"><name>Zoé</name><premium>x12</premium></letter>\n'
                    '<letter id="L3"><name>Loïc</name></letter>\n'
                    '</letters>\n').encode("latin-1")
    assert not list((tmp_path / "out").glob("*.tmp"))
    # the rejects file reads back with the same job input: same records, same bytes
    again = InputConfig.from_dict({"path": str(paths[0]), "record": "letter", "key": "@id"}, tmp_path)
    rerun = list(open_records(again))
    assert [r.key for r in rerun] == ["L2", "L3"]
    assert rerun[0].raw == LATIN1.splitlines()[3].strip()
    assert _reasons(paths[1]) == [
        ["record", "key", "source", "line", "field", "message"],
        ["2", "L2", "letters.xml", "4", "premium", "premium 'x12' is not a number"],
        ["3", "L3", "letters.xml", "5", "premium", "premium is missing"]]


def test_csv_rejects_keep_header_and_lines(tmp_path):
    src = tmp_path / "accounts.csv"
    src.write_bytes(b"id;amount\r\n1;10.00\r\n2;oops\r\n3;x")
    cfg = InputConfig.from_dict({"path": str(src), "csv": {"delimiter": ";"}, "key": "id"}, tmp_path)
    writer = RejectWriter(tmp_path, "acc", cfg)                   # an InputConfig: knows the header row
    for record in open_records(cfg):
        found = validate_record(record, [FieldSpec("amount", "amount", "amount")])
        if found:
            writer.add(record, found)
    writer.commit()
    assert (tmp_path / "acc.rejects.csv").read_bytes() == b"id;amount\r\n2;oops\r\n3;x\r\n"
    rows = _reasons(tmp_path / "acc.reasons.csv")
    assert rows[1:] == [["2", "2", "accounts.csv", "3", "amount", "amount 'oops' is not a number"],
                        ["3", "3", "accounts.csv", "4", "amount", "amount 'x' is not a number"]]


def test_add_raw_with_tuples_and_record_errors(tmp_path):
    writer = RejectWriter(tmp_path, "job", "csv", header=b"a,b\n")
    writer.add_raw(5, "K5", "/data/in.csv", 9, b"5,x\n", [("b", "b 'x' is not a number"), Problem("a", "a is missing")])
    writer.add_raw(8, "", "/data/in.csv", 12, b"8,y\n", RecordError("table does not fit", field="items", page=2))
    assert writer.count == 2
    writer.commit()
    assert (tmp_path / "job.rejects.csv").read_bytes() == b"a,b\n5,x\n8,y\n"
    assert _reasons(tmp_path / "job.reasons.csv")[1:] == [
        ["5", "K5", "in.csv", "9", "b", "b 'x' is not a number"],
        ["5", "K5", "in.csv", "9", "a", "a is missing"],
        ["8", "", "in.csv", "12", "items", "table does not fit (page 2)"]]


def test_abort_removes_temporary_files(tmp_path):
    writer = RejectWriter(tmp_path, "job", "xml", "UTF-8")
    writer.add_raw(1, "k", str(tmp_path / "gone.xml"), 3, b"<a/>", "bad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.reasons.csv.tmp", "job.rejects.xml.tmp"]
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_no_rejects_no_files_unless_always(tmp_path):
    assert RejectWriter(tmp_path, "job", "xml").commit() == []
    assert list(tmp_path.iterdir()) == []
    paths = RejectWriter(tmp_path, "job", "xml", "UTF-8", always=True).commit()
    assert paths[0].read_bytes() == b'<?xml version="1.0" encoding="UTF-8"?>\n<rejects>\n</rejects>\n'
    assert paths[1].read_text() == "record,key,source,line,field,message\n"


def test_unreadable_source_gets_a_rejects_root(tmp_path):
    with RejectWriter(tmp_path, "job", "xml") as writer:
        writer.add_raw(1, "k", str(tmp_path / "gone.xml"), 3, "<a>é</a>".encode(), [("f", "m")])
    assert (tmp_path / "job.rejects.xml").read_bytes() == \
        '<?xml version="1.0" encoding="UTF-8"?>\n<rejects>\n<a>é</a>\n</rejects>\n'.encode()


def test_output_is_deterministic(tmp_path):
    src = tmp_path / "x.xml"
    src.write_bytes(b"<r><a i='1'/><a i='2'/></r>")
    outputs = []
    for run in ("one", "two"):
        cfg = InputConfig.from_dict({"path": str(src), "record": "a", "key": "@i"}, tmp_path)
        with RejectWriter(tmp_path / run, "j", "xml") as writer:
            for record in open_records(cfg):
                writer.add(record, [Problem("i", "always bad")])
        outputs.append([(tmp_path / run / n).read_bytes() for n in ("j.rejects.xml", "j.reasons.csv")])
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == b'<?xml version="1.0" encoding="UTF-8"?>\n<r>\n<a i=\'1\'/>\n<a i=\'2\'/>\n</r>\n'


def test_record_that_is_the_root_gets_a_rejects_wrapper(tmp_path):
    src = tmp_path / "one.xml"
    src.write_bytes(b'<?xml version="1.0"?>\n<invoice id="1"><x/></invoice>\n')
    with RejectWriter(tmp_path, "j", "xml") as writer:
        writer.add_raw(1, "1", str(src), 2, b'<invoice id="1"><x/></invoice>', [("x", "bad")])
    assert (tmp_path / "j.rejects.xml").read_bytes() == \
        b'<?xml version="1.0" encoding="UTF-8"?>\n<rejects>\n<invoice id="1"><x/></invoice>\n</rejects>\n'
