"""`MantleSide`: what flows that start here (checkout, webhooks) ask "Moqui" to do, and the small results they get.

Two implementations: `local_side.LocalMantleSide` runs the ported Mantle rules in this process (standalone);
`remote_moqui.RemoteMantleSide` asks a real Moqui over its REST API (shared database), so Moqui's own rules,
SECAs and audit log run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class PaymentAuthorization:
    """authorize#SinglePayment's answer: the gateway's verdict and the Payment's status afterwards."""

    payment_id: str
    status_id: str | None
    payment_gateway_response_id: str | None
    succeeded: bool
    declined: bool
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlacedOrder:
    """place#Order's answer. ``auth_failed``/``total_authorized`` are None when no authorization was attempted
    (order already placed, no product store, or not reported by a remote Moqui)."""

    order_id: str
    status_id: str | None
    status_changed: bool | None
    auth_failed: bool | None = None
    total_authorized: Decimal | None = None
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaymentRefresh:
    """get#SinglePaymentGatewayDetails' answer. ``refreshed`` is False when the refresh is left to Moqui's own job."""

    payment_id: str
    status_id: str | None
    payment_gateway_response_id: str | None
    refreshed: bool
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class GatewayRefundRecord:
    """A refund made outside Mantle, as recorded: ``recorded`` is False when it is left to Moqui; ``created`` is
    False when the same refund had been recorded before."""

    payment_id: str
    refund_payment_id: str | None
    recorded: bool
    created: bool
    messages: tuple[str, ...] = ()


class MantleSide(Protocol):
    """The Mantle operations checkout and webhooks need, whichever side runs them."""

    async def authorize_payment(self, payment_id: str) -> PaymentAuthorization:
        """Run authorize#SinglePayment for a Payment (the gateway finds an already-confirmed PaymentIntent)."""
        ...

    async def add_order_part_payment(
        self,
        order_id: str,
        order_part_seq_id: str,
        amount: Decimal | None,
        payment_method_id: str | None,
        payment_gateway_config_id: str | None,
    ) -> str:
        """Run add#OrderPartPayment and return the new Payment's id (amount None: what the part still owes)."""
        ...

    async def place_order(self, order_id: str) -> PlacedOrder:
        """Run place#Order (which authorizes the order's payments when it has a product store)."""
        ...

    async def refresh_payment_status(self, payment_id: str) -> PaymentRefresh:
        """Bring the Payment's status up to date from the gateway (get#SinglePaymentGatewayDetails)."""
        ...

    async def record_gateway_refund(
        self, payment_id: str, amount: Decimal, payment_gateway_response_id: str
    ) -> GatewayRefundRecord:
        """Record a refund made outside Mantle (e.g. in the gateway's dashboard) whose PGR is already written."""
        ...
