"""Tests of the read stage's [input] table: InputConfig.from_dict and its errors."""
from pathlib import Path

import pytest

from ccm_batch.errors import ConfigError
from ccm_batch.records import InputConfig


def test_relative_path_resolves_against_base_dir(tmp_path):
    cfg = InputConfig.from_dict({"path": "data/x.xml", "format": "xml", "record": "invoice"}, tmp_path)
    assert cfg.path == tmp_path / "data" / "x.xml"
    assert cfg.record_tag == "{*}invoice"
    assert cfg.encoding is None and cfg.key is None and cfg.csv is None


def test_absolute_path_kept(tmp_path):
    cfg = InputConfig.from_dict({"path": "/srv/in/x.xml", "record": "invoice"}, tmp_path)
    assert cfg.path == Path("/srv/in/x.xml")
    assert cfg.format == "xml"          # guessed from the suffix


@pytest.mark.parametrize("record, namespaces, tag", [
    ("inv:invoice", {"inv": "urn:inv"}, "{urn:inv}invoice"),
    ("{urn:x}letter", {}, "{urn:x}letter"),
    ("{}letter", {}, "{}letter"),
])
def test_record_notations(tmp_path, record, namespaces, tag):
    cfg = InputConfig.from_dict({"path": "x.xml", "record": record, "namespaces": namespaces}, tmp_path)
    assert cfg.record_tag == tag
    assert cfg.namespace_map == namespaces


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'recrod'"):
        InputConfig.from_dict({"path": "x.xml", "recrod": "invoice"}, tmp_path)


def test_unknown_csv_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"\[input.csv\] unknown key 'separator'"):
        InputConfig.from_dict({"path": "x.csv", "csv": {"separator": ";"}}, tmp_path)


@pytest.mark.parametrize("table, message", [
    ({"format": "xml", "record": "a"}, "path: missing"),
    ({"path": "x.xml"}, "record: missing"),
    ({"path": "x.json"}, "format: missing"),
    ({"path": "x.xml", "format": "json", "record": "a"}, "not supported"),
    ({"path": "x.xml", "record": "p:a"}, "prefix 'p' is not declared"),
    ({"path": "x.xml", "record": "1a"}, "not an XML element name"),
    ({"path": "x.xml", "record": "a", "encoding": "klingon"}, "not a known encoding"),
    ({"path": "x.xml", "record": "a", "encoding": "utf-16"}, "not supported"),
    ({"path": "x.xml", "record": "a", "key": "@@id"}, "not a valid XPath"),
    ({"path": "x.csv", "csv": {"delimiter": ";;"}}, "one character"),
    ({"path": "x.csv", "csv": {"type_column": "t"}}, "needs header_type and detail_type"),
    ({"path": "x.csv", "csv": {"header": False, "columns": ["a", "b"], "group_by": "c"}},
     "'c' is not one of the columns"),
    ({"path": "x.csv", "csv": {"header": False, "type_column": "t", "header_type": "H", "detail_type": "D",
                               "columns": {"H": ["t", "a"], "D": ["x", "t"]}}}, "same position"),
    ({"path": "x.csv", "csv": {"header": False, "type_column": "t", "header_type": "H", "detail_type": "D",
                               "columns": {"H": ["t", "a"]}}}, "no layout for record type 'D'"),
])
def test_config_errors(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message):
        InputConfig.from_dict(table, tmp_path)


def test_csv_options_with_columns_per_type(tmp_path):
    cfg = InputConfig.from_dict({
        "path": "x.csv", "key": "account",
        "csv": {"delimiter": ";", "header": False, "group_by": "account", "type_column": "type",
                "header_type": "H", "detail_type": "D", "record_element": "statement",
                "detail_element": "transaction",
                "columns": {"H": ["type", "account", "name"], "D": ["type", "account", "amount"]}}}, tmp_path)
    assert cfg.format == "csv"
    assert cfg.csv.delimiter == ";" and cfg.csv.header is False
    assert cfg.csv.columns_by_type == {"H": ["type", "account", "name"], "D": ["type", "account", "amount"]}
    assert cfg.csv.record_element == "statement" and cfg.csv.detail_element == "transaction"
    with pytest.raises(Exception):
        cfg.path = Path("/elsewhere")       # frozen


def test_bundled_job_input_tables_load():
    import tomllib
    samples = Path(__file__).resolve().parent.parent / "samples"
    jobs = sorted(samples.glob("*.toml"))
    if not jobs:
        pytest.skip("no bundled sample jobs")
    for job in jobs:
        table = tomllib.loads(job.read_text(encoding="utf-8"))["input"]
        cfg = InputConfig.from_dict(table, samples)
        assert cfg.path.parent == samples / "data"
