"""Latency and throughput of the gateway services against the Stripe emulator, beside direct Stripe calls.

Run: `.venv/bin/python bench/service_benchmark.py [--payments 200] [--concurrency 50] [--throughput-payments 1500]`

It starts a private PostgreSQL, the emulator and the service as separate processes on loopback (so the measuring
client shares no event loop with them), loads Mantle rows straight into the database, then:
1. per operation, at concurrency 1: the direct SDK call (create+confirm, capture, cancel, refund, retrieve) and the
   service's JSON-RPC call that makes it (authorize, capture, release, refund, get#PaymentGatewayDetails), with
   median and p99;
   the service's overhead is its latency minus the direct call's;
2. authorizations per second through the service at the given concurrency.
Prints a table; exits 1 when the overhead target (< 5 ms median) or the throughput target (>= 300/s) is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moqui_bridge.database.pool import create_pool
from moqui_bridge.database.postgres_server import PostgresServer
from moqui_bridge.entity import EntityFacade
from moqui_bridge.web import moqui_json
from service.database_setup import load_entity_registry

SECRET_KEY = "sk_test_bench"  # any sk_test_ key opens the emulator
API_KEY = "benchmark-api-key"
CONFIG_ID = "StripeGateway"
SERVICES = "stripe.StripePaymentServices"
T = TypeVar("T")
OVERHEAD_TARGET_MS = 5.0
THROUGHPUT_TARGET = 300.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_http(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.1)


async def _start(*command: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _seed_payments(entity: EntityFacade, count: int) -> list[str]:
    """Promised card payments of 10.00 USD, each with its own order and a saved Stripe test PaymentMethod."""
    await entity.store(
        "mantle.account.method.PaymentGatewayConfig",
        {
            "paymentGatewayConfigId": CONFIG_ID,
            "paymentGatewayTypeEnumId": "PgtStripe",
            "authorizeServiceName": f"{SERVICES}.authorize#Payment",
            "captureServiceName": f"{SERVICES}.capture#Payment",
            "releaseServiceName": f"{SERVICES}.release#Payment",
            "refundServiceName": f"{SERVICES}.refund#Payment",
            "detailsServiceName": f"{SERVICES}.get#PaymentGatewayDetails",
        },
    )
    payment_ids = []
    for _ in range(count):
        order = await entity.create(
            "mantle.order.OrderHeader",
            {"statusId": "OrderPlaced", "currencyUomId": "USD", "grandTotal": Decimal("10.00")},
        )
        await entity.create(
            "mantle.order.OrderPart",
            {"orderId": order["orderId"], "orderPartSeqId": "01", "customerPartyId": "BenchCustomer"},
        )
        method = await entity.create(
            "mantle.account.method.PaymentMethod",
            {
                "paymentMethodTypeEnumId": "PmtCreditCard",
                "ownerPartyId": "BenchCustomer",
                "gatewayCimId": "pm_card_visa",
            },
        )
        payment = await entity.create(
            "mantle.account.payment.Payment",
            {
                "paymentTypeEnumId": "PtInvoicePayment",
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentMethodId": method["paymentMethodId"],
                "paymentGatewayConfigId": CONFIG_ID,
                "orderId": order["orderId"],
                "orderPartSeqId": "01",
                "fromPartyId": "BenchCustomer",
                "toPartyId": "BenchVendor",
                "statusId": "PmntPromised",
                "amount": Decimal("10.00"),
                "amountUomId": "USD",
            },
        )
        payment_ids.append(payment["paymentId"])
    return payment_ids


class JsonRpc:
    """Moqui's remote-json-rpc request, as its runner sends it."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = f"{url}/rpc/json?api_key={API_KEY}"

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = moqui_json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        async with self._session.post(self._url, data=body, headers={"Content-Type": "application/json"}) as response:
            answer: dict[str, Any] = moqui_json.loads(await response.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer


async def _timed(items: Sequence[T], call: Callable[[T], Awaitable[Any]]) -> list[float]:
    """Milliseconds of each call, one after the other (concurrency 1)."""
    latencies = []
    for item in items:
        started = time.perf_counter()
        await call(item)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _p(latencies: list[float], quantile: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


async def _direct_calls(client: stripe.StripeClient, count: int) -> dict[str, list[float]]:
    intents = client.v1.payment_intents
    created: list[str] = []
    run_id = time.time_ns()

    async def authorize(index: int) -> None:
        intent = await intents.create_async(
            {
                "amount": 1000,
                "currency": "usd",
                "capture_method": "manual",
                "confirm": True,
                "payment_method": "pm_card_visa",
                "off_session": True,
                "metadata": {"paymentId": f"direct-{index}"},
                "expand": ["latest_charge"],
            },
            {"idempotency_key": f"bench-direct/{run_id}/{index}/authorize"},
        )
        created.append(intent.id)

    async def capture(intent_id: str) -> None:
        await intents.capture_async(intent_id, {"amount_to_capture": 1000})

    async def release(intent_id: str) -> None:
        await intents.cancel_async(intent_id)

    async def refund(intent_id: str) -> None:
        await client.v1.refunds.create_async({"payment_intent": intent_id, "amount": 400})

    async def details(intent_id: str) -> None:
        await intents.retrieve_async(intent_id, {"expand": ["latest_charge"]})

    results = {"authorize": await _timed(range(count), authorize)}
    half = count // 2
    results["capture"] = await _timed(created[:half], capture)
    results["release"] = await _timed(created[half:], release)
    results["refund"] = await _timed(created[:half], refund)
    results["details"] = await _timed(created[:half], details)
    return results


async def _service_calls(rpc: JsonRpc, payment_ids: list[str]) -> dict[str, list[float]]:
    def operation(name: str, **extra: Any) -> Callable[[str], Awaitable[Any]]:
        async def call(payment_id: str) -> None:
            await rpc.call(
                f"{SERVICES}.{name}", {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id, **extra}
            )

        return call

    half = len(payment_ids) // 2
    results = {"authorize": await _timed(payment_ids, operation("authorize#Payment", cardSecurityCode=None))}
    results["capture"] = await _timed(payment_ids[:half], operation("capture#Payment", amount=Decimal("10.0000")))
    results["release"] = await _timed(payment_ids[half:], operation("release#Payment"))
    results["refund"] = await _timed(payment_ids[:half], operation("refund#Payment", amount=Decimal("4.0000")))
    results["details"] = await _timed(payment_ids[:half], operation("get#PaymentGatewayDetails"))
    return results


async def _throughput(rpc: JsonRpc, payment_ids: list[str], concurrency: int) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for payment_id in payment_ids:
        queue.put_nowait(payment_id)

    async def worker() -> None:
        while not queue.empty():
            payment_id = queue.get_nowait()
            await rpc.call(
                f"{SERVICES}.authorize#Payment",
                {"cardSecurityCode": None, "paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id},
            )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(payment_ids) / (time.perf_counter() - started)


async def run(payments: int, concurrency: int, throughput_payments: int) -> bool:
    """Run the whole benchmark; True when both targets are met."""
    with tempfile.TemporaryDirectory(prefix="moqui-stripe-bench-") as scratch:
        data_dir = Path(tempfile.mkdtemp(prefix="moqui-stripe-bench-pg-"))
        database = PostgresServer(data_dir, database="bench", keep_data=False, fsync=False)
        await database.start()
        emulator_port, service_port = _free_port(), _free_port()
        emulator_url, service_url = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{service_port}"
        python = sys.executable
        emulator = await _start(python, "-m", "stripe_emulator", "--port", str(emulator_port), "--rate-limit", "off")
        service = await _start(
            python,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(service_port),
            "--database-url",
            database.dsn(),
            env={
                "MOQUI_STRIPE_SERVER_API_KEYS": f"bench={API_KEY}",
                f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__SECRET_KEY": SECRET_KEY,
                f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__API_BASE": emulator_url,
                "MOQUI_STRIPE_LOG_LEVEL": "WARNING",
                "HOME": scratch,
            },
        )
        try:
            await _wait_http(f"{emulator_url}/v1/payment_intents")
            await _wait_http(f"{service_url}/health")
            pool = await create_pool(database.dsn(), min_size=1, max_size=4)
            entity = EntityFacade(pool, load_entity_registry())
            payment_ids = await _seed_payments(entity, payments + throughput_payments)
            await pool.close()

            http = stripe.AIOHTTPClient()
            client = stripe.StripeClient(
                SECRET_KEY, base_addresses={"api": emulator_url}, http_client=http, max_network_retries=2
            )
            direct = await _direct_calls(client, payments)
            await http.close_async()  # type: ignore[no-untyped-call]
            connector = aiohttp.TCPConnector(limit=concurrency * 2)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                rpc = JsonRpc(session, service_url)
                through_service = await _service_calls(rpc, payment_ids[:payments])
                rate = await _throughput(rpc, payment_ids[payments:], concurrency)
        finally:
            for process in (service, emulator):
                process.terminate()
                await process.wait()
            await database.stop()

    header = ("operation", "direct p50", "direct p99", "service p50", "service p99", "overhead p50")
    print(f"{header[0]:<10} {header[1]:>11} {header[2]:>11} {header[3]:>12} {header[4]:>12} {header[5]:>13}")
    worst_overhead = 0.0
    for operation, direct_latencies in direct.items():
        service_latencies = through_service[operation]
        overhead = statistics.median(service_latencies) - statistics.median(direct_latencies)
        worst_overhead = max(worst_overhead, overhead)
        print(
            f"{operation:<10} {statistics.median(direct_latencies):>9.2f}ms {_p(direct_latencies, 0.99):>9.2f}ms"
            f" {statistics.median(service_latencies):>10.2f}ms {_p(service_latencies, 0.99):>10.2f}ms"
            f" {overhead:>11.2f}ms"
        )
    print(f"authorizations/s through the service at concurrency {concurrency}: {rate:.0f}")
    met = worst_overhead < OVERHEAD_TARGET_MS and rate >= THROUGHPUT_TARGET
    print(
        f"targets: overhead < {OVERHEAD_TARGET_MS} ms median (worst {worst_overhead:.2f} ms), "
        f">= {THROUGHPUT_TARGET:.0f} authorizations/s ({rate:.0f}): {'met' if met else 'MISSED'}"
    )
    return met


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=200, help="payments per operation at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--throughput-payments", type=int, default=1500)
    arguments = parser.parse_args()
    return 0 if asyncio.run(run(arguments.payments, arguments.concurrency, arguments.throughput_payments)) else 1


if __name__ == "__main__":
    sys.exit(main())
