"""`/v1/setup_intents`: save a card for later (off-session) payments, with 3-D Secure when the card asks."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.errors import unexpected_state
from stripe_emulator.events import public_view
from stripe_emulator.objects import build_setup_intent, render
from stripe_emulator.params import Params
from stripe_emulator.routes.common import (
    apply_customer_and_method,
    check_client_secret,
    expand_of,
    object_id,
    set_fields,
)
from stripe_emulator.setups import CONFIRMABLE, attempt_setup
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import LIST_PARAMS, paginate, request_params, respond

routes = web.RouteTableDef()

_ACCEPTED_ONLY = (
    "allowed_payment_method_types",
    "attach_to_self",
    "confirmation_token",
    "excluded_payment_method_types",
    "flow_directions",
    "mandate_data",
    "on_behalf_of",
    "payment_method_configuration",
    "payment_method_options",
    "single_use",
    "use_stripe_sdk",
    "customer_account",
    "expand",
)
CREATE_PARAMS = frozenset(
    (
        *_ACCEPTED_ONLY,
        "automatic_payment_methods",
        "confirm",
        "customer",
        "description",
        "metadata",
        "payment_method",
        "payment_method_data",
        "payment_method_types",
        "return_url",
        "usage",
    )
)
UPDATE_PARAMS = frozenset(
    (*_ACCEPTED_ONLY, "customer", "description", "metadata", "payment_method", "payment_method_data")
)
CONFIRM_PARAMS = frozenset(
    (*_ACCEPTED_ONLY, "payment_method", "payment_method_data", "return_url", "client_secret", "key", "_stripe_version")
)


def _apply(state: EmulatorState, intent: StripeObject, params: Params) -> None:
    set_fields(intent, params, ("description",))
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
    error = attempt_setup(state, intent)
    if error is not None:
        raise error


@routes.post("/v1/setup_intents")
async def create_setup_intent(request: web.Request) -> web.Response:
    """Create a SetupIntent, confirming it at once with `confirm=true`."""
    state = state_of(request)
    params = Params(await request_params(request), CREATE_PARAMS)
    intent = build_setup_intent(state.clock.now())
    intent["usage"] = params.choice("usage", ("on_session", "off_session")) or "off_session"
    if params.has("payment_method_types"):
        intent["payment_method_types"] = params.string_list("payment_method_types") or ["card"]
    automatic = params.hash("automatic_payment_methods", ("enabled", "allow_redirects"))
    if automatic is not None:
        intent["automatic_payment_methods"] = {
            "allow_redirects": automatic.get("allow_redirects", "always"),
            "enabled": str(automatic.get("enabled", "false")).lower() == "true",
        }
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
    params = Params(await request_params(request), frozenset(("expand", "client_secret", "key", "_stripe_version")))
    intent = state.store.require("setup_intent", object_id(request), "intent")
    check_client_secret(request, params, intent)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/setup_intents/{id}")
async def update_setup_intent(request: web.Request) -> web.Response:
    """Update a SetupIntent."""
    state = state_of(request)
    params = Params(await request_params(request), UPDATE_PARAMS)
    intent = state.store.require("setup_intent", object_id(request), "intent")
    _apply(state, intent, params)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/setup_intents/{id}/confirm")
async def confirm_setup_intent(request: web.Request) -> web.Response:
    """Confirm a SetupIntent."""
    state = state_of(request)
    params = Params(await request_params(request), CONFIRM_PARAMS)
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
    params = Params(await request_params(request), frozenset(("cancellation_reason", "expand")))
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
    params = Params(
        await request_params(request), frozenset((*LIST_PARAMS, "customer", "payment_method", "attach_to_self"))
    )
    customer = params.str("customer")
    pm_id = params.str("payment_method")
    items = [
        si
        for si in state.store.newest_first("setup_intent")
        if (customer is None or si["customer"] == customer) and (pm_id is None or si["payment_method"] == pm_id)
    ]
    return respond(paginate(params, items, "/v1/setup_intents", lambda o, e: render(state.store, o, e)))
