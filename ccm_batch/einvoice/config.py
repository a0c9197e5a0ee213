"""E-invoice stage: the job's ``[einvoice]`` section (profile, formats, mapping, routing, platform drop directories).

```toml
[einvoice]
mapping = "../layouts/invoice.en16931.toml"   # extract fields -> EN 16931 business terms (relative to the job)
profile = "en16931"          # minimum | basicwl | basic | en16931 | extended (Factur-X profiles)
formats = ["facturx"]        # facturx (PDF/A-3b with factur-x.xml) | cii (standalone XML) | ubl (UBL 2.1)
route = "b2b"                # b2b: invoices whose buyer has a SIREN (BT-47) | all: every invoice
                             # (with [channels] rules naming "einvoice": which invoices that channel may take)
default_pdp = "pdp-default"  # drop directory for buyers whose platform the extract does not name
```

Outputs go to ``OUTPUT/einvoice/<pdp>/`` (one directory per platform, with ``manifest.csv``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .cii import PROFILES

FORMATS = ("facturx", "cii", "ubl")
ROUTES = ("b2b", "all")
KEYS = ("mapping", "profile", "formats", "route", "default_pdp")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class EinvoiceConfig:
    """``[einvoice]`` resolved (see the module docstring)."""
    mapping: Path
    profile: str = "en16931"
    formats: tuple = ("facturx",)
    route: str = "b2b"
    default_pdp: str = "pdp-default"

    @property
    def needs_pdf(self) -> bool:
        return "facturx" in self.formats


def safe_pdp(name: str) -> bool:
    """A platform name usable as a directory name (no separator, no dot first, ≤ 64 characters)."""
    return bool(_SAFE_NAME.match(name))


def load_einvoice_config(table, base_dir: Path) -> EinvoiceConfig | None:
    """``[einvoice]`` of a job file (None when absent); errors name the key and say what is allowed."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("[einvoice] must be a table")
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"[einvoice] {key}: unknown key (known: {', '.join(KEYS)})")
    if "mapping" not in table or not isinstance(table["mapping"], str):
        raise ConfigError("[einvoice] mapping: required, the path of the EN 16931 mapping file")
    mapping = Path(table["mapping"])
    if not mapping.is_absolute():
        mapping = (base_dir / mapping).resolve()
    profile = table.get("profile", "en16931")
    if profile not in PROFILES:
        raise ConfigError(f"[einvoice] profile: {profile!r} is not one of {', '.join(PROFILES)}")
    formats = table.get("formats", ["facturx"])
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not formats or any(f not in FORMATS for f in formats):
        raise ConfigError(f"[einvoice] formats: a non-empty list among {', '.join(FORMATS)}")
    if "ubl" in formats and profile in ("minimum", "basicwl"):
        raise ConfigError(f"[einvoice] formats: UBL carries a full EN 16931 invoice; profile {profile!r} "
                          "is CII-only (use basic, en16931 or extended)")
    route = table.get("route", "b2b")
    if route not in ROUTES:
        raise ConfigError(f"[einvoice] route: {route!r} is not one of {', '.join(ROUTES)}")
    pdp = table.get("default_pdp", "pdp-default")
    if not isinstance(pdp, str) or not safe_pdp(pdp):
        raise ConfigError("[einvoice] default_pdp: a plain directory name (letters, digits, . _ -)")
    return EinvoiceConfig(mapping, profile, tuple(dict.fromkeys(formats)), route, pdp)
