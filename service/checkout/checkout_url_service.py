"""`stripe.StripeCheckoutServices.get#CheckoutUrl`: a signed checkout link, so a Moqui screen redirects in one call."""

from __future__ import annotations

from typing import Annotated

from moqui_bridge.service import Integer, MoquiParameters, Required, ServiceError, ServiceRegistry
from service.checkout.links import CheckoutLinkError, check_redirect_url, checkout_url, sign_checkout_query
from service.context import ServiceContext

SERVICE_NAME = "stripe.StripeCheckoutServices.get#CheckoutUrl"


class CheckoutUrlIn(MoquiParameters):
    """The order, who pays for it, and where the browser goes afterwards."""

    orderId: Annotated[str, Required]
    customerPartyId: Annotated[str, Required]
    doneUrl: Annotated[str, Required]
    errorUrl: Annotated[str, Required]
    expireSeconds: Integer | None = None


class CheckoutUrlOut(MoquiParameters):
    """The link to send the shopper to."""

    checkoutUrl: str | None = None


async def get_checkout_url(parameters: CheckoutUrlIn, context: ServiceContext) -> CheckoutUrlOut:
    """Sign a link to /stripe/Checkout for the order; refuse redirect URLs outside the allowed origins."""
    checkout = context.settings.checkout
    if checkout.link_secret is None:
        raise ServiceError("Checkout links cannot be made: checkout.link_secret is not configured")
    lifetime = parameters.expireSeconds or checkout.link_lifetime_seconds
    if lifetime <= 0:
        raise ServiceError(f"expireSeconds must be positive, got {lifetime}")
    try:
        check_redirect_url(parameters.doneUrl, checkout.allowed_redirect_origins)
        check_redirect_url(parameters.errorUrl, checkout.allowed_redirect_origins)
    except CheckoutLinkError:
        raise ServiceError(
            "doneUrl and errorUrl must be absolute http(s) URLs on an origin in checkout.allowed_redirect_origins"
        ) from None
    query = sign_checkout_query(
        checkout.link_secret.get_secret_value(),
        order_id=parameters.orderId,
        customer_party_id=parameters.customerPartyId,
        done_url=parameters.doneUrl,
        error_url=parameters.errorUrl,
        lifetime_seconds=lifetime,
    )
    server = context.settings.server
    base = server.public_url or f"http://{server.host}:{server.port}"
    return CheckoutUrlOut(checkoutUrl=checkout_url(base, query))


def register_checkout_url_service(registry: ServiceRegistry[ServiceContext]) -> None:
    """Register get#CheckoutUrl (remote-callable, api key required)."""
    registry.service(SERVICE_NAME, CheckoutUrlIn, CheckoutUrlOut, allow_remote=True)(get_checkout_url)
