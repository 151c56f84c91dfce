"""The official SDK pointed at the session's emulator (the fixtures of tests/emulator/conftest.py)."""

from tests.emulator.conftest import http_client, stripe_client

__all__ = ["http_client", "stripe_client"]
