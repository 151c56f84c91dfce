"""stripe.StripeWebhookEvent: every delivery as received, stored and committed before it is processed.

One row per (Stripe event id, gateway config): a redelivery finds the row and is answered without being processed
again once it was processed or ignored; a failed one is processed again on the same row. Deliveries refused before
processing (a bad signature, a signed body that is no event) are only counted (rejections.py): anyone can send them,
so they must not grow a table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from service.named_lease import NamedLease
from service.webhooks.context import WebhookContext

__all__ = [
    "DONE_STATUSES",
    "SWE_FAILED",
    "SWE_IGNORED",
    "SWE_PROCESSED",
    "SWE_RECEIVED",
    "WEBHOOK_EVENT",
    "event_lease",
    "find_event",
    "finish_event",
    "record_received",
    "stored_payload",
]

WEBHOOK_EVENT: Final = "stripe.StripeWebhookEvent"
SWE_RECEIVED: Final = "SweReceived"
SWE_PROCESSED: Final = "SweProcessed"
SWE_IGNORED: Final = "SweIgnored"
SWE_FAILED: Final = "SweFailed"
# A redelivery of an event in one of these statuses has nothing left to do.
DONE_STATUSES: Final = frozenset({SWE_PROCESSED, SWE_IGNORED})

# Column limit: processingMessage and eventType are text-medium (255).
_MESSAGE_LIMIT: Final = 255

# PaymentIntent and SetupIntent snapshots carry their client secret, which is never stored (a page retrieves it from
# Stripe when it needs it). Only its value is replaced; the rest of the payload stays exactly as Stripe sent it.
_CLIENT_SECRET: Final = re.compile(r'("client_secret"\s*:\s*)"(?:[^"\\]|\\.)*"')


def stored_payload(payload: str) -> str:
    """The payload as stored: client secrets removed."""
    return _CLIENT_SECRET.sub(r'\1"[removed]"', payload)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def event_lease(context: WebhookContext, event_id: str) -> NamedLease:
    """The lease that serializes the deliveries of one event through one endpoint (Stripe may send the same event
    twice at once); nothing held between its database steps (service/named_lease.py)."""
    name = f"webhook-event:{context.payment_gateway_config_id}:{event_id}"
    return NamedLease.of(context.entity, name, context.liveness_key)


async def find_event(entity: EntityFacade, payment_gateway_config_id: str, event_id: str) -> dict[str, Any] | None:
    """The row of an event already received through this gateway config's endpoint, if any."""
    rows = await entity.find(
        WEBHOOK_EVENT,
        {"eventId": event_id, "paymentGatewayConfigId": payment_gateway_config_id, "signatureValid": "Y"},
        order_by=["receivedDate"],
        limit=1,
    )
    return rows[0] if rows else None


async def record_received(
    entity: EntityFacade,
    payment_gateway_config_id: str,
    *,
    event_id: str,
    event_type: str | None,
    object_id: str | None,
    payload: str,
) -> str:
    """Store a verified event before processing (committed at once); returns its webhookEventId."""
    created = await entity.create(
        WEBHOOK_EVENT,
        {
            "eventId": event_id,
            "paymentGatewayConfigId": payment_gateway_config_id,
            "eventType": (event_type or "")[:_MESSAGE_LIMIT] or None,
            "objectId": object_id,
            "signatureValid": "Y",
            "processingStatusId": SWE_RECEIVED,
            "receivedDate": _now(),
            "payload": stored_payload(payload),
        },
    )
    return str(created["webhookEventId"])


async def finish_event(entity: EntityFacade, webhook_event_id: str, status_id: str, message: str | None) -> None:
    """Record how processing ended."""
    await entity.update(
        WEBHOOK_EVENT,
        {"webhookEventId": webhook_event_id},
        {
            "processingStatusId": status_id,
            "processingMessage": message[:_MESSAGE_LIMIT] if message else None,
            "processedDate": _now(),
        },
    )
