"""Bench report (bench/run_bench.py): the tables printed without Apache FOP (BENCH_FOP=0) and with Dask rows."""
import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location("run_bench", Path(__file__).resolve().parent.parent / "bench" / "run_bench.py")
run_bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run_bench)


def _run(secs, pages=1600, engine=None):
    r = {"secs": secs, "rss": 80.0, "tree": 200.0, "pss": 160.0, "rc": 0, "pages": pages, "cpu": 2 * secs,
         "size": 4_000_000, "phases": {"compose": secs / 2, "collect": 0.1, "plan": 0.3, "render": secs / 3,
                                       "mail files": 0.1}}
    if engine:
        r["engine"] = engine
    return r


def _curve(table):
    return table[table.index("pages/s against N"):table.index("Phase time")]


def test_without_fop_the_tables_give_ccm_batch_rates_and_no_fop_column(capsys):
    rows = [(1000, "afp", _run(4.0, 1600), None), (10000, "afp", _run(20.0, 16000), None)]
    table = run_bench.render_table(rows)
    assert "FOP" not in table
    assert "| 1,000 | afp | ccm-batch | 1,600 | 4.0 | 400 | 250 | 8.0 |" in table
    assert "| afp | ccm-batch | 400 | 800 |" in _curve(table)
    assert "| 10,000 | afp | ccm-batch | 1.000 | 0.010 | 0.030 | 0.667 | 0.010 |" in table
    run_bench.print_row(1000, "afp", rows[0][2], None)
    printed = capsys.readouterr().out
    assert "ccm-batch 400 pages/s" in printed and "FOP" not in printed


def test_dask_rows_fill_the_curve_one_line_per_engine():
    rows = [(10000, "afp", _run(s, 16000, f"ccm-batch {e}"), None)
            for e, s in (("local ×1", 40.0), ("local ×2", 20.0), ("Dask ×1", 50.0), ("Dask ×2", 25.0))]
    curve = _curve(run_bench.render_table(rows))
    for engine, rate in (("local ×1", 400), ("local ×2", 800), ("Dask ×1", 320), ("Dask ×2", 640)):
        assert f"| afp | ccm-batch {engine} | {rate} |" in curve


def test_with_fop_the_ratio_column_stays():
    fop = _run(100.0, 1600)
    table = run_bench.render_table([(1000, "pdf", _run(4.0, 1600), fop)])
    assert "ratio to FOP" in table
    assert "| 1,000 | pdf | ccm-batch | 1,600 | 4.0 | 400 | 250 | 8.0 | 200 | 160 | 80 | 4.0 | 25.0× |" in table
    assert "| 1,000 | pdf | Apache FOP |" in table and "| 1.0× |" in table


def test_file_creation_is_measured_in_its_own_directory_and_named_on_the_machine_line(tmp_path):
    (tmp_path / "kept.txt").write_text("the bench's own files stay")
    ms = run_bench.file_creation_ms(tmp_path, count=25)
    assert ms > 0
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]     # its directory removed, nothing else
    table = run_bench.render_table([(1000, "pdf", _run(4.0, 1600), None)], ms)
    assert f"creating a file in bench/work: {ms:.3f} ms" in table.splitlines()[0]
    assert "creating a file" not in run_bench.render_table([(1000, "pdf", _run(4.0, 1600), None)])


def test_pdf_pages_are_counted_without_poppler(tmp_path, monkeypatch):
    """A fresh machine has no ``pdfinfo``: the bench counts a PDF's pages from its page tree (pypdf),
    FOP's file and ccm-batch's alike, and gives 0 for a file that is not a PDF."""
    from reportlab.pdfgen import canvas
    pdf = tmp_path / "three.pdf"
    c = canvas.Canvas(str(pdf))
    for n in range(3):
        c.drawString(72, 720, f"page {n + 1}")
        c.showPage()
    c.save()
    monkeypatch.setenv("PATH", str(tmp_path))            # no poppler, no other tool on the PATH
    assert run_bench.pdf_pages(pdf) == 3
    (tmp_path / "cut.pdf").write_bytes(pdf.read_bytes()[:200])
    assert run_bench.pdf_pages(tmp_path / "cut.pdf") == 0
    assert run_bench.pdf_pages(tmp_path / "missing.pdf") == 0


def test_engines_take_turns_and_each_keeps_its_median_run(monkeypatch):
    """BENCH_REPEAT=3: ccm-batch, FOP, ccm-batch, FOP, ccm-batch, FOP (both meet the same minutes of a
    drifting machine), and each engine's median run by time is kept."""
    monkeypatch.setenv("BENCH_REPEAT", "3")
    order, times = [], {"ccm": iter([5.0, 3.0, 4.0]), "fop": iter([30.0, 50.0, 40.0])}

    def measure(name):
        def run():
            order.append(name)
            return {"secs": next(times[name]), "engine": name}
        return run

    best = run_bench.median_runs({"ccm": measure("ccm"), "fop": measure("fop")})
    assert order == ["ccm", "fop"] * 3
    assert best["ccm"]["secs"] == 4.0 and best["fop"]["secs"] == 40.0
    monkeypatch.setenv("BENCH_REPEAT", "1")
    assert run_bench.median_runs({}) == {}


def test_dask_rounds_default_to_five_and_keep_the_median_cpu_time(monkeypatch):
    """Without BENCH_REPEAT the Dask comparison's engines take ``rounds`` turns; a kept run carries the
    median CPU time of its engine's runs (not its own), for the overhead table."""
    monkeypatch.delenv("BENCH_REPEAT", raising=False)
    secs, cpu = iter([5.0, 1.0, 4.0, 2.0, 3.0]), iter([1.0, 2.0, 8.0, 3.0, 9.0])
    best = run_bench.median_runs({"local ×2": lambda: {"secs": next(secs), "cpu": next(cpu)}}, rounds=5)
    assert best["local ×2"]["secs"] == 3.0 and best["local ×2"]["cpu"] == 9.0
    assert best["local ×2"]["cpu_median"] == 3.0
    fop = run_bench.median_runs({"fop": lambda: {"secs": 40.0}})["fop"]      # one run, no CPU time
    assert "cpu_median" not in fop


def test_compiled_and_pure_outputs_are_compared_byte_for_byte_reports_aside(tmp_path):
    """BENCH_PURE=1 compares two runs' output directories: every file but the run reports, byte for byte,
    archived documents in subdirectories included; a file on one side only counts as a difference."""
    a, b = tmp_path / "compiled", tmp_path / "pure"
    for d in (a, b):
        (d / "archive").mkdir(parents=True)
        (d / "bench_001.afp").write_bytes(b"\x5a\x00\x10" * 50)
        (d / "archive" / "C1_invoice.pdf").write_bytes(b"%PDF-1.7 same")
    (a / "report.json").write_text('{"timing": 1.0}')
    (b / "report.json").write_text('{"timing": 2.0}')
    assert run_bench.same_outputs(a, b) == (2, [])
    (b / "archive" / "C1_invoice.pdf").write_bytes(b"%PDF-1.7 sane")        # same size, one byte off
    (a / "archive" / "C2_invoice.pdf").write_bytes(b"%PDF-1.7")              # compiled side only
    assert run_bench.same_outputs(a, b) == (3, ["archive/C2_invoice.pdf", "archive/C1_invoice.pdf"])
