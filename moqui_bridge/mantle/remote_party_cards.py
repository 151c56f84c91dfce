"""`RemotePartyCards`: a party's contact, customer id and saved cards in a Moqui, through the component's REST
resources (``/rest/s1/moqui-stripe/parties/...`` and ``/savedCards/...``, moqui-stripe.rest.xml), whose services run
Mantle's own (stripe.StripeSavedCardServices.xml). Every answer is checked for the fields it must carry.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from moqui_bridge.mantle.party_cards import PartyContact, SavedCard, SavedCardChange, SavedCardRecord
from moqui_bridge.mantle.remote_moqui import COMPONENT_REST_ROOT, moqui_timestamp
from moqui_bridge.moqui_rest_client import MoquiRestClient

__all__ = ["RemotePartyCards"]


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _record(
    answer: Mapping[str, Any],
    gateway_cim_id: str,
    *,
    payment_gateway_config_id: str | None = None,
    credit_card_type_enum_id: str | None = None,
    expire_date: str | None = None,
) -> SavedCardRecord | None:
    payment_method_id = _text(answer.get("paymentMethodId"))
    if payment_method_id is None:
        return None
    return SavedCardRecord(
        payment_method_id=payment_method_id,
        owner_party_id=_text(answer.get("ownerPartyId")),
        gateway_cim_id=gateway_cim_id,
        payment_gateway_config_id=payment_gateway_config_id,
        credit_card_type_enum_id=credit_card_type_enum_id,
        description=_text(answer.get("description")),
        expire_date=expire_date,
        created=answer.get("created") == "Y",
    )


def _name(answer: Mapping[str, Any]) -> str | None:
    person = " ".join(
        str(part) for part in (answer.get("firstName"), answer.get("middleName"), answer.get("lastName")) if part
    )
    return person or _text(answer.get("organizationName"))


class RemotePartyCards:
    """Calls a Moqui's REST API. A failed call raises the client's ``MoquiRestError``."""

    def __init__(self, client: MoquiRestClient) -> None:
        self._client = client

    async def _component(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        result = await self._client.call(method, COMPONENT_REST_ROOT + path, body=body, params=params)
        if not isinstance(result, dict):
            raise ValueError(f"Moqui answered {method} {path} with {type(result).__name__}, not an object")
        return result

    async def party_contact(self, party_id: str) -> PartyContact | None:
        """GET /parties/{partyId}/stripeCustomer (get#PartyStripeCustomer)."""
        answer = await self._component("GET", f"/parties/{_segment(party_id)}/stripeCustomer")
        if answer.get("partyFound") != "Y":
            return None
        return PartyContact(
            party_id,
            _name(answer),
            _text(answer.get("emailAddress")),
            _text(answer.get("gatewayCimId")),
        )

    async def keep_party_customer(self, party_id: str, payment_gateway_config_id: str, customer_id: str) -> str:
        """POST /parties/{partyId}/stripeCustomer (set#PartyStripeCustomer): Party.gatewayCimId, unless it holds one."""
        answer = await self._component(
            "POST",
            f"/parties/{_segment(party_id)}/stripeCustomer",
            body={"customerId": customer_id, "paymentGatewayConfigId": payment_gateway_config_id},
        )
        kept = _text(answer.get("gatewayCimId"))
        if kept is None:
            raise ValueError(f"Moqui kept no customer id for party {party_id}")
        return kept

    async def record_saved_card(self, card: SavedCard) -> SavedCardRecord:
        """POST /parties/{partyId}/savedCards (record#SavedCard): the last four digits travel, never more."""
        body: dict[str, Any] = {
            "gatewayCimId": card.gateway_cim_id,
            "paymentGatewayConfigId": card.payment_gateway_config_id,
            "lastFour": card.last_four,
            "expireDate": card.expire_date,
            "fromDate": moqui_timestamp(datetime.now(UTC)),
        }
        if card.credit_card_type_enum_id:
            body["creditCardTypeEnumId"] = card.credit_card_type_enum_id
        if card.name_on_card:
            body["titleOnAccount"] = card.name_on_card
        answer = await self._component("POST", f"/parties/{_segment(card.owner_party_id)}/savedCards", body=body)
        record = _record(
            answer,
            card.gateway_cim_id,
            payment_gateway_config_id=card.payment_gateway_config_id,
            credit_card_type_enum_id=card.credit_card_type_enum_id,
            expire_date=card.expire_date,
        )
        if record is None:
            raise ValueError(f"Moqui recorded saved card {card.gateway_cim_id} without a paymentMethodId")
        return record

    async def update_saved_card(self, change: SavedCardChange) -> SavedCardRecord | None:
        """POST /savedCards/{gatewayCimId}/update (update#SavedCard: Mantle's update#CreditCard)."""
        answer = await self._component(
            "POST",
            f"/savedCards/{_segment(change.gateway_cim_id)}/update",
            body={"lastFour": change.last_four, "expireDate": change.expire_date},
        )
        return _record(answer, change.gateway_cim_id, expire_date=change.expire_date)

    async def expire_saved_card(self, gateway_cim_id: str, owner_party_id: str | None) -> SavedCardRecord | None:
        """POST /savedCards/{gatewayCimId}/expire (expire#SavedCard: Mantle's delete#PaymentMethod)."""
        body = {"ownerPartyId": owner_party_id} if owner_party_id else None
        answer = await self._component("POST", f"/savedCards/{_segment(gateway_cim_id)}/expire", body=body)
        return _record(answer, gateway_cim_id)
