"""Channels: the job's ``[channels]`` table read and checked (routing rules, preferences, email, SMS, portal).

Every key is documented in README.md ("Multichannel"). Errors name ``job.toml: [channels…] key``
and say what is expected (exit 12). Relative paths resolve against the job file's directory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..layout.variants import CHANNELS

E_CHANNELS = ("email", "sms", "portal")
ROUTABLE = CHANNELS + ("einvoice",)     # einvoice: the job's [einvoice] section is its "variant"
_TOP = {"preferences", "fields", "rules", "email", "sms", "portal", "feedback", "send_at_end",
        "preferences_key"}
_FIELDS = {"preferred", "email", "mobile", "email_consent", "sms_consent", "portal_consent", "siren", "pdp",
           "einvoice_consent"}
_RULE = {"allowed", "required", "consent", "fallback", "max_sms_segments", "attach"}
_EMAIL = {"from", "reply_to", "domain", "smtp_host", "smtp_port", "starttls", "ssl", "username",
          "password_env", "ca_file", "rate_per_minute", "retries", "backoff_s", "timeout_s",
          "dkim_selector", "dkim_domain", "dkim_key", "portal_url"}
_SMS = {"sender", "kannel_url", "username", "password_env", "dlr_url", "rate_per_minute", "retries",
        "backoff_s", "timeout_s", "max_segments"}
_PORTAL = {"url"}


@dataclass(frozen=True)
class Rule:
    """Routing rule of one document type (``[channels.rules.TYPE]``, ``*`` for every other type)."""
    allowed: tuple = ("paper",)            # channels in the sender's order of preference
    required: tuple = ()                   # channels that always get the document too (e.g. by law)
    consent: tuple = E_CHANNELS            # channels used only with the customer's consent
    fallback: str = "paper"                # when no allowed channel is possible: paper | suppress
    max_sms_segments: int = 3
    attach: str = "pdf"                    # email: pdf (the PDF/A twin attached) | link (portal link)


@dataclass(frozen=True)
class ChannelsConfig:
    """The ``[channels]`` table, resolved."""
    fields: dict = field(default_factory=dict)         # preference name -> XPath over the record
    preferences: Path | None = None                    # CSV keyed by customer id
    preferences_key: str = "customer_id"
    rules: dict = field(default_factory=dict)          # doc type ('*' default) -> Rule
    email: dict = field(default_factory=dict)
    sms: dict = field(default_factory=dict)
    portal: dict = field(default_factory=dict)
    feedback: Path | None = None                       # the feedback store (SQLite file)
    send_at_end: bool = False

    def rule(self, doc_type: str) -> Rule:
        return self.rules.get(doc_type) or self.rules.get("*") or Rule()

    def channels_used(self) -> set:
        """Every channel some rule may route to."""
        return {c for r in self.rules.values() for c in (*r.allowed, *r.required)}

    def routes_einvoice(self, doc_type: str) -> bool:
        """True when the rule of ``doc_type`` may route to the e-invoice channel: its e-invoices are then
        made for the documents routed there only (otherwise ``[einvoice] route`` alone decides)."""
        rule = self.rule(doc_type)
        return "einvoice" in rule.allowed or "einvoice" in rule.required


def _where(path, key) -> str:
    return f"{path}: [channels] {key}"


def _check(path, table, allowed, where):
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(path, where)}: expected a table")
    for k in table:
        if k not in allowed:
            raise ConfigError(f"{_where(path, f'{where}.{k}' if where else k)}: unknown key "
                              f"(expected one of: {', '.join(sorted(allowed))})")


def _channels(path, key, value) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or any(v not in ROUTABLE for v in value):
        raise ConfigError(f"{_where(path, key)}: expected a list of channels among {', '.join(ROUTABLE)}")
    return tuple(dict.fromkeys(value))


def read_channels(path: Path, table: dict | None) -> ChannelsConfig | None:
    """The job's ``[channels]`` table (None when the job has none: a paper-only job)."""
    if table is None:
        return None
    _check(path, table, _TOP, "")
    base = path.parent
    fields = table.get("fields", {})
    _check(path, fields, _FIELDS, "fields")
    rules = {}
    for doc_type, r in table.get("rules", {}).items():
        _check(path, r, _RULE, f"rules.{doc_type}")
        key = f"rules.{doc_type}"
        rule = Rule(allowed=_channels(path, f"{key}.allowed", r.get("allowed", ["paper"])),
                    required=_channels(path, f"{key}.required", r.get("required", [])),
                    consent=_channels(path, f"{key}.consent", r.get("consent", list(E_CHANNELS))),
                    fallback=r.get("fallback", "paper"),
                    max_sms_segments=r.get("max_sms_segments", table.get("sms", {}).get("max_segments", 3)),
                    attach=r.get("attach", "pdf"))
        if rule.fallback not in ("paper", "suppress"):
            raise ConfigError(f"{_where(path, key + '.fallback')}: expected \"paper\" or \"suppress\"")
        if rule.attach not in ("pdf", "link"):
            raise ConfigError(f"{_where(path, key + '.attach')}: expected \"pdf\" or \"link\"")
        if not isinstance(rule.max_sms_segments, int) or not 1 <= rule.max_sms_segments <= 255:
            raise ConfigError(f"{_where(path, key + '.max_sms_segments')}: expected a whole number 1-255")
        rules[str(doc_type)] = rule
    if not rules:
        raise ConfigError(f"{_where(path, 'rules')}: missing; give at least one rule, e.g. "
                          "[channels.rules.\"*\"] allowed = [\"email\", \"paper\"]")
    email, sms, portal = table.get("email", {}), table.get("sms", {}), table.get("portal", {})
    _check(path, email, _EMAIL, "email")
    _check(path, sms, _SMS, "sms")
    _check(path, portal, _PORTAL, "portal")
    if any("email" in (*r.allowed, *r.required) for r in rules.values()) and "from" not in email:
        raise ConfigError(f"{_where(path, 'email.from')}: missing (the sender address of the emails)")
    for key in ("dkim_key", "ca_file"):
        if key in email:
            email = {**email, key: str(_resolve(base, email[key]))}
    prefs = table.get("preferences")
    prefs_path = _resolve(base, prefs) if prefs else None
    if prefs_path is not None and not prefs_path.is_file():
        raise ConfigError(f"{_where(path, 'preferences')}: {prefs_path} does not exist")
    feedback = table.get("feedback")
    return ChannelsConfig(fields=dict(fields), preferences=prefs_path,
                          preferences_key=str(table.get("preferences_key", "customer_id")), rules=rules,
                          email=dict(email), sms=dict(sms), portal=dict(portal),
                          feedback=_resolve(base, feedback) if feedback else None,
                          send_at_end=bool(table.get("send_at_end", False)))


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else base / p


def check_layout(path, config: ChannelsConfig, layout, einvoice=None) -> None:
    """A layout without a variant for a channel the rules may route to is a configuration error; so is
    the e-invoice channel without an ``[einvoice]`` section (``einvoice``: the job's, or None)."""
    doc_type = layout.doc_type
    rule = config.rule(doc_type)
    for channel in (*rule.allowed, *rule.required):
        if channel == "einvoice":
            if einvoice is None:
                raise ConfigError(f"{path}: [channels] rules for {doc_type!r} route to einvoice, but the job has "
                                  "no [einvoice] section: add one (mapping, profile, formats), or remove einvoice "
                                  "from the rule")
            continue
        if channel != "paper" and channel not in layout.channels:
            raise ConfigError(f"{path}: [channels] rules for {doc_type!r} route to {channel}, but layout "
                              f"{layout.path} has no <{channel}> variant under <channels>: add one, or remove "
                              f"{channel} from the rule")
