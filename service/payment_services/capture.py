"""capture#Payment: capture all or part of the payment's authorization, never more than Stripe holds.

`amount` defaults to the payment's amount; a partial capture releases the rest (Stripe allows one capture per
PaymentIntent). A PaymentIntent already captured answers with the PGR that recorded the capture (a repeated call),
or with a new success PGR when it was captured elsewhere; nothing is captured twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import stripe

from moqui_bridge.entity.connection import Connection
from moqui_bridge.service import ServiceError
from service.context import ServiceContext
from service.money import from_minor_units
from service.payment_services.intent_link import current_intent_id
from service.payment_services.operation_journal import OperationScope
from service.payment_services.outcome_records import intent_or_answer, intent_status_recorder
from service.payment_services.parameters import CaptureIn, GatewayResponseOut
from service.payment_services.payment_lock import payment_lock
from service.payment_services.payment_subject import PaymentSubject, load_subject
from service.payment_services.stripe_call import journaled_call
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import capture_payment_intent
from service.stripe_gateway.outcome import outcome_from_payment_intent

__all__ = ["capture_payment"]

_OPERATION: Final = GatewayOperation.CAPTURE
_NEVER_CAPTURED: Final = frozenset({"PmntCancelled", "PmntVoid"})


async def capture_payment(parameters: CaptureIn, context: ServiceContext) -> GatewayResponseOut:
    """Capture `amount` (default: the payment's amount) of the payment's authorization; answer with the PGR id."""
    entity = context.entity
    async with payment_lock(entity, parameters.paymentId) as connection:
        subject = await load_subject(
            entity, context.gateways, parameters.paymentId, parameters.paymentGatewayConfigId, connection=connection
        )
        if subject.status_id in _NEVER_CAPTURED:
            raise ServiceError(f"Payment {subject.payment_id} is {subject.status_id} and cannot be captured")
        amount = parameters.amount if parameters.amount is not None else subject.amount
        if amount <= 0:
            raise ServiceError(f"The capture amount must be greater than zero, got {amount}")
        amount_minor = subject.minor_units(amount, "capture amount")
        intent_id = await current_intent_id(entity, subject.payment, connection=connection)
        if intent_id is None:
            raise ServiceError(
                f"Payment {subject.payment_id} has no Stripe authorization to capture; authorize it first"
            )
        found = await intent_or_answer(
            entity,
            subject,
            intent_id,
            _OPERATION,
            done_status="succeeded",
            answered_by=("PgoCapture", "PgoAuthAndCapture"),
            connection=connection,
        )
        if isinstance(found, str):
            return GatewayResponseOut(paymentGatewayResponseId=found)
        intent = found
        if intent.status == "canceled":
            why = "expired" if intent.cancellation_reason in ("automatic", "expired") else "was released"
            raise ServiceError(
                f"The authorization of payment {subject.payment_id} (PaymentIntent {intent.id}) {why}; "
                "it cannot be captured, authorize the payment again"
            )
        if intent.status != "requires_capture":
            raise ServiceError(
                f"Payment {subject.payment_id} is not authorized at Stripe (PaymentIntent {intent.id} is "
                f"{intent.status}); nothing to capture"
            )
        if amount_minor > intent.amount_capturable:
            capturable = from_minor_units(intent.amount_capturable, intent.currency)
            raise ServiceError(
                f"Cannot capture {amount} {subject.currency} of payment {subject.payment_id}: only {capturable} "
                f"{subject.currency} is authorized"
            )
        pgr_id = await _capture(context, connection, subject, intent, amount)
    return GatewayResponseOut(paymentGatewayResponseId=pgr_id)


async def _capture(
    context: ServiceContext,
    connection: Connection,
    subject: PaymentSubject,
    intent: stripe.PaymentIntent,
    amount: Decimal,
) -> str:
    record = intent_status_recorder(context.entity, subject, intent.id)
    return await journaled_call(
        context.entity,
        subject,
        OperationScope(subject.payment_id, subject.payment_gateway_config_id, _OPERATION, intent.id),
        payment_operation_enum_id=_OPERATION.payment_operation_enum_id,
        amount=amount,
        client_request_key=context.client_request_key,
        # Always name the amount (the journaled one on a replay), so a replay sends exactly the keyed request.
        send=lambda entry: capture_payment_intent(
            subject.gateway,
            intent.id,
            amount=entry.amount,
            currency=subject.currency,
            idempotency_key=entry.idempotency_key,
        ),
        interpret=lambda captured: outcome_from_payment_intent(captured, _OPERATION),
        record=record,
        connection=connection,
    )
