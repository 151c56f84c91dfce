"""Registers the gateway API, version 1: `moquiStripe.v1.GatewayServices.*` (docs/gateway-api.md).

Remote-callable and authenticated: the authenticated name is the client every journal row and PaymentIntent
belongs to. The same services are served as REST paths by `gateway_rest_api()` (service/rest_api.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

from moqui_bridge.entity.errors import PoolExhaustedError
from moqui_bridge.service import ServiceError, ServiceRegistry
from moqui_bridge.web.rest import RestApi
from service.context import ServiceContext
from service.payment_services.authorize import AuthorizeRequest, authorize_payment
from service.payment_services.capture import CaptureRequest, capture_payment
from service.payment_services.details import DetailsRequest, payment_gateway_details
from service.payment_services.parameters import (
    AuthorizeIn,
    CaptureIn,
    DetailsIn,
    DetailsOut,
    GatewayAnswerOut,
    RefundIn,
    ReleaseIn,
)
from service.payment_services.refund import RefundRequest, refund_payment
from service.payment_services.release import ReleaseRequest, release_payment

__all__ = [
    "AUTHORIZE",
    "AUTHORIZE_AND_CAPTURE",
    "CAPTURE",
    "DETAILS",
    "GATEWAY_API_NAMES",
    "REFUND",
    "RELEASE",
    "add_gateway_rest_routes",
    "register_gateway_api",
]

log = logging.getLogger(__name__)

_PREFIX: Final = "moquiStripe.v1.GatewayServices."
AUTHORIZE: Final = _PREFIX + "authorize#Payment"
AUTHORIZE_AND_CAPTURE: Final = _PREFIX + "authorizeAndCapture#Payment"
CAPTURE: Final = _PREFIX + "capture#Payment"
RELEASE: Final = _PREFIX + "release#Payment"
REFUND: Final = _PREFIX + "refund#Payment"
DETAILS: Final = _PREFIX + "get#PaymentDetails"
GATEWAY_API_NAMES: Final = (AUTHORIZE, AUTHORIZE_AND_CAPTURE, CAPTURE, RELEASE, REFUND, DETAILS)
# REST: POST /rest/s1/moqui-stripe/v1/gateway/<operation>
_REST_PATHS: Final = {
    "authorize": AUTHORIZE,
    "authorizeAndCapture": AUTHORIZE_AND_CAPTURE,
    "capture": CAPTURE,
    "release": RELEASE,
    "refund": REFUND,
    "details": DETAILS,
}


@asynccontextmanager
async def _database_unavailable_as_503() -> AsyncIterator[None]:
    """Our own database down or out of connections is a 503 (docs/gateway-api.md), not a 500 with a trace."""
    try:
        yield
    except (PoolExhaustedError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, OSError) as error:
        log.warning("gateway request refused: the service's database is unavailable (%s)", type(error).__name__)
        raise ServiceError(
            "moqui-stripe's database is unavailable; nothing was done, retry the request", http_status=503
        ) from None


def add_gateway_rest_routes(api: RestApi) -> None:
    """The gateway API's REST paths on the `moqui-stripe` root."""
    for operation, service_name in _REST_PATHS.items():
        api.route("POST", f"/v1/gateway/{operation}", service_name)


def register_gateway_api(registry: ServiceRegistry[ServiceContext]) -> None:
    """Add the six services to `registry`."""

    @registry.service(
        AUTHORIZE, AuthorizeIn, GatewayAnswerOut, allow_remote=True, description="Authorize with a PaymentIntent"
    )
    async def authorize(parameters: AuthorizeIn, context: ServiceContext) -> GatewayAnswerOut:
        async with _database_unavailable_as_503():
            return await authorize_payment(await AuthorizeRequest.of(parameters, context, capture=False))

    @registry.service(
        AUTHORIZE_AND_CAPTURE,
        AuthorizeIn,
        GatewayAnswerOut,
        allow_remote=True,
        description="Authorize and capture with a PaymentIntent",
    )
    async def authorize_and_capture(parameters: AuthorizeIn, context: ServiceContext) -> GatewayAnswerOut:
        async with _database_unavailable_as_503():
            return await authorize_payment(await AuthorizeRequest.of(parameters, context, capture=True))

    @registry.service(
        CAPTURE, CaptureIn, GatewayAnswerOut, allow_remote=True, description="Capture all or part of an authorization"
    )
    async def capture(parameters: CaptureIn, context: ServiceContext) -> GatewayAnswerOut:
        async with _database_unavailable_as_503():
            return await capture_payment(await CaptureRequest.of(parameters, context))

    @registry.service(RELEASE, ReleaseIn, GatewayAnswerOut, allow_remote=True, description="Release an authorization")
    async def release(parameters: ReleaseIn, context: ServiceContext) -> GatewayAnswerOut:
        async with _database_unavailable_as_503():
            return await release_payment(ReleaseRequest.of(parameters, context))

    @registry.service(
        REFUND, RefundIn, GatewayAnswerOut, allow_remote=True, description="Refund all or part of what was captured"
    )
    async def refund(parameters: RefundIn, context: ServiceContext) -> GatewayAnswerOut:
        async with _database_unavailable_as_503():
            return await refund_payment(await RefundRequest.of(parameters, context))

    @registry.service(
        DETAILS, DetailsIn, DetailsOut, allow_remote=True, description="A PaymentIntent's state as a Mantle status"
    )
    async def details(parameters: DetailsIn, context: ServiceContext) -> DetailsOut:
        async with _database_unavailable_as_503():
            return await payment_gateway_details(DetailsRequest.of(parameters, context))
