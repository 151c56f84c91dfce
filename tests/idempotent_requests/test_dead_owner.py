"""A request whose owner process is killed (SIGKILL) mid-request: the retry with the same Idempotency-Key is not
told "still in progress" but finishes the request, and Stripe acts once.

The owner is the real service in a process of its own on the same database and emulator; the emulator holds its
Stripe refund call for two seconds (then carries it out, as Stripe does with a request whose client went away), and
the process is killed while it waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from moqui_bridge.web import moqui_json
from service.context import IDEMPOTENCY_KEY_HEADER
from tests.idempotent_requests.conftest import ENTITY, IdempotencyWorld
from tests.idempotent_requests.test_rest import captured_payment
from tests.standalone.conftest import API_KEY, REST, settings_overrides

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def owner_process(entity_database_dsn: str, stripe_emulator_url: str) -> AsyncIterator[tuple[int, str]]:
    """The service in its own process on the test's database; (pid, base URL). Killed at the end if still alive."""
    port = _free_port()
    overrides = settings_overrides(stripe_emulator_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.idempotent_requests.owner_process",
        entity_database_dsn,
        str(port),
        json.dumps(overrides),
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{base_url}/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert process.returncode is None, "the owner process exited before answering /health"
                assert time.monotonic() < deadline, "the owner process did not start"
                await asyncio.sleep(0.1)
        yield process.pid, base_url
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_retry_finishes_the_request_of_a_killed_owner(
    idempotency: IdempotencyWorld, owner_process: tuple[int, str]
) -> None:
    world = idempotency.world
    pid, owner_url = owner_process
    payment_id = await captured_payment(world, "50.00")
    intent = await world.only_intent(payment_id)
    await world.emulator.add_fault("/v1/refunds", "hang", method="POST", hang_seconds=2.0)

    path = f"{REST}/payments/{payment_id}/gateways/refund"
    body = moqui_json.dumps({"amount": Decimal("50.00")})
    headers = {"api_key": API_KEY, IDEMPOTENCY_KEY_HEADER: "refund-crash", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.ensure_future(session.post(owner_url + path, data=body, headers=headers))
        # The owner has reserved the key and is waiting on Stripe: kill it there.
        deadline = time.monotonic() + 20
        while not await world.entity.find(ENTITY, {"idempotencyKey": "refund-crash"}):
            assert time.monotonic() < deadline, "the owner never reserved the key"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(aiohttp.ClientError):
            await in_flight
    [row] = await world.entity.find(ENTITY, {"idempotencyKey": "refund-crash"})
    assert row["requestStatusId"] == "SirStarted"  # the dead owner's row is still there
    await asyncio.sleep(2.0)  # Stripe finishes the refund the dead process asked for

    retry = await idempotency.first.send(
        "POST", f"/payments/{payment_id}/gateways/refund", {"amount": Decimal("50.00")}, key="refund-crash"
    )
    assert retry.status == 200, retry.body
    assert retry.replayed is None
    # Stripe acted once, and Mantle recorded one refund.
    assert [refund.amount for refund in await world.refunds(intent.id)] == [5000]
    assert len((await world.payment(payment_id))["refundPayments"]) == 1
    again = await idempotency.first.send(
        "POST", f"/payments/{payment_id}/gateways/refund", {"amount": Decimal("50.00")}, key="refund-crash"
    )
    assert (again.status, again.replayed, again.body) == (200, "true", retry.body)
