#!/usr/bin/env python3
"""Benchmark (``make bench``): ccm-batch against Apache FOP on the reference invoice workload.

Generates the reference data (bench/fop-reference/gen_data.py, seed 42) at N=1,000 and N=10,000
(and N=100,000 with BENCH_LARGE=1; BENCH_SIZES=1000,10000,100000 picks the sizes, e.g. for the pages/s
against N curve: ``make bench BENCH_SIZES=1000,10000,100000``), runs ccm-batch (PDF and AFP, mail plan
and indexes on, all cores) and Apache FOP (run-fop.sh; installed with apt-get when missing and running
as root; up to N=10,000 unless BENCH_FOP_LARGE=1) on the same data, each under /usr/bin/time -v, and
prints pages/s, documents/s, peak memory of the whole process tree (parent and workers summed, sampled
with psutil; see :func:`timed`), output size and the ratio to FOP for each format, then the pages/s
against N curve and each phase's time per document. The tables are also written to
bench/work/results.md.

The median time to create a file in bench/work is measured first and printed on the machine line: a
PDF run with the cmod index creates one file per document, and on some disks that cost depends on the
directory's place (bench/RESULTS.md).

BENCH_REPEAT=3 runs every measurement (both engines) three times, the engines taking turns (ccm-batch,
FOP, ccm-batch, FOP …), and keeps each engine's median run by time: on a shared machine single runs vary
by ±10 % and the machine's speed drifts over minutes, so both engines must meet the same minutes.

BENCH_PURE=1 also runs ccm-batch once on the pure-Python path (``CCM_PURE_PYTHON=1``) for each size and
format, and compares every output file (the run report aside) with the compiled run's, byte for byte:
the table gains a "Compiled core against pure Python" part, and the bench exits 1 when a file differs.

BENCH_DASK=1 also runs ccm-batch with the Dask executor on a local cluster of 1 and of 2 worker processes
(``--executor dask``, the cluster's start-up and shutdown included) and the local executor with 1 and 2
workers, interleaved (local ×1, local ×2, Dask ×1, Dask ×2, then again: 5 rounds, or BENCH_REPEAT), and reports
Dask's overhead against the local executor with the same number of workers, in wall time and in CPU
time (user + sys of the run and every process it started, from /usr/bin/time: on a shared machine the
CPU time is the stable figure). BENCH_FOP=0 leaves FOP out; BENCH_FORMATS=afp picks formats. The Dask
table of bench/RESULTS.md is made by::

    BENCH_DASK=1 BENCH_FOP=0 BENCH_SIZES=10000 make bench            # 5 interleaved rounds unless BENCH_REPEAT
"""
from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REF = HERE / "fop-reference"
WORK = HERE / "work"
ROOT = HERE.parent
CCM = [str(Path(sys.executable).parent / "ccm-batch")]


def ensure_tools() -> bool:
    """Install FOP and GNU time with apt-get when missing (root only). True when FOP is usable."""
    missing = [pkg for tool, pkg in (("fop", "fop"), ("/usr/bin/time", "time"))
               if not shutil.which(tool) and not Path(tool).exists()]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing, "default-jre-headless"],
                       check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return bool(shutil.which("fop")) and Path("/usr/bin/time").exists()


