"""`moquiStripe.v1.GatewayServices.get#RecoveryUrl`: a fresh recovery link for a declined off-session charge.

The authorize answer carries one (`recoveryUrl`), but Mantle's authorize#SinglePayment does not pass out-parameters
on, and a reminder sent days later wants a link of its own. Any client may ask for its own payment's PaymentIntent
(the one the decline named: the PGR's referenceNum); the PaymentIntent is read once, and a link is made only while the
customer can still complete it.
"""

from __future__ import annotations

from typing import Annotated, Final

import stripe

from moqui_bridge.service import Integer, MoquiParameters, Required, ServiceError, ServiceRegistry, String
from service.context import STANDALONE_CLIENT, ServiceContext
from service.payment_services.gateway_call import checked_id, gateway_call
from service.payment_services.intent_link import current_intent_id, required_link
from service.payment_services.parameters import API_VERSION
from service.recovery.links import COMPLETABLE_STATUSES, recovery_url
from service.stripe_gateway.operations import retrieve_payment_intent
from service.stripe_gateway.outcome import StripeRequestRejected

__all__ = ["RECOVERY_URL", "register_recovery_url_service", "standalone_recovery_url"]

RECOVERY_URL: Final = "moquiStripe.v1.GatewayServices.get#RecoveryUrl"


class RecoveryUrlIn(MoquiParameters):
    """The client's payment and the PaymentIntent its declined authorization named."""

    paymentGatewayConfigId: Annotated[String, Required]
    paymentId: Annotated[String, Required]
    paymentIntentId: Annotated[String, Required]
    expireSeconds: Integer | None = None


class RecoveryUrlOut(MoquiParameters):
    """The signed link and the PaymentIntent's state."""

    apiVersion: String = API_VERSION
    recoveryUrl: String | None = None
    transactionStatus: String | None = None


async def get_recovery_url(parameters: RecoveryUrlIn, context: ServiceContext) -> RecoveryUrlOut:
    """A signed link to /stripe/Recover while the PaymentIntent can be completed; a ServiceError otherwise."""
    call = gateway_call(context, parameters.paymentGatewayConfigId, parameters.paymentId)
    intent_id = str(checked_id("paymentIntentId", parameters.paymentIntentId, prefix="pi_"))
    if context.settings.checkout.link_secret is None:
        raise ServiceError("Recovery links cannot be made: checkout.link_secret is not configured")
    if parameters.expireSeconds is not None and parameters.expireSeconds <= 0:
        raise ServiceError(f"expireSeconds must be positive, got {parameters.expireSeconds}")
    await required_link(call.entity, call.client_name, call.payment_gateway_config_id, call.payment_id, intent_id)
    try:
        intent = await retrieve_payment_intent(call.gateway, intent_id)
    except StripeRequestRejected as rejected:
        raise ServiceError(f"Stripe does not know PaymentIntent {intent_id}: {rejected.message}") from None
    except stripe.StripeError:
        raise ServiceError(
            "Stripe could not be reached; nothing was done, retry the request", http_status=503
        ) from None
    if intent.status not in COMPLETABLE_STATUSES:
        raise ServiceError(
            f"PaymentIntent {intent_id} of payment {call.payment_id} is {intent.status}: there is nothing for the "
            "customer to complete"
        )
    url = recovery_url(
        context.settings,
        client_name=call.client_name,
        payment_gateway_config_id=call.payment_gateway_config_id,
        payment_id=call.payment_id,
        payment_intent_id=intent_id,
        lifetime_seconds=parameters.expireSeconds,
    )
    return RecoveryUrlOut(recoveryUrl=url, transactionStatus=intent.status)


async def standalone_recovery_url(context: ServiceContext, payment_id: str) -> str | None:
    """The recovery link of a local (standalone) Payment whose off-session charge was declined, or None when it has
    nothing the customer can complete."""
    payment = await context.entity.find_one("mantle.account.payment.Payment", {"paymentId": payment_id})
    if payment is None or not payment.get("paymentGatewayConfigId"):
        return None
    intent_id = await current_intent_id(context.entity, STANDALONE_CLIENT, payment)
    if intent_id is None:
        return None
    try:
        answer = await context.as_client(STANDALONE_CLIENT).call_service(
            RECOVERY_URL,
            {
                "paymentGatewayConfigId": payment["paymentGatewayConfigId"],
                "paymentId": payment_id,
                "paymentIntentId": intent_id,
            },
        )
    except ServiceError:
        return None
    url = answer.get("recoveryUrl")
    return str(url) if url else None


def register_recovery_url_service(registry: ServiceRegistry[ServiceContext]) -> None:
    """Register get#RecoveryUrl (remote-callable, api key required; REST `POST .../v1/gateway/recoveryUrl`)."""
    registry.service(
        RECOVERY_URL,
        RecoveryUrlIn,
        RecoveryUrlOut,
        allow_remote=True,
        description="A signed link where the customer completes a declined off-session charge",
    )(get_recovery_url)
