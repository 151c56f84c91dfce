"""Browser tests: headless Chromium (Playwright) against the real demo stack on loopback.

The stack is `service.demo.demo_stack`: the service with checkout, webhooks and the SaaS example, the Stripe
emulator serving the stripe.js stand-in and sending signed webhooks, on a fresh PostgreSQL database per test.
Every test here skips with a clear reason when Debian's Chromium is not installed (CI installs it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from moqui_bridge.entity import EntityFacade
from service.app import APP_STATE
from service.demo import DemoStack, demo_stack
from stripe_emulator.control import EmulatorControl

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
_NO_CHROMIUM = f"{CHROMIUM} is not installed (apt-get install -y --no-install-recommends chromium)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this folder's tests when Chromium is absent."""
    if CHROMIUM.exists():
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.expected_skip(_NO_CHROMIUM))
            item.add_marker(pytest.mark.skip(reason=_NO_CHROMIUM))


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """One headless Chromium for the session (the folder's tests are skipped before this when it is absent)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def demo(entity_database_dsn: str) -> AsyncIterator[DemoStack]:
    """The demo stack on a fresh database (its own emulator, with the stand-in and webhooks to the service)."""
    async with demo_stack(database_dsn=entity_database_dsn) as stack:
        yield stack


@pytest.fixture
def demo_entity(demo: DemoStack) -> EntityFacade:
    """The demo service's entity facade."""
    return demo.app[APP_STATE].require_runtime().entity


@pytest.fixture
async def demo_control(demo: DemoStack) -> AsyncIterator[EmulatorControl]:
    """The demo emulator's control API."""
    control = EmulatorControl(demo.emulator_url)
    try:
        yield control
    finally:
        await control.close()


@pytest.fixture
async def page(chromium: Any) -> AsyncIterator[Any]:
    """A fresh browser context and page (desktop size); console errors are collected on `page.console_errors`."""
    context = await chromium.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.console_errors = errors
    try:
        yield page
    finally:
        await context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder screenshots are kept in (test-output/, ignored by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
