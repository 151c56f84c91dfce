"""The `/rest/s1/...` resources this service serves: ours under `stripe`, and Mantle's own paths when standalone."""

from __future__ import annotations

from moqui_bridge.mantle.mantle_rest import mantle_rest_api
from moqui_bridge.web.rest import RestApi
from service.config import Settings
from service.webhooks import add_dispute_rest_routes

PAYMENT_SERVICES = "stripe.StripePaymentServices"


def stripe_rest_api() -> RestApi:
    """`/rest/s1/stripe/...`: the gateway services for Moqui's remote-rest runner and for integrators."""
    api = RestApi("stripe")
    for operation in ("authorize", "authorizeAndCapture", "capture", "release", "refund"):
        api.route("POST", f"/payments/{{paymentId}}/{operation}", f"{PAYMENT_SERVICES}.{operation}#Payment")
    api.route("GET", "/payments/{paymentId}/gatewayDetails", f"{PAYMENT_SERVICES}.get#PaymentGatewayDetails")
    api.route("GET", "/checkoutUrl", "stripe.StripeCheckoutServices.get#CheckoutUrl")
    add_dispute_rest_routes(api)
    return api


def rest_apis(settings: Settings) -> list[RestApi]:
    """Every REST root for this deployment mode (Mantle's paths only where we play Mantle's part)."""
    apis = [stripe_rest_api()]
    if settings.server.mode == "standalone":
        apis.append(mantle_rest_api())
    return apis
