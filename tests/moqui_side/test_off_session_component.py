"""Issue 13 item 4, the component's side: authorize#Payment with a card saved to the party's Stripe Customer
(PaymentMethod.gatewayCimId, Party.gatewayCimId) is charged off-session; a card that needs the customer's
authentication (4000002760003184, docs.stripe.com/testing: off-session payments with it are declined
`authentication_required`) is a committed declined PGR and the service's `recoveryUrl` comes out of the service;
stripe.StripeGatewayServices.get#RecoveryUrl makes a fresh one; once the customer completed the payment through the
link, Mantle's next authorization continues the same PaymentIntent and finds it authorized: one PaymentIntent, nothing
charged twice."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import aiohttp

from moqui_bridge.entity import EntityFacade
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from stripe_emulator.control import EmulatorControl
from tests.fixtures.moqui import STRIPE_SECRET_KEY
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.moqui_database import CUSTOMER, add_card_payment

SERVICES = "stripe.StripePaymentServices."
RECOVERY_URL = "stripe.StripeGatewayServices.get#RecoveryUrl"
PGR = "mantle.account.method.PaymentGatewayResponse"


async def _saved_card(emulator_url: str, facade: EntityFacade, number: str) -> str:
    """A card saved to the customer party's Stripe Customer (Party.gatewayCimId); the PaymentMethod id."""
    gateway = StripeGateway("test", StripeAccountSettings(STRIPE_SECRET_KEY, api_base=emulator_url))
    try:
        customer = await gateway.client.v1.customers.create_async({"name": "Moqui customer"})
        method = await gateway.client.v1.payment_methods.create_async(
            {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
        )
        await gateway.client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    finally:
        await gateway.close()
    await facade.update("mantle.party.Party", {"partyId": CUSTOMER}, {"gatewayCimId": customer.id})
    return str(method.id)


async def test_authentication_required_recovered_through_the_link_then_recorded_by_mantles_retry(
    moqui: MoquiHarness,
    moqui_facade: EntityFacade,
    stripe_emulator_url: str,
    stripe_service_url: str,
    emulator_control: EmulatorControl,
) -> None:
    card = await _saved_card(stripe_emulator_url, moqui_facade, "4000002760003184")
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method=card, amount=Decimal("30.00"))
    parameters = {"paymentId": payment_id, "paymentGatewayConfigId": "StripeGateway"}

    declined = await moqui.call(SERVICES + "authorize#Payment", parameters)
    assert declined.committed and declined.out is not None, declined
    [pgr] = await moqui_facade.find(PGR, {"paymentId": payment_id})
    assert (pgr["resultDeclined"], pgr["reasonCode"]) == ("Y", "authentication_required")
    link = str(declined.out["recoveryUrl"])
    assert parse_qs(urlsplit(link).query)["paymentIntentId"] == [pgr["referenceNum"]]

    fresh = await moqui.call(RECOVERY_URL, {"paymentId": payment_id})
    assert fresh.errors == [] and fresh.out is not None, fresh
    assert parse_qs(urlsplit(str(fresh.out["recoveryUrl"])).query)["paymentIntentId"] == [pgr["referenceNum"]]

    # The customer opens the link and pays with the saved card, answering the bank's challenge.
    signed = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
    async with aiohttp.ClientSession() as browser:
        async with browser.post(
            f"{stripe_service_url}/stripe/Recover/confirm", data=signed, allow_redirects=False
        ) as confirmed:
            assert confirmed.status == 303, await confirmed.text()
            challenge = confirmed.headers["Location"]
        async with browser.post(challenge, data={"outcome": "succeed"}, allow_redirects=False) as answered:
            assert answered.status == 303

    again = await moqui.call(SERVICES + "authorize#Payment", parameters)
    assert again.committed and again.out is not None and again.out.get("recoveryUrl") is None, again
    [_, recorded] = await moqui_facade.find(PGR, {"paymentId": payment_id}, order_by=["paymentGatewayResponseId"])
    assert (recorded["resultSuccess"], recorded["referenceNum"]) == ("Y", pgr["referenceNum"])
    assert (await emulator_control.stats())["objects"]["payment_intent"] == 1


async def test_no_recovery_link_for_a_payment_without_a_declined_authorization(
    moqui: MoquiHarness, moqui_facade: EntityFacade
) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("5.00"))
    refused = await moqui.call(RECOVERY_URL, {"paymentId": payment_id})
    assert not refused.committed
    assert refused.errors == [f"Payment {payment_id} has no declined authorization for the customer to complete"]
