"""Demo (``make demo``): runs every bundled sample job and prints where the outputs are."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import CcmError
from .job import load_job
from .log import OperatorLog
from .run import run_job

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-out", help="where to write the outputs")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    # the bundled samples, then the multilingual extract through the invoice and statement layouts
    # (issue 12: names in 12 scripts; without fonts-noto-cjk its CJK records are rejected, not lost)
    jobs = sorted(SAMPLES.glob("*.toml")) + sorted((SAMPLES / "extra" / "multilingual").glob("*.toml"))
    log = OperatorLog(verbosity=1)
    worst = 0
    summary, channel_lines = [], []
    for job_file in jobs:
        job = load_job(job_file, {"output_dir": out / job_file.stem})
        try:
            if job.channels is not None:      # multichannel: local SMTP server and Kannel, feedback
                from .channels.demo import run_channel_demo
                report, lines = run_channel_demo(job, out / job_file.stem, log)
                channel_lines += [f"{job_file.stem}:"] + [f"  {line}" for line in lines]
            else:
                report = run_job(job, log)
        except CcmError as exc:
            print(f"{job_file.name}: {exc}", file=sys.stderr)
            return exc.exit_code
        worst = max(worst, report.exit_code)
        summary.append((job_file.stem, report))
    print()
    print(f"{'job':<16} {'exit':>4} {'records':>8} {'docs':>6} {'pages':>6} {'rejected':>8}  outputs")
    for name, r in summary:
        print(f"{name:<16} {r.exit_code:>4} {r.records_read:>8} {r.documents:>6} {r.pages:>6} "
              f"{r.rejected:>8}  {out / name}/")
    print()
    for name, r in summary:
        print(f"{name}:")
        for f in r.files:
            print(f"    {out / name / f['path']}")
        print(f"    {out / name / 'report.txt'}")
    if channel_lines:
        print("\nmultichannel")
        print("\n".join(channel_lines))
    print(f"\nAll outputs are under {out}/ (open the PDFs, `ccm-batch inspect` the AFP files).")
    history = out / "ccm-history" / "history.db"
    if history.exists():
        print(f"Run history: ccm-batch kpi --history {history}   (or: dashboard --history {history} --out DIR)")
    return 0 if worst <= 4 else worst


if __name__ == "__main__":
    sys.exit(main())
