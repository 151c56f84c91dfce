"""The customer's "Saved cards" page: list, add (Payment Element in setup mode, 3-D Secure included), remove, choose
the default. Routes under `/stripe/SavedCards`; its templates and script beside this module.

Trust: every route needs the signed link (card_links.py); the party it names is the only one whose cards are shown or
changed. A card id posted by the browser is acted on only when Stripe says it is attached to that party's Customer,
so another party's card (or a made-up id) is refused and nothing changes. The POST forms carry the signed query, the
link is the capability, and a POST from another origin is refused (`Origin` checked), so no CSRF token is needed.

Cards are listed from Stripe (the Customer's card PaymentMethods, the default being Stripe's
`invoice_settings.default_payment_method`: Mantle has no notion of a default card); each card saved or removed here
is recorded in Mantle as well (card_records.py, the PartyCardsSide).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import stripe
from aiohttp import web

from moqui_bridge.mantle.party_cards import PartyCardsSide
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.moqui_rest_client import MoquiRestError
from moqui_bridge.resources import package_path
from moqui_bridge.service import ServiceError
from service.checkout.links import CheckoutLinkError, origin_of
from service.checkout.merchant import merchant_values
from service.checkout.shopper_messages import messages_for_browser, shopper_message
from service.checkout.web_support import (
    CHECKOUT_TEMPLATES,
    PageRenderer,
    add_static_assets,
    content_security_policy,
    page_headers,
    see_other,
    stripe_origins,
)
from service.config import GatewaySettings
from service.context import STANDALONE_CLIENT, ServiceContext
from service.saved_cards.card_links import SIGNED_KEYS, SavedCardsLink, link_secret, verify_saved_cards_query
from service.saved_cards.card_owner import NotYourCard, customer_of_card
from service.saved_cards.card_records import NotACard, record_saved_card
from service.saved_cards.customers import CustomerOwner, find_or_create_customer, known_customer
from service.saved_cards.stripe_cards import (
    create_setup_intent,
    customer_cards,
    detach_card,
    retrieve_customer,
    retrieve_setup_intent,
    set_default_card,
)
from service.stripe_gateway.operations import metadata_value, retrieve_payment_method
from service.stripe_gateway.outcome import StripeRequestRejected, field_value

__all__ = ["SAVED_CARDS_PATH", "SavedCardServices", "add_saved_cards_routes"]

log = logging.getLogger(__name__)

SAVED_CARDS_PATH: Final = "/stripe/SavedCards"
STATIC_PREFIX: Final = "/stripe/saved-cards-static"
_HERE = package_path("service.saved_cards")
_STRIPE_PROBLEMS: Final = (stripe.StripeError, StripeRequestRejected)
_MANTLE_PROBLEMS: Final = (ServiceError, MoquiRestError)
# What the page says after an action (the `notice` parameter picks one; nothing from the query is shown as text).
_NOTICES: Final = {
    "saved": "Your card has been saved.",
    "removed": "The card has been removed.",
    "default": "Your default card has been changed.",
}


@dataclass(frozen=True)
class SavedCardServices:
    """What the pages work with: the service context, where Mantle's saved cards are recorded, and the Mantle side
    the checkout's payment is made through (checkout_cards.py)."""

    context: ServiceContext
    cards: PartyCardsSide
    mantle: MantleSide


SavedCardsProvider = Callable[[], SavedCardServices]


@dataclass(frozen=True)
class _Card:
    """One card as the page lists it."""

    payment_method_id: str
    brand: str
    last_four: str
    expires: str
    is_default: bool

    def as_json(self) -> dict[str, object]:
        """The card as the checkout's script reads it."""
        return {
            "paymentMethodId": self.payment_method_id,
            "brand": self.brand,
            "lastFour": self.last_four,
            "expires": self.expires,
            "isDefault": self.is_default,
        }


