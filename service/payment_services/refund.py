"""refund#Payment: refund all or part of what was captured; several partial refunds, never more than is left.

Two equal partial refunds are two refunds, so a repeated call cannot be told from a new one by its parameters;
it is told by state. Mantle records every successful refund as a refund Payment (`refundForPaymentId` = this payment)
in the same transaction that called us. A refund we made whose Mantle refund Payment does not exist (Moqui rolled
back after our answer, or the process died before recording it) is therefore the same request repeated: it is
answered with its PGR and nothing is refunded again. An integrator's Idempotency-Key header, when sent, decides
instead: the same key is the same refund, a new key a new one.

A refund whose answer was lost (its journal row still `SgoStarted` or `SgoInDoubt`) may already be counted in the
charge's refunded amount, so the next refund call finishes it before any check of what is left: the row's key is
replayed with the row's own amount, the refund is recorded (PGR and stripe.StripeRefund row) and its PGR answers
the call, whatever amount the call asked for. Only a call that finds no unfinished refund is checked as a new one.

The amount left is Stripe's (captured minus refunded, from the charge), so refunds made in Stripe's dashboard count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from moqui_bridge.service import ServiceError
from service.context import ServiceContext
from service.money import from_minor_units
from service.payment_services.intent_link import current_intent_id
from service.payment_services.operation_journal import (
    GATEWAY_OPERATION,
    SGO_COMPLETED,
    OperationScope,
    ScopeAttempts,
    read_attempts,
)
from service.payment_services.outcome_records import record_unreachable
from service.payment_services.parameters import GatewayResponseOut, RefundIn
from service.payment_services.payment_lock import payment_lock
from service.payment_services.payment_subject import PAYMENT, PaymentSubject, load_subject
from service.payment_services.stripe_call import CallRecord, journaled_call
from service.payment_services.stripe_reads import retrieve_intent
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import DEFAULT_EXPAND, create_refund
from service.stripe_gateway.outcome import outcome_from_refund

__all__ = ["STRIPE_REFUND", "refund_payment"]

STRIPE_REFUND: Final = "stripe.StripeRefund"
_OPERATION: Final = GatewayOperation.REFUND
_REFUND: Final = _OPERATION.payment_operation_enum_id
# Refund Payments Mantle has recorded as done (a refund Payment waiting for its refund is still Promised).
_RECORDED_STATUSES: Final = ("PmntDelivered", "PmntConfirmed")
# Our refunds that moved (or will move) money; failed and canceled ones refunded nothing.
_LIVE_REFUND_STATUSES: Final = ("succeeded", "pending", "requires_action")
_SERVICE_ORIGIN: Final = "SroService"


async def refund_payment(parameters: RefundIn, context: ServiceContext) -> GatewayResponseOut:
    """Refund `amount` (default: all that is left) of the payment's captured money; answer with the PGR id."""
    entity = context.entity
    async with payment_lock(entity, parameters.paymentId) as connection:
        subject = await load_subject(
            entity, context.gateways, parameters.paymentId, parameters.paymentGatewayConfigId, connection=connection
        )
        if parameters.amount is not None:
            if parameters.amount <= 0:
                raise ServiceError(f"The refund amount must be greater than zero, got {parameters.amount}")
            subject.minor_units(parameters.amount, "refund amount")
        repeated = await _repeated_refund(entity, subject, parameters.amount, context.client_request_key, connection)
        if repeated is not None:
            return GatewayResponseOut(paymentGatewayResponseId=repeated)
        intent_id = await current_intent_id(entity, subject.payment, connection=connection)
        if intent_id is None:
            raise ServiceError(f"Payment {subject.payment_id} has no Stripe payment to refund")
        try:
            intent = await retrieve_intent(subject, intent_id, expand=DEFAULT_EXPAND)
        except stripe.StripeError as error:
            pgr_id = await record_unreachable(entity, subject, _REFUND, error, connection=connection)
            return GatewayResponseOut(paymentGatewayResponseId=pgr_id)
        if intent.status != "succeeded":
            raise ServiceError(
                f"Payment {subject.payment_id} has not been captured (PaymentIntent {intent.id} is {intent.status}); "
                "nothing to refund, release it instead"
            )
        charge = intent.latest_charge
        if not isinstance(charge, stripe.Charge):
            raise ServiceError(f"Stripe did not return the charge of PaymentIntent {intent.id}")
        scope = OperationScope(subject.payment_id, subject.payment_gateway_config_id, _OPERATION, intent.id)
        attempts = await read_attempts(entity, scope, connection=connection)
        unfinished = attempts.unfinished()
        if unfinished is not None:
            # A refund whose answer we never recorded may already be in the charge's amount_refunded, so the checks
            # below would refuse this call before it could find out. Finish that refund first, as it was asked
            # (its journaled amount, its key), and answer with what it came to: the caller's repeat of it.
            pgr_id = await _refund(context, connection, subject, intent, charge.id, unfinished.amount, attempts)
            return GatewayResponseOut(paymentGatewayResponseId=pgr_id)
        # Since 2025-03-31.basil a partial capture's released rest is no refund: captured minus refunded is left.
        left_minor = charge.amount_captured - charge.amount_refunded
        left = from_minor_units(left_minor, charge.currency)
        amount = parameters.amount if parameters.amount is not None else left
        if left_minor <= 0:
            raise ServiceError(f"Payment {subject.payment_id} has been refunded in full; nothing is left to refund")
        amount_minor = subject.minor_units(amount, "refund amount")
        if amount_minor > left_minor:
            raise ServiceError(
                f"Cannot refund {amount} {subject.currency} of payment {subject.payment_id}: only {left} "
                f"{subject.currency} of what was captured is left to refund"
            )
        pgr_id = await _refund(context, connection, subject, intent, charge.id, amount, attempts)
    return GatewayResponseOut(paymentGatewayResponseId=pgr_id)


