"""The Stripe side of a card entered by staff: one SetupIntent, created and confirmed in one call on the server.

docs.stripe.com/payments/payment-intents/moto ("Collect a card for future payments"): create and confirm a
SetupIntent with the card and `payment_method_options[card][moto]=true`; it succeeds without 3-D Secure, MOTO being
out of scope of Strong Customer Authentication. Only accounts Stripe enabled MOTO for may send the flag
(`gateways.<id>.moto_enabled`); without it the card is set up for later off-session use (`usage=off_session`), and a
card whose bank asks the cardholder to authenticate cannot be saved by an agent: that SetupIntent is canceled and
the customer is asked to save the card themselves (the saved-cards page).

The card comes from the page's Payment Element as a PaymentMethod (stripe.createPaymentMethod); its id names the
attempt, so the idempotency key `moqui-stripe/v1/<installationId>/staff-card-<pm id>` makes a double submission or
a retry after a lost answer the same SetupIntent (journal operation ids are numbers: the two never meet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import stripe

from service.stripe_gateway.client import StripeGateway
from service.stripe_gateway.idempotency import idempotency_key
from service.stripe_gateway.operations import refusals_as_rejections

__all__ = ["StaffCardSetup", "cancel_staff_setup", "set_up_staff_card"]

_KEY_PREFIX: Final = "staff-card-"


@dataclass(frozen=True)
class StaffCardSetup:
    """One card entered by staff: whose Customer, which card, with or without MOTO, and the SetupIntent's metadata."""

    customer_id: str
    payment_method_id: str
    moto: bool
    metadata: Mapping[str, str]

    def key(self, installation_id: str) -> str:
        """The create's idempotency key (one per PaymentMethod)."""
        return idempotency_key(installation_id, f"{_KEY_PREFIX}{self.payment_method_id}")


async def set_up_staff_card(gateway: StripeGateway, setup: StaffCardSetup, installation_id: str) -> stripe.SetupIntent:
    """POST /v1/setup_intents with `confirm=true` and the PaymentMethod expanded
    (docs.stripe.com/api/setup_intents/create).

    Raises stripe.CardError for a declined card, StripeRequestRejected for a refused request, other
    stripe.StripeError subclasses when Stripe cannot be reached.
    """
    params: stripe.params.SetupIntentCreateParams = {
        "customer": setup.customer_id,
        "payment_method": setup.payment_method_id,
        "confirm": True,
        "usage": "off_session",
        "allowed_payment_method_types": ["card"],
        "metadata": dict(setup.metadata),
        # The card comes back with the answer (brand, last four, expiry for Mantle's record): no second call.
        "expand": ["payment_method"],
    }
    if setup.moto:
        params["payment_method_options"] = {"card": {"moto": True}}
    with refusals_as_rejections():
        return await gateway.client.v1.setup_intents.create_async(
            params, {"idempotency_key": setup.key(installation_id)}
        )


async def cancel_staff_setup(gateway: StripeGateway, setup_intent_id: str) -> None:
    """POST /v1/setup_intents/{id}/cancel for a setup the agent cannot finish (the bank wants the cardholder)."""
    with refusals_as_rejections():
        await gateway.client.v1.setup_intents.cancel_async(setup_intent_id, {"cancellation_reason": "abandoned"})
