"""refund: all or part of what a PaymentIntent captured, in one Stripe call; several partial refunds.

Two equal partial refunds are two attempts (the caller counts its definitive refund PGRs), so a repeat is told from
a new refund by the attempt identity, never by the amount. Not read first: without an amount Stripe refunds all that
is left, as it counts it (captured minus refunded, `amount_captured - amount_refunded` since 2025-03-31.basil, so
a partial capture's released rest is never refundable); more than is left is refused by Stripe, answered as a 400.
"""

from __future__ import annotations

from service.payment_services.attempt import run_planned_write
from service.payment_services.gateway_call import IntentAmountRequest
from service.payment_services.parameters import GatewayAnswerOut
from service.payment_services.stripe_writes import REFUND
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = ["RefundRequest", "refund_payment"]


class RefundRequest(IntentAmountRequest):
    """One refund request, checked; `amount` None refunds all that is left."""

    operation = GatewayOperation.REFUND


async def refund_payment(request: RefundRequest) -> GatewayAnswerOut:
    """Refund once per attempt; the answer."""
    return GatewayAnswerOut.of(await run_planned_write(request.call, request.journaled(), REFUND))
