"""History stage: the job's [history], [costs], [monitoring] sections and [job] deadline, read and checked.

``[history]``: ``url`` (PostgreSQL, shared) or ``path`` (SQLite file, relative to the job file); when
neither is set the history is ``ccm-history/history.db`` beside the output directory. ``enabled = false``
turns recording off. ``keep_days``: after recording, the job's runs older than that many days (counted
back from the run's job date) are removed (:mod:`.retention`). ``[costs]``: unit costs (see
:class:`CostTable`), inline or from a shared TOML ``file`` (inline keys win). ``textfile_dir`` of
``[monitoring]``: where the Prometheus ``*.prom`` file goes. ``[job] deadline``: when the run must be
finished (ISO date-time, or ``HH:MM`` on the day after the job date).
"""
from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..errors import ConfigError

HISTORY_KEYS = {"url", "path", "enabled", "keep_days"}
MONITORING_KEYS = {"textfile_dir"}
COST_KEYS = {"file", "currency", "paper_per_sheet", "click_mono_per_side", "click_colour_per_side", "colour",
             "envelope", "envelopes", "insert", "inserts", "inserting_per_piece", "email_per_message",
             "sms_per_segment", "portal_per_document", "einvoice_per_document"}
DEFAULT_DIR = "ccm-history"
ENV_LOCATION = "CCM_HISTORY"        # kpi / dashboard: where the history is when --history is not given


@dataclass(frozen=True)
class CostTable:
    """Unit costs of a job, exact decimals in ``currency``. Missing entries cost nothing.

    ``click_*_per_side`` is per printed page (side); ``colour`` says which click rate the job pays.
    ``envelopes`` / ``inserts`` map an envelope or insert name to its unit cost, ``envelope`` /
    ``insert`` are the price of any other. Postage comes from the mail plan, not from this table.
    """
    currency: str = ""
    paper_per_sheet: Decimal = Decimal(0)
    click_mono_per_side: Decimal = Decimal(0)
    click_colour_per_side: Decimal = Decimal(0)
    colour: bool = False
    envelope: Decimal = Decimal(0)
    envelopes: dict = field(default_factory=dict)
    insert: Decimal = Decimal(0)
    inserts: dict = field(default_factory=dict)
    inserting_per_piece: Decimal = Decimal(0)
    email_per_message: Decimal = Decimal(0)
    sms_per_segment: Decimal = Decimal(0)
    portal_per_document: Decimal = Decimal(0)
    einvoice_per_document: Decimal = Decimal(0)     # the e-invoicing platform's (PDP) fee per invoice

    @property
    def click_per_side(self) -> Decimal:
        return self.click_colour_per_side if self.colour else self.click_mono_per_side

    def envelope_cost(self, name: str) -> Decimal:
        return self.envelopes.get(name or "", self.envelope)

    def insert_cost(self, name: str) -> Decimal:
        return self.inserts.get(name, self.insert)


@dataclass(frozen=True)
class HistoryConfig:
    """Where a job's history, costs and metrics go; built by :func:`read_history_config`."""
    location: str | None            # PostgreSQL URL or SQLite path; None when recording is off
    costs: CostTable = CostTable()
    textfile_dir: Path | None = None
    deadline: str | None = None     # ISO date-time with offset
    keep_days: int | None = None    # after each run, its job's runs older than this many days are pruned


def _money(where: str, value) -> Decimal:
    if isinstance(value, float):
        value = repr(value)          # 0.012 -> Decimal("0.012"), not the binary float's expansion
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not an amount (e.g. 0.012)") from None
    if not d.is_finite() or d < 0:
        raise ConfigError(f"{where}: {value!r} must be an amount ≥ 0")
    return d


