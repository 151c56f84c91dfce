"""Everything one emulator instance holds, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from stripe_emulator.clock import Clock
from stripe_emulator.events import EventLog
from stripe_emulator.faults import FaultRegistry
from stripe_emulator.idempotency import IdempotencyStore
from stripe_emulator.limits import Limits, LimitSettings
from stripe_emulator.store import Store
from stripe_emulator.webhooks import WebhookDispatcher

AUTHORIZATION_WINDOW_SECONDS = 7 * 24 * 3600
# Stripe prunes idempotency keys once they are at least 24 hours old (docs.stripe.com/api/idempotent_requests).
IDEMPOTENCY_RETENTION_SECONDS = 24 * 3600


@dataclass(frozen=True)
class EmulatorConfig:
    """Limits and defaults; memory is bounded by the capacities (oldest entries evicted first)."""

    objects_per_type: int = 50_000
    idempotency_entries: int = 50_000
    events: int = 50_000
    webhook_deliveries: int = 50_000
    webhook_retry_base_seconds: float = 1.0
    webhook_max_attempts: int = 8
    auto_deliver_webhooks: bool = True
    authorization_window_seconds: int = AUTHORIZATION_WINDOW_SECONDS
    idempotency_retention_seconds: int = IDEMPOTENCY_RETENTION_SECONDS
    # Rate limits, search and latency as they start (and return to on reset); the control API changes them.
    limits: LimitSettings = field(default_factory=LimitSettings)


class EmulatorState:
    """Store, clock, events, webhooks, idempotency and faults of one emulator."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock()
        self.store = Store(self.config.objects_per_type)
        self.events = EventLog(self.config.events, self.clock)
        self.webhooks = WebhookDispatcher(
            self.events,
            capacity=self.config.webhook_deliveries,
            retry_base_seconds=self.config.webhook_retry_base_seconds,
            max_attempts=self.config.webhook_max_attempts,
            auto_deliver=self.config.auto_deliver_webhooks,
        )
        self.idempotency = IdempotencyStore(
            self.config.idempotency_entries, self.clock, self.config.idempotency_retention_seconds
        )
        self.faults = FaultRegistry()
        self.limits = Limits(self.config.limits)

    def reset(self) -> None:
        """Back to empty: no objects, events, endpoints, keys or faults, real time, limits as configured."""
        self.store.clear()
        self.events.clear()
        self.webhooks.reset()
        self.idempotency.clear()
        self.faults.clear()
        self.limits.reset()
        self.clock.reset()


STATE_KEY = web.AppKey("stripe_emulator_state", EmulatorState)


def state_of(request: web.Request) -> EmulatorState:
    """The emulator state behind a request."""
    return request.app[STATE_KEY]
