"""Emulator-only routes under `/_emulator`: reset, limits and latency, faults, clock, webhooks, 3-D Secure,
disputes, refund failures, the card updater.

They take and return JSON and need no API key; `stripe_emulator.control.EmulatorControl` wraps them.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from stripe_emulator import payments, setups
from stripe_emulator.errors import StripeError, invalid_request
from stripe_emulator.faults import FAULT_MODES
from stripe_emulator.objects import build_dispute, render
from stripe_emulator.routes.charges import load_charge
from stripe_emulator.routes.payment_intents import load
from stripe_emulator.routes.refunds import emit_refund_updated
from stripe_emulator.state import EmulatorState, state_of
from stripe_emulator.store import StripeObject
from stripe_emulator.wire import respond

routes = web.RouteTableDef()
PREFIX = "/_emulator"


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.text() or "{}")
    except json.JSONDecodeError:
        raise invalid_request("The control API takes a JSON object body.") from None
    if not isinstance(body, dict):
        raise invalid_request("The control API takes a JSON object body.")
    return body


@routes.get(f"{PREFIX}/health")
async def health(request: web.Request) -> web.Response:
    """Liveness probe."""
    return respond({"ok": True})


@routes.post(f"{PREFIX}/reset")
async def reset(request: web.Request) -> web.Response:
    """Forget all objects, events, webhook endpoints, idempotency keys and faults; clock back to real time."""
    state_of(request).reset()
    return respond({"reset": True})


@routes.get(f"{PREFIX}/stats")
async def stats(request: web.Request) -> web.Response:
    """How much the emulator holds (for memory checks)."""
    state = state_of(request)
    kinds = ("payment_intent", "charge", "refund", "payment_method", "customer", "setup_intent", "dispute")
    return respond(
        {
            "objects": {kind: state.store.count(kind) for kind in kinds},
            "events": len(state.events.events),
            "idempotency_entries": len(state.idempotency.responses),
            "webhook_deliveries": len(state.webhooks.deliveries),
            "search_requests": state.limits.search_requests,
        }
    )


# -- limits, search, latency -------------------------------------------------------------------------------------


@routes.get(f"{PREFIX}/settings")
async def get_settings(request: web.Request) -> web.Response:
    """Rate limits, search switches and latency in force (`stripe_emulator.limits`)."""
    return respond(state_of(request).limits.settings.describe())


@routes.post(f"{PREFIX}/settings")
async def update_settings(request: web.Request) -> web.Response:
    """Change some settings (JSON object of name -> value); a reset returns to the configured ones."""
    limits = state_of(request).limits
    limits.settings.update(await _json_body(request))
    return respond(limits.settings.describe())


@routes.get(f"{PREFIX}/search/requests")
async def search_requests(request: web.Request) -> web.Response:
    """How many Search API requests arrived since the last reset (refused ones included)."""
    return respond({"count": state_of(request).limits.search_requests})


# -- faults ------------------------------------------------------------------------------------------------------


@routes.post(f"{PREFIX}/faults")
async def add_fault(request: web.Request) -> web.Response:
    """Inject a fault into the next `count` requests under `path_prefix`."""
    body = await _json_body(request)
    mode = body.get("mode")
    if mode not in FAULT_MODES:
        raise invalid_request(f"mode must be one of {', '.join(FAULT_MODES)}", param="mode")
    try:
        rule = state_of(request).faults.add(
            str(body.get("path_prefix", "/v1/")),
            mode,
            count=int(body.get("count", 1)),
            method=body.get("method"),
            status=int(body.get("status", 500)),
            should_retry=body.get("should_retry"),
            hang_seconds=float(body.get("hang_seconds", 0.0)),
        )
    except ValueError as error:
        raise invalid_request(str(error)) from None
    return respond(rule.describe())


@routes.get(f"{PREFIX}/faults")
async def list_faults(request: web.Request) -> web.Response:
    """The active fault rules."""
    return respond({"data": [rule.describe() for rule in state_of(request).faults.rules]})


@routes.delete(f"{PREFIX}/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault rule."""
    state_of(request).faults.clear()
    return respond({"data": []})


# -- clock -------------------------------------------------------------------------------------------------------


@routes.get(f"{PREFIX}/clock")
async def get_clock(request: web.Request) -> web.Response:
    """The emulator's current time and offset from real time."""
    clock = state_of(request).clock
    return respond({"now": clock.now(), "offset": clock.offset})


