"""`payment_intent.*` events: bring Mantle's view of a payment up to the PaymentIntent's current state.

The event only says which PaymentIntent to look at. Under the payment's lease (payment_lookup.py) the PaymentIntent
is read again from Stripe and compared with the Payment's status, so a late, repeated or reordered event finds the
work done (or does what its successor would have done) and never acts twice:

| PaymentIntent now            | Payment in Mantle         | what happens                                          |
| ---------------------------- | ------------------------- | ----------------------------------------------------- |
| requires_capture / succeeded | Promised / Declined       | Mantle authorizes it; our authorize#Payment finds the  |
|                              |                           | PaymentIntent authorized (or paid) and records success |
|                              |                           | without a second charge                               |
| succeeded                    | Authorized                | status refreshed from the gateway (captured elsewhere) |
| canceled                     | Authorized                | status refreshed: PmntPromised for an expired or       |
|                              |                           | released authorization, PmntVoid for a cancel          |
| anything else                | anything else             | nothing to do                                          |

Mantle is asked after the payment's lease is given back: its rules call our gateway services, which take that
lease.
`payment_intent.payment_failed` also leaves a declined PgoAuthorize PGR for Moqui's screens, but never moves the
Payment to Declined (the shopper can still retry on the same PaymentIntent; see docs/webhooks.md).
`payment_intent.requires_action` is recorded only.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any, Final

from service.context import STANDALONE_CLIENT
from service.payment_services.intent_link import PAYMENT_INTENT_LINK, current_intent_id, record_intent, standalone_link
from service.payment_services.response_writer import PAYMENT_GATEWAY_RESPONSE, write_response
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.outcome import field_value, outcome_from_payment_intent
from service.webhooks.context import WebhookContext
from service.webhooks.outcome import Handled
from service.webhooks.payment_lookup import (
    Foreign,
    LockedPayment,
    intent_metadata,
    lease_payment,
    load_locked,
    payment_of_intent,
)

__all__ = ["INTENT_EVENTS", "handle_intent_event"]

log = logging.getLogger(__name__)

PAYMENT_FAILED: Final = "payment_intent.payment_failed"
REQUIRES_ACTION: Final = "payment_intent.requires_action"
INTENT_EVENTS: Final = frozenset(
    {
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        PAYMENT_FAILED,
        "payment_intent.canceled",
        REQUIRES_ACTION,
    }
)

_AUTHORIZABLE: Final = frozenset({"PmntPromised", "PmntDeclined"})
_CLOSED: Final = frozenset({"PmntVoid", "PmntCancelled"})
_HOLDS_MONEY: Final = frozenset({"requires_capture", "succeeded"})
_AUTHORIZE_OPERATION: Final = GatewayOperation.AUTHORIZE.payment_operation_enum_id
_ATTEMPT_OPERATIONS: Final = (_AUTHORIZE_OPERATION, GatewayOperation.AUTHORIZE_AND_CAPTURE.payment_operation_enum_id)


class MantleStep(enum.Enum):
    """What Mantle is asked to do once the payment's lease is given back."""

    NONE = "none"
    AUTHORIZE = "authorize"
    REFRESH = "refresh"


@dataclass(frozen=True)
class Plan:
    """The step for Mantle and the sentence that explains it on the event row."""

    step: MantleStep
    message: str


def plan_for(intent_id: str, intent_status: str, payment_id: str, payment_status: str | None) -> Plan:
    """Decide from the PaymentIntent's and the Payment's current states (see the module's table)."""
    where = f"PaymentIntent {intent_id} is {intent_status}, payment {payment_id} is {payment_status}"
    if intent_status in _HOLDS_MONEY:
        if payment_status in _AUTHORIZABLE:
            return Plan(MantleStep.AUTHORIZE, f"{where}: asked Mantle to authorize it")
        if payment_status == "PmntAuthorized" and intent_status == "succeeded":
            return Plan(MantleStep.REFRESH, f"{where}: captured outside Mantle, status refreshed from Stripe")
        if payment_status in _CLOSED:
            # Money is held or taken for a payment Mantle closed: only a person can decide (refund or reinstate).
            log.warning("%s: money held at Stripe for a closed payment; release or refund it in Stripe", where)
            return Plan(MantleStep.NONE, f"{where}: money held for a closed payment, needs an operator")
        return Plan(MantleStep.NONE, f"{where}: already recorded")
    if intent_status == "canceled" and payment_status == "PmntAuthorized":
        return Plan(MantleStep.REFRESH, f"{where}: authorization gone, status refreshed from Stripe")
    return Plan(MantleStep.NONE, f"{where}: nothing to do")


