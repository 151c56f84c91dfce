"""capture#SinglePayment and release#SinglePayment: the transitions of moqui-contract.md 1.4."""

from __future__ import annotations

from decimal import Decimal

import pytest

from moqui_bridge.service.errors import ServiceError
from tests.mantle.conftest import PaymentMaker
from tests.mantle.gateway_services import MantleTestContext

SERVICES = "mantle.account.PaymentServices."
AUTHORIZE = SERVICES + "authorize#SinglePayment"
CAPTURE = SERVICES + "capture#SinglePayment"
RELEASE = SERVICES + "release#SinglePayment"


async def authorized_payment(context: MantleTestContext, make: PaymentMaker, config_id: str = "TEST_APPROVE") -> str:
    payment_id = await make.payment(paymentGatewayConfigId=config_id)
    await context.call_service(AUTHORIZE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"
    context.gateway.calls.clear()
    return payment_id


async def test_capture_of_an_authorized_payment_delivers_it(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await authorized_payment(context, make)
    result = await context.call_service(CAPTURE, {"paymentId": payment_id})
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert payment["effectiveDate"] is not None
    assert result["paymentGatewayResponse"]["paymentOperationEnumId"] == "PgoCapture"
    # The amount defaults to the payment's amount and is passed to the gateway.
    assert context.gateway.calls_to("approve#Capture") == [
        {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_APPROVE", "amount": Decimal("100.00")}
    ]


async def test_partial_capture_passes_the_amount(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await authorized_payment(context, make)
    await context.call_service(CAPTURE, {"paymentId": payment_id, "amount": "40.50"})
    assert context.gateway.calls_to("approve#Capture")[0]["amount"] == Decimal("40.50")
    assert (await make.get(payment_id))["statusId"] == "PmntDelivered"


async def test_capture_of_a_promised_payment_authorizes_first(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_APPROVE")
    await context.call_service(CAPTURE, {"paymentId": payment_id})
    names = [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls]
    assert names == ["approve#Authorize", "approve#Capture"]
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    assert payment["paymentAuthCode"] == "OK"


async def test_capture_stops_when_the_first_authorization_is_declined(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_DECLINE")
    result = await context.call_service(CAPTURE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntDeclined"
    assert context.gateway.calls_to("decline#Capture") == []
    assert result["messages"][-1] == f"Payment {payment_id} could not be authorized, not capturing"


async def test_capture_of_an_authorize_and_capture_payment_is_done_by_authorizing(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_AUTH_CAPTURE")
    result = await context.call_service(CAPTURE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntDelivered"
    assert "captured when it was authorized" in result["messages"][-1]


async def test_declined_capture_declines_the_payment(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment()
    await context.call_service(AUTHORIZE, {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_APPROVE"})
    # The payment keeps TEST_APPROVE; move it to a declining gateway for the capture.
    await context.entity.update(
        "mantle.account.payment.Payment", {"paymentId": payment_id}, {"paymentGatewayConfigId": "TEST_DECLINE"}
    )
    await context.call_service(CAPTURE, {"paymentId": payment_id})
    assert (await make.get(payment_id))["statusId"] == "PmntDeclined"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("PmntDelivered", "has already been delivered (captured)"),
        ("PmntConfirmed", "has already been delivered (captured)"),
        ("PmntDeclined", "must be Promised or Authorized to capture, but is PmntDeclined"),
        ("PmntCancelled", "must be Promised or Authorized to capture, but is PmntCancelled"),
    ],
)
async def test_capture_in_a_wrong_status_is_an_error(
    context: MantleTestContext, make: PaymentMaker, status: str, message: str
) -> None:
    payment_id = await make.payment(status=status, paymentGatewayConfigId="TEST_APPROVE")
    with pytest.raises(ServiceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await context.call_service(CAPTURE, {"paymentId": payment_id})
    assert context.gateway.calls == []


@pytest.mark.parametrize(("amount", "message"), [("0", "greater than zero"), ("100.01", "is more than the amount")])
async def test_bad_capture_amounts_change_nothing(
    context: MantleTestContext, make: PaymentMaker, amount: str, message: str
) -> None:
    payment_id = await make.payment(paymentGatewayConfigId="TEST_APPROVE")
    with pytest.raises(ServiceError, match=message):
        await context.call_service(CAPTURE, {"paymentId": payment_id, "amount": amount})
    assert (await make.get(payment_id))["statusId"] == "PmntPromised"
    assert context.gateway.calls == []


async def test_capture_copies_a_missing_reference_from_the_authorization(
    context: MantleTestContext, make: PaymentMaker
) -> None:
    payment_id = await authorized_payment(context, make)
    reference = (await make.get(payment_id))["paymentRefNum"]
    await context.entity.update("mantle.account.payment.Payment", {"paymentId": payment_id}, {"paymentRefNum": None})
    await context.call_service(CAPTURE, {"paymentId": payment_id})
    payment = await make.get(payment_id)
    assert payment["paymentRefNum"] == reference
    assert [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls] == ["approve#Capture"]


async def test_capture_reauthorizes_when_no_reference_is_known(context: MantleTestContext, make: PaymentMaker) -> None:
    # Authorized by hand, with no authorization PGR to take a reference from.
    payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_APPROVE")
    await context.call_service(CAPTURE, {"paymentId": payment_id})
    assert [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls] == ["approve#Authorize", "approve#Capture"]
    assert (await make.get(payment_id))["statusId"] == "PmntDelivered"


async def test_capture_skips_a_gateway_without_capture_service(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_NSF")
    result = await context.call_service(CAPTURE, {"paymentId": payment_id})
    assert "has no capture service" in result["messages"][0]
    assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"


class TestCaptureDetailsPreCheck:
    """With a details service, capture first asks the gateway where the payment stands."""

    async def test_gateway_still_authorized_captures(self, context: MantleTestContext, make: PaymentMaker) -> None:
        payment_id = await authorized_payment(context, make, "TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntAuthorized"
        await context.call_service(CAPTURE, {"paymentId": payment_id})
        assert [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls] == ["state#Details", "approve#Capture"]
        assert (await make.get(payment_id))["statusId"] == "PmntDelivered"

    async def test_gateway_promised_reauthorizes_then_captures(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await authorized_payment(context, make, "TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntPromised"
        await context.call_service(CAPTURE, {"paymentId": payment_id})
        calls = [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls]
        assert calls == ["state#Details", "approve#Authorize", "approve#Capture"]
        assert (await make.get(payment_id))["statusId"] == "PmntDelivered"

    async def test_gateway_delivered_is_recorded_without_capturing(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await authorized_payment(context, make, "TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntDelivered"
        result = await context.call_service(CAPTURE, {"paymentId": payment_id})
        payment = await make.get(payment_id)
        assert payment["statusId"] == "PmntDelivered" and payment["effectiveDate"] is not None
        assert context.gateway.calls_to("approve#Capture") == []
        assert "already captured" in result["messages"][0]

    async def test_gateway_confirmed_goes_through_delivered(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await authorized_payment(context, make, "TEST_DETAILS")
        context.gateway.statuses[payment_id] = "PmntConfirmed"
        result = await context.call_service(CAPTURE, {"paymentId": payment_id})
        payment = await make.get(payment_id)
        assert payment["statusId"] == "PmntConfirmed"
        assert payment["effectiveDate"] is not None and payment["settlementDate"] is not None
        assert context.gateway.calls_to("approve#Capture") == []
        # One message saying why capture stopped, not the details refresh's generic one as well.
        assert result["messages"] == [f"Payment {payment_id} was already captured and settled in the gateway"]

    @pytest.mark.parametrize("status", ["PmntDeclined", "PmntVoid"])
    async def test_gateway_declined_or_void_is_taken(
        self, context: MantleTestContext, make: PaymentMaker, status: str
    ) -> None:
        payment_id = await authorized_payment(context, make, "TEST_DETAILS")
        context.gateway.statuses[payment_id] = status
        await context.call_service(CAPTURE, {"paymentId": payment_id})
        assert (await make.get(payment_id))["statusId"] == status
        assert context.gateway.calls_to("approve#Capture") == []

    async def test_no_details_check_right_after_authorizing(
        self, context: MantleTestContext, make: PaymentMaker
    ) -> None:
        payment_id = await make.payment(paymentGatewayConfigId="TEST_DETAILS")
        await context.call_service(CAPTURE, {"paymentId": payment_id})
        assert [name.rsplit(".", 1)[1] for name, _ in context.gateway.calls] == ["approve#Authorize", "approve#Capture"]


async def test_release_returns_the_payment_to_promised(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await authorized_payment(context, make)
    result = await context.call_service(RELEASE, {"paymentId": payment_id})
    payment = await make.get(payment_id)
    assert payment["statusId"] == "PmntPromised"
    assert payment["paymentAuthCode"] is None and payment["paymentRefNum"] is None
    assert result["paymentGatewayResponseId"]
    assert context.gateway.calls_to("approve#Release") == [
        {"paymentId": payment_id, "paymentGatewayConfigId": "TEST_APPROVE"}
    ]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("PmntDelivered", "has been delivered (captured), so try a refund instead."),
        ("PmntConfirmed", "has been delivered (captured), so try a refund instead."),
        ("PmntPromised", "must be in the authorized status to release, but is PmntPromised"),
        ("PmntDeclined", "must be in the authorized status to release, but is PmntDeclined"),
    ],
)
async def test_release_in_a_wrong_status_is_an_error(
    context: MantleTestContext, make: PaymentMaker, status: str, message: str
) -> None:
    payment_id = await make.payment(status=status, paymentGatewayConfigId="TEST_APPROVE")
    with pytest.raises(ServiceError) as raised:
        await context.call_service(RELEASE, {"paymentId": payment_id})
    assert raised.value.messages == (f"Payment {payment_id} {message}",)
    assert (await make.get(payment_id))["statusId"] == status
    assert context.gateway.calls == []


async def test_release_without_a_release_service_is_skipped(context: MantleTestContext, make: PaymentMaker) -> None:
    payment_id = await make.payment(status="PmntAuthorized", paymentGatewayConfigId="TEST_AUTH_CAPTURE")
    result = await context.call_service(RELEASE, {"paymentId": payment_id})
    assert "has no release service" in result["messages"][0]
    assert (await make.get(payment_id))["statusId"] == "PmntAuthorized"
