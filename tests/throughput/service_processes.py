"""`moqui-stripe serve` as real processes on one database and one emulator, and the Mantle rows they act on."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from moqui_bridge.entity import EntityFacade
from moqui_bridge.web import moqui_json

CONFIG_ID = "StripeGateway"
API_KEY = "throughput-tests-key"
SECRET_KEY = "sk_test_throughput00000000000000"
SERVICES = "stripe.StripePaymentServices"
_ids = itertools.count(1)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServiceProcess:
    """One `moqui-stripe serve` process and its base URL."""

    process: asyncio.subprocess.Process
    url: str

    async def rpc(self, session: aiohttp.ClientSession, verb: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One JSON-RPC call as Moqui's remote runner makes it; the parsed answer."""
        body = moqui_json.dumps({"jsonrpc": "2.0", "id": 1, "method": f"{SERVICES}.{verb}", "params": params})
        async with session.post(
            f"{self.url}/rpc/json?api_key={API_KEY}", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            answer: dict[str, Any] = moqui_json.loads(await response.read())
            return answer


async def _wait_healthy(service: ServiceProcess, seconds: float = 60.0) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 10)):
            if service.process.returncode is not None:
                raise AssertionError(f"serve exited early with {service.process.returncode}")
            try:
                async with session.get(f"{service.url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{service.url} did not become healthy")


@asynccontextmanager
async def serve_process(
    database_dsn: str, stripe_url: str, *, extra_arguments: Sequence[str] = (), home: str
) -> AsyncIterator[ServiceProcess]:
    """`moqui-stripe serve` on a free port until the block ends, then SIGTERM (and its exit awaited)."""
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("MOQUI_STRIPE_") and key != "DATABASE_URL"
    }
    environment.update(
        {
            "HOME": home,
            "MOQUI_STRIPE_SERVER_API_KEYS": f"tests={API_KEY}",
            f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__SECRET_KEY": SECRET_KEY,
            f"MOQUI_STRIPE_GATEWAY__{CONFIG_ID}__API_BASE": stripe_url,
            "MOQUI_STRIPE_DATABASE_POOL_MAX_SIZE": "20",
            "MOQUI_STRIPE_LOG_LEVEL": "WARNING",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_dsn,
        *extra_arguments,
        env=environment,
        cwd=home,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}")
    try:
        await _wait_healthy(service)
        yield service
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)


async def add_card_payments(
    entity: EntityFacade, count: int, amount: str = "10.00", card: str = "pm_card_visa"
) -> list[str]:
    """The gateway config and `count` Promised card payments (each with its order and a saved test card)."""
    await entity.store(
        "mantle.account.method.PaymentGatewayConfig",
        {"paymentGatewayConfigId": CONFIG_ID, "paymentGatewayTypeEnumId": "PgtStripe"},
    )
    payment_ids = []
    for _ in range(count):
        n = next(_ids)
        order_id, party_id = f"TPORD{n}", f"TPCUST{n}"
        await entity.create(
            "mantle.order.OrderHeader",
            {"orderId": order_id, "statusId": "OrderPlaced", "currencyUomId": "USD", "grandTotal": Decimal(amount)},
        )
        await entity.create(
            "mantle.order.OrderPart", {"orderId": order_id, "orderPartSeqId": "01", "customerPartyId": party_id}
        )
        method = await entity.create(
            "mantle.account.method.PaymentMethod",
            {"paymentMethodTypeEnumId": "PmtCreditCard", "ownerPartyId": party_id, "gatewayCimId": card},
        )
        payment = await entity.create(
            "mantle.account.payment.Payment",
            {
                "paymentTypeEnumId": "PtInvoicePayment",
                "paymentInstrumentEnumId": "PiCreditCard",
                "paymentMethodId": method["paymentMethodId"],
                "paymentGatewayConfigId": CONFIG_ID,
                "orderId": order_id,
                "orderPartSeqId": "01",
                "fromPartyId": party_id,
                "toPartyId": "ORG_STORE",
                "statusId": "PmntPromised",
                "amount": Decimal(amount),
                "amountUomId": "USD",
            },
        )
        payment_ids.append(payment["paymentId"])
    return payment_ids
