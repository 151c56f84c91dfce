"""Saved cards on the checkout page: a returning customer's cards offered first (one click pays), and the "save this
card" consent for the card typed in.

Three routes beside the checkout's own, each behind the checkout's signed link (service/checkout/links.py) and the
same order checks (order_check.load_payable_order):

- `GET /stripe/Checkout/savedCards`: JSON, the link's customer's saved cards (from Stripe), default first, for
  checkout-saved-cards.js;
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
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import stripe
from aiohttp import web

from moqui_bridge.moqui_rest_client import MoquiRestError
from moqui_bridge.service import ServiceError
from service.checkout.checkout_payment import prepare_checkout_payment
from service.checkout.links import CheckoutLink, CheckoutLinkError, verify_checkout_query
from service.checkout.order_check import CheckoutRefused, PayableOrder, load_payable_order
from service.checkout.pages import CHECKOUT_PATH, RETURN_PATH
from service.checkout.web_support import content_security_policy, page_headers, see_other
from service.context import STANDALONE_CLIENT
from service.saved_cards.card_links import link_secret
from service.saved_cards.card_owner import NotYourCard, customer_of_card
from service.saved_cards.customers import CustomerOwner, find_or_create_customer
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
    link: CheckoutLink
    payable: PayableOrder
    signed: dict[str, str]

    @property
    def owner(self) -> CustomerOwner:
        # The checkout's Payments are the standalone client's (checkout_payment.py).
        return CustomerOwner(STANDALONE_CLIENT, self.payable.payment_gateway_config_id, self.link.customer_party_id)


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

    async def _open(self, request: web.Request) -> _Checkout | None:
        services = self._provider()
        settings = services.context.settings
        secret = link_secret(settings)
        signed = {key: request.query.get(key, "") for key in _CHECKOUT_KEYS}
        try:
            link = verify_checkout_query(secret, signed, settings.checkout.allowed_redirect_origins)
            payable = await load_payable_order(services.context.entity, settings, link)
        except (CheckoutLinkError, CheckoutRefused) as error:
            log.info("checkout saved cards: link or order refused: %s", error)
            return None
        return _Checkout(services, link, payable, signed)

    async def cards(self, request: web.Request) -> web.Response:
        """GET: the customer's saved cards, default first."""
        checkout = await self._open(request)
        if checkout is None:
            return _json(400, {"error": "This payment link is not valid."})
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
            prepared = await prepare_checkout_payment(context, checkout.services.mantle, checkout.payable)
            gateway = context.gateways.get(checkout.payable.payment_gateway_config_id)
            await set_card_saving(gateway, prepared.intent.id, customer_id, save=body["save"])
        except ServiceError as error:
            return _json(400, {"error": str(error)})
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
            prepared = await prepare_checkout_payment(context, services.mantle, checkout.payable)
            intent = await confirm_with_saved_card(gateway, prepared.intent.id, customer_id, method_id, return_url)
        except stripe.CardError:
            # Declined: the checkout page shows why (the PaymentIntent's last_payment_error) and takes another card.
            return see_other(back_to_checkout)
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            # Refused (already confirmed by a first click, ...) or unreachable: the checkout page knows what to show.
            log.warning(
                "checkout: paying order %s with saved card %s did not go through", checkout.link.order_id, method_id
            )
            return see_other(back_to_checkout)
        action = field_value(intent, "next_action")
        redirect = field_value(field_value(action, "redirect_to_url"), "url")
        if intent.status == "requires_action" and isinstance(redirect, str):
            return see_other(redirect)
        return see_other(return_url)
