"""Mantle's order services for standalone integrators, a PaymentMethod create, and the read services behind
``GET /payments/{paymentId}`` and ``GET /orders/{orderId}``, registered under Mantle's (or clearly our own) names.

Simplification (see `orders`): orders carry no items; ``create#Order`` takes the ``grandTotal`` directly.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict

from moqui_bridge.mantle import names
from moqui_bridge.mantle.context import MantleContextT, now_timestamp
from moqui_bridge.mantle.orders import add_order_part_payment, create_order, place_order
from moqui_bridge.mantle.records import load_order, load_payment
from moqui_bridge.service.errors import ServiceError
from moqui_bridge.service.parameter_types import BigDecimal, Required, Timestamp
from moqui_bridge.service.registry import MoquiParameters, ServiceRegistry


class CreateOrderIn(MoquiParameters):
    """create#Order (subset): the parties, currency, store and the order's total."""

    orderId: str | None = None
    orderName: str | None = None
    customerPartyId: Annotated[str, Required]
    vendorPartyId: Annotated[str, Required]
    currencyUomId: Annotated[str, Required]
    productStoreId: str | None = None
    salesChannelEnumId: str | None = None
    externalId: str | None = None
    grandTotal: Annotated[BigDecimal, Required]


class CreateOrderOut(MoquiParameters):
    """The new order and its single part."""

    orderId: str
    orderPartSeqId: str


class AddOrderPartPaymentIn(MoquiParameters):
    """add#OrderPartPayment: amount defaults to what the part still needs paid."""

    orderId: Annotated[str, Required]
    orderPartSeqId: Annotated[str, Required]
    paymentMethodId: str | None = None
    paymentInstrumentEnumId: str | None = None
    paymentGatewayConfigId: str | None = None
    amount: BigDecimal | None = None
    comments: str | None = None


class AddOrderPartPaymentOut(MoquiParameters):
    """The new Payment."""

    paymentId: str


class OrderIdIn(MoquiParameters):
    """Services that take only the order."""

    orderId: Annotated[str, Required]


class PlaceOrderOut(MoquiParameters):
    """place#Order: the new status, plus (our addition) how authorizing the order's payments went."""

    orderId: str
    statusId: str
    statusChanged: bool
    authFailed: bool | None = None
    totalAuthorized: BigDecimal | None = None
    messages: list[str] | None = None


class CreatePaymentMethodIn(MoquiParameters):
    """The PaymentMethod fields an integrator sets; ``gatewayCimId`` holds the gateway's id of the stored method."""

    paymentMethodId: str | None = None
    paymentMethodTypeEnumId: str = names.PMT_CREDIT_CARD
    ownerPartyId: str | None = None
    description: str | None = None
    purposeEnumId: str | None = None
    gatewayCimId: str | None = None
    paymentGatewayConfigId: str | None = None
    titleOnAccount: str | None = None
    firstNameOnAccount: str | None = None
    lastNameOnAccount: str | None = None
    companyNameOnAccount: str | None = None
    currencyUomId: str | None = None
    fromDate: Timestamp | None = None
    thruDate: Timestamp | None = None


class CreatePaymentMethodOut(MoquiParameters):
    """The primary key, as Moqui's entity REST create answers."""

    paymentMethodId: str


class PaymentIdIn(MoquiParameters):
    """Reads of one payment."""

    paymentId: Annotated[str, Required]


class _RecordOut(MoquiParameters):
    # The record's own fields are answered at the top level, as Moqui's entity REST one-find does.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PaymentOut(_RecordOut):
    """A Payment with its gateway responses (oldest first) and its refund Payments."""

    paymentId: str
    paymentGatewayResponses: list[dict[str, Any]]
    refundPayments: list[dict[str, Any]]


class PaymentGatewayResponsesOut(MoquiParameters):
    """The gateway responses of a Payment, oldest first."""

    paymentGatewayResponses: list[dict[str, Any]]


class OrderOut(_RecordOut):
    """An OrderHeader with its parts and payments (the relationship short-aliases)."""

    orderId: str
    parts: list[dict[str, Any]]
    payments: list[dict[str, Any]]


