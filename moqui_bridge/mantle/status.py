"""Status changes checked against Moqui's status flow (moqui.basic.StatusFlowTransition), as Moqui's entity-auto
update does: a change to another status needs a transition row; writing the same status is not a change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.mantle import names
from moqui_bridge.mantle.records import Connection, Record, update_payment
from moqui_bridge.service.errors import ServiceError


async def transition_allowed(
    entity: EntityFacade, connection: Connection | None, from_status: str | None, to_status: str
) -> bool:
    """Whether a record may go from one status to another (a record with no status yet may take any)."""
    if from_status is None or from_status == to_status:
        return True
    transition = await entity.find_one(
        names.STATUS_FLOW_TRANSITION,
        {"statusFlowId": names.DEFAULT_STATUS_FLOW, "statusId": from_status, "toStatusId": to_status},
        connection=connection,
    )
    return transition is not None


async def require_transition(
    entity: EntityFacade, connection: Connection | None, label: str, from_status: str | None, to_status: str
) -> None:
    """Raise Moqui's wording when the status flow has no such transition (checked before calling a gateway too,
    so a payment that could never take the gateway's answer is refused before money moves)."""
    if not await transition_allowed(entity, connection, from_status, to_status):
        raise ServiceError(f"Status change from {from_status} to {to_status} is not valid for {label}")


async def change_payment_status(
    entity: EntityFacade,
    connection: Connection,
    payment: Record,
    to_status: str,
    fields: Mapping[str, Any] | None = None,
) -> Record:
    """Move a Payment to a status (with other fields in the same update) and return the updated record."""
    await require_transition(entity, connection, f"Payment {payment['paymentId']}", payment.get("statusId"), to_status)
    changes = fields or {}
    if to_status == names.PMNT_DELIVERED and not changes.get("effectiveDate", payment.get("effectiveDate")):
        # Mantle's PaymentCheckEffectiveDate SECA: a delivered payment must say when it was delivered.
        raise ServiceError("Effective Date is not set")
    return await update_payment(entity, connection, payment, {**changes, "statusId": to_status})


async def change_record_status(
    entity: EntityFacade,
    connection: Connection,
    entity_name: str,
    primary_key: Mapping[str, Any],
    record: Record,
    to_status: str,
    fields: Mapping[str, Any] | None = None,
) -> Record:
    """Move any record with a statusId field (OrderHeader, OrderPart) to a status, checked like a Payment."""
    label = f"{entity_name.rsplit('.', 1)[-1]} {'/'.join(str(value) for value in primary_key.values())}"
    await require_transition(entity, connection, label, record.get("statusId"), to_status)
    changes = {**(fields or {}), "statusId": to_status}
    await entity.update(entity_name, primary_key, changes, connection=connection)
    return {**record, **changes}
