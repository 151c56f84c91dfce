"""Which of our Payments a Stripe object belongs to, its lease, and reading it again under the lease.

An object is ours when our intent link names its PaymentIntent, or when the PaymentIntent's metadata carries a
`paymentId` we know (a PaymentIntent the checkout page made before any link existed). Anything else, or an object
of another gateway config, is foreign: ignored and answered 200, so Stripe never disables the endpoint over it.

Our payments are the standalone client's, and a handler works on one under the payment's lease, the one the gateway
operations on it take (service/payment_services/payment_lease.py): a webhook and a capture, release or refund of
the same payment run one after the other, in any process, and no database connection is held while either waits
for Stripe.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final

import stripe

from moqui_bridge.service import ServiceError
from service.context import STANDALONE_CLIENT
from service.payment_services.intent_link import PAYMENT_INTENT_LINK
from service.payment_services.payment_lease import payment_lease
from service.payment_services.payment_subject import PAYMENT, PaymentSubject, load_subject
from service.payment_services.stripe_reads import retrieve_intent
from service.payment_services.stripe_writes import CLIENT_METADATA
from service.stripe_gateway.operations import retrieve_payment_intent
from service.stripe_gateway.outcome import StripeRequestRejected, field_value
from service.webhooks.context import WebhookContext

__all__ = [
    "CONFIG_KEY",
    "Foreign",
    "LockedPayment",
    "intent_metadata",
    "lease_payment",
    "load_locked",
    "payment_of_intent",
]

_PAYMENT_ID_KEY: Final = "paymentId"
CONFIG_KEY: Final = "paymentGatewayConfigId"


@dataclass(frozen=True)
class Foreign:
    """The object is not one of this gateway config's payments; `reason` goes on the event row."""

    reason: str


@dataclass(frozen=True)
class LockedPayment:
    """The payment's rows and its PaymentIntent as they are now, read while holding the payment's lease."""

    subject: PaymentSubject
    intent: stripe.PaymentIntent


def intent_metadata(obj: Any) -> dict[str, str]:
    """The metadata of a Stripe object or an event's plain-dict snapshot ({} when it has none)."""
    metadata = field_value(obj, "metadata")
    if isinstance(metadata, stripe.StripeObject):
        return {str(key): str(value) for key, value in metadata.to_dict().items()}
    if isinstance(metadata, dict):
        return {str(key): str(value) for key, value in metadata.items()}
    return {}


async def payment_of_intent(
    context: WebhookContext, payment_intent_id: str, hint: dict[str, str] | None = None
) -> str | Foreign:
    """The paymentId of a PaymentIntent of this gateway config, or why it is foreign.

    `hint` is the metadata the event carried; without a paymentId in it, the PaymentIntent is read from Stripe.
    Raises stripe.StripeError when Stripe cannot be reached (a transient fault).
    """
    config_id = context.payment_gateway_config_id
    link = await context.entity.find_one(PAYMENT_INTENT_LINK, {"paymentIntentId": payment_intent_id})
    if link is not None:
        if link["paymentGatewayConfigId"] != config_id:
            return Foreign(
                f"PaymentIntent {payment_intent_id} belongs to gateway config {link['paymentGatewayConfigId']}"
            )
        if link["clientName"] != STANDALONE_CLIENT:
            # Another client's payment: its own system records the outcome; our local tables know nothing of it.
            return Foreign(f"PaymentIntent {payment_intent_id} belongs to client {link['clientName']}")
        return str(link["paymentId"])
    metadata = dict(hint or {})
    if _PAYMENT_ID_KEY not in metadata:
        try:
            intent = await retrieve_payment_intent(context.gateway, payment_intent_id, expand=())
        except StripeRequestRejected:
            return Foreign(f"PaymentIntent {payment_intent_id} is unknown to this gateway's Stripe account")
        metadata = intent_metadata(intent)
    if metadata.get(CLIENT_METADATA, STANDALONE_CLIENT) != STANDALONE_CLIENT:
        return Foreign(f"PaymentIntent {payment_intent_id} belongs to client {metadata[CLIENT_METADATA]}")
    payment_id = metadata.get(_PAYMENT_ID_KEY)
    if not payment_id:
        return Foreign(f"PaymentIntent {payment_intent_id} has no metadata.paymentId: not made through moqui-stripe")
    if metadata.get(CONFIG_KEY, config_id) != config_id:
        return Foreign(f"PaymentIntent {payment_intent_id} belongs to gateway config {metadata[CONFIG_KEY]}")
    payment = await context.entity.find_one(PAYMENT, {"paymentId": payment_id})
    if payment is None:
        return Foreign(f"PaymentIntent {payment_intent_id} names payment {payment_id}, which does not exist")
    if payment.get("paymentGatewayConfigId") not in (None, "", config_id):
        return Foreign(f"Payment {payment_id} goes through gateway config {payment['paymentGatewayConfigId']}")
    return payment_id


def lease_payment(context: WebhookContext, payment_id: str, what: str) -> AbstractAsyncContextManager[None]:
    """The lease of one of our (the standalone client's) payments, held until the delivery's deadline at most;
    `LeaseBusy` when a gateway operation or another delivery held it until then. `what` names the work."""
    return payment_lease(
        context.entity, STANDALONE_CLIENT, payment_id, context.deadline, holder_key=context.liveness_key, what=what
    )


async def load_locked(context: WebhookContext, payment_id: str, payment_intent_id: str) -> LockedPayment | Foreign:
    """Read the payment and its PaymentIntent (with the latest charge) now; call while holding the payment's lease.

    A payment our gateway services would refuse (no amount, a currency Stripe does not take) or a PaymentIntent
    that names another payment is foreign. Raises stripe.StripeError when Stripe cannot be reached.
    """
    try:
        subject = await load_subject(context.entity, context.gateways, payment_id, context.payment_gateway_config_id)
        intent = await retrieve_intent(subject, payment_intent_id)
    except ServiceError as error:
        return Foreign(str(error))
    return LockedPayment(subject, intent)
