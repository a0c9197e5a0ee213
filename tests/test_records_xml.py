"""Tests of the read stage's XML reader: exact raw bytes, offsets, lines, namespaces, encodings, errors."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ccm_batch.errors import InputError
from ccm_batch.records import InputConfig, open_records


def read(tmp_path, data: bytes, name="x.xml", **table):
    path = tmp_path / name
    path.write_bytes(data)
    table = {"path": str(path), "format": "xml", **table}
    return path, list(open_records(InputConfig.from_dict(table, tmp_path)))


TRICKY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE invoices [ <!ENTITY co "Énergies"> <!-- <invoice> --> ]>
<invoices xmlns="urn:default" xmlns:p="urn:p">
  <!-- <invoice id="commented"> -->
  <header><invoiceCount>3</invoiceCount></header>
  <invoice id="A1" note='a &gt; b > c'><name>Hélène Lefèvre</name><![CDATA[</invoice> <invoice>]]>
    <?pi <invoice>?>
  </invoice>
  <invoice
      id="A2"><p:invoice id="nested"/><invoice id="inner"><x/></invoice></invoice  >
  <invoice id="A3"/>
</invoices>
""".encode("utf-8")


def test_raw_offset_line_are_exact(tmp_path):
    path, records = read(tmp_path, TRICKY, record="invoice", key="@id")
    assert [r.key for r in records] == ["A1", "A2", "A3"]
    assert [r.number for r in records] == [1, 2, 3]
    data = path.read_bytes()
    for r in records:
        assert data[r.offset:r.offset + len(r.raw)] == r.raw
        assert data[:r.offset].count(b"\n") + 1 == r.line
        assert r.source == str(path)
    assert records[0].raw.startswith(b"<invoice id=\"A1\"") and records[0].raw.endswith(b"</invoice>")
    assert b"<![CDATA[</invoice> <invoice>]]>" in records[0].raw
    assert records[1].raw.endswith(b"</invoice></invoice  >")       # nested same-name element kept inside
    assert records[2].raw == b'<invoice id="A3"/>'
    assert [r.line for r in records] == [6, 9, 11]


def test_tree_is_a_detached_root_with_namespaces(tmp_path):
    _, records = read(tmp_path, TRICKY, record="invoice")
    first = records[0].tree
    assert first.getparent() is None
    assert first.getroottree().getroot() is first
    assert first.tag == "{urn:default}invoice"
    assert first.xpath("string(d:name)", namespaces={"d": "urn:default"}) == "Hélène Lefèvre"
    assert first.tail is None
    # trees remain usable after the reader has moved past them
    assert records[1].tree.xpath("count(.//*)") == 3


def test_prefixed_record_with_namespace_map(tmp_path):
    data = b"""<?xml version="1.0"?>
<b:batch xmlns:b="urn:b" xmlns:inv="urn:inv">
  <inv:invoice num="1"><inv:total>10.00</inv:total></inv:invoice>
  <other:invoice xmlns:other="urn:other" num="x"/>
  <inv:invoice num="2"><inv:total>20.00</inv:total></inv:invoice>
</b:batch>
"""
    path, records = read(tmp_path, data, record="i:invoice", namespaces={"i": "urn:inv"}, key="i:total")
    assert [r.key for r in records] == ["10.00", "20.00"]
    assert records[1].raw == b'<inv:invoice num="2"><inv:total>20.00</inv:total></inv:invoice>'
    assert path.read_bytes()[records[1].offset:].startswith(b'<inv:invoice num="2">')


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252"])
def test_declared_single_byte_encodings(tmp_path, encoding):
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n<letters>\n'
            '<letter id="1"><name>Hélène Lefèvre</name><city>GUÉRET</city></letter>\n'
            '<letter id="2"><name>Françoise Brûlé</name><note>\u2013 «ok»</note></letter>\n</letters>\n')
    if encoding == "ISO-8859-1":
        text = text.replace("\u2013", "-")
    data = text.encode(encoding)
    path, records = read(tmp_path, data, record="letter", key="name")
    assert [r.key for r in records] == ["Hélène Lefèvre", "Françoise Brûlé"]
    assert records[0].raw == '<letter id="1"><name>Hélène Lefèvre</name><city>GUÉRET</city></letter>'.encode(encoding)
    assert data[records[1].offset:records[1].offset + len(records[1].raw)] == records[1].raw


def test_utf8_bom_and_crlf(tmp_path):
    data = b'\xef\xbb\xbf<?xml version="1.0"?>\r\n<r>\r\n<a k="1">\xc3\xa9</a>\r\n<a k="2"/>\r\n</r>\r\n'
    path, records = read(tmp_path, data, record="a", key="@k")
    assert [(r.offset, r.line) for r in records] == [(data.index(b'<a k="1"'), 3), (data.index(b'<a k="2"'), 4)]
    assert records[0].raw == b'<a k="1">\xc3\xa9</a>'


