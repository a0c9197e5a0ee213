"""Build: compile the optional compiled core (ccm_batch._compiled.MODULES) with Cython when possible.

The modules are compiled from their own ``.py`` files (no second source). No C compiler, no Cython, or
``CCM_PURE_PYTHON=1`` at install time: the package installs as pure Python and runs the same code. A
module Cython refuses, or gcc fails on, stays Python; the others are compiled. Every install first
removes the earlier in-place builds, so a module it does not compile runs its ``.py``, never an old build,
and generates every module's C again and compiles it (``cythonize`` would reuse C newer than its
``.py``, made by another Cython or with other directives, about 15 s for all of them; ``build_ext``
would copy back an earlier build it finds no older than that C).
"""
import ast
import importlib.machinery
import os
import sys
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    tree = ast.parse((HERE / "ccm_batch" / "_compiled.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODULES":
            return list(ast.literal_eval(node.value))
    raise RuntimeError("ccm_batch/_compiled.py: MODULES not found")


def source(name: str) -> str:
    base = Path(*name.split("."))
    module = base.with_suffix(".py")
    return str(module) if (HERE / module).exists() else str(base / "__init__.py")


def drop_builds() -> None:
    """Remove every in-place build (an editable install's) that sits beside a ``.py`` of the same name.
    Python imports ``mod.cpython-*.so`` before ``mod.py``, and ``_compiled.select()`` only watches the
    listed modules: a module taken off the list, one that Cython or gcc now refuses, or an install that
    builds none would otherwise keep running its old compiled copy. Each install builds anew."""
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    for path in (HERE / "ccm_batch").rglob("*.so"):
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)
        if suffix is not None and path.with_name(path.name[: -len(suffix)] + ".py").exists():
            path.unlink()


def ext_modules() -> list:
    drop_builds()                             # first: whatever this install does not build runs its .py
    if os.environ.get("CCM_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
        from Cython.Compiler.Errors import CompileError
    except ImportError:
        return []
    out = []
    for name in compiled_modules():           # one by one: a module Cython refuses stays Python
        ext = Extension(name + (".__init__" if source(name).endswith("__init__.py") else ""),  # a package:
                        [source(name)], optional=True, extra_compile_args=["-O2"])          # pkg/__init__.so
        try:
            built = cythonize([ext], build_dir="build/cython", quiet=True, force=True,   # C made anew (docstring)
                              compiler_directives={"language_level": 3, "annotation_typing": False})
        except CompileError as exc:           # e.g. a later Cython 3 release, stricter: as gcc's errors are
            print(f"setup.py: {name} stays pure Python, Cython cannot compile it ({exc})", file=sys.stderr)
            continue
        for compiled in built:                # cythonize's copies drop optional=True: a gcc error would
            compiled.optional = True          # then fail the whole install
        out += built
    return out


setup(ext_modules=ext_modules(), options={"build_ext": {"parallel": os.cpu_count() or 1, "force": True}})
