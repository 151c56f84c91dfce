"""Fixtures of the checkout page tests: the service on a real port with a fresh database and the emulator (with a
Moqui: `moqui_checkout`, tests/fixtures/moqui.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.checkout.harness import CheckoutServer, running_checkout


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
