"""SQL statements and round trips per gateway operation, counted on the wire (tests/throughput/postgres_wire.py): an
upper bound per operation, so work per operation cannot creep back unnoticed (issue 11). A regression guard, not a
timing: the counts are deterministic for one call on a warm process.

Both ways in are counted: the gateway API over REST, as the Moqui component calls it, and the standalone client's
services over JSON-RPC (`stripe.StripePaymentServices.*`, reading and writing the local Mantle tables), as the
benchmark calls them. Each count is the median of a few calls of the same operation on different payments, after
one call that warms the process (asyncpg's statement cache, the sequence banks, the rate-limit lease).
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from moqui_bridge.web import moqui_json
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import CONFIG_ID, KEY_A, Answer, GatewayWorld, gateway_settings, running_world
from tests.throughput.postgres_wire import WireCounter, WireCounts, counting_proxy, statement_sources
from tests.throughput.service_processes import add_card_payments

CALLS = 5

# (round trips, statements) at most, per operation of each way in. The gateway API: one round trip before the Stripe
# call (lease, identity check and journal row: journal_functions.py) and one after (answer, link or refund, lease);
# details reads the link only. The standalone client adds its read of the local tables (standalone_reads.py) and its
# PaymentGatewayResponse.
GATEWAY_API_BOUNDS = {
    "authorize": (2, 2),
    "capture": (2, 2),
    "release": (2, 2),
    "refund": (2, 2),
    "details": (1, 1),
}
# The gateway API's authorize from an integrator with an Idempotency-Key (idempotent_requests.py): the key's row is
# looked up, the key's session lock taken (and its connection reset when given back), its row reserved and completed.
KEYED_AUTHORIZE_BOUND = (7, 10)
STANDALONE_BOUNDS = {
    "authorize": (4, 4),
    "capture": (4, 4),
    "release": (4, 4),
    "refund": (4, 4),
    "details": (3, 3),
}


@dataclass
class Counted:
    """The app behind a counting proxy."""

    world: GatewayWorld
    wire: WireCounter

    async def cost(self, calls: list[Callable[[], Awaitable[Any]]]) -> tuple[int, int, WireCounts]:
        """Median round trips and statements of the calls after the first (which warms up), and the last's counts."""
        counts = []
        for call in calls:
            before = self.wire.snapshot()
            await call()
            counts.append(self.wire.snapshot().since(before))
        measured = counts[1:]
        return (
            int(statistics.median(c.round_trips for c in measured)),
            int(statistics.median(c.statement_count for c in measured)),
            measured[-1],
        )


@pytest.fixture
async def counted(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[Counted]:
    """The app over a fresh database, its every connection through a counting proxy."""
    async with counting_proxy(entity_database_dsn) as wire:
        overrides = gateway_settings(stripe_emulator_url)
        for gateway in overrides["gateways"].values():
            # As a live account's 100/s does, the shared bucket is claimed once per many requests.
            gateway["rate_limit_per_second"] = 1000
        async with running_world(wire.dsn(entity_database_dsn), stripe_emulator_url, emulator_control, overrides) as w:
            yield Counted(w, wire)


def _check(name: str, measured: tuple[int, int, WireCounts], bound: tuple[int, int]) -> None:
    round_trips, statements, sample = measured
    listing = "\n".join(f"  {count} x {source}" for source, count in statement_sources(sample).items())
    print(f"{name}: {round_trips} round trips, {statements} statements\n{listing}")
    assert round_trips <= bound[0] and statements <= bound[1], (
        f"{name}: {round_trips} round trips and {statements} statements, at most {bound} allowed:\n{listing}"
    )


def _ok(answer: Answer) -> Answer:
    assert answer.status == 200, answer.body
    assert answer.pgr["resultSuccess"] == "Y", answer.body
    return answer


async def test_gateway_api_operations_stay_within_their_statement_budget(counted: Counted) -> None:
    world = counted.world
    payments = [f"SC{n}" for n in range(3 * CALLS)]
    intents: dict[str, str] = {}

    async def authorize(payment_id: str) -> None:
        intents[payment_id] = _ok(await world.authorize(payment_id, "10.00")).body["paymentIntentId"]

    def on_intent(operation: str, payment_id: str, **extra: Any) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            _ok(await world.on_intent(operation, payment_id, intents[payment_id], **extra))

        return call

    measured = {"authorize": await counted.cost([lambda p=p: authorize(p) for p in payments])}  # type: ignore[misc]
    captured, released = payments[:CALLS], payments[CALLS : 2 * CALLS]
    measured["capture"] = await counted.cost([on_intent("capture", p) for p in captured])
    measured["release"] = await counted.cost([on_intent("release", p) for p in released])
    measured["refund"] = await counted.cost([on_intent("refund", p, amount="4.00") for p in captured])
    measured["details"] = await counted.cost([on_intent("details", p) for p in captured])
    for name, bound in GATEWAY_API_BOUNDS.items():
        _check(f"gateway API {name}", measured[name], bound)


async def test_a_keyed_request_stays_within_its_statement_budget(counted: Counted) -> None:
    world = counted.world

    def authorize(payment_id: str) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            params = {
                "paymentGatewayConfigId": CONFIG_ID,
                "paymentId": payment_id,
                "attemptNum": 0,
                "amount": "10.00",
                "currencyUomId": "USD",
                "stripePaymentMethodId": "pm_card_visa",
            }
            _ok(await world.call("authorize", params, headers={"Idempotency-Key": f"key-{payment_id}"}))

        return call

    measured = await counted.cost([authorize(f"SK{n}") for n in range(CALLS)])
    _check("gateway API authorize with an Idempotency-Key", measured, KEYED_AUTHORIZE_BOUND)


async def test_standalone_operations_stay_within_their_statement_budget(counted: Counted) -> None:
    world = counted.world
    payments = await add_card_payments(world.entity, 2 * CALLS)

    def rpc(verb: str, payment_id: str, **extra: Any) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            params = {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id, **extra}
            body = moqui_json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": f"stripe.StripePaymentServices.{verb}", "params": params}
            )
            response = await world.client.post(
                "/rpc/json", data=body, headers={"Content-Type": "application/json", "api_key": KEY_A}
            )
            answer = moqui_json.loads(await response.read())
            assert "error" not in answer, answer

        return call

    captured, released = payments[:CALLS], payments[CALLS:]
    measured = {"authorize": await counted.cost([rpc("authorize#Payment", p) for p in payments])}
    measured["capture"] = await counted.cost([rpc("capture#Payment", p, amount=Decimal("10.00")) for p in captured])
    measured["release"] = await counted.cost([rpc("release#Payment", p) for p in released])
    measured["refund"] = await counted.cost([rpc("refund#Payment", p, amount=Decimal("4.00")) for p in captured])
    measured["details"] = await counted.cost([rpc("get#PaymentGatewayDetails", p) for p in captured])
    for name, bound in STANDALONE_BOUNDS.items():
        _check(f"standalone {name}", measured[name], bound)
