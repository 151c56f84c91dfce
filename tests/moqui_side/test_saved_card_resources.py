"""The component's saved-card resources, as the service's RemotePartyCards calls them: a Moqui stand-in whose routes
are moqui-stripe.rest.xml and whose services are the component's XML (stripe.StripeSavedCardServices) run by the
harness on Mantle's schema, Mantle's PaymentMethodServices by the stand-ins of tests/moqui_harness/mantle_services.py.
Each test asserts the exact requests Moqui received and the rows it ends up with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from moqui_bridge.component.writer import TEMPLATE_ROOT
from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.party_cards import PartyContact, SavedCard, SavedCardChange
from moqui_bridge.mantle.remote_party_cards import RemotePartyCards
from moqui_bridge.moqui_rest_client import MoquiBadRequestError, MoquiRestClient
from service.saved_cards.customers import CustomerOwner, find_or_create_customer
from tests.moqui_harness.mantle_services import MANTLE_SERVICES
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.moqui_database import CUSTOMER
from tests.moqui_harness.moqui_rest import MoquiRestStandIn, moqui_rest_app
from tests.standalone.conftest import StandaloneWorld, world

__all__ = ["world"]  # the standalone world's fixture: its service context makes the Customer

REST_FILE = TEMPLATE_ROOT / "service" / "moqui-stripe.rest.xml"
MOQUI_USER_KEY = "the-service-logs-in-to-moqui-with-this"
PAYMENT_METHOD = "mantle.account.method.PaymentMethod"
CREDIT_CARD = "mantle.account.method.CreditCard"


@dataclass
class MoquiCards:
    stand_in: MoquiRestStandIn
    cards: RemotePartyCards
    facade: EntityFacade

    def requests(self) -> list[tuple[str, str, Any]]:
        return [(r.method, r.path, r.body) for r in self.stand_in.requests]


@pytest.fixture
async def moqui_cards(moqui: MoquiHarness, moqui_facade: EntityFacade) -> AsyncIterator[MoquiCards]:
    moqui.actions.mantle_services.update(MANTLE_SERVICES)
    stand_in = moqui_rest_app(REST_FILE, moqui, api_key=MOQUI_USER_KEY)
    server = TestServer(stand_in.app, host="127.0.0.1")
    await server.start_server()
    client = MoquiRestClient(str(server.make_url("")), api_key=MOQUI_USER_KEY, max_attempts=1)
    try:
        yield MoquiCards(stand_in, RemotePartyCards(client), moqui_facade)
    finally:
        await client.close()
        await server.close()


async def _person(facade: EntityFacade, email: str | None) -> None:
    await facade.create("mantle.party.Person", {"partyId": CUSTOMER, "firstName": "Joe", "lastName": "Public"})
    if email is not None:
        await facade.create(
            "mantle.party.contact.ContactMech",
            {"contactMechId": "JqpEmail", "contactMechTypeEnumId": "CmtEmailAddress", "infoString": email},
        )
        await facade.create(
            "mantle.party.contact.PartyContactMech",
            {
                "partyId": CUSTOMER,
                "contactMechId": "JqpEmail",
                "contactMechPurposeId": "EmailPrimary",
                "fromDate": datetime(2026, 1, 1),
            },
        )


async def test_party_contact_and_customer_id(moqui_cards: MoquiCards) -> None:
    await _person(moqui_cards.facade, "joe@example.com")
    contact = await moqui_cards.cards.party_contact(CUSTOMER)
    assert contact == PartyContact(CUSTOMER, "Joe Public", "joe@example.com", None)
    assert await moqui_cards.cards.party_contact("NoSuchParty") is None

    kept = await moqui_cards.cards.keep_party_customer(CUSTOMER, "StripeGateway", "cus_first")
    # A second Customer never replaces the first: Mantle's gatewayCimId wins.
    again = await moqui_cards.cards.keep_party_customer(CUSTOMER, "StripeGateway", "cus_second")
    assert (kept, again) == ("cus_first", "cus_first")
    party = await moqui_cards.facade.find_one("mantle.party.Party", {"partyId": CUSTOMER})
    assert party is not None and party["gatewayCimId"] == "cus_first"
    path = f"/rest/s1/moqui-stripe/parties/{CUSTOMER}/stripeCustomer"
    assert moqui_cards.requests() == [
        ("GET", path, None),
        ("GET", "/rest/s1/moqui-stripe/parties/NoSuchParty/stripeCustomer", None),
        ("POST", path, {"customerId": "cus_first", "paymentGatewayConfigId": "StripeGateway"}),
        ("POST", path, {"customerId": "cus_second", "paymentGatewayConfigId": "StripeGateway"}),
    ]


async def test_saved_card_is_recorded_once_updated_and_expired(moqui_cards: MoquiCards) -> None:
    card = SavedCard(CUSTOMER, "pm_saved1", "StripeGateway", "CctVisa", "4242", 3, 2031, "Joe Public")
    first = await moqui_cards.cards.record_saved_card(card)
    again = await moqui_cards.cards.record_saved_card(card)
    assert first.created and not again.created and first.payment_method_id == again.payment_method_id
    assert first.description == "Visa ************4242"
    method = await moqui_cards.facade.find_one(PAYMENT_METHOD, {"paymentMethodId": first.payment_method_id})
    assert method is not None
    assert (method["ownerPartyId"], method["gatewayCimId"], method["paymentMethodTypeEnumId"]) == (
        CUSTOMER,
        "pm_saved1",
        "PmtCreditCard",
    )
    credit_card = await moqui_cards.facade.find_one(CREDIT_CARD, {"paymentMethodId": first.payment_method_id})
    assert credit_card is not None
    assert (credit_card["creditCardTypeEnumId"], credit_card["expireDate"]) == ("CctVisa", "03/2031")
    [request] = [r for r in moqui_cards.stand_in.requests if r.method == "POST"][:1]
    assert request.path == f"/rest/s1/moqui-stripe/parties/{CUSTOMER}/savedCards"
    # Only the last four digits ever travel to Moqui.
    assert {k: v for k, v in request.body.items() if k != "fromDate"} == {
        "gatewayCimId": "pm_saved1",
        "paymentGatewayConfigId": "StripeGateway",
        "lastFour": "4242",
        "expireDate": "03/2031",
        "creditCardTypeEnumId": "CctVisa",
        "titleOnAccount": "Joe Public",
    }

    updated = await moqui_cards.cards.update_saved_card(SavedCardChange("pm_saved1", "1881", 9, 2033))
    assert updated is not None and updated.payment_method_id != first.payment_method_id
    old = await moqui_cards.facade.find_one(PAYMENT_METHOD, {"paymentMethodId": first.payment_method_id})
    new = await moqui_cards.facade.find_one(PAYMENT_METHOD, {"paymentMethodId": updated.payment_method_id})
    assert old is not None and old["thruDate"] is not None
    assert new is not None and new["thruDate"] is None and new["originalPaymentMethodId"] == first.payment_method_id
    assert new["gatewayCimId"] == "pm_saved1" and new["description"] == "Visa ************1881"
    new_card = await moqui_cards.facade.find_one(CREDIT_CARD, {"paymentMethodId": updated.payment_method_id})
    assert new_card is not None and new_card["expireDate"] == "09/2033"

    # Someone else's card is not expired for a party that does not own it.
    assert await moqui_cards.cards.expire_saved_card("pm_saved1", "SomeoneElse") is None
    expired = await moqui_cards.cards.expire_saved_card("pm_saved1", CUSTOMER)
    assert expired is not None and expired.payment_method_id == updated.payment_method_id
    gone = await moqui_cards.facade.find_one(PAYMENT_METHOD, {"paymentMethodId": updated.payment_method_id})
    assert gone is not None and gone["thruDate"] is not None
    assert await moqui_cards.cards.expire_saved_card("pm_saved1", None) is None


async def test_a_card_type_that_is_no_credit_card_type_is_refused(moqui_cards: MoquiCards) -> None:
    card = SavedCard(CUSTOMER, "pm_saved2", "StripeGateway", "PmtCreditCard", "4242", 3, 2031)
    with pytest.raises(MoquiBadRequestError, match="not a CreditCardType"):
        await moqui_cards.cards.record_saved_card(card)
    assert await moqui_cards.facade.find(PAYMENT_METHOD, {"gatewayCimId": "pm_saved2"}) == []


async def test_a_moqui_partys_customer_is_made_once_and_kept_in_party_gateway_cim_id(
    moqui_cards: MoquiCards, world: StandaloneWorld
) -> None:
    await _person(moqui_cards.facade, "joe@example.com")
    owner = CustomerOwner("moqui", "StripeGateway", CUSTOMER)
    first = await find_or_create_customer(world.context, moqui_cards.cards, owner)
    again = await find_or_create_customer(world.context, moqui_cards.cards, owner)
    assert first == again and first.startswith("cus_")
    party = await moqui_cards.facade.find_one("mantle.party.Party", {"partyId": CUSTOMER})
    assert party is not None and party["gatewayCimId"] == first
    page = await world.stripe_client.v1.customers.list_async({"limit": 10})
    [customer] = page.data
    assert (customer.id, customer.name, customer.email) == (first, "Joe Public", "joe@example.com")
    assert customer.metadata is not None and customer.metadata["moquiStripeClient"] == "moqui"
    path = f"/rest/s1/moqui-stripe/parties/{CUSTOMER}/stripeCustomer"
    # The second need reads Moqui's Party.gatewayCimId and makes nothing.
    assert moqui_cards.requests() == [
        ("GET", path, None),
        ("POST", path, {"customerId": first, "paymentGatewayConfigId": "StripeGateway"}),
        ("GET", path, None),
    ]
