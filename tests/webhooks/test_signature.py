"""The Stripe-Signature check on its own: header forms Stripe sends and the ways a forgery shows."""

from __future__ import annotations

import pytest

from service.webhooks.signature import SignatureError, verify_signature
from stripe_emulator.webhooks import sign_payload

SECRET = "whsec_signaturetest"
BODY = '{"id": "evt_1", "object": "event"}'
NOW = 1_700_000_000


def _v1(timestamp: int, secret: str = SECRET, body: str = BODY) -> str:
    return sign_payload(body, secret, timestamp).split("v1=")[1]


def test_a_valid_signature_returns_its_timestamp() -> None:
    assert verify_signature(BODY.encode(), sign_payload(BODY, SECRET, NOW), SECRET, 300, now=NOW + 10) == NOW


def test_any_of_several_v1_signatures_and_other_schemes_are_accepted() -> None:
    header = f"t={NOW}, v0=abc, v1={_v1(NOW, 'whsec_old')}, v1={_v1(NOW)}"
    assert verify_signature(BODY.encode(), header, SECRET, 300, now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Stripe-Signature header"),
        ("", "no Stripe-Signature header"),
        (f"v1={_v1(NOW)}", "no timestamp"),
        (f"t=soon,v1={_v1(NOW)}", "malformed timestamp"),
        (f"t={NOW}", "no v1 signature"),
        (f"t={NOW},v1={_v1(NOW, 'whsec_other')}", "no v1 signature matches"),
        (f"t={NOW},v1={_v1(NOW, body=BODY + ' ')}", "no v1 signature matches"),
        (f"t={NOW + 1},v1={_v1(NOW)}", "no v1 signature matches"),
        (f"t={NOW - 301},v1={_v1(NOW - 301)}", "beyond the 300 s tolerance"),
        (f"t={NOW + 301},v1={_v1(NOW + 301)}", "beyond the 300 s tolerance"),
    ],
)
def test_forgeries_and_stale_deliveries_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as raised:
        verify_signature(BODY.encode(), header, SECRET, 300, now=NOW)
    assert reason in raised.value.reason
    assert SECRET not in raised.value.reason
