"""`/v1/payment_methods`: card PaymentMethods from test card details or `pm_card_*`, attach, detach, list."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.errors import invalid_request, missing_parameter, parameter_error
from stripe_emulator.objects import render
from stripe_emulator.params import merge_metadata
from stripe_emulator.payments import attach, payment_method_from_card, resolve_payment_method, use_up_unless_attached
from stripe_emulator.routes.common import checked_params, expand_of, object_id, require_customer
from stripe_emulator.state import state_of
from stripe_emulator.wire import paginate, respond

routes = web.RouteTableDef()


@routes.post("/v1/payment_methods")
async def create_payment_method(request: web.Request) -> web.Response:
    """Create a card PaymentMethod from `card[number]`, `card[exp_month]`, `card[exp_year]`, `card[cvc]`."""
    state = state_of(request)
    params = await checked_params(request)
    kind = params.str("type", required=True)
    if kind != "card":
        raise parameter_error(
            f"The payment method type {kind!r} is not supported by this emulator.", "type", "parameter_invalid_string"
        )
    card = params.hash("card")
    if card is None:
        raise missing_parameter("card")
    if "token" in card:
        pm = resolve_payment_method(state, str(card["token"]).replace("tok_", "pm_card_", 1), "card[token]")
    else:
        pm = payment_method_from_card(state, card, params.hash("billing_details"), params.metadata())
    if params.has("allow_redisplay"):
        pm["allow_redisplay"] = params.choice("allow_redisplay", ("always", "limited", "unspecified"))
    return respond(render(state.store, pm, expand_of(params)))


@routes.get("/v1/payment_methods/{id}")
async def retrieve_payment_method(request: web.Request) -> web.Response:
    """Retrieve a PaymentMethod."""
    state = state_of(request)
    params = await checked_params(request)
    return respond(
        render(state.store, resolve_payment_method(state, object_id(request), "id", to_use=False), expand_of(params))
    )


@routes.post("/v1/payment_methods/{id}")
async def update_payment_method(request: web.Request) -> web.Response:
    """Update metadata, billing details or card expiry."""
    state = state_of(request)
    params = await checked_params(request)
    pm = state.store.require("payment_method", object_id(request))
    pm["metadata"] = merge_metadata(pm["metadata"], params.metadata())
    details = params.hash("billing_details", ("address", "email", "name", "phone", "tax_id"))
    if details is not None:
        pm["billing_details"].update({k: v or None for k, v in details.items() if k != "address"})
        if isinstance(details.get("address"), dict):
            pm["billing_details"]["address"].update(details["address"])
    card = params.hash("card", ("exp_month", "exp_year", "networks"))
    if card is not None:
        for name in ("exp_month", "exp_year"):
            if name in card:
                pm["card"][name] = int(card[name])
    state.events.emit("payment_method.updated", pm)
    return respond(render(state.store, pm, expand_of(params)))


@routes.post("/v1/payment_methods/{id}/attach")
async def attach_payment_method(request: web.Request) -> web.Response:
    """Attach a PaymentMethod (or a `pm_card_*` token, which makes a new one) to a customer."""
    state = state_of(request)
    params = await checked_params(request)
    customer_id = params.str("customer", required=True)
    assert customer_id is not None
    require_customer(state, customer_id)
    pm = resolve_payment_method(state, object_id(request), "payment_method")
    attach(state, pm, customer_id)
    return respond(render(state.store, pm, expand_of(params)))


@routes.post("/v1/payment_methods/{id}/detach")
async def detach_payment_method(request: web.Request) -> web.Response:
    """Detach a PaymentMethod from its customer."""
    state = state_of(request)
    params = await checked_params(request)
    pm = state.store.require("payment_method", object_id(request), "payment_method")
    if pm["customer"] is None:
        raise invalid_request(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            param="payment_method",
        )
    previous = {"customer": pm["customer"]}
    pm["customer"] = None
    use_up_unless_attached(pm)
    # Stripe's event names the Customer it was detached from in previous_attributes (docs.stripe.com/api/events/object).
    state.events.emit("payment_method.detached", pm, previous)
    return respond(render(state.store, pm, expand_of(params)))


@routes.get("/v1/payment_methods")
async def list_payment_methods(request: web.Request) -> web.Response:
    """List a customer's PaymentMethods (Stripe requires the customer)."""
    state = state_of(request)
    params = await checked_params(request)
    customer_id = params.str("customer", required=True)
    kind = params.str("type")
    redisplay = params.choice("allow_redisplay", ("always", "limited", "unspecified"))
    items = [
        pm
        for pm in state.store.newest_first("payment_method")
        if pm["customer"] == customer_id
        and (kind is None or pm["type"] == kind)
        and (redisplay is None or pm["allow_redisplay"] == redisplay)
    ]
    return respond(paginate(params, items, "/v1/payment_methods", lambda o, e: render(state.store, o, e)))
