"""The SaaS example over real HTTP (sessions, CSRF, the integration steps) and the demo stack and command."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.app import APP_STATE
from service.checkout.links import verify_checkout_query
from service.demo import DEMO_GATEWAY_CONFIG_IDS, DemoStack, demo_stack
from service.saved_cards.card_links import verify_saved_cards_query
from tests.checkout.harness import query_of

REPO_ROOT = Path(__file__).resolve().parents[2]
_CSRF = re.compile(r'name="csrfToken" value="([0-9a-f]+)"')


@pytest.fixture
async def demo(entity_database_dsn: str) -> AsyncIterator[DemoStack]:
    """The demo stack on a fresh test database."""
    async with demo_stack(database_dsn=entity_database_dsn) as stack:
        yield stack


@pytest.fixture
async def shopper() -> AsyncIterator[aiohttp.ClientSession]:
    """A client with its own cookies that does not follow redirects unless asked."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def entity_of(demo: DemoStack) -> EntityFacade:
    return demo.app[APP_STATE].require_runtime().entity


async def csrf_token(shopper: aiohttp.ClientSession, url: str) -> str:
    async with shopper.get(url) as response:
        assert response.status == 200
        match = _CSRF.search(await response.text())
    assert match is not None
    return match.group(1)


async def log_in(shopper: aiohttp.ClientSession, demo: DemoStack, party_id: str = "SaasCustAda") -> None:
    token = await csrf_token(shopper, f"{demo.url}/saas/login")
    form = {"csrfToken": token, "partyId": party_id}
    async with shopper.post(f"{demo.url}/saas/login", data=form, allow_redirects=False) as response:
        assert response.status == 303


