"""Events: created for each state change, listed by `/v1/events`, handed to the webhook dispatcher."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from stripe_emulator.accepted import PINNED_API_VERSION
from stripe_emulator.clock import Clock
from stripe_emulator.context import current_request
from stripe_emulator.ids import new_id
from stripe_emulator.store import BoundedMap, StripeObject


def public_view(obj: StripeObject) -> StripeObject:
    """An object as the API shows it: the emulator's own bookkeeping keys (leading `_`) removed."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def snapshot(obj: StripeObject) -> StripeObject:
    """A deep, independent copy of an object's public view, frozen at event time."""
    copied: StripeObject = json.loads(json.dumps(public_view(obj)))
    return copied


class EventLog:
    """Every event in creation order (bounded), with a listener that queues webhook deliveries."""

    def __init__(self, capacity: int, clock: Clock) -> None:
        self.clock = clock
        self.events: BoundedMap[StripeObject] = BoundedMap(capacity)
        self.listeners: list[Callable[[StripeObject], None]] = []

    def emit(
        self, event_type: str, obj: StripeObject, previous_attributes: dict[str, Any] | None = None
    ) -> StripeObject:
        """Record `event_type` about `obj` as it is now and notify listeners."""
        info = current_request.get()
        data: dict[str, Any] = {"object": snapshot(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: StripeObject = {
            "id": new_id("evt"),
            "object": "event",
            # The account's default version; a webhook endpoint re-stamps it with its own (webhooks.py).
            "api_version": PINNED_API_VERSION,
            "created": self.clock.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": info.request_id, "idempotency_key": info.idempotency_key},
            "type": event_type,
        }
        self.events.put(event["id"], event)
        for listener in self.listeners:
            listener(event)
        return event

    def get(self, event_id: str) -> StripeObject | None:
        """An event by id."""
        return self.events.get(event_id)

    def clear(self) -> None:
        """Forget all events."""
        self.events.clear()