def timed(cmd: list[str], env=None) -> tuple[float, float, int, float, float, float]:
    """Run ``cmd`` under /usr/bin/time -v: (seconds, peak RSS MB of the largest single process, exit
    code, peak of the whole process tree's summed RSS MB, peak of its summed PSS MB, CPU seconds).

    GNU time's "Maximum resident set size" is that of one process (the largest), not the sum over the
    parent and its forked workers; the tree is therefore sampled with psutil every 50 ms and the
    resident sizes of every live descendant summed. RSS counts the pages a forked worker still shares
    with the parent twice (an overestimate, the conservative figure we report); PSS splits shared
    pages between the processes sharing them (sampled every 0.5 s, from /proc/PID/smaps_rollup).
    """
    import threading

    import psutil

    start = time.monotonic()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    peaks = [0.0, 0.0]
    done = threading.Event()

    def sample():
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        tick = 0
        while not done.is_set():
            rss = pss = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for p in tree:
                if p.pid == proc.pid:          # /usr/bin/time itself: not the engine
                    continue
                try:
                    rss += p.memory_info().rss
                    if tick % 10 == 0:
                        pss += p.memory_full_info().pss
                except (psutil.Error, AttributeError):
                    pass
            peaks[0] = max(peaks[0], rss / 2 ** 20)
            if tick % 10 == 0:
                peaks[1] = max(peaks[1], pss / 2 ** 20)
            tick += 1
            done.wait(0.05)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, stderr = proc.communicate()
    done.set()
    watcher.join()
    elapsed = time.monotonic() - start
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    rss = int(m.group(1)) / 1024 if m else 0.0
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", stderr))
    if proc.returncode not in (0, 4):
        sys.stderr.write(stderr[-3000:])
    return elapsed, rss, proc.returncode, max(peaks[0], rss), peaks[1], cpu


