"""Channels: each customer's channel preferences and consents, from the extract and/or a preferences CSV.

:class:`Preferences` holds ``preferred`` (paper, email, sms, portal or einvoice), ``email``, ``mobile``,
``siren`` and ``pdp`` (the e-invoice channel: the business customer's SIREN and platform) and the
consents ``email_consent``, ``sms_consent``, ``portal_consent``, ``einvoice_consent``. A consent value
is a date (the day consent was given, shown in the decision's reason), or yes/true/1; empty, no, false
or 0 mean none.
The job names XPath expressions for them under ``[channels.fields]`` (evaluated on each record); the
CSV named by ``[channels] preferences`` has a ``customer_id`` column (``preferences_key``) and columns
of the same names. A non-empty extract value wins over the CSV's.
"""
from __future__ import annotations

import csv
import datetime as _dt
from pathlib import Path
from typing import NamedTuple

from ..errors import ConfigError

NAMES = ("preferred", "email", "mobile", "email_consent", "sms_consent", "portal_consent", "siren", "pdp",
         "einvoice_consent")
_NO = {"", "no", "false", "0", "n", "non"}
_YES = {"yes", "true", "1", "y", "oui"}


class Preferences(NamedTuple):
    preferred: str = ""
    email: str = ""
    mobile: str = ""
    email_consent: str = ""
    sms_consent: str = ""
    portal_consent: str = ""
    siren: str = ""              # e-invoice: the customer's SIREN (or SIRET), when the extract's mapping lacks it
    pdp: str = ""                # e-invoice: the customer's platform (drop directory), overriding the mapping's
    einvoice_consent: str = ""

    def consent(self, channel: str) -> str | None:
        """How consent to ``channel`` was given ("consent 2026-03-02", "consent") or None."""
        value = (getattr(self, f"{channel}_consent", "") or "").strip()
        if value.lower() in _NO:
            return None
        try:
            return f"consent {_dt.date.fromisoformat(value[:10]).isoformat()}"
        except ValueError:
            return "consent" if value.lower() in _YES else f"consent {value}"


def read_preferences_csv(path: Path, key: str = "customer_id") -> dict:
    """Customer id -> :class:`Preferences` from a CSV (UTF-8, header row). Errors name file:line."""
    out = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if key not in (reader.fieldnames or ()):
                raise ConfigError(f"{path}:1: preferences file has no {key!r} column "
                                  f"(columns: {', '.join(reader.fieldnames or ())})")
            for row in reader:
                cid = (row.get(key) or "").strip()
                if not cid:
                    raise ConfigError(f"{path}:{reader.line_num}: empty {key}")
                out[cid] = Preferences(**{n: (row.get(n) or "").strip() for n in NAMES})
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason}); save the preferences file as UTF-8") from None
    return out


class PreferenceSource:
    """Reads a record's preferences: the job's field expressions, then the CSV by customer id."""

    def __init__(self, fields: dict, csv_prefs: dict):
        from ..layout.expr import Expr, ExprError
        self.csv = csv_prefs
        self.exprs = {}
        for name, source in fields.items():
            try:
                self.exprs[name] = Expr(str(source), "string")
            except ExprError as exc:
                raise ConfigError(f"[channels.fields] {name}: {exc}") from None

    def read(self, record, customer_id: str) -> Preferences:
        from ..layout.expr import ExprError
        base = self.csv.get(customer_id, Preferences())
        values = base._asdict()
        for name, expr in self.exprs.items():
            try:
                v = str(expr.eval(record.tree, {}) or "").strip()
            except ExprError:
                v = ""
            if v:
                values[name] = v
        return Preferences(**values)
