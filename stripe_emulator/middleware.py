"""The request pipeline around every handler, outermost first:

envelope (Request-Id, Stripe's error JSON) -> authentication -> limits (rate limits, search switch, latency) ->
faults -> idempotency -> injected delay -> route.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from stripe_emulator.accepted import PINNED_API_VERSION
from stripe_emulator.context import RequestInfo, current_request
from stripe_emulator.errors import StripeError, authentication_error, invalid_request
from stripe_emulator.formdata import canonical
from stripe_emulator.idempotency import IdempotencyStore
from stripe_emulator.ids import new_id
from stripe_emulator.state import state_of
from stripe_emulator.wire import request_params

_KEY_KIND = web.RequestKey("stripe_emulator_key_kind", str)
_API_KEY = web.RequestKey("stripe_emulator_api_key", str)
_HANG = web.RequestKey("stripe_emulator_hang", float)
_SECRET_KEY = re.compile(r"(sk|rk)_test_\w+")
_PUBLISHABLE_KEY = re.compile(r"pk_test_\w+")
# What stripe.js calls with a publishable key: intents with their client secret, and (stripe.createPaymentMethod)
# the creation of a PaymentMethod from the card fields.
_PUBLISHABLE_PATHS = re.compile(r"/v1/(payment_intents|setup_intents)/[A-Za-z0-9_]+(/confirm)?")
_PUBLISHABLE_CREATE = ("POST", "/v1/payment_methods")


def _error_response(error: StripeError) -> web.Response:
    return web.Response(
        body=json.dumps(error.body()).encode(),
        status=error.status,
        content_type="application/json",
        headers=error.headers,
    )


@web.middleware
async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every response a `Request-Id` and turn errors into Stripe's envelope."""
    request_id = new_id("req", 14)
    base_url = f"{request.scheme}://{request.host}"
    current_request.set(RequestInfo(request_id, request.headers.get("Idempotency-Key"), base_url))
    try:
        response = await handler(request)
    except StripeError as error:
        response = _error_response(error)
    except web.HTTPNotFound:
        response = _error_response(
            invalid_request(
                f"Unrecognized request URL ({request.method}: {request.path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
                status=404,
            )
        )
    except web.HTTPMethodNotAllowed:
        response = _error_response(
            invalid_request(f"Unrecognized request URL ({request.method}: {request.path}).", status=404)
        )
    response.headers["Request-Id"] = request_id
    if request.path.startswith("/v1/"):
        response.headers.setdefault("Stripe-Version", request.headers.get("Stripe-Version", PINNED_API_VERSION))
        key = request.headers.get("Idempotency-Key")
        if key is not None and request.method == "POST":
            response.headers["Idempotency-Key"] = key
    return response


def _api_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if header.startswith("Basic "):
        try:
            user: str = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            return user
        except ValueError:
            return None
    return None


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept any `sk_test_`/`rk_test_` key; `pk_test_` keys only where stripe.js may call; 401 otherwise."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    key = _api_key(request)
    if not key:
        raise authentication_error(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using "
            "Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if _SECRET_KEY.fullmatch(key):
        request[_KEY_KIND] = "secret"
    elif _PUBLISHABLE_KEY.fullmatch(key) and (
        _PUBLISHABLE_PATHS.fullmatch(request.path) or (request.method, request.path) == _PUBLISHABLE_CREATE
    ):
        request[_KEY_KIND] = "publishable"
    elif _PUBLISHABLE_KEY.fullmatch(key):
        raise authentication_error(
            "This API call cannot be made with a publishable API key. Please use a secret API key."
        )
    else:
        shown = f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}" if len(key) > 12 else "****"
        raise authentication_error(f"Invalid API Key provided: {shown}")
    request[_API_KEY] = key
    return await handler(request)


def is_publishable(request: web.Request) -> bool:
    """Whether the caller used a publishable key (stripe.js), which must then show the client secret."""
    return bool(request.get(_KEY_KIND) == "publishable")


@web.middleware
async def apply_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stripe's per-account rate limits and search switches (`limits.py`), then the configured latency."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    limits = state_of(request).limits
    limits.check(str(request.get(_API_KEY, "")), request.path.endswith("/search"))
    settings = limits.settings
    # Jitter is test noise, not a secret: the plain generator will do.
    delay = settings.latency_seconds + random.uniform(0.0, settings.latency_jitter_seconds)
    if delay > 0:
        await asyncio.sleep(delay)
    return await handler(request)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    # Nothing reaches the client once the transport is gone; aiohttp discards this quietly.
    return web.Response(status=500)


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the next matching injected fault to an API request."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    rule = state_of(request).faults.take(request.method, request.path)
    if rule is None:
        return await handler(request)
    if rule.mode == "error":
        raise rule.error()
    if rule.mode == "drop":
        return _drop_connection(request)
    if rule.mode == "hang":
        request[_HANG] = rule.hang_seconds
        return await handler(request)
    # lose_response: Stripe did the work (and kept the idempotent result); the client never hears back.
    await handler(request)
    return _drop_connection(request)


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run a keyed POST once per (API key, Idempotency-Key) and replay its response afterwards."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or key is None or not request.path.startswith("/v1/"):
        return await handler(request)
    store = state_of(request).idempotency
    IdempotencyStore.check_key(key)
    scoped = IdempotencyStore.scope(str(request.get(_API_KEY, "")), key)
    fingerprint = f"{request.method} {request.path}?{canonical(await request_params(request))}"
    stored = store.lookup(scoped, fingerprint)
    if stored is not None:
        return web.Response(
            body=stored.body,
            status=stored.status,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
        )
    store.in_flight.add(scoped)
    try:
        try:
            response = await handler(request)
        except StripeError as error:
            if error.stored:
                _remember(store, scoped, fingerprint, error.status, json.dumps(error.body()).encode())
            raise
        if isinstance(response, web.Response) and response.body is not None:
            body = response.body
            if isinstance(body, bytes):
                _remember(store, scoped, fingerprint, response.status, body)
        return response
    finally:
        store.in_flight.discard(scoped)


def _remember(store: IdempotencyStore, scoped: str, fingerprint: str, status: int, body: bytes) -> None:
    store.remember(scoped, fingerprint, status, body, current_request.get().request_id or "")


@web.middleware
async def injected_delay(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A `hang` fault: Stripe is slow, holding the idempotency key while it sleeps."""
    hang = request.get(_HANG)
    if hang:
        await asyncio.sleep(float(hang))
    return await handler(request)


MIDDLEWARES = [envelope, authenticate, apply_limits, inject_faults, idempotency, injected_delay]
