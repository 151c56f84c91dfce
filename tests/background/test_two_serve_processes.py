"""Issue 11, done-when: two `moqui-stripe serve` processes (two hosts behind a load balancer) on one database and one
Stripe (the emulator), concurrent captures, releases and refunds of the same payments spread over both, through the
gateway API over HTTP: every Stripe action happens once, and the background jobs (the reconciler, the prune job) run
on one of them only, the one holding the leader lock (service/background).

Stripe's own record is the proof of "once": its Events (one `charge.captured` per capture, one
`payment_intent.canceled` per release: Stripe emits an event for every change of an object, docs.stripe.com/api/events)
and its objects (one PaymentIntent per payment, one Refund per refund; the emulator's counts at /_emulator/stats).
Each instance's /metrics says whether it leads and which jobs it ran.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.web import moqui_json
from service.maintenance import PRUNE_JOB, RECONCILE_JOB
from stripe_emulator.control import EmulatorControl
from tests.throughput.service_processes import API_KEY, CONFIG_ID, SECRET_KEY, ServiceProcess, serve_process

pytestmark = pytest.mark.skipif(
    not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")), reason="PostgreSQL server binaries are not installed"
)

GATEWAY = "/rest/s1/moqui-stripe/v1/gateway/"
# Background jobs at a pace a test can watch; no SDK retries, so one lost answer leaves an attempt in doubt.
CONFIG = """
[reconciler]
interval_seconds = 1
min_age_seconds = 2

[retention]
prune_interval_seconds = 10

[gateways.StripeGateway]
max_network_retries = 0
"""
# Stripe answers after 150 ms, so the requests of one payment on both instances overlap.
STRIPE_LATENCY = 0.15


async def _gateway(
    session: aiohttp.ClientSession, instance: ServiceProcess, operation: str, **parameters: Any
) -> tuple[int, dict[str, Any]]:
    """One gateway API request over HTTP, as the Moqui component sends it; the status and the parsed answer."""
    body = {"paymentGatewayConfigId": CONFIG_ID, **parameters}
    async with session.post(
        instance.url + GATEWAY + operation,
        data=moqui_json.dumps(body),
        headers={"Content-Type": "application/json", "api_key": API_KEY},
    ) as response:
        answer: dict[str, Any] = moqui_json.loads(await response.read())
        return response.status, answer


def _succeeded(status: int, answer: dict[str, Any]) -> bool:
    return status == 200 and answer["paymentGatewayResponse"]["resultSuccess"] == "Y"


async def _metrics(session: aiohttp.ClientSession, instance: ServiceProcess) -> dict[str, float]:
    """The instance's background metrics: `leader`, and runs per job (successful or not)."""
    async with session.get(instance.url + "/metrics") as response:
        text = await response.text()
    found: dict[str, float] = {"leader": 0.0}
    for line in text.splitlines():
        if line.startswith("moqui_stripe_background_leader "):
            found["leader"] = float(line.split()[-1])
        elif line.startswith("moqui_stripe_background_job_runs_total{"):
            job = line.split('job="', 1)[1].split('"', 1)[0]
            found[job] = found.get(job, 0.0) + float(line.split()[-1])
    return found


async def _events(client: stripe.StripeClient, event_type: str) -> Counter[str]:
    """How often Stripe emitted `event_type`, per object id."""
    page = await client.v1.events.list_async({"type": event_type, "limit": 100})
    return Counter([event.data.object["id"] async for event in page.auto_paging_iter()])


async def _all(
    session: aiohttp.ClientSession, calls: Sequence[tuple[ServiceProcess, str, dict[str, Any]]]
) -> list[tuple[int, dict[str, Any]]]:
    return await asyncio.gather(*(_gateway(session, instance, op, **params) for instance, op, params in calls))


