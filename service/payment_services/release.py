"""release#Payment: cancel the payment's PaymentIntent, which voids its authorization.

An already canceled PaymentIntent (released before, or expired) answers success again: the earlier release PGR when
there is one, else a new one. A captured payment cannot be released (refund it); that is a bad request.
"""

from __future__ import annotations

from typing import Final

import stripe

from moqui_bridge.entity.connection import Connection
from moqui_bridge.service import ServiceError
from service.context import ServiceContext
from service.payment_services.intent_link import current_intent_id
from service.payment_services.operation_journal import OperationScope
from service.payment_services.outcome_records import intent_or_answer, intent_status_recorder
from service.payment_services.parameters import GatewayResponseOut, ReleaseIn
from service.payment_services.payment_lock import payment_lock
from service.payment_services.payment_subject import PaymentSubject, load_subject
from service.payment_services.stripe_call import journaled_call
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import cancel_payment_intent
from service.stripe_gateway.outcome import outcome_from_payment_intent

__all__ = ["release_payment"]

_OPERATION: Final = GatewayOperation.RELEASE
_RELEASE: Final = _OPERATION.payment_operation_enum_id


async def release_payment(parameters: ReleaseIn, context: ServiceContext) -> GatewayResponseOut:
    """Release (void) the payment's authorization; answer with the PGR id."""
    entity = context.entity
    async with payment_lock(entity, parameters.paymentId) as connection:
        subject = await load_subject(
            entity, context.gateways, parameters.paymentId, parameters.paymentGatewayConfigId, connection=connection
        )
        intent_id = await current_intent_id(entity, subject.payment, connection=connection)
        if intent_id is None:
            raise ServiceError(f"Payment {subject.payment_id} has no Stripe authorization to release")
        found = await intent_or_answer(
            entity,
            subject,
            intent_id,
            _OPERATION,
            done_status="canceled",
            answered_by=(_RELEASE,),
            connection=connection,
        )
        if isinstance(found, str):
            return GatewayResponseOut(paymentGatewayResponseId=found)
        intent = found
        if intent.status == "succeeded":
            raise ServiceError(
                f"Payment {subject.payment_id} has been captured (PaymentIntent {intent.id} succeeded) and cannot "
                "be released; refund it instead"
            )
        if intent.status == "processing":
            raise ServiceError(
                f"Payment {subject.payment_id} cannot be released while Stripe is processing it (PaymentIntent "
                f"{intent.id})"
            )
        pgr_id = await _cancel(context, connection, subject, intent)
    return GatewayResponseOut(paymentGatewayResponseId=pgr_id)


async def _cancel(
    context: ServiceContext, connection: Connection, subject: PaymentSubject, intent: stripe.PaymentIntent
) -> str:
    record = intent_status_recorder(context.entity, subject, intent.id)
    return await journaled_call(
        context.entity,
        subject,
        OperationScope(subject.payment_id, subject.payment_gateway_config_id, _OPERATION, intent.id),
        payment_operation_enum_id=_RELEASE,
        amount=subject.amount,
        client_request_key=context.client_request_key,
        # No cancellation_reason: a release is Mantle's decision, and Stripe's reasons would claim more than we know.
        send=lambda entry: cancel_payment_intent(subject.gateway, intent.id, idempotency_key=entry.idempotency_key),
        interpret=lambda canceled: outcome_from_payment_intent(canceled, _OPERATION),
        record=record,
        connection=connection,
    )