def register_order_rules(registry: ServiceRegistry[MantleContextT]) -> None:
    """Register create#Order, add#OrderPartPayment, place#Order, the PaymentMethod create and the read services."""

    @registry.service(
        names.CREATE_ORDER,
        CreateOrderIn,
        CreateOrderOut,
        allow_remote=True,
        description="Create an open order with one part for the given total (no items in this subset)",
    )
    async def create_order_service(parameters: CreateOrderIn, context: MantleContextT) -> CreateOrderOut:
        order_id, part_seq_id = await create_order(context, parameters.model_dump(exclude_none=True))
        return CreateOrderOut(orderId=order_id, orderPartSeqId=part_seq_id)

    @registry.service(
        names.ADD_ORDER_PART_PAYMENT,
        AddOrderPartPaymentIn,
        AddOrderPartPaymentOut,
        allow_remote=True,
        description="Add a Promised payment from the part's customer to its vendor",
    )
    async def add_order_part_payment_service(
        parameters: AddOrderPartPaymentIn, context: MantleContextT
    ) -> AddOrderPartPaymentOut:
        payment_id = await add_order_part_payment(
            context,
            parameters.orderId,
            parameters.orderPartSeqId,
            amount=parameters.amount,
            payment_method_id=parameters.paymentMethodId,
            payment_instrument_enum_id=parameters.paymentInstrumentEnumId,
            payment_gateway_config_id=parameters.paymentGatewayConfigId,
            extra={"comments": parameters.comments} if parameters.comments else None,
        )
        return AddOrderPartPaymentOut(paymentId=payment_id)

    @registry.service(
        names.PLACE_ORDER,
        OrderIdIn,
        PlaceOrderOut,
        allow_remote=True,
        description="Place an open order and authorize its payments when it has a product store",
    )
    async def place_order_service(parameters: OrderIdIn, context: MantleContextT) -> PlaceOrderOut:
        placement = await place_order(context, parameters.orderId)
        return PlaceOrderOut(
            orderId=placement.order_id,
            statusId=placement.status_id,
            statusChanged=placement.status_changed,
            authFailed=placement.authorization.auth_failed,
            totalAuthorized=placement.authorization.total_authorized,
            messages=placement.authorization.messages or None,
        )

    @registry.service(
        names.CREATE_PAYMENT_METHOD,
        CreatePaymentMethodIn,
        CreatePaymentMethodOut,
        allow_remote=True,
        description="Store a PaymentMethod (the entity create behind POST /parties/paymentMethods)",
    )
    async def create_payment_method(
        parameters: CreatePaymentMethodIn, context: MantleContextT
    ) -> CreatePaymentMethodOut:
        entity = context.entity
        fields = parameters.model_dump(exclude_none=True)
        if parameters.paymentMethodId and await entity.find_one(
            names.PAYMENT_METHOD, {"paymentMethodId": parameters.paymentMethodId}
        ):
            raise ServiceError(f"Payment method {parameters.paymentMethodId} already exists")
        if parameters.paymentGatewayConfigId and not await entity.find_one(
            names.GATEWAY_CONFIG, {"paymentGatewayConfigId": parameters.paymentGatewayConfigId}
        ):
            raise ServiceError(f"Payment gateway configuration {parameters.paymentGatewayConfigId} not found")
        fields.setdefault("fromDate", now_timestamp())
        record = await entity.create(names.PAYMENT_METHOD, fields)
        return CreatePaymentMethodOut(paymentMethodId=str(record["paymentMethodId"]))

    @registry.service(
        names.GET_PAYMENT,
        PaymentIdIn,
        PaymentOut,
        allow_remote=True,
        description="A Payment with its gateway responses and refund Payments",
    )
    async def get_payment(parameters: PaymentIdIn, context: MantleContextT) -> PaymentOut:
        entity = context.entity
        payment = await load_payment(entity, None, parameters.paymentId)
        return PaymentOut.model_validate(
            {
                **payment,
                "paymentGatewayResponses": await _gateway_responses(context, parameters.paymentId),
                "refundPayments": await entity.find(
                    names.PAYMENT, {"refundForPaymentId": parameters.paymentId}, order_by=["paymentId"]
                ),
            }
        )

    @registry.service(
        names.GET_PAYMENT_GATEWAY_RESPONSES,
        PaymentIdIn,
        PaymentGatewayResponsesOut,
        allow_remote=True,
        description="The gateway responses of a Payment, oldest first",
    )
    async def get_payment_gateway_responses(
        parameters: PaymentIdIn, context: MantleContextT
    ) -> PaymentGatewayResponsesOut:
        await load_payment(context.entity, None, parameters.paymentId)
        return PaymentGatewayResponsesOut(
            paymentGatewayResponses=await _gateway_responses(context, parameters.paymentId)
        )

    @registry.service(
        names.GET_ORDER,
        OrderIdIn,
        OrderOut,
        allow_remote=True,
        description="An order with its parts and payments",
    )
    async def get_order(parameters: OrderIdIn, context: MantleContextT) -> OrderOut:
        entity = context.entity
        order = await load_order(entity, None, parameters.orderId)
        key = {"orderId": parameters.orderId}
        return OrderOut.model_validate(
            {
                **order,
                "parts": await entity.find(names.ORDER_PART, key, order_by=["orderPartSeqId"]),
                "payments": await entity.find(names.PAYMENT, key, order_by=["paymentId"]),
            }
        )


async def _gateway_responses(context: MantleContextT, payment_id: str) -> list[dict[str, Any]]:
    return await context.entity.find(
        names.GATEWAY_RESPONSE,
        {"paymentId": payment_id},
        order_by=["transactionDate", "paymentGatewayResponseId"],
    )
