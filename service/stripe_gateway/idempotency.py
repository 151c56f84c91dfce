"""Stripe idempotency keys: `moqui-stripe/v1/<installationId>/<operationId>` (docs/gateway-api.md).

- `operationId` is the journal row's own id (stripe.StripeGatewayOperation): a replay of an attempt (same row)
  sends the same key, so Stripe answers with what it did the first time; a new attempt (new row) gets a new key.
  The journal decides which is which from the caller's attempt identity, so nothing about a payment is in the key.
- `installationId` is random and made once per service database (stripe.StripeInstallation): two databases on one
  Stripe account (a staging copy must be re-keyed) can never send the same key for different requests.
- `v1` is the key scheme's version, bumped if the layout ever changes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "KEY_PREFIX",
    "MAX_KEY_LENGTH",
    "GatewayOperation",
    "IdempotencyKeyError",
    "idempotency_key",
]

KEY_PREFIX: Final = "moqui-stripe/v1"
# Stripe's limit on the Idempotency-Key header.
MAX_KEY_LENGTH: Final = 255
_KEY_PART_CHARACTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class GatewayOperation(StrEnum):
    """The gateway operations, by the names the gateway API, the journal and logs use."""

    AUTHORIZE = "authorize"
    AUTHORIZE_AND_CAPTURE = "authorizeAndCapture"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    DETAILS = "details"
    # The checkout page's PaymentIntent create: journaled like the others, confirmed later in the shopper's browser.
    CHECKOUT = "checkout"

    @property
    def payment_operation_enum_id(self) -> str:
        """Mantle's PaymentGatewayResponse.paymentOperationEnumId for this operation."""
        return _PAYMENT_OPERATION_ENUM_IDS[self]


_PAYMENT_OPERATION_ENUM_IDS = {
    GatewayOperation.AUTHORIZE: "PgoAuthorize",
    GatewayOperation.AUTHORIZE_AND_CAPTURE: "PgoAuthAndCapture",
    GatewayOperation.CAPTURE: "PgoCapture",
    GatewayOperation.RELEASE: "PgoRelease",
    GatewayOperation.REFUND: "PgoRefund",
    GatewayOperation.DETAILS: "PgoTxDetails",
    GatewayOperation.CHECKOUT: "PgoAuthorize",
}


class IdempotencyKeyError(ValueError):
    """The parts given cannot make a valid key."""


def _part(name: str, value: str) -> str:
    if not value or not set(value) <= _KEY_PART_CHARACTERS:
        raise IdempotencyKeyError(f"{name} must be a non-empty string of letters, digits, '-' and '_'")
    return value


def idempotency_key(installation_id: str, operation_id: str) -> str:
    """The Idempotency-Key of the journal row `operation_id` in the installation `installation_id`."""
    key = f"{KEY_PREFIX}/{_part('installationId', installation_id)}/{_part('operationId', operation_id)}"
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyError(f"idempotency key would be {len(key)} characters, Stripe allows {MAX_KEY_LENGTH}")
    return key
