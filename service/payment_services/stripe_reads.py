"""Reading the payment's PaymentIntent for a use case: with its charge and settlement, and checked to be this payment's.

Reads carry no idempotency key (they change nothing). A read that fails because Stripe cannot be reached propagates
as stripe.StripeError for the caller to record as a resultError PGR; a read Stripe refuses (unknown id) and a
PaymentIntent that belongs to another payment are bad requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import stripe

from moqui_bridge.service import ServiceError
from service.payment_services.payment_subject import PaymentSubject
from service.stripe_gateway.operations import SETTLEMENT_EXPAND, retrieve_payment_intent
from service.stripe_gateway.outcome import StripeRequestRejected, field_value

__all__ = ["retrieve_intent"]


async def retrieve_intent(
    subject: PaymentSubject, payment_intent_id: str, *, expand: Sequence[str] = SETTLEMENT_EXPAND
) -> stripe.PaymentIntent:
    """The PaymentIntent with its latest charge and balance transaction (for the details status and dates).

    Callers that need less pass a smaller `expand`, so Stripe builds and sends, and the SDK parses, less:
    `DEFAULT_EXPAND` (the charge only: authorize, refund) or nothing (capture and release decide from the
    PaymentIntent's own fields).
    """
    try:
        intent = await retrieve_payment_intent(subject.gateway, payment_intent_id, expand=expand)
    except StripeRequestRejected as rejected:
        raise ServiceError(
            f"Stripe does not know PaymentIntent {payment_intent_id} of payment {subject.payment_id}: "
            f"{rejected.message}"
        ) from rejected
    owner = field_value(field_value(intent, "metadata"), "paymentId")
    if owner is not None and owner != subject.payment_id:
        raise ServiceError(
            f"PaymentIntent {payment_intent_id} belongs to payment {owner}, not to payment {subject.payment_id}"
        )
    return intent
