"""/metrics with `serve --workers 2`: whichever worker answers, the figures are the sum over both processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moqui_bridge.entity import EntityFacade
from tests.throughput.service_processes import CONFIG_ID, ServiceProcess, add_card_payments, serve_process

pytestmark = pytest.mark.skipif(
    not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")), reason="PostgreSQL server binaries are not installed"
)
POOL_MAX_SIZE = 20  # service_processes.serve_process


async def _samples(service: ServiceProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    # A new connection per scrape: the kernel hands it to either worker.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(f"{service.url}/metrics") as response:
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_sum_both_workers(
    entity_database_dsn: str, entity_facade: EntityFacade, stripe_emulator_url: str, tmp_path: Path
) -> None:
    payments = await add_card_payments(entity_facade, 24)
    async with serve_process(
        entity_database_dsn, stripe_emulator_url, extra_arguments=["--workers", "2"], home=str(tmp_path)
    ) as service:
        # A connection per call, so both workers take some.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            answers = await asyncio.gather(
                *(
                    service.rpc(
                        session,
                        "authorize#Payment",
                        {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id, "cardSecurityCode": None},
                    )
                    for payment_id in payments
                )
            )
        assert all("result" in answer for answer in answers), answers
        await asyncio.sleep(1.5)  # the pool gauges are sampled every second
        for _ in range(6):
            samples = await _samples(service)
            outcome = (("operation", "PgoAuthorize"), ("outcome", "success"))
            assert samples[("moqui_stripe_gateway_operations_total", outcome)] == len(payments)
            creates = (("gateway", CONFIG_ID), ("operation", "POST payment_intents"))
            assert samples[("moqui_stripe_stripe_request_duration_seconds_count", creates)] >= len(payments)
            # Gauges of live workers are summed: each worker's pool bound, twice.
            assert samples[("moqui_stripe_database_pool_connections", (("state", "max"),))] == 2 * POOL_MAX_SIZE
            assert samples[("moqui_stripe_stripe_in_flight", (("gateway", CONFIG_ID),))] == 0
