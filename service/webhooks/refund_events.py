"""`charge.refunded` and `charge.refund.updated`: refunds made in Stripe's dashboard reach Mantle exactly once.

The event only names the PaymentIntent. Under the payment's lease every refund of that PaymentIntent is listed from
Stripe and compared with stripe.StripeRefund:

- a refund with a row is known: only its status is brought up to date. Refunds our refund#Payment made have a row
  (SroService) written in the same transaction as their PGR, and refund#Payment holds the same lock, so a webhook
  that races it waits and then finds the row. This is what keeps a refund from being recorded twice.
- a refund without a row that carries our metadata (paymentId) was made by refund#Payment whose answer was lost:
  its journal row is still unfinished, and the next refund#Payment call of that payment (Moqui's retry, whatever
  amount it asks) replays the row's key with its journaled amount and records the refund, so it is left alone here.
- any other refund that moved money is Stripe's: one PgoRefund PGR and one row (SroStripe) in one transaction.

Then, outside the lease (Mantle's rules take their own), each Stripe refund not yet in Mantle is recorded by the
Mantle side as a refund Payment and the row keeps its id. That step is repeated by later events until it succeeds,
and the Mantle side itself finds a refund already recorded by its reference, so a retry never records it twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import stripe

from service.money import from_minor_units
from service.payment_services.attempt import STRIPE_REFUND
from service.payment_services.response_writer import write_response
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import PAYMENT_ID, list_refunds
from service.stripe_gateway.outcome import field_value, outcome_from_refund
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

__all__ = ["MONEY_MOVED", "REFUND_EVENTS", "handle_refund_event"]

log = logging.getLogger(__name__)

REFUND_EVENTS: Final = frozenset({"charge.refunded", "charge.refund.updated"})
STRIPE_ORIGIN: Final = "SroStripe"
_REFUND_OPERATION: Final = GatewayOperation.REFUND.payment_operation_enum_id
# Refunds that moved (or are moving) money; failed and canceled ones gave nothing back.
MONEY_MOVED: Final = frozenset({"succeeded", "pending"})


@dataclass(frozen=True)
class _ToRecord:
    refund_id: str
    amount: Decimal
    payment_gateway_response_id: str


def _intent_id_of(snapshot: dict[str, Any]) -> str | None:
    value = snapshot.get("payment_intent")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value.startswith("pi_") else None


async def handle_refund_event(context: WebhookContext, event_type: str, snapshot: dict[str, Any]) -> Handled:
    """Process a charge.refunded (data.object a Charge) or charge.refund.updated (a Refund) event."""
    intent_id = _intent_id_of(snapshot)
    if intent_id is None:
        return Handled.ignored(f"{snapshot.get('object', 'object')} {snapshot.get('id')} has no PaymentIntent")
    owner = await payment_of_intent(context, intent_id)
    if isinstance(owner, Foreign):
        return Handled.ignored(owner.reason)
    async with lease_payment(context, owner, f"the webhook about the refunds of PaymentIntent {intent_id}"):
        locked = await load_locked(context, owner, intent_id)
        if isinstance(locked, Foreign):
            return Handled.ignored(locked.reason)
        refunds = await list_refunds(locked.subject.gateway, intent_id)
        notes = [await _sync_refund(context, locked, refund) for refund in reversed(refunds)]
        waiting = await _not_in_mantle(context, owner)
    for refund in waiting:
        recorded = await context.mantle.record_gateway_refund(owner, refund.amount, refund.payment_gateway_response_id)
        if not recorded.recorded or recorded.refund_payment_id is None:
            # Shared database: Moqui records refund Payments itself; the PGR is already in its database.
            notes.append(f"refund {refund.refund_id} left to Moqui to record as a refund Payment")
            continue
        await context.entity.update(
            STRIPE_REFUND, {"refundId": refund.refund_id}, {"refundPaymentId": recorded.refund_payment_id}
        )
        notes.append(f"refund {refund.refund_id} recorded in Mantle as payment {recorded.refund_payment_id}")
    return Handled.processed("; ".join(notes) if notes else f"PaymentIntent {intent_id} has no refunds")


async def _sync_refund(context: WebhookContext, locked: LockedPayment, refund: stripe.Refund) -> str:
    entity, subject = context.entity, locked.subject
    existing = await entity.find_one(STRIPE_REFUND, {"refundId": refund.id})
    if existing is not None:
        if existing["refundStatus"] != refund.status:
            await entity.update(STRIPE_REFUND, {"refundId": refund.id}, {"refundStatus": refund.status})
            if refund.status not in MONEY_MOVED and existing["refundStatus"] in MONEY_MOVED:
                # Mantle's refund Payment now claims money that came back; a person decides what to do.
                log.warning("refund %s of payment %s is now %s", refund.id, subject.payment_id, refund.status)
            return f"refund {refund.id} ({existing['originEnumId']}) is now {refund.status}"
        return f"refund {refund.id} ({existing['originEnumId']}) already recorded"
    if intent_metadata(refund).get(PAYMENT_ID) == subject.payment_id:
        return f"refund {refund.id} was made by refund#Payment, which records it"
    if refund.status not in MONEY_MOVED:
        return f"refund {refund.id} is {refund.status}; nothing refunded, nothing recorded"
    outcome = outcome_from_refund(refund)
    amount = from_minor_units(refund.amount, refund.currency)
    async with entity.transaction() as connection:
        pgr_id = await write_response(
            entity, subject, _REFUND_OPERATION, outcome, requested_amount=amount, connection=connection
        )
        await entity.create(
            STRIPE_REFUND,
            {
                "refundId": refund.id,
                "paymentId": subject.payment_id,
                "paymentIntentId": locked.intent.id,
                "chargeId": _charge_id(refund),
                "amount": amount,
                "amountUomId": subject.currency,
                "refundStatus": refund.status,
                "originEnumId": STRIPE_ORIGIN,
                "paymentGatewayResponseId": pgr_id,
                "createdDate": datetime.now(UTC).replace(tzinfo=None),
            },
            connection=connection,
        )
    return f"refund {refund.id} made in Stripe recorded (PGR {pgr_id})"


def _charge_id(refund: stripe.Refund) -> str | None:
    charge = field_value(refund, "charge")
    if isinstance(charge, str):
        return charge
    charge_id = field_value(charge, "id")
    return charge_id if isinstance(charge_id, str) else None


async def _not_in_mantle(context: WebhookContext, payment_id: str) -> list[_ToRecord]:
    rows = await context.entity.find(
        STRIPE_REFUND,
        {
            "paymentId": payment_id,
            "originEnumId": STRIPE_ORIGIN,
            "refundPaymentId": None,
            "refundStatus": list(MONEY_MOVED),
        },
        order_by=["createdDate"],
    )
    return [
        _ToRecord(str(row["refundId"]), row["amount"], str(row["paymentGatewayResponseId"]))
        for row in rows
        if row["paymentGatewayResponseId"]
    ]
