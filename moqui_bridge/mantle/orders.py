"""The order rules an integrator needs in standalone mode: create an order, add a payment to a part, place it.

A simplification of Mantle: orders here have no items. The caller gives the order's ``grandTotal``, which becomes the
single part's ``partTotal``; what a part still needs paid is that total less its live payments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from moqui_bridge.mantle import names
from moqui_bridge.mantle.authorization import OrderAuthorization, authorize_order_payments
from moqui_bridge.mantle.context import MantleContext, now_timestamp
from moqui_bridge.mantle.records import Record, load_order, shown_amount
from moqui_bridge.mantle.rule_call import leased_rule_call
from moqui_bridge.mantle.status import change_record_status, require_transition
from moqui_bridge.service.errors import ServiceError

FIRST_PART_SEQ_ID = "01"  # Mantle numbers order parts 01, 02, ...


async def create_order(context: MantleContext, fields: dict[str, Any]) -> tuple[str, str]:
    """create#Order: an OrderHeader in OrderOpen with one OrderPart; returns (orderId, orderPartSeqId)."""
    entity = context.entity
    grand_total: Decimal = fields.pop("grandTotal")
    if grand_total < 0:
        raise ServiceError(f"Grand total must not be negative, got {shown_amount(grand_total)}")
    part = {
        "customerPartyId": fields.pop("customerPartyId"),
        "vendorPartyId": fields.pop("vendorPartyId"),
        "partName": fields.pop("partName", None),
    }
    async with entity.transaction() as connection:
        if fields.get("orderId") and await entity.find_one(
            names.ORDER_HEADER, {"orderId": fields["orderId"]}, connection=connection
        ):
            raise ServiceError(f"Order {fields['orderId']} already exists")
        order = await entity.create(
            names.ORDER_HEADER,
            {
                **fields,
                "statusId": names.ORDER_OPEN,
                "entryDate": now_timestamp(),
                "grandTotal": grand_total,
                "remainingSubTotal": grand_total,
            },
            connection=connection,
        )
        await entity.create(
            names.ORDER_PART,
            {
                **part,
                "orderId": order["orderId"],
                "orderPartSeqId": FIRST_PART_SEQ_ID,
                "statusId": names.ORDER_OPEN,
                "partTotal": grand_total,
            },
            connection=connection,
        )
    return str(order["orderId"]), FIRST_PART_SEQ_ID


async def unpaid_total(context: MantleContext, order_part: Record) -> Decimal:
    """What an order part still needs paid: its total less its payments that may still move money."""
    payments = await context.entity.find(
        names.PAYMENT, {"orderId": order_part["orderId"], "orderPartSeqId": order_part["orderPartSeqId"]}
    )
    paid = sum(
        (
            payment.get("amount") or Decimal(0)
            for payment in payments
            if payment.get("statusId") not in names.DEAD_PAYMENT_STATUSES and not payment.get("refundForPaymentId")
        ),
        start=Decimal(0),
    )
    return (order_part.get("partTotal") or Decimal(0)) - paid


