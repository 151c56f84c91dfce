"""StripeGateway + operations against the project's Stripe emulator, over real HTTP through the Stripe SDK."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.money import AmountNotRepresentable
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import (
    SETTLEMENT_EXPAND,
    PaymentIntentRequest,
    StripeIntegrityError,
    cancel_payment_intent,
    capture_payment_intent,
    create_payment_intent,
    create_refund,
    list_refunds,
    metadata_value,
    retrieve_payment_intent,
)
from service.stripe_gateway.outcome import (
    StripeRequestRejected,
    gateway_payment_status,
    outcome_from_error,
    outcome_from_payment_intent,
    outcome_from_refund,
)
from stripe_emulator.control import EmulatorControl

CONFIG_ID = "StripeGatewayTest"
SECRET_KEY = "sk_test_moqui_stripe_gateway_tests"
_payment_numbers = itertools.count(1)


def gateway_for(url: str, *, retries: int = 2) -> StripeGateway:
    return StripeGateway(
        CONFIG_ID, StripeAccountSettings(secret_key=SECRET_KEY, api_base=url, max_network_retries=retries)
    )


@pytest.fixture
async def gateway(stripe_emulator_url: str) -> AsyncIterator[StripeGateway]:
    stripe_gateway = gateway_for(stripe_emulator_url)
    yield stripe_gateway
    await stripe_gateway.close()


@pytest.fixture
def payment_id(request: pytest.FixtureRequest) -> str:
    """A payment id no other test uses (the emulator may be shared by the whole session)."""
    return f"SG{next(_payment_numbers)}-{request.node.name[:20]}"


def key(payment_id: str, operation: str, attempt: int = 0, intent: str | None = None) -> str:
    """A distinct key per call these tests make (the wrappers take any key; the journal makes the real ones)."""
    return f"moqui-stripe-test/{payment_id}/{operation}/{intent or '-'}/{attempt}"


async def find_payment_intents(gateway: StripeGateway, payment_id: str) -> list[stripe.PaymentIntent]:
    """The PaymentIntents made for a payment, newest first, by listing (as an operator would; never Stripe's search)."""
    page = await gateway.client.v1.payment_intents.list_async({"limit": 100})
    found = [intent async for intent in page.auto_paging_iter() if metadata_value(intent, "paymentId") == payment_id]
    return sorted(found, key=lambda intent: intent.created, reverse=True)


def card_payment(payment_id: str, payment_method: str = "pm_card_visa", **changes: Any) -> PaymentIntentRequest:
    values: dict[str, Any] = {
        "payment_id": payment_id,
        "amount": Decimal("10.0000"),  # as Moqui sends it
        "currency": "USD",
        "capture_method": "manual",
        "payment_method": payment_method,
        "order_id": "ORD-1",
        "description": "Order ORD-1",
    }
    values.update(changes)
    return PaymentIntentRequest(**values)


async def test_authorize_capture_partially_then_refund_twice(gateway: StripeGateway, payment_id: str) -> None:
    intent = await create_payment_intent(
        gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize")
    )
    assert intent.value("status") == "requires_capture"
    assert intent.value("amount") == 1000
    assert intent.value("currency") == "usd"
    assert intent.value("metadata")["paymentId"] == payment_id
    assert intent.value("metadata")["orderId"] == "ORD-1"
    assert intent.value("metadata")["paymentGatewayConfigId"] == CONFIG_ID
    authorized = outcome_from_payment_intent(intent.values, GatewayOperation.AUTHORIZE)
    assert authorized.result_success
    assert authorized.reference_num == intent.id
    assert authorized.alt_reference is not None and authorized.alt_reference.startswith("ch_")
    assert authorized.amount == Decimal("10.00")
    assert gateway_payment_status(await retrieve_payment_intent(gateway, intent.id)).status_id == "PmntAuthorized"

    captured = await capture_payment_intent(
        gateway,
        intent.id,
        amount=Decimal("6.00"),
        currency="USD",
        idempotency_key=key(payment_id, "capture", intent=intent.id),
    )
    assert captured.value("status") == "succeeded"
    assert captured.value("amount_received") == 600
    capture_outcome = outcome_from_payment_intent(captured.values, GatewayOperation.CAPTURE)
    assert capture_outcome.result_success
    assert capture_outcome.amount == Decimal("6.00")
    status = gateway_payment_status(await retrieve_payment_intent(gateway, intent.id))
    assert status.status_id == "PmntDelivered"
    assert status.effective_date is not None

    # Two equal partial refunds are two refunds: distinct attempt numbers, distinct keys.
    refunds = [
        await create_refund(
            gateway,
            intent.id,
            amount=Decimal("2.50"),
            currency="USD",
            payment_id=payment_id,
            idempotency_key=key(payment_id, "refund", attempt, intent.id),
        )
        for attempt in (0, 1)
    ]
    assert refunds[0].id != refunds[1].id
    outcomes = [outcome_from_refund(refund.values) for refund in refunds]
    assert all(outcome.result_success for outcome in outcomes)
    assert [outcome.amount for outcome in outcomes] == [Decimal("2.50"), Decimal("2.50")]
    assert outcomes[0].reference_num == intent.id
    listed = await list_refunds(gateway, intent.id)
    assert {refund.id for refund in listed} == {refund.id for refund in refunds}

    # A repeated refund call (same attempt) is answered with the same refund, not a third one.
    again = await create_refund(
        gateway,
        intent.id,
        amount=Decimal("2.50"),
        currency="USD",
        payment_id=payment_id,
        idempotency_key=key(payment_id, "refund", 1, intent.id),
    )
    assert again.id == refunds[1].id
    assert len(await list_refunds(gateway, intent.id)) == 2


async def test_release_cancels_the_authorization(gateway: StripeGateway, payment_id: str) -> None:
    intent = await create_payment_intent(
        gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize")
    )
    canceled = await cancel_payment_intent(
        gateway, intent.id, idempotency_key=key(payment_id, "release", intent=intent.id)
    )
    assert canceled.value("status") == "canceled"
    assert outcome_from_payment_intent(canceled.values, GatewayOperation.RELEASE).result_success
    assert gateway_payment_status(canceled.values).status_id == "PmntVoid"


async def test_expired_authorization_is_promised_again(
    gateway: StripeGateway, emulator_control: EmulatorControl, payment_id: str
) -> None:
    intent = await create_payment_intent(
        gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize")
    )
    await emulator_control.advance_clock(8 * 24 * 3600)  # past the 7-day card authorization window
    expired = await retrieve_payment_intent(gateway, intent.id)
    assert expired.status == "canceled"
    assert gateway_payment_status(expired).status_id == "PmntPromised"


async def test_completed_3ds_gives_an_authorization(
    gateway: StripeGateway, emulator_control: EmulatorControl, payment_id: str
) -> None:
    request = card_payment(payment_id, "pm_card_authenticationRequired")
    intent = await create_payment_intent(gateway, request, idempotency_key=key(payment_id, "authorize"))
    await emulator_control.complete_3ds(intent.id)
    authorized = await retrieve_payment_intent(gateway, intent.id)
    assert outcome_from_payment_intent(authorized, GatewayOperation.AUTHORIZE).result_success
    assert gateway_payment_status(authorized).status_id == "PmntAuthorized"


async def test_automatic_capture_in_a_zero_decimal_currency(gateway: StripeGateway, payment_id: str) -> None:
    request = card_payment(payment_id, amount=Decimal("1500.0000"), currency="JPY", capture_method="automatic")
    intent = await create_payment_intent(gateway, request, idempotency_key=key(payment_id, "authorizeAndCapture"))
    assert intent.value("amount") == 1500
    assert intent.value("currency") == "jpy"
    outcome = outcome_from_payment_intent(intent.values, GatewayOperation.AUTHORIZE_AND_CAPTURE)
    assert outcome.result_success
    assert outcome.amount == Decimal("1500")
    assert outcome.currency == "JPY"


@pytest.mark.usefixtures("search_indexed_at_once")  # finds the new PaymentIntent by search at once
@pytest.mark.parametrize(
    ("payment_method", "flags", "reason_code"),
    [
        ("pm_card_visa_chargeDeclined", {"result_declined"}, "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", {"result_declined", "result_nsf"}, "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", {"result_declined", "result_bad_expire"}, "expired_card"),
        ("pm_card_chargeDeclinedProcessingError", {"result_error"}, "processing_error"),
    ],
)
async def test_declines_are_mapped(
    gateway: StripeGateway, payment_id: str, payment_method: str, flags: set[str], reason_code: str
) -> None:
    with pytest.raises(stripe.CardError) as raised:
        await create_payment_intent(
            gateway, card_payment(payment_id, payment_method), idempotency_key=key(payment_id, "authorize")
        )
    outcome = outcome_from_error(raised.value)
    names = ("result_success", "result_declined", "result_error", "result_nsf", "result_bad_expire")
    assert {name for name in names if getattr(outcome, name)} == flags
    assert outcome.reason_code == reason_code
    assert outcome.reference_num is not None and outcome.reference_num.startswith("pi_")
    assert outcome.reason_message is not None and "secret" not in outcome.reason_message
    # The PaymentIntent the decline left behind is findable for the next attempt.
    found = await find_payment_intents(gateway, payment_id)
    assert [intent.id for intent in found] == [outcome.reference_num]
    expected_status = "PmntDeclined" if "result_declined" in flags else "PmntPromised"
    assert gateway_payment_status(found[0]).status_id == expected_status


async def test_off_session_authentication_required_is_a_decline(gateway: StripeGateway, payment_id: str) -> None:
    request = card_payment(payment_id, "pm_card_authenticationRequired", off_session=True)
    with pytest.raises(stripe.CardError) as raised:
        await create_payment_intent(gateway, request, idempotency_key=key(payment_id, "authorize"))
    outcome = outcome_from_error(raised.value)
    assert outcome.result_declined
    assert outcome.reason_code == "authentication_required"


async def test_requires_action_depends_on_whether_the_customer_can_act(gateway: StripeGateway, payment_id: str) -> None:
    request = card_payment(payment_id, "pm_card_authenticationRequired")
    intent = await create_payment_intent(gateway, request, idempotency_key=key(payment_id, "authorize"))
    assert intent.value("status") == "requires_action"
    assert outcome_from_payment_intent(intent.values, GatewayOperation.AUTHORIZE).result_declined
    pending = outcome_from_payment_intent(intent.values, GatewayOperation.AUTHORIZE, customer_can_authenticate=True)
    assert pending.pending
    assert gateway_payment_status(intent.values).status_id == "PmntPromised"


@pytest.mark.usefixtures("search_indexed_at_once")  # finds the new PaymentIntent by search at once
async def test_repeated_create_returns_the_same_payment_intent(gateway: StripeGateway, payment_id: str) -> None:
    first = await create_payment_intent(gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize"))
    second = await create_payment_intent(
        gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize")
    )
    assert second.id == first.id
    assert [intent.id for intent in await find_payment_intents(gateway, payment_id)] == [first.id]


async def test_same_key_with_other_parameters_is_rejected(gateway: StripeGateway, payment_id: str) -> None:
    await create_payment_intent(gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize"))
    with pytest.raises(StripeRequestRejected) as rejected:
        await create_payment_intent(
            gateway, card_payment(payment_id, amount=Decimal("11.00")), idempotency_key=key(payment_id, "authorize")
        )
    assert rejected.value.code == "idempotency_error"


@pytest.mark.usefixtures("search_indexed_at_once")  # finds the new PaymentIntent by search at once
async def test_lost_response_is_replayed_not_charged_twice(
    stripe_emulator_url: str, emulator_control: EmulatorControl, payment_id: str
) -> None:
    # Stripe's side runs, the answer is lost; the SDK retries with the same key and gets the stored answer.
    await emulator_control.add_fault("/v1/payment_intents", "lose_response", method="POST")
    gateway = gateway_for(stripe_emulator_url, retries=2)
    try:
        intent = await create_payment_intent(
            gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize")
        )
        assert intent.value("status") == "requires_capture"
        assert [found.id for found in await find_payment_intents(gateway, payment_id)] == [intent.id]
    finally:
        await gateway.close()


async def test_outage_without_retries_is_an_error_outcome(
    stripe_emulator_url: str, emulator_control: EmulatorControl, payment_id: str
) -> None:
    await emulator_control.add_fault("/v1/payment_intents", "error", method="POST", status=503)
    gateway = gateway_for(stripe_emulator_url, retries=0)
    try:
        with pytest.raises(stripe.APIError) as raised:
            await create_payment_intent(gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize"))
    finally:
        await gateway.close()
    outcome = outcome_from_error(raised.value)
    assert outcome.result_error and not outcome.result_declined
    assert outcome.response_code == "api_error"


async def test_bad_requests_are_rejected_with_a_typed_error(gateway: StripeGateway, payment_id: str) -> None:
    with pytest.raises(StripeRequestRejected) as rejected:
        await retrieve_payment_intent(gateway, "pi_does_not_exist")
    assert rejected.value.http_status == 404
    intent = await create_payment_intent(
        gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize")
    )
    with pytest.raises(StripeRequestRejected):
        await capture_payment_intent(
            gateway,
            intent.id,
            amount=Decimal("20.00"),  # more than was authorized
            currency="USD",
            idempotency_key=key(payment_id, "capture", intent=intent.id),
        )


async def test_unrepresentable_amount_never_reaches_stripe(gateway: StripeGateway, payment_id: str) -> None:
    with pytest.raises(AmountNotRepresentable):
        await create_payment_intent(
            gateway, card_payment(payment_id, amount=Decimal("10.005")), idempotency_key=key(payment_id, "authorize")
        )
    assert await find_payment_intents(gateway, payment_id) == []


async def test_settlement_expansion(gateway: StripeGateway, payment_id: str) -> None:
    request = card_payment(payment_id, capture_method="automatic")
    intent = await create_payment_intent(gateway, request, idempotency_key=key(payment_id, "authorizeAndCapture"))
    try:
        detailed = await retrieve_payment_intent(gateway, intent.id, expand=SETTLEMENT_EXPAND)
    except StripeRequestRejected as rejected:
        pytest.skip(f"the emulator does not expand latest_charge.balance_transaction yet: {rejected.message}")
    assert gateway_payment_status(detailed).status_id in {"PmntDelivered", "PmntConfirmed"}


# --- integrity: a Stripe answer that does not match the request ----------------------------------------------------


@pytest.fixture
async def tampering_url(stripe_emulator_url: str) -> AsyncIterator[str]:
    """A proxy in front of the emulator that adds one minor unit to every `amount` it passes back."""
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        async with session.request(
            request.method, f"{stripe_emulator_url}{request.path_qs}", data=await request.read(), headers=headers
        ) as upstream:
            body = await upstream.json()
            if isinstance(body.get("amount"), int):
                body["amount"] += 1
            return web.Response(status=upstream.status, text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", forward)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()
    await session.close()


async def test_mismatched_echo_raises_an_integrity_error(tampering_url: str, payment_id: str) -> None:
    gateway = gateway_for(tampering_url)
    try:
        with pytest.raises(StripeIntegrityError) as mismatch:
            await create_payment_intent(gateway, card_payment(payment_id), idempotency_key=key(payment_id, "authorize"))
    finally:
        await gateway.close()
    assert mismatch.value.field_name == "amount"
    assert mismatch.value.expected == 1000
    assert mismatch.value.actual == 1001
