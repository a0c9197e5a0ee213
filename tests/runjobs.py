"""Helpers for the run-level tests: make bench-invoice extracts and job files, run the CLI, compare outputs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "bench" / "fop-reference" / "gen_data.py"
LAYOUT = ROOT / "layouts" / "bench-invoice.xml"
CLI = [sys.executable, "-m", "ccm_batch.cli"]


def make_extract(path: Path, n: int, seed: int = 42) -> Path:
    subprocess.run([sys.executable, str(GEN), str(n), str(path), str(seed)], check=True)
    return path


def write_job(directory: Path, data: Path, *, extra: str = "", formats=("pdf", "afp"), name="inv",
              chunk_size=7, layout: Path = LAYOUT) -> Path:
    job = directory / f"{name}.toml"
    fmts = ", ".join(f'"{f}"' for f in formats)
    job.write_text(f"""[job]
name = "{name}"
date = "2026-11-23"
[input]
path = "{data}"
format = "xml"
record = "customer"
key = "@id"
[layout]
path = "{layout}"
[output]
dir = "out"
formats = [{fmts}]
[index]
formats = ["csv", "jsonl", "cmod"]
[run]
chunk_size = {chunk_size}
{extra}
""", encoding="utf-8")
    return job


def run_cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CCM_FAULT", None) if not (env and "CCM_FAULT" in env) else None
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=cwd)


def output_files(out: Path) -> dict[str, bytes]:
    """Every output file's bytes, except the run report (its timing block differs between runs)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith("report.") and ".ccm-work" not in str(p)}