def read_costs(path: Path, table: dict) -> CostTable:
    """The [costs] table of job file ``path`` (merged over its shared ``file``) as a :class:`CostTable`."""
    merged = {}
    if "file" in table:
        shared = Path(os.path.expanduser(str(table["file"])))
        shared = shared if shared.is_absolute() else path.parent / shared
        try:
            with open(shared, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"{path}: [costs] file: cannot read {shared}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{shared}: not a valid TOML file: {exc}") from None
        merged.update(data.get("costs", data))
        merged.pop("file", None)
        where_shared = str(shared)
    else:
        where_shared = str(path)
    merged.update({k: v for k, v in table.items() if k != "file"})
    for key in merged:
        if key not in COST_KEYS:
            raise ConfigError(f"{where_shared}: [costs] {key}: unknown key "
                              f"(expected one of: {', '.join(sorted(COST_KEYS - {'file'}))})")
    values = {}
    for key, value in merged.items():
        where = f"{path}: [costs] {key}"
        if key == "currency":
            values[key] = str(value).upper()
        elif key == "colour":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false")
            values[key] = value
        elif key in ("envelopes", "inserts"):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table like {{ DL = 0.02, C4 = 0.08 }}")
            values[key] = {str(k): _money(f"{where}.{k}", v) for k, v in value.items()}
        else:
            values[key] = _money(where, value)
    return CostTable(**values)


def read_deadline(path: Path, value, job_date: str) -> str:
    """``[job] deadline`` as an ISO date-time with its UTC offset (local time when none is given)."""
    where = f"{path}: [job] deadline"
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.time):
        moment = dt.datetime.combine(dt.date.fromisoformat(job_date) + dt.timedelta(days=1), value)
    else:
        text = str(value).strip()
        try:
            if len(text) <= 8 and ":" in text and "-" not in text:
                t = dt.time.fromisoformat(text)
                moment = dt.datetime.combine(dt.date.fromisoformat(job_date) + dt.timedelta(days=1), t)
            else:
                moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is neither a date-time (2026-11-24T06:00:00+01:00) "
                              "nor a time of day (06:00, on the day after the job date)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()           # local time of the machine running the job
    return moment.isoformat()


def read_history_config(path: Path, data: dict, output_dir: Path, job_date: str) -> HistoryConfig:
    """Check the job's [history], [costs], [monitoring] and [job] deadline (ConfigError: exit 12)."""
    for section, keys in (("history", HISTORY_KEYS), ("monitoring", MONITORING_KEYS)):
        for key in data.get(section, {}):
            if key not in keys:
                raise ConfigError(f"{path}: [{section}] {key}: unknown key (expected one of: "
                                  f"{', '.join(sorted(keys))})")
    history = data.get("history", {})
    if "url" in history and "path" in history:
        raise ConfigError(f"{path}: [history]: give url (PostgreSQL) or path (SQLite), not both")
    location = None
    if history.get("enabled", True) is not False:
        if "url" in history:
            from .store import is_url
            location = str(history["url"])
            if not is_url(location):
                raise ConfigError(f"{path}: [history] url: {location!r} is not a postgresql:// URL "
                                  "(use path = \"...\" for an SQLite file)")
        elif "path" in history:
            p = Path(os.path.expanduser(str(history["path"])))
            location = str(p if p.is_absolute() else path.parent / p)
        else:
            location = str(output_dir.parent / DEFAULT_DIR / "history.db")
    keep_days = history.get("keep_days")        # an integer ≥ 1: checked by ccm_batch.jobschema
    costs = read_costs(path, data.get("costs", {}))
    textfile = data.get("monitoring", {}).get("textfile_dir")
    textfile_dir = None
    if textfile:
        p = Path(os.path.expanduser(str(textfile)))
        textfile_dir = p if p.is_absolute() else path.parent / p
    deadline = data.get("job", {}).get("deadline")
    return HistoryConfig(location=location, costs=costs, textfile_dir=textfile_dir,
                         deadline=read_deadline(path, deadline, job_date) if deadline is not None else None,
                         keep_days=keep_days if location else None)
