"""In CI a skipped test fails the run (tests/conftest.py); outside CI it stays a skip."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_skipper.py").write_text(
        "import pytest\n\n"
        "def test_needs_a_tool():\n    pytest.skip('tool not installed')\n\n"
        "@pytest.mark.skipif(True, reason='marker skip')\ndef test_marked():\n    pass\n\n"
        "def test_fine():\n    assert True\n")
    (tmp_path / "test_module_skip.py").write_text("import pytest\npytest.importorskip('no_such_module_here')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_a_skip_in_ci_is_a_failure(tmp_path):
    proc = _run(tmp_path, "true")
    assert proc.returncode == 1, proc.stdout
    # the skip in the test body fails, the skip marker errors at setup, the module skip fails the session
    assert "1 failed, 1 passed, 1 skipped, 1 error" in proc.stdout
    assert "skipped in CI" in proc.stdout and "tool not installed" in proc.stdout
    assert "marker skip" in proc.stdout


def test_a_module_skipped_at_collection_in_ci_fails_the_session(tmp_path):
    _run(tmp_path, "true")
    (tmp_path / "test_skipper.py").write_text("def test_fine():\n    assert True\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "CI": "true"})
    assert proc.returncode == 1, proc.stdout
    assert "1 skipped in CI" in proc.stdout


def test_a_skip_outside_ci_stays_a_skip(tmp_path):
    proc = _run(tmp_path, None)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 3 skipped" in proc.stdout
