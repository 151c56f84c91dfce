"""`POST /stripe/webhook/{paymentGatewayConfigId}`: Stripe's deliveries for one gateway config's account.

Answers: 404 for a gateway config we have no Stripe account for, 400 when that config has no webhook secret or the
signature does not verify (counted in stripe.StripeWebhookRejection by rejections.py; the body is never processed),
200 once the event is processed, ignored or refused by our rules, and 500 only for our own transient faults, so that
Stripe retries exactly those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from moqui_bridge.mantle.remote_moqui import RemoteMantleSide
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.web import moqui_json
from service.stripe_gateway.deadline import Deadline
from service.webhooks.context import MoquiRecipient, WebhookContext
from service.webhooks.processing import process_event
from service.webhooks.rejections import NOT_AN_EVENT, RejectionCounters
from service.webhooks.signature import SIGNATURE_HEADER, SignatureError, verify_signature

if TYPE_CHECKING:
    # Types only: service.app mounts these routes, so importing it here would be circular.
    from service.app import AppState, Runtime

__all__ = ["WEBHOOK_PATH", "add_webhook_routes"]

log = logging.getLogger(__name__)

WEBHOOK_PATH: Final = "/stripe/webhook/{paymentGatewayConfigId}"
MantleSideFor = Callable[["Runtime"], MantleSide]


@dataclass(frozen=True)
class _Endpoint:
    state: AppState
    mantle_side: MantleSideFor
    rejections: RejectionCounters


_ENDPOINT: Final = web.AppKey("moqui_stripe_webhook_endpoint", _Endpoint)


def add_webhook_routes(app: web.Application, state: AppState, mantle_side: MantleSideFor) -> None:
    """Mount the webhook endpoint on `app` (whose APP_STATE is `state`).

    `mantle_side` gives the Mantle side of the running app (`service.app` passes the runtime's: the local rules
    standalone, Moqui's REST API when one is configured).
    """
    rejections = RejectionCounters(lambda: state.runtime.entity if state.runtime is not None else None)
    app[_ENDPOINT] = _Endpoint(state, mantle_side, rejections)
    app.router.add_post(WEBHOOK_PATH, _receive)

    async def write_rejection_counts(_: web.Application) -> None:
        await rejections.close()

    # on_shutdown: before the cleanup contexts close the pool.
    app.on_shutdown.append(write_rejection_counts)


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


async def _receive(request: web.Request) -> web.Response:
    endpoint = request.app[_ENDPOINT]
    state = endpoint.state
    config_id = request.match_info["paymentGatewayConfigId"]
    gateway_settings = state.settings.gateway(config_id)
    if gateway_settings is None:
        return _answer(404, {"error": f"no Stripe account is configured for gateway config {config_id}"})
    if gateway_settings.webhook_secret is None:
        return _answer(400, {"error": f"webhooks are not configured for gateway config {config_id} (no secret)"})
    runtime = state.require_runtime()
    raw = await request.read()
    # Text as a column can hold it: bad UTF-8 and NUL bytes become U+FFFD in the audit copy (the signature is
    # checked on the raw bytes).
    payload = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    try:
        verify_signature(
            raw,
            request.headers.get(SIGNATURE_HEADER),
            gateway_settings.webhook_secret.get_secret_value(),
            gateway_settings.webhook_tolerance_seconds,
        )
    except SignatureError as error:
        endpoint.rejections.record(config_id, error.reason_id, error.reason, payload, request.remote)
        return _answer(400, {"error": "signature verification failed"})
    event = _event(payload)
    if event is None:
        reason = "signed body is not a Stripe event"
        endpoint.rejections.record(config_id, NOT_AN_EVENT, reason, payload, request.remote)
        return _answer(400, {"error": "not a Stripe event"})
    mantle = endpoint.mantle_side(runtime)
    moqui_client = state.settings.moqui_client_name()
    context = WebhookContext(
        entity=runtime.entity,
        gateways=runtime.gateways,
        mantle=mantle,
        payment_gateway_config_id=config_id,
        moqui=(
            MoquiRecipient(mantle, moqui_client, state.settings.checkout.place_order)
            if isinstance(mantle, RemoteMantleSide) and moqui_client is not None
            else None
        ),
        cards=runtime.cards,
        deadline=Deadline.after(state.settings.server.request_deadline_seconds),
        liveness_key=runtime.base_context.liveness_key,
    )
    result = await process_event(context, event, payload)
    body = {"received": True, "status": result.status_id, "duplicate": result.duplicate}
    if result.retry:
        return _answer(500, {**body, "received": False})
    return _answer(200, body)


def _event(payload: str) -> dict[str, Any] | None:
    """The event, when the body is a Stripe event with an id, a type and a data.object."""
    try:
        # The one strict reader: numbers bounded before conversion, text that cannot be stored refused.
        event = moqui_json.loads(payload)
    except moqui_json.JsonParseError:
        return None
    if not isinstance(event, dict) or event.get("object") != "event":
        return None
    data = event.get("data")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return None
    return event
