"""Checking Stripe's `Stripe-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

Our own check rather than `stripe.Webhook.construct_event`: we need the reason of a failure for the audit row, and
the body must stay raw bytes (the signed text) until it is verified. Several `v1` values are allowed (Stripe sends
one per active secret while a secret is being rolled); any one matching is enough. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "MALFORMED_SIGNATURE",
    "NO_SIGNATURE",
    "SIGNATURE_HEADER",
    "SIGNATURE_MISMATCH",
    "STALE_SIGNATURE",
    "SignatureError",
    "verify_signature",
]

SIGNATURE_HEADER = "Stripe-Signature"
_SCHEME = "v1"
# Why a signature was refused, as the rejection counters (stripe.StripeWebhookRejection) name it.
NO_SIGNATURE = "SwrNoSignature"
MALFORMED_SIGNATURE = "SwrMalformedSignature"
SIGNATURE_MISMATCH = "SwrSignatureMismatch"
STALE_SIGNATURE = "SwrStaleSignature"


class SignatureError(Exception):
    """The request is not a genuine, fresh Stripe delivery; `reason` is safe to log and store (no secret in it),
    `reason_id` the kind of failure (one of the constants above)."""

    def __init__(self, reason: str, reason_id: str = MALFORMED_SIGNATURE) -> None:
        self.reason = reason
        self.reason_id = reason_id
        super().__init__(reason)


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("the signature header has a malformed timestamp") from None
        elif key == _SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError("the signature header has no timestamp")
    if not signatures:
        raise SignatureError("the signature header has no v1 signature")
    return timestamp, signatures


def verify_signature(
    payload: bytes, header: str | None, secret: str, tolerance_seconds: int, *, now: float | None = None
) -> int:
    """Check `header` against the raw `payload` and `secret`; return the signed timestamp.

    Raises SignatureError when the header is missing or malformed, no v1 signature matches, or the timestamp is
    further than `tolerance_seconds` from now (a replayed old delivery, or a clock far off).
    """
    if not header:
        raise SignatureError(f"no {SIGNATURE_HEADER} header", NO_SIGNATURE)
    timestamp, signatures = _parse(header)
    signed = str(timestamp).encode("ascii") + b"." + payload
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    # Check every candidate (no early exit) so timing says nothing about which one matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii", "replace"))
    if not matched:
        reason = "no v1 signature matches the payload and this gateway's webhook secret"
        raise SignatureError(reason, SIGNATURE_MISMATCH)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"the signature timestamp is {int(current - timestamp)} s from now, beyond the {tolerance_seconds} s "
            "tolerance",
            STALE_SIGNATURE,
        )
    return timestamp
