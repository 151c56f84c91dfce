"""Clients are namespaces: two Moqui instances whose payment ids are the same never meet (docs/gateway-api.md)."""

from __future__ import annotations

from tests.gateway_api.conftest import CLIENT_A, CLIENT_B, KEY_B, GatewayWorld, next_payment_id


async def test_two_clients_with_the_same_payment_id_share_no_journal_row_and_no_payment_intent(
    world: GatewayWorld,
) -> None:
    payment_id = next_payment_id()
    a = await world.authorize(payment_id, "20.00")
    b = await world.authorize(payment_id, "35.00", api_key=KEY_B)
    # The same identity (payment, operation, attempt 0) with other parameters would be refused within one client.
    assert a.flags == b.flags == {"resultSuccess"}
    assert a.body["replayed"] == b.body["replayed"] == "N"
    assert a.body["paymentIntentId"] != b.body["paymentIntentId"]
    [row_a] = await world.journal(payment_id, CLIENT_A)
    [row_b] = await world.journal(payment_id, CLIENT_B)
    assert row_a["operationId"] != row_b["operationId"]
    [intent_a] = await world.intents(payment_id, CLIENT_A)
    [intent_b] = await world.intents(payment_id, CLIENT_B)
    assert (intent_a.amount, intent_b.amount) == (2000, 3500)


async def test_a_client_cannot_act_on_another_clients_payment_intent(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    intent = (await world.authorize(payment_id)).body["paymentIntentId"]
    for operation in ("capture", "release", "refund", "details"):
        refused = await world.on_intent(operation, payment_id, intent, api_key=KEY_B)
        assert refused.status == 400, operation
        assert refused.error.strip() == f"PaymentIntent {intent} is not one moqui-stripe made for payment {payment_id}"
    assert (await world.intents(payment_id))[0].status == "requires_capture"
    assert await world.journal(payment_id, CLIENT_B) == []


async def test_payment_intent_metadata_names_client_payment_order_and_journal_row(world: GatewayWorld) -> None:
    payment_id = next_payment_id()
    await world.authorize(payment_id)
    [intent] = await world.intents(payment_id)
    [row] = await world.journal(payment_id)
    metadata = intent.metadata.to_dict()
    installation = metadata["moquiStripeOperation"].split("/")[0]
    assert metadata == {
        "paymentId": payment_id,
        "orderId": f"ORD{payment_id}",
        "paymentGatewayConfigId": "StripeGateway",
        "moquiStripeClient": CLIENT_A,
        "moquiStripeOperation": f"{installation}/{row['operationId']}",
    }
    assert len(installation) == 32