async def add_order_part_payment(
    context: MantleContext,
    order_id: str,
    order_part_seq_id: str,
    *,
    amount: Decimal | None,
    payment_method_id: str | None,
    payment_instrument_enum_id: str | None,
    payment_gateway_config_id: str | None,
    extra: dict[str, Any] | None = None,
) -> str:
    """add#OrderPartPayment: a Promised Payment from the part's customer to its vendor; returns its id."""
    entity = context.entity
    async with leased_rule_call(context, "order", order_id) as call:
        await call.writing()  # no gateway call: the reads and the write are one unit
        order = await load_order(entity, call.connection, order_id)
        if order.get("statusId") in names.CLOSED_ORDER_STATUSES:
            raise ServiceError(f"Order {order_id} is {order['statusId']}, cannot add a payment")
        part = await entity.find_one(
            names.ORDER_PART, {"orderId": order_id, "orderPartSeqId": order_part_seq_id}, connection=call.connection
        )
        if part is None:
            raise ServiceError(f"Order part {order_id}/{order_part_seq_id} not found")
        method = None
        if payment_method_id:
            method = await entity.find_one(
                names.PAYMENT_METHOD, {"paymentMethodId": payment_method_id}, connection=call.connection
            )
            if method is None:
                raise ServiceError(f"Payment method {payment_method_id} not found")
            owner = method.get("ownerPartyId")
            if owner and owner != part.get("customerPartyId"):
                raise ServiceError(f"Payment method {payment_method_id} does not belong to the order's customer")
        if payment_gateway_config_id and not await entity.find_one(
            names.GATEWAY_CONFIG, {"paymentGatewayConfigId": payment_gateway_config_id}, connection=call.connection
        ):
            raise ServiceError(f"Payment gateway configuration {payment_gateway_config_id} not found")
        if amount is None:
            amount = await unpaid_total(context, part)
            if amount <= 0:
                raise ServiceError(f"Order part {order_id}/{order_part_seq_id} has nothing left to pay")
        elif amount <= 0:
            raise ServiceError(f"Payment amount must be greater than zero, got {shown_amount(amount)}")
        payment = await entity.create(
            names.PAYMENT,
            {
                **(extra or {}),
                "paymentTypeEnumId": names.PT_INVOICE_PAYMENT,
                "statusId": names.PMNT_PROMISED,
                "fromPartyId": part.get("customerPartyId"),
                "toPartyId": part.get("vendorPartyId"),
                "orderId": order_id,
                "orderPartSeqId": order_part_seq_id,
                "paymentMethodId": payment_method_id,
                "paymentInstrumentEnumId": payment_instrument_enum_id or _instrument_for(method),
                "paymentGatewayConfigId": payment_gateway_config_id,
                "amount": amount,
                "amountUomId": order.get("currencyUomId"),
            },
            connection=call.connection,
        )
    return str(payment["paymentId"])


def _instrument_for(method: Record | None) -> str:
    # Without a saved method the payment is for a card collected later (checkout's Payment Element).
    if method is None or method.get("paymentMethodTypeEnumId") in (None, names.PMT_CREDIT_CARD):
        return names.PI_CREDIT_CARD
    raise ServiceError(
        f"paymentInstrumentEnumId is required for a payment method of type {method['paymentMethodTypeEnumId']}"
    )


@dataclass
class OrderPlacement:
    """What place#Order did: whether the status changed and, when it did, how authorizing its payments went."""

    order_id: str
    status_id: str
    status_changed: bool
    authorization: OrderAuthorization = field(default_factory=OrderAuthorization)


async def place_order(context: MantleContext, order_id: str) -> OrderPlacement:
    """place#Order: OrderOpen -> OrderPlaced (header and parts), then authorize#OrderPayments as Mantle's SECA does.

    In Moqui both run in one transaction, so a gateway error while authorizing rolls the placement back and the
    call can be retried. Here the placement is checked first, the payments are authorized (each in its own rule
    call, holding no connection while the gateway works), and the placement is written after, in one short
    transaction: a gateway error leaves the order Open just the same, and the retry authorizes again (gateway
    implementations answer a repeated authorization without charging twice; payments already authorized count as
    such). Placing a placed order changes nothing and authorizes nothing (the SECA fires only on a status change).
    """
    entity = context.entity
    async with leased_rule_call(context, "order", order_id) as call:
        order = await load_order(entity, None, order_id)
        if order.get("statusId") == names.ORDER_PLACED:
            return OrderPlacement(order_id, names.ORDER_PLACED, status_changed=False)
        # Refused before the gateway moves money for an order that could never be placed.
        await require_transition(entity, None, f"OrderHeader {order_id}", order.get("statusId"), names.ORDER_PLACED)
        placement = OrderPlacement(order_id, names.ORDER_PLACED, status_changed=True)
        if order.get("productStoreId"):
            placement.authorization = await authorize_order_payments(context, order_id, placing=True)
        connection = await call.writing()
        order = await load_order(entity, connection, order_id)
        await change_record_status(
            entity,
            connection,
            names.ORDER_HEADER,
            {"orderId": order_id},
            order,
            names.ORDER_PLACED,
            {"placedDate": now_timestamp()},
        )
        parts = await entity.find(names.ORDER_PART, {"orderId": order_id}, connection=connection)
        for part in parts:
            if part.get("statusId") == order.get("statusId"):
                key = {"orderId": order_id, "orderPartSeqId": part["orderPartSeqId"]}
                await change_record_status(entity, connection, names.ORDER_PART, key, part, names.ORDER_PLACED)
    return placement
