"""Saved cards on the checkout page: a returning customer's cards offered first (one click pays), and the "save this
card" consent for the card typed in.

Three routes beside the checkout's own, each behind the checkout's signed link (service/checkout/links.py) and the
same order checks (order_check.load_payable_order):

- `GET /stripe/Checkout/savedCards`: JSON, the link's customer's saved cards (from Stripe), default first, for
  checkout-saved-cards.js; only a party this service made a Customer for has any (cards are saved through it), so
  for any other the answer is read from our own table alone;
- `POST /stripe/Checkout/saveCard` (JSON `{"save": true|false}`): the consent box ticked or cleared; the checkout's
  PaymentIntent gets the party's Customer and `setup_future_usage=off_session`, or loses the latter;
- `POST /stripe/Checkout/payWithSavedCard` (form `paymentMethodId`): confirm the checkout's PaymentIntent with a saved
  card of that customer, then on to the checkout's return handler (through 3-D Secure when the card asks for it).

The card is recorded in Mantle when Stripe attaches it to the Customer (`payment_method.attached`,
service/webhooks/card_events.py). The checkout page includes `saved_cards_checkout.html` and its script; nothing
else of the checkout changes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlencode

import stripe
from aiohttp import web

from moqui_bridge.moqui_rest_client import MoquiRestError
from moqui_bridge.service import ServiceError
from service.checkout.checkout_payment import CheckoutPayment, prepare_checkout_payment
from service.checkout.checkout_side import checkout_side
from service.checkout.links import CheckoutLink, CheckoutLinkError, verify_checkout_query
from service.checkout.order_check import CheckoutRefused, CheckoutSide, PayableOrder, load_payable_order
from service.checkout.order_lease import CheckoutLeaseError, order_lease
from service.checkout.pages import CHECKOUT_PATH, RETURN_PATH
from service.checkout.web_support import content_security_policy, page_headers, see_other
from service.saved_cards.card_links import link_secret
from service.saved_cards.card_owner import NotYourCard, customer_of_card
from service.saved_cards.customers import CustomerOwner, customers_made, find_or_create_customer
from service.saved_cards.pages import SavedCardServices, SavedCardsProvider, listed_cards, same_origin_post
from service.saved_cards.stripe_cards import confirm_with_saved_card, set_card_saving
from service.stripe_gateway.operations import StripeIntegrityError
from service.stripe_gateway.outcome import StripeRequestRejected, field_value

__all__ = ["add_checkout_card_routes"]

log = logging.getLogger(__name__)

_CHECKOUT_KEYS: Final = ("orderId", "customerPartyId", "doneUrl", "errorUrl", "expires", "signature")
_STRIPE_PROBLEMS: Final = (stripe.StripeError, StripeRequestRejected, StripeIntegrityError)
_MANTLE_PROBLEMS: Final = (ServiceError, MoquiRestError)


@dataclass(frozen=True)
class _Checkout:
    services: SavedCardServices
    side: CheckoutSide
    link: CheckoutLink
    payable: PayableOrder
    signed: dict[str, str]

    @property
    def owner(self) -> CustomerOwner:
        # The checkout's Payments are its side's client's (standalone, or the Moqui's: checkout_side.py).
        return CustomerOwner(self.side.client_name, self.payable.payment_gateway_config_id, self.link.customer_party_id)

    @asynccontextmanager
    async def prepared(self) -> AsyncIterator[CheckoutPayment]:
        """The checkout's Payment and PaymentIntent (made as the page makes them), under the order's lease with the
        order read again under it, as the page does (CheckoutLeaseError when the order stays leased by another
        request, or the work reaches the request's deadline)."""
        context = self.services.context
        lease = order_lease(
            context.entity,
            self.link.order_id,
            context.deadline,
            holder_key=context.liveness_key,
            what="a saved-card action of the checkout",
        )
        async with lease:
            payable = await load_payable_order(self.side, context.entity, context.settings, self.link)
            yield await prepare_checkout_payment(context, self.side, payable)


def add_checkout_card_routes(app: web.Application, provider: SavedCardsProvider) -> None:
    """Mount the checkout's saved-card routes."""
    routes = _CheckoutCards(provider)
    app.router.add_get(f"{CHECKOUT_PATH}/savedCards", routes.cards)
    app.router.add_post(f"{CHECKOUT_PATH}/saveCard", routes.save_card)
    app.router.add_post(f"{CHECKOUT_PATH}/payWithSavedCard", routes.pay)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    response = web.json_response(body, status=status, headers=page_headers(content_security_policy()))
    return response


class _CheckoutCards:
    def __init__(self, provider: SavedCardsProvider) -> None:
        self._provider = provider

    async def _open(self, request: web.Request, *, only_with_customer: bool = False) -> _Checkout | None:
        """The verified link, its checkout side and the order it pays (None when refused). `only_with_customer`:
        None also when this service never made the party a Customer, before the order is read (so a checkout
        without saved cards costs no read of Moqui or Stripe)."""
        provided = self._provider()
        # The request's deadline, from now: the order's lease and the Stripe waits under it end by then.
        services = replace(provided, context=provided.context.for_request(None))
        context = services.context
        settings = context.settings
        signed = {key: request.query.get(key, "") for key in _CHECKOUT_KEYS}
        try:
            link = verify_checkout_query(link_secret(settings), signed, settings.checkout.allowed_redirect_origins)
            side = checkout_side(settings, context.entity, services.mantle)
            if only_with_customer and not await customers_made(
                context.entity, side.client_name, link.customer_party_id
            ):
                return None
            payable = await load_payable_order(side, context.entity, settings, link)
        except (CheckoutLinkError, CheckoutRefused) as error:
            log.info("checkout saved cards: link or order refused: %s", error)
            return None
        except _MANTLE_PROBLEMS as error:
            log.warning("checkout saved cards: the order cannot be read: %s", error)
            return None
        return _Checkout(services, side, link, payable, signed)

    async def cards(self, request: web.Request) -> web.Response:
        """GET: the customer's saved cards, default first (none when the link is refused or the party has no
        Customer made here)."""
        checkout = await self._open(request, only_with_customer=True)
        if checkout is None:
            return _json(200, {"cards": []})
        listed = await listed_cards(checkout.services, checkout.owner)
        if listed is None:
            return _json(503, {"error": "Saved cards are unavailable."})
        cards = sorted(listed, key=lambda card: not card.is_default)
        return _json(200, {"cards": [card.as_json() for card in cards]})

    async def _open_post(self, request: web.Request) -> _Checkout | web.Response:
        if not same_origin_post(request, self._provider().context.settings.server.public_url):
            return _json(403, {"error": "Request refused."})
        checkout = await self._open(request)
        return _json(400, {"error": "This payment link is not valid."}) if checkout is None else checkout

    async def save_card(self, request: web.Request) -> web.Response:
        """POST {"save": true|false}: the consent choice, applied to the checkout's PaymentIntent."""
        checkout = await self._open_post(request)
        if isinstance(checkout, web.Response):
            return checkout
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("save"), bool):
            return _json(400, {"error": 'Send {"save": true} or {"save": false}.'})
        context = checkout.services.context
        try:
            customer_id = await find_or_create_customer(context, checkout.services.cards, checkout.owner)
            gateway = context.gateways.get(checkout.payable.payment_gateway_config_id)
            async with checkout.prepared() as prepared:
                await set_card_saving(gateway, prepared.intent.id, customer_id, save=body["save"])
        except CheckoutRefused as refused:
            return _json(400, {"error": refused.message})
        except ServiceError as error:
            return _json(400, {"error": str(error)})
        except CheckoutLeaseError as error:
            log.warning("checkout: saving the card choice: %s", error)
            return _json(503, {"error": "We could not reach the payment service. Please try again."})
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("checkout: saving the card choice for order %s failed", checkout.link.order_id)
            return _json(503, {"error": "We could not reach the payment service. Please try again."})
        return _json(200, {"save": body["save"]})

    async def pay(self, request: web.Request) -> web.Response:
        """POST paymentMethodId: pay with that saved card (it must be this customer's), one click."""
        checkout = await self._open_post(request)
        if isinstance(checkout, web.Response):
            return checkout
        method_id = str((await request.post()).get("paymentMethodId", ""))
        back_to_checkout = f"{CHECKOUT_PATH}?{urlencode(checkout.signed)}"
        services = checkout.services
        context = services.context
        try:
            customer_id = await customer_of_card(context, services.cards, checkout.owner, method_id)
        except NotYourCard:
            log.warning(
                "checkout: order %s asked to pay with card %r, not its customer's", checkout.link.order_id, method_id
            )
            return _json(400, {"error": "This card is not one of your saved cards."})
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("checkout: reading saved card %s failed", method_id)
            return see_other(back_to_checkout)
        base = context.settings.server.public_url or f"{request.scheme}://{request.host}"
        return_url = f"{base.rstrip('/')}{RETURN_PATH}?{urlencode(checkout.signed)}"
        gateway = context.gateways.get(checkout.payable.payment_gateway_config_id)
        try:
            async with checkout.prepared() as prepared:
                intent = await confirm_with_saved_card(gateway, prepared.intent.id, customer_id, method_id, return_url)
        except CheckoutRefused:
            return see_other(back_to_checkout)  # paid meanwhile, or no longer payable: the page says which
        except stripe.CardError:
            # Declined: the checkout page shows why (the PaymentIntent's last_payment_error) and takes another card.
            return see_other(back_to_checkout)
        except (*_STRIPE_PROBLEMS, *_MANTLE_PROBLEMS, CheckoutLeaseError):
            # Refused (already confirmed by a first click, ...), unreachable, or the order busy with another request
            # until the deadline: the checkout page knows what to show.
            log.warning(
                "checkout: paying order %s with saved card %s did not go through", checkout.link.order_id, method_id
            )
            return see_other(back_to_checkout)
        action = field_value(intent, "next_action")
        redirect = field_value(field_value(action, "redirect_to_url"), "url")
        if intent.status == "requires_action" and isinstance(redirect, str):
            return see_other(redirect)
        return see_other(return_url)
