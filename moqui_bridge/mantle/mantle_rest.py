"""``/rest/s1/mantle/...``: Mantle's own REST paths (mantle.rest.xml) for the rules served in standalone mode.

Same verbs and paths as Mantle's where Mantle has them. ``GET /payments/{paymentId}/gatewayResponses`` is ours
(Mantle has no path for a payment's gateway responses).
"""

from __future__ import annotations

from moqui_bridge.mantle import names
from moqui_bridge.web.rest import RestApi


def mantle_rest_api() -> RestApi:
    """The ``mantle`` REST root with the payment, order and payment-method paths routed to the Mantle rules."""
    api = RestApi("mantle")
    payment = "/payments/{paymentId}"
    api.route("GET", payment, names.GET_PAYMENT)
    api.route("GET", payment + "/gatewayResponses", names.GET_PAYMENT_GATEWAY_RESPONSES)
    api.route("POST", payment + "/gateways/authorize", names.AUTHORIZE_SINGLE_PAYMENT)
    api.route("POST", payment + "/gateways/store/{productStoreId}/authorize", names.AUTHORIZE_STORE_PAYMENT)
    api.route("POST", payment + "/gateways/capture", names.CAPTURE_SINGLE_PAYMENT)
    api.route("POST", payment + "/gateways/release", names.RELEASE_SINGLE_PAYMENT)
    api.route("POST", payment + "/gateways/refund", names.REFUND_SINGLE_PAYMENT)
    order = "/orders/{orderId}"
    api.route("POST", "/orders", names.CREATE_ORDER)
    api.route("GET", order, names.GET_ORDER)
    api.route("POST", order + "/parts/{orderPartSeqId}/payments", names.ADD_ORDER_PART_PAYMENT)
    api.route("POST", order + "/payments/authorize", names.AUTHORIZE_ORDER_PAYMENTS)
    api.route("POST", order + "/place", names.PLACE_ORDER)
    # Mantle keeps payment methods under the parties resource (an entity create there).
    api.route("POST", "/parties/paymentMethods", names.CREATE_PAYMENT_METHOD)
    return api
