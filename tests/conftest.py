"""Fixture plugins shared by the whole suite (each lives in tests/fixtures/) and the suite's skip policy.

Skip policy (tests/skip_policy.py): with ``CI=true``, as .ci/run runs, a skipped test fails unless it carries
``@pytest.mark.expected_skip("why it may skip on some machines")``.
"""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.emulator",
    "tests.fixtures.moqui",
    "tests.skip_policy",
    "pytester",
]
