"""authorize#SinglePayment: every row of moqui-contract.md 1.4 for authorization, and gateway config resolution."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from moqui_bridge.mantle.context import now_timestamp
from moqui_bridge.service.errors import ParameterError, ServiceError
from tests.mantle.conftest import PaymentMaker
from tests.mantle.gateway_services import MantleTestContext

AUTHORIZE = "mantle.account.PaymentServices.authorize#SinglePayment"
PGR = "mantle.account.method.PaymentGatewayResponse"


async def test_approved_authorization_moves_promised_to_authorized(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_APPROVE")
    before = await make.get(payment_id)

    result = await context.call_service(AUTHORIZE, {"paymentId": payment_id})

    payment = await make.get(payment_id)
    response = await context.entity.find_one(PGR, {"paymentGatewayResponseId": result["paymentGatewayResponseId"]})
    assert response is not None and response["paymentOperationEnumId"] == "PgoAuthorize"
    assert payment["statusId"] == "PmntAuthorized"
    assert payment["paymentAuthCode"] == response["approvalCode"] == "OK"
    assert payment["paymentRefNum"] == response["referenceNum"]
    assert payment["paymentGatewayConfigId"] == "TEST_APPROVE"
    assert payment["lastUpdatedStamp"] > before["lastUpdatedStamp"]
    assert result["paymentGatewayResponse"]["paymentGatewayResponseId"] == result["paymentGatewayResponseId"]
    # Mantle's in-map: cardSecurityCode is always present, null when not given.
    assert context.gateway.calls_to("approve#Authorize") == [
        {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_APPROVE", "cardSecurityCode": None}
    ]


async def test_card_security_code_is_passed_to_the_gateway(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_APPROVE")
    await context.call_service(AUTHORIZE, {"paymentId": payment_id, "cardSecurityCode": "123"})
    assert context.gateway.calls_to("approve#Authorize")[0]["cardSecurityCode"] == "123"


async def test_authorize_and_capture_goes_straight_to_delivered(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_AUTH_CAPTURE")
    started = now_timestamp()
    await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert payment["effectiveDate"] >= started - timedelta(seconds=1)
    assert payment["paymentAuthCode"] == "OK"


async def test_authorize_and_capture_keeps_an_existing_effective_date(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    effective = now_timestamp().replace(microsecond=0) - timedelta(days=3)
    payment_id = await make.payment(paymentGatewayConfigId="TEST_AUTH_CAPTURE", effectiveDate=effective)
    await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["effectiveDate"] == effective


async def test_decline_moves_to_declined_and_records_the_gateway(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await make.payment()
    result = await context.call_service(AUTHORIZE, {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_DECLINE"})
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntDeclined"
    assert payment["paymentGatewayConfigId"] == "TEST_DECLINE"
    assert result["paymentGatewayResponse"]["resultDeclined"] == "Y"


async def test_a_declined_payment_can_be_authorized_again(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(status="PmntDeclined")
    await context.call_service(AUTHORIZE, {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_APPROVE"})
    assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"


@pytest.mark.parametrize("config_id", ["TEST_NSF", "TEST_ERROR", "TEST_SILENT"])
async def test_error_nsf_only_or_no_response_change_nothing(
    context: MantleTestContext, make: PaymentMaker, config_id: str
) -> None:
    payment_id = await make.payment()
    before = await make.get(payment_id)
    await context.call_service(AUTHORIZE, {"paymentId": payment_id, "paymentGatewayConfigId": config_id})
    after = await make.get(payment_id)
    assert after["statusId"] == "PmntPromised"
    assert after["paymentAuthCode"] is None and after["paymentRefNum"] is None
    # The config id is still recorded before the call, as Mantle does.
    assert after["paymentGatewayConfigId"] == config_id
    assert before["paymentGatewayConfigId"] is None


async def test_missing_response_id_falls_back_to_a_fresh_pgr_of_the_payment_method(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_UNANSWERED")
    result = await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"
    assert result["paymentGatewayResponse"]["paymentId"] == payment_id


async def test_a_stale_pgr_of_the_payment_method_is_not_taken(context: MantleTestContext, make: PaymentMaker) -> None:
    method_id = await make.method()
    old_payment = await make.payment(paymentMethodId=method_id)
    await context.entity.create(
        PGR,
        {
            "paymentId": old_payment,
            "paymentMethodId": method_id,
            "paymentOperationEnumId": "PgoAuthorize",
            "resultSuccess": "Y",
            "transactionDate": now_timestamp() - timedelta(minutes=5),
        },
    )
    payment_id = await make.payment(paymentMethodId=method_id, paymentGatewayConfigId="TEST_SILENT")
    result = await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntPromised"
    assert result["paymentGatewayResponseId"] is None


@pytest.mark.parametrize("amount", [None, Decimal("0")])
async def test_zero_payment_is_delivered_without_a_gateway(
    context: MantleTestContext, make: PaymentMaker, amount: Decimal | None
) -> None:
    payment_id = await make.payment(amount=amount, paymentGatewayConfigId="TEST_APPROVE")
    result = await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert payment["effectiveDate"] is not None
    assert result["paymentGatewayResponseId"] is None
    assert context.gateway.calls == []


@pytest.mark.parametrize("status", ["PmntDelivered", "PmntConfirmed", "PmntCancelled", "PmntVoid"])
async def test_captured_or_dead_payments_are_not_authorized(
    context: MantleTestContext, make: PaymentMaker, status: str
) -> None:
    payment_id = await make.payment(status=status, paymentGatewayConfigId="TEST_APPROVE")
    result = await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == status
    assert context.gateway.calls == []
    assert result["messages"] and "not authorizing" in result["messages"][0]


async def test_a_proposed_payment_is_refused_before_the_gateway(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(status="PmntProposed", paymentGatewayConfigId="TEST_APPROVE")
    with pytest.raises(ServiceError, match="Status change from PmntProposed to PmntAuthorized is not valid"):
        await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert context.gateway.calls == []


async def test_gateway_error_rolls_the_whole_call_back(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment()
    with pytest.raises(ServiceError, match="Test gateway refused the request"):
        await context.call_service(AUTHORIZE, {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_FAIL"})
    payment = await make.get(payment_id)
    # The config id written before the call went with the rollback.
    assert payment["paymentGatewayConfigId"] is None
    assert payment["statusId"] == "PmntPromised"


async def test_unknown_payment_and_missing_id_are_errors(context: MantleTestContext) -> None:
    with pytest.raises(ServiceError, match="Payment NOPE not found"):
        await context.call_service(AUTHORIZE, {"paymentId": "NOPE"})
    with pytest.raises(ParameterError, match="Field cannot be empty"):
        await context.call_service(AUTHORIZE, {})


async def test_unknown_gateway_config_is_an_error(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="NO_SUCH_CONFIG")
    with pytest.raises(ServiceError, match="Payment gateway configuration NO_SUCH_CONFIG not found"):
        await context.call_service(AUTHORIZE, {"paymentId": payment_id})


async def test_no_config_or_no_authorize_service_skips_with_a_message(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    unconfigured = await make.payment()
    result = await context.call_service(AUTHORIZE, {"paymentId": unconfigured})
    assert result["messages"] == [f"No payment gateway is configured for Payment {unconfigured}, not authorizing"]

    empty = await make.payment(paymentGatewayConfigId="TEST_EMPTY")
    result = await context.call_service(AUTHORIZE, {"paymentId": empty})
    assert "has no authorize service" in result["messages"][0]
    assert (await make.get(empty))["statusId"] == "PmntPromised"
    assert context.gateway.calls == []


async def test_config_resolution_order(context: MantleTestContext, make: PaymentMaker) -> None:
    # The explicit parameter beats the payment method's, which beats the payment's own.
    method_id = await make.method(paymentGatewayConfigId="TEST_DECLINE")
    explicit = await make.payment(paymentMethodId=method_id, paymentGatewayConfigId="TEST_NSF")
    await context.call_service(AUTHORIZE, {"paymentId": explicit, "paymentGatewayConfigId": "TEST_APPROVE"})
    assert (await make.get(explicit))["statusId"] == "PmntAuthorized"

    by_method = await make.payment(paymentMethodId=method_id, paymentGatewayConfigId="TEST_APPROVE")
    await context.call_service(AUTHORIZE, {"paymentId": by_method})
    assert (await make.get(by_method))["statusId"] == "PmntDeclined"

    financial = await make.payment(paymentInstrumentEnumId="PiFinancialAccount")
    await context.call_service(AUTHORIZE, {"paymentId": financial})
    assert (await make.get(financial))["paymentGatewayConfigId"] == "FinancialAccountLocal"


async def test_store_payment_uses_the_store_gateway_for_the_instrument(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    await context.entity.create(
        "mantle.product.store.ProductStorePaymentGateway",
        {
            "productStoreId": "STORE",
            "paymentInstrumentEnumId": "PiCreditCard",
            "paymentGatewayConfigId": "TEST_APPROVE",
        },
    )
    payment_id = await make.payment()
    await context.call_service(
        "mantle.account.PaymentServices.authorize#StorePayment", {"paymentId": payment_id, "productStoreId": "STORE"}
    )
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntAuthorized"
    assert payment["paymentGatewayConfigId"] == "TEST_APPROVE"


async def test_get_authorize_payment_gateway_response(context: MantleTestContext, make: PaymentMaker) -> None:
    name = "mantle.account.PaymentServices.get#AuthorizePaymentGatewayResponse"
    payment_id = await make.payment(paymentGatewayConfigId="TEST_APPROVE")
    assert (await context.call_service(name, {"paymentId": payment_id}))["paymentGatewayResponse"] is None
    authorized = await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    found = await context.call_service(name, {"paymentId": payment_id})
    assert found["paymentGatewayResponse"]["paymentGatewayResponseId"] == authorized["paymentGatewayResponseId"]
