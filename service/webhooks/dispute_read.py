"""`stripe.StripeWebhookServices.get#PaymentDisputes`: the disputes webhooks recorded for a payment, oldest first.

Registered in the service registry (authenticated like every service) and routed on the `stripe` REST root as
GET /rest/s1/stripe/payments/{paymentId}/disputes.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from moqui_bridge.service import ServiceRegistry
from moqui_bridge.service.parameter_types import Required
from moqui_bridge.service.registry import MoquiParameters
from moqui_bridge.web.rest import RestApi
from service.context import ServiceContext
from service.webhooks.disputes import STRIPE_DISPUTE

__all__ = ["GET_PAYMENT_DISPUTES", "add_dispute_rest_routes", "register_webhook_services"]

GET_PAYMENT_DISPUTES: Final = "stripe.StripeWebhookServices.get#PaymentDisputes"


class PaymentDisputesIn(MoquiParameters):
    """The payment whose disputes are read."""

    paymentId: Annotated[str, Required]


class PaymentDisputesOut(MoquiParameters):
    """The payment's stripe.StripeDispute rows, oldest first (an empty list when it has none)."""

    disputes: list[dict[str, Any]]


def register_webhook_services(registry: ServiceRegistry[ServiceContext]) -> None:
    """Register the services the webhook package offers (the dispute read)."""

    @registry.service(
        GET_PAYMENT_DISPUTES,
        PaymentDisputesIn,
        PaymentDisputesOut,
        allow_remote=True,
        description="The chargebacks Stripe reported for a Payment",
    )
    async def get_payment_disputes(parameters: PaymentDisputesIn, context: ServiceContext) -> PaymentDisputesOut:
        rows = await context.entity.find(
            STRIPE_DISPUTE, {"paymentId": parameters.paymentId}, order_by=["createdDate", "disputeId"]
        )
        return PaymentDisputesOut(disputes=rows)


def add_dispute_rest_routes(api: RestApi) -> None:
    """Route GET /payments/{paymentId}/disputes on the `stripe` REST root to get#PaymentDisputes."""
    api.route("GET", "/payments/{paymentId}/disputes", GET_PAYMENT_DISPUTES)