@routes.post(f"{PREFIX}/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    """Move time forward and expire authorizations past `capture_before`."""
    state = state_of(request)
    body = await _json_body(request)
    try:
        now = state.clock.advance(int(body.get("seconds", 0)))
    except ValueError as error:
        raise invalid_request(str(error), param="seconds") from None
    expired = payments.expire_all(state)
    return respond({"now": now, "offset": state.clock.offset, "expired_payment_intents": expired})


# -- webhooks ----------------------------------------------------------------------------------------------------


@routes.post(f"{PREFIX}/webhook_endpoints")
async def add_webhook_endpoint(request: web.Request) -> web.Response:
    """Register a webhook endpoint (`url`, optional `secret`, `enabled_events` and `api_version`)."""
    body = await _json_body(request)
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid_request("url must be an http(s) URL", param="url")
    version = body.get("api_version")
    if version is not None and not isinstance(version, str):
        raise invalid_request("api_version must be a string such as 2026-10-28.endive", param="api_version")
    endpoint = state_of(request).webhooks.add_endpoint(url, body.get("secret"), body.get("enabled_events"), version)
    return respond(endpoint.describe())


@routes.get(f"{PREFIX}/webhook_endpoints")
async def list_webhook_endpoints(request: web.Request) -> web.Response:
    """Registered webhook endpoints."""
    return respond({"data": [e.describe() for e in state_of(request).webhooks.endpoints.values()]})


@routes.delete(f"{PREFIX}/webhook_endpoints/{{id}}")
async def remove_webhook_endpoint(request: web.Request) -> web.Response:
    """Unregister a webhook endpoint."""
    removed = state_of(request).webhooks.remove_endpoint(request.match_info["id"])
    return respond({"id": request.match_info["id"], "deleted": removed})


@routes.post(f"{PREFIX}/webhooks/auto_delivery")
async def set_auto_delivery(request: web.Request) -> web.Response:
    """Pause (`{"enabled": false}`) or resume background webhook delivery."""
    body = await _json_body(request)
    state_of(request).webhooks.set_auto_deliver(bool(body.get("enabled", True)))
    return respond({"enabled": state_of(request).webhooks.auto_deliver})


@routes.post(f"{PREFIX}/webhooks/deliver")
async def deliver_webhooks(request: web.Request) -> web.Response:
    """Send every pending delivery now: `order` is `oldest_first`, `newest_first` or a list of event ids."""
    body = await _json_body(request)
    order = body.get("order", "oldest_first")
    if not (order in ("oldest_first", "newest_first") or isinstance(order, list)):
        raise invalid_request("order must be oldest_first, newest_first or a list of event ids", param="order")
    sent = await state_of(request).webhooks.deliver_pending(order)
    return respond({"data": [d.describe() for d in sent]})


@routes.get(f"{PREFIX}/webhooks/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """Every delivery with its attempts and responses, oldest first."""
    return respond({"data": [d.describe() for d in state_of(request).webhooks.deliveries.values()]})


@routes.post(f"{PREFIX}/events/{{id}}/redeliver")
async def redeliver_event(request: web.Request) -> web.Response:
    """Send an event again now (to `endpoint_id`, or to every subscribed endpoint)."""
    body = await _json_body(request)
    state = state_of(request)
    event_id = request.match_info["id"]
    if state.events.get(event_id) is None:
        raise invalid_request(f"No such event: '{event_id}'", status=404, code="resource_missing")
    sent = await state.webhooks.redeliver(event_id, body.get("endpoint_id"))
    return respond({"data": [d.describe() for d in sent]})


# -- 3-D Secure --------------------------------------------------------------------------------------------------


def _finish_authentication(
    state: EmulatorState, intent_id: str, succeeded: bool
) -> tuple[StripeObject, StripeError | None]:
    if intent_id.startswith("seti_"):
        intent = state.store.require("setup_intent", intent_id, "intent")
        return intent, setups.finish_authentication(state, intent, succeeded)
    intent = load(state, intent_id)
    return intent, payments.finish_authentication(state, intent, succeeded)


@routes.post(f"{PREFIX}/intents/{{id}}/authenticate")
async def authenticate(request: web.Request) -> web.Response:
    """Complete (`{"outcome": "succeed"}`) or fail (`"fail"`) the 3-D Secure challenge of an intent."""
    body = await _json_body(request)
    outcome = body.get("outcome", "succeed")
    if outcome not in ("succeed", "fail"):
        raise invalid_request("outcome must be succeed or fail", param="outcome")
    state = state_of(request)
    intent, decline = _finish_authentication(state, request.match_info["id"], outcome == "succeed")
    result = render(state.store, intent, [])
    return respond({"intent": result, "error": decline.body()["error"] if decline else None})


_CHALLENGE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>3D Secure test page</title></head>
<body>
<h1>3D Secure 2 test page</h1>
<p>Emulated challenge for {intent_id}.</p>
<form method="post"><input type="hidden" name="outcome" value="succeed">
<button id="complete-auth" type="submit">Complete authentication</button></form>
<form method="post"><input type="hidden" name="outcome" value="fail">
<button id="fail-auth" type="submit">Fail authentication</button></form>
</body></html>
"""


@routes.get(f"{PREFIX}/3ds/{{id}}")
async def challenge_page(request: web.Request) -> web.Response:
    """The page `next_action` points at: a shopper (or a browser test) completes or fails the challenge."""
    intent_id = html.escape(request.match_info["id"])
    return web.Response(text=_CHALLENGE_PAGE.format(intent_id=intent_id), content_type="text/html")


@routes.post(f"{PREFIX}/3ds/{{id}}")
async def challenge_answer(request: web.Request) -> web.StreamResponse:
    """The challenge page's buttons: finish authentication, then go back to `return_url` as Stripe does."""
    form = await request.post()
    succeeded = form.get("outcome") == "succeed"
    state = state_of(request)
    intent, _ = _finish_authentication(state, request.match_info["id"], succeeded)
    return_url = intent.get("_return_url")
    if not return_url:
        return web.Response(text=f"Authentication {'completed' if succeeded else 'failed'}.", content_type="text/plain")
    kind = "setup_intent" if intent["object"] == "setup_intent" else "payment_intent"
    query = urlencode(
        {
            kind: intent["id"],
            f"{kind}_client_secret": intent["client_secret"],
            "redirect_status": "succeeded" if intent["status"] in ("succeeded", "requires_capture") else "failed",
        }
    )
    separator = "&" if "?" in return_url else "?"
    raise web.HTTPSeeOther(f"{return_url}{separator}{query}")


# -- disputes and refund failures --------------------------------------------------------------------------------


@routes.post(f"{PREFIX}/charges/{{id}}/dispute")
async def create_dispute(request: web.Request) -> web.Response:
    """Open a dispute on a charge (`reason`, `amount`), as a cardholder's bank would."""
    body = await _json_body(request)
    state = state_of(request)
    charge = load_charge(state, request.match_info["id"], "charge")
    if not charge["captured"]:
        raise invalid_request("Only captured charges can be disputed.", param="charge")
    amount = int(body.get("amount") or charge["amount_captured"])
    dispute = build_dispute(charge, amount, str(body.get("reason", "fraudulent")), state.clock.now())
    state.store.add(dispute)
    charge["disputed"] = True
    state.events.emit("charge.dispute.created", dispute)
    return respond(render(state.store, dispute, []))


@routes.post(f"{PREFIX}/refunds/{{id}}/fail")
async def fail_refund(request: web.Request) -> web.Response:
    """Make a succeeded refund fail later (as test card 4000000000005126 does): the money returns to the charge."""
    state = state_of(request)
    refund = state.store.require("refund", request.match_info["id"])
    if refund["status"] == "failed":
        raise invalid_request("This refund has already failed.")
    charge = state.store.require("charge", refund["charge"], "charge")
    previous = {"status": refund["status"]}
    refund.update(status="failed", failure_reason="expired_or_canceled_card")
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    emit_refund_updated(state, refund, previous)
    state.events.emit("refund.failed", refund)
    return respond(render(state.store, refund, []))


# -- the card updater ----------------------------------------------------------------------------------------------


@routes.post(f"{PREFIX}/payment_methods/{{id}}/card_update")
async def update_card(request: web.Request) -> web.Response:
    """The card networks' account updater reissuing a saved card (`exp_month`, `exp_year`, optional `last4`): the
    PaymentMethod keeps its id, its card hash changes, and `payment_method.automatically_updated` is sent with the old
    values in `previous_attributes` (docs.stripe.com/api/events/types; the event's name since API version 2020-08-27,
    docs.stripe.com/changelog/2020-08-27/renames-automatically-updated-event-type). Only cards saved to a Customer are
    updated (docs.stripe.com/payments/cards/overview, "Card updates")."""
    body = await _json_body(request)
    state = state_of(request)
    pm = state.store.require("payment_method", request.match_info["id"], "payment_method")
    if pm["type"] != "card" or pm["customer"] is None:
        raise invalid_request("The card updater only updates cards saved to a Customer.", param="payment_method")
    changes: dict[str, Any] = {}
    for name in ("exp_month", "exp_year"):
        if name in body:
            changes[name] = int(body[name])
    if "last4" in body:
        last4 = str(body["last4"])
        if len(last4) != 4 or not last4.isdigit():
            raise invalid_request("last4 must be four digits.", param="last4")
        changes["last4"] = last4
    if not changes:
        raise invalid_request("Give exp_month, exp_year or last4 to change.")
    previous = {"card": {name: pm["card"][name] for name in changes}}
    pm["card"].update(changes)
    state.events.emit("payment_method.automatically_updated", pm, previous)
    return respond(render(state.store, pm, []))
