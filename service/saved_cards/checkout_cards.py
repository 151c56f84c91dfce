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
from service.checkout.web_support import content_security_policy, page_headers
from service.context import STANDALONE_CLIENT
from service.saved_cards.customers import CustomerOwner, find_or_create_customer, known_customer
from service.saved_cards.pages import SavedCardServices, SavedCardsProvider, listed_cards, same_origin_post
from service.saved_cards.stripe_cards import confirm_with_saved_card, set_card_saving
from service.stripe_gateway.operations import StripeIntegrityError, retrieve_payment_method
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
        secret = settings.checkout.link_secret.get_secret_value() if settings.checkout.link_secret else ""
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

    async def save_card(self, request: web.Request) -> web.Response:
        """POST {"save": true|false}: the consent choice, applied to the checkout's PaymentIntent."""
        if not same_origin_post(request, self._provider().context.settings.server.public_url):
            return _json(403, {"error": "Request refused."})
        checkout = await self._open(request)
        if checkout is None:
            return _json(400, {"error": "This payment link is not valid."})
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
        if not same_origin_post(request, self._provider().context.settings.server.public_url):
            return _json(403, {"error": "Request refused."})
        checkout = await self._open(request)
        if checkout is None:
            return _json(400, {"error": "This payment link is not valid."})
        form = await request.post()
        method_id = str(form.get("paymentMethodId", ""))
        back_to_checkout = f"{CHECKOUT_PATH}?{urlencode(checkout.signed)}"
        context = checkout.services.context
        gateway = context.gateways.get(checkout.payable.payment_gateway_config_id)
        refused = _json(400, {"error": "This card is not one of your saved cards."})
        if not method_id.startswith("pm_") or len(method_id) > 255 or not method_id.isprintable():
            return refused
        try:
            customer_id = await known_customer(context, checkout.services.cards, checkout.owner)
            method = await retrieve_payment_method(gateway, method_id) if customer_id is not None else None
        except StripeRequestRejected:
            return refused  # no such PaymentMethod at Stripe
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("checkout: reading saved card %s failed", method_id)
            return _redirect(back_to_checkout)
        owner = None if method is None else field_value(method, "customer")
        if customer_id is None or (owner if isinstance(owner, str) else field_value(owner, "id")) != customer_id:
            log.warning(
                "checkout: order %s asked to pay with card %s, not its customer's", checkout.link.order_id, method_id
            )
            return refused
        base = context.settings.server.public_url or f"{request.scheme}://{request.host}"
        return_url = f"{base.rstrip('/')}{RETURN_PATH}?{urlencode(checkout.signed)}"
        try:
            prepared = await prepare_checkout_payment(context, checkout.services.mantle, checkout.payable)
            intent = await confirm_with_saved_card(gateway, prepared.intent.id, customer_id, method_id, return_url)
        except stripe.CardError:
            # Declined: the checkout page shows why (the PaymentIntent's last_payment_error) and takes another card.
            return _redirect(back_to_checkout)
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            # Refused (already confirmed by a first click, ...) or unreachable: the checkout page knows what to show.
            log.warning(
                "checkout: paying order %s with saved card %s did not go through", checkout.link.order_id, method_id
            )
            return _redirect(back_to_checkout)
        action = field_value(intent, "next_action")
        redirect = field_value(field_value(action, "redirect_to_url"), "url")
        if intent.status == "requires_action" and isinstance(redirect, str):
            return _redirect(redirect)
        return _redirect(return_url)


def _redirect(url: str) -> web.Response:
    headers = page_headers(content_security_policy())
    headers["Location"] = url
    return web.Response(status=303, headers=headers)
