"""Helpers for the emulator's own tests: an official `stripe` async client pointed at the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import stripe

API_KEY = "sk_test_emulator_suite"


@pytest.fixture
async def http_client() -> AsyncIterator[stripe.AIOHTTPClient]:
    """The SDK's aiohttp transport, closed after the test."""
    client = stripe.AIOHTTPClient(timeout=5)
    try:
        yield client
    finally:
        await client.close_async()  # type: ignore[no-untyped-call]


@pytest.fixture
def stripe_client(stripe_emulator_url: str, http_client: stripe.AIOHTTPClient) -> stripe.StripeClient:
    """An official client with retries, as the service builds it."""
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": stripe_emulator_url},
        http_client=http_client,
        max_network_retries=2,
    )