async def listed_cards(services: SavedCardServices, owner: CustomerOwner) -> list[_Card] | None:
    """The party's saved cards as Stripe lists them (none without a Customer); None when Stripe or Mantle cannot be
    reached."""
    context = services.context
    try:
        customer_id = await known_customer(context, services.cards, owner)
        if customer_id is None:
            return []
        gateway = context.gateways.get(owner.payment_gateway_config_id)
        customer = await retrieve_customer(gateway, customer_id)
        methods = await customer_cards(gateway, customer_id)
    except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
        log.exception("saved cards: listing the cards of party %s failed", owner.party_id)
        return None
    default = field_value(field_value(customer, "invoice_settings"), "default_payment_method")
    default_id = default if isinstance(default, str) else field_value(default, "id")
    cards = []
    for method in methods:
        card = field_value(method, "card")
        cards.append(
            _Card(
                method.id,
                str(field_value(card, "display_brand") or field_value(card, "brand") or "card").replace("_", " "),
                str(field_value(card, "last4") or ""),
                f"{int(field_value(card, 'exp_month') or 0):02d}/{field_value(card, 'exp_year')}",
                method.id == default_id,
            )
        )
    return cards


def same_origin_post(request: web.Request, public_url: str) -> bool:
    """False for a POST another site's page made (its `Origin` is neither this host's nor the public URL's)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return True
    allowed = {origin_of(f"{request.scheme}://{request.host}"), origin_of(public_url) if public_url else ""}
    return origin_of(origin) in allowed


def add_saved_cards_routes(app: web.Application, provider: SavedCardsProvider) -> None:
    """Mount the page, its actions and its static files on `app`."""
    pages = _SavedCardPages(provider)
    app.router.add_get(SAVED_CARDS_PATH, pages.show)
    app.router.add_post(f"{SAVED_CARDS_PATH}/add", pages.add)
    app.router.add_get(f"{SAVED_CARDS_PATH}/return", pages.setup_return)
    app.router.add_post(f"{SAVED_CARDS_PATH}/remove", pages.remove)
    app.router.add_post(f"{SAVED_CARDS_PATH}/default", pages.make_default)
    add_static_assets(
        app,
        STATIC_PREFIX,
        _HERE / "static",
        ("saved-cards.css", "saved-cards.js", "checkout-saved-cards.js", "checkout-saved-cards.css"),
    )


@dataclass(frozen=True)
class _Opened:
    services: SavedCardServices
    link: SavedCardsLink
    signed: dict[str, str]
    owner: CustomerOwner
    gateway: GatewaySettings


class _SavedCardPages:
    def __init__(self, provider: SavedCardsProvider) -> None:
        self._provider = provider
        # The saved-cards pages extend the checkout's base template (same header, same stylesheet).
        self._renderer = PageRenderer(_HERE / "templates", CHECKOUT_TEMPLATES)

    # -- responses ---------------------------------------------------------------------------------------------

    def _message(self, status: int, title: str, message: str, back_url: str | None = None) -> web.Response:
        merchant = merchant_values(self._provider().context.settings.checkout)
        body = self._renderer.render(
            "saved_cards_message.html", title=title, message=message, back_url=back_url, **merchant
        )
        return web.Response(
            text=body, status=status, content_type="text/html", headers=page_headers(content_security_policy())
        )

    @staticmethod
    def _redirect(url: str) -> web.Response:
        return see_other(url)

    def _page_url(self, opened: _Opened, **extra: str) -> str:
        return f"{SAVED_CARDS_PATH}?{urlencode({**opened.signed, **extra})}"

    def _unavailable(self, opened: _Opened) -> web.Response:
        return self._message(
            503,
            "Saved cards are unavailable",
            "We could not reach the payment service. Nothing has been changed: please try again in a moment.",
            back_url=opened.link.done_url,
        )

    # -- the link ----------------------------------------------------------------------------------------------

    async def _open(self, request: web.Request) -> _Opened | web.Response:
        services = self._provider()
        settings = services.context.settings
        secret = link_secret(settings)
        signed = {key: request.query.get(key, "") for key in SIGNED_KEYS}
        try:
            link = verify_saved_cards_query(secret, signed, settings.checkout.allowed_redirect_origins)
        except CheckoutLinkError as error:
            log.info("saved cards link refused (%s): %s", error.problem, error)
            title = "This link has expired" if error.problem == "expired" else "This link is not valid"
            return self._message(
                400, title, "Please go back and open your saved cards again. Nothing has been changed."
            )
        config_id = settings.checkout.default_gateway_config_id
        gateway = settings.gateways.get(config_id)
        if gateway is None or not gateway.publishable_key:
            return self._message(503, "Saved cards are unavailable", "No card gateway is configured.", link.done_url)
        client = settings.moqui_client_name() if settings.moqui.base_url else STANDALONE_CLIENT
        if client is None:
            return self._message(
                503, "Saved cards are unavailable", "The Moqui client is not configured.", link.done_url
            )
        owner = CustomerOwner(client, config_id, link.customer_party_id)
        return _Opened(services, link, signed, owner, gateway)

    async def _open_post(self, request: web.Request) -> _Opened | web.Response:
        # The signed link is the capability; a form posted from another site's page is refused all the same.
        if not same_origin_post(request, self._provider().context.settings.server.public_url):
            return self._message(403, "Request refused", "This request did not come from the saved cards page.")
        return await self._open(request)

    # -- the page ----------------------------------------------------------------------------------------------

    async def _listed(self, opened: _Opened) -> list[_Card] | web.Response:
        cards = await listed_cards(opened.services, opened.owner)
        return self._unavailable(opened) if cards is None else cards

    def _render(
        self,
        request: web.Request,
        opened: _Opened,
        cards: list[_Card],
        *,
        notice: str = "",
        error: str = "",
        client_secret: str | None = None,
    ) -> web.Response:
        base = opened.services.context.settings.server.public_url or f"{request.scheme}://{request.host}"
        query = urlencode(opened.signed)
        body = self._renderer.render(
            "saved_cards.html",
            cards=cards,
            notice=notice,
            error=error,
            query=query,
            done_url=opened.link.done_url,
            client_secret=client_secret,
            publishable_key=opened.gateway.publishable_key,
            stripe_js_url=opened.gateway.stripe_js_url,
            return_url=f"{base.rstrip('/')}{SAVED_CARDS_PATH}/return?{query}",
            error_messages=messages_for_browser(),
            **merchant_values(opened.services.context.settings.checkout),
        )
        stripe_allowed = stripe_origins(opened.gateway.stripe_js_url, opened.gateway.api_base or "")
        csp = content_security_policy(stripe_allowed if client_secret else None)
        return web.Response(text=body, content_type="text/html", headers=page_headers(csp))

    async def show(self, request: web.Request) -> web.Response:
        """GET /stripe/SavedCards: the customer's cards."""
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        cards = await self._listed(opened)
        if isinstance(cards, web.Response):
            return cards
        notice = _NOTICES.get(request.query.get("notice", ""), "")
        return self._render(request, opened, cards, notice=notice)

    async def add(self, request: web.Request) -> web.Response:
        """POST /stripe/SavedCards/add: the party's Customer (made on first need) and a SetupIntent for the
        Payment Element."""
        opened = await self._open_post(request)
        if isinstance(opened, web.Response):
            return opened
        context = opened.services.context
        try:
            customer_id = await find_or_create_customer(context, opened.services.cards, opened.owner)
            gateway = context.gateways.get(opened.owner.payment_gateway_config_id)
            intent = await create_setup_intent(
                gateway, customer_id, {"partyId": opened.owner.party_id, "moquiStripeClient": opened.owner.client_name}
            )
        except ServiceError as error:
            return self._message(400, "Cards cannot be saved", str(error), opened.link.done_url)
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("saved cards: starting a card setup for party %s failed", opened.owner.party_id)
            return self._unavailable(opened)
        cards = await self._listed(opened)
        if isinstance(cards, web.Response):
            return cards
        return self._render(request, opened, cards, client_secret=intent.client_secret)

    async def setup_return(self, request: web.Request) -> web.Response:
        """GET /stripe/SavedCards/return: back from confirmSetup (and 3-D Secure). The SetupIntent is read from
        Stripe and must be this party's; a succeeded one is recorded in Mantle."""
        opened = await self._open(request)
        if isinstance(opened, web.Response):
            return opened
        setup_intent_id = request.query.get("setup_intent", "")
        if not setup_intent_id.startswith("seti_"):
            return self._redirect(self._page_url(opened))
        context = opened.services.context
        gateway = context.gateways.get(opened.owner.payment_gateway_config_id)
        try:
            customer_id = await known_customer(context, opened.services.cards, opened.owner)
            intent = await retrieve_setup_intent(gateway, setup_intent_id)
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("saved cards: reading SetupIntent %s failed", setup_intent_id)
            return self._unavailable(opened)
        if (
            customer_id is None
            or intent.customer != customer_id
            or metadata_value(intent, "partyId") != opened.owner.party_id
        ):
            log.warning("saved cards: SetupIntent %s is not party %s's", setup_intent_id, opened.owner.party_id)
            return self._message(
                400, "This card cannot be saved here", "Nothing has been changed.", opened.link.done_url
            )
        if intent.status != "succeeded":
            cards = await self._listed(opened)
            if isinstance(cards, web.Response):
                return cards
            last_error = field_value(intent, "last_setup_error")
            message = shopper_message(last_error) if last_error else "The card was not saved. Please try again."
            return self._render(request, opened, cards, error=message)
        method = intent.payment_method
        try:
            if not isinstance(method, stripe.PaymentMethod):
                method = await retrieve_payment_method(gateway, str(method))
            await record_saved_card(
                opened.services.cards, method, opened.owner.party_id, opened.owner.payment_gateway_config_id
            )
        except NotACard as error:
            return self._message(400, "This card cannot be saved here", str(error), opened.link.done_url)
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("saved cards: recording SetupIntent %s's card failed", setup_intent_id)
            return self._unavailable(opened)
        return self._redirect(self._page_url(opened, notice="saved"))

    async def _card_action(
        self, request: web.Request, act: Callable[[_Opened, str, str], Awaitable[object]], notice: str
    ) -> web.Response:
        """A POSTed change of one card (its id in `paymentMethodId`): only a card attached to the link's party's
        Customer is changed, by `act(opened, card id, Customer id)`; then back to the list."""
        opened = await self._open_post(request)
        if isinstance(opened, web.Response):
            return opened
        method_id = str((await request.post()).get("paymentMethodId", ""))
        services = opened.services
        try:
            customer_id = await customer_of_card(services.context, services.cards, opened.owner, method_id)
            await act(opened, method_id, customer_id)
        except NotYourCard:
            log.warning("saved cards: party %s sent card %r, which is not theirs", opened.owner.party_id, method_id)
            title = "This card is not one of your saved cards"
            return self._message(400, title, "Nothing has been changed.", self._page_url(opened))
        except _STRIPE_PROBLEMS + _MANTLE_PROBLEMS:
            log.exception("saved cards: changing card %s (%s) failed", method_id, notice)
            return self._unavailable(opened)
        return self._redirect(self._page_url(opened, notice=notice))

    async def remove(self, request: web.Request) -> web.Response:
        """POST /stripe/SavedCards/remove: detach the card at Stripe and expire its Mantle PaymentMethod."""

        async def detach(opened: _Opened, method_id: str, _customer_id: str) -> None:
            await detach_card(opened.services.context.gateways.get(opened.owner.payment_gateway_config_id), method_id)
            await opened.services.cards.expire_saved_card(method_id, opened.owner.party_id)

        return await self._card_action(request, detach, "removed")

    async def make_default(self, request: web.Request) -> web.Response:
        """POST /stripe/SavedCards/default: the Customer's default card at Stripe."""

        async def make_it_default(opened: _Opened, method_id: str, customer_id: str) -> None:
            gateway = opened.services.context.gateways.get(opened.owner.payment_gateway_config_id)
            await set_default_card(gateway, customer_id, method_id)

        return await self._card_action(request, make_it_default, "default")
