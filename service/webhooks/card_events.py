"""Saved cards that change at Stripe: the card updater's new expiry or number, and cards detached from a Customer.

| event                                  | Mantle (PartyCardsSide)                                          |
| -------------------------------------- | ---------------------------------------------------------------- |
| payment_method.automatically_updated   | update#CreditCard: the new expiry and last four                  |
| payment_method.updated                 | the same (an expiry changed through the API or the Dashboard)    |
| payment_method.detached                | delete#PaymentMethod: thruDate, so Mantle stops offering it      |
| payment_method.attached                | a card saved to a Customer this service made (a checkout whose   |
|                                        | shopper chose to save the card, a SetupIntent): recorded as the  |
|                                        | party's PaymentMethod + CreditCard, once                         |

Sources: docs.stripe.com/api/events/types (each event's `data.object` is the PaymentMethod); the card updater's event
is `payment_method.automatically_updated` since API version 2020-08-27
(docs.stripe.com/changelog/2020-08-27/renames-automatically-updated-event-type); docs.stripe.com/payments/cards/overview
("Card updates"). An update is applied from the PaymentMethod as Stripe holds it now, not from the event's snapshot,
so events delivered out of order or again leave Mantle with the latest card. Only PaymentMethods Mantle holds as a
current saved card (its gatewayCimId), or attached to a Customer this service made for a party, are acted on; any
other is ignored.
"""

from __future__ import annotations

from typing import Any, Final

import stripe

from moqui_bridge.mantle.party_cards import PartyCardsSide
from service.context import STANDALONE_CLIENT
from service.saved_cards.card_records import NotACard, card_change_of, record_saved_card
from service.saved_cards.customers import party_of_customer
from service.stripe_gateway.operations import retrieve_payment_method
from service.stripe_gateway.outcome import field_value
from service.webhooks.context import WebhookContext
from service.webhooks.outcome import Handled

__all__ = ["CARD_EVENTS", "handle_card_event"]

DETACHED: Final = "payment_method.detached"
ATTACHED: Final = "payment_method.attached"
CARD_EVENTS: Final = ("payment_method.updated", "payment_method.automatically_updated", DETACHED, ATTACHED)


async def handle_card_event(context: WebhookContext, event_type: str, snapshot: dict[str, Any]) -> Handled:
    """Apply one payment_method.* event to the Mantle record of the saved card."""
    method_id = snapshot.get("id")
    if context.cards is None or not isinstance(method_id, str) or snapshot.get("type") != "card":
        return Handled.ignored("not a saved card")
    if event_type == DETACHED:
        expired = await context.cards.expire_saved_card(method_id, None)
        if expired is None:
            return Handled.ignored(f"{method_id} is no current saved card in Mantle")
        return Handled.processed(f"saved card {method_id} expired: PaymentMethod {expired.payment_method_id}")
    method = await retrieve_payment_method(context.gateway, method_id)
    if method.customer is None:
        return Handled.ignored(f"{method_id} is no longer saved to a Customer")
    if event_type == ATTACHED:
        return await _record_attached(context, context.cards, method)
    try:
        change = card_change_of(method)
    except NotACard as error:
        return Handled.ignored(str(error))
    updated = await context.cards.update_saved_card(change)
    if updated is None:
        return Handled.ignored(f"{method_id} is no current saved card in Mantle")
    return Handled.processed(
        f"saved card {method_id} now ends {change.last_four}, expires {change.expire_date}: "
        f"PaymentMethod {updated.payment_method_id}"
    )


async def _record_attached(context: WebhookContext, cards: PartyCardsSide, method: stripe.PaymentMethod) -> Handled:
    customer = method.customer if isinstance(method.customer, str) else field_value(method.customer, "id")
    client = context.moqui.client_name if context.moqui is not None else STANDALONE_CLIENT
    config_id = context.payment_gateway_config_id
    party_id = await party_of_customer(context.entity, client, config_id, str(customer))
    if party_id is None:
        return Handled.ignored(f"{method.id} is saved to {customer}, a Customer this service did not make")
    try:
        record = await record_saved_card(cards, method, party_id, config_id)
    except NotACard as error:
        return Handled.ignored(str(error))
    made = "recorded" if record.created else "already recorded"
    return Handled.processed(
        f"saved card {method.id} of party {party_id} {made}: PaymentMethod {record.payment_method_id}"
    )
