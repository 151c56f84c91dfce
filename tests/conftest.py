"""Fixture plugins shared by the whole suite (each lives in tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.emulator",
]
