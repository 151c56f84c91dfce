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
- the first request takes the key's PostgreSQL advisory lock and commits a `SirStarted` row (unique on caller + key)
  before it runs, so a concurrent repeat, in this process or another one on the same database, finds both and gets
  409;
- the lock is a session lock held for as long as the request runs, so it goes with its owner: when the owner dies
  (kill -9, OOM, a lost database connection) PostgreSQL frees it at once, and a repeat that finds a started row but
  can take the lock knows the owner is gone and runs the request itself (the gateway journal keeps each Stripe call
  exactly-once meanwhile);
- a repeat with another method, path, query or body gets 400: a key names one request;
- a 5xx answer or an exception is not kept (the row is deleted), so the client may retry; the journal keeps the
  Stripe calls exactly-once meanwhile;
- keys are kept 24 hours, as Stripe keeps them: an older row is replaced by the next request with its key.

The locks of all the requests a process runs at once live on one connection of its own (`_KeyOwnership`), taken from
the pool while at least one such request runs and given back when none does, so keys cost no connection per request.

Errors are in the dispatcher's own shape: `{"errorCode": N, "errors": "..."}` for REST, a JSON-RPC error envelope
(code N, the request's id when it has one) for `/rpc/json`, both with HTTP status N.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Middleware

from moqui_bridge.entity import EntityFacade, sql
from moqui_bridge.entity.connection import Connection, note_session_state
from moqui_bridge.entity.locks import advisory_lock_key
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
    "owner_lock_key",
    "request_fingerprint",
]

logger = logging.getLogger(__name__)

ENTITY = "stripe.StripeIdempotentRequest"
IDEMPOTENT_REPLAYED_HEADER = "Idempotent-Replayed"
JSON_RPC_PATH = "/rpc/json"
MAX_KEY_LENGTH = 255
# Stripe keeps a key at least 24 hours; so do we, after which the key may name a new request.
KEY_LIFETIME = timedelta(hours=24)
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


def owner_lock_key(principal_name: str, key: str) -> int:
    """The advisory lock number a request holds while it runs for (caller, Idempotency-Key)."""
    return advisory_lock_key(f"idempotent-request/{principal_name}\0{key}")


class _KeyBusy(Exception):
    """Another living request holds the key (or the key kept changing hands): the caller gets 409."""


class _KeyOwnership:
    """The Idempotency-Keys this process is running requests for, each marked by a session advisory lock.

    All the locks sit on one connection, taken from the pool when the first such request starts and given back when
    the last one ends (noted as holding session state, so its reset on release unlocks anything left). A dead
    process's connection is closed by PostgreSQL, and its locks with it: that is how another process tells a dead
    owner from a living one. Within this process the keys running are known directly (a session lock is
    re-entrant for its own session).
    """

    def __init__(self) -> None:
        self._guard = asyncio.Lock()  # one statement at a time on the shared connection
        self._running: set[tuple[str, str]] = set()
        self._connection: Connection | None = None
        self._holder: AsyncExitStack | None = None

    @asynccontextmanager
    async def owned(self, entity: EntityFacade, principal_name: str, key: str) -> AsyncIterator[None]:
        """Hold the key for the body; raise `_KeyBusy` when a living request (here or elsewhere) holds it."""
        await self._claim(entity, principal_name, key)
        try:
            yield
        finally:
            # Shielded: a cancelled request (client gone) must still let go of its key.
            await asyncio.shield(self._release(principal_name, key))

    async def _claim(self, entity: EntityFacade, principal_name: str, key: str) -> None:
        async with self._guard:
            if (principal_name, key) in self._running:
                raise _KeyBusy
            connection = await self._shared_connection(entity)
            try:
                taken = await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", owner_lock_key(principal_name, key)
                )
            except BaseException:
                await self._drop_connection_if_idle()
                raise
            if not taken:
                await self._drop_connection_if_idle()
                raise _KeyBusy
            self._running.add((principal_name, key))

    async def _release(self, principal_name: str, key: str) -> None:
        async with self._guard:
            self._running.discard((principal_name, key))
            if self._connection is not None and self._running:
                try:
                    await self._connection.execute("SELECT pg_advisory_unlock($1)", owner_lock_key(principal_name, key))
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    # The connection broke: its locks went with it. Give it back; the next claim takes another.
                    logger.warning("Idempotency-Key lock connection lost", exc_info=True)
                    await self._close_holder()
            await self._drop_connection_if_idle()

    async def _shared_connection(self, entity: EntityFacade) -> Connection:
        if self._connection is None or self._connection.is_closed():
            await self._close_holder()
            holder = AsyncExitStack()
            self._connection = await holder.enter_async_context(entity.connection())
            # Its locks are session state: the release resets it (pg_advisory_unlock_all) when they are left.
            note_session_state(self._connection)
            self._holder = holder
        return self._connection

    async def _drop_connection_if_idle(self) -> None:
        if not self._running:
            await self._close_holder()

    async def _close_holder(self) -> None:
        holder, self._holder, self._connection = self._holder, None, None
        if holder is not None:
            await holder.aclose()


