"""`/v1/setup_intents`: save a card for later (off-session) payments, with 3-D Secure when the card asks."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.errors import unexpected_state
from stripe_emulator.events import public_view
from stripe_emulator.objects import build_setup_intent, render
from stripe_emulator.params import Params
from stripe_emulator.routes.common import (
    apply_customer_and_method,
    apply_method_types,
    check_client_secret,
    checked_params,
    expand_of,
    object_id,
    set_fields,
)
from stripe_emulator.setups import CONFIRMABLE, attempt_setup, moto_option
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import paginate, respond

routes = web.RouteTableDef()


def _apply(state: EmulatorState, intent: StripeObject, params: Params) -> None:
    set_fields(intent, params, ("description",))
    apply_method_types(intent, params)
    apply_customer_and_method(state, intent, params)
    if intent["status"] == "requires_payment_method" and intent["payment_method"] is not None:
        intent["status"] = "requires_confirmation"


def _confirm(state: EmulatorState, intent: StripeObject, params: Params) -> None:
    if intent["status"] not in CONFIRMABLE or intent["payment_method"] is None:
        reason = (
            "it's missing a payment method"
            if intent["status"] in CONFIRMABLE
            else f"it has a status of {intent['status']}"
        )
        raise unexpected_state(
            f"You cannot confirm this SetupIntent because {reason}.", "setup_intent", public_view(intent)
        )
    if params.has("return_url"):
        intent["_return_url"] = params.str("return_url")
    # The flag belongs to this confirmation only (a later confirm without it is an ordinary one).
    intent["_moto"] = moto_option(state, params, confirming=True)
    error = attempt_setup(state, intent)
    if error is not None:
        raise error


@routes.post("/v1/setup_intents")
async def create_setup_intent(request: web.Request) -> web.Response:
    """Create a SetupIntent, confirming it at once with `confirm=true`."""
    state = state_of(request)
    params = await checked_params(request)
    moto_option(state, params, confirming=params.bool("confirm"))
    intent = build_setup_intent(state.clock.now())
    intent["usage"] = params.choice("usage", ("on_session", "off_session")) or "off_session"
    _apply(state, intent, params)
    state.store.add(intent)
    state.events.emit("setup_intent.created", intent)
    if params.bool("confirm"):
        _confirm(state, intent, params)
    return respond(render(state.store, intent, expand_of(params)))


@routes.get("/v1/setup_intents/{id}")
async def retrieve_setup_intent(request: web.Request) -> web.Response:
    """Retrieve a SetupIntent."""
    state = state_of(request)
    params = await checked_params(request)
    intent = state.store.require("setup_intent", object_id(request), "intent")
    check_client_secret(request, params, intent)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/setup_intents/{id}")
async def update_setup_intent(request: web.Request) -> web.Response:
    """Update a SetupIntent."""
    state = state_of(request)
    params = await checked_params(request)
    intent = state.store.require("setup_intent", object_id(request), "intent")
    moto_option(state, params, confirming=False)
    _apply(state, intent, params)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/setup_intents/{id}/confirm")
async def confirm_setup_intent(request: web.Request) -> web.Response:
    """Confirm a SetupIntent."""
    state = state_of(request)
    params = await checked_params(request)
    intent = state.store.require("setup_intent", object_id(request), "intent")
    check_client_secret(request, params, intent)
    if intent["status"] in CONFIRMABLE:
        _apply(state, intent, params)
    _confirm(state, intent, params)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/setup_intents/{id}/cancel")
async def cancel_setup_intent(request: web.Request) -> web.Response:
    """Cancel a SetupIntent that has not succeeded."""
    state = state_of(request)
    params = await checked_params(request)
    reason = params.choice("cancellation_reason", ("abandoned", "requested_by_customer", "duplicate"))
    intent = state.store.require("setup_intent", object_id(request), "intent")
    if intent["status"] in ("succeeded", "canceled"):
        raise unexpected_state(
            f"You cannot cancel this SetupIntent because it has a status of {intent['status']}.",
            "setup_intent",
            public_view(intent),
        )
    intent.update(status="canceled", cancellation_reason=reason, next_action=None)
    state.events.emit("setup_intent.canceled", intent)
    return respond(render(state.store, intent, expand_of(params)))


@routes.get("/v1/setup_intents")
async def list_setup_intents(request: web.Request) -> web.Response:
    """List SetupIntents, newest first, by customer or payment method."""
    state = state_of(request)
    params = await checked_params(request)
    customer = params.str("customer")
    pm_id = params.str("payment_method")
    items = [
        si
        for si in state.store.newest_first("setup_intent")
        if (customer is None or si["customer"] == customer) and (pm_id is None or si["payment_method"] == pm_id)
    ]
    return respond(paginate(params, items, "/v1/setup_intents", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/setup_attempts")
async def list_setup_attempts(request: web.Request) -> web.Response:
    """List the SetupAttempts of one SetupIntent (`setup_intent` is required), newest first
    (docs.stripe.com/api/setup_attempts/list)."""
    state = state_of(request)
    params = await checked_params(request)
    intent_id = params.str("setup_intent", required=True)
    items = [attempt for attempt in state.store.newest_first("setup_attempt") if attempt["setup_intent"] == intent_id]
    return respond(paginate(params, items, "/v1/setup_attempts", lambda o, e: render(state.store, o, e)))
