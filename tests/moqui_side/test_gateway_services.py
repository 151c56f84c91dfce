"""The component's gateway services, executed from their XML by the harness as Moqui runs them inside Mantle.

Every call: one transaction on a database with Mantle's own schema holding ``SELECT ... FOR UPDATE`` on the Payment
(as refund#SinglePayment does, mantle-usl service/mantle/account/PaymentServices.xml:1789), the component's reads,
its real HTTP call (real Groovy, RestClient's API) to the moqui-stripe service, the PaymentGatewayResponse insert,
commit. Stripe is the emulator; what happened there is read back from it.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import pytest

from moqui_bridge.entity import EntityFacade
from stripe_emulator.control import EmulatorControl
from tests.moqui_harness.moqui_call import CallResult, MoquiHarness
from tests.moqui_harness.moqui_database import add_card_payment
from tests.moqui_side.conftest import MOQUI_API_KEY, STRIPE_SECRET_KEY

SERVICES = "stripe.StripePaymentServices."
PGR = "mantle.account.method.PaymentGatewayResponse"
CONFIG = "StripeGateway"


async def _call(moqui: MoquiHarness, verb_noun: str, payment_id: str, **parameters: Any) -> CallResult:
    return await moqui.call(
        SERVICES + verb_noun, {"paymentId": payment_id, "paymentGatewayConfigId": CONFIG, **parameters}
    )


async def _pgrs(facade: EntityFacade, payment_id: str) -> list[dict[str, Any]]:
    return await facade.find(PGR, {"paymentId": payment_id}, order_by=["paymentGatewayResponseId"])


async def _stripe(emulator_url: str, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emulator_url}/v1/{path}", headers={"Authorization": f"Bearer {STRIPE_SECRET_KEY}"}) as answer,
    ):
        assert answer.status == 200, await answer.text()
        result: dict[str, Any] = await answer.json()
        return result


async def _captured_payment(moqui: MoquiHarness, facade: EntityFacade, amount: str) -> str:
    """A card Payment charged at once (authorizeAndCapture), ready for refunds."""
    payment_id = await add_card_payment(facade, stripe_payment_method="pm_card_visa", amount=Decimal(amount))
    _committed_pgr(await _call(moqui, "authorizeAndCapture#Payment", payment_id))
    return payment_id


def _committed_pgr(result: CallResult) -> str:
    assert result.errors == [] and result.committed, result
    assert result.out is not None
    pgr_id = result.out["paymentGatewayResponseId"]
    assert isinstance(pgr_id, str) and pgr_id
    return pgr_id


async def test_authorize_creates_the_pgr_in_moquis_transaction(
    moqui: MoquiHarness, moqui_facade: EntityFacade, stripe_emulator_url: str
) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("100.00"))

    result = await _call(moqui, "authorize#Payment", payment_id)
    pgr_id = _committed_pgr(result)

    # One POST to the gateway API, the api key in a header and nowhere in the URL.
    [sent] = result.sent
    assert (sent.method, sent.uri) == (
        "POST",
        moqui.properties["moqui_stripe_url"] + "/rest/s1/moqui-stripe/v1/gateway/authorize",
    )
    assert "api_key" in sent.header_names and MOQUI_API_KEY not in sent.uri
    [pgr] = await _pgrs(moqui_facade, payment_id)
    payment = await moqui_facade.find_one("mantle.account.payment.Payment", {"paymentId": payment_id})
    assert payment is not None
    assert pgr["paymentGatewayResponseId"] == pgr_id
    assert (pgr["paymentOperationEnumId"], pgr["resultSuccess"], pgr["resultDeclined"], pgr["resultError"]) == (
        "PgoAuthorize",
        "Y",
        "N",
        "N",
    )
    assert pgr["amount"] == Decimal("100.00") and pgr["amountUomId"] == "USD"
    assert pgr["paymentMethodId"] == payment["paymentMethodId"]
    assert pgr["paymentGatewayConfigId"] == CONFIG and pgr["transactionDate"] is not None
    intent = await _stripe(stripe_emulator_url, f"payment_intents/{pgr['referenceNum']}")
    assert (intent["status"], intent["amount"], intent["currency"]) == ("requires_capture", 10000, "usd")
    assert intent["metadata"]["paymentId"] == payment_id and intent["metadata"]["orderId"] == "100100"


async def test_authorize_and_capture_charges_at_once(
    moqui: MoquiHarness, moqui_facade: EntityFacade, stripe_emulator_url: str
) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("42.50"))

    _committed_pgr(await _call(moqui, "authorizeAndCapture#Payment", payment_id))

    [pgr] = await _pgrs(moqui_facade, payment_id)
    assert (pgr["paymentOperationEnumId"], pgr["resultSuccess"], pgr["amount"]) == (
        "PgoAuthAndCapture",
        "Y",
        Decimal("42.50"),
    )
    intent = await _stripe(stripe_emulator_url, f"payment_intents/{pgr['referenceNum']}")
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 4250)


@pytest.mark.parametrize(("capture_amount", "captured_minor"), [(None, 10000), (Decimal("60.00"), 6000)])
async def test_capture_full_and_partial(
    moqui: MoquiHarness,
    moqui_facade: EntityFacade,
    stripe_emulator_url: str,
    capture_amount: Decimal | None,
    captured_minor: int,
) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("100.00"))
    _committed_pgr(await _call(moqui, "authorize#Payment", payment_id))

    _committed_pgr(await _call(moqui, "capture#Payment", payment_id, amount=capture_amount))

    authorization, capture = await _pgrs(moqui_facade, payment_id)
    assert (capture["paymentOperationEnumId"], capture["resultSuccess"]) == ("PgoCapture", "Y")
    assert capture["amount"] == Decimal(captured_minor) / 100
    intent = await _stripe(stripe_emulator_url, f"payment_intents/{authorization['referenceNum']}")
    assert (intent["status"], intent["amount_received"]) == ("succeeded", captured_minor)


async def test_release_cancels_the_authorization(
    moqui: MoquiHarness, moqui_facade: EntityFacade, stripe_emulator_url: str
) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("10.00"))
    _committed_pgr(await _call(moqui, "authorize#Payment", payment_id))

    _committed_pgr(await _call(moqui, "release#Payment", payment_id))

    authorization, release = await _pgrs(moqui_facade, payment_id)
    assert (release["paymentOperationEnumId"], release["resultSuccess"]) == ("PgoRelease", "Y")
    intent = await _stripe(stripe_emulator_url, f"payment_intents/{authorization['referenceNum']}")
    assert intent["status"] == "canceled"


async def test_two_equal_partial_refunds_are_two_refunds(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await _captured_payment(moqui, moqui_facade, "100.00")

    _committed_pgr(await _call(moqui, "refund#Payment", payment_id, amount=Decimal("30.00")))
    _committed_pgr(await _call(moqui, "refund#Payment", payment_id, amount=Decimal("30.00")))

    refunds = [pgr for pgr in await _pgrs(moqui_facade, payment_id) if pgr["paymentOperationEnumId"] == "PgoRefund"]
    assert [(r["amount"], r["resultSuccess"]) for r in refunds] == [(Decimal("30.00"), "Y")] * 2
    assert len({r["subReference"] for r in refunds}) == 2 and all(r["subReference"].startswith("re_") for r in refunds)
    assert (await emulator_control.stats())["objects"]["refund"] == 2


async def test_an_over_refund_is_an_error_and_records_nothing(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await _captured_payment(moqui, moqui_facade, "100.00")
    _committed_pgr(await _call(moqui, "refund#Payment", payment_id, amount=Decimal("80.00")))

    result = await _call(moqui, "refund#Payment", payment_id, amount=Decimal("30.00"))

    assert not result.committed and result.out is None
    assert len(result.errors) == 1 and f"refund of Payment {payment_id}" in result.errors[0], result.errors
    assert len(await _pgrs(moqui_facade, payment_id)) == 2
    assert (await emulator_control.stats())["objects"]["refund"] == 1


async def test_details_answers_the_mantle_status(moqui: MoquiHarness, moqui_facade: EntityFacade) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("20.00"))
    _committed_pgr(await _call(moqui, "authorize#Payment", payment_id))

    result = await _call(moqui, "get#PaymentGatewayDetails", payment_id)

    assert result.errors == [] and result.committed and result.out is not None
    assert result.out["gatewayStatusId"] == "PmntAuthorized"
    # Stripe says Authorized, the Payment still says Promised (the harness runs no Mantle status rule): recorded.
    responses = await _pgrs(moqui_facade, payment_id)
    details = [r["paymentGatewayResponseId"] for r in responses if r["paymentOperationEnumId"] == "PgoTxDetails"]
    assert details == [result.out["paymentGatewayResponseId"]]

    # Once the Payment says what Stripe says, a poll records nothing.
    await moqui_facade.update(
        "mantle.account.payment.Payment", {"paymentId": payment_id}, {"statusId": "PmntAuthorized"}
    )
    again = await _call(moqui, "get#PaymentGatewayDetails", payment_id)
    assert again.committed and again.out is not None and again.out["paymentGatewayResponseId"] is None
    assert len(await _pgrs(moqui_facade, payment_id)) == len(responses)


async def test_a_decline_is_a_committed_declined_pgr(moqui: MoquiHarness, moqui_facade: EntityFacade) -> None:
    payment_id = await add_card_payment(
        moqui_facade, stripe_payment_method="pm_card_visa_chargeDeclinedInsufficientFunds", amount=Decimal("15.00")
    )

    _committed_pgr(await _call(moqui, "authorize#Payment", payment_id))

    [pgr] = await _pgrs(moqui_facade, payment_id)
    assert (pgr["resultSuccess"], pgr["resultDeclined"], pgr["resultError"], pgr["resultNsf"]) == ("N", "Y", "N", "Y")
    assert pgr["reasonCode"] == "insufficient_funds"


async def test_a_rolled_back_refund_retried_makes_one_stripe_refund(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await _captured_payment(moqui, moqui_facade, "50.00")
    parameters = {"paymentId": payment_id, "paymentGatewayConfigId": CONFIG, "amount": Decimal("20.00")}

    lost = await moqui.call(SERVICES + "refund#Payment", parameters, rollback_after=True)
    assert lost.errors == [] and not lost.committed
    assert len(await _pgrs(moqui_facade, payment_id)) == 1  # Moqui kept nothing of the first try

    _committed_pgr(await moqui.call(SERVICES + "refund#Payment", parameters))

    refunds = [pgr for pgr in await _pgrs(moqui_facade, payment_id) if pgr["paymentOperationEnumId"] == "PgoRefund"]
    assert len(refunds) == 1
    assert (await emulator_control.stats())["objects"]["refund"] == 1


async def test_a_rolled_back_authorization_retried_makes_one_payment_intent(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("12.00"))
    parameters = {"paymentId": payment_id, "paymentGatewayConfigId": CONFIG}

    lost = await moqui.call(SERVICES + "authorize#Payment", parameters, rollback_after=True)
    assert lost.errors == [] and not lost.committed

    _committed_pgr(await moqui.call(SERVICES + "authorize#Payment", parameters))

    assert len(await _pgrs(moqui_facade, payment_id)) == 1
    assert (await emulator_control.stats())["objects"]["payment_intent"] == 1


async def test_a_changed_retry_of_an_unresolved_refund_is_refused(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await _captured_payment(moqui, moqui_facade, "50.00")
    # Stripe does not answer in time: the service answers a resultError PGR, which Moqui commits; the attempt stays
    # unresolved on the service's side (docs/gateway-api.md, "Results, not errors").
    hang_seconds = 6.0  # longer than the service's Stripe timeout (5 s in conftest), so its answer is resultError
    await emulator_control.add_fault("/v1/refunds", "hang", count=1, hang_seconds=hang_seconds)
    started = asyncio.get_running_loop().time()
    _committed_pgr(await _call(moqui, "refund#Payment", payment_id, amount=Decimal("20.00")))
    unresolved = (await _pgrs(moqui_facade, payment_id))[-1]
    assert (unresolved["paymentOperationEnumId"], unresolved["resultError"]) == ("PgoRefund", "Y")

    changed = await _call(moqui, "refund#Payment", payment_id, amount=Decimal("25.00"))

    assert not changed.committed and len(changed.errors) == 1
    assert "retry it unchanged" in changed.errors[0] and "20.00" in changed.errors[0], changed.errors
    # The hung request goes on at Stripe (the emulator's hang proceeds afterwards, as a slow Stripe does); once it is
    # done, the unchanged retry replays its idempotency key and gets that same refund.
    await asyncio.sleep(max(0.0, started + hang_seconds + 0.5 - asyncio.get_running_loop().time()))
    _committed_pgr(await _call(moqui, "refund#Payment", payment_id, amount=Decimal("20.00")))
    refunds = [pgr for pgr in await _pgrs(moqui_facade, payment_id) if pgr["paymentOperationEnumId"] == "PgoRefund"]
    assert [(r["resultError"], r["resultSuccess"]) for r in refunds] == [("Y", "N"), ("N", "Y")]
    assert refunds[1]["amount"] == Decimal("20.00")
    assert (await emulator_control.stats())["objects"]["refund"] == 1


async def test_a_service_that_cannot_be_reached_is_an_error(moqui: MoquiHarness, moqui_facade: EntityFacade) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("10.00"))
    moqui.properties["moqui_stripe_url"] = "http://127.0.0.1:9"  # discard port: nothing listens

    result = await _call(moqui, "authorize#Payment", payment_id)

    assert not result.committed and result.errors and "Error calling HTTP request" in result.errors[0]
    assert await _pgrs(moqui_facade, payment_id) == []


async def test_a_wrong_api_key_is_an_error(moqui: MoquiHarness, moqui_facade: EntityFacade) -> None:
    payment_id = await add_card_payment(moqui_facade, stripe_payment_method="pm_card_visa", amount=Decimal("10.00"))
    moqui.properties["moqui_stripe_api_key"] = "not-the-key"

    result = await _call(moqui, "authorize#Payment", payment_id)

    assert not result.committed and len(result.errors) == 1
    assert await _pgrs(moqui_facade, payment_id) == []


async def test_an_unknown_payment_is_an_error(moqui: MoquiHarness) -> None:
    result = await _call(moqui, "refund#Payment", "NO_SUCH_PAYMENT")

    assert result.errors == ["Payment NO_SUCH_PAYMENT not found"] and not result.committed


async def test_the_payment_stays_locked_for_the_whole_call_and_the_service_still_answers(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await _captured_payment(moqui, moqui_facade, "40.00")
    # Stripe is slow to refund: the call is in flight long enough to look at Moqui's lock from outside.
    await emulator_control.add_fault("/v1/refunds", "hang", count=1, hang_seconds=1.5)
    call = asyncio.create_task(_call(moqui, "refund#Payment", payment_id, amount=Decimal("10.00")))
    await asyncio.sleep(0.7)

    async with moqui.pool.acquire() as connection, connection.transaction():
        with pytest.raises(asyncpg.LockNotAvailableError):
            await connection.execute("SELECT 1 FROM PAYMENT WHERE PAYMENT_ID = $1 FOR UPDATE NOWAIT", payment_id)

    _committed_pgr(await call)
    assert (await emulator_control.stats())["objects"]["refund"] == 1


async def test_two_refunds_at_once_take_turns_on_moquis_lock_and_both_happen(
    moqui: MoquiHarness, moqui_facade: EntityFacade, emulator_control: EmulatorControl
) -> None:
    payment_id = await _captured_payment(moqui, moqui_facade, "90.00")

    first, second = await asyncio.gather(
        _call(moqui, "refund#Payment", payment_id, amount=Decimal("30.00")),
        _call(moqui, "refund#Payment", payment_id, amount=Decimal("30.00")),
    )

    _committed_pgr(first)
    _committed_pgr(second)
    refunds = [pgr for pgr in await _pgrs(moqui_facade, payment_id) if pgr["paymentOperationEnumId"] == "PgoRefund"]
    assert [r["resultSuccess"] for r in refunds] == ["Y", "Y"]
    assert (await emulator_control.stats())["objects"]["refund"] == 2
