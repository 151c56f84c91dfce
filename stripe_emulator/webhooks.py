"""Webhook endpoints and signed, retried deliveries of events.

Deliveries go out in the background (retried with exponential backoff on non-2xx or network errors) unless
automatic delivery is paused; tests can also flush pending deliveries at once, in any order, and redeliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from stripe_emulator.accepted import PINNED_API_VERSION
from stripe_emulator.events import EventLog
from stripe_emulator.ids import new_id, new_webhook_secret
from stripe_emulator.store import BoundedMap, StripeObject

DeliveryStatus = Literal["pending", "succeeded", "failed"]


def sign_payload(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header for a payload: `t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<payload>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class WebhookEndpoint:
    """A URL that receives events, with its own signing secret and event filter (`*` for all)."""

    id: str
    url: str
    secret: str
    enabled_events: frozenset[str]
    # Events are rendered in the endpoint's API version (docs.stripe.com/webhooks/versioning); the emulator
    # renders every version in the pinned version's shape and stamps `api_version` with the endpoint's.
    api_version: str = PINNED_API_VERSION

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribes to `event_type`."""
        return "*" in self.enabled_events or event_type in self.enabled_events

    def describe(self) -> dict[str, Any]:
        """The endpoint as the control API reports it (secret included: it is a test secret we generated)."""
        return {
            "id": self.id,
            "url": self.url,
            "secret": self.secret,
            "enabled_events": sorted(self.enabled_events),
            "api_version": self.api_version,
        }


@dataclass
class Delivery:
    """One event on its way to one endpoint, with the history of attempts."""

    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    responses: list[int | str] = field(default_factory=list)
    in_flight: bool = False

    def describe(self) -> dict[str, Any]:
        """The delivery as the control API reports it."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "endpoint_id": self.endpoint_id,
            "status": self.status,
            "attempts": self.attempts,
            "responses": list(self.responses),
        }


class WebhookDispatcher:
    """Queues a delivery per (event, subscribed endpoint) and sends them, signed, with retries."""

    def __init__(
        self,
        events: EventLog,
        *,
        capacity: int,
        retry_base_seconds: float,
        max_attempts: int,
        auto_deliver: bool,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.events = events
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.deliveries: BoundedMap[Delivery] = BoundedMap(capacity)
        self.retry_base_seconds = retry_base_seconds
        self.max_attempts = max_attempts
        self.default_auto_deliver = auto_deliver
        self.auto_deliver = auto_deliver
        self.timeout_seconds = timeout_seconds
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        events.listeners.append(self._enqueue)

    # -- endpoints -------------------------------------------------------------------------------------------

    def add_endpoint(
        self,
        url: str,
        secret: str | None = None,
        enabled_events: Sequence[str] | None = None,
        api_version: str | None = None,
    ) -> WebhookEndpoint:
        """Register an endpoint; a secret is generated when none is given, the version defaults to the pinned one."""
        endpoint = WebhookEndpoint(
            id=new_id("we"),
            url=url,
            secret=secret or new_webhook_secret(),
            enabled_events=frozenset(enabled_events or ["*"]),
            api_version=api_version or PINNED_API_VERSION,
        )
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def remove_endpoint(self, endpoint_id: str) -> bool:
        """Unregister an endpoint; its pending deliveries are dropped."""
        return self.endpoints.pop(endpoint_id, None) is not None

    # -- queueing --------------------------------------------------------------------------------------------

    def _enqueue(self, event: StripeObject) -> None:
        for endpoint in self.endpoints.values():
            if endpoint.wants(event["type"]):
                delivery = Delivery(new_id("whdel"), event["id"], event["type"], endpoint.id)
                self.deliveries.put(delivery.id, delivery)
                event["pending_webhooks"] += 1
        if self.auto_deliver:
            self._wake.set()

    def pending(self) -> list[Delivery]:
        """Deliveries not yet accepted by their endpoint (nor given up on), oldest first."""
        return [d for d in self.deliveries.values() if d.status == "pending"]

    def set_auto_deliver(self, enabled: bool) -> None:
        """Pause or resume background delivery (paused: only `deliver_pending` sends)."""
        self.auto_deliver = enabled
        if enabled:
            self._wake.set()

    # -- sending ---------------------------------------------------------------------------------------------

    async def _attempt(self, delivery: Delivery) -> None:
        endpoint = self.endpoints.get(delivery.endpoint_id)
        event = self.events.get(delivery.event_id)
        if endpoint is None or event is None or self._session is None:
            delivery.status = "failed"
            delivery.responses.append("endpoint or event gone")
            return
        delivery.in_flight = True
        delivery.attempts += 1
        payload = json.dumps({**event, "api_version": endpoint.api_version}, indent=2)
        # Signatures use real time: receivers check them against their own clock, not the emulator's.
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_payload(payload, endpoint.secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        outcome: int | str
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
            async with self._session.post(endpoint.url, data=payload, headers=headers, timeout=timeout) as response:
                await response.read()
                outcome = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            outcome = f"{type(error).__name__}: {error}"
        finally:
            delivery.in_flight = False
        delivery.responses.append(outcome)
        if isinstance(outcome, int) and 200 <= outcome < 300:
            delivery.status = "succeeded"
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        elif delivery.attempts >= self.max_attempts:
            delivery.status = "failed"
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        else:
            backoff = min(self.retry_base_seconds * 2 ** (delivery.attempts - 1), 3600.0)
            delivery.next_attempt_at = asyncio.get_running_loop().time() + backoff

    async def deliver_pending(self, order: str | Sequence[str] = "oldest_first") -> list[Delivery]:
        """Attempt every pending delivery now, ignoring backoff: `oldest_first`, `newest_first`, or by event ids."""
        pending = [d for d in self.pending() if not d.in_flight]
        if order == "newest_first":
            pending.reverse()
        elif not isinstance(order, str):
            rank = {event_id: index for index, event_id in enumerate(order)}
            # Events not named keep their relative order after the named ones.
            pending.sort(key=lambda d: rank.get(d.event_id, len(rank)))
        for delivery in pending:
            await self._attempt(delivery)
        return pending

    async def redeliver(self, event_id: str, endpoint_id: str | None = None) -> list[Delivery]:
        """Send an event again (as Stripe's "resend"), now, to one or every subscribed endpoint."""
        event = self.events.get(event_id)
        if event is None:
            return []
        sent: list[Delivery] = []
        for endpoint in list(self.endpoints.values()):
            if endpoint_id is not None and endpoint.id != endpoint_id:
                continue
            if endpoint_id is None and not endpoint.wants(event["type"]):
                continue
            delivery = Delivery(new_id("whdel"), event_id, event["type"], endpoint.id)
            self.deliveries.put(delivery.id, delivery)
            event["pending_webhooks"] += 1
            await self._attempt(delivery)
            sent.append(delivery)
        return sent

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Cleared before looking, so an event queued while we send wakes the next wait at once.
            self._wake.clear()
            timeout: float | None = None
            if self.auto_deliver:
                now = loop.time()
                due = [d for d in self.pending() if not d.in_flight and d.next_attempt_at <= now]
                for delivery in due:
                    await self._attempt(delivery)
                if due:
                    continue
                waiting = [d.next_attempt_at for d in self.pending() if not d.in_flight]
                if waiting:
                    timeout = max(0.0, min(waiting) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def start(self) -> None:
        """Open the HTTP session and start the background sender."""
        self._session = aiohttp.ClientSession()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the sender and close the session."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        """Forget endpoints and deliveries; automatic delivery back to its configured default."""
        self.endpoints.clear()
        self.deliveries.clear()
        self.auto_deliver = self.default_auto_deliver
