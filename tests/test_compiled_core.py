"""Packaging: the compiled core (Cython-built ``ccm_batch._compiled.MODULES``) and the pure-Python modules
give byte-identical outputs — the bench job (PDF and AFP, mail plan and indexes on) and the sample jobs —
and ``CCM_PURE_PYTHON=1`` really runs the ``.py`` modules."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ccm_batch._compiled import MODULES
from runjobs import ROOT, make_extract, output_files, run_cli, write_job

SAMPLES = ["invoice", "statement", "letter", "us-statement"]


def _compiled_in_child(pure: bool) -> list[str]:
    env = {**os.environ, "CCM_PURE_PYTHON": "1" if pure else "0"}
    code = "import json; from ccm_batch._compiled import compiled_modules; print(json.dumps(compiled_modules()))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def compiled() -> bool:
    """True when this install has the compiled core (CI: it must, gcc is installed there)."""
    names = _compiled_in_child(pure=False)
    if sorted(names) != sorted(MODULES):
        missing = sorted(set(MODULES) - set(names))
        if os.environ.get("CI"):
            pytest.fail(f"not compiled: {missing}: pip install needs Cython and a C compiler (gcc)")
        pytest.skip(f"not compiled here: {missing} (no C compiler, or sources edited since: make venv)")
    return True


def test_pure_python_switch_runs_the_py_modules(compiled):
    assert _compiled_in_child(pure=True) == []


def _outputs(job, out, pure: bool) -> dict:
    proc = run_cli("run", job, "--output", out, "--workers", 2, env={"CCM_PURE_PYTHON": "1" if pure else "0"})
    assert proc.returncode in (0, 4), proc.stderr
    return output_files(out)


def _assert_same(tmp_path, job):
    fast = _outputs(job, tmp_path / "compiled", pure=False)
    slow = _outputs(job, tmp_path / "pure", pure=True)
    assert len(fast) >= 4
    assert fast.keys() == slow.keys()
    assert [name for name in fast if fast[name] != slow[name]] == []


def test_bench_job_is_byte_identical_compiled_and_pure(tmp_path, compiled):
    data = make_extract(tmp_path / "inv.xml", 120)
    job = write_job(tmp_path, data, extra="[mail]\nenabled = true\nmax_pieces_per_file = 50\n")
    _assert_same(tmp_path, job)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_job_is_byte_identical_compiled_and_pure(tmp_path, compiled, name):
    _assert_same(tmp_path, ROOT / "samples" / f"{name}.toml")


PLAN = """
import sys
from pathlib import Path
sys.path.insert(0, {bench!r})
import plan_bench
from ccm_batch._compiled import compiled_modules
docs, work = Path({docs!r}), Path({work!r})
if not docs.exists():
    plan_bench.generate(docs, 12000)
mail = sorted(m for m in compiled_modules() if m.startswith("ccm_batch.mail."))
r = plan_bench.run_plan(docs, work, 1, "local", False)
print(r["digest"], r["pieces"], ",".join(mail))
"""


def test_mail_plan_is_identical_compiled_and_pure(tmp_path, compiled):
    """The mail plan's modules (householding, presort trials, print files) compiled and pure give the same
    plan, every table, on 12,000 synthetic documents (two presorted La Poste mailings, households,
    foreign and undeliverable addresses)."""
    docs = tmp_path / "docs.db"
    out = {}
    for pure in (False, True):
        code = PLAN.format(bench=str(ROOT / "bench"), docs=str(docs), work=str(tmp_path / f"work-{pure}"))
        env = {**os.environ, "CCM_PURE_PYTHON": "1" if pure else "0"}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        out[pure] = proc.stdout.split()
    fast, slow = out[False], out[True]
    assert fast[2].split(",") == sorted(m for m in MODULES if m.startswith("ccm_batch.mail."))
    assert len(slow) == 2                         # nothing compiled in the pure run
    assert int(fast[1]) > 10000
    assert fast[:2] == slow[:2]


def _setup_functions(root) -> dict:
    """setup.py's functions, run against the copy of a source tree at ``root`` (``setup()`` not called)."""
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    text = text[:text.rindex("\nsetup(")]                         # its last statement: not run here
    namespace = {"__file__": str(root / "setup.py"), "__name__": "setup_under_test"}
    exec(compile(text, "setup.py", "exec"), namespace)
    return namespace


def _source_tree(root, files: dict):
    """A package ``ccm_batch`` under ``root`` holding ``files`` (name -> text), its ``_compiled.py``
    listing every ``.py`` of them but ``__init__.py``, in order; returns the package directory."""
    pkg = root / "ccm_batch"
    pkg.mkdir()
    modules = tuple(f"ccm_batch.{name[:-3]}" for name in files if name.endswith(".py") and name != "__init__.py")
    (pkg / "_compiled.py").write_text(f"MODULES = {modules!r}\n")
    for name, text in files.items():
        (pkg / name).write_text(text)
    return pkg


def _build_in_place(root, check: bool = True) -> subprocess.CompletedProcess:
    """This checkout's setup.py run as ``build_ext --inplace`` in the source tree at ``root`` (compiled,
    whatever ``CCM_PURE_PYTHON`` says here)."""
    (root / "setup.py").write_text((ROOT / "setup.py").read_text(encoding="utf-8"))
    return subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=root, env=_BUILD_ENV,
                          capture_output=True, text=True, check=check)


