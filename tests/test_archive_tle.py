"""Archive stage tests: archive fields and their AFP TLE form."""
import pytest

from ccm_batch.archive.tle import (document_fields, parse_tle, tle_structured_field, tle_triplets,
                                   tle_value, tle_values)
from ccm_batch.errors import ConfigError
from ccm_batch.pages import DocumentMeta


def test_fields_fixed_then_declared_in_order_without_duplicates():
    meta = DocumentMeta("D1", "C9", "LETTER", "2025-02-01",
                        index=(("zone", "N"), ("Date", "ignored"), ("account", 42), ("zone", "S")))
    assert document_fields(meta) == [("doc_id", "D1"), ("customer_id", "C9"), ("doc_type", "LETTER"),
                                      ("date", "2025-02-01"), ("zone", "N"), ("account", "42")]


def test_ibm_example_tle_bytes():
    # afp.md §5.3: IBM's 39-byte "Customer Name" / "Bob Smith" TLE, byte for byte
    expected = bytes.fromhex("5A0026D3A090000000" "11020B00C3A4A2A3969485994 0D5819485".replace(" ", "")
                             + "0D360000C29682 40E294 89A388".replace(" ", ""))
    assert tle_structured_field("Customer Name", "Bob Smith") == expected
    assert len(expected) == 39


def test_triplets_round_trip_through_parse():
    data = tle_triplets("amount", "1 234,50")
    assert data[:4] == bytes((4 + 6, 0x02, 0x0B, 0x00))
    assert parse_tle(data) == ("amount", "1 234,50")


def test_values_sanitised_for_cp500_and_truncated():
    assert tle_value("12 €\nnext\tline") == "12 ? next line"
    assert tle_value("Ｍüller") == "Müller"          # NFKC folds the full-width M; ü is in CP500
    assert len(tle_value("x" * 300).encode("cp500")) == 250
    meta = DocumentMeta("D1", "C1", "T", "2025-01-01", index=(("note", "é" * 260),))
    assert tle_values(meta)[-1] == ("note", "é" * 250)


@pytest.mark.parametrize("name", ["", "  ", "n" * 251, "prix€", "bad\nname"])
def test_bad_tle_names_are_config_errors(name):
    meta = DocumentMeta("D1", "C1", "T", "2025-01-01", index=((name, "v"),))
    with pytest.raises(ConfigError):
        tle_values(meta)


def test_parse_tle_rejects_broken_triplet_length():
    with pytest.raises(ValueError):
        parse_tle(bytes((0x20, 0x02, 0x0B, 0x00)) + b"\xC1")


def test_tles_decode_with_the_independent_pyafp_parser(tmp_path):
    """PyAFP (afp.md §12.1) reads our TLE bytes back as the same names and values."""
    afp = pytest.importorskip("afp")
    from test_archive_support import build_afp, meta
    doc = meta(1, index=(("Nom client", "Élodie Müller"),))
    data, _ = build_afp([(doc, 1)], page_tle=False)
    (tmp_path / "t.afp").write_bytes(data)
    with open(tmp_path / "t.afp", "rb") as f:
        fields = afp.load(f, allow_unknown_fields=True, allow_unknown_triplets=True,
                          allow_unknown_functions=True, strict=True)
    tles = [f["Triplets"] for f in fields if f["SFTypeID"] == 0xD3A090]
    decoded = [(t[0]["FQName"], t[1]["AttVal"]) for t in tles]
    assert decoded == tle_values(doc)
    assert decoded[-1] == ("Nom client", "Élodie Müller")
