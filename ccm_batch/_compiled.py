"""Packaging: the optional compiled core — which modules ``pip install`` compiles, and which ones run compiled.

The modules named in :data:`MODULES` are compiled by Cython from their own ``.py`` source (pure-Python
mode, annotations not used as C types: every value keeps its Python type, so the outputs keep their
bytes) when the package is installed on a machine with a C compiler (``setup.py``). The ``.py`` files stay
the one source; without a compiler the install is pure Python. At import, :func:`select` makes a module
run from its ``.py`` instead of its extension when ``CCM_PURE_PYTHON=1`` is set, or when the ``.py`` is
newer than the extension (a checkout edited or updated since the last ``pip install``: ``make venv``
rebuilds). ``tests/test_compiled_core.py`` checks that both paths give byte-identical outputs.

A module may have a ``.pxd`` beside it (Cython's augmenting declarations, read only by the build): a
private class declared there, such as the AFP page builder, becomes an extension type — its fields C
members, its methods called directly from C — running the same code.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

MODULES = (                   # the compose hot path (bench/RESULTS.md: "Issue 18, compose side") and the mail plan
    "ccm_batch.compose.table",
    "ccm_batch.compose.flow",
    "ccm_batch.compose.document",
    "ccm_batch.compose.text",
    "ccm_batch.layout.expr",
    "ccm_batch.layout.functions",
    "ccm_batch.spool",
    "ccm_batch.records.validate",
    "ccm_batch.records.xml",
    # font metrics (widths, kerning) and the address block (RESULTS: "the last compose modules compiled")
    "ccm_batch.fonts",
    "ccm_batch.compose.address",
    "ccm_batch.compose.typography",
    # the mail plan: householding, presort, print files (RESULTS: "the plan compiled")
    "ccm_batch.mail.address",
    "ccm_batch.mail.household",
    "ccm_batch.mail.partition",
    "ccm_batch.mail.trial",
    "ccm_batch.mail.presort",
    "ccm_batch.mail.files",
    "ccm_batch.mail.rules",
    "ccm_batch.mail.control",     # OMR marks and their clear zone, every page of the render
    # the AFP render (PTOCA emission); the PDF render is not: compiled, it runs 5 % fewer instructions
    # but takes more CPU time (RESULTS: "the AFP render and the last compose modules compiled", and
    # "the PDF render compiled, and taken back")
    "ccm_batch.render.afp",
    "ccm_batch.afp.ptoca",
    "ccm_batch.afp.fields",
    # per document in the render: archive index entries, TLE values, the plan's piece order
    "ccm_batch.archive.index",
    "ccm_batch.archive.tle",
    "ccm_batch.mail.plan",
)
PURE_ENV = "CCM_PURE_PYTHON"
STALE_AFTER = 2.0             # seconds a .py may be newer than its extension (files written by one install)
_ROOT = Path(__file__).resolve().parent.parent


def source_of(name: str) -> Path:
    """The ``.py`` file of module ``name`` (``__init__.py`` for a package)."""
    base = _ROOT.joinpath(*name.split("."))
    module = base.with_suffix(".py")
    return module if module.exists() else base / "__init__.py"     # mail/rules.py beside its data, mail/rules/


def extension_of(name: str) -> Path | None:
    """The built extension of module ``name`` next to its source, or None."""
    src = source_of(name)
    stem = "__init__" if src.name == "__init__.py" else src.stem
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = src.with_name(stem + suffix)
        if path.exists():
            return path
    return None


class _SourceFinder:
    """Meta-path finder: the modules in ``names`` are loaded from their ``.py`` source."""

    def __init__(self, names: set):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        src = source_of(name)
        search = [str(src.parent)] if src.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(name, src, submodule_search_locations=search)


def select() -> set:
    """Install the finder for the modules that must run from source; returns their names."""
    pure = set()
    force = os.environ.get(PURE_ENV, "") not in ("", "0")
    for name in MODULES:
        ext = extension_of(name)
        if ext is None:
            continue
        if force or source_of(name).stat().st_mtime > ext.stat().st_mtime + STALE_AFTER:
            pure.add(name)
    if pure:
        sys.meta_path.insert(0, _SourceFinder(pure))
    return pure


def compiled_modules() -> list[str]:
    """The modules of :data:`MODULES` that this process runs compiled (imports them)."""
    out = []
    for name in MODULES:
        mod = importlib.import_module(name)
        if not str(getattr(mod, "__file__", "")).endswith(".py"):
            out.append(name)
    return out
