"""stripe.StripeWebhookRejection: deliveries refused before processing, counted per gateway config and reason.

Anyone on the internet can POST to the webhook endpoint, so a refused delivery must not cost a row: each one adds 1
to the counter of its (gateway config, reason) and replaces that row's "last" details (when, why in words, the
first 2,000 characters of the body, the sender's address). An operator sees how many, of which kind, since when,
and the latest example; the table holds at most one row per configured gateway and reason. The log is sampled the
same way: the 1st, 10th, 100th, ... rejection of a kind is logged, with the count.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

from moqui_bridge.entity import EntityFacade
from service.webhooks.event_log import stored_payload

__all__ = ["NOT_AN_EVENT", "WEBHOOK_REJECTION", "record_rejection"]

log = logging.getLogger(__name__)

WEBHOOK_REJECTION: Final = "stripe.StripeWebhookRejection"
# A body whose signature verified but that is not a Stripe event (the signature reasons are in signature.py).
NOT_AN_EVENT: Final = "SwrNotAnEvent"
_MESSAGE_LIMIT: Final = 255
_PAYLOAD_LIMIT: Final = 2000
_ADDRESS_LIMIT: Final = 60


def _logged(count: int) -> bool:
    """1, 10, 100, 1000, ...: a flood shows in the log without filling it."""
    while count % 10 == 0:
        count //= 10
    return count == 1


async def record_rejection(
    entity: EntityFacade,
    payment_gateway_config_id: str,
    reason_id: str,
    message: str,
    payload: str,
    remote_address: str | None,
) -> int:
    """Count one refused delivery (one statement, safe under concurrency); the kind's count so far."""
    definition = entity.definition(WEBHOOK_REJECTION)

    def column(field_name: str) -> str:
        return definition.field(field_name).column_name

    now = datetime.now(UTC).replace(tzinfo=None)
    key = [column("paymentGatewayConfigId"), column("rejectionReasonId")]
    last = [column(name) for name in ("lastRejectedDate", "lastMessage", "lastPayload", "lastRemoteAddress")]
    stamp = column("lastUpdatedStamp") if definition.has_update_stamp else None
    inserted = [*key, column("rejectedCount"), column("firstRejectedDate"), *last, *([stamp] if stamp else [])]
    values = ["$1", "$2", "1", "$3", "$3", "$4", "$5", "$6", *(["$3"] if stamp else [])]
    updates = [f"{name} = EXCLUDED.{name}" for name in [*last, *([stamp] if stamp else [])]]
    count_column = column("rejectedCount")
    statement = (
        f"INSERT INTO {definition.table_name} ({', '.join(inserted)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        f"{count_column} = {definition.table_name}.{count_column} + 1, {', '.join(updates)} "
        f"RETURNING {count_column}"
    )
    async with entity.pool.acquire() as connection:
        count = int(
            await connection.fetchval(
                statement,
                payment_gateway_config_id,
                reason_id,
                now,
                message[:_MESSAGE_LIMIT],
                stored_payload(payload[:_PAYLOAD_LIMIT]),
                (remote_address or "")[:_ADDRESS_LIMIT] or None,
            )
        )
    if _logged(count):
        log.warning(
            "webhook for gateway config %s rejected (%s: %s); %d so far of this kind",
            payment_gateway_config_id,
            reason_id,
            message,
            count,
        )
    return count
