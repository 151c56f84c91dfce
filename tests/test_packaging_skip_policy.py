"""The skip policy (tests/skip_policy.py): under CI=true an undeclared skip fails, a declared one stays a skip."""

from __future__ import annotations

import pytest

SKIPS = """
import pytest

def test_skips_in_its_body():
    pytest.skip("the emulator cannot do this yet")

@pytest.mark.skipif(True, reason="a condition nobody declared")
def test_skipped_by_a_condition():
    pass

@pytest.mark.expected_skip("needs Chromium, which some machines lack")
@pytest.mark.skipif(True, reason="no Chromium")
def test_declared():
    pass

def test_runs():
    assert 1 + 1 == 2
"""


ISOLATED = ("-q", "-p", "no:cacheprovider")
POLICY_ONLY = 'pytest_plugins = ["tests.skip_policy"]'
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture
def policy(pytester: pytest.Pytester) -> pytest.Pytester:
    """A throwaway suite that uses only the skip policy plugin."""
    pytester.makeconftest(POLICY_ONLY)
    pytester.makeini(INI)
    pytester.makepyfile(test_skips=SKIPS)
    return pytester


def test_under_ci_an_undeclared_skip_fails(policy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = policy.runpytest(*ISOLATED)
    # A skip in the body fails the test; one in set-up (skipif) is reported as an error. Both fail the run.
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*skipped under CI=true without @pytest.mark.expected_skip: Skipped: the emulator cannot do this yet*"]
    )


def test_outside_ci_skips_are_allowed(policy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    policy.runpytest(*ISOLATED).assert_outcomes(passed=1, skipped=3)


def test_under_ci_a_module_skipped_at_collection_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(POLICY_ONLY)
    pytester.makeini(INI)
    pytester.makepyfile(test_missing='import pytest\npytest.importorskip("a_module_nobody_installed")\n')
    result = pytester.runpytest(*ISOLATED)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*a_module_nobody_installed*"])
