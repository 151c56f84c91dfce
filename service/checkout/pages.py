"""The shopper's pages: `GET /stripe/Checkout` (pay for an order) and `GET /stripe/Checkout/return` (back from
Stripe), plus their static assets under `/stripe/static/`.

Trust: nothing in a query string counts unless the link's signature covers it (`links.verify_checkout_query`). A
link that fails verification gets a page saying what happened (expired, or not valid) and is never redirected
anywhere, so the page cannot be used as an open redirect; it links back to the link's error URL only when that URL
can be trusted (the signature verified and only the expiry failed, or its origin is an allowed redirect origin).
The return handler ignores the `payment_intent*` and `redirect_status` parameters Stripe adds:
it reads the PaymentIntent linked to the order's checkout Payment from Stripe itself.

Each request holds the order's lease (order_lease.py) from reading the order to recording its payment, so a reload, a
double click or a webhook for the same order never interleave; no database connection is held while it waits for
Stripe or Moqui. A request that finds the order leased until its deadline gets the "try again" page. Where the order
lives (the local tables, or a Moqui through the component's REST resources) is the checkout side's business
(checkout_side.py). A Moqui that cannot be reached gets a page saying so, never a lost payment: an authorized
PaymentIntent is recorded by the next visit or by its webhook.

There are no POST routes: the card goes from Stripe's frame straight to Stripe, and both routes are safe to repeat
(reload, back button, double click), so there is nothing for a CSRF token to protect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import stripe
from aiohttp import web

from moqui_bridge.mantle import names
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.resources import package_path
from service.checkout.checkout_payment import prepare_checkout_payment
from service.checkout.checkout_side import MANTLE_PROBLEMS, MOQUI_UNAVAILABLE, checkout_side
from service.checkout.links import CheckoutLink, CheckoutLinkError, LinkProblem, verify_checkout_query
from service.checkout.merchant import merchant_values
from service.checkout.order_check import (
    PAID_STATUSES,
    CheckoutRefused,
    CheckoutSide,
    PayableOrder,
    gateway_unavailable,
    load_payable_order,
)
from service.checkout.order_lease import CheckoutLeaseError, order_lease
from service.checkout.order_summary import order_summary
from service.checkout.shopper_messages import messages_for_browser, shopper_message
from service.checkout.web_support import (
    PageRenderer,
    add_static_assets,
    content_security_policy,
    page_headers,
    see_other,
    stripe_origins,
)
from service.context import ServiceContext
from service.money import MoneyError, format_amount
from service.payment_services.intent_link import current_intent_id
from service.stripe_gateway.operations import StripeIntegrityError, retrieve_payment_intent
from service.stripe_gateway.outcome import StripeRequestRejected, field_value

__all__ = [
    "CHECKOUT_PATH",
    "RETURN_PATH",
    "CheckoutProvider",
    "CheckoutServices",
    "add_checkout_routes",
    "error_redirect_url",
]

log = logging.getLogger(__name__)

CHECKOUT_PATH: Final = "/stripe/Checkout"
RETURN_PATH: Final = "/stripe/Checkout/return"
STATIC_PREFIX: Final = "/stripe/static"
_HERE = package_path("service.checkout")
_SIGNED_KEYS: Final = ("orderId", "customerPartyId", "doneUrl", "errorUrl", "expires", "signature")
_AUTHORIZED_INTENT: Final = frozenset({"requires_capture", "succeeded"})
# What may go wrong talking to Stripe: unreachable (StripeError), refused or inconsistent answers, unpayable amounts.
_STRIPE_PROBLEMS: Final = (stripe.StripeError, StripeRequestRejected, StripeIntegrityError, MoneyError)
_OPEN_STATUSES: Final = frozenset({names.PMNT_PROMISED, names.PMNT_DECLINED})


@dataclass(frozen=True)
class CheckoutServices:
    """What the pages work with: the service context (database, Stripe gateways, settings) and the Mantle side."""

    context: ServiceContext
    mantle: MantleSide


CheckoutProvider = Callable[[], CheckoutServices]
"""Gives the pages their services for one request (the app's runtime exists only while it runs)."""


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def error_redirect_url(link: CheckoutLink, reason: str, message: str) -> str:
    """The link's (verified) error URL with `checkoutError` (a stable code) and `checkoutMessage` (for the shopper)."""
    return _error_url_with(link.error_url, reason, message)


def _error_url_with(error_url: str, reason: str, message: str) -> str:
    return _with_query(error_url, {"checkoutError": reason, "checkoutMessage": message})


# What a refused link's page says, by what went wrong: (checkoutError code, title, text for the shopper).
_LINK_PAGES: Final[Mapping[LinkProblem, tuple[str, str, str]]] = {
    "expired": (
        "link_expired",
        "This payment link has expired",
        "For your security, payment links work for a limited time. Nothing has been charged. "
        "Please go back and start the payment again.",
    ),
    "invalid": (
        "link_invalid",
        "This payment link is not valid",
        "The link is incomplete or has been changed. Nothing has been charged. "
        "Please go back to the shop and start the payment again.",
    ),
    "redirect_not_allowed": (
        "link_invalid",
        "This payment link cannot be used",
        "The link's return address is not allowed. Nothing has been charged.",
    ),
}


def add_checkout_routes(app: web.Application, provider: CheckoutProvider) -> None:
    """Add GET /stripe/Checkout, GET /stripe/Checkout/return and /stripe/static/* to `app` (once)."""
    if any(resource.canonical == CHECKOUT_PATH for resource in app.router.resources()):
        return
    pages = _CheckoutPages(provider)
    app.router.add_get(CHECKOUT_PATH, pages.checkout)
    app.router.add_get(RETURN_PATH, pages.checkout_return)
    add_static_assets(app, STATIC_PREFIX, _HERE / "static", ("checkout.css", "checkout.js", "payment-page.js"))


class _CheckoutPages:
    def __init__(self, provider: CheckoutProvider) -> None:
        self._provider = provider
        self._renderer = PageRenderer(_HERE / "templates")

    # -- responses ---------------------------------------------------------------------------------------------

    def _message(
        self,
        status: int,
        title: str,
        message: str,
        *,
        retry_url: str | None = None,
        back_url: str | None = None,
    ) -> web.Response:
        body = self._renderer.render(
            "message.html", title=title, message=message, retry_url=retry_url, back_url=back_url
        )
        return web.Response(
            text=body, status=status, content_type="text/html", headers=page_headers(content_security_policy())
        )

    @staticmethod
    def _redirect(url: str) -> web.Response:
        return see_other(url)

    def _refused(self, link: CheckoutLink, refused: CheckoutRefused) -> web.Response:
        log.info("checkout for order %s refused: %s", link.order_id, refused.reason)
        if refused.reason == "already_paid":
            return self._redirect(link.done_url)
        return self._redirect(error_redirect_url(link, refused.reason, refused.message))

    def _link_refused(self, error: CheckoutLinkError) -> web.Response:
        code, title, text = _LINK_PAGES[error.problem]
        back_url = _error_url_with(error.error_url, code, title) if error.error_url else None
        return self._message(400, title, text, back_url=back_url)

    def _unavailable(self, request: web.Request, link: CheckoutLink) -> web.Response:
        return self._message(
            503,
            "Payment temporarily unavailable",
            "We could not reach the payment service. Nothing has been charged twice: please try again in a moment.",
            retry_url=str(request.rel_url),
            back_url=error_redirect_url(link, "payment_unavailable", "The payment service was unavailable."),
        )

    def _not_confirmed_yet(self, request: web.Request, link: CheckoutLink, *, paid: bool) -> web.Response:
        # Back from Stripe while the order system cannot be reached. If Stripe holds the money, the webhook or the
        # next visit records it: nothing is lost and nothing is charged again.
        title, opening = (
            ("Your payment is received", "Your card was accepted, but we could not confirm your order just now.")
            if paid
            else ("We could not confirm your order yet", "We could not reach the shop to confirm your order just now.")
        )
        return self._message(
            503,
            title,
            f"{opening} If your card was accepted you will not be charged again: we will confirm your order shortly. "
            "You can also try again in a moment.",
            retry_url=str(request.rel_url),
            back_url=link.done_url,
        )

    # -- shared steps ------------------------------------------------------------------------------------------

    @staticmethod
    def _verified_link(request: web.Request, context: ServiceContext) -> CheckoutLink:
        checkout = context.settings.checkout
        secret = checkout.link_secret.get_secret_value() if checkout.link_secret is not None else ""
        query = {key: request.query.get(key, "") for key in _SIGNED_KEYS}
        return verify_checkout_query(secret, query, checkout.allowed_redirect_origins)

    @staticmethod
    def _signed_query(request: web.Request) -> dict[str, str]:
        return {key: request.query.get(key, "") for key in _SIGNED_KEYS}

    @staticmethod
    def _base_url(request: web.Request, context: ServiceContext) -> str:
        public_url = context.settings.server.public_url
        return public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"

    async def _finish_paid(
        self,
        request: web.Request,
        opened: _Opened,
        payment: dict[str, Any],
        intent: stripe.PaymentIntent,
    ) -> web.Response:
        """The PaymentIntent is authorized (or paid): have Mantle record it, place the order if configured, done.
        Called under the order's lease."""
        link, payment_id = opened.link, str(payment["paymentId"])
        try:
            # authorize#SinglePayment -> our authorize#Payment, which finds the PaymentIntent authorized.
            status = await opened.side.record_paid(payment, intent)
        except MOQUI_UNAVAILABLE as error:
            log.warning(
                "checkout: Moqui cannot record payment %s now (%s); the webhook or next visit will", payment_id, error
            )
            return self._not_confirmed_yet(request, link, paid=True)
        except MANTLE_PROBLEMS:
            log.exception("checkout: recording authorized payment %s failed", payment_id)
            status = None
        if status not in PAID_STATUSES:
            log.warning("checkout: payment %s authorized at Stripe but is %s in Mantle", payment_id, status)
            return self._redirect(
                error_redirect_url(
                    link,
                    "payment_not_recorded",
                    "Your card was authorized, but we could not record the payment. Please contact us.",
                )
            )
        log.info("checkout: order %s paid by payment %s", link.order_id, payment_id)
        return self._redirect(link.done_url)

    # -- handlers ----------------------------------------------------------------------------------------------

    def _open(self, request: web.Request, page: str) -> _Opened | web.Response:
        """The verified link and the side its order lives on, or the page that refuses them."""
        services = self._provider()
        # The request's deadline, from now: the order's lease and every Stripe wait under it end by then.
        context = services.context.for_request(None)
        try:
            link = self._verified_link(request, context)
        except CheckoutLinkError as error:
            log.info("%s link refused (%s): %s", page, error.problem, error)
            return self._link_refused(error)
        try:
            side = checkout_side(context.settings, context.entity, services.mantle)
        except CheckoutRefused as refused:
            return self._refused(link, refused)
        return _Opened(context, side, link)

    async def _payable(
        self, request: web.Request, opened: _Opened, *, returning: bool = False
    ) -> PayableOrder | web.Response:
        """The order the link pays for, or where the browser goes instead (`returning`: back from Stripe). Called
        under the order's lease."""
        context, side, link = opened.context, opened.side, opened.link
        try:
            return await load_payable_order(side, context.entity, context.settings, link)
        except CheckoutRefused as refused:
            if refused.reason == "already_paid":
                await side.place_paid_order(link.order_id)
            return self._refused(link, refused)
        except MOQUI_UNAVAILABLE as error:
            log.warning("checkout: order %s cannot be read from Moqui now: %s", link.order_id, error)
            if returning:
                return self._not_confirmed_yet(request, link, paid=False)
            return self._unavailable(request, link)
        except MANTLE_PROBLEMS as error:
            log.error("checkout: order %s cannot be read: %s", link.order_id, error)
            return self._refused(link, gateway_unavailable())

    async def checkout(self, request: web.Request) -> web.Response:
        """GET /stripe/Checkout: the order summary and the Payment Element for its PaymentIntent."""
        opened = self._open(request, "checkout")
        if isinstance(opened, web.Response):
            return opened
        context, link = opened.context, opened.link
        try:
            async with opened.lease("the checkout page"):
                payable = await self._payable(request, opened)
                if isinstance(payable, web.Response):
                    return payable
                try:
                    prepared = await prepare_checkout_payment(context, opened.side, payable)
                except _STRIPE_PROBLEMS:
                    log.exception("checkout: preparing the PaymentIntent for order %s failed", link.order_id)
                    return self._unavailable(request, link)
                except MOQUI_UNAVAILABLE as error:
                    log.warning("checkout: Moqui unavailable to add the payment of order %s: %s", link.order_id, error)
                    return self._unavailable(request, link)
                except MANTLE_PROBLEMS as error:
                    log.warning("checkout: no payment could be made for order %s: %s", link.order_id, error)
                    return self._redirect(
                        error_redirect_url(
                            link, "payment_not_created", "We could not start the payment for this order."
                        )
                    )
                intent = prepared.intent
                if intent.status in _AUTHORIZED_INTENT:
                    return await self._finish_paid(request, opened, prepared.payment, intent)
        except CheckoutLeaseError as error:
            log.warning("checkout: %s", error)
            return self._unavailable(request, link)
        if intent.status == "processing":
            return self._processing(link)
        return self._render_checkout(request, context, link, payable, intent)

    def _processing(self, link: CheckoutLink) -> web.Response:
        return self._message(
            200,
            "Your payment is processing",
            "Your bank is still processing the payment. We will confirm your order as soon as it completes.",
            back_url=link.done_url,
        )

    def _render_checkout(
        self,
        request: web.Request,
        context: ServiceContext,
        link: CheckoutLink,
        payable: PayableOrder,
        intent: stripe.PaymentIntent,
    ) -> web.Response:
        gateway = payable.gateway
        base = self._base_url(request, context)
        return_url = f"{base}{RETURN_PATH}?{urlencode(self._signed_query(request))}"
        initial_error = ""
        last_error = field_value(intent, "last_payment_error")
        if intent.status == "requires_payment_method" and last_error:
            # Back from a failed 3-D Secure challenge (or a reload after a decline): say why in the shopper's words.
            initial_error = shopper_message(last_error)
        body = self._renderer.render(
            "checkout.html",
            order_name=payable.order_name,
            order_id=payable.order_id,
            amount_due=format_amount(payable.amount_due, payable.currency),
            publishable_key=gateway.publishable_key,
            client_secret=intent.client_secret,
            return_url=return_url,
            stripe_js_url=gateway.stripe_js_url,
            initial_error=initial_error,
            error_messages=messages_for_browser(),
            cancel_url=error_redirect_url(link, "canceled", "The payment was canceled."),
            test_mode=gateway.publishable_key.startswith("pk_test_"),
            summary=order_summary(payable),
            **merchant_values(context.settings.checkout),
        )
        csp = content_security_policy(stripe_origins(gateway.stripe_js_url, gateway.api_base))
        return web.Response(text=body, content_type="text/html", headers=page_headers(csp))

    async def checkout_return(self, request: web.Request) -> web.Response:
        """GET /stripe/Checkout/return: where Stripe sends the browser after confirmPayment (and 3-D Secure)."""
        opened = self._open(request, "checkout return")
        if isinstance(opened, web.Response):
            return opened
        context, side, link = opened.context, opened.side, opened.link
        back_to_checkout = self._redirect(f"{CHECKOUT_PATH}?{urlencode(self._signed_query(request))}")
        try:
            async with opened.lease("the checkout return page"):
                payable = await self._payable(request, opened, returning=True)
                if isinstance(payable, web.Response):
                    return payable
                for payment in payable.checkout_payments:
                    intent_id = await current_intent_id(context.entity, side.client_name, payment)
                    if intent_id is None or payment.get("statusId") not in _OPEN_STATUSES:
                        continue
                    try:
                        gateway = context.gateways.get(payable.payment_gateway_config_id)
                        intent = await retrieve_payment_intent(gateway, intent_id)
                    except _STRIPE_PROBLEMS:
                        log.exception(
                            "checkout return: reading PaymentIntent of payment %s failed", payment["paymentId"]
                        )
                        return self._unavailable(request, link)
                    if intent.status in _AUTHORIZED_INTENT:
                        return await self._finish_paid(request, opened, payment, intent)
                    if intent.status == "processing":
                        return self._processing(link)
                    # Declined, 3-D Secure failed, or not confirmed yet: the checkout page shows why, takes another
                    # card.
                    return back_to_checkout
        except CheckoutLeaseError as error:
            # Most likely the webhook is recording this very payment: the shopper is told it will be confirmed.
            log.warning("checkout return: %s", error)
            return self._not_confirmed_yet(request, link, paid=False)
        return back_to_checkout


@dataclass(frozen=True)
class _Opened:
    """A request whose link verified: the service context, the side its order lives on, and the link."""

    context: ServiceContext
    side: CheckoutSide
    link: CheckoutLink

    def lease(self, what: str) -> AbstractAsyncContextManager[None]:
        """The order's lease for the rest of the request (until the request's deadline); `what` names the page."""
        context = self.context
        return order_lease(
            context.entity, self.link.order_id, context.deadline, holder_key=context.liveness_key, what=what
        )
