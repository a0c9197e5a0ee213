"""Tests of the read stage's CSV reader: header/detail grouping, raw lines, offsets, trees, errors."""
import pytest
from lxml import etree

from ccm_batch.errors import InputError
from ccm_batch.records import InputConfig, open_records

HD = (b'H,1000234567,U000003,MS EMILY R JOHNSON,1520.34\n'
      b'D,1000234567,2026-10-02,"PAYROLL DEPOSIT ACME, INC",2000.00\r\n'
      b'D,1000234567,2026-10-04,"CHECK\n1043 ""void""",120.00\n'
      b'H,1000234568,U000004,MR JOHN SMITH,-12.50\n'
      b'H,1000234569,U000005,MRS ANN LEE,0.00\n'
      b'D,1000234569,2026-10-09,ATM,40.00')           # no final line end

HD_CSV = {"header": False, "group_by": "account", "type_column": "type", "header_type": "H",
          "detail_type": "D", "record_element": "statement", "detail_element": "transaction",
          "columns": {"H": ["type", "account", "customer_id", "name", "opening_balance"],
                      "D": ["type", "account", "post_date", "description", "amount"]}}


def read(tmp_path, data: bytes, csv_table: dict, **table):
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    cfg = InputConfig.from_dict({"path": str(path), "format": "csv", "csv": csv_table, **table}, tmp_path)
    reader = open_records(cfg)
    return path, reader, list(reader)


def test_header_detail_grouping(tmp_path):
    path, _, records = read(tmp_path, HD, HD_CSV, key="account")
    assert [r.key for r in records] == ["1000234567", "1000234568", "1000234569"]
    assert [r.line for r in records] == [1, 5, 6]
    data = path.read_bytes()
    for r in records:
        assert data[r.offset:r.offset + len(r.raw)] == r.raw
    assert records[0].raw.count(b"\n") == 4 and b"\r\n" in records[0].raw
    assert records[2].raw.endswith(b"ATM,40.00")
    tree = records[0].tree
    assert tree.tag == "statement"
    assert tree.findtext("name") == "MS EMILY R JOHNSON"
    assert [t.findtext("amount") for t in tree.findall("transaction")] == ["2000.00", "120.00"]
    assert tree.xpath("string(transaction[1]/description)") == "PAYROLL DEPOSIT ACME, INC"
    assert tree.xpath("string(transaction[2]/description)") == 'CHECK\n1043 "void"'
    assert records[1].tree.findall("transaction") == []


def test_tree_shape_is_record_columns_then_lines(tmp_path):
    _, _, records = read(tmp_path, HD, HD_CSV)
    assert etree.tostring(records[2].tree) == (
        b"<statement><type>H</type><account>1000234569</account><customer_id>U000005</customer_id>"
        b"<name>MRS ANN LEE</name><opening_balance>0.00</opening_balance>"
        b"<transaction><type>D</type><account>1000234569</account><post_date>2026-10-09</post_date>"
        b"<description>ATM</description><amount>40.00</amount></transaction></statement>")


def test_header_row_names_and_sanitising(tmp_path):
    data = "\ufeffCustomer Id;Montant (€);1st;;Customer Id\nC1;12,50;a;b;dup\n\nC2;3;c;d;e;extra\n".encode()
    _, reader, records = read(tmp_path, data, {"delimiter": ";"}, key="Customer_Id")
    assert reader.header == "Customer Id;Montant (€);1st;;Customer Id\n".encode()
    assert len(records) == 2 and [r.key for r in records] == ["C1", "C2"]
    assert [child.tag for child in records[1].tree] == ["Customer_Id", "Montant", "_1st", "col4",
                                                        "Customer_Id_2", "col6"]
    assert records[1].tree.findtext("col6") == "extra"
    assert records[0].tree.tag == "record"
    assert [r.line for r in records] == [2, 4]


def test_group_by_alone_makes_every_line_a_detail(tmp_path):
    data = b"acc,name,item\n1,Ann,a\n1,Ann,b\n2,Bob,c\n1,Ann,d\n"
    _, _, records = read(tmp_path, data, {"group_by": "acc"}, key="acc")
    assert [r.key for r in records] == ["1", "2", "1"]       # consecutive lines only
    assert [len(r.tree.findall("line")) for r in records] == [2, 1, 1]
    assert records[0].tree.findtext("name") == "Ann"
    assert [x.text for x in records[0].tree.iterfind("line/item")] == ["a", "b"]


def test_one_record_per_line_with_columns(tmp_path):
    data = "1;Hélène;Lefèvre\n2;Zoé;Brûlé\n".encode("cp1252")
    path, _, records = read(tmp_path, data, {"delimiter": ";", "header": False,
                                             "columns": ["id", "first", "last"]},
                            encoding="windows-1252", key="last")
    assert [r.key for r in records] == ["Lefèvre", "Brûlé"]
    assert records[1].raw == "2;Zoé;Brûlé\n".encode("cp1252")
    assert records[1].offset == len("1;Hélène;Lefèvre\n".encode("cp1252"))


def test_no_header_no_columns_numbers_them(tmp_path):
    _, _, records = read(tmp_path, b"a|b\n", {"delimiter": "|", "header": False})
    assert [c.tag for c in records[0].tree] == ["col1", "col2"]


def test_detail_before_header(tmp_path):
    data = b"D,1,2026-10-01,x,1.00\nH,1,U1,N,0\n"
    with pytest.raises(InputError, match=r"x\.csv:1: detail line .* before any header"):
        read(tmp_path, data, HD_CSV)


def test_detail_of_another_key(tmp_path):
    data = b"H,1,U1,N,0\nD,1,2026-10-01,x,1.00\nD,2,2026-10-01,y,1.00\n"
    got = []
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    cfg = InputConfig.from_dict({"path": str(path), "csv": HD_CSV}, tmp_path)
    with pytest.raises(InputError, match=r"x\.csv:3: detail line for account '2' follows the header line of '1'"):
        for r in open_records(cfg):
            got.append(r)
    assert got == []


def test_unknown_record_type(tmp_path):
    data = b"H,1,U1,N,0\nT,1,9\n"
    with pytest.raises(InputError, match=r"x\.csv:2: unknown record type 'T'"):
        read(tmp_path, data, HD_CSV)


def test_bad_bytes_report_line(tmp_path):
    data = b"id,name\n1,ok\n2,H\xe9l\xe8ne\n"
    with pytest.raises(InputError, match=r"x\.csv:3:4: byte 0xE9 is not valid utf-8"):
        read(tmp_path, data, {})


def test_unclosed_quote(tmp_path):
    with pytest.raises(InputError, match="x.csv:2"):
        read(tmp_path, b'id,name\n1,"open\n2,x\n', {})


def test_sample_us_statements_read(tmp_path):
    """The committed sample CSV reads with the documented [input] table."""
    import tomllib
    from pathlib import Path
    samples = Path(__file__).resolve().parent.parent / "samples"
    job = samples / "us-statement.toml"
    if not job.exists() or not (samples / "data" / "us-statements.csv").exists():
        pytest.skip("no bundled US statement job")
    cfg = InputConfig.from_dict(tomllib.loads(job.read_text(encoding="utf-8"))["input"], samples)
    records = list(open_records(cfg))
    assert len(records) == 12
    for r in records:
        tree = r.tree
        assert tree.findtext("account") == r.key
        debits = sum(float(t.findtext("debit") or 0) for t in tree.iterfind("transaction"))
        assert abs(debits - float(tree.findtext("total_debits"))) < 0.005
