"""Off-session charges of saved cards through the gateway API (issue 13 item 4), with the recovery link configured.

The world is the gateway API's (tests/gateway_api/conftest.py): the real app on loopback, called as the client
`moqui-a`, the Stripe emulator as Stripe; here `checkout.link_secret` is set so declines carry a recovery link.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import GatewayWorld, gateway_settings, running_world

LINK_SECRET = "off-session-link-secret-0123456789"


@pytest.fixture
def off_session_deadline_seconds() -> float | None:
    """`server.request_deadline_seconds` when a test parametrizes it; None: the gateway API tests' short one."""
    return None


@pytest.fixture
async def world(
    entity_database_dsn: str,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
    off_session_deadline_seconds: float | None,
) -> AsyncIterator[GatewayWorld]:
    """The gateway API with a link secret and a publishable key (the recovery page's Payment Element)."""
    overrides = gateway_settings(stripe_emulator_url)
    overrides["checkout"] = {"link_secret": LINK_SECRET}
    if off_session_deadline_seconds is not None:
        overrides["server"]["request_deadline_seconds"] = off_session_deadline_seconds
    for gateway in overrides["gateways"].values():
        gateway["publishable_key"] = "pk_test_offsessiontests000000"
    async with running_world(entity_database_dsn, stripe_emulator_url, emulator_control, overrides) as running:
        yield running


async def saved_card(world: GatewayWorld, number: str = "4242424242424242", exp_year: int = 2034) -> tuple[str, str]:
    """A Stripe Customer with a card saved to it (PaymentMethod attach, as a saved-cards page ends): (cus, pm)."""
    customer = await world.observer.v1.customers.create_async({"name": "Off-session customer"})
    method = await world.observer.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": "123"}}
    )
    await world.observer.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    return str(customer.id), str(method.id)


def local_path(url: str) -> str:
    """The path and query of a link of ours (the test server listens on another port than the configured one)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"