async def test_two_serve_processes_act_once_at_stripe_and_one_runs_the_background_jobs(
    entity_database_dsn: str,
    entity_facade: EntityFacade,
    stripe_emulator_url: str,
    emulator_control: EmulatorControl,
    tmp_path: Path,
) -> None:
    config = tmp_path / "moqui-stripe.toml"
    config.write_text(CONFIG)
    arguments = ["--config", str(config)]
    captured, released, refunded, raced = (
        ["CAP1", "CAP2", "CAP3"],
        ["REL1", "REL2", "REL3"],
        ["REF1", "REF2"],
        [
            "RACE1",
            "RACE2",
        ],
    )
    lost = "LOST1"
    payments = [*captured, *released, *refunded, *raced, lost]
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": stripe_emulator_url})
    async with (
        serve_process(entity_database_dsn, stripe_emulator_url, extra_arguments=arguments, home=str(tmp_path)) as one,
        serve_process(entity_database_dsn, stripe_emulator_url, extra_arguments=arguments, home=str(tmp_path)) as two,
        aiohttp.ClientSession() as session,
    ):
        await emulator_control.set_latency(STRIPE_LATENCY)
        both = (one, two)
        money = {"currencyUomId": "USD"}

        # Every payment authorized twice at once, once per instance (Moqui retrying through the load balancer).
        authorizations = await _all(
            session,
            [
                (
                    instance,
                    "authorize",
                    {
                        "paymentId": p,
                        "attemptNum": 0,
                        "amount": "20.00",
                        **money,
                        "stripePaymentMethodId": "pm_card_visa",
                    },
                )
                for p in payments
                for instance in both
            ],
        )
        assert all(_succeeded(*answer) for answer in authorizations), authorizations
        intents = {
            answer["paymentGatewayResponse"]["paymentId"]: answer["paymentIntentId"] for _, answer in authorizations
        }
        for payment_id in refunded:
            assert _succeeded(
                *await _gateway(
                    session,
                    one,
                    "capture",
                    paymentId=payment_id,
                    attemptNum=0,
                    **money,
                    paymentIntentId=intents[payment_id],
                )
            )

        # Then all at once: each capture, release and refund twice on each instance (the same attempt), and on the
        # raced payments a capture on one instance against a release on the other.
        def same_attempt(
            operation: str, payment_id: str, **extra: Any
        ) -> list[tuple[ServiceProcess, str, dict[str, Any]]]:
            params = {"paymentId": payment_id, "attemptNum": 0, "paymentIntentId": intents[payment_id], **extra}
            return [(instance, operation, params) for instance in (one, two, one, two)]

        work = [call for p in captured for call in same_attempt("capture", p, **money)]
        work += [call for p in released for call in same_attempt("release", p)]
        work += [call for p in refunded for call in same_attempt("refund", p, amount="4.00", **money)]
        for p in raced:
            work += [(one, "capture", {"paymentId": p, "attemptNum": 0, "paymentIntentId": intents[p], **money})]
            work += [(two, "release", {"paymentId": p, "attemptNum": 0, "paymentIntentId": intents[p]})]
        answers = await _all(session, work)
        by_call = list(zip(work, answers, strict=True))
        for (_, operation, params), (status, answer) in by_call:
            if params["paymentId"] not in raced:
                assert _succeeded(status, answer), (operation, params, status, answer)
        for p in raced:
            outcomes = [(op, _succeeded(*answer)) for (_, op, params), answer in by_call if params["paymentId"] == p]
            assert sorted(ok for _, ok in outcomes) == [False, True], outcomes
            # The loser is Stripe's refusal of a state change that no longer applies: a 400, nothing done.
            [loser] = [
                answer for (_, op, params), answer in by_call if params["paymentId"] == p and not _succeeded(*answer)
            ]
            assert loser[0] == 400 and set(loser[1]) == {"errorCode", "errors"}, loser

        # A capture whose answer is lost stays in doubt; the leader's reconciler settles it without any retry.
        await emulator_control.add_fault(f"/v1/payment_intents/{intents[lost]}/capture", "lose_response", method="POST")
        status, answer = await _gateway(
            session, two, "capture", paymentId=lost, attemptNum=0, paymentIntentId=intents[lost], **money
        )
        assert status == 200 and answer["paymentGatewayResponse"]["resultError"] == "Y", answer
        settled = None
        for _ in range(300):
            [row] = await entity_facade.find(
                "stripe.StripeGatewayOperation", {"paymentId": lost, "operationName": "capture"}
            )
            if row["operationStatusId"] == "SgoCompleted":
                settled = row
                break
            await asyncio.sleep(0.1)
        assert settled is not None, "the reconciler did not settle the lost capture"
        status, answer = await _gateway(
            session, one, "capture", paymentId=lost, attemptNum=0, paymentIntentId=intents[lost], **money
        )
        assert _succeeded(status, answer) and answer["replayed"] == "Y", answer

        # Both jobs have run (the first prune comes one interval after the leader took the lock).
        for _ in range(300):
            seen = [await _metrics(session, instance) for instance in both]
            if any(m.get(PRUNE_JOB, 0) >= 1 and m.get(RECONCILE_JOB, 0) >= 2 for m in seen):
                break
            await asyncio.sleep(0.1)
        seen = [await _metrics(session, instance) for instance in both]

    [leader] = [m for m in seen if m["leader"] == 1]
    [other] = [m for m in seen if m is not leader]
    assert leader[PRUNE_JOB] >= 1 and leader[RECONCILE_JOB] >= 2, seen
    assert other == {"leader": 0.0}, seen

    # Stripe's record: one PaymentIntent per payment, and each capture, release and refund once.
    stats = await emulator_control.stats()
    assert stats["objects"]["payment_intent"] == len(payments)
    assert stats["objects"]["refund"] == len(refunded)
    captures = await _events(client, "charge.captured")
    cancels = await _events(client, "payment_intent.canceled")
    assert set(captures.values()) == {1} and set(cancels.values()) == {1}
    charge_of = {p: await client.v1.payment_intents.retrieve_async(intent_id) for p, intent_id in intents.items()}
    captured_ids = {charge_of[p].latest_charge for p in [*captured, *refunded, lost]}
    assert captured_ids <= set(captures)
    assert {intents[p] for p in released} <= set(cancels)
    for p in raced:
        # Exactly one of the two actions happened.
        assert (charge_of[p].latest_charge in captures) != (intents[p] in cancels), p
    assert len(captures) + len(cancels) == len(captured) + len(refunded) + 1 + len(released) + len(raced)
    page = await client.v1.refunds.list_async({"limit": 100})
    refunds = [refund async for refund in page.auto_paging_iter()]
    assert sorted((str(r.payment_intent), r.amount) for r in refunds) == sorted((intents[p], 400) for p in refunded)
