"""Orders placed through Mantle's REST paths (place#Order authorizing through the product store's gateway), and
amounts in currencies whose minor unit is not a hundredth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from moqui_bridge.mantle import names
from tests.standalone.conftest import CONFIG_ID, STORE, StandaloneWorld, flags_set, only


async def _store_uses_stripe(world: StandaloneWorld) -> None:
    # Operator data: the store's card payments go through StripeGateway.
    await world.entity.store(
        names.STORE_GATEWAY,
        {"productStoreId": STORE, "paymentInstrumentEnumId": "PiCreditCard", "paymentGatewayConfigId": CONFIG_ID},
    )


async def test_place_order_with_a_store_authorizes_its_payment(world: StandaloneWorld) -> None:
    await _store_uses_stripe(world)
    order_id, part_seq_id = await world.create_order("64.00", product_store_id=STORE)
    # The method names no gateway: the store's gateway for credit cards is the one Mantle must pick.
    method_id = await world.create_payment_method("pm_card_visa", config_id=None)
    payment_id = await world.add_payment(order_id, part_seq_id, method_id)
    assert await world.status(payment_id) == "PmntPromised"
    assert (await world.order(order_id))["statusId"] == "OrderOpen"

    placed = await world.integrator.ok("POST", f"/orders/{order_id}/place")
    assert (placed["statusId"], placed["statusChanged"], placed["authFailed"]) == ("OrderPlaced", True, False)
    assert placed["totalAuthorized"] == Decimal("64.00")

    order = await world.order(order_id)
    assert order["statusId"] == "OrderPlaced" and "placedDate" in order
    assert [part["statusId"] for part in order["parts"]] == ["OrderPlaced"]
    payment = await world.payment(payment_id)
    assert (payment["statusId"], payment["paymentGatewayConfigId"]) == ("PmntAuthorized", CONFIG_ID)
    assert flags_set(only(payment["paymentGatewayResponses"], "PgoAuthorize")) == {"resultSuccess"}
    intent = await world.only_intent(payment_id)
    assert (intent.status, intent.amount, intent.metadata["orderId"]) == ("requires_capture", 6400, order_id)

    # Placing again changes nothing and authorizes nothing more.
    again = await world.integrator.ok("POST", f"/orders/{order_id}/place")
    assert (again["statusId"], again["statusChanged"]) == ("OrderPlaced", False)
    assert await world.operations(payment_id) == ["PgoAuthorize"]
    assert len(await world.intents(payment_id)) == 1


async def test_place_order_with_a_declined_card_places_it_and_reports_the_failure(world: StandaloneWorld) -> None:
    await _store_uses_stripe(world)
    payment_id = await world.new_payment(
        "20.00", card="pm_card_visa_chargeDeclinedInsufficientFunds", config_id=None, product_store_id=STORE
    )
    order_id = str((await world.payment(payment_id))["orderId"])

    placed = await world.integrator.ok("POST", f"/orders/{order_id}/place")
    # A decline is the card's answer, not an error: the order is placed and the caller told why it is unpaid.
    assert (placed["statusId"], placed["authFailed"], placed["totalAuthorized"]) == ("OrderPlaced", True, 0)
    assert f"Payment {payment_id} has insufficient funds" in placed["messages"]
    assert await world.status(payment_id) == "PmntDeclined"
    assert (await world.order(order_id))["statusId"] == "OrderPlaced"


async def test_place_order_without_a_store_does_not_authorize(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("20.00")
    order_id = str((await world.payment(payment_id))["orderId"])

    placed = await world.integrator.ok("POST", f"/orders/{order_id}/place")
    assert (placed["statusId"], placed["statusChanged"]) == ("OrderPlaced", True)
    assert "authFailed" not in placed  # Mantle returns at once for an order with no store
    assert await world.status(payment_id) == "PmntPromised"
    assert await world.responses(payment_id) == []
    assert await world.intents(payment_id) == []


@pytest.mark.parametrize(
    ("currency", "total", "minor_total", "refund", "minor_refund"),
    [
        ("JPY", "1500", 1500, "500", 500),  # zero-decimal: the minor unit is the yen
        ("KWD", "12.340", 12340, "1.250", 1250),  # three decimals (card amounts end in 0)
    ],
)
async def test_currency_amounts_convert_to_stripe_minor_units(
    world: StandaloneWorld, currency: str, total: str, minor_total: int, refund: str, minor_refund: int
) -> None:
    payment_id = await world.new_payment(total, currency=currency)

    await world.gateway_call("authorize", payment_id)
    assert await world.status(payment_id) == "PmntAuthorized"
    intent = await world.only_intent(payment_id)
    assert (intent.amount, intent.currency) == (minor_total, currency.lower())

    await world.gateway_call("capture", payment_id)
    assert await world.status(payment_id) == "PmntDelivered"
    refunded = await world.gateway_call("refund", payment_id, Decimal(refund))
    assert await world.status(payment_id) == "PmntDelivered"
    refund_payment = await world.payment(refunded["refundPaymentId"])
    assert (refund_payment["amount"], refund_payment["amountUomId"]) == (Decimal(refund), currency)

    assert [r.amount for r in await world.refunds(intent.id)] == [minor_refund]
    responses = await world.responses(payment_id)
    # The PGRs carry Moqui's amounts in the payment's currency, converted back from Stripe's minor units.
    assert [(row["paymentOperationEnumId"], row["amount"], row["amountUomId"]) for row in responses] == [
        ("PgoAuthorize", Decimal(total), currency),
        ("PgoCapture", Decimal(total), currency),
        ("PgoRefund", Decimal(refund), currency),
    ]


@pytest.mark.parametrize(
    ("currency", "amount"),
    [("JPY", "100.50"), ("KWD", "1.255"), ("USD", "10.005")],
)
async def test_amount_the_currency_cannot_represent_is_refused(
    world: StandaloneWorld, currency: str, amount: str
) -> None:
    payment_id = await world.new_payment(amount, currency=currency)
    before = await world.snapshot(payment_id)

    message = await world.gateway_refused("authorize", payment_id)
    assert currency in message or amount in message
    assert await world.snapshot(payment_id) == before
    assert await world.status(payment_id) == "PmntPromised"
    assert await world.intents(payment_id) == []


async def test_partial_capture_the_currency_cannot_represent_is_refused(world: StandaloneWorld) -> None:
    payment_id = await world.new_payment("10.00")
    await world.gateway_call("authorize", payment_id)
    before = await world.snapshot(payment_id)

    await world.gateway_refused("capture", payment_id, Decimal("5.005"))
    assert await world.snapshot(payment_id) == before
    assert await world.status(payment_id) == "PmntAuthorized"
    assert (await world.only_intent(payment_id)).status == "requires_capture"