async def test_login_without_a_csrf_token_is_refused(demo: DemoStack, shopper: aiohttp.ClientSession) -> None:
    await csrf_token(shopper, f"{demo.url}/saas/login")  # sets the browser cookie
    async with shopper.post(f"{demo.url}/saas/login", data={"partyId": "SaasCustAda"}, allow_redirects=False) as r:
        assert r.status == 403
    async with shopper.get(f"{demo.url}/saas/account", allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/saas/login"


async def test_cross_site_post_is_refused_even_with_a_token(demo: DemoStack, shopper: aiohttp.ClientSession) -> None:
    token = await csrf_token(shopper, f"{demo.url}/saas/login")
    async with shopper.post(
        f"{demo.url}/saas/login",
        data={"csrfToken": token, "partyId": "SaasCustAda"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    ) as response:
        assert response.status == 403


async def test_subscribing_creates_the_order_and_redirects_to_a_signed_checkout_link(
    demo: DemoStack, shopper: aiohttp.ClientSession
) -> None:
    await log_in(shopper, demo)
    token = await csrf_token(shopper, f"{demo.url}/saas/")
    async with shopper.post(
        f"{demo.url}/saas/subscribe", data={"csrfToken": token, "planId": "team"}, allow_redirects=False
    ) as response:
        assert response.status == 303
        location = response.headers["Location"]
    assert location.startswith(f"{demo.url}/stripe/Checkout?")
    link = verify_checkout_query(demo.link_secret, query_of(location), (demo.url,))
    assert link.customer_party_id == "SaasCustAda"
    assert link.done_url == f"{demo.url}/saas/orders/{link.order_id}/done"
    assert link.error_url == f"{demo.url}/saas/orders/{link.order_id}/error"

    entity = entity_of(demo)
    order = await entity.find_one(names.ORDER_HEADER, {"orderId": link.order_id})
    assert order is not None
    assert (order["grandTotal"], order["currencyUomId"], order["productStoreId"]) == (
        Decimal("29.00"),
        "USD",
        "SaasDemoStore",
    )
    [part] = await entity.find(names.ORDER_PART, {"orderId": link.order_id})
    assert part["customerPartyId"] == "SaasCustAda"

    # Before paying, the done page does not claim the order is paid, whatever brought the browser there.
    async with shopper.get(link.done_url) as response:
        assert response.status == 200
        assert "Almost there" in await response.text()
    async with shopper.get(f"{demo.url}/saas/account") as response:
        assert f'id="order-{link.order_id}"' in await response.text()


async def test_the_account_page_links_to_the_customers_own_saved_cards(
    demo: DemoStack, shopper: aiohttp.ClientSession
) -> None:
    # The demo's customers are Mantle Persons with an e-mail (demo_data.xml), so their cards can be saved at once.
    entity = entity_of(demo)
    person = await entity.find_one("mantle.party.Person", {"partyId": "SaasCustGrace"})
    assert person is not None and (person["firstName"], person["lastName"]) == ("Grace", "Hopper")
    await log_in(shopper, demo, "SaasCustGrace")
    async with shopper.get(f"{demo.url}/saas/account") as response:
        body = await response.text()
    match = re.search(r'id="saved-cards-link" href="([^"]+)"', body)
    assert match is not None, body
    link = verify_saved_cards_query(demo.link_secret, query_of(match.group(1).replace("&amp;", "&")), (demo.url,))
    assert (link.customer_party_id, link.done_url) == ("SaasCustGrace", f"{demo.url}/saas/account")
    async with shopper.get(match.group(1).replace("&amp;", "&")) as response:
        assert response.status == 200
        assert 'id="no-cards"' in await response.text()


async def test_error_page_shows_the_applications_own_message(demo: DemoStack, shopper: aiohttp.ClientSession) -> None:
    await log_in(shopper, demo)
    token = await csrf_token(shopper, f"{demo.url}/saas/")
    async with shopper.post(
        f"{demo.url}/saas/subscribe", data={"csrfToken": token, "planId": "starter"}, allow_redirects=False
    ) as response:
        link = verify_checkout_query(demo.link_secret, query_of(response.headers["Location"]), (demo.url,))
    spoofed = "Call +1-555-SCAM to finish your payment"
    async with shopper.get(
        link.error_url, params={"checkoutError": "canceled", "checkoutMessage": spoofed}
    ) as response:
        page = await response.text()
    assert "You canceled the payment" in page
    assert spoofed not in page
    async with shopper.get(link.error_url, params={"checkoutError": "something_new"}) as response:
        assert "could not be completed" in await response.text()


async def test_another_customers_order_pages_are_not_found(demo: DemoStack, shopper: aiohttp.ClientSession) -> None:
    await log_in(shopper, demo)
    token = await csrf_token(shopper, f"{demo.url}/saas/")
    async with shopper.post(
        f"{demo.url}/saas/subscribe", data={"csrfToken": token, "planId": "starter"}, allow_redirects=False
    ) as response:
        link = verify_checkout_query(demo.link_secret, query_of(response.headers["Location"]), (demo.url,))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        await log_in(other, demo, "SaasCustGrace")
        async with other.get(link.done_url) as response:
            assert response.status == 404


async def test_demo_emulator_serves_the_stripe_js_stand_in_and_sends_webhooks_to_us(demo: DemoStack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{demo.emulator_url}/v3/") as response:
            assert response.status == 200
            assert response.content_type == "application/javascript"
            assert "window.Stripe" in await response.text()
        async with session.get(f"{demo.emulator_url}/v3/elements-frame.html") as response:
            page = await response.text()
            assert 'for="card-number"' in page and 'for="card-cvc"' in page
        async with session.get(f"{demo.emulator_url}/_emulator/webhook_endpoints") as response:
            urls = sorted(endpoint["url"] for endpoint in (await response.json())["data"])
        assert urls == sorted(f"{demo.url}/stripe/webhook/{config_id}" for config_id in DEMO_GATEWAY_CONFIG_IDS)
        async with session.get(f"{demo.url}/health") as response:
            assert (await response.json())["status"] == "ok"


@pytest.fixture
def demo_data_dir(scratch_folder: Path) -> Path:
    """A folder for the demo command's PostgreSQL, removed afterwards."""
    return scratch_folder


async def test_demo_command_starts_and_stops_cleanly_on_ctrl_c(demo_data_dir: Path) -> None:
    data_dir = demo_data_dir
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "demo",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        cwd=str(REPO_ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = None
        async with asyncio.timeout(60):
            while url is None:
                line = (await process.stdout.readline()).decode()
                assert line, "the demo ended before printing its URL"
                if "Open the example shop:" in line:
                    url = line.split("Open the example shop:", 1)[1].strip()
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            assert "Pick a plan" in await response.text()
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
        assert not await asyncio.to_thread((data_dir / "postgres").exists)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
