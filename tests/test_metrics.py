"""/metrics of one process: gateway operations by outcome, Stripe requests and latency per operation, gauges.

The outcomes are what an operator alerts on: success, declined (the card said no), error and in_doubt (Stripe gave
no definitive answer: a timeout here, so the next call replays the same idempotency key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from moqui_bridge.entity import EntityFacade
from moqui_bridge.web import moqui_json
from service.app import create_app
from service.config import load_settings
from stripe_emulator.control import EmulatorControl
from tests.throughput.service_processes import API_KEY, CONFIG_ID, SECRET_KEY, SERVICES, add_card_payments

Client = TestClient[web.Request, web.Application]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _samples(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


def _outcome(samples: Samples, outcome: str) -> float:
    return samples.get(
        ("moqui_stripe_gateway_operations_total", (("operation", "PgoAuthorize"), ("outcome", outcome))), 0.0
    )


async def test_outcomes_and_stripe_requests_are_counted(
    entity_database_dsn: str,
    entity_facade: EntityFacade,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
    # Last, so the app stops before its database is dropped.
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    settings = load_settings(
        None,
        environment={},
        overrides={
            "server": {"api_keys": {"tests": API_KEY}},
            "gateways": {
                CONFIG_ID: {
                    "secret_key": SECRET_KEY,
                    "api_base": stripe_emulator_url,
                    "timeout_seconds": 0.5,
                    "max_network_retries": 0,
                }
            },
        },
    )
    client = await aiohttp_client(create_app(settings, entity_database_dsn))
    (approved,) = await add_card_payments(entity_facade, 1)
    (declined,) = await add_card_payments(entity_facade, 1, card="pm_card_visa_chargeDeclined")
    (timed_out,) = await add_card_payments(entity_facade, 1)

    async def authorize(payment_id: str) -> dict[str, Any]:
        body = moqui_json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": f"{SERVICES}.authorize#Payment",
                "params": {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id, "cardSecurityCode": None},
            }
        )
        response = await client.post(
            f"/rpc/json?api_key={API_KEY}", data=body, headers={"Content-Type": "application/json"}
        )
        answer: dict[str, Any] = moqui_json.loads(await response.read())
        assert "result" in answer, answer
        return answer

    before = await _samples(client)
    await authorize(approved)
    await authorize(declined)
    # Stripe does not answer within the gateway's timeout: no definitive answer.
    await emulator_control.add_fault("/v1/payment_intents", "hang", method="POST", count=5, hang_seconds=2.0)
    await authorize(timed_out)
    after = await _samples(client)

    for outcome in ("success", "declined", "in_doubt"):
        assert _outcome(after, outcome) - _outcome(before, outcome) == 1, outcome
    creates = (("gateway", CONFIG_ID), ("operation", "POST payment_intents"))
    latency_count = "moqui_stripe_stripe_request_duration_seconds_count"
    assert after[(latency_count, creates)] - before.get((latency_count, creates), 0.0) == 2  # the third timed out
    timeouts = (("gateway", CONFIG_ID), ("operation", "POST payment_intents"), ("status", "connection_error"))
    assert (
        after[("moqui_stripe_stripe_requests_total", timeouts)]
        - before.get(("moqui_stripe_stripe_requests_total", timeouts), 0.0)
        == 1
    )
    assert after[("moqui_stripe_stripe_in_flight", (("gateway", CONFIG_ID),))] == 0
    rpc = (("method", "POST"), ("route", "/rpc/json"), ("status", "200"))
    requests = "moqui_stripe_http_requests_total"
    assert after[(requests, rpc)] - before.get((requests, rpc), 0) == 3
