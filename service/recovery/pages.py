"""The recovery page: `GET /stripe/Recover` (a signed link from an authorize answer) and
`POST /stripe/Recover/confirm` (pay with the saved card, authenticating if the bank asks).

An off-session charge that was declined, or needs the customer's authentication, leaves its PaymentIntent
`requires_payment_method` (Stripe: docs.stripe.com/payments/save-and-reuse, "Charge the saved payment method later":
"notify your customer to return to your application to complete the payment"). The page shows what is owed and
offers two ways to pay that same PaymentIntent:

- the saved card (the one the decline names, `last_payment_error.payment_method`): confirmed on-session from the
  server with a `return_url`, so a card that insists on 3-D Secure answers `next_action.redirect_to_url` and the
  browser is sent to the bank's challenge, which returns to this page;
- another card, in Stripe's Payment Element (the checkout's script, confirmPayment with `return_url` this page).

Whenever the page finds the PaymentIntent authorized or paid, the payment is recorded once: for the standalone client
by Mantle's authorize#SinglePayment here, for the configured Moqui's client by the same service in Moqui (its REST
API); another client (an integrator calling the gateway API) records it with its next authorize of the payment,
which finds the PaymentIntent authorized and charges nothing. Reloading, going back and double clicks are safe: the
confirm runs under an advisory lock per PaymentIntent, reads the PaymentIntent first, and its idempotency key is
made from the PaymentIntent and the failure it answers, so a repeated POST is a repeated request at Stripe.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Final
from urllib.parse import urlencode

import stripe
from aiohttp import web

from moqui_bridge.entity import advisory_lock
from moqui_bridge.mantle import names
from moqui_bridge.mantle.party_cards import LocalPartyCards
from moqui_bridge.moqui_rest_client import MoquiRestError
from moqui_bridge.resources import package_path
from moqui_bridge.service import ServiceError
from service.checkout.links import CheckoutLinkError, origin_of
from service.checkout.pages import CheckoutProvider, CheckoutServices
from service.checkout.shopper_messages import messages_for_browser, shopper_message
from service.checkout.web_support import (
    PageRenderer,
    content_security_policy,
    page_headers,
    see_other,
    stripe_origins,
)
from service.context import STANDALONE_CLIENT
from service.money import MoneyError, format_amount, from_minor_units
from service.payment_services.intent_link import required_link
from service.recovery.links import RECOVERY_PATH, SIGNED_KEYS, RecoveryLink, verify_recovery_query
from service.saved_cards.card_records import record_saved_card
from service.saved_cards.stripe_cards import set_card_saving
from service.stripe_gateway.idempotency import idempotency_key
from service.stripe_gateway.operations import (
    StripeIntegrityError,
    confirm_payment_intent,
    retrieve_payment_intent,
    retrieve_payment_method,
)
from service.stripe_gateway.outcome import AUTHENTICATION_REQUIRED, StripeRequestRejected, field_value

__all__ = ["CONFIRM_PATH", "add_recovery_routes"]

log = logging.getLogger(__name__)

CONFIRM_PATH: Final = f"{RECOVERY_PATH}/confirm"
_HERE = package_path("service.recovery")
_AUTHORIZED: Final = frozenset({"requires_capture", "succeeded"})
_CONFIRMABLE: Final = frozenset({"requires_payment_method", "requires_confirmation"})
_RECORDED: Final = frozenset({names.PMNT_AUTHORIZED, names.PMNT_DELIVERED, names.PMNT_CONFIRMED})
_STRIPE_PROBLEMS: Final = (stripe.StripeError, StripeRequestRejected, StripeIntegrityError, MoneyError)
_MANTLE_PROBLEMS: Final = (ServiceError, MoquiRestError)


def add_recovery_routes(app: web.Application, provider: CheckoutProvider) -> None:
    """Add GET /stripe/Recover and POST /stripe/Recover/confirm to `app` (the checkout's static assets serve it)."""
    pages = _RecoveryPages(provider)
    app.router.add_get(RECOVERY_PATH, pages.show)
    app.router.add_post(CONFIRM_PATH, pages.confirm)


class _Opened:
    """A verified link, its services and the PaymentIntent as Stripe has it now."""

    def __init__(self, services: CheckoutServices, link: RecoveryLink, intent: stripe.PaymentIntent) -> None:
        self.services = services
        self.link = link
        self.intent = intent


class _RecoveryPages:
    def __init__(self, provider: CheckoutProvider) -> None:
        self._provider = provider
        self._renderer = PageRenderer(_HERE / "templates", package_path("service.checkout") / "templates")

    # -- responses ---------------------------------------------------------------------------------------------

    def _message(self, status: int, title: str, message: str, *, retry_url: str | None = None) -> web.Response:
        # The checkout's message page (its base template too: one look for every payment page).
        body = self._renderer.render("message.html", title=title, message=message, retry_url=retry_url, back_url=None)
        return web.Response(
            text=body, status=status, content_type="text/html", headers=page_headers(content_security_policy())
        )

    @staticmethod
    def _page_url(request: web.Request, services: CheckoutServices, query: dict[str, str]) -> str:
        public_url = services.context.settings.server.public_url
        base = public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"
        return f"{base}{RECOVERY_PATH}?{urlencode(query)}"

    # -- shared steps ------------------------------------------------------------------------------------------

    async def _open(self, request: web.Request, query: dict[str, str]) -> _Opened | web.Response:
        services = self._provider()
        context = services.context
        secret = context.settings.checkout.link_secret
        try:
            link = verify_recovery_query(secret.get_secret_value() if secret else "", query)
            await required_link(
                context.entity,
                link.client_name,
                link.payment_gateway_config_id,
                link.payment_id,
                link.payment_intent_id,
            )
            gateway = context.gateways.get(link.payment_gateway_config_id)
        except CheckoutLinkError as error:
            log.info("recovery link refused (%s): %s", error.problem, error)
            if error.problem == "expired":
                return self._message(
                    400,
                    "This payment link has expired",
                    "Nothing has been charged. Please ask for a new link to complete your payment.",
                )
            return self._invalid()
        except (ServiceError, KeyError):
            return self._invalid()
        try:
            intent = await retrieve_payment_intent(gateway, link.payment_intent_id)
        except _STRIPE_PROBLEMS:
            log.exception("recovery: reading PaymentIntent %s failed", link.payment_intent_id)
            return self._unavailable(request)
        return _Opened(services, link, intent)

    def _invalid(self) -> web.Response:
        return self._message(
            400,
            "This payment link is not valid",
            "The link is incomplete or has been changed. Nothing has been charged.",
        )

    def _unavailable(self, request: web.Request) -> web.Response:
        retry = f"{RECOVERY_PATH}?{urlencode({key: request.query.get(key, '') for key in SIGNED_KEYS})}"
        return self._message(
            503,
            "Payment temporarily unavailable",
            "We could not reach the payment service. Nothing has been charged twice: please try again in a moment.",
            retry_url=retry,
        )

    async def _record(self, opened: _Opened) -> web.Response:
        """The PaymentIntent is authorized or paid: have its client's Mantle record it, and say so."""
        link, services = opened.link, opened.services
        settings = services.context.settings
        mantle_client = settings.moqui_client_name() if settings.moqui.base_url else STANDALONE_CLIENT
        if link.client_name == mantle_client:
            try:
                await self._authorize_in_mantle(services, link)
                if link.client_name == STANDALONE_CLIENT:
                    await self._keep_new_card(opened)
            except _STRIPE_PROBLEMS:
                log.exception("recovery: the card payment %s was made with could not be read", link.payment_id)
            except _MANTLE_PROBLEMS:
                log.exception("recovery: recording payment %s failed", link.payment_id)
                return self._message(
                    200,
                    "Your payment went through",
                    "Your card was charged, but we could not record the payment yet. We will check it; there is "
                    "no need to pay again.",
                )
        amount = from_minor_units(opened.intent.amount, opened.intent.currency)
        return self._message(
            200,
            "Thank you, your payment is complete",
            f"{format_amount(amount, opened.intent.currency.upper())} was paid. You can close this page.",
        )

    @staticmethod
    async def _authorize_in_mantle(services: CheckoutServices, link: RecoveryLink) -> None:
        # authorize#SinglePayment -> authorize#Payment, which names this PaymentIntent (the one its decline left) and
        # finds it authorized: recorded, never charged again. Standalone, a Payment already recorded is left alone;
        # Moqui's Mantle allows authorizing an authorized Payment again ("allow for re-auth"), which charges nothing.
        entity = services.context.entity
        async with (
            entity.admission("checkout", 2),
            entity.transaction() as connection,
            advisory_lock(connection, f"recovery-payment:{link.payment_id}"),
        ):
            if link.client_name == STANDALONE_CLIENT:
                payment = await entity.find_one(names.PAYMENT, {"paymentId": link.payment_id})
                if payment is not None and payment.get("statusId") in _RECORDED:
                    return
            result = await services.mantle.authorize_payment(link.payment_id)
        log.info("recovery: payment %s recorded as %s", link.payment_id, result.status_id)

    async def _keep_new_card(self, opened: _Opened) -> None:
        """Standalone: a card the customer paid with here and Stripe saved to their Customer becomes their Mantle
        PaymentMethod too (saved-cards' record), so the next off-session charge uses it."""
        link, context = opened.link, opened.services.context
        method_id = field_value(opened.intent, "payment_method")
        method_id = method_id if isinstance(method_id, str) else field_value(method_id, "id")
        payment = await context.entity.find_one(names.PAYMENT, {"paymentId": link.payment_id})
        if payment is None or not method_id or not payment.get("fromPartyId"):
            return
        method = await retrieve_payment_method(context.gateways.get(link.payment_gateway_config_id), str(method_id))
        if field_value(method, "customer") is None:
            return
        cards = LocalPartyCards(lambda: context)
        await record_saved_card(cards, method, str(payment["fromPartyId"]), link.payment_gateway_config_id)

    # -- handlers ----------------------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        """GET /stripe/Recover: the amount owed, the saved card and the Payment Element; or the outcome."""
        opened = await self._open(request, {key: request.query.get(key, "") for key in SIGNED_KEYS})
        if isinstance(opened, web.Response):
            return opened
        intent = opened.intent
        if intent.status in _AUTHORIZED:
            return await self._record(opened)
        if intent.status == "processing":
            return self._message(
                200, "Your payment is processing", "Your bank is still processing the payment. Nothing more to do."
            )
        if intent.status == "canceled":
            return self._message(
                410,
                "This payment can no longer be completed",
                "It was canceled. Nothing has been charged. Please contact us if you still want to pay.",
            )
        customer = field_value(opened.intent, "customer")
        if isinstance(customer, str) and opened.intent.setup_future_usage != "off_session":
            # Paid with another card, that card becomes the saved one for the next off-session charges (the page
            # says so beside the card form).
            context = opened.services.context
            try:
                opened.intent = await set_card_saving(
                    context.gateways.get(opened.link.payment_gateway_config_id),
                    opened.link.payment_intent_id,
                    customer,
                    save=True,
                )
            except _STRIPE_PROBLEMS:
                log.exception("recovery: PaymentIntent %s could not be set to save its card", opened.intent.id)
                return self._unavailable(request)
        return self._render(request, opened)

    def _render(self, request: web.Request, opened: _Opened) -> web.Response:
        intent, link, services = opened.intent, opened.link, opened.services
        gateway = services.context.settings.gateway(link.payment_gateway_config_id)
        if gateway is None:
            return self._invalid()
        query = {key: request.query.get(key, "") for key in SIGNED_KEYS}
        error = field_value(intent, "last_payment_error")
        saved = _saved_card(intent)
        amount = format_amount(from_minor_units(intent.amount, intent.currency), intent.currency.upper())
        body = self._renderer.render(
            "recovery.html",
            amount_due=amount,
            payment_id=link.payment_id,
            reason=shopper_message(error) if error else "",
            saved_card=saved,
            signed=query,
            publishable_key=gateway.publishable_key or "",
            client_secret=intent.client_secret,
            return_url=self._page_url(request, services, query),
            stripe_js_url=gateway.stripe_js_url,
            error_messages=messages_for_browser(),
            saves_card=intent.setup_future_usage == "off_session",
        )
        origins = stripe_origins(gateway.stripe_js_url, gateway.api_base)
        # The saved-card form's answer redirects to the bank's challenge, which Stripe hosts (next_action
        # redirect_to_url on hooks.stripe.com; the stand-in's own origin): browsers hold redirects of a form
        # submission to form-action too.
        csp = content_security_policy(origins, form_action=" ".join(("'self'", *origins["frame"])))
        return web.Response(text=body, content_type="text/html", headers=page_headers(csp))

    async def confirm(self, request: web.Request) -> web.Response:
        """POST /stripe/Recover/confirm: pay with the saved card on-session; 3-D Secure by redirect when asked."""
        origin = request.headers.get("Origin")
        if origin is not None and origin_of(origin + "/") != origin_of(f"{request.scheme}://{request.host}/"):
            services = self._provider()
            public = services.context.settings.server.public_url
            if not public or origin_of(origin + "/") != origin_of(public):
                raise web.HTTPForbidden(text="Cross-site form submissions are not accepted.")
        form = await request.post()
        query = {key: str(form.get(key, "")) for key in SIGNED_KEYS}
        opened = await self._open(request, query)
        if isinstance(opened, web.Response):
            return opened
        page = self._page_url(request, opened.services, query)
        context = opened.services.context
        async with (
            context.entity.transaction() as connection,
            advisory_lock(connection, f"recovery:{opened.link.payment_intent_id}"),
        ):
            try:
                intent = await retrieve_payment_intent(
                    context.gateways.get(opened.link.payment_gateway_config_id), opened.link.payment_intent_id
                )
                if intent.status in _CONFIRMABLE:
                    intent = await self._confirm_saved_card(opened, intent, page)
            except stripe.CardError:
                # Declined again (recorded on the PaymentIntent): the page says why and offers another card.
                return see_other(page)
            except _STRIPE_PROBLEMS:
                log.exception("recovery: confirming PaymentIntent %s failed", opened.link.payment_intent_id)
                return self._unavailable(request)
        redirect = field_value(field_value(intent, "next_action"), "redirect_to_url")
        if intent.status == "requires_action" and field_value(redirect, "url"):
            return see_other(str(field_value(redirect, "url")))
        return see_other(page)

    async def _confirm_saved_card(
        self, opened: _Opened, intent: stripe.PaymentIntent, page: str
    ) -> stripe.PaymentIntent:
        saved = _saved_card(intent)
        if saved is None:
            return intent
        context = opened.services.context
        # One key per PaymentIntent and failure answered: a repeated POST repeats the request, a new failure is new.
        error = field_value(intent, "last_payment_error")
        state = "|".join(str(field_value(error, key) or "") for key in ("code", "decline_code", "charge"))
        digest = hashlib.sha256(f"{intent.id}|{saved['id']}|{state}".encode()).hexdigest()[:32]
        confirmed = await confirm_payment_intent(
            context.gateways.get(opened.link.payment_gateway_config_id),
            str(intent.id),
            {"payment_method": saved["id"], "return_url": page},
            amount=from_minor_units(intent.amount, intent.currency),
            currency=intent.currency.upper(),
            idempotency_key=idempotency_key(context.installation_id, f"recovery-{digest}"),
        )
        return confirmed.as_object(stripe.PaymentIntent)


def _saved_card(intent: stripe.PaymentIntent) -> dict[str, Any] | None:
    """The card the charge used (Stripe names it in `last_payment_error.payment_method`) when paying with it again can
    succeed: it is saved to a Customer (only a saved card can be charged again) and it failed for want of the
    customer's authentication, not for a decline (an expired card stays expired). Its id, brand and last four."""
    error = field_value(intent, "last_payment_error")
    if error is not None and AUTHENTICATION_REQUIRED not in {
        field_value(error, "code"),
        field_value(error, "decline_code"),
    }:
        return None
    method = field_value(error, "payment_method") or field_value(intent, "payment_method")
    if not field_value(method, "customer"):
        return None
    card = field_value(method, "card")
    return {
        "id": str(field_value(method, "id")),
        "brand": str(field_value(card, "brand") or "card").title(),
        "last4": str(field_value(card, "last4") or ""),
    }
