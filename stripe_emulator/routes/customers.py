"""`/v1/customers`: create, retrieve, update, delete, list, and their saved payment methods."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.objects import build_customer, render
from stripe_emulator.params import Params, merge_metadata
from stripe_emulator.payments import attach, resolve_payment_method, use_up_unless_attached
from stripe_emulator.routes.common import checked_params, expand_of, object_id
from stripe_emulator.state import state_of
from stripe_emulator.wire import paginate, respond

routes = web.RouteTableDef()


def _apply(customer: dict[str, object], params: Params) -> None:
    for name in ("description", "email", "name", "phone"):
        if params.has(name):
            customer[name] = params.str(name)
    for name in ("address", "shipping"):
        if params.has(name):
            customer[name] = params.hash(name)
    if params.has("preferred_locales"):
        customer["preferred_locales"] = params.string_list("preferred_locales")
    if params.has("tax_exempt"):
        customer["tax_exempt"] = params.choice("tax_exempt", ("none", "exempt", "reverse")) or "none"
    settings = params.hash("invoice_settings")
    if settings is not None and "default_payment_method" in settings:
        current = customer["invoice_settings"]
        assert isinstance(current, dict)
        current["default_payment_method"] = settings["default_payment_method"] or None
    current_metadata = customer["metadata"]
    assert isinstance(current_metadata, dict)
    customer["metadata"] = merge_metadata(current_metadata, params.metadata())


@routes.post("/v1/customers")
async def create_customer(request: web.Request) -> web.Response:
    """Create a customer, optionally attaching `payment_method`."""
    state = state_of(request)
    params = await checked_params(request)
    customer = build_customer(state.clock.now())
    _apply(customer, params)
    pm_id = params.str("payment_method")
    pm = resolve_payment_method(state, pm_id) if pm_id else None
    state.store.add(customer)
    if pm is not None:
        attach(state, pm, customer["id"])
    state.events.emit("customer.created", customer)
    return respond(render(state.store, customer, expand_of(params)))


@routes.get("/v1/customers/{id}")
async def retrieve_customer(request: web.Request) -> web.Response:
    """Retrieve a customer (a deleted one shows `deleted: true`, as Stripe does)."""
    state = state_of(request)
    params = await checked_params(request)
    customer = state.store.get("customer", object_id(request))
    if customer is not None and customer.get("deleted"):
        return respond({"id": customer["id"], "object": "customer", "deleted": True})
    customer = state.store.require("customer", object_id(request))
    return respond(render(state.store, customer, expand_of(params)))


@routes.post("/v1/customers/{id}")
async def update_customer(request: web.Request) -> web.Response:
    """Update a customer."""
    state = state_of(request)
    params = await checked_params(request)
    customer = state.store.require("customer", object_id(request))
    _apply(customer, params)
    state.events.emit("customer.updated", customer)
    return respond(render(state.store, customer, expand_of(params)))


@routes.delete("/v1/customers/{id}")
async def delete_customer(request: web.Request) -> web.Response:
    """Delete a customer; its payment methods are detached."""
    state = state_of(request)
    await checked_params(request)
    customer = state.store.require("customer", object_id(request))
    customer["deleted"] = True
    for pm in state.store.newest_first("payment_method"):
        if pm["customer"] == customer["id"]:
            pm["customer"] = None
            use_up_unless_attached(pm)
    state.events.emit("customer.deleted", customer)
    return respond({"id": customer["id"], "object": "customer", "deleted": True})


@routes.get("/v1/customers")
async def list_customers(request: web.Request) -> web.Response:
    """List customers, newest first, optionally by e-mail."""
    state = state_of(request)
    params = await checked_params(request)
    email = params.str("email")
    items = [
        c
        for c in state.store.newest_first("customer")
        if not c.get("deleted") and (email is None or c["email"] == email)
    ]
    return respond(paginate(params, items, "/v1/customers", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/customers/{id}/payment_methods")
async def list_customer_payment_methods(request: web.Request) -> web.Response:
    """A customer's attached payment methods, newest first."""
    state = state_of(request)
    params = await checked_params(request)
    customer = state.store.require("customer", object_id(request))
    kind = params.str("type")
    redisplay = params.choice("allow_redisplay", ("always", "limited", "unspecified"))
    items = [
        pm
        for pm in state.store.newest_first("payment_method")
        if pm["customer"] == customer["id"]
        and (kind is None or pm["type"] == kind)
        and (redisplay is None or pm["allow_redisplay"] == redisplay)
    ]
    url = f"/v1/customers/{customer['id']}/payment_methods"
    return respond(paginate(params, items, url, lambda o, e: render(state.store, o, e)))
