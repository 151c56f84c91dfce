"""How many Stripe requests may run: in flight per gateway config, and per second per Stripe account everywhere.

Every HTTP request the Stripe SDK sends for a gateway config passes `AdmittedHTTPClient.request_async` (the SDK's
one transport method; its own retries call it again), which:
1. takes one of the gateway config's `max_in_flight_requests` slots (per process: an asyncio semaphore);
2. takes a token from the Stripe account's bucket, shared by every process and host through one PostgreSQL row
   (`SharedTokenBucket`);
3. sends the request, timing it for the metrics; on a 429 it empties the shared bucket (so every process slows
   down, not only this one) and, unless Stripe said `Stripe-Should-Retry: false`, waits and sends again while the
   request's deadline allows; past it the 429 goes back to the SDK, which raises `stripe.RateLimitError`.
A wait for a slot or a token that would end after the deadline, or a bucket the database cannot give, raises
`AdmissionTimeout` (a RateLimitError: the request was never sent, so repeating it with the same key is safe).

Stripe's limits (https://docs.stripe.com/rate-limits, "Rate limiter"): a global limit per account of 100 requests
per second in live mode and 25 in test mode (sandboxes); reads and writes count against the same limit (older
versions of that page gave 100 reads and 100 writes separately; we follow the current one, which is stricter).
Individual endpoints default to 25 requests per second and search to 20 read requests per second; those are left
to the 429 back-off.

Why a token bucket row rather than a declared share per instance: a share (limit / instances) must be re-declared
whenever a replica is added or removed and wastes the share of an idle instance; the row adapts by itself. Its cost
is kept off the hot path by leasing tokens in batches: one `INSERT .. ON CONFLICT DO UPDATE` statement refills the
bucket for the time passed and takes up to `lease_batch` tokens, which this process then hands out locally for at
most `LEASE_SECONDS` (unused ones are dropped, so the account's rate holds over any second, give or take one batch
per process).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import asyncpg
import stripe
from prometheus_client import Counter, Histogram

from moqui_bridge.entity.connection import Pool, acquire
from moqui_bridge.entity.errors import PoolExhaustedError
from service import metrics
from service.config import GatewaySettings

__all__ = [
    "LIVE_REQUESTS_PER_SECOND",
    "TEST_REQUESTS_PER_SECOND",
    "AdmissionTimeout",
    "AdmittedHTTPClient",
    "SharedTokenBucket",
    "StripeAdmission",
    "StripeLimits",
    "stripe_operation",
    "stripe_wait_deadline",
    "stripe_waits_until",
]

log = logging.getLogger(__name__)

# docs.stripe.com/rate-limits: global API rate limit per account.
LIVE_REQUESTS_PER_SECOND: Final = 100.0
TEST_REQUESTS_PER_SECOND: Final = 25.0
# Stripe's limits are per second: a leased token not used within one is given up.
LEASE_SECONDS: Final = 1.0
# Back-off after a 429 (doubling from the first, with jitter, at most the last); Stripe asks for exponential
# back-off with jitter (docs.stripe.com/rate-limits, "Handling limiting gracefully").
_BACKOFF_FIRST_SECONDS: Final = 0.25
_BACKOFF_MAX_SECONDS: Final = 4.0
# The monotonic time by which the request being served must have its Stripe answer; when unset, each Stripe request
# may wait at most its gateway's `timeout_seconds` for admission and 429 back-off together.
stripe_wait_deadline: ContextVar[float | None] = ContextVar("stripe_wait_deadline", default=None)


@contextmanager
def stripe_waits_until(seconds: float) -> Iterator[None]:
    """Stripe requests sent in the block (admission and 429 back-off included) end within `seconds` from now."""
    token = stripe_wait_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        stripe_wait_deadline.reset(token)


_TABLE: Final = "STRIPE_RATE_BUCKET"
_NOW: Final = "(now() AT TIME ZONE 'UTC')"
# Tokens in the bucket now: what was left, plus the rate times the seconds since, at most the capacity ($2).
_REFILLED: Final = (
    f"LEAST($2::float8, b.TOKENS + $3::float8 * GREATEST(0, EXTRACT(EPOCH FROM {_NOW} - b.REFILLED_STAMP))::float8)"
)
_GRANT: Final = f"GREATEST(0, LEAST($4::int, FLOOR({_REFILLED})))::int"
# One statement: create the bucket full, or refill it for the time passed and take up to $4 whole tokens.
_CLAIM_SQL: Final = (
    f"INSERT INTO {_TABLE} AS b (BUCKET_ID, TOKENS, REFILLED_STAMP, LAST_GRANT, LAST_UPDATED_STAMP) "
    f"VALUES ($1, $2::float8 - LEAST($4::int, FLOOR($2::float8)), {_NOW}, LEAST($4::int, FLOOR($2::float8)), {_NOW}) "
    f"ON CONFLICT (BUCKET_ID) DO UPDATE SET TOKENS = {_REFILLED} - {_GRANT}, LAST_GRANT = {_GRANT}, "
    f"REFILLED_STAMP = GREATEST(b.REFILLED_STAMP, {_NOW}), LAST_UPDATED_STAMP = {_NOW} "
    "RETURNING TOKENS, LAST_GRANT"
)
# After a 429: nothing left for anybody until the bucket refills.
_EMPTY_SQL: Final = (
    f"UPDATE {_TABLE} SET TOKENS = LEAST(TOKENS, 0), REFILLED_STAMP = GREATEST(REFILLED_STAMP, {_NOW}), "
    f"LAST_UPDATED_STAMP = {_NOW} WHERE BUCKET_ID = $1"
)


class AdmissionTimeout(stripe.RateLimitError):
    """No in-flight slot or rate-limit token within the request's deadline; the request was not sent."""


