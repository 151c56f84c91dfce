"""The `/rest/s1/...` resources this service serves: the gateway API under `moqui-stripe`, ours under `stripe`, and
Mantle's own paths for the standalone client's rules."""

from __future__ import annotations

from moqui_bridge.mantle.mantle_rest import mantle_rest_api
from moqui_bridge.web.rest import RestApi
from service.payment_services.registration import add_gateway_rest_routes
from service.payment_services.standalone_client import STANDALONE_SERVICE_NAMES
from service.recovery.recovery_url_service import RECOVERY_URL
from service.webhooks import add_dispute_rest_routes


def gateway_rest_api() -> RestApi:
    """`/rest/s1/moqui-stripe/v1/gateway/<operation>`: the gateway API (docs/gateway-api.md)."""
    api = RestApi("moqui-stripe")
    add_gateway_rest_routes(api)
    api.route("POST", "/v1/gateway/recoveryUrl", RECOVERY_URL)
    return api


def stripe_rest_api() -> RestApi:
    """`/rest/s1/stripe/...`: the standalone client's gateway services and checkout/dispute services for
    integrators."""
    api = RestApi("stripe")
    authorize, authorize_and_capture, capture, release, refund, details = STANDALONE_SERVICE_NAMES
    for operation, service_name in (
        ("authorize", authorize),
        ("authorizeAndCapture", authorize_and_capture),
        ("capture", capture),
        ("release", release),
        ("refund", refund),
    ):
        api.route("POST", f"/payments/{{paymentId}}/{operation}", service_name)
    api.route("GET", "/payments/{paymentId}/gatewayDetails", details)
    api.route("GET", "/checkoutUrl", "stripe.StripeCheckoutServices.get#CheckoutUrl")
    add_dispute_rest_routes(api)
    return api


def rest_apis() -> list[RestApi]:
    """Every REST root this service serves."""
    return [gateway_rest_api(), stripe_rest_api(), mantle_rest_api()]
