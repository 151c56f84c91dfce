"""`/rest/s1/<root>/...`: Moqui's service REST API (`WebFacadeImpl.handleServiceRestCall` with `RestApi`).

Routes form Moqui's resource tree: literal segments are resources, `{name}` segments are id nodes whose value becomes
the parameter `name`. At each level a resource by that name wins over the id node, as in Moqui. Parameters are merged
from the query string, then a form or JSON object body, then path ids (later sources win). A JSON array body runs the
service once per element (query and path parameters added to each) and answers an array.

Answers, as Moqui's: 200 with the result map with nulls removed (`nestedRemoveNullsFromResultMap`: top-level nulls,
and nulls in maps inside list values) pretty-printed, header `X-Run-Time-ms`; errors as `{"errorCode":N,"errors":"..."}`
with that HTTP status: 400 body not JSON or service errors, 401 "User must be logged in to call service <name>",
403 authorization, 404 unknown resource path, 405 method not supported at a known path, 500 anything else.

The `context_factory(request, principal)` receives the aiohttp request, so an application can read headers such as
`Idempotency-Key` that integrators send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from multidict import MultiMapping

from moqui_bridge.service.errors import AuthenticationRequired, AuthorizationDenied, ServiceError
from moqui_bridge.service.registry import ServiceDefinition, ServiceRegistry
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

REST_PREFIX = "/rest/s1"
_METHODS = ("GET", "PATCH", "PUT", "POST", "DELETE", "OPTIONS", "HEAD")


class RestApiError(Exception):
    """An error answered as `{"errorCode": status, "errors": message}`."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def _java_list(items: Iterable[str]) -> str:
    # Java's List.toString, which Moqui's path messages quote.
    return "[" + ", ".join(items) + "]"


@dataclass
class _PathNode:
    """One level of the resource tree: child resources, at most one id child, and services by HTTP method."""

    resources: dict[str, _PathNode] = field(default_factory=dict)
    id_name: str | None = None
    id_node: _PathNode | None = None
    methods: dict[str, str] = field(default_factory=dict)

    def child_for_template(self, segment: str, template: str) -> _PathNode:
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1]
            if not name:
                raise ValueError(f"Empty id segment in REST path {template!r}")
            if self.id_name is not None and self.id_name != name:
                raise ValueError(f"REST path {template!r}: id {{{name}}} conflicts with {{{self.id_name}}}")
            self.id_name = name
            if self.id_node is None:
                self.id_node = _PathNode()
            return self.id_node
        return self.resources.setdefault(segment, _PathNode())


class RestApi:
    """One root resource (`/rest/s1/<root>`) and its routes from method and path template to service name."""

    def __init__(self, root: str) -> None:
        if not root or "/" in root:
            raise ValueError(f"REST root must be one path segment, got {root!r}")
        self.root = root
        self.tree = _PathNode()

    def route(self, method: str, path_template: str, service_name: str) -> RestApi:
        """Map `method` on `path_template` (relative to the root, e.g. `/payments/{paymentId}`) to a service."""
        upper = method.upper()
        if upper not in _METHODS:
            raise ValueError(f"Unsupported HTTP method {method!r}")
        node = self.tree
        for segment in (part for part in path_template.split("/") if part):
            node = node.child_for_template(segment, path_template)
        key = upper.lower()
        if key in node.methods:
            raise ValueError(f"{upper} {path_template} is already routed to {node.methods[key]}")
        node.methods[key] = service_name
        return self

    def service_names(self) -> set[str]:
        """Every service name routed by this API."""
        names: set[str] = set()
        pending = [self.tree]
        while pending:
            node = pending.pop()
            names.update(node.methods.values())
            pending.extend(node.resources.values())
            if node.id_node is not None:
                pending.append(node.id_node)
        return names


@dataclass(frozen=True)
class _Resolved:
    service_name: str
    path_parameters: dict[str, str]


def _resolve(roots: Mapping[str, RestApi], path: list[str], method: str) -> _Resolved:
    # Walks the tree as Moqui's RestApi.visit does, with Moqui's 404/405 messages.
    if not path:
        raise RestApiError(404, "Cannot run REST service with no path")
    api = roots.get(path[0])
    if api is None:
        raise RestApiError(404, f"Root resource not found with name {path[0]}")
    node = api.tree
    parameters: dict[str, str] = {}
    for index, segment in enumerate(path[1:], start=1):
        child = node.resources.get(segment)
        if child is None and node.id_node is not None and node.id_name is not None:
            parameters[node.id_name] = segment
            child = node.id_node
        if child is None:
            raise RestApiError(
                404,
                f"Resource {segment} not valid, index {index - 1} in path {_java_list(path)}; "
                f"resources available are {_java_list(node.resources)}",
            )
        node = child
    service_name = node.methods.get(method.lower())
    if service_name is None:
        raise RestApiError(405, f"Method {method.lower()} not supported at {_java_list(path)}")
    return _Resolved(service_name, parameters)


