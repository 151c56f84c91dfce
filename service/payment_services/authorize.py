"""authorize#Payment and authorizeAndCapture#Payment: one PaymentIntent per Payment, confirmed with its card.

Decided from state, not from the request:

- The payment's current PaymentIntent already authorized (`requires_capture`) or paid (`succeeded`), e.g. by the
  checkout page: recorded as success without a second charge (answering with the earlier PGR when there is one).
  authorizeAndCapture captures an authorized one.
- `requires_payment_method` / `requires_confirmation` (a declined attempt, a page that never confirmed): confirmed
  again with the payment's PaymentMethod under the next attempt number.
- `requires_action` / `processing`: nothing to do but report; the shopper (or the bank) has to finish.
- None, or canceled (released, expired): a new PaymentIntent, created and confirmed in one call.

A create of ours whose answer was lost is replayed (same key) only while no PaymentIntent is known for the payment;
once one is linked another way (a webhook, `paymentRefNum`), the create's journal row is closed with it and never
replayed, since the replay would bring back Stripe's first answer, not the PaymentIntent's state now.

Our confirmations are off-session (Moqui calls us server to server, so no shopper can answer 3-D Secure); a card
that insists on authentication is declined with reason `authentication_required`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

import stripe
from stripe.params import PaymentIntentConfirmParams

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from moqui_bridge.service import ServiceError
from service.context import ServiceContext
from service.money import from_minor_units
from service.payment_services.intent_link import current_intent_id, record_intent
from service.payment_services.operation_journal import (
    OperationScope,
    ScopeAttempts,
    finish_operation,
    read_attempts,
)
from service.payment_services.outcome_records import (
    intent_link_for,
    previous_success,
    record_outcome,
    record_unreachable,
)
from service.payment_services.parameters import AuthorizeIn, GatewayResponseOut
from service.payment_services.payment_lock import payment_lock
from service.payment_services.payment_subject import PaymentSubject, load_subject
from service.payment_services.stripe_call import CallRecord, journaled_call
from service.payment_services.stripe_reads import retrieve_intent
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import (
    DEFAULT_EXPAND,
    PaymentIntentRequest,
    capture_payment_intent,
    confirm_payment_intent,
    create_payment_intent,
    find_payment_intents,
)
from service.stripe_gateway.outcome import StripeRequestRejected, outcome_from_payment_intent

__all__ = ["authorize_payment"]

_NEVER_AUTHORIZED: Final = frozenset({"PmntCancelled", "PmntVoid"})
_ALREADY_CAPTURED: Final = frozenset({"PmntDelivered", "PmntConfirmed"})
_CONFIRMABLE: Final = frozenset({"requires_payment_method", "requires_confirmation"})
_AUTHORIZED: Final = frozenset({"requires_capture", "succeeded"})
_SUCCESS_OPERATIONS: Final = ("PgoAuthorize", "PgoAuthAndCapture")


async def authorize_payment(parameters: AuthorizeIn, context: ServiceContext, *, capture: bool) -> GatewayResponseOut:
    """Authorize the payment (capture=False) or authorize and capture it (capture=True); answer with the PGR id."""
    operation = GatewayOperation.AUTHORIZE_AND_CAPTURE if capture else GatewayOperation.AUTHORIZE
    entity = context.entity
    async with payment_lock(entity, parameters.paymentId) as connection:
        subject = await load_subject(
            entity, context.gateways, parameters.paymentId, parameters.paymentGatewayConfigId, connection=connection
        )
        if subject.status_id in _NEVER_AUTHORIZED:
            raise ServiceError(f"Payment {subject.payment_id} is {subject.status_id} and cannot be authorized")
        amount_minor = subject.minor_units(subject.amount, "amount")
        try:
            intent, create_attempts = await _current_intent(entity, subject, operation, connection)
        except stripe.StripeError as error:
            pgr_id = await record_unreachable(
                entity, subject, operation.payment_operation_enum_id, error, connection=connection
            )
            return GatewayResponseOut(paymentGatewayResponseId=pgr_id)
        if intent is not None and intent.status != "canceled":
            pgr_id = await _continue(context, connection, subject, operation, intent, amount_minor)
            await _close_stale_create(entity, subject, intent, pgr_id, connection)
        else:
            if subject.status_id in _ALREADY_CAPTURED:
                raise ServiceError(
                    f"Payment {subject.payment_id} is {subject.status_id} (already captured) and has no open "
                    "Stripe PaymentIntent to authorize again"
                )
            if intent is not None:
                # The payment's PaymentIntent is canceled: an unfinished create that made it must not be replayed
                # (Stripe would answer with its first, authorized, response), so it is closed and a new one made.
                await _close_stale_create(entity, subject, intent, None, connection)
            pgr_id = await _create(context, connection, subject, operation, create_attempts)
    return GatewayResponseOut(paymentGatewayResponseId=pgr_id)


async def _current_intent(
    entity: EntityFacade, subject: PaymentSubject, operation: GatewayOperation, connection: Connection
) -> tuple[stripe.PaymentIntent | None, ScopeAttempts | None]:
    """The payment's PaymentIntent: by our link or paymentRefNum, else by Stripe's search on our metadata.

    The search finds one a checkout page made for this payment and we were never told of; charging again
    instead would be a double charge. (Stripe's search lags by seconds; our own creations are covered by the
    journal's key replay, not by this.) Also answers the create scope's journal rows when it had to read them, so
    the create that follows does not read them again.
    """
    intent_id = await current_intent_id(entity, subject.payment, connection=connection)
    if intent_id is not None:
        return await retrieve_intent(subject, intent_id, expand=DEFAULT_EXPAND), None
    create_attempts = await read_attempts(
        entity,
        OperationScope(subject.payment_id, subject.payment_gateway_config_id, operation, None),
        connection=connection,
    )
    if create_attempts.unfinished() is not None:
        # Our own create whose answer was never recorded: replaying its key (in _create) finds it and finishes
        # the journal row, which a search would leave unfinished.
        return None, create_attempts
    try:
        found = await find_payment_intents(subject.gateway, subject.payment_id)
    except StripeRequestRejected as rejected:
        raise ServiceError(
            f"Stripe refused to search the PaymentIntents of payment {subject.payment_id}: {rejected.message}"
        ) from rejected
    live = [intent for intent in found if intent.status != "canceled"]
    if live:
        return await retrieve_intent(subject, live[0].id, expand=DEFAULT_EXPAND), None
    return None, create_attempts


async def _close_stale_create(
    entity: EntityFacade,
    subject: PaymentSubject,
    intent: stripe.PaymentIntent,
    payment_gateway_response_id: str | None,
    connection: Connection,
) -> None:
    """Close the unfinished create that made `intent`, now that the PaymentIntent is known another way.

    A create whose answer was lost stays unfinished, to be replayed; but once its PaymentIntent is linked (a
    webhook, `paymentRefNum`) we record from the PaymentIntent itself, and a later replay (after a release) would
    get Stripe's stored first answer, authorized, for a PaymentIntent now canceled. So the row is closed for good
    with the PaymentIntent's id. The create that made it is the one with its capture method (authorize: manual;
    authorizeAndCapture: automatic).
    """
    made_by = (
        GatewayOperation.AUTHORIZE if intent.capture_method == "manual" else GatewayOperation.AUTHORIZE_AND_CAPTURE
    )
    attempts = await read_attempts(
        entity,
        OperationScope(subject.payment_id, subject.payment_gateway_config_id, made_by, None),
        connection=connection,
    )
    unfinished = attempts.unfinished()
    if unfinished is not None:
        await finish_operation(
            entity,
            unfinished,
            definitive=True,
            stripe_object_id=intent.id,
            payment_gateway_response_id=payment_gateway_response_id,
            connection=connection,
        )


def _link_recorder(context: ServiceContext, subject: PaymentSubject) -> Any:
    async def record(done: CallRecord[stripe.PaymentIntent]) -> None:
        intent, outcome = done.answer, done.outcome
        # A decline raises, so the PaymentIntent it left behind is known only from the error's outcome.
        intent_id = intent.id if intent is not None else outcome.reference_num
        if intent_id is None:
            return
        status = intent.status if intent is not None else outcome.transaction_status
        capture_method = intent.capture_method if intent is not None else None
        link = intent_link_for(subject, intent_id, status, capture_method)
        await record_intent(context.entity, link, connection=done.connection)

    return record


async def _create(
    context: ServiceContext,
    connection: Connection,
    subject: PaymentSubject,
    operation: GatewayOperation,
    attempts: ScopeAttempts | None,
) -> str:
    request = PaymentIntentRequest(
        payment_id=subject.payment_id,
        amount=subject.amount,
        currency=subject.currency,
        capture_method="automatic" if operation is GatewayOperation.AUTHORIZE_AND_CAPTURE else "manual",
        payment_method=_payment_method(subject),
        customer=subject.stripe_customer_id,
        off_session=True,
        order_id=subject.payment.get("orderId"),
    )
    return await journaled_call(
        context.entity,
        subject,
        OperationScope(subject.payment_id, subject.payment_gateway_config_id, operation, None),
        payment_operation_enum_id=operation.payment_operation_enum_id,
        amount=subject.amount,
        client_request_key=context.client_request_key,
        # A replay asks for the journaled amount: the keyed request, even if the payment's amount changed since.
        send=lambda entry: create_payment_intent(
            subject.gateway,
            request if entry.amount is None else replace(request, amount=entry.amount),
            idempotency_key=entry.idempotency_key,
        ),
        interpret=lambda intent: outcome_from_payment_intent(intent, operation),
        record=_link_recorder(context, subject),
        attempts=attempts,
        connection=connection,
    )


async def _continue(
    context: ServiceContext,
    connection: Connection,
    subject: PaymentSubject,
    operation: GatewayOperation,
    intent: stripe.PaymentIntent,
    amount_minor: int,
) -> str:
    if intent.amount != amount_minor or intent.currency.upper() != subject.currency.upper():
        shown = from_minor_units(intent.amount, intent.currency)
        raise ServiceError(
            f"PaymentIntent {intent.id} of payment {subject.payment_id} is for {shown} {intent.currency.upper()}, "
            f"but the payment is {subject.amount} {subject.currency}; release it before authorizing again"
        )
    entity = context.entity
    if intent.status == "requires_capture" and operation is GatewayOperation.AUTHORIZE_AND_CAPTURE:
        return await _capture_authorized(context, connection, subject, intent)
    if intent.status in _AUTHORIZED:
        earlier = await previous_success(
            entity, subject, _SUCCESS_OPERATIONS, reference_num=intent.id, connection=connection
        )
        if earlier is not None:
            return earlier
        # Authorized elsewhere (the checkout page): recorded, never charged again. A paid one is recorded as
        # authorize-and-capture, which is what tells Mantle the money is already delivered.
        recorded_as = GatewayOperation.AUTHORIZE_AND_CAPTURE if intent.status == "succeeded" else operation
        outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE)
        return await record_outcome(
            entity, subject, recorded_as.payment_operation_enum_id, outcome, intent=intent, connection=connection
        )
    if intent.status in _CONFIRMABLE:
        return await _confirm(context, connection, subject, operation, intent)
    # requires_action or processing: only the shopper or the bank can move it on.
    outcome = outcome_from_payment_intent(intent, operation, customer_can_authenticate=True)
    return await record_outcome(
        entity, subject, operation.payment_operation_enum_id, outcome, intent=intent, connection=connection
    )


async def _confirm(
    context: ServiceContext,
    connection: Connection,
    subject: PaymentSubject,
    operation: GatewayOperation,
    intent: stripe.PaymentIntent,
) -> str:
    params: PaymentIntentConfirmParams = {
        "payment_method": _payment_method(subject),
        "off_session": True,
        "capture_method": "automatic" if operation is GatewayOperation.AUTHORIZE_AND_CAPTURE else "manual",
        "expand": list(DEFAULT_EXPAND),
    }

    return await journaled_call(
        context.entity,
        subject,
        OperationScope(subject.payment_id, subject.payment_gateway_config_id, operation, intent.id),
        payment_operation_enum_id=operation.payment_operation_enum_id,
        amount=subject.amount,
        client_request_key=context.client_request_key,
        send=lambda entry: confirm_payment_intent(
            subject.gateway,
            intent.id,
            params,
            amount=subject.amount,
            currency=subject.currency,
            idempotency_key=entry.idempotency_key,
        ),
        interpret=lambda confirmed: outcome_from_payment_intent(confirmed, operation),
        record=_link_recorder(context, subject),
        connection=connection,
    )


async def _capture_authorized(
    context: ServiceContext, connection: Connection, subject: PaymentSubject, intent: stripe.PaymentIntent
) -> str:
    # Its own journal scope and keys: the confirm of this PaymentIntent (scope AUTHORIZE_AND_CAPTURE) is another call.
    operation = GatewayOperation.AUTHORIZE_AND_CAPTURE
    return await journaled_call(
        context.entity,
        subject,
        OperationScope(
            subject.payment_id,
            subject.payment_gateway_config_id,
            GatewayOperation.AUTHORIZE_AND_CAPTURE_CAPTURE,
            intent.id,
        ),
        payment_operation_enum_id=operation.payment_operation_enum_id,
        amount=subject.amount,
        client_request_key=context.client_request_key,
        send=lambda entry: capture_payment_intent(
            subject.gateway,
            intent.id,
            amount=entry.amount,
            currency=subject.currency,
            idempotency_key=entry.idempotency_key,
        ),
        interpret=lambda captured: outcome_from_payment_intent(captured, operation),
        record=_link_recorder(context, subject),
        connection=connection,
    )


def _payment_method(subject: PaymentSubject) -> str:
    payment_method = subject.stripe_payment_method_id
    if payment_method is None or not payment_method.startswith(("pm_", "card_", "src_")):
        method_id = subject.payment.get("paymentMethodId")
        raise ServiceError(
            f"Payment {subject.payment_id} has no Stripe PaymentMethod to charge: its payment method "
            f"{method_id or '(none)'} needs gatewayCimId set to a pm_... id saved through Stripe"
        )
    return payment_method
