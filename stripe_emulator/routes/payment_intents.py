"""`/v1/payment_intents`: create, retrieve, update, confirm, capture, cancel, list and search."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from stripe_emulator.errors import invalid_request, parameter_error, unexpected_state
from stripe_emulator.events import public_view
from stripe_emulator.objects import build_payment_intent, render
from stripe_emulator.params import Params, merge_metadata
from stripe_emulator.payments import (
    CANCELABLE,
    CONFIRMABLE,
    attempt,
    cancel,
    capture,
    expire_if_due,
)
from stripe_emulator.routes.common import (
    apply_customer_and_method,
    apply_method_types,
    check_amount,
    check_client_secret,
    check_currency,
    checked_params,
    expand_of,
    object_id,
    set_fields,
)
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import paginate, respond

routes = web.RouteTableDef()

CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
SETUP_FUTURE_USAGE = ("on_session", "off_session")


def load(state: EmulatorState, intent_id: str) -> StripeObject:
    """A PaymentIntent by id, expired first if its authorization ran out."""
    return expire_if_due(state, state.store.require("payment_intent", intent_id, "intent"))


def _apply_common(state: EmulatorState, intent: StripeObject, params: Params) -> None:
    """Fields shared by create, update and confirm."""
    set_fields(intent, params, ("description", "statement_descriptor", "statement_descriptor_suffix", "transfer_group"))
    if params.has("receipt_email"):
        intent["receipt_email"] = params.str("receipt_email")
    if params.has("setup_future_usage"):
        intent["setup_future_usage"] = params.choice("setup_future_usage", SETUP_FUTURE_USAGE)
    if params.has("capture_method"):
        intent["capture_method"] = params.choice("capture_method", ("automatic", "automatic_async", "manual"))
    if params.has("shipping"):
        intent["shipping"] = params.hash("shipping")
    apply_method_types(intent, params)
    apply_customer_and_method(state, intent, params)


def _off_session(params: Params) -> bool:
    value = params.str("off_session")
    # Stripe takes `true`/`false` or the older `one_off`/`recurring`, which both mean off-session.
    return value in ("one_off", "recurring") or (value is not None and params.bool("off_session"))


def _confirm(state: EmulatorState, intent: StripeObject, params: Params) -> None:
    status = intent["status"]
    if status not in CONFIRMABLE:
        raise unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {status}. Only a PaymentIntent with "
            "one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, "
            "requires_action.",
            "payment_intent",
            public_view(intent),
        )
    if intent["payment_method"] is None:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the "
            "PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a "
            "payment method.",
            "payment_intent",
            public_view(intent),
        )
    if params.has("return_url"):
        intent["_return_url"] = params.str("return_url")
    intent["_off_session"] = _off_session(params)
    intent["status"] = "requires_confirmation"
    error = attempt(state, intent)
    if error is not None:
        raise error


@routes.post("/v1/payment_intents")
async def create_payment_intent(request: web.Request) -> web.Response:
    """Create a PaymentIntent, confirming it at once with `confirm=true`."""
    state = state_of(request)
    params = await checked_params(request)
    amount = params.int("amount", required=True)
    currency = check_currency(params.str("currency", required=True) or "")
    assert amount is not None
    check_amount(amount, currency)
    confirm = params.bool("confirm")
    if params.has("off_session") and not confirm:
        raise parameter_error(
            "You can only pass off_session when confirm=true.", "off_session", "parameter_invalid_string"
        )
    if params.has("return_url") and not confirm:
        raise parameter_error(
            "You can only pass return_url when confirm=true.", "return_url", "parameter_invalid_string"
        )
    intent = build_payment_intent(amount, currency, state.clock.now())
    # Search is eventually consistent: the new PaymentIntent is not found by search until it is indexed.
    intent["_searchable_at"] = state.clock.now() + state.limits.settings.search_index_lag_seconds
    intent["confirmation_method"] = params.choice("confirmation_method", ("automatic", "manual")) or "automatic"
    _apply_common(state, intent, params)
    if intent["payment_method"] is not None:
        intent["status"] = "requires_confirmation"
    state.store.add(intent)
    state.events.emit("payment_intent.created", intent)
    if confirm:
        _confirm(state, intent, params)
    return respond(render(state.store, intent, expand_of(params)))


@routes.get("/v1/payment_intents/search")
async def search_payment_intents(request: web.Request) -> web.Response:
    """Search by Stripe's query language subset: `metadata['k']:'v'`, `status:'...'`, `customer:'...'`, ...

    Only PaymentIntents already indexed are found (`limits.py`: indexing lag, rate limit, availability)."""
    state = state_of(request)
    params = await checked_params(request)
    query = params.str("query", required=True) or ""
    matches = _compile_query(query)
    now = state.clock.now()
    indexed = [pi for pi in list(state.store.newest_first("payment_intent")) if pi["_searchable_at"] <= now]
    found = [load(state, pi["id"]) for pi in indexed if matches(pi)]
    limit = params.int("limit") or 10
    page = params.str("page")
    start = int(page) if page and page.isdigit() else 0
    chunk = found[start : start + limit]
    has_more = start + limit < len(found)
    expand = [path.removeprefix("data.") for path in expand_of(params)]
    return respond(
        {
            "object": "search_result",
            "data": [render(state.store, pi, expand) for pi in chunk],
            "has_more": has_more,
            "next_page": str(start + limit) if has_more else None,
            "url": "/v1/payment_intents/search",
        }
    )


_CLAUSE = re.compile(
    r"""\s*(-?)(metadata\[(?:'([^']*)'|"([^"]*)")\]|[a-z_]+)\s*:\s*(?:'([^']*)'|"([^"]*)"|([^\s'"]+))\s*"""
)
_SEARCHABLE = ("status", "customer", "currency", "amount", "payment_method")


def _compile_query(query: str) -> Any:
    """A predicate for a search query; clauses joined by all-AND or all-OR, `-` negates."""
    parts = re.split(r"\s+(AND|OR)\s+", query.strip())
    joiners = set(parts[1::2])
    if len(joiners) > 1:
        raise parameter_error("Search queries cannot mix AND and OR.", "query", "parameter_invalid_string")
    clauses: list[tuple[bool, str | None, str, str]] = []
    for text in parts[0::2]:
        match = _CLAUSE.fullmatch(text)
        if match is None:
            raise invalid_request(f"Invalid search query: {text!r}.", param="query", stored=False)
        negate, field, key1, key2, v1, v2, v3 = match.groups()
        value = next(v for v in (v1, v2, v3) if v is not None)
        meta_key = key1 if key1 is not None else key2
        if meta_key is None and field not in _SEARCHABLE:
            raise invalid_request(f"Field '{field}' is not supported in search queries.", param="query", stored=False)
        clauses.append((bool(negate), meta_key, field, value))

    def clause_holds(pi: StripeObject, clause: tuple[bool, str | None, str, str]) -> bool:
        negate, meta_key, field, value = clause
        actual = pi["metadata"].get(meta_key) if meta_key is not None else pi.get(field)
        return (str(actual) == value if actual is not None else False) != negate

    combine = any if joiners == {"OR"} else all
    return lambda pi: combine(clause_holds(pi, clause) for clause in clauses)


@routes.get("/v1/payment_intents")
async def list_payment_intents(request: web.Request) -> web.Response:
    """List PaymentIntents, newest first, optionally by customer."""
    state = state_of(request)
    params = await checked_params(request)
    customer = params.str("customer")
    items = [
        load(state, pi["id"])
        for pi in list(state.store.newest_first("payment_intent"))
        if customer is None or pi["customer"] == customer
    ]
    return respond(paginate(params, items, "/v1/payment_intents", lambda o, e: render(state.store, o, e)))


@routes.get("/v1/payment_intents/{id}")
async def retrieve_payment_intent(request: web.Request) -> web.Response:
    """Retrieve a PaymentIntent (with `expand[]`; stripe.js passes a publishable key and the client secret)."""
    state = state_of(request)
    params = await checked_params(request)
    intent = load(state, object_id(request))
    check_client_secret(request, params, intent)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/payment_intents/{id}")
async def update_payment_intent(request: web.Request) -> web.Response:
    """Update a PaymentIntent; amount and payment details only while it is not yet processed."""
    state = state_of(request)
    params = await checked_params(request)
    intent = load(state, object_id(request))
    if intent["status"] in ("succeeded", "canceled", "processing", "requires_capture"):
        for name in ("amount", "currency", "payment_method", "payment_method_data", "capture_method", "customer"):
            if params.has(name):
                raise unexpected_state(
                    f"This PaymentIntent's {name} could not be updated because it has a status of "
                    f"{intent['status']}. You may only update the {name} of a PaymentIntent with one of the "
                    "following statuses: requires_payment_method, requires_confirmation, requires_action.",
                    "payment_intent",
                    public_view(intent),
                )
    if params.has("currency"):
        intent["currency"] = check_currency(params.str("currency") or "")
    if params.has("amount"):
        amount = params.int("amount", required=True)
        assert amount is not None
        check_amount(amount, intent["currency"])
        intent["amount"] = amount
    _apply_common(state, intent, params)
    if intent["status"] == "requires_payment_method" and intent["payment_method"] is not None:
        intent["status"] = "requires_confirmation"
    elif intent["status"] in ("requires_confirmation", "requires_action") and intent["payment_method"] is None:
        intent["status"] = "requires_payment_method"
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/payment_intents/{id}/confirm")
async def confirm_payment_intent(request: web.Request) -> web.Response:
    """Confirm: authorize, capture (automatic), ask for 3-D Secure, or decline with a 402."""
    state = state_of(request)
    params = await checked_params(request)
    intent = load(state, object_id(request))
    check_client_secret(request, params, intent)
    if intent["status"] in CONFIRMABLE:
        _apply_common(state, intent, params)
    _confirm(state, intent, params)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/payment_intents/{id}/capture")
async def capture_payment_intent(request: web.Request) -> web.Response:
    """Capture an authorized PaymentIntent, all of it or `amount_to_capture`."""
    state = state_of(request)
    params = await checked_params(request)
    intent = load(state, object_id(request))
    if intent["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {intent['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture.",
            "payment_intent",
            public_view(intent),
        )
    amount = params.int("amount_to_capture")
    if not params.bool("final_capture", default=True):
        # Leaving an authorization open after a capture is multicapture, which this account (like every card
        # account without IC+ pricing) does not have: charge.payment_method_details.card.multicapture is unavailable.
        raise invalid_request(
            "Multicapture is not available for this PaymentIntent (payment_method_details.card.multicapture.status "
            "is unavailable), so final_capture must be true.",
            param="final_capture",
            code="payment_intent_unexpected_state",
            stored=False,
        )
    intent["metadata"] = merge_metadata(intent["metadata"], params.metadata())
    set_fields(intent, params, ("statement_descriptor", "statement_descriptor_suffix"))
    capture(state, intent, amount)
    return respond(render(state.store, intent, expand_of(params)))


@routes.post("/v1/payment_intents/{id}/cancel")
async def cancel_payment_intent(request: web.Request) -> web.Response:
    """Cancel a PaymentIntent that is not yet succeeded, releasing an authorization."""
    state = state_of(request)
    params = await checked_params(request)
    reason = params.choice("cancellation_reason", CANCELLATION_REASONS)
    intent = load(state, object_id(request))
    if intent["status"] not in CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
            "PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "
            "requires_capture, requires_confirmation, requires_action, processing.",
            "payment_intent",
            public_view(intent),
        )
    cancel(state, intent, reason)
    return respond(render(state.store, intent, expand_of(params)))
