"""PaymentIntents through the official SDK: create, confirm, capture, cancel, update, retrieve, list, search."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_emulator.control import EmulatorControl


async def test_create_without_confirm_waits_for_a_payment_method(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "metadata": {"orderId": "42"}, "description": "Order 42"}
    )
    assert intent.id.startswith("pi_")
    assert intent.object == "payment_intent"
    assert intent.status == "requires_payment_method"
    assert intent.livemode is False
    assert intent.metadata["orderId"] == "42"
    assert intent["client_secret"].startswith(f"{intent.id}_secret_")
    assert intent.created > 0
    assert intent.latest_charge is None


async def test_confirm_with_automatic_capture_succeeds(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async({"amount": 2500, "currency": "eur"})
    confirmed = await stripe_client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 2500
    assert confirmed.amount_capturable == 0
    assert isinstance(confirmed.latest_charge, str) and confirmed.latest_charge.startswith("ch_")
    assert confirmed["payment_method"].startswith("pm_") and confirmed["payment_method"] != "pm_card_visa"
    charge = await stripe_client.v1.charges.retrieve_async(confirmed["latest_charge"])
    assert charge.captured is True
    assert charge.amount_captured == 2500
    assert charge.payment_intent == intent.id
    card = charge["payment_method_details"]["card"]
    assert (card["brand"], card["last4"], card["checks"]["cvc_check"]) == ("visa", "4242", "pass")
    assert (charge["outcome"]["risk_level"], charge["outcome"]["type"]) == ("normal", "authorized")


async def test_manual_capture_partial_then_two_refunds_then_over_refund(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_mastercard",
            "confirm": True,
        }
    )
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == 1000
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    assert charge.captured is False
    assert charge["payment_method_details"]["card"]["capture_before"] == charge.created + 7 * 24 * 3600

    captured = await stripe_client.v1.payment_intents.capture_async(intent.id, {"amount_to_capture": 600})
    assert captured.status == "succeeded"
    assert captured.amount_received == 600
    assert captured.amount_capturable == 0
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    # basil+: the released 400 is no refund (changelog 2025-03-31.basil).
    assert (charge.captured, charge.amount_captured, charge.amount_refunded, charge.refunded) == (True, 600, 0, False)
    assert (await stripe_client.v1.refunds.list_async({"payment_intent": intent.id})).data == []

    first = await stripe_client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 200, "reason": "requested_by_customer", "metadata": {"n": "1"}}
    )
    second = await stripe_client.v1.refunds.create_async({"charge": charge.id, "amount": 200})
    assert first.id != second.id
    assert first.status == "succeeded" and first.reason == "requested_by_customer" and first["metadata"]["n"] == "1"
    assert second.payment_intent == intent.id
    # Refundable = amount_captured - amount_refunded = 600 - 400.
    with pytest.raises(stripe.InvalidRequestError) as over:
        await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 300})
    assert over.value.code == "amount_too_large"
    assert over.value.http_status == 400
    charge = await stripe_client.v1.charges.retrieve_async(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (400, False)
    last = await stripe_client.v1.refunds.create_async({"payment_intent": intent.id})
    assert last.amount == 200
    charge = await stripe_client.v1.charges.retrieve_async(charge.id)
    assert charge.refunded is True and charge.amount_refunded == 600
    assert "refunds" not in charge
    expanded = await stripe_client.v1.charges.retrieve_async(charge.id, {"expand": ["refunds"]})
    assert [r.amount for r in expanded["refunds"].data] == [200, 200, 200]
    with pytest.raises(stripe.InvalidRequestError) as again:
        await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"
    listed = await stripe_client.v1.refunds.list_async({"payment_intent": intent.id})
    assert [r.amount for r in listed.data] == [200, 200, 200]


async def test_capture_more_than_authorized_is_refused(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as error:
        await stripe_client.v1.payment_intents.capture_async(intent.id, {"amount_to_capture": 1001})
    assert error.value.code == "amount_too_large"
    assert (await stripe_client.v1.payment_intents.retrieve_async(intent.id)).status == "requires_capture"


async def test_refund_of_uncaptured_intent_is_refused(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1000,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as error:
        await stripe_client.v1.refunds.create_async({"payment_intent": intent.id})
    assert error.value.code == "payment_intent_unexpected_state"


async def test_cancel_releases_authorization_and_blocks_capture(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 1500,
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    canceled = await stripe_client.v1.payment_intents.cancel_async(
        intent.id, {"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert canceled.canceled_at is not None
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    # basil+: a released authorization is no refund (changelog 2025-03-31.basil).
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (0, 0, False)
    events = await stripe_client.v1.events.list_async({"type": "charge.refunded"})
    assert events.data == []
    with pytest.raises(stripe.InvalidRequestError) as error:
        await stripe_client.v1.payment_intents.capture_async(intent.id)
    assert error.value.code == "payment_intent_unexpected_state"
    body: Any = error.value.json_body
    assert body["error"]["payment_intent"]["status"] == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as twice:
        await stripe_client.v1.payment_intents.cancel_async(intent.id)
    assert twice.value.code == "payment_intent_unexpected_state"


async def test_wrong_transitions_give_unexpected_state(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    for call in (
        stripe_client.v1.payment_intents.confirm_async(intent.id),
        stripe_client.v1.payment_intents.capture_async(intent.id),
        stripe_client.v1.payment_intents.cancel_async(intent.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            await call
        assert error.value.code == "payment_intent_unexpected_state"
    fresh = await stripe_client.v1.payment_intents.create_async({"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as missing_pm:
        await stripe_client.v1.payment_intents.confirm_async(fresh.id)
    assert missing_pm.value.code == "payment_intent_unexpected_state"


async def test_requires_confirmation_then_confirm(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirmation_method": "manual"}
    )
    assert intent.status == "requires_confirmation"
    confirmed = await stripe_client.v1.payment_intents.confirm_async(intent.id)
    assert confirmed.status == "succeeded"


async def test_expand_latest_charge_and_update_metadata(stripe_client: stripe.StripeClient) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True, "metadata": {"a": "1"}}
    )
    expanded = await stripe_client.v1.payment_intents.retrieve_async(intent.id, {"expand": ["latest_charge"]})
    assert expanded["latest_charge"]["object"] == "charge"
    assert expanded["latest_charge"]["amount"] == 1000
    updated = await stripe_client.v1.payment_intents.update_async(
        intent.id, {"metadata": {"b": "2", "a": ""}, "description": "paid"}
    )
    assert updated.metadata.to_dict() == {"b": "2"}
    assert updated.description == "paid"
    with pytest.raises(stripe.InvalidRequestError) as error:
        await stripe_client.v1.payment_intents.retrieve_async(intent.id, {"expand": ["nonsense"]})
    assert error.value.param == "expand"


async def test_common_integration_parameters_are_accepted(stripe_client: stripe.StripeClient) -> None:
    customer = await stripe_client.v1.customers.create_async({"email": "shopper@example.com"})
    intent = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 4200,
            "currency": "usd",
            "customer": customer.id,
            "description": "Order 7",
            "statement_descriptor_suffix": "ORDER 7",
            "receipt_email": "shopper@example.com",
            "setup_future_usage": "off_session",
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": {"orderId": "7"},
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": "https://shop.example/return",
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "expand": ["latest_charge"],
        }
    )
    assert intent.status == "requires_capture"
    assert intent.statement_descriptor_suffix == "ORDER 7"
    assert intent.receipt_email == "shopper@example.com"
    assert intent["automatic_payment_methods"]["enabled"] is True
    pm = await stripe_client.v1.payment_methods.retrieve_async(intent["payment_method"])
    assert pm.customer == customer.id
    # Older integrations send payment_method_types: refused since 2026-09-30.endive (stripe_emulator.accepted).
    legacy: Any = {
        "amount": 500,
        "currency": "usd",
        "payment_method_types": ["card"],
        "off_session": True,
        "confirm": True,
        "payment_method": pm.id,
        "customer": customer.id,
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.payment_intents.create_async(legacy)
    assert refused.value.code == "payment_method_types_no_longer_supported"
    allowed = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 500,
            "currency": "usd",
            "allowed_payment_method_types": ["card"],
            "off_session": True,
            "confirm": True,
            "payment_method": pm.id,
            "customer": customer.id,
        }
    )
    assert allowed.status == "succeeded"
    assert allowed.payment_method_types == ["card"]
    assert allowed["allowed_payment_method_types"] == ["card"]
    with pytest.raises(stripe.InvalidRequestError) as exclusive:
        await stripe_client.v1.payment_intents.create_async(
            {
                "amount": 500,
                "currency": "usd",
                "allowed_payment_method_types": ["card"],
                "automatic_payment_methods": {"enabled": True},
            }
        )
    assert exclusive.value.param == "automatic_payment_methods"


async def test_unknown_and_missing_parameters(stripe_client: stripe.StripeClient) -> None:
    unknown_params: Any = {"amount": 1000, "currency": "usd", "colour": "blue"}
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await stripe_client.v1.payment_intents.create_async(unknown_params)
    assert unknown.value.code == "parameter_unknown"
    assert unknown.value.param == "colour"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        missing_params: Any = {"currency": "usd"}
        await stripe_client.v1.payment_intents.create_async(missing_params)
    assert missing.value.code == "parameter_missing"
    assert missing.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as nonexistent:
        await stripe_client.v1.payment_intents.retrieve_async("pi_doesnotexist")
    assert nonexistent.value.http_status == 404
    assert nonexistent.value.code == "resource_missing"


async def test_list_by_customer_and_search_by_metadata(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    customer = await stripe_client.v1.customers.create_async({"name": "Ada"})
    ids = []
    for order in ("1", "2", "3"):
        pi = await stripe_client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "usd", "customer": customer.id, "metadata": {"orderId": order}}
        )
        ids.append(pi.id)
    await stripe_client.v1.payment_intents.create_async({"amount": 1000, "currency": "usd"})
    listed = await stripe_client.v1.payment_intents.list_async({"customer": customer.id, "limit": 2})
    assert [p.id for p in listed.data] == [ids[2], ids[1]]
    assert listed.has_more is True
    rest = await stripe_client.v1.payment_intents.list_async({"customer": customer.id, "starting_after": ids[1]})
    assert [p.id for p in rest.data] == [ids[0]]
    # Search lags writes (docs.stripe.com/search, "Data freshness"): nothing yet, found once indexed.
    unindexed = await stripe_client.v1.payment_intents.search_async({"query": "metadata['orderId']:'2'"})
    assert unindexed.data == []
    await emulator_control.advance_clock(5)
    found = await stripe_client.v1.payment_intents.search_async({"query": "metadata['orderId']:'2'"})
    assert [p.id for p in found.data] == [ids[1]]
    both = await stripe_client.v1.payment_intents.search_async(
        {"query": "metadata['orderId']:'1' OR metadata['orderId']:'3'"}
    )
    assert {p.id for p in both.data} == {ids[0], ids[2]}


@pytest.mark.parametrize("refund_by", ["payment_intent", "charge"])
async def test_refund_of_a_disputed_charge_is_refused_and_changes_nothing(
    stripe_client: stripe.StripeClient, emulator_control: EmulatorControl, refund_by: str
) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    charge_id = intent["latest_charge"]
    await emulator_control.create_dispute(charge_id)
    with pytest.raises(stripe.InvalidRequestError) as error:
        if refund_by == "payment_intent":
            await stripe_client.v1.refunds.create_async({"payment_intent": intent.id})
        else:
            await stripe_client.v1.refunds.create_async({"charge": charge_id})
    assert error.value.code == "charge_disputed"
    assert error.value.param == "charge"
    assert charge_id in str(error.value.user_message)
    charge = await stripe_client.v1.charges.retrieve_async(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert (await stripe_client.v1.refunds.list_async({"charge": charge_id})).data == []
