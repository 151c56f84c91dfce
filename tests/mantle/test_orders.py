"""create#Order, add#OrderPartPayment, place#Order (with authorize#OrderPayments), the PaymentMethod create, and
LocalMantleSide over them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from moqui_bridge.mantle.local_side import LocalMantleSide
from moqui_bridge.service.errors import ParameterError, ServiceError
from tests.mantle.conftest import PaymentMaker
from tests.mantle.gateway_services import MantleTestContext

ORDERS = "mantle.order.OrderServices."
PAYMENT = "mantle.account.payment.Payment"


async def new_order(context: MantleTestContext, **fields: Any) -> tuple[str, str]:
    result = await context.call_service(
        ORDERS + "create#Order",
        {
            "customerPartyId": "CUSTOMER",
            "vendorPartyId": "VENDOR",
            "currencyUomId": "EUR",
            "grandTotal": "120.00",
            **fields,
        },
    )
    return result["orderId"], result["orderPartSeqId"]


async def store_gateway(context: MantleTestContext, config_id: str = "TEST_APPROVE") -> None:
    await context.entity.create(
        "mantle.product.store.ProductStorePaymentGateway",
        {"productStoreId": "STORE", "paymentInstrumentEnumId": "PiCreditCard", "paymentGatewayConfigId": config_id},
    )


async def test_create_order_makes_an_open_order_with_one_part(context: MantleTestContext) -> None:
    order_id, part_seq_id = await new_order(context, orderName="Web order", productStoreId="STORE")
    order = await context.entity.find_one("mantle.order.OrderHeader", {"orderId": order_id})
    part = await context.entity.find_one("mantle.order.OrderPart", {"orderId": order_id, "orderPartSeqId": part_seq_id})
    assert order is not None and part is not None
    assert (order["statusId"], order["grandTotal"], order["currencyUomId"]) == ("OrderOpen", Decimal("120.00"), "EUR")
    assert order["entryDate"] is not None and order["productStoreId"] == "STORE"
    assert (part["statusId"], part["customerPartyId"], part["vendorPartyId"]) == ("OrderOpen", "CUSTOMER", "VENDOR")
    assert part["partTotal"] == Decimal("120.00")


async def test_create_order_checks_its_input(context: MantleTestContext) -> None:
    with pytest.raises(ParameterError) as missing:
        await context.call_service(ORDERS + "create#Order", {"customerPartyId": "CUSTOMER"})
    assert {message.field for message in missing.value.validation_messages} == {
        "vendorPartyId",
        "currencyUomId",
        "grandTotal",
    }
    with pytest.raises(ServiceError, match="Grand total must not be negative"):
        await new_order(context, grandTotal="-1")
    order_id, _ = await new_order(context, orderId="MY_ORDER")
    assert order_id == "MY_ORDER"
    with pytest.raises(ServiceError, match="Order MY_ORDER already exists"):
        await new_order(context, orderId="MY_ORDER")


async def test_add_order_part_payment_defaults_to_the_unpaid_total(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    order_id, part_seq_id = await new_order(context)
    method_id = await make.method()
    first = await context.call_service(
        ORDERS + "add#OrderPartPayment",
        {"orderId": order_id, "orderPartSeqId": part_seq_id, "amount": "20.00", "paymentMethodId": method_id},
    )
    second = await context.call_service(
        ORDERS + "add#OrderPartPayment",
        {"orderId": order_id, "orderPartSeqId": part_seq_id, "paymentGatewayConfigId": "TEST_APPROVE"},
    )
    payment = await make.get(first["paymentId"])
    assert (payment["statusId"], payment["amount"], payment["amountUomId"]) == ("PmntPromised", Decimal("20.00"), "EUR")
    assert (payment["fromPartyId"], payment["toPartyId"]) == ("CUSTOMER", "VENDOR")
    assert (payment["orderId"], payment["orderPartSeqId"]) == (order_id, part_seq_id)
    assert payment["paymentInstrumentEnumId"] == "PiCreditCard" and payment["paymentMethodId"] == method_id
    rest = await make.get(second["paymentId"])
    assert rest["amount"] == Decimal("100.00") and rest["paymentGatewayConfigId"] == "TEST_APPROVE"
    with pytest.raises(ServiceError, match="has nothing left to pay"):
        await context.call_service(
            ORDERS + "add#OrderPartPayment", {"orderId": order_id, "orderPartSeqId": part_seq_id}
        )


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"orderPartSeqId": "99"}, "Order part .*/99 not found"),
        ({"paymentMethodId": "NOPE"}, "Payment method NOPE not found"),
        ({"paymentGatewayConfigId": "NOPE"}, "Payment gateway configuration NOPE not found"),
        ({"amount": "0"}, "Payment amount must be greater than zero"),
    ],
)
async def test_add_order_part_payment_refuses_bad_input(
    context: MantleTestContext, parameters: dict[str, str], message: str
) -> None:
    order_id, part_seq_id = await new_order(context)
    with pytest.raises(ServiceError, match=message):
        await context.call_service(
            ORDERS + "add#OrderPartPayment", {"orderId": order_id, "orderPartSeqId": part_seq_id, **parameters}
        )
    assert await context.entity.find(PAYMENT, {"orderId": order_id}) == []


async def test_add_order_part_payment_refuses_someone_elses_method(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    order_id, part_seq_id = await new_order(context)
    method_id = await make.method(ownerPartyId="SOMEONE_ELSE")
    with pytest.raises(ServiceError, match="does not belong to the order's customer"):
        await context.call_service(
            ORDERS + "add#OrderPartPayment",
            {"orderId": order_id, "orderPartSeqId": part_seq_id, "paymentMethodId": method_id},
        )


async def test_place_order_authorizes_through_the_store_gateway(context: MantleTestContext, make: PaymentMaker) -> None:
    await store_gateway(context)
    order_id, part_seq_id = await new_order(context, productStoreId="STORE")
    method_id = await make.method()
    added = await context.call_service(
        ORDERS + "add#OrderPartPayment",
        {"orderId": order_id, "orderPartSeqId": part_seq_id, "paymentMethodId": method_id},
    )
    result = await context.call_service(ORDERS + "place#Order", {"orderId": order_id})
    assert (result["statusId"], result["statusChanged"], result["authFailed"]) == ("OrderPlaced", True, False)
    assert result["totalAuthorized"] == Decimal("120.00")
    order = await context.entity.find_one("mantle.order.OrderHeader", {"orderId": order_id})
    assert order is not None and order["statusId"] == "OrderPlaced" and order["placedDate"] is not None
    part = await context.entity.find_one("mantle.order.OrderPart", {"orderId": order_id, "orderPartSeqId": part_seq_id})
    assert part is not None and part["statusId"] == "OrderPlaced"
    payment = await make.get(added["paymentId"])
    assert payment["statusId"] == "PmntAuthorized" and payment["paymentGatewayConfigId"] == "TEST_APPROVE"

    again = await context.call_service(ORDERS + "place#Order", {"orderId": order_id})
    assert again["statusChanged"] is False and again["authFailed"] is None
    assert len(context.gateway.calls_to("approve#Authorize")) == 1


async def test_place_order_reports_declines(context: MantleTestContext, make: PaymentMaker) -> None:
    await store_gateway(context, "TEST_NSF")
    order_id, part_seq_id = await new_order(context, productStoreId="STORE")
    added = await context.call_service(
        ORDERS + "add#OrderPartPayment",
        {"orderId": order_id, "orderPartSeqId": part_seq_id, "paymentMethodId": await make.method()},
    )
    result = await context.call_service(ORDERS + "place#Order", {"orderId": order_id})
    assert result["statusId"] == "OrderPlaced" and result["authFailed"] is True
    assert result["totalAuthorized"] == Decimal(0)
    assert f"Payment {added['paymentId']} has insufficient funds" in result["messages"]


async def test_place_order_without_store_does_not_authorize(context: MantleTestContext, make: PaymentMaker) -> None:
    order_id, part_seq_id = await new_order(context)
    await context.call_service(
        ORDERS + "add#OrderPartPayment",
        {"orderId": order_id, "orderPartSeqId": part_seq_id, "paymentGatewayConfigId": "TEST_APPROVE"},
    )
    result = await context.call_service(ORDERS + "place#Order", {"orderId": order_id})
    assert result["statusId"] == "OrderPlaced" and result["authFailed"] is None
    assert context.gateway.calls == []


async def test_a_gateway_error_rolls_the_placement_back(context: MantleTestContext, make: PaymentMaker) -> None:
    await store_gateway(context, "TEST_FAIL")
    order_id, part_seq_id = await new_order(context, productStoreId="STORE")
    await context.call_service(
        ORDERS + "add#OrderPartPayment",
        {"orderId": order_id, "orderPartSeqId": part_seq_id, "paymentMethodId": await make.method()},
    )
    with pytest.raises(ServiceError, match="Test gateway refused the request"):
        await context.call_service(ORDERS + "place#Order", {"orderId": order_id})
    order = await context.entity.find_one("mantle.order.OrderHeader", {"orderId": order_id})
    assert order is not None and order["statusId"] == "OrderOpen" and order["placedDate"] is None


async def test_authorize_order_payments_skips_and_counts(context: MantleTestContext, make: PaymentMaker) -> None:
    await store_gateway(context)
    order_id, part_seq_id = await new_order(context, productStoreId="STORE", grandTotal="300.00")
    on_order: dict[str, Any] = {"orderId": order_id, "orderPartSeqId": part_seq_id}
    authorized = await make.payment(status="PmntAuthorized", **on_order)
    cancelled = await make.payment(status="PmntCancelled", **on_order)
    no_method = await make.payment(paymentMethodId=None, **on_order)
    to_authorize = await make.payment(**on_order)
    result = await context.call_service(
        "mantle.account.PaymentServices.authorize#OrderPayments",
        {"orderId": order_id, "cardSecurityCodeByPaymentId": {to_authorize: "999"}},
    )
    assert result["authFailed"] is False and result["totalAuthorized"] == Decimal("200.00")
    assert [call["paymentId"] for call in context.gateway.calls_to("approve#Authorize")] == [to_authorize]
    assert context.gateway.calls_to("approve#Authorize")[0]["cardSecurityCode"] == "999"
    statuses = [(await make.get(payment_id))["statusId"] for payment_id in (authorized, cancelled, no_method)]
    assert statuses == ["PmntAuthorized", "PmntCancelled", "PmntPromised"]


async def test_create_payment_method(context: MantleTestContext) -> None:
    name = "mantle.account.PaymentMethodServices.create#PaymentMethod"
    result = await context.call_service(
        name, {"ownerPartyId": "CUSTOMER", "gatewayCimId": "pm_card_visa", "paymentGatewayConfigId": "TEST_APPROVE"}
    )
    method = await context.entity.find_one(
        "mantle.account.method.PaymentMethod", {"paymentMethodId": result["paymentMethodId"]}
    )
    assert method is not None
    assert (method["paymentMethodTypeEnumId"], method["gatewayCimId"]) == ("PmtCreditCard", "pm_card_visa")
    assert method["fromDate"] is not None
    with pytest.raises(ServiceError, match="Payment gateway configuration NOPE not found"):
        await context.call_service(name, {"paymentGatewayConfigId": "NOPE"})
    with pytest.raises(ServiceError, match="already exists"):
        await context.call_service(name, {"paymentMethodId": result["paymentMethodId"]})


class TestLocalMantleSide:
    """The standalone MantleSide runs the same rules."""

    async def test_checkout_flow(self, context: MantleTestContext, make: PaymentMaker) -> None:
        side = LocalMantleSide(lambda: context)
        order_id, part_seq_id = await new_order(context)
        payment_id = await side.add_order_part_payment(order_id, part_seq_id, None, None, "TEST_DETAILS")
        placed = await side.place_order(order_id)
        assert (placed.status_id, placed.status_changed, placed.auth_failed) == ("OrderPlaced", True, None)

        authorization = await side.authorize_payment(payment_id)
        assert authorization.succeeded and not authorization.declined
        assert authorization.status_id == "PmntAuthorized" and authorization.payment_gateway_response_id

        context.gateway.statuses[payment_id] = "PmntDelivered"
        refresh = await side.refresh_payment_status(payment_id)
        assert refresh.refreshed and refresh.status_id == "PmntDelivered" and refresh.payment_gateway_response_id

        response = await context.entity.create(
            "mantle.account.method.PaymentGatewayResponse",
            {
                "paymentId": payment_id,
                "paymentOperationEnumId": "PgoRefund",
                "resultSuccess": "Y",
                "referenceNum": "re",
            },
        )
        recorded = await side.record_gateway_refund(payment_id, Decimal("5.00"), response["paymentGatewayResponseId"])
        assert recorded.recorded and recorded.created and recorded.refund_payment_id
        assert (await make.get(recorded.refund_payment_id))["refundForPaymentId"] == payment_id

    async def test_declined_authorization(self, context: MantleTestContext, make: PaymentMaker) -> None:
        side = LocalMantleSide(lambda: context)
        payment_id = await make.payment(paymentGatewayConfigId="TEST_DECLINE")
        authorization = await side.authorize_payment(payment_id)
        assert authorization.declined and not authorization.succeeded
        assert authorization.status_id == "PmntDeclined"
