"""`/v1/charges` (read-only here: charges come from PaymentIntents), `/v1/disputes`, `/v1/balance_transactions`."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.objects import render
from stripe_emulator.params import Params, merge_metadata
from stripe_emulator.payments import expire_if_due
from stripe_emulator.routes.common import expand_of, object_id
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import LIST_PARAMS, paginate, request_params, respond

routes = web.RouteTableDef()


def load_charge(state: EmulatorState, charge_id: str, param: str = "id") -> StripeObject:
    """A charge by id, after expiring its PaymentIntent's authorization if it ran out."""
    charge = state.store.require("charge", charge_id, param)
    intent = state.store.get("payment_intent", charge["payment_intent"]) if charge["payment_intent"] else None
    if intent is not None:
        expire_if_due(state, intent)
    return charge


@routes.get("/v1/charges")
async def list_charges(request: web.Request) -> web.Response:
    """List charges, newest first, by PaymentIntent or customer."""
    state = state_of(request)
    params = Params(await request_params(request), frozenset((*LIST_PARAMS, "payment_intent", "customer")))
    intent_id = params.str("payment_intent")
    customer = params.str("customer")
    items = [
        charge
        for charge in state.store.newest_first("charge")
        if (intent_id is None or charge["payment_intent"] == intent_id)
        and (customer is None or charge["customer"] == customer)
    ]
    return respond(paginate(params, items, "/v1/charges", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/charges/{id}")
async def retrieve_charge(request: web.Request) -> web.Response:
    """Retrieve a charge."""
    state = state_of(request)
    params = Params(await request_params(request), frozenset(("expand",)))
    return respond(render(state.store, load_charge(state, object_id(request)), expand_of(params)))


@routes.post("/v1/charges/{id}")
async def update_charge(request: web.Request) -> web.Response:
    """Update a charge's metadata, description or receipt e-mail."""
    state = state_of(request)
    params = Params(
        await request_params(request), frozenset(("metadata", "description", "receipt_email", "expand", "shipping"))
    )
    charge = load_charge(state, object_id(request))
    charge["metadata"] = merge_metadata(charge["metadata"], params.metadata())
    for name in ("description", "receipt_email"):
        if params.has(name):
            charge[name] = params.str(name)
    return respond(render(state.store, charge, expand_of(params)))


@routes.get("/v1/disputes/{id}")
async def retrieve_dispute(request: web.Request) -> web.Response:
    """Retrieve a dispute (disputes are opened through the emulator's control routes)."""
    state = state_of(request)
    params = Params(await request_params(request), frozenset(("expand",)))
    return respond(render(state.store, state.store.require("dispute", object_id(request)), expand_of(params)))


@routes.get("/v1/disputes")
async def list_disputes(request: web.Request) -> web.Response:
    """List disputes, newest first."""
    state = state_of(request)
    params = Params(await request_params(request), frozenset((*LIST_PARAMS, "charge", "payment_intent")))
    charge_id = params.str("charge")
    intent_id = params.str("payment_intent")
    items = [
        d
        for d in state.store.newest_first("dispute")
        if (charge_id is None or d["charge"] == charge_id) and (intent_id is None or d["payment_intent"] == intent_id)
    ]
    return respond(paginate(params, items, "/v1/disputes", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/balance_transactions/{id}")
async def retrieve_balance_transaction(request: web.Request) -> web.Response:
    """Retrieve the ledger entry of a capture or refund."""
    state = state_of(request)
    params = Params(await request_params(request), frozenset(("expand",)))
    entry = state.store.require("balance_transaction", object_id(request))
    return respond(render(state.store, entry, expand_of(params)))
