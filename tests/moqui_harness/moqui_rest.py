"""A Moqui stand-in serving the component's REST resources: an aiohttp app whose routes come from its *.rest.xml.

As Moqui's RestApi does it (moqui-framework framework/src/main/groovy/org/moqui/impl/service/RestApi.groovy): the
root resource's name is the first path segment under /rest/s1 (RestApi.groovy:76-87), ``<id name>`` segments become
parameters, a method runs its service with the path parameters plus the query (GET) or the JSON body (POST);
authentication is required (``require-authentication`` defaults to true, rest-api-3.xsd) by Basic auth or an
``api_key`` header (UserFacadeImpl.groovy:147-175), 401 otherwise. The service runs in one transaction; its
out-parameters are the JSON answer, error messages a 400 ``{"errorCode": 400, "errors": ...}``.
Every request is kept in ``requests`` (method, path, body) for the tests to assert exactly.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from lxml import etree

from moqui_bridge.web import moqui_json
from tests.moqui_harness.moqui_call import CallResult, MoquiHarness

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


@dataclass(frozen=True)
class RestRoute:
    """One method of the resource tree: HTTP method, aiohttp path pattern and the service it runs."""

    method: str
    path: str
    service: str


def rest_routes(rest_file: Path) -> list[RestRoute]:
    """Every method declared in a *.rest.xml, with its full path under /rest/s1."""
    routes: list[RestRoute] = []

    def walk(node: etree._Element, path: str) -> None:
        for child in node:
            if child.tag == "method":
                service = child.find("service")
                if service is None:
                    raise ValueError(f"{rest_file.name}: only service methods are served here")
                routes.append(RestRoute(child.get("type", "").upper(), path, service.get("name", "")))
            elif child.tag == "resource":
                walk(child, f"{path}/{child.get('name')}")
            elif child.tag == "id":
                walk(child, f"{path}/{{{child.get('name')}}}")

    root = etree.parse(str(rest_file), _PARSER).getroot()
    walk(root, f"/rest/s1/{root.get('name')}")
    return routes


@dataclass
class ReceivedRequest:
    """What reached the stand-in: method, path, the parsed body (None without one), the query and the service's
    result."""

    method: str
    path: str
    body: Any
    result: CallResult | None = None
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class MoquiRestStandIn:
    """The app and what it received. ``unavailable`` (a switch for tests) names the (method, path) requests answered
    503 without running anything, as Jetty answers while Moqui's webapp is stopped or not started yet
    (ContextHandler: a context that is not available sends SC_SERVICE_UNAVAILABLE). ``delay_seconds`` (a switch for
    tests) holds every answer back that long, as a busy Moqui does: its REST servlet runs the service in the
    request's own thread and answers when the service returns (RestApi.ServiceRunner -> ServiceCallSyncImpl.call)."""

    app: web.Application
    requests: list[ReceivedRequest] = field(default_factory=list)
    unavailable: set[tuple[str, str]] = field(default_factory=set)
    delay_seconds: float = 0.0


def moqui_rest_app(rest_file: Path, harness: MoquiHarness, *, api_key: str) -> MoquiRestStandIn:
    """The stand-in for ``rest_file``'s resources, running services through ``harness``, accepting ``api_key``."""
    app = web.Application()
    stand_in = MoquiRestStandIn(app)

    def handler(route: RestRoute) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.text(), parse_float=Decimal) if request.can_read_body else None
            received = ReceivedRequest(request.method, request.path, body, query=dict(request.query))
            stand_in.requests.append(received)
            if (request.method, request.path) in stand_in.unavailable:
                return web.Response(
                    status=503,
                    text="<html><body><h2>HTTP ERROR 503 Service Unavailable</h2></body></html>",
                    content_type="text/html",
                )
            if not _authenticated(request, api_key):
                return _json(401, {"errorCode": 401, "errors": "User must be logged in to call this API"})
            if stand_in.delay_seconds:
                await asyncio.sleep(stand_in.delay_seconds)
            parameters: dict[str, Any] = dict(request.query) if route.method == "GET" else dict(body or {})
            parameters.update(request.match_info)
            result = await harness.call(route.service, parameters, lock_payment=False)
            received.result = result
            if result.errors:
                return _json(400, {"errorCode": 400, "errors": "\n".join(result.errors)})
            return _json(200, result.out or {})

        return handle

    for route in rest_routes(rest_file):
        app.router.add_route(route.method, route.path, handler(route))
    return stand_in


def _authenticated(request: web.Request, api_key: str) -> bool:
    if request.headers.get("api_key") == api_key:
        return True
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return bool(user) and password == api_key
    return False


def _json(status: int, value: Any) -> web.Response:
    return web.Response(status=status, body=moqui_json.dump_bytes(value), content_type="application/json")
