"""Registers the six gateway services under their Moqui names, each implementing its Mantle interface."""

from __future__ import annotations

from typing import Final

from moqui_bridge.service import ServiceRegistry
from service.context import ServiceContext
from service.payment_services.authorize import authorize_payment
from service.payment_services.capture import capture_payment
from service.payment_services.details import payment_gateway_details
from service.payment_services.parameters import (
    AUTHORIZE_INTERFACE,
    CAPTURE_INTERFACE,
    DETAILS_INTERFACE,
    REFUND_INTERFACE,
    RELEASE_INTERFACE,
    AuthorizeIn,
    CaptureIn,
    DetailsIn,
    DetailsOut,
    GatewayResponseOut,
    RefundIn,
    ReleaseIn,
)
from service.payment_services.refund import refund_payment
from service.payment_services.release import release_payment

__all__ = [
    "AUTHORIZE",
    "AUTHORIZE_AND_CAPTURE",
    "CAPTURE",
    "DETAILS",
    "PAYMENT_SERVICE_NAMES",
    "REFUND",
    "RELEASE",
    "register_payment_services",
]

_PREFIX: Final = "stripe.StripePaymentServices."
AUTHORIZE: Final = _PREFIX + "authorize#Payment"
AUTHORIZE_AND_CAPTURE: Final = _PREFIX + "authorizeAndCapture#Payment"
CAPTURE: Final = _PREFIX + "capture#Payment"
RELEASE: Final = _PREFIX + "release#Payment"
REFUND: Final = _PREFIX + "refund#Payment"
DETAILS: Final = _PREFIX + "get#PaymentGatewayDetails"
PAYMENT_SERVICE_NAMES: Final = (AUTHORIZE, AUTHORIZE_AND_CAPTURE, CAPTURE, RELEASE, REFUND, DETAILS)


def register_payment_services(registry: ServiceRegistry[ServiceContext]) -> None:
    """Add the six services to `registry` (remote-callable: Moqui reaches them over /rpc/json or /rest/s1)."""

    @registry.service(
        AUTHORIZE,
        AuthorizeIn,
        GatewayResponseOut,
        allow_remote=True,
        implements=AUTHORIZE_INTERFACE,
        description="Authorize a Payment with a Stripe PaymentIntent (manual capture)",
    )
    async def authorize(parameters: AuthorizeIn, context: ServiceContext) -> GatewayResponseOut:
        return await authorize_payment(parameters, context, capture=False)

    @registry.service(
        AUTHORIZE_AND_CAPTURE,
        AuthorizeIn,
        GatewayResponseOut,
        allow_remote=True,
        implements=AUTHORIZE_INTERFACE,
        description="Authorize and capture a Payment at once (Mantle's authorizeServiceName, no captureServiceName)",
    )
    async def authorize_and_capture(parameters: AuthorizeIn, context: ServiceContext) -> GatewayResponseOut:
        return await authorize_payment(parameters, context, capture=True)

    registry.service(
        CAPTURE,
        CaptureIn,
        GatewayResponseOut,
        allow_remote=True,
        implements=CAPTURE_INTERFACE,
        description="Capture all or part of a Payment's Stripe authorization",
    )(capture_payment)
    registry.service(
        RELEASE,
        ReleaseIn,
        GatewayResponseOut,
        allow_remote=True,
        implements=RELEASE_INTERFACE,
        description="Release (void) a Payment's Stripe authorization",
    )(release_payment)
    registry.service(
        REFUND,
        RefundIn,
        GatewayResponseOut,
        allow_remote=True,
        implements=REFUND_INTERFACE,
        description="Refund all or part of a captured Payment",
    )(refund_payment)
    registry.service(
        DETAILS,
        DetailsIn,
        DetailsOut,
        allow_remote=True,
        implements=DETAILS_INTERFACE,
        description="The Payment's status at Stripe as a Mantle status",
    )(payment_gateway_details)
