"""The gateway services' overhead and throughput against the Stripe emulator, beside direct Stripe SDK calls.

Run (never by the tests):

    .venv/bin/python bench/service_benchmark.py [--stripe-latency 0.25] [--calls 1000] [--concurrency 200]
        [--seconds 20] [--warmup 3] [--workers 1 2] [--pool-max-size N] [--phases overhead throughput]

(`--pool-max-size` sizes each worker's pool, the setting's default otherwise; `--phases` runs part of it, and the
targets of a phase left out count as missed.)

It starts a private PostgreSQL, the emulator and `moqui-stripe serve` as separate processes on loopback, loads Mantle
rows straight into the database, and reports:
1. overhead at concurrency 1 with no latency, per operation (authorize, capture, release, refund, details), over
   `--calls` calls each, on both of the service's paths: the gateway API over REST as the Moqui component calls it
   (Moqui has read the Payment and writes the PGR in its own database), and Mantle's gateway services in standalone
   mode over /rpc/json (which also read the local Payment and write the PGR); each path's median and p99 minus those
   of the direct SDK call it makes (the same request: parameters, expansions, idempotency key, metadata). The three
   take turns call by call, so the medians compared are taken in the same seconds of this (noisy, shared) machine.
   Also per call: Stripe requests (each path's own service process counts them) and, from a separate run of
   `--sql-calls` calls each through a counting proxy in front of PostgreSQL (tests/throughput/postgres_wire.py),
   SQL statements and round trips and where the statements come from. The overhead targets are the gateway API's:
   the standalone figures include Moqui's own Payment read and PGR insert, and are reported beside them;
2. authorizations per second (standalone authorize#Payment, the heavier path) at `--concurrency` for `--seconds` of
   steady state (after `--warmup`), with each `--workers` count, without latency and with `--stripe-latency` seconds
   added to every Stripe request (the emulator's latency setting: it holds each request that long, as Stripe's own
   time would); errors; the most database connections the service held; CPU milliseconds per authorization of each
   process group (service, emulator, PostgreSQL, this client, from /proc); and each group's peak resident memory.
The service's rate limit and the emulator's (where it has one) are lifted for the run; the emulator is emptied before
each phase, so objects stored by one do not slow the next one's searches. Exits 1 when a target of issue 11 is missed
(overhead median <= 3 ms and p99 <= 10 ms on the gateway API; at the latency with 2 workers >= 300/s and >= 90% of the
run without latency; no errors).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moqui_bridge.database.postgres_server import PostgresServer
from moqui_bridge.web import moqui_json
from service.config import DatabaseSettings
from service.connection_budget import BACKGROUND_CONNECTIONS
from service.database_setup import load_entity_registry
from stripe_emulator.control import EmulatorControl
from tests.throughput.postgres_wire import WireCounts, counting_proxy, statement_sources

SECRET_KEY = "sk_test_bench"  # any sk_test_ key opens the emulator
API_KEY = "benchmark-api-key"
CONFIG_ID = "StripeGateway"
SERVICES = "stripe.StripePaymentServices"
# Issue 11, "Done when".
OVERHEAD_MEDIAN_TARGET_MS = 3.0
OVERHEAD_P99_TARGET_MS = 10.0
THROUGHPUT_TARGET = 300.0
LATENCY_RATIO_TARGET = 0.9
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.1)


def _listening_sockets(port: int) -> int:
    """Sockets listening on `port` (/proc/net/tcp and tcp6: local address `ADDR:PORT` in hex, state 0A)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