async def _repeated_refund(
    entity: EntityFacade,
    subject: PaymentSubject,
    amount: Decimal | None,
    client_request_key: str | None,
    connection: Connection,
) -> str | None:
    """The PGR of an earlier refund this request repeats, if it repeats one (see the module docstring)."""
    if client_request_key:
        done = await entity.find(
            GATEWAY_OPERATION,
            {
                "paymentId": subject.payment_id,
                "paymentOperationEnumId": _REFUND,
                "clientRequestKey": client_request_key,
                "operationStatusId": SGO_COMPLETED,
            },
            order_by=["-completedDate"],
            limit=1,
            connection=connection,
        )
        return str(done[0]["paymentGatewayResponseId"]) if done and done[0]["paymentGatewayResponseId"] else None
    ours = await entity.find(
        STRIPE_REFUND,
        {"paymentId": subject.payment_id, "originEnumId": _SERVICE_ORIGIN, "refundStatus": list(_LIVE_REFUND_STATUSES)},
        order_by=["createdDate"],
        connection=connection,
    )
    if not ours:
        return None
    recorded = await entity.find(
        PAYMENT,
        {"refundForPaymentId": subject.payment_id, "statusId": list(_RECORDED_STATUSES)},
        connection=connection,
    )
    known_ids = {
        str(row["refundId"])
        for row in await entity.find(STRIPE_REFUND, {"paymentId": subject.payment_id}, connection=connection)
    }
    by_reference = {row.get("paymentRefNum") for row in recorded}
    unrecorded = [row for row in ours if row["refundId"] not in by_reference]
    # Mantle does not always name the refund on its refund Payment: those without one pair with our oldest refunds.
    unnamed = sum(1 for row in recorded if row.get("paymentRefNum") not in known_ids)
    unrecorded = unrecorded[unnamed:]
    for row in reversed(unrecorded):
        if (amount is None or row["amount"] == amount) and row["paymentGatewayResponseId"]:
            return str(row["paymentGatewayResponseId"])
    return None


async def _refund(
    context: ServiceContext,
    connection: Connection,
    subject: PaymentSubject,
    intent: stripe.PaymentIntent,
    charge_id: str,
    amount: Decimal | None,
    attempts: ScopeAttempts,
) -> str:
    """Refund `amount` (the journaled amount when `attempts` holds an unfinished refund); the PGR's id."""

    async def record(done: CallRecord[stripe.Refund]) -> None:
        refund, connection = done.answer, done.connection
        if refund is None:
            return
        values: dict[str, Any] = {
            "paymentId": subject.payment_id,
            "paymentIntentId": intent.id,
            "chargeId": charge_id,
            "amount": from_minor_units(refund.amount, refund.currency),
            "amountUomId": subject.currency,
            "refundStatus": refund.status,
            "originEnumId": _SERVICE_ORIGIN,
            "operationId": done.operation_id,
            "paymentGatewayResponseId": done.payment_gateway_response_id,
        }
        # One upsert: a webhook may have recorded the refund first (as Stripe's); it is ours, so it takes our
        # operation and PGR, and keeps the createdDate it was first recorded with.
        await context.entity.create_or_update(
            STRIPE_REFUND,
            {"refundId": refund.id, **values, "createdDate": datetime.now(UTC).replace(tzinfo=None)},
            update=tuple(values),
            connection=connection,
        )

    return await journaled_call(
        context.entity,
        subject,
        attempts.scope,
        payment_operation_enum_id=_REFUND,
        amount=amount,
        client_request_key=context.client_request_key,
        # entry.amount: a replay sends exactly the journaled request, or Stripe would refuse its key.
        send=lambda entry: create_refund(
            subject.gateway,
            intent.id,
            amount=entry.amount,
            currency=subject.currency,
            payment_id=subject.payment_id,
            idempotency_key=entry.idempotency_key,
        ),
        interpret=outcome_from_refund,
        record=record,
        attempts=attempts,
        connection=connection,
    )
