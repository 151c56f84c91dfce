"""The prune job: rows of tables that grow with traffic, deleted once older than their retention (`[retention]`).

- `stripe.StripeIdempotentRequest` (whole response bodies): `retention.idempotent_request_days` after createdDate.
  A key is honoured 24 hours (idempotent_requests.py), so the minimum of one day never cuts a live key short.
- `stripe.StripeWebhookEvent` (each with its payload): `retention.webhook_event_days` after receivedDate. Stripe
  redelivers an event for up to three days, the minimum, so a pruned event is never delivered again.

Deletes run in batches, each its own short transaction, so a first prune of a large table neither holds long locks
nor one huge transaction. The gateway operation journal, PaymentIntent links, refunds and disputes are records of
money and are never pruned; webhook rejection counters are bounded and need no pruning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from moqui_bridge.entity import EntityFacade
from service.config import RetentionSettings

__all__ = ["BATCH_SIZE", "PruneRule", "prune_expired_records"]

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 1000


@dataclass(frozen=True)
class PruneRule:
    """Rows of `entity_name` whose `date_field` is older than `days` of retention are deleted."""

    entity_name: str
    date_field: str
    days: float


def _rules(retention: RetentionSettings) -> tuple[PruneRule, ...]:
    return (
        PruneRule("stripe.StripeIdempotentRequest", "createdDate", retention.idempotent_request_days),
        PruneRule("stripe.StripeWebhookEvent", "receivedDate", retention.webhook_event_days),
    )


async def _prune(entity: EntityFacade, rule: PruneRule, now: datetime) -> int:
    definition = entity.definition(rule.entity_name)
    table, column = definition.table_name, definition.field(rule.date_field).column_name
    # ctid: PostgreSQL's row address, so a batch needs no primary key (StripeIdempotentRequest's has two columns).
    statement = f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {column} < $1 LIMIT {BATCH_SIZE})"
    cutoff = now - timedelta(days=rule.days)
    deleted = 0
    while True:
        async with entity.pool.acquire() as connection:
            status = await connection.execute(statement, cutoff)
        batch = int(status.rsplit(" ", 1)[1])
        deleted += batch
        if batch < BATCH_SIZE:
            return deleted


async def prune_expired_records(
    entity: EntityFacade, retention: RetentionSettings, *, now: datetime | None = None
) -> dict[str, int]:
    """Delete what is past its retention; the number of rows deleted per entity."""
    moment = now or datetime.now(UTC).replace(tzinfo=None)
    deleted = {rule.entity_name: await _prune(entity, rule, moment) for rule in _rules(retention)}
    if any(deleted.values()):
        log.info("pruned %s", ", ".join(f"{count} rows of {name}" for name, count in deleted.items() if count))
    return deleted