def _is_live_key(secret_key: str) -> bool:
    return secret_key.startswith(("sk_live_", "rk_live_"))


@dataclass(frozen=True)
class StripeLimits:
    """The limits of one gateway config: in flight per process, and the shared bucket of its Stripe account."""

    max_in_flight: int
    requests_per_second: float
    bucket_id: str

    @classmethod
    def for_key(cls, secret_key: str, *, max_in_flight: int, requests_per_second: float | None) -> StripeLimits:
        """Limits for a gateway config using `secret_key`: configs with the same key share one bucket.

        The bucket is named by the key's mode and a hash of the key (never the key): the account id would need a
        call to Stripe, and a key identifies one account.
        """
        live = _is_live_key(secret_key)
        rate = requests_per_second or (LIVE_REQUESTS_PER_SECOND if live else TEST_REQUESTS_PER_SECOND)
        digest = hashlib.sha256(secret_key.encode()).hexdigest()[:24]
        return cls(max_in_flight, rate, f"{'live' if live else 'test'}:{digest}")

    @classmethod
    def of_gateway(cls, gateway: GatewaySettings) -> StripeLimits:
        """The limits a gateway config's settings ask for."""
        return cls.for_key(
            gateway.secret_key.get_secret_value(),
            max_in_flight=gateway.max_in_flight_requests,
            requests_per_second=gateway.rate_limit_per_second,
        )