async def _wait_listening(port: int, workers: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while _listening_sockets(port) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers did not all listen on {port}")
        await asyncio.sleep(0.1)


# -- processes: CPU and memory from /proc -----------------------------------------------------------------------------


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # The command may hold spaces and parentheses: fields start after the last ')'.
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _tree(root: int) -> list[int]:
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue.extend(_children(pid))
    return pids


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, with that of its children it has waited for (exited backends)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime, stime, cutime, cstime are fields 14-17 (1-based), i.e. 11-14 after the command.
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def _peak_memory_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@dataclass
class ProcessGroups:
    """Named groups of processes, each given by a root pid whose whole tree counts (except `alone`: the root only)."""

    roots: dict[str, int]
    alone: frozenset[str] = frozenset()

    def _pids(self, name: str) -> list[int]:
        root = self.roots[name]
        return [root] if name in self.alone else _tree(root)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per group."""
        return {name: sum(_cpu_seconds(pid) for pid in self._pids(name)) for name in self.roots}

    def peak_memory_mib(self) -> dict[str, str]:
        """Per group: the largest peak resident set of one of its processes (and how many there are)."""
        result = {}
        for name in self.roots:
            peaks = [_peak_memory_kib(pid) for pid in self._pids(name)]
            result[name] = f"{max(peaks) / 1024:.0f} MiB (largest of {len(peaks)})"
        return result


# -- the stack ------------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """PostgreSQL, the emulator (its own process) and their addresses."""

    database: PostgresServer
    emulator: asyncio.subprocess.Process
    emulator_url: str
    control: EmulatorControl
    scratch: Path

    @property
    def dsn(self) -> str:
        """The benchmark database."""
        return self.database.dsn()

    def postmaster_pid(self) -> int:
        """The PostgreSQL server's main process."""
        return int((self.database.data_dir / "postmaster.pid").read_text().split()[0])


@contextlib.asynccontextmanager
async def _stack() -> AsyncIterator[Stack]:
    scratch = Path(tempfile.mkdtemp(prefix="moqui-stripe-bench-"))
    os.chmod(scratch, 0o755)  # the PostgreSQL server may run as another user and must reach its data folder
    database = PostgresServer(scratch / "postgres", database="bench", keep_data=True, fsync=False)
    await database.start()
    port = _free_port()
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stripe_emulator",
        "--port",
        str(port),
        "--rate-limit",
        "off",
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    control = EmulatorControl(url)
    try:
        await _wait_http(f"{url}/v1/payment_intents")
        yield Stack(database, emulator, url, control, scratch)
    finally:
        await control.close()
        emulator.terminate()
        await emulator.wait()
        await database.stop()
        shutil.rmtree(scratch, ignore_errors=True)


# The schema and seed data only, as `serve` first made them: each throughput run starts from a copy of it, so no run
# meets the rows of earlier ones (bigger tables and indexes, autovacuum at work on them), which made the order of the
# runs count: two runs of 2 workers, with and without latency, each did 2-12% worse when made second.
CLEAN_DATABASE: Final = "bench_clean"


async def _fresh_database(stack: Stack, name: str) -> str:
    """A new database copied from CLEAN_DATABASE; its DSN."""
    return await stack.database.create_database(name, template=CLEAN_DATABASE)


async def _fresh_emulator(control: EmulatorControl, latency: float = 0.0) -> None:
    """An empty emulator (what earlier phases stored would slow its searches), without its Stripe-like rate limit
    (the run measures us), and with every Stripe request taking `latency` seconds longer (its latency setting)."""
    await control.reset()
    await control.set_rate_limit(None)
    await control.set_latency(latency)


@dataclass
class Service:
    """One `moqui-stripe serve` (with its workers) and its address."""

    process: asyncio.subprocess.Process
    url: str


@contextlib.asynccontextmanager
async def _service(
    stack: Stack, workers: int, dsn: str | None = None, pool_max_size: int | None = None
) -> AsyncIterator[Service]:
    """`serve` on the stack's database (or `dsn`: the same database through a counting proxy), with its default pool
    size unless `pool_max_size` is given."""
    port = _free_port()
    log = open(stack.scratch / f"service-{port}.log", "wb")  # noqa: ASYNC230, SIM115  # handed to the process
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        dsn or stack.dsn,
        "--workers",
        str(workers),
        env={
            **os.environ,
            "MOQUI_STRIPE_SERVER_API_KEYS": f"bench={API_KEY}",
            **({"MOQUI_STRIPE_DATABASE_POOL_MAX_SIZE": str(pool_max_size)} if pool_max_size else {}),
            f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__SECRET_KEY": SECRET_KEY,
            f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__API_BASE": stack.emulator_url,
            # The emulator is not Stripe: nothing to protect, so the run is not throttled by us.
            f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__RATE_LIMIT_PER_SECOND": "100000",
            f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__MAX_IN_FLIGHT_REQUESTS": "2000",
            "MOQUI_STRIPE_LOG_LEVEL": "WARNING",
            "HOME": str(stack.scratch),
        },
        cwd=stack.scratch,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_http(f"{url}/health")
        # /health answers as soon as one worker listens; a client that opened its keep-alive connections then would
        # send them all to that worker for the whole run (SO_REUSEPORT spreads connections as they are made).
        await _wait_listening(port, workers)
        yield Service(process, url)
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
        log.close()


# -- data -----------------------------------------------------------------------------------------------------------


async def _seed_payments(dsn: str, prefix: str, count: int) -> list[str]:
    """`count` Promised card payments of 10.00 USD, each with its own order, in a few set-based statements."""
    registry = load_entity_registry()

    def table(name: str) -> str:
        return registry.get(name).table_name

    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute(
                f"INSERT INTO {table('mantle.account.method.PaymentGatewayConfig')} "
                "(PAYMENT_GATEWAY_CONFIG_ID, PAYMENT_GATEWAY_TYPE_ENUM_ID) VALUES ($1, 'PgtStripe') "
                "ON CONFLICT DO NOTHING",
                CONFIG_ID,
            )
            await connection.execute(
                f"INSERT INTO {table('mantle.account.method.PaymentMethod')} "
                "(PAYMENT_METHOD_ID, PAYMENT_METHOD_TYPE_ENUM_ID, OWNER_PARTY_ID, GATEWAY_CIM_ID) "
                "VALUES ('BenchCard', 'PmtCreditCard', 'BenchCustomer', 'pm_card_visa') ON CONFLICT DO NOTHING"
            )
            series = f"FROM generate_series(1, {int(count)}) AS n"
            await connection.execute(
                f"INSERT INTO {table('mantle.order.OrderHeader')} (ORDER_ID, STATUS_ID, CURRENCY_UOM_ID, GRAND_TOTAL) "
                f"SELECT '{prefix}' || n, 'OrderPlaced', 'USD', 10.00 {series}"
            )
            await connection.execute(
                f"INSERT INTO {table('mantle.order.OrderPart')} (ORDER_ID, ORDER_PART_SEQ_ID, CUSTOMER_PARTY_ID) "
                f"SELECT '{prefix}' || n, '01', 'BenchCustomer' {series}"
            )
            await connection.execute(
                f"INSERT INTO {table('mantle.account.payment.Payment')} (PAYMENT_ID, PAYMENT_TYPE_ENUM_ID, "
                "PAYMENT_INSTRUMENT_ENUM_ID, PAYMENT_METHOD_ID, PAYMENT_GATEWAY_CONFIG_ID, ORDER_ID, "
                "ORDER_PART_SEQ_ID, FROM_PARTY_ID, TO_PARTY_ID, STATUS_ID, AMOUNT, AMOUNT_UOM_ID) "
                f"SELECT '{prefix}' || n, 'PtInvoicePayment', 'PiCreditCard', 'BenchCard', $1, '{prefix}' || n, "
                f"'01', 'BenchCustomer', 'BenchVendor', 'PmntPromised', 10.00, 'USD' {series}",
                CONFIG_ID,
            )
    finally:
        await connection.close()
    return [f"{prefix}{n}" for n in range(1, count + 1)]


# -- calls ----------------------------------------------------------------------------------------------------------


class RpcError(RuntimeError):
    """The service answered a JSON-RPC error or an HTTP error."""


class JsonRpc:
    """Moqui's remote-json-rpc request, as its runner sends it."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = f"{url}/rpc/json?api_key={API_KEY}"

    async def call(self, verb: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call one gateway service; RpcError unless it answered a result."""
        body = moqui_json.dumps({"jsonrpc": "2.0", "id": 1, "method": f"{SERVICES}.{verb}", "params": params})
        async with self._session.post(self._url, data=body, headers={"Content-Type": "application/json"}) as response:
            if response.status != 200:
                raise RpcError(f"{verb}: HTTP {response.status}")
            answer: dict[str, Any] = moqui_json.loads(await response.read())
        if "error" in answer:
            raise RpcError(f"{verb}: {answer['error']}")
        return answer


def _p(latencies: Sequence[float], quantile: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


# The operations at concurrency 1, in order, with the payments each acts on out of 2 x `calls`: authorize makes them
# all, capture and refund take the first half, release the second; details reads the first half.
OPERATIONS: Final = ("authorize", "capture", "release", "refund", "details")
# The service's two paths, each measured against the direct SDK calls. The overhead targets are for the
# gateway API, the service's own interface (what the Moqui component calls: everything between Moqui and Stripe);
# the standalone services also do Moqui's own work in process, the Payment read and the PGR insert (two more round
# trips to PostgreSQL), and are reported beside it.
TARGET_PATH: Final = "gateway API"
PATHS: Final = (TARGET_PATH, "standalone")


def _indexes(operation: str, count: int) -> range:
    return {"authorize": range(2 * count), "release": range(count, 2 * count)}.get(operation, range(count))


Call = Callable[[int], Awaitable[None]]


@dataclass
class Caller:
    """One way of making the operations: per operation, a call given a payment's index."""

    name: str
    calls: dict[str, Call]


@contextlib.asynccontextmanager
async def _direct_sdk(stack: Stack) -> AsyncIterator[Caller]:
    """The Stripe requests the services send (parameters, expansions, idempotency keys, refund metadata), made
    with the SDK directly: the baseline each service call is compared with."""
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": stack.emulator_url}, http_client=http, max_network_retries=2
    )
    intents = client.v1.payment_intents
    created: dict[int, str] = {}
    run_id = time.time_ns()

    def key(index: int, operation: str) -> stripe.RequestOptions:
        return {"idempotency_key": f"bench-direct/{run_id}/{index}/{operation}"}

    async def authorize(index: int) -> None:
        intent = await intents.create_async(
            {
                "amount": 1000,
                "currency": "usd",
                "capture_method": "manual",
                "confirm": True,
                "payment_method": "pm_card_visa",
                "off_session": True,
                "metadata": {"paymentId": f"direct-{index}", "paymentGatewayConfigId": CONFIG_ID},
                "expand": ["latest_charge"],
            },
            key(index, "authorize"),
        )
        created[index] = intent.id

    async def capture(index: int) -> None:
        await intents.capture_async(
            created[index], {"amount_to_capture": 1000, "expand": ["latest_charge"]}, key(index, "capture")
        )

    async def release(index: int) -> None:
        await intents.cancel_async(created[index], {"expand": ["latest_charge"]}, key(index, "release"))

    async def refund(index: int) -> None:
        await client.v1.refunds.create_async(
            {
                "payment_intent": created[index],
                "amount": 400,
                "metadata": {"paymentId": f"direct-{index}", "paymentGatewayConfigId": CONFIG_ID},
            },
            key(index, "refund"),
        )

    async def details(index: int) -> None:
        await intents.retrieve_async(created[index], {"expand": ["latest_charge"]})

    try:
        yield Caller(
            "direct SDK",
            {"authorize": authorize, "capture": capture, "release": release, "refund": refund, "details": details},
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def _gateway_api(session: aiohttp.ClientSession, service: Service, prefix: str) -> Caller:
    """The gateway API over REST as the Moqui component calls it (docs/gateway-api.md): the component has read the
    Payment and counted its PGRs in Moqui, and writes the PGR there; this service only journals and calls Stripe."""
    intents: dict[int, str] = {}

    async def post(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        async with session.post(
            f"{service.url}/rest/s1/moqui-stripe/v1/gateway/{operation}",
            data=moqui_json.dumps({"paymentGatewayConfigId": CONFIG_ID, **params}),
            headers={"Content-Type": "application/json", "api_key": API_KEY},
        ) as response:
            body = await response.read()
            if response.status != 200:
                raise RpcError(f"{operation}: HTTP {response.status} {body[:300]!r}")
        answer: dict[str, Any] = moqui_json.loads(body)
        return answer

    async def authorize(index: int) -> None:
        answer = await post(
            "authorize",
            {
                "paymentId": f"{prefix}{index}",
                "attemptNum": 0,
                "amount": "10.00",
                "currencyUomId": "USD",
                "stripePaymentMethodId": "pm_card_visa",
            },
        )
        intents[index] = answer["paymentIntentId"]

    def on_intent(operation: str, extra: dict[str, Any]) -> Call:
        async def call(index: int) -> None:
            attempt = {} if operation == "details" else {"attemptNum": 0}
            await post(
                operation,
                {"paymentId": f"{prefix}{index}", "paymentIntentId": intents[index], **attempt, **extra},
            )

        return call

    return Caller(
        "gateway API",
        {
            "authorize": authorize,
            "capture": on_intent("capture", {"amount": "10.00", "currencyUomId": "USD"}),
            "release": on_intent("release", {}),
            "refund": on_intent("refund", {"amount": "4.00", "currencyUomId": "USD"}),
            "details": on_intent("details", {}),
        },
    )


def _standalone(session: aiohttp.ClientSession, service: Service, payment_ids: list[str]) -> Caller:
    """Mantle's gateway services in standalone mode over /rpc/json: before the gateway API's work they read the
    local Payment and its PGRs, and after it they write the PGR (the work Moqui does in the component's path)."""
    rpc = JsonRpc(session, service.url)
    extras: dict[str, dict[str, Any]] = {
        "authorize": {"cardSecurityCode": None},
        "capture": {"amount": Decimal("10.0000")},
        "refund": {"amount": Decimal("4.0000")},
    }
    verbs = {operation: f"{operation}#Payment" for operation in OPERATIONS}
    verbs["details"] = "get#PaymentGatewayDetails"

    def call_of(operation: str) -> Call:
        async def call(index: int) -> None:
            params = {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_ids[index]}
            await rpc.call(verbs[operation], {**params, **extras.get(operation, {})})

        return call

    return Caller("standalone", {operation: call_of(operation) for operation in OPERATIONS})


Measure = Callable[[str, Callable[[], Awaitable[None]]], Awaitable[None]]


async def _interleaved(callers: Sequence[Caller], count: int, measure: Measure) -> dict[str, dict[str, list[float]]]:
    """Each operation over its payments at concurrency 1, the callers taking turns call by call (so every caller's
    median is taken in the same seconds of this machine), each turn starting with the next caller; milliseconds per
    caller and operation. `measure` wraps each operation's run (counters read before and after)."""
    latencies: dict[str, dict[str, list[float]]] = {caller.name: {} for caller in callers}
    for operation in OPERATIONS:

        async def run(operation: str = operation) -> None:
            for caller in callers:
                latencies[caller.name][operation] = []
            for turn, index in enumerate(_indexes(operation, count)):
                for offset in range(len(callers)):
                    caller = callers[(turn + offset) % len(callers)]
                    started = time.perf_counter()
                    await caller.calls[operation](index)
                    latencies[caller.name][operation].append((time.perf_counter() - started) * 1000)

        await measure(operation, run)
    return latencies


@dataclass
class OperationCost:
    """What one kind of service call cost: latencies and Stripe requests per call."""

    latencies: list[float]
    stripe_calls: float


async def _metric_total(session: aiohttp.ClientSession, service: Service, name: str) -> float:
    async with session.get(f"{service.url}/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def _overhead_calls(
    stack: Stack, count: int
) -> tuple[dict[str, list[float]], dict[str, dict[str, OperationCost]]]:
    """The direct SDK calls, the gateway API's and the standalone services', taking turns; each path has a
    service process of its own, so its Stripe requests are counted apart."""
    payment_ids = await _seed_payments(stack.dsn, "BO", 2 * count)
    stripe_requests = "moqui_stripe_stripe_requests_total"
    async with (
        _direct_sdk(stack) as direct,
        _service(stack, 1) as gateway_service,
        _service(stack, 1) as standalone_service,
        aiohttp.ClientSession() as session,
    ):
        paths = {
            "gateway API": (gateway_service, _gateway_api(session, gateway_service, f"BG{time.time_ns()}-")),
            "standalone": (standalone_service, _standalone(session, standalone_service, payment_ids)),
        }
        stripe_calls: dict[str, dict[str, float]] = {name: {} for name in paths}

        async def measure(operation: str, run: Callable[[], Awaitable[None]]) -> None:
            before = {
                name: await _metric_total(session, service, stripe_requests) for name, (service, _) in paths.items()
            }
            await run()
            for name, (service, _) in paths.items():
                made = await _metric_total(session, service, stripe_requests) - before[name]
                stripe_calls[name][operation] = made / len(_indexes(operation, count))

        latencies = await _interleaved([direct, *(caller for _, caller in paths.values())], count, measure)
    costs = {
        name: {op: OperationCost(latencies[name][op], stripe_calls[name][op]) for op in OPERATIONS} for name in paths
    }
    return latencies[direct.name], costs


@dataclass
class SqlCost:
    """SQL per call of one kind, counted on the wire: statements and round trips, and their sources in all."""

    calls: int
    counts: WireCounts

    @property
    def statements(self) -> float:
        """Statements per call."""
        return self.counts.statement_count / self.calls

    @property
    def round_trips(self) -> float:
        """Round trips per call."""
        return self.counts.round_trips / self.calls


async def _sql_per_operation(stack: Stack, calls: int) -> dict[str, dict[str, SqlCost]]:
    """Per path, each operation `calls` times (authorize twice as often) through a counting proxy in front of
    PostgreSQL, on a service of its own so the proxy slows none of the timed runs; one round of every operation
    first, uncounted, warms the process (statement caches, sequence banks, the rate-limit lease)."""
    results: dict[str, dict[str, SqlCost]] = {}
    async with (
        counting_proxy(stack.dsn) as wire,
        _service(stack, 1, wire.dsn(stack.dsn)) as service,
        aiohttp.ClientSession() as session,
    ):
        warm, counted = await _seed_payments(stack.dsn, "BSW", 2), await _seed_payments(stack.dsn, "BSC", 2 * calls)
        paths = (
            (_gateway_api(session, service, "BSGW"), _gateway_api(session, service, "BSGC")),
            (_standalone(session, service, warm), _standalone(session, service, counted)),
        )
        for warm_caller, counted_caller in paths:
            per_operation = results.setdefault(counted_caller.name, {})

            async def ignore(operation: str, run: Callable[[], Awaitable[None]]) -> None:
                await run()

            async def measure(
                operation: str, run: Callable[[], Awaitable[None]], into: dict[str, SqlCost] = per_operation
            ) -> None:
                before = wire.snapshot()
                await run()
                into[operation] = SqlCost(len(_indexes(operation, calls)), wire.snapshot().since(before))

            await _interleaved([warm_caller], 1, ignore)
            await _interleaved([counted_caller], calls, measure)
    return results


@dataclass
class ThroughputRun:
    """One steady-state authorization run."""

    workers: int
    latency: float
    pool_max_size: int
    completed: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    most_connections: int = 0
    cpu_ms_per_authorize: dict[str, float] = field(default_factory=dict)
    peak_memory: dict[str, str] = field(default_factory=dict)
    ran_out: bool = False

    @property
    def rate(self) -> float:
        """Authorizations per second in the measured window."""
        return self.completed / self.seconds if self.seconds else 0.0


async def _count_connections(dsn: str, stop: asyncio.Event) -> int:
    connection = await asyncpg.connect(dsn)
    most = 0
    try:
        while not stop.is_set():
            in_use = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'moqui-stripe'"
            )
            most = max(most, int(in_use))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        await connection.close()
    return most


async def _throughput(
    stack: Stack,
    service: Service,
    payment_ids: list[str],
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    run: ThroughputRun,
) -> None:
    queue = iter(payment_ids)
    measuring = over = False
    groups = ProcessGroups(
        {
            "service": service.process.pid,
            "emulator": stack.emulator.pid,
            "postgres": stack.postmaster_pid(),
            "client": os.getpid(),
        },
        alone=frozenset({"client"}),  # the emulator and the service are this process's children
    )

    async def worker(rpc: JsonRpc) -> None:
        while not over:
            payment_id = next(queue, None)
            if payment_id is None:
                run.ran_out = True
                return
            try:
                await rpc.call(
                    "authorize#Payment",
                    {"cardSecurityCode": None, "paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id},
                )
                if measuring:
                    run.completed += 1
            except (RpcError, aiohttp.ClientError, TimeoutError) as error:
                # Counted in the warm-up and the drain too: a call that fails after the window still failed.
                run.errors += 1
                run.first_error = run.first_error or str(error)[:300]

    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        rpc = JsonRpc(session, service.url)
        tasks = [asyncio.create_task(worker(rpc)) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        stop_counting = asyncio.Event()
        counter = asyncio.create_task(_count_connections(stack.dsn, stop_counting))
        cpu_before = groups.cpu()
        measuring, started = True, time.monotonic()
        await asyncio.sleep(seconds)
        measuring, over, run.seconds = False, True, time.monotonic() - started
        cpu_after = groups.cpu()
        stop_counting.set()
        run.most_connections = await counter
        await asyncio.gather(*tasks)
    run.cpu_ms_per_authorize = {
        name: (cpu_after[name] - cpu_before[name]) * 1000 / max(1, run.completed) for name in cpu_before
    }
    run.peak_memory = groups.peak_memory_mib()


# -- the run --------------------------------------------------------------------------------------------------------


def _print_overhead(
    direct: dict[str, list[float]], costs: dict[str, dict[str, OperationCost]], sql: dict[str, dict[str, SqlCost]]
) -> dict[str, tuple[float, float]]:
    """The overhead tables; per path, its worst overhead median and p99."""
    print("\n1. Overhead at concurrency 1, no latency (ms), each path's calls taking turns with the direct SDK calls;")
    print("   Stripe requests, SQL statements and round trips per call")
    worst: dict[str, tuple[float, float]] = {}
    for path, operations in costs.items():
        print(f"\n   {path}")
        print(f"   {'operation':<10} {'calls':>6} {'direct p50':>10} {'p99':>7} {'service p50':>11} {'p99':>7} "
              f"{'overhead p50':>12} {'p99':>7} {'stripe':>6} {'sql':>5} {'trips':>5}")  # fmt: skip
        worst_median = worst_p99 = 0.0
        for operation, cost in operations.items():
            direct_latencies = direct[operation]
            median = statistics.median(cost.latencies) - statistics.median(direct_latencies)
            p99 = _p(cost.latencies, 0.99) - _p(direct_latencies, 0.99)
            worst_median, worst_p99 = max(worst_median, median), max(worst_p99, p99)
            counted = sql[path][operation]
            print(
                f"   {operation:<10} {len(cost.latencies):>6} {statistics.median(direct_latencies):>10.2f} "
                f"{_p(direct_latencies, 0.99):>7.2f} {statistics.median(cost.latencies):>11.2f} "
                f"{_p(cost.latencies, 0.99):>7.2f} {median:>12.2f} {p99:>7.2f} {cost.stripe_calls:>6.2f} "
                f"{counted.statements:>5.1f} {counted.round_trips:>5.1f}"
            )
        worst[path] = (worst_median, worst_p99)
        print("   where the statements come from (per call):")
        for operation, sql_cost in sql[path].items():
            per_call = statement_sources(sql_cost.counts).items()
            sources = ", ".join(f"{count / sql_cost.calls:.2g} {source}" for source, count in per_call)
            print(f"   {operation}: {sources}")
    return worst


def _print_runs(runs: list[ThroughputRun], concurrency: int) -> None:
    print(f"\n2. Authorizations per second at concurrency {concurrency} (steady state)")
    for run in runs:
        note = " (ran out of payments: raise --throughput-payments)" if run.ran_out else ""
        print(
            f"workers {run.workers}, Stripe latency {run.latency * 1000:.0f} ms: {run.rate:.1f}/s "
            f"over {run.seconds:.1f} s "
            f"({run.completed} done, {run.errors} errors, at most {run.most_connections} database connections of "
            f"{run.workers * (run.pool_max_size + BACKGROUND_CONNECTIONS)} budgeted, "
            f"pool {run.pool_max_size} per worker){note}"
        )
        if run.first_error:
            print(f"    first error: {run.first_error}")
        cpu = ", ".join(f"{name} {value:.2f}" for name, value in run.cpu_ms_per_authorize.items())
        print(f"    CPU ms per authorization: {cpu}")
        print(f"    peak memory: {', '.join(f'{name} {value}' for name, value in run.peak_memory.items())}")


async def run(arguments: argparse.Namespace) -> bool:
    """The whole benchmark; True when every target is met."""
    pool_max_size = arguments.pool_max_size or DatabaseSettings.model_fields["pool_max_size"].default
    worst = dict.fromkeys(PATHS, (float("inf"), float("inf")))  # missed unless measured
    async with _stack() as stack:
        async with _service(stack, 1):  # its start creates the schema the seeding needs
            pass
        await stack.database.create_database(CLEAN_DATABASE, template=stack.database.database)
        if "overhead" in arguments.phases:
            await _fresh_emulator(stack.control)
            direct, costs = await _overhead_calls(stack, arguments.calls)
            await _fresh_emulator(stack.control)
            sql = await _sql_per_operation(stack, arguments.sql_calls)
            worst = _print_overhead(direct, costs, sql)

        runs: list[ThroughputRun] = []
        for latency in (0.0, arguments.stripe_latency) if "throughput" in arguments.phases else ():
            for workers in arguments.workers:
                database = f"bench_run{len(runs)}"
                dsn = await _fresh_database(stack, database)
                payments = await _seed_payments(dsn, "BT", arguments.throughput_payments)
                await _fresh_emulator(stack.control, latency)
                run_result = ThroughputRun(workers, latency, pool_max_size)
                async with _service(stack, workers, dsn, pool_max_size=pool_max_size) as service:
                    await _throughput(
                        stack,
                        service,
                        payments,
                        concurrency=arguments.concurrency,
                        warmup=arguments.warmup,
                        seconds=arguments.seconds,
                        run=run_result,
                    )
                await stack.database.drop_database(database)
                runs.append(run_result)
                print(f"  measured: workers {workers}, latency {latency}s: {run_result.rate:.1f}/s", flush=True)
        _print_runs(runs, arguments.concurrency)

    two = {run.latency: run for run in runs if run.workers == max(arguments.workers)}
    with_latency, without = two.get(arguments.stripe_latency), two.get(0.0)
    ratio = with_latency.rate / without.rate if with_latency and without and without.rate else 0.0
    median, p99 = worst[TARGET_PATH]
    met = {
        f"{TARGET_PATH}: overhead median <= {OVERHEAD_MEDIAN_TARGET_MS} ms (worst {median:.2f})": median
        <= OVERHEAD_MEDIAN_TARGET_MS,
        f"{TARGET_PATH}: overhead p99 <= {OVERHEAD_P99_TARGET_MS} ms (worst {p99:.2f})": p99 <= OVERHEAD_P99_TARGET_MS,
        f">= {THROUGHPUT_TARGET:.0f}/s at the latency ({with_latency.rate if with_latency else 0:.1f})": bool(
            with_latency and with_latency.rate >= THROUGHPUT_TARGET
        ),
        f">= {LATENCY_RATIO_TARGET:.0%} of the run without latency ({ratio:.0%})": ratio >= LATENCY_RATIO_TARGET,
        "no errors": all(run.errors == 0 for run in runs),
    }
    print("\ntargets (issue 11):")
    for name, ok in met.items():
        print(f"  {'met   ' if ok else 'MISSED'} {name}")
    for path, (path_median, path_p99) in worst.items():
        if path != TARGET_PATH:
            print(f"  reported: {path} overhead worst median {path_median:.2f} ms, worst p99 {path_p99:.2f} ms")
    return all(met.values())


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stripe-latency", type=float, default=0.25, help="seconds added to every Stripe request")
    parser.add_argument("--calls", type=int, default=1000, help="calls per operation at concurrency 1")
    parser.add_argument("--sql-calls", type=int, default=20, help="calls per operation counted through the proxy")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="steady state measured per throughput run")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--throughput-payments", type=int, default=15000, help="payments seeded per throughput run")
    parser.add_argument(
        "--pool-max-size", type=int, default=None, help="database.pool_max_size of each worker (default: the setting's)"
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=("overhead", "throughput"),
        default=["overhead", "throughput"],
        help="what to measure (targets of a phase left out count as missed)",
    )
    arguments = parser.parse_args()
    return 0 if asyncio.run(run(arguments)) else 1


if __name__ == "__main__":
    sys.exit(main())
