"""The suite's skip policy: under CI every skip must be declared as expected.

With ``CI=true`` (as .ci/run runs) any skipped test fails unless it carries
``@pytest.mark.expected_skip("why it may skip on some machines")``. A skip nobody declared means part of the suite
silently did not run (a missing reference file, an emulator feature, a system package), and CI must not pass on that.
Outside CI skips are allowed and listed by ``-ra``. Expected skips today: the browser tests without Chromium, the
``serve`` command test without PostgreSQL's server binaries.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

EXPECTED_SKIP = "expected_skip"


def skips_must_be_declared() -> bool:
    """True where every skip must be declared as expected (CI sets CI=true)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{EXPECTED_SKIP}(reason): this test may skip on some machines (e.g. no Chromium); "
        "any other skip fails under CI=true (tests/skip_policy.py)",
    )


def _undeclared(longrepr: object) -> str:
    # A skip's longrepr is (file, line, "Skipped: reason").
    reason = longrepr[2] if isinstance(longrepr, tuple) else longrepr
    return (
        f"skipped under CI=true without @pytest.mark.{EXPECTED_SKIP}: {reason}\n"
        "A skip hides untested code; fix its cause, or declare it expected with a reason (tests/skip_policy.py)."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a skip of a test without the expected_skip marker into a failure when CI=true."""
    report: pytest.TestReport = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and skips_must_be_declared()
        and item.get_closest_marker(EXPECTED_SKIP) is None
    ):
        report.outcome = "failed"
        report.longrepr = _undeclared(report.longrepr)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A whole module skipped at collection (importorskip, allow_module_level) is undeclared: fail it when CI=true."""
    report: pytest.CollectReport = yield
    if report.skipped and skips_must_be_declared():
        report.outcome = "failed"
        report.longrepr = _undeclared(report.longrepr)
    return report