class SharedTokenBucket:
    """A token bucket kept in one PostgreSQL row, leased to this process in batches."""

    def __init__(self, pool: Pool, bucket_id: str, requests_per_second: float) -> None:
        self._pool = pool
        self.bucket_id = bucket_id
        self.rate = requests_per_second
        # One second of requests may go at once, as Stripe's own per-second limiter allows.
        self.capacity = max(1.0, requests_per_second)
        # A tenth of a second's worth per statement: few statements, little hoarding by one process.
        self.lease_batch = max(1, min(50, math.ceil(requests_per_second / 10)))
        self._leased = 0
        self._lease_expires = 0.0
        self._claiming = asyncio.Lock()

    def _take_leased(self) -> bool:
        if self._leased > 0 and time.monotonic() < self._lease_expires:
            self._leased -= 1
            return True
        return False

    async def take(self, deadline: float) -> None:
        """One token, waiting for the refill until `deadline` (monotonic); TimeoutError when it would be later.

        One waiter at a time asks the database (the others queue on the lock and then find its leased tokens), so
        a saturated bucket costs one statement per refill, not one per waiting request.
        """
        if self._take_leased():
            return
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + (deadline - time.monotonic())):
            async with self._claiming:
                while not self._take_leased():
                    tokens_left, granted = await self._claim(self.lease_batch)
                    if granted:
                        self._leased, self._lease_expires = granted, time.monotonic() + LEASE_SECONDS
                        continue
                    # The next whole token is (1 - tokens_left) / rate seconds away.
                    wait = max(0.001, (1.0 - tokens_left) / self.rate)
                    if time.monotonic() + wait > deadline:
                        raise TimeoutError
                    await asyncio.sleep(wait)

    async def _claim(self, wanted: int) -> tuple[float, int]:
        async with acquire(self._pool, 5.0) as connection:
            row = await connection.fetchrow(_CLAIM_SQL, self.bucket_id, self.capacity, self.rate, wanted)
        assert row is not None  # INSERT .. RETURNING always answers one row
        return float(row["tokens"]), int(row["last_grant"])

    async def empty(self) -> None:
        """Stripe answered 429: drop this process's lease and empty the shared bucket for every process."""
        self._leased = 0
        async with acquire(self._pool, 5.0) as connection:
            await connection.execute(_EMPTY_SQL, self.bucket_id)


class StripeAdmission:
    """The in-flight slots of one gateway config in this process, and its account's shared bucket."""

    def __init__(self, payment_gateway_config_id: str, limits: StripeLimits, bucket: SharedTokenBucket) -> None:
        self.payment_gateway_config_id = payment_gateway_config_id
        self.limits = limits
        self._bucket = bucket
        self._slots = asyncio.Semaphore(limits.max_in_flight)
        self._in_flight = metrics.STRIPE_IN_FLIGHT.labels(payment_gateway_config_id)
        self._waited = metrics.STRIPE_ADMISSION_WAIT.labels(payment_gateway_config_id)

    @asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[None]:
        """An in-flight slot and a rate token, for one request; AdmissionTimeout when not before `deadline`."""
        started = time.monotonic()
        if self._slots.locked():
            try:
                async with asyncio.timeout(max(0.0, deadline - started)):
                    await self._slots.acquire()
            except TimeoutError:
                raise AdmissionTimeout(
                    f"no Stripe request slot for {self.payment_gateway_config_id} became free in time "
                    f"(max_in_flight_requests {self.limits.max_in_flight}); the request was not sent"
                ) from None
        else:
            await self._slots.acquire()  # free: no wait, no timer
        try:
            try:
                await self._bucket.take(deadline)
            except TimeoutError:
                raise AdmissionTimeout(
                    f"the Stripe account of {self.payment_gateway_config_id} is at its rate limit "
                    f"({self.limits.requests_per_second:g}/s); the request was not sent"
                ) from None
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, PoolExhaustedError) as error:
                # Without the shared bucket nobody knows the account's rate: do not send rather than guess.
                raise AdmissionTimeout(
                    f"the shared rate limit of {self.payment_gateway_config_id} could not be read "
                    f"({type(error).__name__}); the request was not sent"
                ) from error
            waited = time.monotonic() - started
            if waited > 0.0005:
                self._waited.inc(waited)
            self._in_flight.inc()
            try:
                yield
            finally:
                self._in_flight.dec()
        finally:
            self._slots.release()

    async def rate_limited(self) -> None:
        """Stripe answered 429: count it and slow every process down."""
        metrics.STRIPE_RATE_LIMITED.labels(self.payment_gateway_config_id).inc()
        try:
            await self._bucket.empty()
        except Exception:  # the back-off still happens; the database's trouble shows elsewhere
            log.warning("could not empty the rate-limit bucket after a 429", exc_info=True)


