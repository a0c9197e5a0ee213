"""Helpers for the history tests: a real PostgreSQL server, demo-like job files with costs, and an
independent recomputation of the KPIs from the runs' report.json and mail-run files."""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CENT = Decimal("0.01")

COSTS = {  # per currency: the [costs] tables of the test jobs
    "EUR": {"paper_per_sheet": "0.012", "click_mono_per_side": "0.0045", "click_colour_per_side": "0.035",
            "envelope": "0.021", "envelopes": {"DL": "0.018"}, "insert": "0.013", "inserting_per_piece": "0.0075"},
    "USD": {"paper_per_sheet": "0.011", "click_mono_per_side": "0.005", "envelope": "0.03",
            "inserting_per_piece": "0.009"},
}
SAMPLE_CURRENCY = {"invoice": "EUR", "letter": "EUR", "statement": "EUR", "us-statement": "USD"}


def _toml_value(v) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return str(v) if not isinstance(v, str) or v.replace(".", "").isdigit() else f'"{v}"'


def costs_section(currency: str) -> str:
    lines = ["[costs]", f'currency = "{currency}"']
    lines += [f"{k} = {_toml_value(v)}" for k, v in COSTS[currency].items()]
    return "\n".join(lines) + "\n"


def demo_job(directory: Path, sample: str, *, history: str | None = None, deadline: str | None = None,
             textfile_dir: Path | None = None, costs: bool = True, name: str | None = None) -> Path:
    """A copy of ``samples/SAMPLE.toml`` with absolute paths, PDF only, and the history sections."""
    text = (SAMPLES / f"{sample}.toml").read_text(encoding="utf-8")
    text = text.replace('path = "data/', f'path = "{SAMPLES}/data/').replace(
        'path = "../layouts/', f'path = "{ROOT}/layouts/')
    text = text.replace('formats = ["pdf", "afp"]', 'formats = ["pdf"]').replace("archive_pdf = true",
                                                                                  "archive_pdf = false")
    head = "[job]\n" + (f'deadline = "{deadline}"\n' if deadline else "")
    if name:
        text = text.replace(f'name = "{sample}"', f'name = "{name}"', 1)
    text = text.replace("[job]\n", head, 1)
    if history:
        key = "url" if history.startswith("postgresql://") else "path"
        text += f'\n[history]\n{key} = "{history}"\n'
    if costs:
        text += "\n" + costs_section(SAMPLE_CURRENCY[sample])
    if textfile_dir:
        text += f'\n[monitoring]\ntextfile_dir = "{textfile_dir}"\n'
    path = directory / f"{name or sample}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- independent KPI recomputation from report.json + NAME.mailrun.csv --------------------------------------

def _cents(d: Decimal) -> Decimal:
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(text: str, currency: str) -> Decimal:
    """``"EUR 1,234.56"`` (or ``"EUR 1.00; USD 2.00"``) -> the amount in ``currency``."""
    for part in str(text).split(";"):
        part = part.strip()
        if part.startswith(currency + " "):
            return Decimal(part[len(currency) + 1:].replace(",", ""))
    return Decimal(0)


def run_costs(out_dir: Path, currency: str) -> Decimal:
    """The cost of the run in ``out_dir`` from its report.json and mail-run file, by the cost table."""
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    c = {k: (Decimal(v) if not isinstance(v, dict) else {n: Decimal(x) for n, x in v.items()})
         for k, v in COSTS[currency].items()}
    mailrun = next(out_dir.glob("*.mailrun.csv"), None)
    if mailrun is None:          # mail production disabled: one piece per document, no envelope named
        pieces = [{"envelope": "", "inserts": ""}] * report["mail"]["pieces out"]
    else:
        with open(mailrun, newline="", encoding="utf-8") as f:
            pieces = list(csv.DictReader(f))
    envelopes = sum((c.get("envelopes", {}).get(p["envelope"], c.get("envelope", Decimal(0))) for p in pieces),
                    Decimal(0))
    inserts = sum((c.get("insert", Decimal(0)) * len([n for n in p["inserts"].split(";") if n]) for p in pieces),
                  Decimal(0))
    lines = [report["sheets"] * c.get("paper_per_sheet", Decimal(0)),
             report["pages"] * c.get("click_mono_per_side", Decimal(0)),
             envelopes, inserts, len(pieces) * c.get("inserting_per_piece", Decimal(0))]
    total = sum((_cents(x) for x in lines), Decimal(0))
    return total + _amount(report["mail"].get("postage", ""), currency)


def recompute_kpis(runs: list[tuple[Path, str]]) -> dict:
    """KPI figures from the reports of ``runs`` ([(out_dir, currency)]), computed without the history."""
    money: dict[str, dict] = {}
    records = rejected = documents = pages = pieces = 0
    seconds = Decimal(0)
    reasons: dict[str, int] = {}
    for out_dir, cur in runs:
        r = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        m = money.setdefault(cur, {"cost": Decimal(0), "postage": Decimal(0), "baseline": Decimal(0), "docs": 0})
        m["cost"] += run_costs(out_dir, cur)
        m["postage"] += _amount(r["mail"].get("postage", ""), cur)
        m["baseline"] += _amount(r["mail"].get("baseline (docs alone)", ""), cur)
        m["docs"] += r["documents_produced"]
        records += r["records_read"]
        rejected += r["records_rejected"]
        documents += r["documents_produced"]
        pages += r["pages"]
        pieces += r["mail"]["pieces out"]
        seconds += Decimal(str(r["timing"]["duration_s"]))
        for reason, n in r["rejected_by_reason"].items():
            reasons[reason] = reasons.get(reason, 0) + n

    def pct(a, b):
        return str((Decimal(a) * 100 / Decimal(b)).quantize(CENT, rounding=ROUND_HALF_UP)) if b else None
    return {
        "communications": documents, "paper_pieces": pieces, "records": records, "rejected": rejected,
        "reject_pct": pct(rejected, records), "reasons": reasons,
        "pages_per_minute": int((Decimal(pages) * 60 / seconds).to_integral_value(ROUND_HALF_UP)),
        "money": {cur: {"total": str(m["cost"]), "per_communication": str(_cents(m["cost"] / m["docs"])),
                        "postage": str(m["postage"]), "savings": str(m["baseline"] - m["postage"]),
                        "savings_pct": pct(m["baseline"] - m["postage"], m["baseline"])}
                  for cur, m in money.items()},
    }


# -- a real PostgreSQL server -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl in a temporary directory, on a free loopback port; run as the ``postgres`` user
    when we are root (PostgreSQL refuses to run as root)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="ccm-pg-"))
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "postgres", "postgres")

    def _cmd(self, *args) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if self.as_postgres else []) + [str(a) for a in args]

    def start(self) -> None:
        subprocess.run(self._cmd(PG_BIN / "initdb", "-D", self.data, "-U", "ccm", "--auth=trust",
                                 "--encoding=UTF8", "--no-locale"), check=True, capture_output=True)
        subprocess.run(self._cmd(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o",
                                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                                 "start"), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(self._cmd(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://ccm@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server():
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not installed ({PG_BIN}); .ci/run installs it")
        pytest.skip(f"PostgreSQL is not installed ({PG_BIN})")
    server = PostgresServer()
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = server.log.read_text() if server.log.exists() else ""
        server.stop()
        raise RuntimeError(f"cannot start PostgreSQL: {exc.stderr!r} {log}") from None
    yield server
    server.stop()


_db_counter = [0]


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the test server."""
    _db_counter[0] += 1
    return pg_server.create_database(f"hist{_db_counter[0]}_{int(time.time() * 1000) % 100000}")