@dataclass(frozen=True)
class _Reserved:
    """Our started row, told apart from a later one with the same key by its creation time."""

    created: datetime


class _Store:
    """The `stripe.StripeIdempotentRequest` rows of one application."""

    def __init__(self, entity: EntityFacade, principal_name: str, key: str) -> None:
        self._entity = entity
        self._key = {"principalName": principal_name, "idempotencyKey": key}

    async def find(self) -> dict[str, Any] | None:
        """The key's row, or None."""
        return await self._entity.find_one(ENTITY, self._key)

    async def reserve(self, fingerprint: str) -> _Reserved | dict[str, Any]:
        """Commit a started row for this key (ours, `_Reserved`), or give the completed row a repeat is answered from.

        Called only while this request holds the key's lock: a started row found here is a dead owner's, replaced.
        """
        for _ in range(_RESERVE_ATTEMPTS):
            now = _now()
            try:
                values = {**self._key, "requestFingerprint": fingerprint, "requestStatusId": STARTED}
                await self._entity.create(ENTITY, {**values, "createdDate": now})
                return _Reserved(now)
            except asyncpg.UniqueViolationError:
                pass
            row = await self.find()
            if row is None:
                continue  # deleted since our insert failed: try again
            if row["createdDate"] > now - KEY_LIFETIME:
                if row["requestStatusId"] == COMPLETED or row["requestFingerprint"] != fingerprint:
                    return row  # replayed, or refused: the key names that request
                logger.warning(
                    "Idempotency-Key of %s: its owner died mid-request; running it again", self._key["principalName"]
                )
            await self._delete(row["createdDate"])
        raise _KeyBusy

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


def _answer_from(
    row: Mapping[str, Any],
    fingerprint: str,
    key: str,
    endpoint: _Endpoint,
    request: web.Request,
    principal_name: str,
    body: bytes,
) -> web.Response:
    """The answer to a repeat, from the key's row: 400 for another request, the kept answer once completed."""
    if row["requestFingerprint"] != fingerprint:
        message = f"Idempotency-Key {key} was used with a different request; use a new key for a new request"
        return endpoint.refusal(400, message, body)
    if row["requestStatusId"] == COMPLETED:
        logger.info("Idempotent replay for %s: %s %s", principal_name, request.method, request.path)
        return _replay(row)
    return _in_progress(key, endpoint, body)


def _in_progress(key: str, endpoint: _Endpoint, body: bytes) -> web.Response:
    message = f"A request with Idempotency-Key {key} is still in progress; retry once it has completed"
    return endpoint.refusal(409, message, body)


async def _run_reserved(
    store: _Store, reserved: _Reserved, handler: Handler, request: web.Request, principal_name: str
) -> web.StreamResponse:
    """Run the request on our started row, then keep its answer (or free the key when it may not be kept)."""
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
        logger.exception("Could not keep or release the Idempotency-Key row of %s", principal_name)
    return response


def idempotent_requests_middleware(
    authenticator: Authenticator, entity_source: EntitySource, *, json_rpc_path: str = JSON_RPC_PATH
) -> Middleware:
    """The middleware, given the app's authenticator (the key is scoped per principal name) and a source of the
    entity facade (None while the app starts, when requests pass through to get the dispatcher's own answer)."""
    ownership = _KeyOwnership()

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
        # A completed answer is replayed without taking the key's lock.
        kept = await store.find()
        if kept is not None and kept["requestStatusId"] == COMPLETED and kept["createdDate"] > _now() - KEY_LIFETIME:
            return _answer_from(kept, fingerprint, key, endpoint, request, principal.name, body)
        try:
            async with ownership.owned(entity, principal.name, key):
                reserved = await store.reserve(fingerprint)
                if not isinstance(reserved, _Reserved):
                    return _answer_from(reserved, fingerprint, key, endpoint, request, principal.name, body)
                return await _run_reserved(store, reserved, handler, request, principal.name)
        except _KeyBusy:
            # A living request holds the key: another request (400), its answer if it just finished, or 409.
            busy = await store.find()
            if busy is not None:
                return _answer_from(busy, fingerprint, key, endpoint, request, principal.name, body)
            return _in_progress(key, endpoint, body)

    return middleware
