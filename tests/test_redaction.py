"""Secrets are removed from text before it reaches a log, an error message or a caller."""

from __future__ import annotations

import pytest

from moqui_bridge.database.pool import redact_dsn
from moqui_bridge.redaction import redact_secrets


@pytest.mark.parametrize(
    ("dsn", "secret"),
    [
        ("postgresql://moqui:hunter2@db:5432/moqui", "hunter2"),
        ("postgresql://moqui@db/moqui?password=hunter2&sslmode=require", "hunter2"),
        ("host=db user=moqui password=hunter2 dbname=moqui", "hunter2"),
        ("host=db password = 'hunter 2' dbname=moqui", "hunter 2"),
    ],
)
def test_database_passwords_are_removed_in_every_dsn_form(dsn: str, secret: str) -> None:
    redacted = redact_dsn(dsn)
    assert secret not in redacted
    assert "[redacted]" in redacted and "db" in redacted  # the host stays: it is what the operator needs


@pytest.mark.parametrize(
    ("text", "secret", "marker"),
    [
        ("key sk_test_51Habc123XYZ rejected", "sk_test_51Habc123XYZ", "[api key]"),
        ("restricted rk_live_abcDEF0123 used", "rk_live_abcDEF0123", "[api key]"),
        ("secret whsec_abc123 wrong", "whsec_abc123", "[webhook secret]"),
        ("intent pi_3Mtw_secret_Yk2s9 leaked", "pi_3Mtw_secret_Yk2s9", "[client secret]"),
        ("Authorization: Bearer abc.def-123", "abc.def-123", "Bearer [redacted]"),
    ],
)
def test_stripe_and_header_secrets_are_removed(text: str, secret: str, marker: str) -> None:
    redacted = redact_secrets(text)
    assert secret not in redacted and marker in redacted


def test_text_without_secrets_is_unchanged() -> None:
    text = "Payment 100000 must be in the authorized status to release, but is PmntPromised"
    assert redact_secrets(text) == text