def stripe_operation(method: str, url: str) -> str:
    """A request's metrics label: method and path with ids replaced, e.g. `POST payment_intents/{id}/capture`."""
    path = url.split("?", 1)[0]
    _, _, after = path.partition("/v1/")
    parts = after.split("/") if after else [path.rsplit("/", 1)[-1]]
    # /v1/<resource>/<id>/<action-or-sub-resource>/<id>...: odd positions are ids, except the search route.
    named = [part if index % 2 == 0 or part == "search" else "{id}" for index, part in enumerate(parts)]
    return f"{method.upper()} {'/'.join(named)}"


def _retry_after(headers: Mapping[str, str] | None, attempt: int) -> float | None:
    """Seconds to wait before sending a 429-answered request again; None when Stripe said not to."""
    if headers is not None and headers.get("stripe-should-retry") == "false":
        return None
    advised = headers.get("retry-after") if headers is not None else None
    if advised is not None:
        try:
            return max(0.0, float(advised))
        except ValueError:
            pass
    delay: float = min(_BACKOFF_FIRST_SECONDS * 2.0**attempt, _BACKOFF_MAX_SECONDS)
    return delay * (0.5 + random.random() / 2)


class AdmittedHTTPClient(stripe.AIOHTTPClient):
    """The SDK's aiohttp transport with admission (in-flight slots, the shared rate), 429 back-off and metrics."""

    def __init__(self, admission: StripeAdmission, timeout_seconds: float, **kwargs: Any) -> None:
        # aiohttp's connector keeps at most 100 connections unless told otherwise: under a larger in-flight limit it
        # would be the real bound, queueing requests where neither the limit nor the metrics see them. Sized to the
        # limit (with the SDK's own certificate bundle), the operator's setting is the one bound. Made here, in the
        # running loop, as aiohttp requires.
        connector = aiohttp.TCPConnector(
            limit=admission.limits.max_in_flight, ssl=ssl.create_default_context(cafile=stripe.ca_bundle_path)
        )
        super().__init__(connector=connector, **kwargs)
        self._admission = admission
        self._timeout_seconds = timeout_seconds
        # prometheus_client's labels() takes a lock and builds a key on every call: keep the children.
        self._latencies: dict[str, Histogram] = {}
        self._counts: dict[tuple[str, str], Counter] = {}

    def _count(self, operation: str, status: str) -> None:
        counter = self._counts.get((operation, status))
        if counter is None:
            gateway = self._admission.payment_gateway_config_id
            counter = self._counts[operation, status] = metrics.STRIPE_REQUESTS.labels(gateway, operation, status)
        counter.inc()

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        """Send one request under admission; repeat it after a 429 while the deadline allows."""
        deadline = stripe_wait_deadline.get() or time.monotonic() + self._timeout_seconds
        operation = stripe_operation(method, url)
        latency = self._latencies.get(operation)
        if latency is None:
            gateway = self._admission.payment_gateway_config_id
            latency = self._latencies[operation] = metrics.STRIPE_LATENCY.labels(gateway, operation)
        attempt = 0
        while True:
            async with self._admission.slot(deadline):
                started = time.perf_counter()
                try:
                    answer: tuple[bytes, int, Mapping[str, str]] = await super().request_async(
                        method, url, headers, post_data
                    )
                except stripe.APIConnectionError:
                    self._count(operation, "connection_error")
                    raise
                latency.observe(time.perf_counter() - started)
            status = answer[1]
            self._count(operation, str(status))
            if status != 429:
                return answer
            await self._admission.rate_limited()
            delay = _retry_after(answer[2], attempt)
            if delay is None or time.monotonic() + delay >= deadline:
                return answer
            attempt += 1
            await asyncio.sleep(delay)
