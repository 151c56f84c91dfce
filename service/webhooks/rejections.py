"""stripe.StripeWebhookRejection: deliveries refused before processing, counted per gateway config and reason.

Anyone on the internet can POST to the webhook endpoint, so a refused delivery must cost neither a row nor a
database round trip of its own. Each one is added to an in-process tally (`RejectionCounters.record`); at most once
per `flush_delay` seconds the tally is written, one statement per (gateway config, reason): the row's count grows
by the number seen, and its "last" details (when, why in words, the first 2,000 characters of the body, the
sender's address) are replaced. An operator sees how many, of which kind, since when, and the latest example; the
table holds at most one row per configured gateway and reason, and a flood of forged requests costs one short write
per second instead of one per request (which would also queue them all on one row's lock, holding pool
connections). The tally is written when the app shuts down; a crash loses at most the last second's counts. The log
is sampled the same way: the 1st, 10th, 100th, ... rejection of a kind is logged, with the count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg

from moqui_bridge.entity import EntityFacade
from service.webhooks.event_log import stored_payload

__all__ = ["NOT_AN_EVENT", "WEBHOOK_REJECTION", "RejectionCounters"]

log = logging.getLogger(__name__)

WEBHOOK_REJECTION: Final = "stripe.StripeWebhookRejection"
# A body whose signature verified but that is not a Stripe event (the signature reasons are in signature.py).
NOT_AN_EVENT: Final = "SwrNotAnEvent"
_MESSAGE_LIMIT: Final = 255
_PAYLOAD_LIMIT: Final = 2000
_ADDRESS_LIMIT: Final = 60

EntitySource = Callable[[], EntityFacade | None]


@dataclass
class _Tally:
    """Rejections of one kind seen since the last write, and the latest one's details."""

    count: int
    first_date: datetime
    last_date: datetime
    message: str
    payload: str
    remote_address: str | None

    def add(self, other: _Tally) -> None:
        """Fold a later tally of the same kind into this one."""
        self.count += other.count
        self.last_date, self.message = other.last_date, other.message
        self.payload, self.remote_address = other.payload, other.remote_address


def _crossed_a_power_of_ten(before: int, after: int) -> bool:
    """Whether 1, 10, 100, ... lies in (before, after]: a flood shows in the log without filling it."""
    power = 1
    while power <= after:
        if power > before:
            return True
        power *= 10
    return False


class RejectionCounters:
    """The per-app tally of refused deliveries and its periodic write (see the module docstring)."""

    def __init__(self, entity_source: EntitySource, *, flush_delay: float = 1.0) -> None:
        self._entity_source = entity_source
        self.flush_delay = flush_delay
        self._pending: dict[tuple[str, str], _Tally] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    def record(
        self, payment_gateway_config_id: str, reason_id: str, message: str, payload: str, remote_address: str | None
    ) -> None:
        """Count one refused delivery (no I/O here); written within `flush_delay` seconds."""
        now = datetime.now(UTC).replace(tzinfo=None)
        tally = _Tally(
            1,
            now,
            now,
            message[:_MESSAGE_LIMIT],
            stored_payload(payload[:_PAYLOAD_LIMIT]),
            (remote_address or "")[:_ADDRESS_LIMIT] or None,
        )
        key = (payment_gateway_config_id, reason_id)
        if key in self._pending:
            self._pending[key].add(tally)
        else:
            self._pending[key] = tally
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_delay, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self.flush())
        else:  # a write is still running: try again after another delay
            self._timer = asyncio.get_running_loop().call_later(self.flush_delay, self._start_flush)

    async def close(self) -> None:
        """Write what is pending (the app is shutting down)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        await self.flush()

    async def flush(self) -> None:
        """Write the pending tallies; on a database failure they stay pending for the next write."""
        entity = self._entity_source()
        if entity is None or not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            for (config_id, reason_id), tally in list(pending.items()):
                total = await _write(entity, config_id, reason_id, tally)
                if _crossed_a_power_of_ten(total - tally.count, total):
                    log.warning(
                        "webhook for gateway config %s rejected (%s: %s); %d so far of this kind",
                        config_id,
                        reason_id,
                        tally.message,
                        total,
                    )
                del pending[(config_id, reason_id)]
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("webhook rejection counts not written (%s); kept for the next write", error)
            for key, tally in pending.items():
                if key in self._pending:
                    tally.add(self._pending[key])
                self._pending[key] = tally
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.flush_delay, self._start_flush)


async def _write(entity: EntityFacade, payment_gateway_config_id: str, reason_id: str, tally: _Tally) -> int:
    """Add `tally` to its row (creating it), in one statement; the kind's count so far."""
    definition = entity.definition(WEBHOOK_REJECTION)

    def column(field_name: str) -> str:
        return definition.field(field_name).column_name

    key = [column("paymentGatewayConfigId"), column("rejectionReasonId")]
    last = [column(name) for name in ("lastRejectedDate", "lastMessage", "lastPayload", "lastRemoteAddress")]
    stamp = [column("lastUpdatedStamp")] if definition.has_update_stamp else []
    count = column("rejectedCount")
    inserted = [*key, count, column("firstRejectedDate"), *last, *stamp]
    values = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", *(["$5"] if stamp else [])]
    updates = [f"{name} = EXCLUDED.{name}" for name in [*last, *stamp]]
    statement = (
        f"INSERT INTO {definition.table_name} ({', '.join(inserted)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        f"{count} = {definition.table_name}.{count} + EXCLUDED.{count}, {', '.join(updates)} RETURNING {count}"
    )
    async with entity.pool.acquire() as connection:
        total = await connection.fetchval(
            statement,
            payment_gateway_config_id,
            reason_id,
            tally.count,
            tally.first_date,
            tally.last_date,
            tally.message,
            tally.payload,
            tally.remote_address,
        )
    return int(total)
