"""A party's contact details, its gateway customer id and its saved cards, as Mantle keeps them.

`PartyCardsSide` is what the saved-cards flows ask of Mantle; `LocalPartyCards` answers from this process's Mantle
tables (standalone), `remote_party_cards.RemotePartyCards` from a Moqui through the component's REST resources.
Nothing here is Stripe-specific: a saved card is a Mantle PaymentMethod (type `PmtCreditCard`) with its CreditCard,
whose `gatewayCimId` is the gateway's id of the card.

Mantle's rules followed (mantle-usl service/mantle/account/PaymentMethodServices.xml): create#CreditCard makes the
PaymentMethod (`fromDate` now, description "<card type> <masked number>") and the CreditCard; update#CreditCard
expires the old PaymentMethod (`thruDate`) and creates a changed copy whose `originalPaymentMethodId` leads back;
delete#PaymentMethod sets `thruDate` (or, while a payment of it is still open, `thruDateSetAuto`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from moqui_bridge.entity import advisory_lock
from moqui_bridge.entity.connection import Connection
from moqui_bridge.mantle import names
from moqui_bridge.mantle.context import MantleContext, now_timestamp

__all__ = [
    "OPEN_PAYMENT_STATUSES",
    "LocalPartyCards",
    "PartyCardsSide",
    "PartyContact",
    "SavedCard",
    "SavedCardChange",
    "SavedCardRecord",
    "masked_card_number",
]

PARTY: Final = "mantle.party.Party"
PERSON: Final = "mantle.party.Person"
ORGANIZATION: Final = "mantle.party.Organization"
CONTACT_MECH: Final = "mantle.party.contact.ContactMech"
PARTY_CONTACT_MECH: Final = "mantle.party.contact.PartyContactMech"
CREDIT_CARD_TYPE_ENUM: Final = "CreditCardType"
# The email a Customer gets: the party's primary one (mantle-udm PartyEntities.xml ContactMechPurpose seed).
EMAIL_PRIMARY: Final = "EmailPrimary"
# delete#PaymentMethod: a method with a payment in one of these is only marked (thruDateSetAuto), not expired.
OPEN_PAYMENT_STATUSES: Final = (
    names.PMNT_PROPOSED,
    names.PMNT_PROMISED,
    names.PMNT_AUTHORIZED,
    names.PMNT_DECLINED,
)


def masked_card_number(last_four: str) -> str:
    """A card number as Mantle may keep it here: the last four digits only, the rest masked."""
    if len(last_four) != 4 or not last_four.isdigit():
        raise ValueError("last four digits expected")
    return "************" + last_four


@dataclass(frozen=True)
class PartyContact:
    """A party's name and email (None when Mantle has none) and the gateway customer id Mantle holds for it."""

    party_id: str
    name: str | None
    email: str | None
    gateway_cim_id: str | None


@dataclass(frozen=True)
class SavedCard:
    """A card saved at the gateway, to record as a Mantle PaymentMethod + CreditCard.

    `credit_card_type_enum_id` is None when Mantle's CreditCardType has no match for the card's brand.
    """

    owner_party_id: str
    gateway_cim_id: str
    payment_gateway_config_id: str
    credit_card_type_enum_id: str | None
    last_four: str
    expire_month: int
    expire_year: int
    name_on_card: str | None = None

    @property
    def expire_date(self) -> str:
        """Mantle's CreditCard.expireDate format, ``MM/yyyy``."""
        return f"{self.expire_month:02d}/{self.expire_year:04d}"

    @property
    def card_number(self) -> str:
        """The masked number (last four only)."""
        return masked_card_number(self.last_four)


@dataclass(frozen=True)
class SavedCardChange:
    """What the gateway's card updater changed on a saved card (the new expiry and last four)."""

    gateway_cim_id: str
    last_four: str
    expire_month: int
    expire_year: int

    @property
    def expire_date(self) -> str:
        """``MM/yyyy``."""
        return f"{self.expire_month:02d}/{self.expire_year:04d}"


@dataclass(frozen=True)
class SavedCardRecord:
    """A saved card as Mantle holds it now (the current PaymentMethod of that gateway id)."""

    payment_method_id: str
    owner_party_id: str | None
    gateway_cim_id: str
    payment_gateway_config_id: str | None
    credit_card_type_enum_id: str | None
    description: str | None
    expire_date: str | None
    created: bool = False