def test_encoding_override(tmp_path):
    # declared UTF-8 but really Latin-1: the [input] encoding wins
    data = '<?xml version="1.0" encoding="UTF-8"?><r><a>Hélène</a></r>'.encode("latin-1")
    _, records = read(tmp_path, data, record="a", encoding="ISO-8859-1", key=".")
    assert records[0].key == "Hélène"


def test_utf16_is_refused(tmp_path):
    data = '<?xml version="1.0" encoding="UTF-16"?><r><a/></r>'.encode("utf-16")
    with pytest.raises(InputError, match="UTF-16"):
        read(tmp_path, data, record="a")


def test_start_number(tmp_path):
    path = tmp_path / "x.xml"
    path.write_bytes(b"<r><a/><a/></r>")
    cfg = InputConfig.from_dict({"path": str(path), "record": "a"}, tmp_path)
    assert [r.number for r in open_records(cfg, start_number=101)] == [101, 102]


def test_records_across_chunk_boundaries(tmp_path):
    from ccm_batch.records.xml import XmlRecordReader
    body = "".join(f'<rec id="{i}"><v>{"x" * (i % 7)}</v><!-- c{i} --></rec>\n' for i in range(300))
    data = f'<?xml version="1.0"?>\n<root>\n{body}</root>\n'.encode()
    path = tmp_path / "x.xml"
    path.write_bytes(data)
    cfg = InputConfig.from_dict({"path": str(path), "record": "rec", "key": "@id"}, tmp_path)
    records = list(XmlRecordReader(cfg, chunk_size=97))         # odd chunk size: tags split across feeds
    assert [r.key for r in records] == [str(i) for i in range(300)]
    assert all(data[r.offset:r.offset + len(r.raw)] == r.raw for r in records)
    assert [r.line for r in records] == list(range(3, 303))


def test_not_well_formed_yields_previous_records_then_fails(tmp_path):
    data = b'<?xml version="1.0"?>\n<r>\n<a id="1"/>\n<a id="2"><b></a>\n<a id="3"/>\n</r>\n'
    path = tmp_path / "bad.xml"
    path.write_bytes(data)
    got = []
    with pytest.raises(InputError) as info:
        for record in open_records(InputConfig.from_dict({"path": str(path), "record": "a", "key": "@id"},
                                                         tmp_path)):
            got.append(record.key)
    assert got == ["1"]
    message = str(info.value)
    assert message.startswith(f"{path}:4:")
    assert "mismatch" in message


def test_truncated_file_reports_end(tmp_path):
    data = b'<r>\n<a id="1"/>\n<a id="2">'
    path = tmp_path / "cut.xml"
    path.write_bytes(data)
    got = []
    with pytest.raises(InputError, match=r"cut\.xml:3:\d+: "):
        for record in open_records(InputConfig.from_dict({"path": str(path), "record": "a"}, tmp_path)):
            got.append(record.number)
    assert got == [1]


def test_bad_utf8_reports_line(tmp_path):
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n<r>\n<a/>\n<a>H\xe9l\xe8ne</a>\n</r>\n'
    path = tmp_path / "latin.xml"
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"latin\.xml:4:\d+: .*UTF-8"):
        list(open_records(InputConfig.from_dict({"path": str(path), "record": "a"}, tmp_path)))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot open"):
        list(open_records(InputConfig.from_dict({"path": "nope.xml", "record": "a"}, tmp_path)))


_MEASURE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ccm_batch.records import InputConfig, open_records
    path = Path(sys.argv[1])
    cfg = InputConfig.from_dict({"path": str(path), "record": "invoice", "key": "@id"}, path.parent)
    n = last = 0
    for r in open_records(cfg):
        n += 1
        last = r.offset + len(r.raw)
    with open("/proc/self/status") as f:      # this process's own peak: ru_maxrss keeps the parent's across exec
        print(n, last, next(line for line in f if line.startswith("VmHWM:")).split()[1])
""")


def _big_file(path: Path, megabytes: int) -> int:
    record = ('  <invoice id="{i}">\n    <customer id="C{i}"><name>Hélène Lefèvre</name></customer>\n'
              + "".join(f'    <item n="{k}"><label>Consommation électricité {k}</label>'
                        f'<amount>12.{k:02d}</amount></item>\n' for k in range(10))
              + "  </invoice>\n")
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<invoices>\n')
        written = 0
        while written < megabytes * 1_000_000:
            chunk = "".join(record.replace("{i}", str(count + j)) for j in range(1000))
            f.write(chunk)
            written += len(chunk.encode("utf-8"))
            count += 1000
        f.write("</invoices>\n")
    return count


def test_memory_is_flat_on_large_files(tmp_path):
    """Peak RSS reading 100 MB stays within a few MB of reading 20 MB (each in a fresh process)."""
    peaks = {}
    for megabytes in (20, 100):
        path = tmp_path / f"big{megabytes}.xml"
        count = _big_file(path, megabytes)
        out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True,
                             check=True).stdout.split()
        assert int(out[0]) == count
        assert int(out[1]) == path.stat().st_size - len("\n</invoices>\n")
        peaks[megabytes] = int(out[2]) / 1024            # VmHWM is in KiB
        path.unlink()
    assert peaks[100] - peaks[20] < 8, peaks
