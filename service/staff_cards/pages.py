"""The staff card page: `GET /stripe/StaffCard` (the form, opened from Moqui's screen with a signed staff link) and
`POST /stripe/StaffCard/save` (JSON: the link's signed fields, the PaymentMethod the Payment Element made, consent).

Trust: the signed link is the only authority (service/staff_cards/staff_links.py); the save request carries the
link's fields and signature again and is verified again, so it needs no session and a page from another site cannot
forge it (it would need a valid signature), and an `Origin` header from another site is refused as well. Nothing
is cached, the page cannot be framed, and only Stripe's own origins may run code in it (web_support's CSP).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Final

import stripe
from aiohttp import web

from moqui_bridge.moqui_rest_client import MoquiRestError
from moqui_bridge.resources import package_path
from moqui_bridge.service import ServiceError
from service.checkout.merchant import merchant_values
from service.checkout.shopper_messages import messages_for_browser, shopper_message
from service.checkout.web_support import (
    CHECKOUT_TEMPLATES,
    PageRenderer,
    add_static_assets,
    content_security_policy,
    page_headers,
    stripe_origins,
)
from service.context import STANDALONE_CLIENT, ServiceContext
from service.saved_cards.card_records import NotACard, record_saved_card
from service.saved_cards.customers import CustomerOwner, find_or_create_customer
from service.saved_cards.pages import SavedCardServices, same_origin_post
from service.staff_cards.card_setup import StaffCardSetup, cancel_staff_setup, set_up_staff_card
from service.staff_cards.staff_links import SIGNED_KEYS, StaffCardLink, StaffLinkError, verify_staff_card_query
from service.stripe_gateway.outcome import StripeRequestRejected

__all__ = ["STAFF_CARD_PATH", "STAFF_CARD_SAVE_PATH", "add_staff_card_routes"]

log = logging.getLogger(__name__)

STAFF_CARD_PATH: Final = "/stripe/StaffCard"
STAFF_CARD_SAVE_PATH: Final = "/stripe/StaffCard/save"
_HERE = package_path("service.staff_cards")
_PAYMENT_METHOD_ID_MAX: Final = 255
_MANTLE_PROBLEMS: Final = (ServiceError, MoquiRestError)
_NEEDS_CUSTOMER: Final = (
    "The customer's bank wants the cardholder to authenticate this card, which cannot be done over the phone. "
    "Nothing was saved: ask the customer to add the card on their saved-cards page."
)


# What the pages work with: saved cards' services (the service context and the Mantle side of saved cards).
StaffCardProvider = Callable[[], SavedCardServices]


def add_staff_card_routes(app: web.Application, provider: StaffCardProvider) -> None:
    """Add GET /stripe/StaffCard, POST /stripe/StaffCard/save and /stripe/static/staff-card.js to `app`."""
    pages = _StaffCardPages(provider)
    app.router.add_get(STAFF_CARD_PATH, pages.page)
    app.router.add_post(STAFF_CARD_SAVE_PATH, pages.save)
    add_static_assets(app, "/stripe/static", _HERE / "static", ("staff-card.js",))


def _client_name(context: ServiceContext) -> str | None:
    """Whose Customers these are: the configured Moqui's client (None when it cannot be told), else standalone's."""
    settings = context.settings
    return settings.moqui_client_name() if settings.moqui.base_url else STANDALONE_CLIENT


class _StaffCardPages:
    def __init__(self, provider: StaffCardProvider) -> None:
        self._provider = provider
        # The staff page extends the checkout's base template (same header, same stylesheet).
        self._renderer = PageRenderer(_HERE / "templates", CHECKOUT_TEMPLATES)

    def _message(self, status: int, title: str, message: str) -> web.Response:
        body = self._renderer.render("message.html", title=title, message=message, retry_url=None, back_url=None)
        return web.Response(
            text=body, status=status, content_type="text/html", headers=page_headers(content_security_policy())
        )

    @staticmethod
    def _verified(context: ServiceContext, values: dict[str, str]) -> StaffCardLink:
        secret = context.settings.checkout.link_secret
        return verify_staff_card_query(secret.get_secret_value() if secret else "", values)

    async def page(self, request: web.Request) -> web.Response:
        """GET /stripe/StaffCard: the card form for the linked party."""
        services = self._provider()
        context = services.context
        query = {key: request.query.get(key, "") for key in SIGNED_KEYS}
        try:
            link = self._verified(context, query)
        except StaffLinkError as error:
            log.info("staff card link refused (%s)", error.problem)
            status = 403 if error.problem == "invalid" else 400
            return self._message(status, "This staff link cannot be used", str(error))
        gateway = context.settings.gateway(link.payment_gateway_config_id)
        if gateway is None or not gateway.publishable_key:
            unconfigured = f"No Stripe account is configured for {link.payment_gateway_config_id}."
            return self._message(400, "Cards cannot be saved here", unconfigured)
        try:
            contact = await services.cards.party_contact(link.party_id)
        except _MANTLE_PROBLEMS:
            log.exception("staff card: reading party %s failed", link.party_id)
            return self._message(503, "The customer could not be read", "Please try again in a moment.")
        if contact is None:
            return self._message(404, "Unknown customer", f"There is no party {link.party_id}.")
        body = self._renderer.render(
            "staff_card.html",
            customer_name=contact.name or link.party_id,
            customer_email=contact.email or "",
            party_id=link.party_id,
            agent_user_id=link.agent_user_id,
            moto=gateway.moto_enabled,
            publishable_key=gateway.publishable_key,
            stripe_js_url=gateway.stripe_js_url,
            save_url=STAFF_CARD_SAVE_PATH,
            page_url=f"{STAFF_CARD_PATH}?{request.query_string}",
            link_json=json.dumps(query),
            error_messages=messages_for_browser(),
            test_mode=gateway.publishable_key.startswith("pk_test_"),
            **merchant_values(context.settings.checkout),
        )
        csp = content_security_policy(stripe_origins(gateway.stripe_js_url, gateway.api_base))
        return web.Response(text=body, content_type="text/html", headers=page_headers(csp))

    async def save(self, request: web.Request) -> web.Response:
        """POST /stripe/StaffCard/save: set the card up at Stripe (MOTO when the account has it) and record it."""
        services = self._provider()
        context = services.context
        if not same_origin_post(request, context.settings.server.public_url):
            return _answer(403, "refused", "This request did not come from the staff card page.")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _answer(400, "invalid", "The request is not JSON.")
        if not isinstance(body, dict):
            return _answer(400, "invalid", "The request is not a JSON object.")
        try:
            link = self._verified(context, {key: _text(body.get(key)) for key in SIGNED_KEYS})
        except StaffLinkError as error:
            return _answer(403 if error.problem == "invalid" else 400, error.problem, str(error))
        payment_method_id = _text(body.get("paymentMethodId"))
        if not payment_method_id.startswith("pm_") or len(payment_method_id) > _PAYMENT_METHOD_ID_MAX:
            return _answer(400, "invalid", "paymentMethodId must be a Stripe PaymentMethod id (pm_...).")
        if body.get("consent") is not True:
            return _answer(400, "no_consent", "The customer's agreement to keep the card is required.")
        return await self._save(services, link, payment_method_id)

    async def _save(self, services: SavedCardServices, link: StaffCardLink, payment_method_id: str) -> web.Response:
        context = services.context
        config_id = link.payment_gateway_config_id
        settings = context.settings.gateway(config_id)
        if settings is None or config_id not in context.gateways:
            return _answer(400, "invalid", f"No Stripe account is configured for {config_id}.")
        gateway = context.gateways.get(config_id)
        client = _client_name(context)
        if client is None:
            return _answer(503, "unavailable", "The Moqui client is not configured (moqui.client_name).")
        owner = CustomerOwner(client, config_id, link.party_id)
        try:
            customer_id = await find_or_create_customer(context, services.cards, owner)
            setup = StaffCardSetup(
                customer_id=customer_id,
                payment_method_id=payment_method_id,
                moto=settings.moto_enabled,
                metadata={"partyId": link.party_id, "enteredBy": link.agent_user_id, "moquiStripeChannel": "staff"},
            )
            intent = await set_up_staff_card(gateway, setup, context.installation_id)
        except stripe.CardError as error:
            log.info("staff card for party %s declined (%s)", link.party_id, error.code)
            return _answer(402, "declined", shopper_message(error.error))
        except StripeRequestRejected as error:
            log.warning("staff card for party %s refused by Stripe: %s", link.party_id, error)
            return _answer(400, "refused", str(error))
        except stripe.StripeError:
            log.exception("staff card for party %s: Stripe could not be reached", link.party_id)
            return _answer(503, "unavailable", shopper_message({"type": "api_connection_error"}))
        except _MANTLE_PROBLEMS as error:
            log.warning("staff card for party %s: %s", link.party_id, error)
            return _answer(400, "refused", str(error))
        if intent.status == "requires_action":
            await _cancel_quietly(context, config_id, intent.id)
            return _answer(409, "needs_customer", _NEEDS_CUSTOMER)
        if intent.status != "succeeded":
            return _answer(402, "declined", shopper_message(intent.last_setup_error))
        return await self._record(services, link, intent, setup)

    async def _record(
        self, services: SavedCardServices, link: StaffCardLink, intent: stripe.SetupIntent, setup: StaffCardSetup
    ) -> web.Response:
        method = intent.payment_method
        if not isinstance(method, stripe.PaymentMethod):
            return _answer(503, "not_recorded", "Stripe did not answer with the card. Try again.")
        try:
            record = await record_saved_card(services.cards, method, link.party_id, link.payment_gateway_config_id)
        except (NotACard, *_MANTLE_PROBLEMS):
            # Saved at Stripe but not in Mantle: a repeat of the same save (same PaymentMethod) records it.
            log.exception("staff card %s saved at Stripe, recording it in Mantle failed", setup.payment_method_id)
            return _answer(503, "not_recorded", "The card was saved at Stripe but could not be recorded. Try again.")
        card = method.card
        text = (
            f"{(card.brand if card else 'Card').title()} ending {card.last4 if card else '????'}, "
            f"expiring {record.expire_date}, saved for {link.party_id}"
            f"{' as a telephone order (MOTO)' if setup.moto else ''}."
        )
        log.info(
            "staff card saved: party %s, PaymentMethod %s (Mantle %s) by %s, moto=%s",
            link.party_id,
            setup.payment_method_id,
            record.payment_method_id,
            link.agent_user_id,
            setup.moto,
        )
        return _answer(
            200,
            "saved",
            text,
            paymentMethodId=record.payment_method_id,
            stripePaymentMethodId=setup.payment_method_id,
            setupIntentId=intent.id,
            moto=setup.moto,
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _answer(status: int, outcome: str, message: str, **extra: Any) -> web.Response:
    headers = page_headers(content_security_policy())
    return web.json_response({"outcome": outcome, "message": message, **extra}, status=status, headers=headers)


async def _cancel_quietly(context: ServiceContext, config_id: str, setup_intent_id: str) -> None:
    # An unfinished SetupIntent does no harm; canceling keeps the Customer's list of attempts honest.
    try:
        await cancel_staff_setup(context.gateways.get(config_id), setup_intent_id)
    except (stripe.StripeError, StripeRequestRejected):
        log.warning("staff card: canceling SetupIntent %s failed", setup_intent_id)
