"""Determinism: every sample job, and a record set with negative zeros, gives byte-identical outputs
with one worker and with two; zero amounts print without a sign whatever the processing order."""
from __future__ import annotations

import subprocess
from decimal import Decimal

import pytest

from ccm_batch.layout.functions import format_amount, format_number
from runjobs import ROOT, output_files, run_cli

SAMPLE_JOBS = sorted((ROOT / "samples").glob("*.toml")) + sorted((ROOT / "samples" / "extra").glob("*/*.toml"))


def test_zero_amounts_print_without_a_sign_in_any_order():
    for first, second in (("-0", "0"), ("0", "-0"), ("-0.00", "0.00"), ("-0.001", "0.004")):
        got = [format_amount(Decimal(v), "EUR", "fr_FR") for v in (first, second)]
        assert got == ["0,00\u00a0€", "0,00\u00a0€"], (first, second, got)
    assert format_amount(Decimal("-1.5"), "EUR", "fr_FR") == "-1,50\u00a0€"
    assert format_amount(Decimal("-0.006"), "USD", "en_US") == "-$0.01"      # not zero once rounded: signed
    assert [format_number(Decimal(v), "0.0", "fr_FR") for v in ("-0", "0", "-0.01")] == ["0,0"] * 3
    assert format_number(Decimal("-2"), "0.0", "fr_FR") == "-2,0"


def _run(job, out, workers):
    proc = run_cli("run", job, "--output", out, "--workers", workers)
    assert proc.returncode in (0, 4), proc.stderr
    return output_files(out)


@pytest.mark.parametrize("job", SAMPLE_JOBS, ids=lambda p: p.stem)
def test_every_sample_job_is_identical_with_one_and_two_workers(tmp_path, job):
    one = _run(job, tmp_path / "w1", 1)
    two = _run(job, tmp_path / "w2", 2)
    assert len(one) >= 4
    assert one.keys() == two.keys()
    assert [k for k in one if one[k] != two[k]] == []


def test_negative_zero_amounts_are_identical_with_one_and_two_workers(tmp_path):
    """Record 1 has an item of -0.00, record 3 (another chunk, so another worker with -w 2) one of 0.00."""
    text = (ROOT / "samples" / "data" / "invoices.xml").read_text(encoding="utf-8")
    parts = text.split("<items>")
    item = ("<items>\n      <item>\n        <label>Remise {sign}</label>\n        <quantity>1</quantity>\n"
            "        <unit>mois</unit>\n        <unit_price>0.0000</unit_price>\n        <vat_rate>20.0</vat_rate>\n"
            "        <amount>{amount}</amount>\n      </item>")
    rebuilt = parts[0]
    for i, rest in enumerate(parts[1:], start=1):
        head = item.format(sign="négative", amount="-0.00") if i == 1 else \
            item.format(sign="nulle", amount="0.00") if i == 3 else "<items>"
        rebuilt += head + rest
    data = tmp_path / "invoices.xml"
    data.write_text(rebuilt, encoding="utf-8")
    job_text = (ROOT / "samples" / "invoice.toml").read_text(encoding="utf-8")
    job_text = job_text.replace('path = "data/invoices.xml"', f'path = "{data}"')
    job_text = job_text.replace('path = "../layouts/invoice.xml"', f'path = "{ROOT / "layouts" / "invoice.xml"}"')
    job_text += "\n[run]\nchunk_size = 2\n"
    job = tmp_path / "invoice.toml"
    job.write_text(job_text, encoding="utf-8")
    one = _run(job, tmp_path / "w1", 1)
    two = _run(job, tmp_path / "w2", 2)
    assert [k for k in one if one[k] != two[k]] == []
    pdf = next((tmp_path / "w1").glob("invoice_*_001.pdf"))
    shown = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Remise négative" in shown and "Remise nulle" in shown
    assert "-0,00" not in shown and "\u22120,00" not in shown