async def handle_intent_event(context: WebhookContext, event_type: str, snapshot: dict[str, Any]) -> Handled:
    """Process one payment_intent.* event whose data.object is `snapshot`."""
    intent_id = snapshot.get("id")
    if not isinstance(intent_id, str) or not intent_id.startswith("pi_"):
        return Handled.ignored("the event carries no PaymentIntent id")
    owner = await payment_of_intent(context, intent_id, intent_metadata(snapshot))
    if isinstance(owner, Foreign):
        return Handled.ignored(owner.reason)
    async with lease_payment(context, owner, f"the webhook about PaymentIntent {intent_id}"):
        locked = await load_locked(context, owner, intent_id)
        if isinstance(locked, Foreign):
            return Handled.ignored(locked.reason)
        elsewhere = await _link_or_explain(context, locked)
        if elsewhere is not None:
            return Handled.processed(elsewhere)
        intent, subject = locked.intent, locked.subject
        if event_type == REQUIRES_ACTION:
            return Handled.processed(f"PaymentIntent {intent.id} is {intent.status}; waiting for the customer")
        notes = []
        if event_type == PAYMENT_FAILED:
            notes.append(await _record_failure(context, locked))
        plan = plan_for(intent.id, intent.status, subject.payment_id, subject.status_id)
        notes.append(plan.message)
    # Outside the lease: Mantle's rules call our gateway services, which take the same lease.
    if plan.step is MantleStep.AUTHORIZE:
        authorization = await context.mantle.authorize_payment(subject.payment_id)
        notes.append(f"Mantle: payment {subject.payment_id} is {authorization.status_id}")
    elif plan.step is MantleStep.REFRESH:
        refresh = await context.mantle.refresh_payment_status(subject.payment_id)
        notes.append(
            f"Mantle: payment {subject.payment_id} is {refresh.status_id}"
            if refresh.refreshed
            else f"status refresh left to Moqui's poll#PaymentGatewayDetails job (payment is {refresh.status_id})"
        )
    return Handled.processed("; ".join(notes))


async def _link_or_explain(context: WebhookContext, locked: LockedPayment) -> str | None:
    """Link the PaymentIntent to its payment (or refresh the link's status); explain when it is not the current one.

    A payment has one live PaymentIntent. An event about an older one (released, then authorized anew) changes
    nothing; a second live one for the same payment may be a double payment, which only a person can sort out.
    """
    entity, subject, intent = context.entity, locked.subject, locked.intent
    current = await current_intent_id(entity, STANDALONE_CLIENT, subject.payment)
    if current is not None and current != intent.id:
        current_link = await entity.find_one(PAYMENT_INTENT_LINK, {"paymentIntentId": current})
        own_link = await entity.find_one(PAYMENT_INTENT_LINK, {"paymentIntentId": intent.id})
        if current_link is None or current_link["intentStatus"] != "canceled" or own_link is not None:
            if own_link is not None:
                await record_intent(
                    entity,
                    standalone_link(
                        subject.payment,
                        subject.payment_gateway_config_id,
                        intent.id,
                        intent.status,
                        intent.capture_method,
                    ),
                )
            message = (
                f"PaymentIntent {intent.id} ({intent.status}) is not payment {subject.payment_id}'s current "
                f"PaymentIntent {current}; nothing to do"
            )
            if own_link is None and intent.status in _HOLDS_MONEY:
                log.warning("%s: possible double payment, check Stripe", message)
                message += " (possible double payment: check Stripe)"
            return message
    await record_intent(
        entity,
        standalone_link(
            subject.payment, subject.payment_gateway_config_id, intent.id, intent.status, intent.capture_method
        ),
    )
    return None


async def _record_failure(context: WebhookContext, locked: LockedPayment) -> str:
    """A declined PgoAuthorize PGR for a failed attempt the PaymentIntent still shows, once per attempt.

    Only the PGR: no Mantle service reads it, so the Payment's status does not change.
    """
    entity, subject, intent = context.entity, locked.subject, locked.intent
    error = field_value(intent, "last_payment_error")
    if intent.status != "requires_payment_method" or error is None:
        return f"the failed attempt is superseded (PaymentIntent {intent.id} is now {intent.status})"
    outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE)
    if not (outcome.result_declined or outcome.result_error):
        return f"PaymentIntent {intent.id} shows no failed attempt to record"
    # One attempt, one PGR: the attempt's charge (or, without one, its codes) identifies it, so a redelivery or a
    # failure our own authorize#Payment already recorded is not written again.
    same_attempt = await entity.find(
        PAYMENT_GATEWAY_RESPONSE,
        {
            "paymentId": subject.payment_id,
            "paymentOperationEnumId": list(_ATTEMPT_OPERATIONS),
            "referenceNum": outcome.reference_num,
            "altReference": outcome.alt_reference,
            "resultSuccess": "N",
            "reasonCode": outcome.reason_code,
        },
        limit=1,
    )
    if same_attempt:
        return f"the failed attempt is already recorded (PGR {same_attempt[0]['paymentGatewayResponseId']})"
    pgr_id = await write_response(entity, subject, _AUTHORIZE_OPERATION, outcome, requested_amount=subject.amount)
    return f"failed attempt recorded (PGR {pgr_id}, {outcome.reason_code}); payment status left for a retry"
