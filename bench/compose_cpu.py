#!/usr/bin/env python3
"""Benchmark tool: the compose phase alone (read, validate, compose, spool) with one worker, in CPU time.

``python bench/compose_cpu.py DATA [--profile OUT.prof]`` runs ``compose_all`` of the bench job
(bench/bench-invoice.toml, layout layouts/bench-invoice.xml) on DATA (``gen_data.py N DATA 42``) with
``--workers 1`` and prints the CPU seconds, the CPU milliseconds per document and a digest of the spool
it wrote (the same code gives the same digest: compare two checkouts with ``PYTHONPATH``). With
``--profile`` the run is under cProfile and the statistics are written to OUT.prof. Used for the
compose rows of bench/RESULTS.md; alternate old and new code when comparing, the machine is shared.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from ccm_batch.job import load_job, load_job_layout
from ccm_batch.run.compose_phase import compose_all

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="invoice extract from bench/fop-reference/gen_data.py")
    ap.add_argument("--profile", metavar="OUT", help="run under cProfile and write the statistics to OUT")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccm-compose-cpu-"))
    try:
        job = load_job(HERE / "bench-invoice.toml", {"input": str(Path(args.data).resolve()), "workers": 1,
                                                      "output_dir": str(work / "out")})
        layout = load_job_layout(job)
        specs = list(getattr(layout, "field_specs", ())) + list(job.fields)
        spool = work / "spool"
        spool.mkdir()
        start = time.process_time()
        if args.profile:
            import cProfile
            with cProfile.Profile() as prof:
                statuses = compose_all(job, layout, specs, spool, lambda records, nbytes: None)
            prof.dump_stats(args.profile)
        else:
            statuses = compose_all(job, layout, specs, spool, lambda records, nbytes: None)
        cpu = time.process_time() - start
        if statuses[0]["error"]:
            print(statuses[0]["error"])
            return 1
        docs = statuses[0]["records"]
        digest = hashlib.sha256()
        for f in sorted(spool.iterdir()):
            if not f.name.startswith("worker-"):
                digest.update(f.name.encode() + b"\0" + f.read_bytes())
        print(f"compose: {docs} records, {cpu:.3f} s CPU, {1000 * cpu / max(docs, 1):.3f} ms/document, "
              f"spool {digest.hexdigest()[:16]}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
