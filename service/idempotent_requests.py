"""Request-level idempotency for integrators' mutating calls, as Stripe offers it for its own API.

A POST/PUT/PATCH/DELETE to `/rest/s1/...` or `/rpc/json` from an authenticated caller that carries an
`Idempotency-Key` header is run once per (caller, key): its first completed answer (status, content type, body) is
kept in `stripe.StripeIdempotentRequest` and sent again, byte for byte and marked `Idempotent-Replayed: true`, to
every repeat of the same request. This sits in front of Mantle's rules, which refuse a repeated full refund ("more
than the 0.00 left") before the gateway service could recognise the key; the gateway's own operation journal
(`ServiceContext.client_request_key`) stays as the second line of defence for the Stripe calls themselves.

The rules, in order:

- a request without a key, with a blank key, from an unauthenticated caller, or to another path passes through
  untouched (the dispatcher then gives its own 401/403);
- a key longer than 255 characters is refused with 400;
- the first request commits a `SirStarted` row (unique on caller + key) before it runs, so a concurrent repeat, in
  this process or another one on the same database, finds it and gets 409;
- a repeat with another method, path, query or body gets 400: a key names one request;
- a 5xx answer or an exception is not kept (the row is deleted), so the client may retry; the journal keeps the
  Stripe calls exactly-once meanwhile;
- keys are kept 24 hours, as Stripe keeps them: an older row is replaced by the next request with its key.

Errors are in the dispatcher's own shape: `{"errorCode": N, "errors": "..."}` for REST, a JSON-RPC error envelope
(code N, the request's id when it has one) for `/rpc/json`, both with HTTP status N.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Middleware

from moqui_bridge.entity import EntityFacade, sql
from moqui_bridge.web import moqui_json
from moqui_bridge.web.auth import Authenticator
from moqui_bridge.web.dispatch import json_response
from moqui_bridge.web.json_rpc import error_body
from moqui_bridge.web.rest import REST_PREFIX
from service.context import IDEMPOTENCY_KEY_HEADER

__all__ = [
    "IDEMPOTENT_REPLAYED_HEADER",
    "JSON_RPC_PATH",
    "KEY_LIFETIME",
    "MAX_KEY_LENGTH",
    "idempotent_requests_middleware",
    "request_fingerprint",
]

logger = logging.getLogger(__name__)

ENTITY = "stripe.StripeIdempotentRequest"
IDEMPOTENT_REPLAYED_HEADER = "Idempotent-Replayed"
JSON_RPC_PATH = "/rpc/json"
MAX_KEY_LENGTH = 255
# Stripe keeps a key at least 24 hours; so do we, after which the key may name a new request.
KEY_LIFETIME = timedelta(hours=24)
# A started row this old belongs to a process that died mid-request (no request runs this long: Stripe calls time
# out in seconds). Without this the key would answer 409 for a whole day after a crash.
ABANDONED_AFTER = timedelta(minutes=10)
STARTED = "SirStarted"
COMPLETED = "SirCompleted"
_MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reservation attempts: another request may delete or replace the row between our insert and our read.
_RESERVE_ATTEMPTS = 3

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EntitySource = Callable[[], EntityFacade | None]


def _now() -> datetime:
    # Naive UTC, as every date-time field is stored (Moqui's database_time_zone default).
    return datetime.now(UTC).replace(tzinfo=None)


def request_fingerprint(method: str, path: str, query_string: str, body: bytes) -> str:
    """SHA-256 (hex) of what makes two requests the same one: method, path, query string and the body's hash.

    Hashed rather than kept, because the query string may carry the caller's api key.
    """
    digest = hashlib.sha256()
    for part in (method.upper(), path, query_string, hashlib.sha256(body).hexdigest()):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")  # a separator no part contains, so ("a", "bc") and ("ab", "c") differ
    return digest.hexdigest()


@dataclass(frozen=True)
class _Endpoint:
    """Which dispatcher a request goes to, so refusals come in that dispatcher's error shape."""

    json_rpc: bool

    def refusal(self, status: int, message: str, body: bytes) -> web.Response:
        if self.json_rpc:
            return json_response(error_body(_json_rpc_id(body), status, message), status=status)
        return json_response({"errorCode": status, "errors": message}, status=status)


def _json_rpc_id(body: bytes) -> Any:
    # The id of a single call, echoed as the dispatcher echoes it (falsy -> null); a batch or bad JSON has none.
    try:
        payload = moqui_json.loads(body)
    except moqui_json.JsonParseError:
        return None
    return (payload.get("id") or None) if isinstance(payload, dict) else None


def _endpoint(request: web.Request, json_rpc_path: str) -> _Endpoint | None:
    """The endpoint of a mutating request to a dispatcher, None for anything else (never kept)."""
    if request.method not in _MUTATING_METHODS or request.match_info.http_exception is not None:
        return None
    path = request.path
    if path == json_rpc_path:
        return _Endpoint(json_rpc=True)
    if path == REST_PREFIX or path.startswith(REST_PREFIX + "/"):
        return _Endpoint(json_rpc=False)
    return None


@dataclass(frozen=True)
class _Reserved:
    """Our started row, told apart from a later one with the same key by its creation time."""

    created: datetime


