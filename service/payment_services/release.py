"""release: cancel a PaymentIntent's authorization, in one Stripe call.

Not read first: Stripe refuses to cancel a captured (or processing) PaymentIntent, which is answered as a 400 with
Stripe's message; canceling one already canceled is refused the same way, unless this attempt made it (then the
journal replays its answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.context import ServiceContext
from service.payment_services.attempt import run_planned_write
from service.payment_services.gateway_call import GatewayCall, checked_attempt, checked_id, gateway_call
from service.payment_services.journal import JournaledRequest
from service.payment_services.parameters import GatewayAnswerOut, ReleaseIn
from service.payment_services.stripe_writes import CANCEL
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = ["ReleaseRequest", "release_payment"]


@dataclass(frozen=True)
class ReleaseRequest:
    """One release request, checked."""

    call: GatewayCall
    attempt_num: int
    payment_intent_id: str

    @classmethod
    def of(cls, parameters: ReleaseIn, context: ServiceContext) -> ReleaseRequest:
        """The request from the gateway API's parameters; a ServiceError (400) for anything unusable."""
        return cls(
            call=gateway_call(context, parameters.paymentGatewayConfigId, parameters.paymentId),
            attempt_num=checked_attempt(parameters.attemptNum),
            payment_intent_id=str(checked_id("paymentIntentId", parameters.paymentIntentId, prefix="pi_")),
        )

    def journaled(self) -> JournaledRequest:
        """The attempt as the journal keeps it."""
        return JournaledRequest(
            self.call.identity(GatewayOperation.RELEASE, self.attempt_num), payment_intent_id=self.payment_intent_id
        )


async def release_payment(request: ReleaseRequest) -> GatewayAnswerOut:
    """Release once per attempt; the answer."""
    return GatewayAnswerOut.of(await run_planned_write(request.call, request.journaled(), CANCEL))