def remove_nulls(result: dict[str, Any]) -> dict[str, Any]:
    """Moqui's `nestedRemoveNullsFromResultMap`: drop null entries, and null entries of maps inside list values."""
    cleaned: dict[str, Any] = {}
    for key, value in result.items():
        if value is None:
            continue
        if isinstance(value, list):
            value = [
                {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item for item in value
            ]
        cleaned[key] = value
    return cleaned


def _query_parameters(query: MultiMapping[Any]) -> dict[str, Any]:
    # A repeated query parameter arrives as a list, a single one as text, as Moqui reads request parameters.
    merged: dict[str, Any] = {}
    for key in query:
        values = query.getall(key)
        merged[key] = values[0] if len(values) == 1 else list(values)
    return merged


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"errorCode": status, "errors": message}, status=status, headers=headers)


class _RestDispatcher(Generic[ContextT]):
    def __init__(
        self,
        roots: Mapping[str, RestApi],
        registry: ServiceRegistry[ContextT],
        context_factory: ContextFactory[ContextT],
        authenticator: Authenticator,
    ) -> None:
        self._roots = roots
        self._registry = registry
        self._context_factory = context_factory
        self._authenticator = authenticator

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            return await self._handle(request, started)
        except RestApiError as error:
            logger.warning("REST %s %s answered %s: %s", request.method, request.path, error.status, error.message)
            return _error_response(error.status, error.message)

    async def _handle(self, request: web.Request, started: float) -> web.Response:
        principal = self._authenticator.authenticate(request)
        body = await self._read_body(request)
        path = [segment for segment in request.match_info.get("path", "").split("/") if segment]
        resolved = _resolve(self._roots, path, request.method)
        definition = self._registry.require(resolved.service_name)
        query = _query_parameters(request.query)

        def timing() -> dict[str, str]:
            return {"X-Run-Time-ms": str(int((time.monotonic() - started) * 1000))}

        if isinstance(body, list):
            results: list[dict[str, Any]] = []
            for element in body:
                if not isinstance(element, dict):
                    raise RestApiError(
                        400,
                        "If request body JSON is a list/array it must contain only object/map values, found non-map "
                        f"entry of type {java_type_name(element)} with value: {moqui_json.dumps(element)}",
                    )
            for element in body:
                parameters = {**query, **element, **resolved.path_parameters}
                # Moqui answers errors of an array call with 500 and stops running calls after the first error.
                result = await self._run(request, principal, definition, parameters, service_error_status=500)
                if isinstance(result, web.Response):
                    return result
                results.append(remove_nulls(result))
            return json_response(results, headers=timing())
        parameters = {**query, **(body or {}), **resolved.path_parameters}
        result = await self._run(request, principal, definition, parameters, service_error_status=400)
        if isinstance(result, web.Response):
            return result
        return json_response(remove_nulls(result), headers=timing())

    async def _read_body(self, request: web.Request) -> dict[str, Any] | list[Any] | None:
        content_type = request.headers.get("Content-Type")
        if is_json_content_type(content_type):
            raw = await request.read()
            if not raw.strip():
                return None
            try:
                parsed = moqui_json.loads(raw)
            except moqui_json.JsonParseError as error:
                raise RestApiError(400, str(error)) from None
            # A JSON scalar is not parameters; Moqui ignores it.
            return parsed if isinstance(parsed, dict | list) else None
        if content_type and "application/x-www-form-urlencoded" in content_type:
            return _query_parameters(await request.post())
        return None

    async def _run(
        self,
        request: web.Request,
        principal: Principal | None,
        definition: ServiceDefinition[ContextT],
        parameters: dict[str, Any],
        *,
        service_error_status: int,
    ) -> dict[str, Any] | web.Response:
        try:
            definition.check_authenticated(principal)
            context = await build_context(self._context_factory, request, principal)
            return await definition.run(parameters, context)
        except AuthenticationRequired as error:
            logger.warning("REST Unauthorized (401 no authc): %s", error)
            return _error_response(401, str(error))
        except AuthorizationDenied as error:
            logger.warning("REST Access Forbidden (403 no authz): %s", error)
            return _error_response(403, str(error))
        except ServiceError as error:
            logger.warning("Error message from Service REST API: %s", error.errors_string.strip())
            return _error_response(error.http_status or service_error_status, error.errors_string)
        except Exception as error:
            logger.exception("Error thrown in Service REST API calling %s", definition.name)
            message = f"{type(error).__name__}: {safe_exception_message(error, self._authenticator)}"
            return _error_response(500, message)


def add_rest_routes(
    app: web.Application,
    apis: Iterable[RestApi],
    registry: ServiceRegistry[ContextT],
    context_factory: ContextFactory[ContextT],
    authenticator: Authenticator,
) -> None:
    """Serve every API under `/rest/s1/`. Call once, after the services are registered (routes are checked)."""
    roots: dict[str, RestApi] = {}
    for api in apis:
        if api.root in roots:
            raise ValueError(f"REST root {api.root!r} is given twice")
        missing = sorted(name for name in api.service_names() if name not in registry)
        if missing:
            raise ValueError(f"REST root {api.root!r} routes to unregistered services: {', '.join(missing)}")
        roots[api.root] = api
    dispatcher = _RestDispatcher(roots, registry, context_factory, authenticator)
    app.router.add_route("*", REST_PREFIX + "/{path:.*}", dispatcher.handle)
    app.router.add_route("*", REST_PREFIX, dispatcher.handle)
