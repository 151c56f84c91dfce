"""The emulator's objects against the pinned version: every field the SDK's resource class declares is there (or
left out as Stripe leaves it out, `stripe_emulator.objects.OMITTED`), and the fields of Stripe's own example
objects (tests/reference/stripe-reference/fixtures3.json) are there with the same JSON types and shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.objects import OMITTED
from tests.conformance.sdk_spec import sdk_fields
from tests.reference import STRIPE_FIXTURES

RESOURCES: dict[str, type[stripe.StripeObject]] = {
    "payment_intent": stripe.PaymentIntent,
    "charge": stripe.Charge,
    "refund": stripe.Refund,
    "payment_method": stripe.PaymentMethod,
    "customer": stripe.Customer,
    "setup_intent": stripe.SetupIntent,
    "setup_attempt": stripe.SetupAttempt,
    "event": stripe.Event,
    "dispute": stripe.Dispute,
    "balance_transaction": stripe.BalanceTransaction,
}


@pytest.fixture
async def objects(stripe_client: stripe.StripeClient, emulator_control: EmulatorControl) -> dict[str, dict[str, Any]]:
    """One of each kind, made through the API as an integration makes them."""
    customer = await stripe_client.v1.customers.create_async({"email": "shape@example.com"})
    intent = await stripe_client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa", "confirm": True}
    )
    charge = await stripe_client.v1.charges.retrieve_async(intent["latest_charge"])
    refund = await stripe_client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 100})
    pm = await stripe_client.v1.payment_methods.retrieve_async(intent["payment_method"])
    setup = await stripe_client.v1.setup_intents.create_async({"customer": customer.id})
    confirmed = await stripe_client.v1.setup_intents.create_async(
        {"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True}
    )
    attempt = await stripe_client.v1.setup_attempts.list_async({"setup_intent": confirmed.id})
    event = (await stripe_client.v1.events.list_async({"limit": 1})).data[0]
    balance = await stripe_client.v1.balance_transactions.retrieve_async(charge["balance_transaction"])
    dispute = await emulator_control.create_dispute(charge.id)
    return {
        "payment_intent": intent.to_dict(),
        "charge": charge.to_dict(),
        "refund": refund.to_dict(),
        "payment_method": pm.to_dict(),
        "customer": customer.to_dict(),
        "setup_intent": setup.to_dict(),
        "setup_attempt": attempt.data[0].to_dict(),
        "event": event.to_dict(),
        "dispute": dispute,
        "balance_transaction": balance.to_dict(),
    }


async def test_every_declared_field_is_present(objects: dict[str, dict[str, Any]]) -> None:
    for kind, resource in RESOURCES.items():
        declared = sdk_fields(resource)
        omitted = set(OMITTED.get(kind, {}))
        assert omitted <= declared, f"{kind}: OMITTED names fields the SDK does not declare"
        missing = declared - omitted - set(objects[kind])
        assert not missing, f"{kind} lacks {sorted(missing)}"
        unknown = set(objects[kind]) - declared
        assert not unknown, f"{kind} has fields the SDK does not declare: {sorted(unknown)}"


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}[type(value)]


def _shape_differences(path: str, reference: Any, ours: Any) -> list[str]:
    """Where `ours` lacks a field of `reference` or holds another JSON type (null matches anything)."""
    if reference is None or ours is None:
        return []
    if _json_type(reference) != _json_type(ours):
        return [f"{path}: {_json_type(ours)} where Stripe has {_json_type(reference)}"]
    differences: list[str] = []
    # Metadata keys are the integration's own.
    if isinstance(reference, dict) and not path.endswith(".metadata"):
        for key, value in reference.items():
            if key not in ours:
                differences.append(f"{path}.{key}: missing")
            else:
                differences.extend(_shape_differences(f"{path}.{key}", value, ours[key]))
    elif isinstance(reference, list) and reference and ours:
        differences.extend(_shape_differences(f"{path}[0]", reference[0], ours[0]))
    return differences


async def test_fields_stripe_always_returns_match_its_examples(objects: dict[str, dict[str, Any]]) -> None:
    examples: dict[str, Any] = json.loads(STRIPE_FIXTURES.read_text())["resources"]
    for kind in RESOURCES:
        reference = {k: v for k, v in examples[kind].items() if k not in OMITTED.get(kind, {})}
        # An event's `data.object` is whatever object it is about: compared above, not against the example.
        if kind == "event":
            reference["data"] = {k: v for k, v in reference["data"].items() if k != "object"}
        differences = _shape_differences(kind, reference, objects[kind])
        assert not differences, differences
