"""One verified event: stored before processing, processed once, the outcome recorded on its row.

Deliveries of the same event through the same endpoint are serialized by the event's lease (event_log.py, a named
lease: no database connection is held while the handler waits for Stripe or Moqui); a redelivery of an event already
processed or ignored is answered at once and records nothing. A failed event is processed again on its row when
Stripe retries it (processing is idempotent, see the handlers). The handler is cut off at the delivery's deadline,
so the lease's expiry never lets a redelivery in beside it; a delivery that finds the event, its payment or its
order leased until its deadline, or that reaches it, is answered 500 so that Stripe delivers it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import stripe

from moqui_bridge.moqui_rest_client import MoquiBadRequestError
from moqui_bridge.service import ServiceError
from service.checkout.order_lease import CheckoutLeaseError
from service.named_lease import NamedLease
from service.payment_services.payment_lease import LeaseBusy
from service.row_lease import LeaseTaken, LeaseUnavailable
from service.stripe_gateway.outcome import StripeRequestRejected, safe_message
from service.webhooks.card_events import CARD_EVENTS, handle_card_event
from service.webhooks.context import WebhookContext
from service.webhooks.disputes import DISPUTE_EVENTS, handle_dispute_event
from service.webhooks.event_log import (
    DONE_STATUSES,
    SWE_FAILED,
    event_lease,
    find_event,
    finish_event,
    record_received,
)
from service.webhooks.intent_events import INTENT_EVENTS, handle_intent_event
from service.webhooks.moqui_events import handle_moqui_event
from service.webhooks.outcome import Handled, PermanentFailure
from service.webhooks.refund_events import REFUND_EVENTS, handle_refund_event

__all__ = ["HANDLED_EVENT_TYPES", "DeliveryResult", "process_event"]

log = logging.getLogger(__name__)

Handler = Callable[[WebhookContext, str, dict[str, Any]], Awaitable[Handled]]

_HANDLERS: Final[Mapping[str, Handler]] = {
    **dict.fromkeys(INTENT_EVENTS, handle_intent_event),
    **dict.fromkeys(REFUND_EVENTS, handle_refund_event),
    **dict.fromkeys(DISPUTE_EVENTS, handle_dispute_event),
    **dict.fromkeys(CARD_EVENTS, handle_card_event),
}
HANDLED_EVENT_TYPES: Final = frozenset(_HANDLERS)


@dataclass(frozen=True)
class DeliveryResult:
    """What to answer Stripe: `retry` (500) only for our own transient faults."""

    status_id: str
    message: str | None
    retry: bool = False
    duplicate: bool = False


async def process_event(context: WebhookContext, event: dict[str, Any], payload: str) -> DeliveryResult:
    """Store (once), process and record one verified event; never raises for a processing failure."""
    event_id = str(event["id"])
    event_type = str(event["type"])
    snapshot = event["data"]["object"]
    object_id = snapshot.get("id") if isinstance(snapshot.get("id"), str) else None
    config_id = context.payment_gateway_config_id
    lease = event_lease(context, event_id)
    try:
        async with lease.held(context.deadline, f"webhook event {event_id}"):
            row = await find_event(context.entity, config_id, event_id)
            if row is not None and row["processingStatusId"] in DONE_STATUSES:
                done = row["processingStatusId"]
                log.info("webhook event %s (%s) delivered again, already %s", event_id, event_type, done)
                return DeliveryResult(row["processingStatusId"], row["processingMessage"], duplicate=True)
            if row is None:
                webhook_event_id = await record_received(
                    context.entity,
                    config_id,
                    event_id=event_id,
                    event_type=event_type,
                    object_id=object_id,
                    payload=payload,
                )
            else:
                webhook_event_id = str(row["webhookEventId"])
            occurred = _occurred(event)
            result = await _run_handler(context, lease, event_id, event_type, snapshot, occurred)
            # After the deadline's cut, within the lease's margin (row_lease.py): the outcome is the holder's to write.
            await finish_event(context.entity, webhook_event_id, result.status_id, result.message)
    except LeaseTaken as error:
        # The other delivery of this event records its outcome; this one asks Stripe to deliver it again.
        log.warning("webhook event %s: %s; will retry", event_id, error)
        return DeliveryResult(SWE_FAILED, safe_message(f"{error}; will be retried"), retry=True)
    log.info("webhook event %s (%s): %s %s", event_id, event_type, result.status_id, result.message or "")
    return result


def _occurred(event: dict[str, Any]) -> datetime:
    """When Stripe made the event (its `created`), else now."""
    created = event.get("created")
    return datetime.fromtimestamp(created, UTC) if isinstance(created, int) else datetime.now(UTC)


async def _run_handler(
    context: WebhookContext,
    lease: NamedLease,
    event_id: str,
    event_type: str,
    snapshot: dict[str, Any],
    occurred: datetime,
) -> DeliveryResult:
    handler = _HANDLERS.get(event_type)
    if handler is None:
        handled = Handled.ignored(f"event type {event_type} is not acted on")
        return DeliveryResult(handled.status_id, handled.message)
    try:
        async with lease.cut_off(context.deadline, f"webhook event {event_id}"):
            # A Moqui client's payment is Moqui's to record; anything else is acted on here.
            moqui_handled = await handle_moqui_event(context, event_type, snapshot, occurred)
            handled = moqui_handled if moqui_handled is not None else await handler(context, event_type, snapshot)
    except (CheckoutLeaseError, LeaseBusy, LeaseUnavailable) as error:
        # The order's checkout or the payment is busy with another request (the shopper's page, a gateway
        # operation, another delivery), or the handler reached the deadline: Stripe's retry finds the work done, or
        # does it. Before ServiceError: LeaseBusy is one.
        log.warning("webhook event %s: %s; will retry", event_id, error)
        return DeliveryResult(SWE_FAILED, safe_message(f"{error}; will be retried"), retry=True)
    except (PermanentFailure, StripeRequestRejected) as error:
        return _permanent(event_id, error.message)
    except (ServiceError, MoquiBadRequestError) as error:
        # A Mantle rule refused (e.g. a refund larger than what is left): the same event would be refused again.
        return _permanent(event_id, str(error))
    except stripe.StripeError as error:
        log.warning("webhook event %s: Stripe could not be read (%s), will retry", event_id, type(error).__name__)
        return DeliveryResult(SWE_FAILED, f"Stripe could not be read ({type(error).__name__}); will be retried", True)
    except Exception as error:  # our own fault (database, Moqui unreachable, a bug): worth Stripe's retry
        log.exception("webhook event %s (%s) failed; Stripe will retry", event_id, event_type)
        return DeliveryResult(SWE_FAILED, safe_message(f"{type(error).__name__}: {error}"), retry=True)
    return DeliveryResult(handled.status_id, handled.message)


def _permanent(event_id: str, message: str) -> DeliveryResult:
    log.warning("webhook event %s refused: %s", event_id, message)
    return DeliveryResult(SWE_FAILED, message)
