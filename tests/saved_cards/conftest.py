"""Saved cards standalone: the real app on loopback with the emulator as Stripe (the standalone world), plus the
Mantle party rows a customer has (Person, primary email) and the local Mantle side the flows use."""

from __future__ import annotations

from datetime import datetime

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.party_cards import LocalPartyCards
from tests.standalone.conftest import CONFIG_ID, CUSTOMER, StandaloneWorld, world

__all__ = ["CONFIG_ID", "CUSTOMER", "add_person", "local_cards", "world"]


async def add_person(entity: EntityFacade, party_id: str, first: str, last: str, email: str | None) -> None:
    """A Mantle Person with a primary email, as create#PersonCustomer leaves one."""
    await entity.create("mantle.party.Party", {"partyId": party_id, "partyTypeEnumId": "PtyPerson"})
    await entity.create("mantle.party.Person", {"partyId": party_id, "firstName": first, "lastName": last})
    if email is not None:
        mech = await entity.create(
            "mantle.party.contact.ContactMech", {"contactMechTypeEnumId": "CmtEmailAddress", "infoString": email}
        )
        await entity.create(
            "mantle.party.contact.PartyContactMech",
            {
                "partyId": party_id,
                "contactMechId": mech["contactMechId"],
                "contactMechPurposeId": "EmailPrimary",
                "fromDate": datetime(2026, 1, 1),
            },
        )


def local_cards(world: StandaloneWorld) -> LocalPartyCards:
    """The standalone Mantle side of saved cards, over the world's app context."""
    return LocalPartyCards(lambda: world.context)
