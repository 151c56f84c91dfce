"""Stripe admission: the per-account token bucket shared through PostgreSQL, in-flight slots, 429 back-off.

Stripe's limits are per account and per second (https://docs.stripe.com/rate-limits): live 100, test 25 requests;
a 429 is answered with exponential back-off, and `Stripe-Should-Retry: false` is honoured as the SDK does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity.connection import Pool
from service import metrics
from service.stripe_gateway.client import StripeAccountSettings, StripeGateway
from service.stripe_gateway.rate_limit import (
    LIVE_REQUESTS_PER_SECOND,
    TEST_REQUESTS_PER_SECOND,
    AdmissionTimeout,
    SharedTokenBucket,
    StripeAdmission,
    StripeLimits,
    stripe_operation,
    stripe_wait_deadline,
)
from stripe_emulator.control import EmulatorControl

SECRET_KEY = "sk_test_ratelimit000000000000000"


@pytest.fixture
async def two_pools(entity_database_dsn: str) -> AsyncIterator[tuple[Pool, Pool]]:
    """Two pools on one database, as two processes (or hosts) would have."""
    first = await create_pool(entity_database_dsn, min_size=1, max_size=4)
    second = await create_pool(entity_database_dsn, min_size=1, max_size=4)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _gateway(
    pool: Pool, url: str, *, max_in_flight: int = 64, rate: float | None = None
) -> tuple[StripeGateway, StripeAdmission]:
    limits = StripeLimits.for_key(SECRET_KEY, max_in_flight=max_in_flight, requests_per_second=rate)
    admission = StripeAdmission(
        "RateGateway", limits, SharedTokenBucket(pool, limits.bucket_id, limits.requests_per_second)
    )
    settings = StripeAccountSettings(secret_key=SECRET_KEY, api_base=url, max_network_retries=0, timeout_seconds=5.0)
    return StripeGateway("RateGateway", settings, admission), admission


def test_default_limits_follow_stripes_documented_rates_and_never_name_the_key() -> None:
    live = StripeLimits.for_key("sk_live_" + "a" * 24, max_in_flight=8, requests_per_second=None)
    test = StripeLimits.for_key("rk_test_" + "a" * 24, max_in_flight=8, requests_per_second=None)
    assert (live.requests_per_second, test.requests_per_second) == (LIVE_REQUESTS_PER_SECOND, TEST_REQUESTS_PER_SECOND)
    assert live.bucket_id.startswith("live:") and test.bucket_id.startswith("test:")
    assert "a" * 8 not in live.bucket_id
    # Two gateway configs with one key are one account: one bucket.
    assert StripeLimits.for_key(SECRET_KEY, max_in_flight=1, requests_per_second=None).bucket_id == (
        StripeLimits.for_key(SECRET_KEY, max_in_flight=9, requests_per_second=None).bucket_id
    )


def test_operation_labels_replace_ids() -> None:
    assert stripe_operation("post", "http://x/v1/payment_intents/pi_123/capture") == "POST payment_intents/{id}/capture"
    assert stripe_operation("GET", "https://api.stripe.com/v1/payment_intents/search?query=x") == (
        "GET payment_intents/search"
    )
    assert stripe_operation("POST", "http://x/v1/refunds") == "POST refunds"


async def test_the_rate_holds_across_two_processes_sharing_the_database(two_pools: tuple[Pool, Pool]) -> None:
    rate = 40.0
    buckets = [SharedTokenBucket(pool, "test:shared", rate) for pool in two_pools]
    started = time.monotonic()
    deadline = started + 10

    async def take_many(bucket: SharedTokenBucket, count: int) -> None:
        for _ in range(count):
            await bucket.take(deadline)

    # 100 tokens: the first 40 are the full bucket, the other 60 need 1.5 s of refill at 40/s, whichever pool asks.
    await asyncio.gather(*(take_many(bucket, 50) for bucket in buckets))
    elapsed = time.monotonic() - started
    assert elapsed >= 1.3, elapsed
    async with two_pools[0].acquire() as connection:
        row = await connection.fetchrow(
            "SELECT TOKENS, LAST_GRANT FROM STRIPE_RATE_BUCKET WHERE BUCKET_ID = 'test:shared'"
        )
    assert row is not None and row["last_grant"] <= buckets[0].lease_batch


async def test_a_wait_past_the_deadline_is_refused_before_anything_is_sent(
    entity_pool: Pool, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    gateway, _ = await _gateway(entity_pool, stripe_emulator_url, rate=1.0)
    try:
        await gateway.client.v1.customers.create_async({}, {"idempotency_key": "rate-1"})
        token = stripe_wait_deadline.set(time.monotonic() + 0.2)
        try:
            with pytest.raises(AdmissionTimeout):
                await gateway.client.v1.customers.create_async({}, {"idempotency_key": "rate-2"})
        finally:
            stripe_wait_deadline.reset(token)
        assert (await emulator_control.stats())["objects"]["customer"] == 1
    finally:
        await gateway.close()


async def test_a_429_empties_the_shared_bucket_and_is_repeated_with_back_off(
    entity_pool: Pool, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    gateway, _ = await _gateway(entity_pool, stripe_emulator_url)
    limited = metrics.STRIPE_RATE_LIMITED.labels("RateGateway")
    before = limited._value.get()
    try:
        await emulator_control.add_fault("/v1/customers", "error", status=429, count=2, method="POST")
        customer = await gateway.client.v1.customers.create_async({}, {"idempotency_key": "after-429"})
        assert customer.id.startswith("cus_")
        assert limited._value.get() - before == 2
        assert await emulator_control.faults() == []
        assert (await emulator_control.stats())["objects"]["customer"] == 1
        async with entity_pool.acquire() as connection:
            tokens = await connection.fetchval("SELECT TOKENS FROM STRIPE_RATE_BUCKET")
        # Emptied for every process: refilled from zero during the back-off (at most 0.75 s at 25/s), not left at
        # the 22 the first lease left.
        assert tokens < 19, tokens
    finally:
        await gateway.close()


async def test_stripe_should_retry_false_is_honoured(
    entity_pool: Pool, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    gateway, _ = await _gateway(entity_pool, stripe_emulator_url)
    try:
        await emulator_control.add_fault("/v1/customers", "error", status=429, count=2, should_retry=False)
        with pytest.raises(stripe.RateLimitError):
            await gateway.client.v1.customers.create_async({}, {"idempotency_key": "no-retry"})
        (fault,) = await emulator_control.faults()
        assert fault["remaining"] == 1  # sent once
    finally:
        await gateway.close()


async def test_in_flight_requests_are_bounded_per_gateway_config(
    entity_pool: Pool, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    gateway, admission = await _gateway(entity_pool, stripe_emulator_url, max_in_flight=2)
    in_flight = metrics.STRIPE_IN_FLIGHT.labels("RateGateway")
    highest = 0

    async def watch() -> None:
        nonlocal highest
        while True:
            highest = max(highest, int(in_flight._value.get()))
            await asyncio.sleep(0.01)

    try:
        await emulator_control.add_fault("/v1/customers", "hang", count=6, hang_seconds=0.25)
        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        await asyncio.gather(*(gateway.client.v1.customers.list_async({"limit": 1}) for _ in range(6)))
        elapsed = time.monotonic() - started
        watcher.cancel()
        # Six 0.25 s requests two at a time: three rounds.
        assert elapsed >= 0.7, elapsed
        assert highest == 2
        assert admission.limits.max_in_flight == 2
    finally:
        await gateway.close()


async def test_the_in_flight_limit_is_the_only_bound_above_aiohttps_default_of_100(entity_pool: Pool) -> None:
    # aiohttp's TCPConnector holds 100 connections by default; a limit of 150 must let 150 requests be in flight.
    # The server answers none until all 150 have arrived: with a connector of 100 the 101st never would.
    wanted = 150
    arrived = 0
    all_in = asyncio.Event()

    async def hold_until_all_arrived(request: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        if arrived == wanted:
            all_in.set()
        await all_in.wait()
        return web.json_response({"object": "list", "data": [], "has_more": False, "url": "/v1/customers"})

    app = web.Application()
    app.router.add_get("/v1/customers", hold_until_all_arrived)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    gateway, _ = await _gateway(entity_pool, str(server.make_url("")).rstrip("/"), max_in_flight=wanted)
    try:
        async with asyncio.timeout(20):
            await asyncio.gather(*(gateway.client.v1.customers.list_async({"limit": 1}) for _ in range(wanted)))
        assert arrived == wanted
    finally:
        await gateway.close()
        await server.close()


async def test_without_the_shared_bucket_nothing_is_sent(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    pool = await create_pool(entity_database_dsn, min_size=1, max_size=2)
    gateway, _ = await _gateway(pool, stripe_emulator_url)
    await pool.close()  # the database is gone for this process
    try:
        with pytest.raises(AdmissionTimeout, match="could not be read"):
            await gateway.client.v1.customers.create_async({}, {"idempotency_key": "no-database"})
        assert (await emulator_control.stats())["objects"]["customer"] == 0
    finally:
        await gateway.close()