def _python_in(root, code: str) -> str:
    """The output of ``python -c code`` run in ``root`` (its ``ccm_batch`` imported, not this one's)."""
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=_BUILD_ENV, capture_output=True, text=True,
                          check=True).stdout.strip()


_BUILD_ENV = {k: v for k, v in os.environ.items() if k != "CCM_PURE_PYTHON"}


def test_an_install_removes_the_earlier_builds_first(tmp_path, monkeypatch):
    """Python imports ``mod.cpython-*.so`` before ``mod.py``: a module taken off ``MODULES``, one the
    compiler now refuses, or an install that builds none must not keep running its old compiled copy, so
    every install removes the earlier in-place builds (a package's ``__init__`` build too) before it
    builds. Files that are not a ``.py``'s twin stay."""
    import importlib.machinery
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    pkg = tmp_path / "ccm_batch"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "_compiled.py").write_text('MODULES = ("ccm_batch.kept", "ccm_batch.sub")\n')
    for name in ("kept.py", "dropped.py", "sub/__init__.py", "other.py"):
        (pkg / name).write_text("X = 1\n")
    builds = {name: pkg / name for name in (f"kept{suffix}", f"dropped{suffix}", f"sub/__init__{suffix}",
                                            "other.abi3.so", f"lonely{suffix}")}
    for path in builds.values():
        path.write_bytes(b"\x7fELF")
    monkeypatch.setenv("CCM_PURE_PYTHON", "1")     # an install that builds none
    assert _setup_functions(tmp_path)["ext_modules"]() == []
    assert sorted(p.name for p in builds.values() if p.exists()) == [f"lonely{suffix}"]


def test_a_module_cython_refuses_stays_python_and_the_others_compile(tmp_path, monkeypatch, capsys):
    """A Cython error in one module (say, a stricter Cython 3 release) must not fail the whole install:
    that module stays Python, as one gcc fails on does (``optional=True``), and the others are built."""
    _source_tree(tmp_path, {"good.py": "def f(x):\n    return x + 1\n",
                            "refused.py": "def f(grey):\n    return 255 if grey else (255, 255, 255)\n",
                            "also.py": "def g(s):\n    return s.upper()\n"})
    monkeypatch.chdir(tmp_path)                    # setup.py's sources and build directory are relative
    monkeypatch.delenv("CCM_PURE_PYTHON", raising=False)
    exts = _setup_functions(tmp_path)["ext_modules"]()
    assert [ext.name for ext in exts] == ["ccm_batch.good", "ccm_batch.also"]
    assert "ccm_batch.refused stays pure Python, Cython cannot compile it" in capsys.readouterr().err
    assert (tmp_path / "build" / "cython" / "ccm_batch" / "good.c").exists()


def test_a_module_gcc_fails_on_stays_python_and_the_install_goes_on(tmp_path):
    """gcc failing on one module (Cython's C refused, a header missing) must not fail the install: that
    module runs its ``.py`` — not an earlier build of it — and the others are compiled. ``cythonize``
    returns new extensions without the ``optional=True`` they were made with; setup.py sets it again."""
    import importlib.machinery
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    pkg = _source_tree(tmp_path, {"__init__.py": "", "good.py": "def f(x):\n    return x + 1\n",
                                  "broken.py": "def f(x):\n    return x + 2\n",
                                  "broken.pxd": 'cdef extern from "ccm_no_such_header.h":\n    pass\n'})
    (pkg / f"broken{suffix}").write_bytes(b"\x7fELF an earlier build")
    build = _build_in_place(tmp_path, check=False)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    assert "ccm_no_such_header.h" in build.stdout + build.stderr          # gcc did fail on it
    assert (pkg / f"good{suffix}").exists() and not (pkg / f"broken{suffix}").exists()
    probe = _python_in(tmp_path, "import ccm_batch.good as g, ccm_batch.broken as b; "
                                 "print(g.__file__, b.__file__, g.f(1), b.f(1))")
    good, broken, one, three = probe.split()
    assert good.endswith(suffix) and broken.endswith("broken.py") and (one, three) == ("2", "3")


def test_an_install_generates_the_c_of_each_module_again(tmp_path):
    """C that Cython generated earlier is not reused, even when it is newer than its ``.py`` (another
    Cython, other directives, a source put back with its old time): each install compiles the ``.py``
    as it is."""
    import importlib.machinery
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    pkg = _source_tree(tmp_path, {"__init__.py": "", "mod.py": "def f(x):\n    return x + 100\n"})

    def build_and_call() -> str:
        _build_in_place(tmp_path)
        assert (pkg / f"mod{suffix}").exists()
        return _python_in(tmp_path, "import ccm_batch.mod as m; print(m.f(1))")
    assert build_and_call() == "101"
    generated = tmp_path / "build" / "cython" / "ccm_batch" / "mod.c"
    assert generated.exists()
    (pkg / "mod.py").write_text("def f(x):\n    return x + 1\n")
    old = generated.stat().st_mtime - 60
    os.utime(pkg / "mod.py", (old, old))                  # the .py older than the C made from the other one
    assert build_and_call() == "2"
