"""Amounts by currency, and bad requests refused with a Moqui error that names the problem and writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.payment_services.conftest import CONFIG_ID, Harness


async def test_zero_decimal_currency(harness: Harness) -> None:
    payment_id = await harness.add_payment("1500", currency="JPY")
    await harness.ok("authorize#Payment", payment_id)
    intent = await harness.only_intent(payment_id)
    assert (intent.amount, intent.currency) == (1500, "jpy")
    captured = await harness.ok("capture#Payment", payment_id, Decimal("1000.0000"))
    pgr = await harness.pgr(captured["paymentGatewayResponseId"])
    assert pgr["amount"] == Decimal("1000") and pgr["amountUomId"] == "JPY"
    assert (await harness.only_intent(payment_id)).amount_received == 1000


async def test_three_decimal_currency(harness: Harness) -> None:
    payment_id = await harness.add_payment("12.340", currency="KWD")
    authorized = await harness.ok("authorize#Payment", payment_id)
    assert (await harness.pgr(authorized["paymentGatewayResponseId"]))["amount"] == Decimal("12.340")
    assert (await harness.only_intent(payment_id)).amount == 12340
    message = await harness.error("capture#Payment", payment_id, Decimal("1.2345"))
    assert "KWD" in message and "cannot be charged by Stripe" in message
    captured = await harness.ok("capture#Payment", payment_id, Decimal("10.5000"))
    assert (await harness.pgr(captured["paymentGatewayResponseId"]))["amount"] == Decimal("10.500")
    assert (await harness.only_intent(payment_id)).amount_received == 10500


@pytest.mark.parametrize(("amount", "currency"), [("10.005", "USD"), ("100.5", "JPY"), ("1.235", "KWD")])
async def test_unrepresentable_payment_amount_is_refused(harness: Harness, amount: str, currency: str) -> None:
    payment_id = await harness.add_payment(amount, currency=currency)
    message = await harness.error("authorize#Payment", payment_id)
    assert payment_id in message and currency in message and "cannot be charged by Stripe" in message
    assert await harness.pgrs(payment_id) == [] and await harness.journal(payment_id) == []
    assert await harness.intents(payment_id) == []


async def test_bad_requests_name_the_problem_and_write_nothing(harness: Harness) -> None:
    payment_id = await harness.add_payment("50.00")
    assert "Payment NOPE not found" in await harness.error("authorize#Payment", "NOPE")
    answer = await harness.rpc(
        "stripe.StripePaymentServices.authorize#Payment",
        {"cardSecurityCode": None, "paymentGatewayConfigId": "NoSuchConfig", "paymentId": payment_id},
    )
    assert "NoSuchConfig not found" in answer["error"]["message"]
    answer = await harness.rpc(
        "stripe.StripePaymentServices.authorize#Payment",
        {"cardSecurityCode": None, "paymentGatewayConfigId": "UnconfiguredStripe", "paymentId": payment_id},
    )
    assert "UnconfiguredStripe has no Stripe credentials" in answer["error"]["message"]
    answer = await harness.rpc(
        "stripe.StripePaymentServices.capture#Payment", {"amount": Decimal("1.00"), "paymentId": payment_id}
    )
    assert "Payment Gateway Config ID" in answer["error"]["message"]  # Moqui's required-parameter message
    # Operations that need an authorization first.
    assert "no Stripe authorization to capture" in await harness.error("capture#Payment", payment_id, Decimal("1.00"))
    assert "no Stripe authorization to release" in await harness.error("release#Payment", payment_id)
    assert "no Stripe payment to refund" in await harness.error("refund#Payment", payment_id, Decimal("1.00"))
    assert await harness.pgrs(payment_id) == [] and await harness.journal(payment_id) == []

    await harness.ok("authorize#Payment", payment_id)
    before = len(await harness.pgrs(payment_id))
    assert "only 50.00 USD is authorized" in await harness.error("capture#Payment", payment_id, Decimal("50.01"))
    assert "greater than zero" in await harness.error("capture#Payment", payment_id, Decimal("0"))
    assert "has not been captured" in await harness.error("refund#Payment", payment_id, Decimal("1.00"))
    assert len(await harness.pgrs(payment_id)) == before
    assert (await harness.only_intent(payment_id)).status == "requires_capture"


async def test_currency_the_gateway_does_not_take(harness: Harness) -> None:
    await harness.entity.store(
        "stripe.StripeGatewaySettings", {"paymentGatewayConfigId": CONFIG_ID, "currencyUomIds": "USD, EUR"}
    )
    payment_id = await harness.add_payment("10.00", currency="GBP")
    message = await harness.error("authorize#Payment", payment_id)
    assert "GBP" in message and "only takes EUR, USD" in message
    assert await harness.intents(payment_id) == []


@pytest.mark.parametrize("status_id", ["PmntCancelled", "PmntVoid"])
async def test_payment_in_a_dead_status_is_refused(harness: Harness, status_id: str) -> None:
    payment_id = await harness.add_payment("10.00", status_id=status_id)
    assert status_id in await harness.error("authorize#Payment", payment_id)
    assert await harness.pgrs(payment_id) == [] and await harness.intents(payment_id) == []


async def test_captured_payment_cannot_be_released(harness: Harness) -> None:
    payment_id = await harness.add_payment("10.00")
    await harness.ok("authorizeAndCapture#Payment", payment_id)
    before = len(await harness.pgrs(payment_id))
    assert "refund it instead" in await harness.error("release#Payment", payment_id)
    assert len(await harness.pgrs(payment_id)) == before
