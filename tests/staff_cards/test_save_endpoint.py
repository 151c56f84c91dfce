"""POST /stripe/StaffCard/save over real HTTP against the emulator: MOTO as the account allows it, every bad request
refused before anything is made, and a save whose answer was lost repeated without a second SetupIntent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.staff_cards.conftest import AGENT, CONFIG_ID, PARTY, StaffDesk


async def _body(desk: StaffDesk, **overrides: Any) -> dict[str, Any]:
    return {**desk.link(), "paymentMethodId": await desk.card(), "consent": True, **overrides}


async def test_a_moto_save_records_the_card_once_even_when_repeated(desk: StaffDesk) -> None:
    await desk.control.update_settings(moto_enabled=True)
    body = await _body(desk)

    status, answer = await desk.save(body)
    assert (status, answer["outcome"], answer["moto"]) == (200, "saved", True), answer
    again_status, again = await desk.save(body)  # a double submission, or a retry after a lost answer

    assert again_status == 200 and again["setupIntentId"] == answer["setupIntentId"]
    [setup] = await desk.setups()
    assert setup["metadata"] == {"partyId": PARTY, "enteredBy": AGENT, "moquiStripeChannel": "staff"}
    [method] = await desk.saved_methods()
    assert (method["paymentMethodId"], method["gatewayCimId"]) == (answer["paymentMethodId"], body["paymentMethodId"])
    assert method["paymentGatewayConfigId"] == CONFIG_ID


async def test_moto_configured_here_but_not_enabled_by_stripe_is_refused_plainly(desk: StaffDesk) -> None:
    # gateways.<id>.moto_enabled is on, the Stripe account (emulator) has no MOTO: Stripe does not know the flag.
    status, answer = await desk.save(await _body(desk))
    assert (status, answer["outcome"]) == (400, "refused")
    assert "payment_method_options[card][moto]" in answer["message"]
    assert await desk.setups() == [] and await desk.saved_methods() == []


@pytest.mark.parametrize(
    ("change", "status", "outcome"),
    [
        ({"partyId": "SaasCustGrace"}, 403, "invalid"),
        ({"signature": "forged"}, 403, "invalid"),
        ({"expires": "1"}, 403, "invalid"),
        ({"consent": False}, 400, "no_consent"),
        ({"consent": "yes"}, 400, "no_consent"),
        ({"paymentMethodId": "card_123"}, 400, "invalid"),
        ({"paymentMethodId": 7}, 400, "invalid"),
        ({"paymentMethodId": "pm_" + "x" * 300}, 400, "invalid"),
    ],
)
async def test_bad_requests_change_nothing(desk: StaffDesk, change: dict[str, Any], status: int, outcome: str) -> None:
    await desk.control.update_settings(moto_enabled=True)
    got_status, answer = await desk.save(await _body(desk, **change))
    assert (got_status, answer["outcome"]) == (status, outcome), answer
    assert await desk.setups() == [] and await desk.saved_methods() == []


async def test_requests_from_another_site_and_non_json_are_refused(desk: StaffDesk) -> None:
    await desk.control.update_settings(moto_enabled=True)
    status, answer = await desk.save(await _body(desk), headers={"Origin": "https://evil.example"})
    assert (status, answer["outcome"]) == (403, "refused")
    status, answer = await desk.save({}, raw=b"partyId=SaasCustAda")
    assert (status, answer["outcome"]) == (400, "invalid")
    status, answer = await desk.save({}, raw=b"[1, 2]")
    assert (status, answer["outcome"]) == (400, "invalid")
    assert await desk.setups() == []


async def test_a_lost_answer_is_retried_into_the_same_setup_intent(desk: StaffDesk) -> None:
    await desk.control.update_settings(moto_enabled=True)
    body = await _body(desk)
    # Stripe makes the SetupIntent but the answer never arrives, on the first try and the SDK's retry.
    await desk.control.add_fault("/v1/setup_intents", "lose_response", count=2, method="POST")

    status, answer = await desk.save(body)
    assert (status, answer["outcome"]) == (503, "unavailable")
    # The card is attached at Stripe all the same; the payment_method.attached webhook may record it already.
    assert len(await desk.saved_methods()) <= 1

    status, answer = await desk.save(body)
    assert (status, answer["outcome"]) == (200, "saved")
    [setup] = await desk.setups()
    assert setup["id"] == answer["setupIntentId"] and setup["status"] == "succeeded"
    assert len(await desk.saved_methods()) == 1
