"""Recording outcomes that need no Stripe write, and finding the PGR an earlier call already wrote.

A repeated call that finds its work done answers with the PGR that recorded it; a read that cannot reach Stripe
is recorded as a resultError PGR so Mantle sees a normal "try again" answer rather than an error that rolls back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from service.payment_services.intent_link import IntentLink, record_intent
from service.payment_services.payment_subject import PaymentSubject
from service.payment_services.response_writer import PAYMENT_GATEWAY_RESPONSE, write_response
from service.payment_services.stripe_call import CallRecord
from service.payment_services.stripe_reads import retrieve_intent
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import DEFAULT_EXPAND
from service.stripe_gateway.outcome import GatewayOutcome, outcome_from_error, outcome_from_payment_intent

__all__ = [
    "intent_link_for",
    "intent_link_for_payment",
    "intent_or_answer",
    "intent_status_recorder",
    "previous_success",
    "record_outcome",
    "record_unreachable",
]


def intent_link_for(
    subject: PaymentSubject, payment_intent_id: str, intent_status: str | None, capture_method: str | None = None
) -> IntentLink:
    """The link of a PaymentIntent to the subject's payment, with its status as Stripe last told us."""
    return intent_link_for_payment(
        subject.payment, subject.payment_gateway_config_id, payment_intent_id, intent_status, capture_method
    )


def intent_link_for_payment(
    payment: dict[str, Any],
    payment_gateway_config_id: str,
    payment_intent_id: str,
    intent_status: str | None,
    capture_method: str | None = None,
) -> IntentLink:
    """The link of a PaymentIntent to a Payment row paid through `payment_gateway_config_id` (no subject needed)."""
    return IntentLink(
        payment_intent_id=payment_intent_id,
        payment_id=str(payment["paymentId"]),
        payment_gateway_config_id=payment_gateway_config_id,
        order_id=payment.get("orderId"),
        order_part_seq_id=payment.get("orderPartSeqId"),
        capture_method=capture_method,
        intent_status=intent_status,
        amount=payment["amount"],
        amount_uom_id=str(payment["amountUomId"]),
    )


def intent_status_recorder(
    entity: EntityFacade, subject: PaymentSubject, intent_id: str
) -> Callable[[CallRecord[stripe.PaymentIntent]], Awaitable[None]]:
    """The journaled call's `record` step for an operation on a known PaymentIntent (capture, release): keep the
    intent link's status as Stripe answered it (or as the outcome of a refused call says), in the call's transaction."""

    async def record(done: CallRecord[stripe.PaymentIntent]) -> None:
        status = done.answer.status if done.answer is not None else done.outcome.transaction_status
        if status:
            await record_intent(entity, intent_link_for(subject, intent_id, status), connection=done.connection)

    return record


async def record_outcome(
    entity: EntityFacade,
    subject: PaymentSubject,
    payment_operation_enum_id: str,
    outcome: GatewayOutcome,
    *,
    intent: stripe.PaymentIntent | None = None,
    connection: Connection | None = None,
) -> str:
    """Write the PGR of an outcome read from Stripe (and refresh the intent link) in one transaction.

    `connection`: the operation's own, outside a transaction (the transaction is opened on it); else a pooled one.
    """
    async with entity.transaction(connection) as active:
        pgr_id = await write_response(
            entity, subject, payment_operation_enum_id, outcome, requested_amount=None, connection=active
        )
        if intent is not None:
            await record_intent(
                entity, intent_link_for(subject, intent.id, intent.status, intent.capture_method), connection=active
            )
    return pgr_id


async def record_unreachable(
    entity: EntityFacade,
    subject: PaymentSubject,
    payment_operation_enum_id: str,
    error: stripe.StripeError,
    *,
    connection: Connection | None = None,
) -> str:
    """The resultError PGR for a read that failed because Stripe could not be reached or refused the key."""
    return await record_outcome(
        entity, subject, payment_operation_enum_id, outcome_from_error(error), connection=connection
    )


async def previous_success(
    entity: EntityFacade,
    subject: PaymentSubject,
    operation_enum_ids: Iterable[str],
    *,
    reference_num: str,
    sub_reference: str | None = None,
    connection: Connection | None = None,
) -> str | None:
    """The newest successful PGR of these operations on this payment and Stripe object, if one was written."""
    conditions: dict[str, object] = {
        "paymentId": subject.payment_id,
        "paymentGatewayConfigId": subject.payment_gateway_config_id,
        "paymentOperationEnumId": list(operation_enum_ids),
        "referenceNum": reference_num,
        "resultSuccess": "Y",
    }
    if sub_reference is not None:
        conditions["subReference"] = sub_reference
    rows = await entity.find(
        PAYMENT_GATEWAY_RESPONSE, conditions, order_by=["-transactionDate"], limit=1, connection=connection
    )
    return str(rows[0]["paymentGatewayResponseId"]) if rows else None


async def intent_or_answer(
    entity: EntityFacade,
    subject: PaymentSubject,
    intent_id: str,
    operation: GatewayOperation,
    *,
    done_status: str,
    answered_by: Iterable[str],
    connection: Connection,
) -> stripe.PaymentIntent | str:
    """The PaymentIntent an operation (capture, release) acts on, or the PGR id that answers the call without a write.

    When the PaymentIntent is already `done_status` the call is a repeat (the newest success PGR of `answered_by`
    operations on it answers) or the work was done elsewhere (a new success PGR records it). A read Stripe cannot
    answer is recorded as a resultError PGR, which answers too.
    """
    try:
        # Without the charge: the decision needs only the PaymentIntent's own fields, and the charge is most of
        # what Stripe would build and send and the SDK parse. The write's answer carries the charge.
        intent = await retrieve_intent(subject, intent_id, expand=())
        if intent.status != done_status:
            return intent
        earlier = await previous_success(entity, subject, answered_by, reference_num=intent.id, connection=connection)
        if earlier is not None:
            return earlier
        # Done elsewhere: its PGR records the charge's facts, so read it with the charge.
        intent = await retrieve_intent(subject, intent_id, expand=DEFAULT_EXPAND)
        outcome = outcome_from_payment_intent(intent, operation)
        return await record_outcome(
            entity, subject, operation.payment_operation_enum_id, outcome, intent=intent, connection=connection
        )
    except stripe.StripeError as error:
        return await record_unreachable(
            entity, subject, operation.payment_operation_enum_id, error, connection=connection
        )
