"""Idempotency keys for Stripe, derived from our own ids and never random.

A key is `moqui-stripe/<paymentGatewayConfigId>/<paymentId>/<operation>[/<paymentIntentId>]/<attempt>`.

Why every part is there:

- Derived, not random: the SDK would put a fresh UUID on each POST, which only protects its own retries inside one
  call. A repeated Moqui call, or our retry after a crash or a timeout, must reach Stripe with the *same* key so that
  Stripe replays its first answer (for 24 hours at least) instead of charging, capturing or refunding twice.
- The operation (Mantle's: authorize, authorizeAndCapture, capture, release, refund; and authorizeAndCapture-capture,
  the capture authorizeAndCapture makes of a PaymentIntent already authorized) keeps different calls on one payment
  apart.
- The PaymentIntent id, for calls on an existing PaymentIntent (capture, release, refund): a payment re-authorized
  after its authorization expired gets a new PaymentIntent, and Stripe refuses a key reused on another request.
- The attempt number makes a *new* operation distinguishable from a *repeated* one. A new authorize after a decline
  needs a new key (the same key would replay the decline); two equal partial refunds are two refunds and need two
  keys, since the amount cannot tell them apart. A retry of an attempt whose outcome is unknown (timeout, 5xx,
  crash) must reuse its number. The payment services count attempts in their journal: the number is how many
  definitive attempts of that operation came before, so the first is 0.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote

__all__ = [
    "KEY_PREFIX",
    "MAX_KEY_LENGTH",
    "GatewayOperation",
    "IdempotencyKeyError",
    "idempotency_key",
    "key_operation",
    "key_segment",
]

KEY_PREFIX = "moqui-stripe"
# Stripe's limit on the Idempotency-Key header.
MAX_KEY_LENGTH = 255


class GatewayOperation(StrEnum):
    """The Mantle gateway operations, by the names used in keys and logs."""

    AUTHORIZE = "authorize"
    AUTHORIZE_AND_CAPTURE = "authorizeAndCapture"
    # authorizeAndCapture's capture of a PaymentIntent already authorized: another Stripe endpoint than its confirm,
    # so it has its own keys and attempts (a key replayed on the wrong endpoint would be refused or, worse, answered).
    AUTHORIZE_AND_CAPTURE_CAPTURE = "authorizeAndCapture-capture"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    DETAILS = "details"

    @property
    def payment_operation_enum_id(self) -> str:
        """Mantle's PaymentGatewayResponse.paymentOperationEnumId for this operation."""
        return _PAYMENT_OPERATION_ENUM_IDS[self]

    @property
    def mutates(self) -> bool:
        """Whether the operation changes anything at Stripe (and so needs an idempotency key)."""
        return self is not GatewayOperation.DETAILS


_PAYMENT_OPERATION_ENUM_IDS = {
    GatewayOperation.AUTHORIZE: "PgoAuthorize",
    GatewayOperation.AUTHORIZE_AND_CAPTURE: "PgoAuthAndCapture",
    GatewayOperation.AUTHORIZE_AND_CAPTURE_CAPTURE: "PgoAuthAndCapture",
    GatewayOperation.CAPTURE: "PgoCapture",
    GatewayOperation.RELEASE: "PgoRelease",
    GatewayOperation.REFUND: "PgoRefund",
    GatewayOperation.DETAILS: "PgoTxDetails",
}


class IdempotencyKeyError(ValueError):
    """The parts given cannot make a valid key (empty id, negative attempt, read-only operation, too long)."""


def key_segment(name: str, value: str) -> str:
    """`value` (an id named `name` in the error) as one part of a key; IdempotencyKeyError when it is empty."""
    if not isinstance(value, str) or not value:
        raise IdempotencyKeyError(f"{name} must be a non-empty string")
    # Percent-encoding keeps every id usable while '/' stays a separator only: distinct ids give distinct keys.
    return quote(value, safe="")


def idempotency_key(
    payment_gateway_config_id: str,
    payment_id: str,
    operation: GatewayOperation,
    attempt: int,
    *,
    payment_intent_id: str | None = None,
) -> str:
    """The Idempotency-Key for one attempt of one operation on one payment.

    Pass `payment_intent_id` for operations on an existing PaymentIntent (capture, release, refund). The same
    arguments always give the same key; keys contain only letters, digits and `-._~%/`, at most 255 characters.
    """
    operation = GatewayOperation(operation)
    if not operation.mutates:
        raise IdempotencyKeyError(f"{operation} does not change anything at Stripe and takes no idempotency key")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise IdempotencyKeyError("attempt must be an int >= 0")
    parts = [
        KEY_PREFIX,
        key_segment("paymentGatewayConfigId", payment_gateway_config_id),
        key_segment("paymentId", payment_id),
        operation.value,
    ]
    if payment_intent_id is not None:
        parts.append(key_segment("paymentIntentId", payment_intent_id))
    parts.append(str(attempt))
    key = "/".join(parts)
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyError(f"idempotency key would be {len(key)} characters, Stripe allows {MAX_KEY_LENGTH}")
    return key


def key_operation(key: str) -> str | None:
    """The operation part of a key `idempotency_key` made (None for any other string).

    Ids are percent-encoded in keys, so the operation is always the fourth `/`-separated part.
    """
    parts = key.split("/")
    return parts[3] if len(parts) >= 5 and parts[0] == KEY_PREFIX else None
