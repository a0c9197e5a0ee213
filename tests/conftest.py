"""Test session rules: in CI (environment variable CI set) a skipped test is a failure.

CI installs every tool the tests use (qpdf, poppler, zbarimg, dmtxread, ...), so a skip there means a
check silently did not run; locally a missing tool still skips with its reason.
"""
from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI={os.environ.get('CI')}), which counts as a failure: {reason}"


def pytest_sessionfinish(session, exitstatus):
    """A whole module skipped at collection (``pytest.importorskip`` at module level) fails CI too."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and in_ci() and session.exitstatus == 0:
        reporter.write_line(f"{len(skipped)} skipped in CI (CI={os.environ.get('CI')}): a skip is a failure there",
                            red=True)
        session.exitstatus = 1
