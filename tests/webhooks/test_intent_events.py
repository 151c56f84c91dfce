"""payment_intent.* events: payments completed in the browser, replays, reordering, failures and expiry."""

from __future__ import annotations

from moqui_bridge.mantle import names
from tests.webhooks.conftest import CONFIG_ID, INTENT_LINK, WebhookWorld


async def test_a_customer_who_never_returned_is_authorized_by_the_webhook(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id)
    assert intent.status == "requires_capture"

    deliveries = await world.deliver()

    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntAuthorized"
    assert payment["paymentRefNum"] == intent.id
    successes = [row for row in await world.pgrs(payment_id) if row["resultSuccess"] == "Y"]
    assert [(row["paymentOperationEnumId"], row["referenceNum"]) for row in successes] == [("PgoAuthorize", intent.id)]
    # Recorded, never charged again: still the one PaymentIntent the browser confirmed.
    assert await world.intents_of(payment_id) == [intent.id]
    rows = await world.event_rows(eventType="payment_intent.amount_capturable_updated")
    assert [row["processingStatusId"] for row in rows] == ["SweProcessed"]
    assert rows[0]["signatureValid"] == "Y" and rows[0]["objectId"] == intent.id
    assert rows[0]["payload"] and intent.id in rows[0]["payload"]
    # The raw event is kept, but never the PaymentIntent's client secret.
    assert intent.client_secret and intent.client_secret not in rows[0]["payload"]
    assert '"client_secret": "[removed]"' in rows[0]["payload"]
    assert {d.event_type for d in deliveries} >= {"payment_intent.amount_capturable_updated", "charge.succeeded"}


async def test_a_replayed_event_records_nothing_twice(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id, capture_method="automatic")
    delivered = await world.deliver()
    succeeded = next(d for d in delivered if d.event_type == "payment_intent.succeeded")
    pgrs_before = await world.pgrs(payment_id)
    events_before = await world.event_rows()

    again = await world.emulator.redeliver_event(succeeded.event_id)
    again += await world.emulator.redeliver_event(succeeded.event_id)

    assert [d.responses for d in again] == [[200], [200]]
    assert await world.pgrs(payment_id) == pgrs_before
    assert await world.event_rows() == events_before
    assert (await world.payment(payment_id))["statusId"] == "PmntDelivered"
    assert await world.intents_of(payment_id) == [intent.id]


async def test_succeeded_before_amount_capturable_updated(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id)
    # Captured in Stripe's dashboard before any event reached us.
    await world.stripe_client.v1.payment_intents.capture_async(intent.id)

    await world.deliver("newest_first")

    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntDelivered"
    successes = [row for row in await world.pgrs(payment_id) if row["resultSuccess"] == "Y"]
    assert [row["paymentOperationEnumId"] for row in successes] == ["PgoAuthAndCapture"]
    processed = await world.event_rows(eventType="payment_intent.amount_capturable_updated")
    assert processed[0]["processingStatusId"] == "SweProcessed"
    assert "already recorded" in processed[0]["processingMessage"]


async def test_canceled_before_authorized_leaves_the_payment_promised(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id)
    await world.stripe_client.v1.payment_intents.cancel_async(intent.id)

    await world.deliver("newest_first")

    assert (await world.payment(payment_id))["statusId"] == "PmntPromised"
    assert [row for row in await world.pgrs(payment_id) if row["resultSuccess"] == "Y"] == []
    link = await world.entity.find_one(INTENT_LINK, {"paymentIntentId": intent.id})
    assert link is not None and link["intentStatus"] == "canceled"


async def test_a_late_cancel_of_a_released_intent_does_not_touch_the_new_authorization(world: WebhookWorld) -> None:
    # A card saved to the party's Stripe Customer: the new authorization after the release needs one (issue 10 item 6).
    customer = await world.stripe_client.v1.customers.create_async({"name": "Saved card"})
    card = await world.stripe_client.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id})
    payment_id = await world.add_payment(card=card.id)
    payment = await world.payment(payment_id)
    await world.entity.create(
        "stripe.StripeCustomer",
        {"partyId": payment["fromPartyId"], "paymentGatewayConfigId": CONFIG_ID, "customerId": customer.id},
    )
    await world.call(names.AUTHORIZE_SINGLE_PAYMENT, paymentId=payment_id)
    await world.call(names.RELEASE_SINGLE_PAYMENT, paymentId=payment_id)
    await world.call(names.AUTHORIZE_SINGLE_PAYMENT, paymentId=payment_id)
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntAuthorized"
    pgrs_before = await world.pgrs(payment_id)

    await world.deliver("newest_first")

    after = await world.payment(payment_id)
    assert after["statusId"] == "PmntAuthorized"
    assert after["paymentRefNum"] == payment["paymentRefNum"]
    assert await world.pgrs(payment_id) == pgrs_before
    canceled = await world.event_rows(eventType="payment_intent.canceled")
    assert len(canceled) == 1 and "not payment" in canceled[0]["processingMessage"]


async def test_an_expired_authorization_puts_the_payment_back_to_promised(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    await world.call(names.AUTHORIZE_SINGLE_PAYMENT, paymentId=payment_id)
    assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"
    await world.deliver()

    assert await world.emulator.advance_clock(8 * 24 * 3600) == 1
    await world.deliver()

    assert (await world.payment(payment_id))["statusId"] == "PmntPromised"
    canceled = await world.event_rows(eventType="payment_intent.canceled")
    assert [row["processingStatusId"] for row in canceled] == ["SweProcessed"]
    assert "PmntPromised" in canceled[0]["processingMessage"]


async def test_a_failed_attempt_is_recorded_without_declining_the_payment(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    intent = await world.browser_payment(payment_id, card="pm_card_visa_chargeDeclinedInsufficientFunds")
    assert intent.status == "requires_payment_method"

    delivered = await world.deliver()
    failed = next(d for d in delivered if d.event_type == "payment_intent.payment_failed")
    await world.emulator.redeliver_event(failed.event_id)

    assert (await world.payment(payment_id))["statusId"] == "PmntPromised"
    declines = [row for row in await world.pgrs(payment_id) if row["resultDeclined"] == "Y"]
    assert len(declines) == 1
    assert declines[0]["paymentOperationEnumId"] == "PgoAuthorize"
    assert declines[0]["resultNsf"] == "Y" and declines[0]["referenceNum"] == intent.id

    # The shopper tries another card on the same PaymentIntent: the webhook authorizes the payment.
    await world.stripe_client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
    await world.deliver()
    assert (await world.payment(payment_id))["statusId"] == "PmntAuthorized"
    assert await world.intents_of(payment_id) == [intent.id]


async def test_a_capture_made_in_the_dashboard_reaches_mantle(world: WebhookWorld) -> None:
    payment_id = await world.add_payment()
    await world.call(names.AUTHORIZE_SINGLE_PAYMENT, paymentId=payment_id)
    await world.deliver()
    payment = await world.payment(payment_id)
    assert payment["statusId"] == "PmntAuthorized"

    await world.stripe_client.v1.payment_intents.capture_async(str(payment["paymentRefNum"]))
    await world.deliver()

    assert (await world.payment(payment_id))["statusId"] == "PmntDelivered"
    assert [row["transactionStatus"] for row in await world.pgrs(payment_id, "PgoTxDetails")] == ["succeeded"]
