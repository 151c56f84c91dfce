"""`POST /rpc/json`: JSON-RPC 2.0 as Moqui's `ServiceJsonRpcDispatcher` answers it.

Checks run in Moqui's order: parse error (-32700), no method (-32600 "No method specified"), unknown service
(-32601 "Unknown service [m]"), params not an object (-32602), service not remote (-32601 "Service [name] does not
allow remote calls"). A body that is not declared JSON (Content-Type without application/json or text/json) is not
read, as in Moqui, so it answers "No method specified". These protocol errors come with HTTP 200, as Moqui's do.

Then, beyond Moqui's own dispatcher: a service that requires authentication refuses a caller without valid
credentials with code 403 and Moqui's AuthenticationRequiredException text "User must be logged in to call service
<name>" (HTTP 403). Message-facade errors (`ServiceError`, bad parameters) answer code 500 with the errors joined by
newlines, each followed by one, and HTTP 500, as Moqui does. `AuthorizationDenied` answers code 403. Any other
exception answers code 500 with its message (secrets removed, no trace; the trace is logged here) and HTTP 500.

The id is echoed as Moqui echoes it: a falsy id (0, "", false) becomes null.

Batches: Moqui runs each call of a JSON array but never sends the responses (a bug). Here a batch answers per
JSON-RPC 2.0: an array with one response per call, in order; calls are run one after another. A batch element that is
an object without an "id" member is a notification: it is run and gets no response. If every element is a
notification the answer is HTTP 204 with no body. An empty array answers one Invalid Request error (-32600).
Batch answers use HTTP 200 whatever the outcome of each call.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Generic, TypeVar

from aiohttp import web

from moqui_bridge.service.errors import AuthenticationRequired, AuthorizationDenied, ServiceError
from moqui_bridge.service.registry import ServiceRegistry
from moqui_bridge.web import moqui_json
from moqui_bridge.web.auth import Authenticator, Principal
from moqui_bridge.web.dispatch import (
    ContextFactory,
    build_context,
    is_json_content_type,
    java_type_name,
    json_response,
    safe_exception_message,
)

logger = logging.getLogger(__name__)

ContextT = TypeVar("ContextT")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
# Moqui uses HTTP status numbers as codes for errors past the protocol checks (outside -32768..-32000).
SERVICE_ERROR = 500
FORBIDDEN = 403

NO_METHOD_SPECIFIED = "No method specified"
EMPTY_BATCH = "Invalid Request: empty batch"


def error_body(request_id: Any, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC error response, keys in Moqui's order."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _method_text(value: Any) -> str | None:
    # Groovy's `callMap.method as String`: falsy means no method; other values become their text.
    if not value:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | Decimal):
        return moqui_json.dumps(value)
    return moqui_json.dumps(value).replace("\n", "")


class _JsonRpcDispatcher(Generic[ContextT]):
    def __init__(
        self,
        registry: ServiceRegistry[ContextT],
        context_factory: ContextFactory[ContextT],
        authenticator: Authenticator,
    ) -> None:
        self._registry = registry
        self._context_factory = context_factory
        self._authenticator = authenticator

    async def handle(self, request: web.Request) -> web.Response:
        principal = self._authenticator.authenticate(request)
        if not is_json_content_type(request.headers.get("Content-Type")):
            return json_response(error_body(None, INVALID_REQUEST, NO_METHOD_SPECIFIED))
        body = await request.read()
        if not body.strip():
            return json_response(error_body(None, INVALID_REQUEST, NO_METHOD_SPECIFIED))
        try:
            payload = moqui_json.loads(body)
        except moqui_json.JsonParseError as error:
            logger.warning("JSON-RPC request body is not valid JSON: %s", error)
            return json_response(error_body(None, PARSE_ERROR, str(error)))
        if isinstance(payload, list):
            return await self._batch(request, principal, payload)
        response, status = await self._single(request, principal, payload)
        return json_response(response, status=status)

    async def _batch(self, request: web.Request, principal: Principal | None, calls: list[Any]) -> web.Response:
        if not calls:
            return json_response(error_body(None, INVALID_REQUEST, EMPTY_BATCH))
        responses: list[dict[str, Any]] = []
        for call in calls:
            response, _status = await self._single(request, principal, call)
            if not (isinstance(call, dict) and "id" not in call):
                responses.append(response)
        if not responses:
            return web.Response(status=204)
        return json_response(responses)

    async def _single(self, request: web.Request, principal: Principal | None, call: Any) -> tuple[dict[str, Any], int]:
        if not isinstance(call, dict):
            return error_body(None, INVALID_REQUEST, NO_METHOD_SPECIFIED), 200
        request_id = call.get("id") or None
        method = _method_text(call.get("method"))
        params = call.get("params")
        if method is None:
            return error_body(request_id, INVALID_REQUEST, NO_METHOD_SPECIFIED), 200
        definition = self._registry.get(method)
        if definition is None:
            return error_body(request_id, METHOD_NOT_FOUND, f"Unknown service [{method}]"), 200
        if not isinstance(params, dict):
            message = (
                f"Parameters must be named parameters (JSON object, Java Map), got type [{java_type_name(params)}]"
            )
            return error_body(request_id, INVALID_PARAMS, message), 200
        if not definition.allow_remote:
            message = f"Service [{definition.name}] does not allow remote calls"
            return error_body(request_id, METHOD_NOT_FOUND, message), 200
        try:
            definition.check_authenticated(principal)
            context = await build_context(self._context_factory, request, principal)
            result = await definition.run(params, context)
        except ServiceError as error:
            logger.warning("Errors in JSON-RPC call to service %s: %s", definition.name, error.errors_string.strip())
            return error_body(request_id, SERVICE_ERROR, error.errors_string), 500
        except (AuthenticationRequired, AuthorizationDenied) as error:
            logger.warning("JSON-RPC call to service %s refused: %s", definition.name, error)
            return error_body(request_id, FORBIDDEN, str(error)), 403
        except Exception as error:
            logger.exception("Error calling service %s from JSON-RPC request", definition.name)
            return error_body(request_id, SERVICE_ERROR, safe_exception_message(error, self._authenticator)), 500
        return {"jsonrpc": "2.0", "id": request_id, "result": result}, 200


def add_json_rpc_route(
    app: web.Application,
    registry: ServiceRegistry[ContextT],
    context_factory: ContextFactory[ContextT],
    authenticator: Authenticator,
    *,
    path: str = "/rpc/json",
) -> None:
    """Serve Moqui's JSON-RPC endpoint (`POST /rpc/json`) for the registry's remote services."""
    dispatcher = _JsonRpcDispatcher(registry, context_factory, authenticator)
    app.router.add_post(path, dispatcher.handle)
