"""capture: all or part of a PaymentIntent's authorization, in one Stripe call.

The PaymentIntent is not read first: the journal knows it is this client's payment's, and Stripe refuses a capture
that cannot be made (released, expired, already captured, more than authorized), which is answered as a 400 with
Stripe's message and frees the attempt. A partial capture releases the rest (one capture per PaymentIntent).
"""

from __future__ import annotations

from service.payment_services.attempt import run_planned_write
from service.payment_services.gateway_call import IntentAmountRequest
from service.payment_services.parameters import GatewayAnswerOut
from service.payment_services.stripe_writes import CAPTURE
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = ["CaptureRequest", "capture_payment"]


class CaptureRequest(IntentAmountRequest):
    """One capture request, checked; `amount` None captures all that is authorized."""

    operation = GatewayOperation.CAPTURE


async def capture_payment(request: CaptureRequest) -> GatewayAnswerOut:
    """Capture once per attempt; the answer."""
    return GatewayAnswerOut.of(await run_planned_write(request.call, request.journaled(), CAPTURE))
