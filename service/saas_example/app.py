"""The SaaS example's pages: pricing, a fake login, the account, and the pages checkout sends the shopper back to.

How an application integrates with moqui-stripe, step by step (`_start_checkout`):

1. create the order for the logged-in customer: Mantle's `create#Order` with the plan's price (standalone here; a
   Moqui application calls its own create#Order);
2. ask for a signed checkout link: `stripe.StripeCheckoutServices.get#CheckoutUrl` with the order, the customer and
   where to go afterwards (a done page and an error page of the application);
3. redirect the browser to it; checkout authorizes the card and sends the browser to the done page, or to the error
   page with `checkoutError` (a stable code) and `checkoutMessage`;
4. on the done page, trust the database rather than the redirect: show the order as paid only when its payment is.

Each month the plan renews by charging the customer's saved card off-session (renewals.py): a scheduled run in the
app, and a "Renew now" button on the account page. A renewal the card could not pay (expired, or the bank wants the
customer) shows its recovery link there, where a real application would also e-mail it.

Sessions are a signed cookie naming a demo customer (there are no passwords: it is a demo). Every POST carries a
CSRF token bound to the browser (HMAC of a random cookie) and must come from our own origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from moqui_bridge.mantle import names
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.resources import package_path
from moqui_bridge.service import ServiceError
from service.app import APP_STATE
from service.checkout.checkout_url_service import SERVICE_NAME as GET_CHECKOUT_URL
from service.checkout.links import origin_of
from service.checkout.web_support import PageRenderer, add_static_assets, content_security_policy, page_headers
from service.context import ServiceContext
from service.money import format_amount
from service.recovery.recovery_url_service import standalone_recovery_url
from service.saas_example.renewals import Renewal, newest_saved_card, renew_customer, renew_due_plans, subscription_of
from service.saved_cards.card_links import saved_cards_url, sign_saved_cards_query

__all__ = ["CUSTOMERS", "PLANS", "RENEWALS", "SAAS_PREFIX", "VENDOR_PARTY_ID", "Customer", "Plan", "mount_saas_example"]

log = logging.getLogger(__name__)

SAAS_PREFIX: Final = "/saas"
VENDOR_PARTY_ID: Final = "SaasVendor"
PRODUCT_STORE_ID: Final = "SaasDemoStore"
RENEW_EVERY_SECONDS: Final = 60.0
# The scheduled run's function on the app (tests and the demo call it to renew at once).
RenewalRun = Callable[[], Awaitable[list[Renewal]]]
RENEWALS: Final[web.AppKey[RenewalRun]] = web.AppKey("saas_renewals")
_SESSION_COOKIE: Final = "saas_session"
_BROWSER_COOKIE: Final = "saas_browser"
_HERE = package_path("service.saas_example")
_PAID: Final = frozenset({names.PMNT_AUTHORIZED, names.PMNT_DELIVERED, names.PMNT_CONFIRMED})
_STATUS_LABELS: Final = {
    "PmntPromised": "awaiting payment",
    "PmntAuthorized": "card authorized",
    "PmntDelivered": "paid",
    "PmntConfirmed": "paid",
    "PmntDeclined": "declined",
    "PmntCancelled": "cancelled",
    "PmntVoid": "voided",
    "OrderOpen": "open",
    "OrderPlaced": "placed",
}
# What the application tells its customer for each checkout error code (the message in the URL is not shown: a
# link could put any text there).
_CHECKOUT_ERRORS: Final = {
    "canceled": "You canceled the payment. Your plan is not active yet.",
    "payment_unavailable": "The payment service was unavailable. Please try again in a few minutes.",
    "payment_not_recorded": "Your card was authorized but we could not confirm the payment. Our team will check.",
    "currency_not_accepted": "We cannot take card payments in this plan's currency.",
    "already_paid": "This order is already paid.",
    "order_not_payable": "This order can no longer be paid.",
}


@dataclass(frozen=True)
class Plan:
    """A plan on the pricing page."""

    plan_id: str
    name: str
    price: Decimal
    currency: str
    features: tuple[str, ...]

    @property
    def price_text(self) -> str:
        """The price as shown, e.g. "$29.00"."""
        return format_amount(self.price, self.currency)


@dataclass(frozen=True)
class Customer:
    """A demo customer one can log in as (the party id is what Mantle's orders carry)."""

    party_id: str
    name: str
    email: str


PLANS: Final = (
    Plan("starter", "Starter", Decimal("9.00"), "USD", ("1 project", "Email support")),
    Plan("team", "Team", Decimal("29.00"), "USD", ("10 projects", "Priority support", "Team roles")),
    Plan("business-eu", "Business (EU)", Decimal("49.00"), "EUR", ("Unlimited projects", "EU data residency")),
    Plan("tokyo", "Tokyo", Decimal("1200"), "JPY", ("A zero-decimal currency", "Charged in whole yen")),
)
CUSTOMERS: Final = (
    Customer("SaasCustAda", "Ada Lovelace", "ada@example.test"),
    Customer("SaasCustGrace", "Grace Hopper", "grace@example.test"),
)
_PLANS_BY_ID: Final = {plan.plan_id: plan for plan in PLANS}
_CUSTOMERS_BY_ID: Final = {customer.party_id: customer for customer in CUSTOMERS}


# A saved-cards link from the account page is used at once; an hour leaves time to read the page first.
SAVED_CARDS_LINK_SECONDS: Final = 3600


def _sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


class _SaasPages:
    def __init__(
        self, context: Callable[[], ServiceContext], mantle: Callable[[], MantleSide], session_secret: bytes
    ) -> None:
        self._context = context
        self._mantle = mantle
        self._secret = session_secret
        self._renderer = PageRenderer(_HERE / "templates")

    # -- sessions, CSRF and responses --------------------------------------------------------------------------

    def _customer(self, request: web.Request) -> Customer | None:
        value = request.cookies.get(_SESSION_COOKIE, "")
        party_id, _, signature = value.partition(".")
        if not signature or not hmac.compare_digest(_sign(self._secret, f"session:{party_id}"), signature):
            return None
        return _CUSTOMERS_BY_ID.get(party_id)

    def _browser_id(self, request: web.Request) -> str:
        return request.cookies.get(_BROWSER_COOKIE) or secrets.token_urlsafe(24)

    def _csrf_token(self, browser_id: str) -> str:
        return _sign(self._secret, f"csrf:{browser_id}")

    async def _checked_form(self, request: web.Request) -> Mapping[str, Any]:
        """The POSTed form, after the same-origin and CSRF checks (403 otherwise)."""
        origin = request.headers.get("Origin")
        if origin is not None and origin_of(origin + "/") != origin_of(self._base_url(request) + "/"):
            raise web.HTTPForbidden(text="Cross-site form submissions are not accepted.")
        form = await request.post()
        browser_id = request.cookies.get(_BROWSER_COOKIE, "")
        token = str(form.get("csrfToken", ""))
        if not browser_id or not hmac.compare_digest(self._csrf_token(browser_id), token):
            raise web.HTTPForbidden(text="This form has expired. Go back, reload the page and try again.")
        return form

    def _base_url(self, request: web.Request) -> str:
        public_url = self._context().settings.server.public_url
        return public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"

    def _page(self, request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
        browser_id = self._browser_id(request)
        body = self._renderer.render(
            template, customer=self._customer(request), csrf_token=self._csrf_token(browser_id), **values
        )
        response = web.Response(
            text=body, status=status, content_type="text/html", headers=page_headers(content_security_policy())
        )
        if request.cookies.get(_BROWSER_COOKIE) != browser_id:
            response.set_cookie(_BROWSER_COOKIE, browser_id, httponly=True, samesite="Lax", path=SAAS_PREFIX)
        return response

    @staticmethod
    def _redirect(location: str) -> web.Response:
        headers = page_headers(content_security_policy())
        headers["Location"] = location
        return web.Response(status=303, headers=headers)

    # -- pages -------------------------------------------------------------------------------------------------

    async def pricing(self, request: web.Request) -> web.Response:
        """GET /saas/: the plans."""
        return self._page(request, "pricing.html", plans=PLANS)

    async def login_form(self, request: web.Request) -> web.Response:
        """GET /saas/login: pick a demo customer."""
        return self._page(request, "login.html", customers=CUSTOMERS)

    async def login(self, request: web.Request) -> web.Response:
        """POST /saas/login: 'log in' as the chosen demo customer."""
        form = await self._checked_form(request)
        customer = _CUSTOMERS_BY_ID.get(str(form.get("partyId", "")))
        if customer is None:
            return self._page(request, "login.html", status=400, customers=CUSTOMERS, error="Choose a customer.")
        response = self._redirect(f"{SAAS_PREFIX}/")
        value = f"{customer.party_id}.{_sign(self._secret, f'session:{customer.party_id}')}"
        response.set_cookie(_SESSION_COOKIE, value, httponly=True, samesite="Lax", path=SAAS_PREFIX)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """POST /saas/logout."""
        await self._checked_form(request)
        response = self._redirect(f"{SAAS_PREFIX}/")
        response.del_cookie(_SESSION_COOKIE, path=SAAS_PREFIX)
        return response

    async def subscribe(self, request: web.Request) -> web.Response:
        """POST /saas/subscribe: create the order for the plan and send the customer to checkout."""
        form = await self._checked_form(request)
        customer = self._customer(request)
        if customer is None:
            return self._redirect(f"{SAAS_PREFIX}/login")
        plan = _PLANS_BY_ID.get(str(form.get("planId", "")))
        if plan is None:
            raise web.HTTPBadRequest(text="Unknown plan.")
        context = self._context()
        # Step 1: the order, through Mantle's create#Order (the plan's price is the order's total).
        created = await context.call_service(
            names.CREATE_ORDER,
            {
                "orderName": f"{plan.name} plan, monthly",
                "customerPartyId": customer.party_id,
                "vendorPartyId": VENDOR_PARTY_ID,
                "currencyUomId": plan.currency,
                "productStoreId": PRODUCT_STORE_ID,
                "grandTotal": plan.price,
            },
        )
        order_id = str(created["orderId"])
        log.info("saas example: order %s for %s (%s plan)", order_id, customer.party_id, plan.plan_id)
        return await self._start_checkout(request, context, customer, order_id)

    async def pay(self, request: web.Request) -> web.Response:
        """POST /saas/orders/{orderId}/pay: checkout again for an order not paid yet."""
        await self._checked_form(request)
        customer = self._customer(request)
        if customer is None:
            return self._redirect(f"{SAAS_PREFIX}/login")
        context = self._context()
        order_id = request.match_info["orderId"]
        await self._own_order(context, customer, order_id)
        return await self._start_checkout(request, context, customer, order_id)

    async def _start_checkout(
        self, request: web.Request, context: ServiceContext, customer: Customer, order_id: str
    ) -> web.Response:
        # Step 2: a signed link, with the pages checkout sends the browser back to. Step 3: go there.
        base = self._base_url(request)
        try:
            result = await context.call_service(
                GET_CHECKOUT_URL,
                {
                    "orderId": order_id,
                    "customerPartyId": customer.party_id,
                    "doneUrl": f"{base}{SAAS_PREFIX}/orders/{order_id}/done",
                    "errorUrl": f"{base}{SAAS_PREFIX}/orders/{order_id}/error",
                },
            )
        except ServiceError as error:
            log.error("saas example: no checkout link for order %s: %s", order_id, error)
            raise web.HTTPInternalServerError(text="Checkout is not configured.") from None
        return self._redirect(str(result["checkoutUrl"]))

    async def _own_order(self, context: ServiceContext, customer: Customer, order_id: str) -> dict[str, Any]:
        order = await context.entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
        parts = await context.entity.find(names.ORDER_PART, {"orderId": order_id, "customerPartyId": customer.party_id})
        if order is None or not parts:
            raise web.HTTPNotFound(text="No such order.")
        return order

    async def _order_view(self, context: ServiceContext, order: Mapping[str, Any]) -> dict[str, Any]:
        payments = await context.entity.find(names.PAYMENT, {"orderId": order["orderId"]}, order_by=["paymentId"])
        live = [p for p in payments if p.get("statusId") not in names.DEAD_PAYMENT_STATUSES]
        paid = sum((p["amount"] or Decimal(0) for p in live if p.get("statusId") in _PAID), start=Decimal(0))
        currency = str(order.get("currencyUomId") or "USD")
        total = order.get("grandTotal") or Decimal(0)
        return {
            "order_id": order["orderId"],
            "name": order.get("orderName") or f"Order {order['orderId']}",
            "total": format_amount(total, currency),
            "status": _STATUS_LABELS.get(str(order.get("statusId")), str(order.get("statusId"))),
            "paid": paid >= total > 0,
            "payments": [
                {
                    "payment_id": p["paymentId"],
                    "amount": format_amount(p["amount"] or Decimal(0), currency),
                    "status": _STATUS_LABELS.get(str(p.get("statusId")), str(p.get("statusId"))),
                }
                for p in payments
            ],
        }

    async def account(self, request: web.Request) -> web.Response:
        """GET /saas/account: the customer's orders and their payments."""
        customer = self._customer(request)
        if customer is None:
            return self._redirect(f"{SAAS_PREFIX}/login")
        context = self._context()
        parts = await context.entity.find(names.ORDER_PART, {"customerPartyId": customer.party_id})
        orders = []
        for order_id in sorted({str(part["orderId"]) for part in parts}, reverse=True):
            order = await context.entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
            if order is not None:
                orders.append(await self._order_view(context, order))
        subscription = await self._subscription_view(context, customer)
        return self._page(
            request,
            "account.html",
            orders=orders,
            subscription=subscription,
            saved_cards_url=self._saved_cards_url(request, context, customer),
        )

    def _saved_cards_url(self, request: web.Request, context: ServiceContext, customer: Customer) -> str | None:
        # The customer's own card list (add, remove, choose the renewals' card), signed as the application signs
        # checkout links; back to the account page when done. None when links cannot be signed.
        secret = context.settings.checkout.link_secret
        if secret is None or not secret.get_secret_value():
            return None
        base = self._base_url(request)
        query = sign_saved_cards_query(
            secret.get_secret_value(),
            customer_party_id=customer.party_id,
            done_url=f"{base}{SAAS_PREFIX}/account",
            lifetime_seconds=SAVED_CARDS_LINK_SECONDS,
        )
        return saved_cards_url(base, query)

    async def _subscription_view(self, context: ServiceContext, customer: Customer) -> dict[str, Any] | None:
        subscription = await subscription_of(context, customer.party_id)
        if subscription is None:
            return None
        saved = await newest_saved_card(context, customer.party_id)
        view: dict[str, Any] = {
            "plan": subscription.plan_name,
            "period": subscription.period,
            "next_due": subscription.next_due.strftime("%Y-%m-%d"),
            "card": saved.get("description") if saved else None,
            "recovery_url": None,
        }
        if subscription.period > 1 and not subscription.paid[-1]:
            # The renewal's card was declined: the link where the customer completes it (also what one would e-mail).
            payments = await context.entity.find(
                names.PAYMENT, {"orderId": subscription.orders[-1]["orderId"]}, order_by=["-paymentId"], limit=1
            )
            if payments:
                view["recovery_url"] = await standalone_recovery_url(context, str(payments[0]["paymentId"]))
        return view

    async def renew_now(self, request: web.Request) -> web.Response:
        """POST /saas/renew: the button: renew the customer's plan now if due, or retry its declined renewal."""
        await self._checked_form(request)
        customer = self._customer(request)
        if customer is None:
            return self._redirect(f"{SAAS_PREFIX}/login")
        context = self._context()
        await renew_customer(
            context,
            self._mantle(),
            customer.party_id,
            context.clock.now(),
            retry_declined=True,
        )
        return self._redirect(f"{SAAS_PREFIX}/account")

    async def renew_due(self) -> list[Renewal]:
        """The scheduled run: every demo customer's due renewal."""
        context = self._context()
        party_ids = tuple(customer.party_id for customer in CUSTOMERS)
        return await renew_due_plans(context, self._mantle(), party_ids, context.clock.now())

    async def done(self, request: web.Request) -> web.Response:
        """GET /saas/orders/{orderId}/done: where checkout sends the customer after paying."""
        customer = self._customer(request)
        if customer is None:
            return self._redirect(f"{SAAS_PREFIX}/login")
        context = self._context()
        # Step 4: the database says whether it is paid, not the redirect.
        order = await self._own_order(context, customer, request.match_info["orderId"])
        return self._page(request, "done.html", order=await self._order_view(context, order))

    async def error(self, request: web.Request) -> web.Response:
        """GET /saas/orders/{orderId}/error: where checkout sends the customer when it could not take the payment."""
        customer = self._customer(request)
        if customer is None:
            return self._redirect(f"{SAAS_PREFIX}/login")
        context = self._context()
        order = await self._own_order(context, customer, request.match_info["orderId"])
        code = request.query.get("checkoutError", "")
        message = _CHECKOUT_ERRORS.get(code, "The payment could not be completed. Please try again or contact us.")
        return self._page(
            request, "error.html", order=await self._order_view(context, order), message=message, code=code
        )


def mount_saas_example(
    app: web.Application,
    *,
    session_secret: str | None = None,
    root_redirect: bool = True,
    renew_every_seconds: float | None = RENEW_EVERY_SECONDS,
) -> None:
    """Add the SaaS example's pages under /saas to a standalone app made by `service.app.create_app`.

    `session_secret` signs its session cookies and CSRF tokens (random per process when not given). With
    `root_redirect`, `/` leads to the pricing page. Every `renew_every_seconds` (None: never) the due renewals are
    charged.
    """
    state = app[APP_STATE]

    def context() -> ServiceContext:
        return state.require_runtime().base_context

    secret = (session_secret or secrets.token_urlsafe(32)).encode("utf-8")
    pages = _SaasPages(context, lambda: state.require_runtime().require_mantle(), secret)
    app[RENEWALS] = pages.renew_due
    if renew_every_seconds is not None:
        app.cleanup_ctx.append(_scheduled_renewals(pages, renew_every_seconds))
    router = app.router
    router.add_get(f"{SAAS_PREFIX}/", pages.pricing)
    router.add_get(f"{SAAS_PREFIX}/login", pages.login_form)
    router.add_post(f"{SAAS_PREFIX}/login", pages.login)
    router.add_post(f"{SAAS_PREFIX}/logout", pages.logout)
    router.add_post(f"{SAAS_PREFIX}/subscribe", pages.subscribe)
    router.add_get(f"{SAAS_PREFIX}/account", pages.account)
    router.add_post(f"{SAAS_PREFIX}/renew", pages.renew_now)
    router.add_post(f"{SAAS_PREFIX}/orders/{{orderId}}/pay", pages.pay)
    router.add_get(f"{SAAS_PREFIX}/orders/{{orderId}}/done", pages.done)
    router.add_get(f"{SAAS_PREFIX}/orders/{{orderId}}/error", pages.error)
    add_static_assets(app, f"{SAAS_PREFIX}/static", _HERE / "static", ("saas.css",))

    async def to_pricing(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{SAAS_PREFIX}/")

    router.add_get(SAAS_PREFIX, to_pricing)
    if root_redirect:
        router.add_get("/", to_pricing)


def _scheduled_renewals(pages: _SaasPages, every_seconds: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """The example's scheduled run, while the app runs (a real application would use its job scheduler)."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every_seconds)
                try:
                    await pages.renew_due()
                except Exception:
                    log.exception("saas example: the scheduled renewal run failed")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run
