"""get#PaymentGatewayDetails: the payment's state at Stripe, as a Mantle payment status.

The PaymentIntent is read with its latest charge and balance transaction and mapped by `gateway_payment_status`
(expired authorizations come back as PmntPromised). A PgoTxDetails PGR is written only when the status is unknown
or differs from the Payment's, as Mantle's other gateways do, so a nightly poll does not pile up rows.

One refinement of the mapping: a PaymentIntent we canceled through release#Payment reads PmntPromised, not
PmntVoid, because Mantle's release puts the Payment back to Promised (to be authorized again) and Promised -> Void
is not a transition Mantle allows.
"""

from __future__ import annotations

from typing import Final

import stripe

from service.context import ServiceContext
from service.payment_services.intent_link import current_intent_id, record_intent
from service.payment_services.outcome_records import (
    intent_link_for,
    previous_success,
    record_outcome,
    record_unreachable,
)
from service.payment_services.parameters import DetailsIn, DetailsOut
from service.payment_services.payment_lock import payment_lock
from service.payment_services.payment_subject import load_subject
from service.payment_services.stripe_reads import retrieve_intent
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.outcome import GatewayOutcome, gateway_payment_status, outcome_from_payment_intent

__all__ = ["payment_gateway_details"]

_TX_DETAILS: Final = GatewayOperation.DETAILS.payment_operation_enum_id


async def payment_gateway_details(parameters: DetailsIn, context: ServiceContext) -> DetailsOut:
    """Read the payment's PaymentIntent and answer Mantle's status for it (and its dates)."""
    entity = context.entity
    async with payment_lock(entity, parameters.paymentId) as connection:
        subject = await load_subject(
            entity, context.gateways, parameters.paymentId, parameters.paymentGatewayConfigId, connection=connection
        )
        intent_id = await current_intent_id(entity, subject.payment, connection=connection)
        if intent_id is None:
            outcome = GatewayOutcome(
                transaction_status="none",
                reason_message=f"Payment {subject.payment_id} has no Stripe PaymentIntent",
            )
            none_id = await record_outcome(entity, subject, _TX_DETAILS, outcome, connection=connection)
            return DetailsOut(paymentGatewayResponseId=none_id)
        try:
            intent = await retrieve_intent(subject, intent_id)
        except stripe.StripeError as error:
            error_id = await record_unreachable(entity, subject, _TX_DETAILS, error, connection=connection)
            return DetailsOut(paymentGatewayResponseId=error_id)
        status = gateway_payment_status(intent)
        gateway_status_id = status.status_id
        if intent.status == "canceled" and gateway_status_id == "PmntVoid":
            released = await previous_success(
                entity, subject, ("PgoRelease",), reference_num=intent.id, connection=connection
            )
            if released is not None:
                gateway_status_id = "PmntPromised"
        pgr_id: str | None = None
        if gateway_status_id is None or gateway_status_id != subject.status_id:
            outcome = outcome_from_payment_intent(intent, GatewayOperation.DETAILS)
            pgr_id = await record_outcome(entity, subject, _TX_DETAILS, outcome, intent=intent, connection=connection)
        else:
            link = intent_link_for(subject, intent.id, intent.status, intent.capture_method)
            await record_intent(entity, link, connection=connection)
    return DetailsOut(
        paymentGatewayResponseId=pgr_id,
        gatewayStatusId=gateway_status_id,
        effectiveDate=status.effective_date,
        settlementDate=status.settlement_date,
    )