def pdf_pages(path: Path) -> int:
    """Pages of a PDF, from its page tree (pypdf, a dependency of ccm-batch: a fresh machine has no
    poppler ``pdfinfo``, and ``make bench`` must run there); 0 for a file that is not a readable PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError
    try:
        return len(PdfReader(path).pages)
    except (OSError, PyPdfError):
        return 0


def afp_pages(path: Path) -> int:
    """Count BPG (Begin Page, X'D3A8AF') structured fields, walking the X'5A' framing."""
    count = 0
    with open(path, "rb") as f:
        while True:
            head = f.read(9)
            if len(head) < 9 or head[0] != 0x5A:
                return count
            length = int.from_bytes(head[1:3], "big")
            if head[3:6] == b"\xd3\xa8\xaf":
                count += 1
            f.seek(length - 8, 1)


def median_runs(measures: dict, rounds: int = 1) -> dict:
    """For each of ``measures`` (name -> function), the median (by time) of BENCH_REPEAT runs (else
    ``rounds``), the measures taking turns (ccm-batch, FOP, ccm-batch, FOP …): on a machine whose speed
    drifts over minutes both engines then meet the same minutes, and their ratio does not depend on
    which ran first (bench/RESULTS.md, 2026-12-06 evening: the same PDF run took 11.2 s and 17.2 s
    within half an hour). A kept run that has a CPU time gets ``cpu_median``, the median CPU time of
    its measure's runs."""
    runs = {name: [] for name in measures}
    for _ in range(max(1, int(os.environ.get("BENCH_REPEAT", str(rounds))))):
        for name, measure in measures.items():
            runs[name].append(measure())
    best = {}
    for name, r in runs.items():
        best[name] = sorted(r, key=lambda r: r["secs"])[len(r) // 2]
        if all("cpu" in x for x in r):
            best[name]["cpu_median"] = sorted(x["cpu"] for x in r)[len(r) // 2]
    return best


def run_ccm(n: int, data: Path, fmt: str, out: Path, extra: tuple = ("--workers", "0"), env=None) -> dict:
    job = HERE / "bench-invoice.toml"
    shutil.rmtree(out, ignore_errors=True)
    secs, rss, rc, tree, pss, cpu = timed([*CCM, "-q", "run", str(job), "--input", str(data),
                                           "--output", str(out), "--format", fmt, *extra], env=env)
    files = sorted(out.glob(f"*.{fmt}"))
    pages = sum(pdf_pages(f) if fmt == "pdf" else afp_pages(f) for f in files)
    phases = {}
    try:
        phases = json.loads((out / "report.json").read_text())["timing"]["phases_s"]
    except (OSError, ValueError, KeyError):
        pass
    return {"secs": secs, "rss": rss, "tree": tree, "pss": pss, "rc": rc, "pages": pages, "phases": phases,
            "cpu": cpu, "size": sum(f.stat().st_size for f in files)}


def run_fop(data: Path, fmt: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"fop.{fmt}"
    secs, rss, rc, tree, pss, _ = timed(["sh", str(REF / "run-fop.sh"), str(data), str(target)])
    pages = (pdf_pages(target) if fmt == "pdf" else afp_pages(target)) if target.exists() else 0
    return {"secs": secs, "rss": rss, "tree": tree, "pss": pss, "rc": rc, "pages": pages,
            "size": target.stat().st_size if target.exists() else 0}


def same_outputs(a: Path, b: Path) -> tuple[int, list[str]]:
    """(files compared, files that differ or are on one side only) between two runs' output
    directories, byte for byte; the run reports aside (their timing block differs)."""
    def files(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and not p.name.startswith("report.")}
    in_a, in_b = files(a), files(b)
    differ = sorted(in_a ^ in_b) + sorted(name for name in in_a & in_b
                                          if not filecmp.cmp(a / name, b / name, shallow=False))
    return len(in_a | in_b), differ


def main() -> int:
    sizes = [1000, 10000] + ([100000] if os.environ.get("BENCH_LARGE") else [])
    if os.environ.get("BENCH_SIZES"):
        sizes = [int(x) for x in os.environ["BENCH_SIZES"].split(",")]
    have_fop = os.environ.get("BENCH_FOP", "1") != "0" and ensure_tools()
    formats = os.environ.get("BENCH_FORMATS", "pdf,afp").split(",")
    WORK.mkdir(exist_ok=True)
    creation_ms = file_creation_ms(WORK)
    print(f"creating a file in {WORK}: {creation_ms:.3f} ms (median of 500)", flush=True)
    rows, overheads, purity, failed = [], [], [], False
    for n in sizes:
        data = WORK / f"invoices-{n}.xml"
        if not data.exists():
            subprocess.run([sys.executable, str(REF / "gen_data.py"), str(n), str(data), "42"], check=True)
        for fmt in formats:
            # FOP keeps whole documents sets in memory (2.8 GB at N=10,000): above that only with BENCH_FOP_LARGE=1
            fop_here = have_fop and (n <= 10000 or os.environ.get("BENCH_FOP_LARGE"))
            measures = {"fop": lambda: run_fop(data, fmt, WORK / f"fop-{n}")} if fop_here else {}
            if not os.environ.get("BENCH_DASK"):
                best = median_runs({"ccm": lambda: run_ccm(n, data, fmt, WORK / f"ccm-{n}-{fmt}"), **measures})
                ccm, fop = best["ccm"], best.get("fop")
                if os.environ.get("BENCH_PURE"):    # the same job on the pure-Python path: same bytes?
                    pure = run_ccm(n, data, fmt, WORK / f"ccm-{n}-{fmt}-pure",
                                   env={**os.environ, "CCM_PURE_PYTHON": "1"})
                    count, differ = same_outputs(WORK / f"ccm-{n}-{fmt}", WORK / f"ccm-{n}-{fmt}-pure")
                    purity.append(f"| {n:,} | {fmt} | {count:,} | {'yes' if not differ else ', '.join(differ[:5])} "
                                  f"| {pure['secs']:.1f} | {ccm['secs']:.1f} | {pure['cpu']:.1f} | {ccm['cpu']:.1f} |")
                    failed = failed or bool(differ) or pure["rc"] not in (0, 4)
                    print(f"N={n} {fmt}: compiled and pure-Python outputs "
                          + (f"identical ({count} files)" if not differ else f"DIFFER: {differ[:5]}"), flush=True)
            else:                  # interleaved: local ×1, ×2, Dask ×1, ×2, and again for each repeat
                engines = {f"{ex} ×{w}": ("--executor", ex, "--workers", str(w))
                           for ex in ("local", "Dask") for w in (1, 2)}
                # five interleaved rounds unless told: one engine against another on a machine whose
                # speed drifts by ±10 % over minutes needs more than three (bench/RESULTS.md, issue 17)
                best = median_runs({e: lambda e=e, extra=extra: run_ccm(
                    n, data, fmt, WORK / f"ccm-{n}-{fmt}-{e[:5].strip().lower()}{e[-1]}",
                    tuple(x.lower() for x in extra)) for e, extra in engines.items()}, rounds=5)
                for e, r in best.items():
                    r["engine"] = f"ccm-batch {e}"
                ccm = best["local ×2"]
                fop = median_runs(measures)["fop"] if measures else None
            if not os.environ.get("BENCH_DASK"):
                rows.append((n, fmt, ccm, fop))
                print_row(n, fmt, ccm, fop, flush=True)
                continue
            for e, r in best.items():
                rows.append((n, fmt, r, fop))
            for w in (1, 2):
                local, dask = best[f"local ×{w}"], best[f"Dask ×{w}"]
                line = (f"| {n:,} | {fmt} | {w} | {local['secs']:.1f} | {dask['secs']:.1f} | "
                        f"{100 * (dask['secs'] / local['secs'] - 1):+.1f} % | {local['cpu_median']:.1f} | "
                        f"{dask['cpu_median']:.1f} | {100 * (dask['cpu_median'] / local['cpu_median'] - 1):+.1f} % | "
                        f"{_phases(local)} | {_phases(dask)} |")
                overheads.append(line)
                print(line, flush=True)
    table = render_table(rows, creation_ms)
    if overheads:
        table += ("\nDask against local, same workers (medians of BENCH_REPEAT interleaved runs; CPU = user + sys "
                  "of the run and all its processes)\n\n"
                  "| N | format | workers | local s | Dask s | wall overhead | local CPU s | Dask CPU s | "
                  "CPU overhead | local phases s | Dask phases s |\n"
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n" + "\n".join(overheads) + "\n")
    if purity:
        table += ("\nCompiled core against pure Python (BENCH_PURE=1; ``CCM_PURE_PYTHON=1``), every output file "
                  "but the run report compared byte for byte\n\n"
                  "| N | format | files | identical | pure-Python s | compiled s | pure-Python CPU s | compiled CPU s |\n"
                  "|---:|---|---:|---|---:|---:|---:|---:|\n" + "\n".join(purity) + "\n")
    (WORK / "results.md").write_text(table)
    print()
    print(table)
    return 1 if failed else 0


def _phases(r) -> str:
    return " / ".join(f"{v:.1f}" for k, v in r.get("phases", {}).items() if k in PHASES)


PHASES = ("compose", "plan", "render")


def _rate(r, n):
    return (r["pages"] / r["secs"], n / r["secs"]) if r and r["secs"] else (0.0, 0.0)


def print_row(n, fmt, ccm, fop, flush=False):
    cp, _ = _rate(ccm, n)
    line = f"N={n} {fmt}: ccm-batch {cp:.0f} pages/s ({ccm['pages']} pages, process tree {ccm['tree']:.0f} MB)"
    if fop is not None:                          # BENCH_FOP=0 (or N above FOP's limit): ccm-batch's figures only
        fp, _ = _rate(fop, n)
        line += f"; FOP {fp:.0f} pages/s; ratio {f'{cp / fp:.1f}x' if fp else 'n/a'}"
    print(line, flush=flush)


def file_creation_ms(directory: Path, count: int = 500) -> float:
    """Median milliseconds to create a file (``open`` with ``O_CREAT``) in a new directory under
    ``directory``, each written with 30 KB and closed; the directory is removed. A PDF run with a
    ``cmod`` index creates one archived PDF/A per document, and on some disks this cost depends on
    where the directory sits (bench/RESULTS.md: 0.007 to 0.45 ms on the same virtual disk)."""
    import statistics
    import tempfile
    where = Path(tempfile.mkdtemp(prefix="file-creation-", dir=directory))
    times, data = [], b"x" * 30_000
    try:
        for i in range(count):
            start = time.perf_counter()
            fd = os.open(where / f".doc-{i}.part", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            times.append(time.perf_counter() - start)
            os.write(fd, data)
            os.close(fd)
    finally:
        shutil.rmtree(where)
    return statistics.median(times) * 1000


def render_table(rows, creation_ms: float | None = None) -> str:
    """The results table; the "ratio to FOP" column only when FOP ran for at least one row.
    ``creation_ms``: :func:`file_creation_ms` of the work directory, named on the machine line."""
    with_fop = any(fop is not None for _, _, _, fop in rows)
    head = ("| N | format | engine | pages | seconds | pages/s | docs/s | CPU s | peak MB, process tree (RSS sum) "
            "| peak MB, tree PSS | peak MB, largest process | output MB |" + (" ratio to FOP |" if with_fop else "")
            + "\n|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if with_fop else "") + "\n")
    lines = []
    for n, fmt, ccm, fop in rows:
        cp, cd = _rate(ccm, n)
        fp, fd = _rate(fop, n)
        engines = (("ccm-batch", ccm, cp, cd), ("Apache FOP", fop, fp, fd))
        if "engine" in ccm:                        # a Dask row: FOP is shown once, with the local row
            engines = ((ccm["engine"], ccm, cp, cd),)
        for name, r, p, d in engines:
            if r is None:
                continue
            cpu = f"{r['cpu']:.1f}" if r.get("cpu") else ""
            line = (f"| {n:,} | {fmt} | {name} | {r['pages']:,} | {r['secs']:.1f} | {p:.0f} | {d:.0f} | {cpu} | "
                    f"{r['tree']:.0f} | {r['pss']:.0f} | {r['rss']:.0f} | {r['size'] / 1e6:.1f} |")
            if with_fop:
                line += f" {f'{p / fp:.1f}×' if fp and name.startswith('ccm-batch') else ('1.0×' if fp else 'n/a')} |"
            lines.append(line)
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    if creation_ms is not None:
        machine += (f"; creating a file in bench/work: {creation_ms:.3f} ms (median; a PDF run with the cmod "
                    f"index creates one archived PDF/A per document)")
    return f"Machine: {machine}\n\n" + head + "\n".join(lines) + "\n\n" + render_curve(rows)


def render_curve(rows) -> str:
    """pages/s against N for ccm-batch (one row per format and engine: the local executor on all cores,
    and with BENCH_DASK=1 each executor and worker count), then each phase's time per document (ms),
    which shows whether a phase grows faster than the number of records."""
    runs = [(n, fmt, r.get("engine", "ccm-batch"), r) for n, fmt, r, _ in rows]
    sizes = sorted({n for n, _, _, _ in runs})
    lines = list(dict.fromkeys((fmt, engine) for _, fmt, engine, _ in runs))
    out = ["pages/s against N (ccm-batch; all cores unless the engine says otherwise):", "",
           "| format | engine | " + " | ".join(f"N={n:,}" for n in sizes) + " |",
           "|---|---|" + "---:|" * len(sizes)]
    for fmt, engine in lines:
        got = {n: _rate(r, n)[0] for n, f, e, r in runs if (f, e) == (fmt, engine)}
        out.append(f"| {fmt} | {engine} | " + " | ".join(f"{got[n]:.0f}" if n in got else "" for n in sizes) + " |")
    out += ["", "Phase time per document (ms, wall, from the run report):", "",
            "| N | format | engine | " + " | ".join(PHASES) + " |", "|---:|---|---|" + "---:|" * len(PHASES)]
    for n, fmt, engine, r in runs:
        ph = r.get("phases") or {}
        out.append(f"| {n:,} | {fmt} | {engine} | " + " | ".join(f"{1000 * ph[k] / n:.3f}" if k in ph else ""
                                                                   for k in PHASES) + " |")
    return "\n".join(out) + "\n"


PHASES = ("compose", "collect", "plan", "render", "mail files")


if __name__ == "__main__":
    sys.exit(main())
