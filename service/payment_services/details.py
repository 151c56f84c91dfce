"""details: a PaymentIntent's state at Stripe as a Mantle payment status, with when it was captured and settled.

A read: nothing is journaled and no lease is taken. The PaymentIntent is read with its latest charge and balance
transaction and mapped by `gateway_payment_status` (an expired authorization reads PmntPromised). A PaymentIntent
this client released through the gateway API reads PmntPromised, not PmntVoid: Mantle's release puts the Payment
back to Promised (to be authorized again), and Promised -> Void is not a transition Mantle allows. A read that
cannot reach Stripe answers a resultError PGR.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import stripe

from moqui_bridge.service import ServiceError
from service.context import ServiceContext
from service.payment_services.answer import gateway_answer, gateway_response
from service.payment_services.attempt import unreachable_outcome
from service.payment_services.gateway_call import GatewayCall, checked_id, gateway_call
from service.payment_services.intent_link import PAYMENT_INTENT_LINK, required_link
from service.payment_services.journal import GATEWAY_OPERATION
from service.payment_services.parameters import DetailsIn, DetailsOut
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import SETTLEMENT_EXPAND, read_payment_intent
from service.stripe_gateway.outcome import StripeRequestRejected, gateway_payment_status, outcome_from_payment_intent

__all__ = ["DetailsRequest", "payment_gateway_details"]

_DETAILS = GatewayOperation.DETAILS


@dataclass(frozen=True)
class DetailsRequest:
    """One details request, checked."""

    call: GatewayCall
    payment_intent_id: str

    @classmethod
    def of(cls, parameters: DetailsIn, context: ServiceContext) -> DetailsRequest:
        """The request from the gateway API's parameters; a ServiceError (400) for anything unusable."""
        return cls(
            call=gateway_call(context, parameters.paymentGatewayConfigId, parameters.paymentId),
            payment_intent_id=str(checked_id("paymentIntentId", parameters.paymentIntentId, prefix="pi_")),
        )


async def payment_gateway_details(request: DetailsRequest) -> DetailsOut:
    """Read the PaymentIntent and answer Mantle's status for it (and its dates)."""
    call = request.call
    entity = call.entity
    link = await required_link(
        entity, call.client_name, call.payment_gateway_config_id, call.payment_id, request.payment_intent_id
    )
    try:
        async with _deadline(call):
            intent = await read_payment_intent(call.gateway, request.payment_intent_id, expand=SETTLEMENT_EXPAND)
    except StripeRequestRejected as rejected:
        raise ServiceError(
            f"Stripe does not know PaymentIntent {request.payment_intent_id}: {rejected.message}"
        ) from None
    except (stripe.StripeError, TimeoutError) as error:
        response = gateway_response(
            call, _DETAILS.payment_operation_enum_id, unreachable_outcome(error), requested_amount=None, currency=None
        )
        return DetailsOut.of(gateway_answer(response, payment_intent_id=request.payment_intent_id, attempt_num=None))
    status = gateway_payment_status(intent.values)
    gateway_status_id = status.status_id
    intent_status = intent.value("status")
    if intent_status == "canceled" and gateway_status_id == "PmntVoid" and await _released_here(request):
        gateway_status_id = "PmntPromised"
    if link["intentStatus"] != intent_status:
        await entity.update(PAYMENT_INTENT_LINK, {"paymentIntentId": intent.id}, {"intentStatus": intent_status})
    response = gateway_response(
        call,
        _DETAILS.payment_operation_enum_id,
        outcome_from_payment_intent(intent.values, _DETAILS),
        requested_amount=None,
        currency=None,
    )
    return DetailsOut.of(
        gateway_answer(
            response,
            payment_intent_id=intent.id,
            attempt_num=None,
            gatewayStatusId=gateway_status_id,
            effectiveDate=status.effective_date,
            settlementDate=status.settlement_date,
        )
    )


def _deadline(call: GatewayCall) -> asyncio.Timeout:
    return asyncio.timeout(call.deadline.for_stripe())


async def _released_here(request: DetailsRequest) -> bool:
    """Whether this client sent a release of the PaymentIntent: finished, or in doubt (its answer was lost) — a
    refused release leaves no row. A canceled PaymentIntent we released is Promised again, whichever we learn first."""
    call = request.call
    released = await call.entity.find(
        GATEWAY_OPERATION,
        {
            "clientName": call.client_name,
            "paymentId": call.payment_id,
            "operationName": GatewayOperation.RELEASE.value,
            "paymentIntentId": request.payment_intent_id,
        },
        limit=1,
    )
    return bool(released)
