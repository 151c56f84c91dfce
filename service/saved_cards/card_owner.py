"""Whether a card id the browser sent is one of the party's saved cards: Stripe must say it is attached to the
party's Customer. Anything else (another party's card, a made-up or malformed id, a party without a Customer) is
`NotYourCard`, refused before anything changes."""

from __future__ import annotations

from moqui_bridge.mantle.party_cards import PartyCardsSide
from service.context import ServiceContext
from service.saved_cards.customers import CustomerOwner, known_customer
from service.stripe_gateway.operations import retrieve_payment_method
from service.stripe_gateway.outcome import StripeRequestRejected, field_value

__all__ = ["NotYourCard", "customer_of_card"]

_MAX_ID_LENGTH = 255


class NotYourCard(Exception):
    """The card is not attached to the party's Customer (or there is no such card)."""


async def customer_of_card(context: ServiceContext, cards: PartyCardsSide, owner: CustomerOwner, method_id: str) -> str:
    """The party's Customer id, when `method_id` is a card attached to it; raises NotYourCard otherwise.
    stripe.StripeError (Stripe unreachable) and the Mantle side's errors propagate."""
    if not method_id.startswith("pm_") or len(method_id) > _MAX_ID_LENGTH or not method_id.isprintable():
        raise NotYourCard(method_id)
    customer_id = await known_customer(context, cards, owner)
    if customer_id is None:
        raise NotYourCard(method_id)
    try:
        method = await retrieve_payment_method(context.gateways.get(owner.payment_gateway_config_id), method_id)
    except StripeRequestRejected:
        raise NotYourCard(method_id) from None  # no such PaymentMethod at Stripe
    attached = field_value(method, "customer")
    if (attached if isinstance(attached, str) else field_value(attached, "id")) != customer_id:
        raise NotYourCard(method_id)
    return customer_id