class PartyCardsSide(Protocol):
    """What the saved-cards flows ask of Mantle, whichever side runs it."""

    async def party_contact(self, party_id: str) -> PartyContact | None:
        """The party's name, email and Party.gatewayCimId; None when Mantle has no such party."""
        ...

    async def keep_party_customer(self, party_id: str, payment_gateway_config_id: str, customer_id: str) -> str:
        """Keep `customer_id` as the party's customer at that gateway; answers the id kept (an earlier one wins)."""
        ...

    async def record_saved_card(self, card: SavedCard) -> SavedCardRecord:
        """The PaymentMethod + CreditCard of a saved card; recording the same gateway id again changes nothing."""
        ...

    async def update_saved_card(self, change: SavedCardChange) -> SavedCardRecord | None:
        """Apply the updater's change (Mantle's update#CreditCard); None when no current method has that id."""
        ...

    async def expire_saved_card(self, gateway_cim_id: str, owner_party_id: str | None) -> SavedCardRecord | None:
        """Mantle's delete#PaymentMethod on the current method of that gateway id (of that owner, when given);
        None when there is none."""
        ...


class LocalPartyCards:
    """The Mantle tables of this process (standalone)."""

    def __init__(self, context_factory: Callable[[], MantleContext]) -> None:
        self._context_factory = context_factory

    async def party_contact(self, party_id: str) -> PartyContact | None:
        """Person or Organization name, the current primary email."""
        entity = self._context_factory().entity
        party = await entity.find_one(PARTY, {"partyId": party_id})
        if party is None:
            return None
        person = await entity.find_one(PERSON, {"partyId": party_id})
        organization = await entity.find_one(ORGANIZATION, {"partyId": party_id})
        name = _person_name(person) or (organization or {}).get("organizationName") or None
        return PartyContact(party_id, name, await self._email(party_id), None)

    async def _email(self, party_id: str) -> str | None:
        entity = self._context_factory().entity
        links = await entity.find(
            PARTY_CONTACT_MECH,
            {"partyId": party_id, "contactMechPurposeId": EMAIL_PRIMARY, "thruDate": None},
            order_by=["-fromDate"],
            limit=1,
        )
        mech = await entity.find_one(CONTACT_MECH, {"contactMechId": links[0]["contactMechId"]}) if links else None
        return str(mech["infoString"]) if mech and mech.get("infoString") else None

    async def keep_party_customer(self, party_id: str, payment_gateway_config_id: str, customer_id: str) -> str:
        """Standalone keeps gateway customers in the service's own table (one standalone may serve several Stripe
        accounts, and Party.gatewayCimId holds one id): nothing to write in Mantle's."""
        return customer_id

    async def record_saved_card(self, card: SavedCard) -> SavedCardRecord:
        """create#CreditCard's rows, once per gateway id and owner.

        CreditCard.cardNumber is a field Moqui encrypts with its own key, which the entity facade never writes in
        clear: the masked number goes into the PaymentMethod's description, as Mantle's create#CreditCard puts it.
        """
        context = self._context_factory()
        async with _card_transaction(context, card.gateway_cim_id) as connection:
            current = await _current_method(context, card.gateway_cim_id, card.owner_party_id, connection)
            if current is not None:
                return await _record_of(context, current, connection)
            type_description = await _card_type_description(context, card.credit_card_type_enum_id, connection)
            method = await context.entity.create(
                names.PAYMENT_METHOD,
                {
                    "paymentMethodTypeEnumId": names.PMT_CREDIT_CARD,
                    "ownerPartyId": card.owner_party_id,
                    "description": f"{type_description} {card.card_number}",
                    "fromDate": now_timestamp(),
                    "gatewayCimId": card.gateway_cim_id,
                    "paymentGatewayConfigId": card.payment_gateway_config_id,
                    "titleOnAccount": card.name_on_card,
                },
                connection=connection,
            )
            await context.entity.create(
                names.CREDIT_CARD,
                {
                    "paymentMethodId": method["paymentMethodId"],
                    "creditCardTypeEnumId": card.credit_card_type_enum_id,
                    "expireDate": card.expire_date,
                },
                connection=connection,
            )
            record = await _record_of(context, method, connection)
        return SavedCardRecord(**{**record.__dict__, "created": True})

    async def update_saved_card(self, change: SavedCardChange) -> SavedCardRecord | None:
        """update#CreditCard: the old method expired, a copy with the new expiry and number made (nothing when
        nothing changed)."""
        context = self._context_factory()
        async with _card_transaction(context, change.gateway_cim_id) as connection:
            current = await _current_method(context, change.gateway_cim_id, None, connection)
            if current is None:
                return None
            card = await context.entity.find_one(
                names.CREDIT_CARD, {"paymentMethodId": current["paymentMethodId"]}, connection=connection
            )
            type_id = (card or {}).get("creditCardTypeEnumId")
            description = f"{await _card_type_description(context, type_id, connection)} " + masked_card_number(
                change.last_four
            )
            if (card or {}).get("expireDate") == change.expire_date and current.get("description") == description:
                return await _record_of(context, current, connection)
            now = now_timestamp()
            await context.entity.update(
                names.PAYMENT_METHOD,
                {"paymentMethodId": current["paymentMethodId"]},
                {"thruDate": now},
                connection=connection,
            )
            copy = {key: value for key, value in current.items() if key not in {"paymentMethodId", "lastUpdatedStamp"}}
            copy.update(
                fromDate=now,
                thruDate=None,
                description=description,
                originalPaymentMethodId=current.get("originalPaymentMethodId") or current["paymentMethodId"],
            )
            method = await context.entity.create(names.PAYMENT_METHOD, copy, connection=connection)
            await context.entity.create(
                names.CREDIT_CARD,
                {
                    "paymentMethodId": method["paymentMethodId"],
                    "creditCardTypeEnumId": type_id,
                    "expireDate": change.expire_date,
                },
                connection=connection,
            )
            return await _record_of(context, method, connection)

    async def expire_saved_card(self, gateway_cim_id: str, owner_party_id: str | None) -> SavedCardRecord | None:
        """delete#PaymentMethod: thruDate now, or thruDateSetAuto while one of its payments is still open."""
        context = self._context_factory()
        async with _card_transaction(context, gateway_cim_id) as connection:
            current = await _current_method(context, gateway_cim_id, owner_party_id, connection)
            if current is None:
                return None
            key = {"paymentMethodId": current["paymentMethodId"]}
            open_payments = await context.entity.find(
                names.PAYMENT,
                {"paymentMethodId": current["paymentMethodId"], "statusId": list(OPEN_PAYMENT_STATUSES)},
                limit=1,
                connection=connection,
            )
            values = {"thruDateSetAuto": "Y"} if open_payments else {"thruDate": now_timestamp()}
            await context.entity.update(names.PAYMENT_METHOD, key, values, connection=connection)
            return await _record_of(context, {**current, **values}, connection)


