"""Two `moqui-stripe serve` processes on one database and one Stripe (the emulator), as two hosts behind a load
balancer: concurrent captures, releases and refunds of the same payments, spread over both, act once at Stripe."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import stripe

from moqui_bridge.entity import EntityFacade
from stripe_emulator.control import EmulatorControl
from tests.throughput.service_processes import CONFIG_ID, SECRET_KEY, ServiceProcess, add_card_payments, serve_process

pytestmark = pytest.mark.skipif(
    not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")), reason="PostgreSQL server binaries are not installed"
)


async def _stripe_events(stripe_url: str, event_type: str) -> Counter[str]:
    """How often Stripe emitted `event_type`, per object id."""
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": stripe_url}, http_client=http)
    try:
        page = await client.v1.events.list_async({"type": event_type, "limit": 100})
        return Counter([event.data.object["id"] async for event in page.auto_paging_iter()])
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def _result(answer: dict[str, Any]) -> str:
    assert "error" not in answer, answer
    pgr_id: str = answer["result"]["paymentGatewayResponseId"]
    return pgr_id


async def test_two_processes_act_once_at_stripe(
    entity_database_dsn: str, entity_facade: EntityFacade, stripe_emulator_url: str, tmp_path: Path
) -> None:
    payments = await add_card_payments(entity_facade, 9)
    captured, released, refunded = payments[0:3], payments[3:6], payments[6:9]
    async with (
        serve_process(entity_database_dsn, stripe_emulator_url, home=str(tmp_path)) as first,
        serve_process(entity_database_dsn, stripe_emulator_url, home=str(tmp_path)) as second,
        aiohttp.ClientSession() as session,
    ):
        instances: tuple[ServiceProcess, ServiceProcess] = (first, second)

        def call(index: int, verb: str, payment_id: str, **extra: Any) -> Any:
            params = {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id, **extra}
            return instances[index % 2].rpc(session, verb, params)

        # Each payment authorized on both instances at once: one PaymentIntent (counted at Stripe below).
        authorizations = await asyncio.gather(
            *(call(i, "authorize#Payment", p, cardSecurityCode=None) for p in payments for i in range(2))
        )
        assert all(_result(answer) for answer in authorizations)
        await asyncio.gather(*(call(0, "capture#Payment", p, amount=Decimal("10.00")) for p in refunded))
        # Then everything at once, each call twice, once per instance.
        work = [(i, "capture#Payment", p, {"amount": Decimal("10.00")}) for p in captured for i in range(2)]
        work += [(i, "release#Payment", p, {}) for p in released for i in range(2)]
        work += [(i, "refund#Payment", p, {"amount": Decimal("4.00")}) for p in refunded for i in range(2)]
        answers = await asyncio.gather(*(call(i, verb, p, **extra) for i, verb, p, extra in work))
        # Both instances answer each repeated call (the same attempt: the caller counted no new definitive answer).
        assert all(_result(answer) for answer in answers)

    # Counted at Stripe: one PaymentIntent per payment, one capture, release or refund each.
    intents_by_payment: Counter[str] = Counter()
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": stripe_emulator_url}, http_client=http)
    try:
        page = await client.v1.payment_intents.list_async({"limit": 100})
        intents = [intent async for intent in page.auto_paging_iter()]
        refunds_page = await client.v1.refunds.list_async({"limit": 100})
        refunds = [refund async for refund in refunds_page.auto_paging_iter()]
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    intents_by_payment.update(intent.metadata["paymentId"] for intent in intents)
    assert sorted(intents_by_payment) == sorted(payments)
    assert set(intents_by_payment.values()) == {1}
    by_payment = {intent.metadata["paymentId"]: intent for intent in intents}
    captures = await _stripe_events(stripe_emulator_url, "charge.captured")
    assert len(captures) == len(captured) + len(refunded) and set(captures.values()) == {1}
    cancels = await _stripe_events(stripe_emulator_url, "payment_intent.canceled")
    assert sorted(cancels) == sorted(by_payment[p].id for p in released) and set(cancels.values()) == {1}
    assert sorted(str(refund.payment_intent) for refund in refunds) == sorted(by_payment[p].id for p in refunded)
    assert {refund.amount for refund in refunds} == {400}


async def test_sigterm_lets_workers_finish_the_stripe_calls_in_flight(
    entity_database_dsn: str,
    entity_facade: EntityFacade,
    stripe_emulator_url: str,
    tmp_path: Path,
    emulator_control: EmulatorControl,
) -> None:
    (payment_id,) = await add_card_payments(entity_facade, 1)
    async with (
        serve_process(
            entity_database_dsn, stripe_emulator_url, extra_arguments=["--workers", "2"], home=str(tmp_path)
        ) as service,
        aiohttp.ClientSession() as session,
    ):
        # Stripe takes 1.5 s to answer; the stop signal comes while the authorization waits for it.
        await emulator_control.add_fault("/v1/payment_intents", "hang", hang_seconds=1.5, method="POST")
        params = {"paymentGatewayConfigId": CONFIG_ID, "paymentId": payment_id, "cardSecurityCode": None}
        authorization = asyncio.create_task(service.rpc(session, "authorize#Payment", params))
        await asyncio.sleep(0.7)
        service.process.send_signal(signal.SIGTERM)
        answer = await authorization
        assert "result" in answer, answer
        assert await asyncio.wait_for(service.process.wait(), 30) == 0
        # No longer accepting.
        with pytest.raises(aiohttp.ClientConnectionError):
            await service.rpc(session, "authorize#Payment", params)
    pgr = await entity_facade.find_one(
        "mantle.account.method.PaymentGatewayResponse",
        {"paymentGatewayResponseId": answer["result"]["paymentGatewayResponseId"]},
    )
    assert pgr is not None and pgr["resultSuccess"] == "Y"
