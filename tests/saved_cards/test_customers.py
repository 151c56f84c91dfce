"""One Stripe Customer per party and Stripe account, made on first need with the party's name and email, exactly
once (service/saved_cards/customers.py), standalone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stripe

from moqui_bridge.service import ServiceError
from service.context import STANDALONE_CLIENT
from service.saved_cards.customers import CUSTOMER_OPERATION, CustomerOwner, find_or_create_customer
from tests.saved_cards.conftest import CONFIG_ID, add_person, local_cards
from tests.standalone.conftest import StandaloneWorld


async def _customers(world: StandaloneWorld) -> list[dict[str, Any]]:
    page = await world.stripe_client.v1.customers.list_async({"limit": 100})
    return [customer.to_dict() async for customer in page.auto_paging_iter()]


async def test_first_need_creates_one_customer_with_name_and_email(world: StandaloneWorld) -> None:
    await add_person(world.entity, "PartyGrace", "Grace", "Hopper", "grace@example.com")
    owner = CustomerOwner(STANDALONE_CLIENT, CONFIG_ID, "PartyGrace")
    cards = local_cards(world)
    # Five requests at once and one after: one journal row, one create, the same Customer for all.
    found = await asyncio.gather(*(find_or_create_customer(world.context, cards, owner) for _ in range(5)))
    again = await find_or_create_customer(world.context, cards, owner)
    assert len(set(found)) == 1 and again == found[0]
    customers = await _customers(world)
    assert len(customers) == 1
    customer = customers[0]
    assert customer["id"] == again
    assert (customer["name"], customer["email"]) == ("Grace Hopper", "grace@example.com")
    assert customer["metadata"]["partyId"] == "PartyGrace"
    assert customer["metadata"]["moquiStripeClient"] == STANDALONE_CLIENT
    row = await world.entity.find_one(CUSTOMER_OPERATION, owner.key())
    assert row is not None and row["customerId"] == again and row["operationStatusId"] == "ScoCreated"
    assert customer["metadata"]["moquiStripeOperation"] == f"{world.context.installation_id}/{row['operationId']}"
    kept = await world.entity.find_one(
        "stripe.StripeCustomer", {"partyId": "PartyGrace", "paymentGatewayConfigId": CONFIG_ID}
    )
    assert kept is not None and kept["customerId"] == again


async def test_lost_answer_is_sent_again_with_the_same_key(world: StandaloneWorld) -> None:
    await add_person(world.entity, "PartyAda", "Ada", "Lovelace", "ada@example.com")
    owner = CustomerOwner(STANDALONE_CLIENT, CONFIG_ID, "PartyAda")
    cards = local_cards(world)
    await world.emulator.add_fault("/v1/customers", "lose_response", method="POST")
    with pytest.raises(stripe.APIConnectionError):  # no SDK retries in this world
        await find_or_create_customer(world.context, cards, owner)
    row = await world.entity.find_one(CUSTOMER_OPERATION, owner.key())
    assert row is not None and row["operationStatusId"] == "ScoStarted"
    customer_id = await find_or_create_customer(world.context, cards, owner)
    customers = await _customers(world)
    assert [customer["id"] for customer in customers] == [customer_id]


async def test_unknown_party_is_refused_and_creates_nothing(world: StandaloneWorld) -> None:
    owner = CustomerOwner(STANDALONE_CLIENT, CONFIG_ID, "NoSuchParty")
    with pytest.raises(ServiceError, match="Party NoSuchParty not found"):
        await find_or_create_customer(world.context, local_cards(world), owner)
    assert await _customers(world) == []
    assert await world.entity.find(CUSTOMER_OPERATION, {"partyId": "NoSuchParty"}) == []


async def test_unconfigured_gateway_is_refused(world: StandaloneWorld) -> None:
    await add_person(world.entity, "PartyLin", "Lin", "Chen", None)
    owner = CustomerOwner(STANDALONE_CLIENT, "NoSuchGateway", "PartyLin")
    with pytest.raises(ServiceError, match="NoSuchGateway"):
        await find_or_create_customer(world.context, local_cards(world), owner)
    assert await _customers(world) == []
