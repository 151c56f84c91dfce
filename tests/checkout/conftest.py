"""Fixtures of the checkout page tests: the service on a real port with a fresh database and the emulator, standalone
or with a Moqui (tests/checkout/moqui_stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Pool
from stripe_emulator.control import EmulatorControl
from tests.checkout.harness import CheckoutServer, running_checkout
from tests.checkout.moqui_stack import MoquiCheckout, running_moqui_checkout
from tests.moqui_harness.groovy_runner import GroovyRunner
from tests.moqui_harness.xml_actions import ServiceCatalogue


@pytest.fixture
async def checkout_server(entity_database_dsn: str, stripe_emulator_url: str) -> AsyncIterator[CheckoutServer]:
    """moqui-stripe with the checkout pages, default checkout settings (no place_order)."""
    async with running_checkout(entity_database_dsn, stripe_emulator_url) as server:
        yield server


@pytest.fixture
async def browser_like_client() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that does not follow redirects, so each Location can be checked."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def moqui_checkout(
    moqui_pool: Pool,
    moqui_facade: EntityFacade,
    component_services: ServiceCatalogue,
    groovy_runner: GroovyRunner,
    database_dsn: str,
    emulator_control: EmulatorControl,
) -> AsyncIterator[MoquiCheckout]:
    """The checkout with a Moqui: the service (`moqui.base_url`), the Moqui REST stand-in, the emulator."""
    async with running_moqui_checkout(
        moqui_pool, moqui_facade, component_services, groovy_runner, database_dsn, emulator_control
    ) as stack:
        yield stack
