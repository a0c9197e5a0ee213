"""Issue 15's page checks over the sample applications, for the tests and for a full run by hand.

* **Near-empty pages** (page model): every record of a sample extract composed with its layout; a page
  whose content covers less than 15 % of its body, unless its template says ``sparse="true"``, is a
  finding (:mod:`ccm_batch.compose.fill`).
* **Line breaks** (``pdftotext -bbox-layout``, a tool we did not write): within each text block of a
  rendered PDF, the last word of a line and the first word of the next must not be a number and its
  unit (``12`` / ``kVA``), ``n°`` and what it numbers, or an identifier cut at a hyphen
  (``RUM-`` / ``C000006-11``).

By hand, at N = 1,000 (what issue 15's "How it will be checked" asks)::

    python tests/page_checks.py --records 1000 --out /tmp/checks
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_JOBS = {            # layout: (job file, data file name written by ccm_batch.samples)
    "invoice": ("invoice.toml", "invoices.xml"),
    "statement": ("statement.toml", "statements.xml"),
    "letter": ("letter.toml", "letters.xml"),
    "us-statement": ("us-statement.toml", "us-statements.csv"),
}
UNITS = {"kwh", "kva", "wh", "mwh", "€", "%", "$", "eur", "usd", "mois", "jours", "jour", "ans", "an", "month",
         "months", "monat", "monate", "days", "years", "kg", "g", "km", "m", "cm", "mm", "h", "min", "m³", "m3",
         "l", "pts", "points", "pages", "page", "feuillets", "sheets", "°c"}
NUMERO = {"n°", "N°", "No.", "no.", "Nr.", "nr.", "§", "art.", "réf.", "Réf.", "ref.", "Ref."}
NUMBER = re.compile(r"^[-−+]?\d[\d\u00a0\u202f .,]*$")


def _input_config(job_file: Path, data: Path):
    from ccm_batch.records import InputConfig
    table = tomllib.loads(job_file.read_text(encoding="utf-8"))["input"]
    return InputConfig.from_dict(dict(table, path=str(data)), data.parent)


def near_empty_pages(layout_path: Path, job_file: Path, data: Path) -> tuple[int, list[str]]:
    """(pages measured, findings ``record key: page N (template) fill x %``) for every record."""
    from ccm_batch.compose.fill import page_fills
    from ccm_batch.errors import RecordError
    from ccm_batch.layout import load_layout
    from ccm_batch.records import open_records
    layout = load_layout(layout_path)
    measured, findings = 0, []
    for rec in open_records(_input_config(job_file, data)):
        try:
            fills = page_fills(layout, rec)
        except RecordError:
            continue                       # a rejected record has no pages (counted by the run)
        measured += len(fills)
        findings += [f"{rec.key}: page {f.page} ({f.template}) fill {f.fill:.0%}" for f in fills if f.near_empty]
    return measured, findings


def _bad_pair(last: str, first: str) -> str | None:
    """Why a line may not end with ``last`` and the next begin with ``first`` (None when it may)."""
    if NUMBER.match(last) and first.lower().rstrip(".,;:)") in UNITS:
        return "number and unit"
    if last in NUMERO:
        return "n° and identifier"
    if len(last) > 1 and last.endswith("-") and (any(c.isdigit() for c in last + first) or "://" in last
                                                 or last.startswith("www.")):
        return "identifier or URL at a hyphen"
    return None


def bad_line_breaks(pdf: Path) -> tuple[int, list[str]]:
    """(line breaks looked at, findings ``file page N: 'a' / 'b' (why)``) of a PDF, from pdftotext."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, check=True).stdout
    root = etree.fromstring(xml, etree.XMLParser(recover=True, huge_tree=True))
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    seen, findings = 0, []
    for number, page in enumerate(root.iterfind(".//h:page", ns), 1):
        for block in page.iterfind(".//h:block", ns):
            lines = [[w.text or "" for w in line.iterfind("h:word", ns)] for line in block.iterfind("h:line", ns)]
            for above, below in zip(lines, lines[1:]):
                if not above or not below:
                    continue
                seen += 1
                why = _bad_pair(above[-1], below[0])
                if why:
                    findings.append(f"{pdf.name} page {number}: {above[-1]!r} / {below[0]!r} ({why})")
    return seen, findings


def run_job(job_file: Path, data: Path | None, out: Path, workers: int = 1) -> list[Path]:
    """Run a sample job to PDF into ``out``; its PDF print files."""
    args = [sys.executable, "-m", "ccm_batch.cli", "-q", "run", str(job_file), "--output", str(out),
            "--format", "pdf", "--workers", str(workers)]
    if data is not None:
        args += ["--input", str(data)]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode in (0, 4), proc.stdout + proc.stderr
    return sorted(out.glob("*.pdf"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--out", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    from ccm_batch.samples import write_samples
    out = Path(args.out)
    data_dir = out / "data"
    write_samples(data_dir, args.records)
    problems = 0
    jobs = [(name, ROOT / "samples" / job, data_dir / data) for name, (job, data) in SAMPLE_JOBS.items()]
    jobs += [("mutuelle", ROOT / "samples" / "extra" / "mutuelle" / "mutuelle.toml", None)]
    for name, job_file, data in jobs:
        layout = ROOT / "layouts" / f"{name}.xml"
        data_file = data or ROOT / "samples" / "extra" / "mutuelle" / "decomptes.xml"
        measured, sparse = near_empty_pages(layout, job_file, data_file)
        pdfs = run_job(job_file, data, out / name, args.workers)
        breaks, bad = 0, []
        for pdf in pdfs:
            n, found = bad_line_breaks(pdf)
            breaks += n
            bad += found
        print(f"{name}: {measured} pages measured, {len(sparse)} near-empty; {breaks} line breaks in "
              f"{len(pdfs)} PDF(s), {len(bad)} inside an identifier or number + unit")
        for line in sparse[:20] + bad[:20]:
            print(f"  {line}")
        problems += len(sparse) + len(bad)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