@asynccontextmanager
async def _card_transaction(context: MantleContext, gateway_cim_id: str) -> AsyncIterator[Connection]:
    # One change of a saved card at a time (the page's return and Stripe's webhook may record the same card at once),
    # as Moqui serializes them on the party's row.
    async with context.entity.transaction() as connection, advisory_lock(connection, f"saved-card:{gateway_cim_id}"):
        yield connection


def _person_name(person: dict[str, Any] | None) -> str | None:
    if person is None:
        return None
    parts = [person.get("firstName"), person.get("middleName"), person.get("lastName")]
    return " ".join(str(part) for part in parts if part) or None


async def _current_method(
    context: MantleContext, gateway_cim_id: str, owner_party_id: str | None, connection: Connection
) -> dict[str, Any] | None:
    conditions: dict[str, Any] = {"gatewayCimId": gateway_cim_id, "thruDate": None}
    if owner_party_id is not None:
        conditions["ownerPartyId"] = owner_party_id
    methods = await context.entity.find(
        names.PAYMENT_METHOD, conditions, order_by=["-fromDate", "-paymentMethodId"], limit=1, connection=connection
    )
    return methods[0] if methods else None


async def _card_type_description(context: MantleContext, enum_id: str | None, connection: Connection) -> str:
    if enum_id:
        enumeration = await context.entity.find_one(
            "moqui.basic.Enumeration", {"enumId": enum_id}, connection=connection
        )
        if enumeration is not None and enumeration.get("description"):
            return str(enumeration["description"])
    return "Credit Card"


async def _record_of(context: MantleContext, method: dict[str, Any], connection: Connection | None) -> SavedCardRecord:
    card = await context.entity.find_one(
        names.CREDIT_CARD, {"paymentMethodId": method["paymentMethodId"]}, connection=connection
    )
    return SavedCardRecord(
        payment_method_id=str(method["paymentMethodId"]),
        owner_party_id=method.get("ownerPartyId"),
        gateway_cim_id=str(method["gatewayCimId"]),
        payment_gateway_config_id=method.get("paymentGatewayConfigId"),
        credit_card_type_enum_id=(card or {}).get("creditCardTypeEnumId"),
        description=method.get("description"),
        expire_date=(card or {}).get("expireDate"),
    )
