"""Every row of docs/gateway-api.md's attempt-identity table, over real HTTP, with the emulator as Stripe."""

from __future__ import annotations

import asyncio

from tests.gateway_api.conftest import CLIENT_A, CONFIG_ID, GatewayWorld, next_payment_id


async def test_a_new_attempt_is_journaled_then_sent_once(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    answer = await world.authorize(payment_id)
    assert answer.flags == {"resultSuccess"}
    assert answer.body["replayed"] == "N" and answer.body["attemptNum"] == 0 and answer.body["apiVersion"] == "1"
    intent = answer.body["paymentIntentId"]
    assert answer.pgr["referenceNum"] == intent and answer.pgr["paymentOperationEnumId"] == "PgoAuthorize"
    assert answer.pgr["amount"] == "50.00" and answer.pgr["amountUomId"] == "USD"
    [row] = await world.journal(payment_id)
    assert (row["operationName"], row["attemptNum"], row["operationStatusId"]) == ("authorize", 0, "SgoCompleted")
    assert [found.id for found in await world.intents(payment_id)] == [intent]


async def test_a_finished_attempt_is_replayed_without_calling_stripe(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    first = await world.authorize(payment_id)
    keyed = await world.idempotent_requests()
    # Moqui rolled back after our answer: no PGR was kept, so it sends the same attempt again.
    again = await world.authorize(payment_id)
    assert again.body["replayed"] == "Y"
    assert again.pgr == first.pgr
    assert await world.idempotent_requests() == keyed  # Stripe saw nothing
    assert len(await world.intents(payment_id)) == 1


async def test_an_unresolved_attempt_is_sent_again_with_its_own_key(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    await world.emulator.add_fault("/v1/payment_intents", "error", status=500, method="POST")
    failed = await world.authorize(payment_id)
    assert failed.flags == {"resultError"}
    [row] = await world.journal(payment_id)
    assert row["operationStatusId"] == "SgoInDoubt"
    # The error PGR is not counted by the caller: it retries the same attempt, which goes through.
    retried = await world.authorize(payment_id)
    assert retried.flags == {"resultSuccess"} and retried.body["replayed"] == "N"
    [row] = await world.journal(payment_id)
    assert row["operationStatusId"] == "SgoCompleted"
    assert len(await world.intents(payment_id)) == 1


async def test_an_attempt_whose_answer_was_lost_is_answered_by_stripe_once(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    # Stripe creates the PaymentIntent and the answer never arrives; nothing retries inside the call (no SDK retries).
    await world.emulator.add_fault("/v1/payment_intents", "lose_response", method="POST")
    lost = await world.authorize(payment_id)
    assert lost.flags == {"resultError"}
    retried = await world.authorize(payment_id)
    assert retried.flags == {"resultSuccess"}
    [intent] = await world.intents(payment_id)
    assert retried.body["paymentIntentId"] == intent.id


async def test_the_same_identity_with_other_parameters_is_refused(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id, "50.00")).body["paymentIntentId"]
    await world.on_intent("capture", payment_id, intent)
    assert (await world.on_intent("refund", payment_id, intent, amount="10.00")).flags == {"resultSuccess"}
    changed = await world.on_intent("refund", payment_id, intent, amount="12.00")
    assert changed.status == 400
    assert changed.error.strip() == (
        f"attempt 0 of refund for payment {payment_id} was for 10.00 USD, PaymentIntent {intent}; "
        "retry it unchanged, or send attemptNum 1 for a new refund"
    )
    # A changed authorize amount is refused the same way, before Stripe is asked anything.
    keyed = await world.idempotent_requests()
    assert (await world.authorize(payment_id, "51.00")).status == 400
    assert await world.idempotent_requests() == keyed
    assert [refund.amount for refund in await world.refunds(intent)] == [1000]


async def test_a_new_identity_while_another_is_unresolved_is_refused(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id)).body["paymentIntentId"]
    await world.on_intent("capture", payment_id, intent)
    await world.emulator.add_fault("/v1/refunds", "error", status=503, method="POST")
    assert (await world.on_intent("refund", payment_id, intent, amount="10.00")).flags == {"resultError"}
    other = await world.on_intent("refund", payment_id, intent, attempt=1, amount="20.00")
    assert other.status == 409
    assert other.error.strip() == (
        f"refund attempt 0 of payment {payment_id} is unresolved: retry that request (attemptNum 0) first"
    )
    assert (await world.on_intent("refund", payment_id, intent, amount="10.00")).flags == {"resultSuccess"}
    assert [refund.amount for refund in await world.refunds(intent)] == [1000]


async def test_the_same_identity_at_the_same_moment_waits_and_gets_the_same_answer(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    # Stripe takes a while: the second request waits for the first one's lease, then replays its answer.
    await world.emulator.add_fault("/v1/payment_intents", "hang", method="POST", hang_seconds=0.5)
    first, second = await asyncio.gather(world.authorize(payment_id), world.authorize(payment_id))
    assert first.pgr == second.pgr
    assert sorted([first.body["replayed"], second.body["replayed"]]) == ["N", "Y"]
    assert len(await world.intents(payment_id)) == 1


async def test_an_attempt_stripe_refused_frees_its_identity(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id, "50.00")).body["paymentIntentId"]
    too_much = await world.on_intent("capture", payment_id, intent, amount="60.00")
    assert too_much.status == 400
    assert too_much.error.startswith(f"Stripe refused the capture of payment {payment_id}: ")
    assert [row["operationName"] for row in await world.journal(payment_id)] == ["authorize"]
    # Nothing happened at Stripe: the same attempt number is a new attempt, with a new key.
    captured = await world.on_intent("capture", payment_id, intent, amount="50.00")
    assert captured.flags == {"resultSuccess"} and captured.body["replayed"] == "N"
    assert (await world.intents(payment_id))[0].amount_received == 5000


async def test_rpc_json_serves_the_same_services(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "moquiStripe.v1.GatewayServices.authorize#Payment",
        "params": {
            "paymentGatewayConfigId": CONFIG_ID,
            "paymentId": payment_id,
            "attemptNum": 0,
            "amount": "12.50",
            "currencyUomId": "USD",
            "stripePaymentMethodId": "pm_card_visa",
        },
    }
    response = await world.client.post("/rpc/json", json=body, headers={"api_key": "key-of-moqui-a"})
    answer = await response.json()
    assert answer["result"]["paymentGatewayResponse"]["resultSuccess"] == "Y"
    [row] = await world.journal(payment_id, CLIENT_A)
    assert str(row["amount"]) == "12.5000"
