"""The staff card endpoint over real HTTP: the demo stack (service, emulator, fresh database) with Ada as a Mantle
person, a signed staff link for her, and cards made as stripe.js makes them (POST /v1/payment_methods with the
publishable key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from moqui_bridge.entity import EntityFacade
from service.app import APP_STATE
from service.demo import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, DemoStack, demo_stack
from service.staff_cards.pages import STAFF_CARD_SAVE_PATH
from service.staff_cards.staff_links import sign_staff_card_query
from stripe_emulator.control import EmulatorControl

PARTY = "SaasCustAda"
AGENT = "agent.jo"
CONFIG_ID = "StripeGateway"


@dataclass
class StaffDesk:
    """The running stack, an HTTP session and the calls a staff card test makes."""

    demo: DemoStack
    session: aiohttp.ClientSession
    control: EmulatorControl

    @property
    def entity(self) -> EntityFacade:
        """The service's entity facade."""
        return self.demo.app[APP_STATE].require_runtime().entity

    def link(self, **overrides: Any) -> dict[str, str]:
        """A signed staff link's fields for Ada."""
        fields = {"party_id": PARTY, "payment_gateway_config_id": CONFIG_ID, "agent_user_id": AGENT, **overrides}
        return sign_staff_card_query(self.demo.link_secret, **fields)

    async def card(self, number: str = "4242424242424242") -> str:
        """A PaymentMethod made from the card fields, as stripe.createPaymentMethod makes it."""
        form = {"type": "card", "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2034"}
        form["card[cvc]"] = "123"
        headers = {"Authorization": f"Bearer {DEMO_PUBLISHABLE_KEY}"}
        async with self.session.post(f"{self.demo.emulator_url}/v1/payment_methods", data=form, headers=headers) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["id"])

    async def save(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST /stripe/StaffCard/save (JSON) as the page sends it; (status, answer)."""
        url = f"{self.demo.url}{STAFF_CARD_SAVE_PATH}"
        sent = {"Origin": self.demo.url, **(headers or {})}
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": dict(body)}
        async with self.session.post(url, headers=sent, **kwargs) as response:
            return response.status, await response.json()

    async def setups(self) -> list[dict[str, Any]]:
        """Ada's SetupIntents at the emulator."""
        headers = {"Authorization": f"Bearer {DEMO_SECRET_KEY}"}
        async with self.session.get(f"{self.demo.emulator_url}/v1/setup_intents?limit=100", headers=headers) as r:
            return [si for si in (await r.json())["data"] if si["metadata"].get("partyId") == PARTY]

    async def saved_methods(self) -> list[dict[str, Any]]:
        """Ada's Mantle PaymentMethods."""
        return await self.entity.find("mantle.account.method.PaymentMethod", {"ownerPartyId": PARTY})


@pytest.fixture
async def desk(entity_database_dsn: str) -> AsyncIterator[StaffDesk]:
    """The demo stack with MOTO configured for the gateway (the emulator's account switch left to each test)."""
    async with (
        demo_stack(database_dsn=entity_database_dsn, gateway_overrides={"moto_enabled": True}) as demo,
        aiohttp.ClientSession() as session,
    ):
        control = EmulatorControl(demo.emulator_url)
        try:
            desk = StaffDesk(demo, session, control)
            yield desk
        finally:
            await control.close()
