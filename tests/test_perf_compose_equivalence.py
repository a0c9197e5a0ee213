"""Compose stage tests: composition speed-ups change no output (equivalence against committed digests).

Every record of the benchmark extract (``bench/fop-reference/gen_data.py 1000 … 42``) and of the four
sample extracts (``samples/data`` with ``layouts/*.xml``) is composed; the canonical form of each result
(``repr`` of the Document and of the warnings, or the RecordError message, with the checkout path
replaced by ``<ROOT>``) is hashed per data set. The committed digests were produced by the code before
the composition optimisations (commit 2aa8921); any change in any page item of any record changes them.
Issue 11 changed three on purpose: invoice and statement bodies start at 19 mm (room for the OMR
ladder inside the printer's 5 mm margin), the US statement's postcode carries the delivery point.
Deliberate updates: invoice, statement and letter for issue 15's line-breaking rules (no break inside a
number + unit, ``n°`` + identifier or an identifier's hyphens) and hyphenation of justified text;
statement again for its table widows and the disclaimer kept with the table (no near-empty last page);
invoice, statement and letter for typographic apostrophes, the letter's date at the address block's
left edge, the invoice's payment slip on page 1 (dashed cut line, QR caption under the code);
statement and US statement for amounts signed consistently (unsigned, direction in words or by column);
invoice, statement and letter for the German customer of the sample data (C000011, Berlin: the invoice in
German, statement and letter in English — the data changed, not the code), the invoice's OCR line in
OCR-B and its unit prices by ``format-price`` (the locale's currency pattern).

Each set is composed twice in the same process, so the second pass runs on warm per-process caches
(line, cell and fixed-content caches) and must give the same digest as the first.

Run ``python tests/test_perf_compose_equivalence.py`` (with ``PYTHONPATH`` pointing at another
checkout's ``ccm_batch`` to compare) to print the digests.
"""
from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "bench" / "fop-reference" / "gen_data.py"
SAMPLES = {            # layout: (job file for the [input] table, data file)
    "invoice": ("invoice.toml", "invoices.xml"),
    "statement": ("statement.toml", "statements.xml"),
    "letter": ("letter.toml", "letters.xml"),
    "us-statement": ("us-statement.toml", "us-statements.csv"),
}
DIGESTS = {
    "bench": "a3298ebbe14186aeccdb85e66a4688e571f4650923d9afc763c32d5cd596db3d",
    "invoice": "d9e441f314cb43b6ed5f2d152cdd6f44f19c05b15792d81be509a2f92b9f96b8",
    "statement": "afddb7f448a5b9d9b15515aa04fac2d8f2d3f77ee3ea4d87788afb2bc91868c0",
    "letter": "074ec8386b44fb69a5e10a737591e91311564e005078edbf19294e1f407840a4",
    "us-statement": "1254ec4ea1c55f0f4dd38c5951faed59412594e8ecdf576e1221b29bb2ccb5c8",
}


def records(name: str, bench_data: Path):
    from ccm_batch.layout import load_layout
    from ccm_batch.records import InputConfig, open_records
    if name == "bench":
        cfg = InputConfig.from_dict({"path": str(bench_data), "format": "xml", "record": "customer",
                                     "key": "@id"}, bench_data.parent)
        return load_layout(ROOT / "layouts" / "bench-invoice.xml"), list(open_records(cfg))
    table = tomllib.loads((ROOT / "samples" / SAMPLES[name][0]).read_text(encoding="utf-8"))["input"]
    data = ROOT / "samples" / "data" / SAMPLES[name][1]
    cfg = InputConfig.from_dict(dict(table, path=str(data)), data.parent)
    return load_layout(ROOT / "layouts" / f"{name}.xml"), list(open_records(cfg))


def digest(layout, recs, job: str, after=None) -> str:
    """SHA-256 over the canonical form of every record's composition result, in record order
    (``after()`` is called after each record)."""
    from ccm_batch.compose import compose_document
    from ccm_batch.errors import RecordError
    h = hashlib.sha256()
    root = str(ROOT)
    for rec in recs:
        try:
            res = compose_document(layout, rec, job=job, job_date="2026-11-23")
            assert pickle.loads(pickle.dumps(res.document)) == res.document
            text = repr(res.document) + repr(res.warnings)
        except RecordError as exc:
            text = f"RecordError {exc} {exc.field} {exc.page}"
        h.update(text.replace(root, "<ROOT>").encode("utf-8"))
        h.update(b"\x00")
        if after is not None:
            after()
    return h.hexdigest()


def make_bench_data(path: Path) -> Path:
    subprocess.run([sys.executable, str(GEN), "1000", str(path), "42"], check=True)
    return path


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    return make_bench_data(tmp_path_factory.mktemp("perf") / "invoices-1000.xml")


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_composition_identical_to_reference(name, bench_data):
    layout, recs = records(name, bench_data)
    assert len(recs) == (1000 if name == "bench" else 12)
    cold = digest(layout, recs, name)
    warm = digest(layout, recs, name)
    assert warm == cold, "warm caches changed the output"
    assert cold == DIGESTS[name]


@pytest.mark.parametrize("name", ["bench", "statement"])
def test_small_cache_bounds_hold_and_change_nothing(name, bench_data, monkeypatch):
    """The per-process caches (line breaks, measured texts) stay within their bounds, also when the
    table's cells fill the line cache, and starting them again when full changes no output. Tiny
    bounds here, so that they fill within a few records."""
    from ccm_batch.compose import flow, table, text
    layout, recs = records(name, bench_data)
    recs = recs[:150]
    flow._clear_caches()
    text._clear_caches()
    expected = digest(layout, recs, name)                 # the default bounds
    monkeypatch.setattr(flow, "LINE_CACHE_SIZE", 40)
    monkeypatch.setattr(text, "WORD_CACHE_SIZE", 40)
    monkeypatch.setattr(table, "CELL_MEMO_SIZE", 40)
    flow._clear_caches()
    text._clear_caches()
    sizes = []

    def check():
        lines = len(flow._line_cache)
        words = max((len(st.words) for st in text._styles.values()), default=0)
        assert lines <= 40 and words <= 40, (lines, words)
        sizes.append(lines)
    assert digest(records(name, bench_data)[0], recs, name, after=check) == expected   # fresh cell memos
    assert any(b < a for a, b in zip(sizes, sizes[1:])), "the line cache never filled: the bound was not tested"
    flow._clear_caches()
    text._clear_caches()


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        data = make_bench_data(Path(tmp) / "invoices-1000.xml")
        for name in DIGESTS:
            layout, recs = records(name, data)
            print(f'    "{name}": "{digest(layout, recs, name)}",')
