"""Small services registered for the dispatcher tests, and the app that serves them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web

from moqui_bridge.service import (
    AuthorizationDenied,
    BigDecimal,
    Boolean,
    Integer,
    List,
    MoquiParameters,
    Required,
    ServiceError,
    ServiceRegistry,
    String,
    Timestamp,
)
from moqui_bridge.web.auth import Authenticator, Principal
from moqui_bridge.web.json_rpc import add_json_rpc_route
from moqui_bridge.web.rest import RestApi, add_rest_routes

API_KEY = "test-api-key-0123456789"
LOGIN_KEY = "test-login-key-9876543210"
BASIC_USER = "moqui"
BASIC_PASSWORD = "moqui-password-42"

AUTHORIZE = "test.PaymentServices.authorize#Payment"
ECHO = "test.EchoServices.echo#Values"
FAIL = "test.FailServices.fail#Business"
EXPLODE = "test.FailServices.explode#Unexpected"
FORBID = "test.FailServices.forbid#Thing"
LOCAL_ONLY = "test.LocalServices.run#Local"


@dataclass(frozen=True)
class CallContext:
    """What the context factory hands to test services."""

    principal: str | None
    idempotency_key: str | None


class AuthorizeIn(MoquiParameters):
    paymentId: Annotated[str, Required]
    paymentGatewayConfigId: Annotated[str, Required]
    cardSecurityCode: str | None = None
    amount: BigDecimal | None = None


class AuthorizeOut(MoquiParameters):
    paymentGatewayResponseId: str | None = None
    amount: BigDecimal | None = None
    cardSecurityCode: str | None = None
    caller: str | None = None
    idempotencyKey: str | None = None


class EchoIn(MoquiParameters):
    text: String | None = None
    count: Integer | None = None
    when: Timestamp | None = None
    flag: Boolean | None = None
    items: List | None = None


class EchoOut(MoquiParameters):
    text: String | None = None
    count: Integer | None = None
    when: Timestamp | None = None
    flag: Boolean | None = None
    items: List | None = None
    rows: List | None = None
    nested: dict[str, Any] | None = None


class Empty(MoquiParameters):
    pass


def make_registry() -> ServiceRegistry[CallContext]:
    """A registry with one service per behaviour the dispatchers must answer."""
    registry: ServiceRegistry[CallContext] = ServiceRegistry()

    @registry.service(AUTHORIZE, AuthorizeIn, AuthorizeOut, allow_remote=True)
    async def authorize(parameters: AuthorizeIn, context: CallContext) -> AuthorizeOut:
        return AuthorizeOut(
            paymentGatewayResponseId="100000",
            amount=parameters.amount,
            cardSecurityCode=parameters.cardSecurityCode,
            caller=context.principal,
            idempotencyKey=context.idempotency_key,
        )

    @registry.service(ECHO, EchoIn, EchoOut, allow_remote=True, authenticate=False)
    async def echo(parameters: EchoIn, context: CallContext) -> EchoOut:
        return EchoOut(
            **parameters.model_dump(),
            rows=[{"a": 1, "b": None}, {"a": None}],
            nested={"kept": None},
        )

    @registry.service(FAIL, Empty, Empty, allow_remote=True, authenticate=False)
    async def fail(parameters: Empty, context: CallContext) -> Empty:
        raise ServiceError(["Payment 100000 is not authorized", "Nothing was captured"])

    @registry.service(EXPLODE, Empty, Empty, allow_remote=True, authenticate=False)
    async def explode(parameters: Empty, context: CallContext) -> Empty:
        raise RuntimeError(f"connect to postgres://app:hunter2@db/x failed; key sk_test_abc123 {API_KEY}")

    @registry.service(FORBID, Empty, Empty, allow_remote=True)
    async def forbid(parameters: Empty, context: CallContext) -> Empty:
        raise AuthorizationDenied(f"User {context.principal} is not authorized for Update on Service {FORBID}")

    @registry.service(LOCAL_ONLY, Empty, Empty, allow_remote=False, authenticate=False)
    async def local_only(parameters: Empty, context: CallContext) -> Empty:
        return Empty()

    return registry


def context_factory(request: web.Request, principal: Principal | None) -> CallContext:
    """Builds the test context, reading the optional Idempotency-Key header."""
    return CallContext(principal.name if principal else None, request.headers.get("Idempotency-Key"))


def make_app() -> web.Application:
    """The aiohttp application serving /rpc/json and /rest/s1/test/... for the test services."""
    registry = make_registry()
    authenticator = Authenticator(
        users={BASIC_USER: BASIC_PASSWORD}, api_keys={"moqui-instance": API_KEY, "integrator": LOGIN_KEY}
    )
    api = (
        RestApi("test")
        .route("POST", "/payments/{paymentId}/authorize", AUTHORIZE)
        .route("GET", "/echo", ECHO)
        .route("POST", "/echo", ECHO)
        .route("POST", "/failures/business", FAIL)
        .route("POST", "/failures/unexpected", EXPLODE)
        .route("POST", "/failures/forbidden", FORBID)
        .route("GET", "/payments/{paymentId}/echo", ECHO)
    )
    app = web.Application()
    add_json_rpc_route(app, registry, context_factory, authenticator)
    add_rest_routes(app, [api], registry, context_factory, authenticator)
    return app