class _Store:
    """The `stripe.StripeIdempotentRequest` rows of one application."""

    def __init__(self, entity: EntityFacade, principal_name: str, key: str) -> None:
        self._entity = entity
        self._key = {"principalName": principal_name, "idempotencyKey": key}

    async def reserve(self, fingerprint: str) -> _Reserved | dict[str, Any] | None:
        """Commit a started row for this key: ours (`_Reserved`), the live row another request holds, or None
        when the key kept changing hands (treated as in progress)."""
        for _ in range(_RESERVE_ATTEMPTS):
            now = _now()
            try:
                values = {**self._key, "requestFingerprint": fingerprint, "requestStatusId": STARTED}
                await self._entity.create(ENTITY, {**values, "createdDate": now})
                return _Reserved(now)
            except asyncpg.UniqueViolationError:
                pass
            row = await self._entity.find_one(ENTITY, self._key)
            if row is None:
                continue  # the holder failed and deleted its row: try again
            lifetime = KEY_LIFETIME if row["requestStatusId"] == COMPLETED else ABANDONED_AFTER
            if row["createdDate"] <= now - lifetime:
                await self._delete(row["createdDate"])
                continue
            return row
        return None

    async def complete(self, reserved: _Reserved, response: web.Response, body: bytes) -> None:
        """Keep the answer on our started row."""
        values = {
            "requestStatusId": COMPLETED,
            "responseStatus": response.status,
            "responseContentType": response.headers.get("Content-Type"),
            "responseBody": body,
            "completedDate": _now(),
        }
        definition = self._entity.definition(ENTITY)
        statement = sql.update(definition, self._ours(reserved.created), values)
        async with self._entity.connection() as connection:
            status = await connection.execute(statement.text, *statement.parameters)
        if status.endswith(" 0"):
            # Only when our row was taken for abandoned; the newer request's row is left alone.
            logger.warning(
                "Idempotency-Key row of %s was replaced before its answer was kept", self._key["principalName"]
            )

    async def release(self, reserved: _Reserved) -> None:
        """Delete our started row so the client may retry."""
        await self._delete(reserved.created, STARTED)

    async def _delete(self, created: datetime, status: str | None = None) -> None:
        # Conditional on the creation time, so a request never deletes a row that another request made since.
        conditions = self._ours(created)
        if status is not None:
            conditions["requestStatusId"] = status
        statement = sql.delete(self._entity.definition(ENTITY), conditions)
        async with self._entity.connection() as connection:
            await connection.execute(statement.text, *statement.parameters)

    def _ours(self, created: datetime) -> dict[str, Any]:
        return {**self._key, "createdDate": created}


def _replay(row: Mapping[str, Any]) -> web.Response:
    """The kept answer again, byte for byte, marked as a replay."""
    headers = {IDEMPOTENT_REPLAYED_HEADER: "true"}
    if row["responseContentType"]:
        headers["Content-Type"] = row["responseContentType"]
    body: bytes = row["responseBody"] or b""
    return web.Response(status=row["responseStatus"], body=body or None, headers=headers)


def _keepable(response: web.StreamResponse) -> tuple[web.Response, bytes] | None:
    """The answer and its bytes when it may be kept: not a 5xx, and complete in memory (a streamed answer is not;
    none of the dispatchers stream)."""
    if isinstance(response, web.Response) and response.status < 500:
        body = response.body
        if body is None:
            return response, b""
        if isinstance(body, bytes | bytearray):
            return response, bytes(body)
    return None


def idempotent_requests_middleware(
    authenticator: Authenticator, entity_source: EntitySource, *, json_rpc_path: str = JSON_RPC_PATH
) -> Middleware:
    """The middleware, given the app's authenticator (the key is scoped per principal name) and a source of the
    entity facade (None while the app starts, when requests pass through to get the dispatcher's own answer)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = _endpoint(request, json_rpc_path)
        key = (request.headers.get(IDEMPOTENCY_KEY_HEADER) or "").strip()
        entity = entity_source() if endpoint is not None and key else None
        if endpoint is None or entity is None:
            return await handler(request)
        principal = authenticator.authenticate(request)
        if principal is None:
            return await handler(request)
        body = await request.read()  # cached by aiohttp, so the dispatcher reads the same bytes
        if len(key) > MAX_KEY_LENGTH:
            return endpoint.refusal(400, f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", body)

        store = _Store(entity, principal.name, key)
        fingerprint = request_fingerprint(request.method, request.rel_url.raw_path, request.query_string, body)
        reserved = await store.reserve(fingerprint)
        if not isinstance(reserved, _Reserved):
            if reserved is not None and reserved["requestFingerprint"] != fingerprint:
                message = f"Idempotency-Key {key} was used with a different request; use a new key for a new request"
                return endpoint.refusal(400, message, body)
            if reserved is not None and reserved["requestStatusId"] == COMPLETED:
                logger.info("Idempotent replay for %s: %s %s", principal.name, request.method, request.path)
                return _replay(reserved)
            message = f"A request with Idempotency-Key {key} is still in progress; retry once it has completed"
            return endpoint.refusal(409, message, body)

        try:
            response = await handler(request)
        except BaseException:
            # Shielded: a cancelled request (client gone) must still free its key for the retry.
            await asyncio.shield(store.release(reserved))
            raise
        keepable = _keepable(response)
        try:
            if keepable is None:
                await store.release(reserved)
            else:
                await store.complete(reserved, *keepable)
        except Exception:
            # The answer is already made (and its effects done): send it; the journal still guards a retry.
            logger.exception("Could not keep or release the Idempotency-Key row of %s", principal.name)
        return response

    return middleware
