"""`/v1/refunds`: partial and repeated refunds, capped at what was captured."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stripe_emulator.errors import invalid_request, parameter_error
from stripe_emulator.events import public_view
from stripe_emulator.objects import build_balance_transaction, build_refund, render
from stripe_emulator.params import Params, merge_metadata
from stripe_emulator.routes.charges import load_charge
from stripe_emulator.routes.common import checked_params, expand_of, object_id
from stripe_emulator.routes.payment_intents import load
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import paginate, respond

routes = web.RouteTableDef()

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _charge_to_refund(state: EmulatorState, params: Params) -> StripeObject:
    charge_id = params.str("charge")
    intent_id = params.str("payment_intent")
    if charge_id is None and intent_id is None:
        raise parameter_error(
            "One of the following params should be provided for this request: payment_intent or charge.",
            "payment_intent",
            "parameter_missing",
        )
    if intent_id is not None:
        intent = load(state, intent_id)
        if intent["status"] == "requires_capture":
            raise invalid_request(
                "This PaymentIntent has not been captured, so it cannot be refunded. Cancel the PaymentIntent "
                "instead to release the authorization.",
                code="payment_intent_unexpected_state",
                param="payment_intent",
                extra={"payment_intent": public_view(intent)},
            )
        if intent["status"] != "succeeded" or intent["latest_charge"] is None:
            raise invalid_request(
                f"This PaymentIntent does not have a successful charge to refund (status {intent['status']}).",
                code="charge_not_refundable" if intent["status"] != "canceled" else "payment_intent_unexpected_state",
                param="payment_intent",
            )
        charge = load_charge(state, intent["latest_charge"], "payment_intent")
        if charge_id is not None and charge_id != charge["id"]:
            raise parameter_error("The charge does not belong to this PaymentIntent.", "charge", "parameter_invalid")
        return charge
    assert charge_id is not None
    charge = load_charge(state, charge_id, "charge")
    if not charge["paid"]:
        raise invalid_request(
            f"Charge {charge['id']} has failed and cannot be refunded.", code="charge_not_refundable", param="charge"
        )
    if not charge["captured"]:
        raise invalid_request(
            f"Charge {charge['id']} has not been captured; cancel its PaymentIntent to release it.",
            code="charge_not_refundable",
            param="charge",
        )
    return charge


@routes.post("/v1/refunds")
async def create_refund(request: web.Request) -> web.Response:
    """Refund all or part of what remains of a captured charge."""
    state = state_of(request)
    params = await checked_params(request)
    amount = params.int("amount")
    reason = params.choice("reason", REASONS)
    metadata = params.metadata()
    charge = _charge_to_refund(state, params)
    if charge["disputed"]:
        # Stripe refuses: the cardholder's bank has already taken the money back, a refund would repay it twice.
        raise invalid_request(
            f"Charge {charge['id']} has been disputed (charged back), so it cannot be refunded.",
            code="charge_disputed",
            param="charge",
        )
    # What was captured and not yet refunded: a released authorization is no refund since 2025-03-31.basil.
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0 or charge["refunded"]:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded", param="charge"
        )
    amount = remaining if amount is None else amount
    if amount < 1:
        raise parameter_error("Refund amount must be greater than zero.", "amount", "parameter_invalid_integer")
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({amount} {charge['currency']}) is greater than unrefunded amount on charge "
            f"({remaining} {charge['currency']})",
            code="amount_too_large",
            param="amount",
        )
    refund = build_refund(charge, amount, state.clock.now())
    refund["reason"] = reason
    refund["metadata"] = metadata or {}
    entry = build_balance_transaction(refund["id"], -amount, charge["currency"], state.clock.now())
    refund["balance_transaction"] = state.store.add(entry)["id"]
    state.store.add(refund)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    state.events.emit("refund.created", refund)
    state.events.emit("charge.refunded", charge)
    return respond(render(state.store, refund, expand_of(params)))


@routes.get("/v1/refunds")
async def list_refunds(request: web.Request) -> web.Response:
    """List refunds, newest first, by PaymentIntent or charge."""
    state = state_of(request)
    params = await checked_params(request)
    intent_id = params.str("payment_intent")
    charge_id = params.str("charge")
    items = [
        r
        for r in state.store.newest_first("refund")
        if (intent_id is None or r["payment_intent"] == intent_id) and (charge_id is None or r["charge"] == charge_id)
    ]
    return respond(paginate(params, items, "/v1/refunds", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/refunds/{id}")
async def retrieve_refund(request: web.Request) -> web.Response:
    """Retrieve a refund."""
    state = state_of(request)
    params = await checked_params(request)
    return respond(render(state.store, state.store.require("refund", object_id(request)), expand_of(params)))


@routes.post("/v1/refunds/{id}")
async def update_refund(request: web.Request) -> web.Response:
    """Update a refund's metadata (emits `refund.updated` and `charge.refund.updated`)."""
    state = state_of(request)
    params = await checked_params(request)
    refund = state.store.require("refund", object_id(request))
    previous = {"metadata": dict(refund["metadata"])}
    refund["metadata"] = merge_metadata(refund["metadata"], params.metadata())
    emit_refund_updated(state, refund, previous)
    return respond(render(state.store, refund, expand_of(params)))


def emit_refund_updated(state: EmulatorState, refund: StripeObject, previous: dict[str, Any]) -> None:
    """The two events Stripe sends when a refund changes."""
    state.events.emit("refund.updated", refund, previous)
    state.events.emit("charge.refund.updated", refund, previous)
