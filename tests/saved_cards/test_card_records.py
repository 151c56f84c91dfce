"""A saved Stripe card as Mantle's PaymentMethod + CreditCard, standalone (service/saved_cards/card_records.py,
moqui_bridge/mantle/party_cards.py): brand to CreditCardType, last four only, MM/yyyy, once however often recorded."""

from __future__ import annotations

import asyncio

import pytest
import stripe

from moqui_bridge.mantle import names
from service.saved_cards.card_records import NotACard, credit_card_type, record_saved_card, saved_card_of
from tests.saved_cards.conftest import CONFIG_ID, add_person, local_cards
from tests.standalone.conftest import StandaloneWorld


def test_brands_map_to_mantles_credit_card_types_or_none() -> None:
    # Mantle's seed (mantle-udm AccountingAccountEntities.xml) has these four; the rest are only a comment there.
    assert [credit_card_type(b) for b in ("visa", "mastercard", "amex", "discover")] == [
        "CctVisa",
        "CctMastercard",
        "CctAmericanExpress",
        "CctDiscover",
    ]
    assert [credit_card_type(b) for b in ("jcb", "diners", "unionpay", "cartes_bancaires", "unknown", None)] == [
        None
    ] * 6


async def _card(world: StandaloneWorld, number: str) -> stripe.PaymentMethod:
    return await world.stripe_client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": number, "exp_month": 3, "exp_year": 2031, "cvc": "123"}}
    )


async def test_recorded_once_even_when_recorded_at_once(world: StandaloneWorld) -> None:
    await add_person(world.entity, "PartyRec", "Rec", "Order", None)
    method = await _card(world, "378282246310005")
    cards = local_cards(world)
    records = await asyncio.gather(*(record_saved_card(cards, method, "PartyRec", CONFIG_ID) for _ in range(4)))
    assert len({record.payment_method_id for record in records}) == 1
    assert sum(record.created for record in records) == 1
    [row] = await world.entity.find(names.PAYMENT_METHOD, {"gatewayCimId": method.id})
    assert row["description"] == "American Express ************0005"
    assert (row["ownerPartyId"], row["paymentGatewayConfigId"], row["paymentMethodTypeEnumId"]) == (
        "PartyRec",
        CONFIG_ID,
        "PmtCreditCard",
    )
    card = await world.entity.find_one(names.CREDIT_CARD, {"paymentMethodId": row["paymentMethodId"]})
    assert card is not None and (card["creditCardTypeEnumId"], card["expireDate"]) == ("CctAmericanExpress", "03/2031")


async def test_a_brand_mantle_lacks_gets_no_type(world: StandaloneWorld) -> None:
    method = await _card(world, "3566002020360505")  # JCB
    record = await record_saved_card(local_cards(world), method, "PartyRec", CONFIG_ID)
    assert record.credit_card_type_enum_id is None and record.description == "Credit Card ************0505"


def test_a_payment_method_that_is_no_card_is_refused() -> None:
    method = stripe.PaymentMethod.construct_from({"id": "pm_x", "type": "sepa_debit"}, "sk_test")
    with pytest.raises(NotACard):
        saved_card_of(method, "PartyRec", CONFIG_ID)
