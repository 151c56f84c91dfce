"""A Stripe card PaymentMethod as Mantle records it: PaymentMethod + CreditCard, through the Mantle side.

`creditCardTypeEnumId` comes from Stripe's `card.brand` (docs.stripe.com/api/payment_methods/object, card.brand:
amex, cartes_bancaires, diners, discover, eftpos_au, jcb, link, mastercard, unionpay, visa, unknown) mapped onto
Mantle's CreditCardType enumerations (mantle-udm AccountingAccountEntities.xml seed-data: CctVisa, CctMastercard,
CctAmericanExpress, CctDiscover; Diners Club, JCB and the others are only a comment there, so no Moqui has them
unless it adds them); a brand Mantle has no enumeration for gets none. Only
`card.last4` ever leaves Stripe's object: the number Mantle keeps is masked to those four digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import stripe

from moqui_bridge.mantle.party_cards import PartyCardsSide, SavedCard, SavedCardChange, SavedCardRecord
from service.stripe_gateway.outcome import field_value

__all__ = [
    "MANTLE_CARD_TYPES",
    "NotACard",
    "card_change_of",
    "credit_card_type",
    "record_saved_card",
    "saved_card_of",
]

MANTLE_CARD_TYPES: Final[Mapping[str, str]] = {
    "visa": "CctVisa",
    "mastercard": "CctMastercard",
    "amex": "CctAmericanExpress",
    "discover": "CctDiscover",
}


class NotACard(ValueError):
    """The PaymentMethod is not a card (or its card hash is incomplete)."""


def credit_card_type(brand: str | None) -> str | None:
    """Mantle's CreditCardType enumId for a Stripe card brand, None when Mantle has no match."""
    return MANTLE_CARD_TYPES.get(brand or "")


def _card_fields(method: stripe.PaymentMethod) -> tuple[str | None, str, int, int]:
    card = field_value(method, "card")
    last_four = field_value(card, "last4")
    month = field_value(card, "exp_month")
    year = field_value(card, "exp_year")
    if (
        method.type != "card"
        or not isinstance(last_four, str)
        or not isinstance(month, int)
        or not isinstance(year, int)
    ):
        raise NotACard(f"PaymentMethod {method.id} is not a card")
    if len(last_four) != 4 or not last_four.isdigit() or not 1 <= month <= 12:
        raise NotACard(f"PaymentMethod {method.id} has an unusable card number ending or expiry")
    brand = field_value(card, "brand")
    return (brand if isinstance(brand, str) else None), last_four, month, year


def saved_card_of(method: stripe.PaymentMethod, owner_party_id: str, payment_gateway_config_id: str) -> SavedCard:
    """The Mantle record of a saved card PaymentMethod (raises NotACard)."""
    brand, last_four, month, year = _card_fields(method)
    name = field_value(field_value(method, "billing_details"), "name")
    return SavedCard(
        owner_party_id=owner_party_id,
        gateway_cim_id=method.id,
        payment_gateway_config_id=payment_gateway_config_id,
        credit_card_type_enum_id=credit_card_type(brand),
        last_four=last_four,
        expire_month=month,
        expire_year=year,
        name_on_card=name if isinstance(name, str) and name else None,
    )


def card_change_of(method: stripe.PaymentMethod) -> SavedCardChange:
    """The expiry and last four of a PaymentMethod as the card updater left them (raises NotACard)."""
    _brand, last_four, month, year = _card_fields(method)
    return SavedCardChange(method.id, last_four, month, year)


async def record_saved_card(
    cards: PartyCardsSide, method: stripe.PaymentMethod, owner_party_id: str, payment_gateway_config_id: str
) -> SavedCardRecord:
    """Record a saved card as the party's Mantle PaymentMethod + CreditCard (once per PaymentMethod)."""
    return await cards.record_saved_card(saved_card_of(method, owner_party_id, payment_gateway_config_id))
