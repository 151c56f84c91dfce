"""Loading and updating the Mantle records the rules work on, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.mantle import names
from moqui_bridge.mantle.context import now_timestamp
from moqui_bridge.service.errors import ServiceError

Record = dict[str, Any]

__all__ = [
    "Connection",
    "Record",
    "load_order",
    "load_payment",
    "load_payment_method",
    "other_refunded_total",
    "update_payment",
]


async def load_payment(entity: EntityFacade, connection: Connection | None, payment_id: str) -> Record:
    """The Payment, or a ServiceError naming the missing id."""
    payment = await entity.find_one(names.PAYMENT, {"paymentId": payment_id}, connection=connection)
    if payment is None:
        raise ServiceError(f"Payment {payment_id} not found")
    return payment


async def load_payment_method(
    entity: EntityFacade, connection: Connection | None, payment: Mapping[str, Any]
) -> Record | None:
    """The Payment's (from) PaymentMethod, when it has one."""
    payment_method_id = payment.get("paymentMethodId")
    if not payment_method_id:
        return None
    return await entity.find_one(names.PAYMENT_METHOD, {"paymentMethodId": payment_method_id}, connection=connection)


async def load_order(entity: EntityFacade, connection: Connection | None, order_id: str) -> Record:
    """The OrderHeader, or a ServiceError naming the missing id."""
    order = await entity.find_one(names.ORDER_HEADER, {"orderId": order_id}, connection=connection)
    if order is None:
        raise ServiceError(f"Order {order_id} not found")
    return order


async def update_payment(
    entity: EntityFacade, connection: Connection | None, payment: Record, fields: Mapping[str, Any]
) -> Record:
    """Write fields of a Payment and return the record as it now is.

    The facade bumps lastUpdatedStamp on every update, which Payment (an optimistic-lock entity) relies on.
    """
    await entity.update(names.PAYMENT, {"paymentId": payment["paymentId"]}, fields, connection=connection)
    return await load_payment(entity, connection, str(payment["paymentId"]))


async def other_refunded_total(
    entity: EntityFacade, connection: Connection | None, payment_id: str, exclude_payment_id: str | None = None
) -> Decimal:
    """Sum of the refund Payments of a Payment that still count (not Cancelled/Void/Declined), except one."""
    refunds = await entity.find(names.PAYMENT, {"refundForPaymentId": payment_id}, connection=connection)
    return sum(
        (
            refund["amount"] or Decimal(0)
            for refund in refunds
            if refund["paymentId"] != exclude_payment_id and refund.get("statusId") not in names.DEAD_PAYMENT_STATUSES
        ),
        start=Decimal(0),
    )


def shown_amount(amount: Decimal) -> str:
    """An amount for a message: stored amounts carry 4 decimals; show 2 unless more are significant."""
    cents = amount.quantize(Decimal("0.01"))
    return str(cents if cents == amount else amount.normalize())


def delivered_date(payment: Mapping[str, Any]) -> datetime:
    """The effectiveDate a Payment gets when it becomes Delivered: its own if set (a scheduled date), else now."""
    effective = payment.get("effectiveDate")
    return effective if isinstance(effective, datetime) else now_timestamp()
