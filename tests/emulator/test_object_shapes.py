"""The emulator's objects carry the fields Stripe's own example objects carry (tests/reference/stripe-reference)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from tests.reference import STRIPE_FIXTURES

REFERENCE = STRIPE_FIXTURES
# Fields Stripe shows only in some API versions or for products the emulator does not model.
NOT_MODELLED = {
    "customer": {
        "discount",
        "default_currency",
        "sources",
        "subscriptions",
        "tax_ids",
        "cash_balance",
        "invoice_credit_balance",
    },
    "charge": {"refunds"},
    "dispute": set(),
}


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(REFERENCE.read_text())["resources"]
    return resources


async def test_objects_have_stripes_fields(
    reference: dict[str, Any], stripe_client: stripe.StripeClient, emulator_control: EmulatorControl
) -> None:
    customer = await stripe_client.v1.customers.create_async({"email": "shape@example.com"})
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa", "confirm": True}
    )
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    refund = await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 100})
    pm = await stripe_client.v1.payment_methods.retrieve_async(intent["payment_method"])
    setup = await stripe_client.v1.setup_intents.create_async({"customer": customer.id})
    event = (await stripe_client.v1.events.list_async({"limit": 1})).data[0]
    dispute = await emulator_control.create_dispute(charge.id)
    ours: dict[str, dict[str, Any]] = {
        "payment_intent": intent.to_dict(),
        "charge": charge.to_dict(),
        "refund": refund.to_dict(),
        "payment_method": pm.to_dict(),
        "customer": customer.to_dict(),
        "setup_intent": setup.to_dict(),
        "event": event.to_dict(),
        "dispute": dispute,
    }
    for kind, obj in ours.items():
        expected = set(reference[kind]) - NOT_MODELLED.get(kind, set())
        missing = expected - set(obj)
        assert not missing, f"{kind} lacks {sorted(missing)}"
        assert obj["object"] == kind
    card_expected = set(reference["charge"]["payment_method_details"]["card"])
    assert card_expected <= set(ours["charge"]["payment_method_details"]["card"]) | {"installments", "wallet"}
