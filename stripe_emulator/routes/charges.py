"""`/v1/charges` (read-only here: charges come from PaymentIntents), `/v1/disputes`, `/v1/balance_transactions`."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.objects import render
from stripe_emulator.params import merge_metadata
from stripe_emulator.payments import expire_if_due
from stripe_emulator.routes.common import checked_params, expand_of, object_id
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import paginate, respond

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
    params = await checked_params(request)
    intent_id = params.str("payment_intent")
    customer = params.str("customer")
    group = params.str("transfer_group")
    items = [
        charge
        for charge in state.store.newest_first("charge")
        if (intent_id is None or charge["payment_intent"] == intent_id)
        and (customer is None or charge["customer"] == customer)
        and (group is None or charge["transfer_group"] == group)
    ]
    return respond(paginate(params, items, "/v1/charges", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/charges/{id}")
async def retrieve_charge(request: web.Request) -> web.Response:
    """Retrieve a charge."""
    state = state_of(request)
    params = await checked_params(request)
    return respond(render(state.store, load_charge(state, object_id(request)), expand_of(params)))


@routes.post("/v1/charges/{id}")
async def update_charge(request: web.Request) -> web.Response:
    """Update a charge's metadata, description, receipt e-mail, shipping or transfer group."""
    state = state_of(request)
    params = await checked_params(request)
    charge = load_charge(state, object_id(request))
    charge["metadata"] = merge_metadata(charge["metadata"], params.metadata())
    for name in ("description", "receipt_email", "transfer_group"):
        if params.has(name):
            charge[name] = params.str(name)
    if params.has("shipping"):
        charge["shipping"] = params.hash("shipping")
    return respond(render(state.store, charge, expand_of(params)))


@routes.get("/v1/disputes/{id}")
async def retrieve_dispute(request: web.Request) -> web.Response:
    """Retrieve a dispute (disputes are opened through the emulator's control routes)."""
    state = state_of(request)
    params = await checked_params(request)
    return respond(render(state.store, state.store.require("dispute", object_id(request)), expand_of(params)))


@routes.get("/v1/disputes")
async def list_disputes(request: web.Request) -> web.Response:
    """List disputes, newest first."""
    state = state_of(request)
    params = await checked_params(request)
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
    params = await checked_params(request)
    entry = state.store.require("balance_transaction", object_id(request))
    return respond(render(state.store, entry, expand_of(params)))
