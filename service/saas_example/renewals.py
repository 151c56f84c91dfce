"""The example's monthly renewals: each period, the plan's next order is charged to the customer's saved card,
off-session, through Mantle's rules (create#Order, add#OrderPartPayment with the card's PaymentMethod, place#Order,
which authorizes through the store's gateway: authorize-and-capture here, so a renewal is charged at once).

A subscription is what the customer's plan orders say (the example keeps no table of its own): it started with the
first plan order that was paid, period N is the customer's Nth plan order, and period N+1 is due RENEWAL_PERIOD after
period N began (the start plus N periods, by the service's clock, service/clock.py, so tests can move time).

A renewal whose card is declined (expired, or the bank wants the customer's authentication) leaves its order unpaid:
the example shows the recovery link (get#RecoveryUrl) on the account page, where the customer completes the payment
(and the card they pay with there becomes their saved card). The scheduled run opens no other period meanwhile; the
"Renew now" button authorizes the declined renewal again, with the customer's newest saved card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.mantle import names
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.service import ServiceError
from service.context import ServiceContext
from service.named_lease import named_lease
from service.recovery.recovery_url_service import standalone_recovery_url
from service.row_lease import LeaseUnavailable

__all__ = [
    "PLAN_ORDER_SUFFIX",
    "RENEWAL_CONFIG_ID",
    "RENEWAL_PERIOD",
    "RENEWAL_STORE_ID",
    "Renewal",
    "Subscription",
    "newest_saved_card",
    "renew",
    "renew_customer",
    "renew_due_plans",
    "subscription_of",
]

log = logging.getLogger(__name__)

PLAN_ORDER_SUFFIX: Final = " plan, monthly"
RENEWAL_PERIOD: Final = timedelta(days=30)
# The example's store that charges at once (demo_data.xml): its gateway is StripeGatewayAuthCapture.
RENEWAL_STORE_ID: Final = "SaasDemoStoreCharge"
RENEWAL_CONFIG_ID: Final = "StripeGatewayAuthCapture"
VENDOR_PARTY_ID: Final = "SaasVendor"
_PAID: Final = frozenset({names.PMNT_AUTHORIZED, names.PMNT_DELIVERED, names.PMNT_CONFIRMED})


@dataclass(frozen=True)
class Subscription:
    """A customer's plan as its orders tell it: the plan's name, price and currency, the orders (oldest first)."""

    customer_party_id: str
    plan_name: str
    price: Decimal
    currency: str
    orders: tuple[dict[str, Any], ...]
    paid: tuple[bool, ...]

    @property
    def started(self) -> datetime:
        """When the first period began (the first plan order's entry)."""
        return self.orders[0]["entryDate"]  # type: ignore[no-any-return]

    @property
    def period(self) -> int:
        """The number of the current period (1 for the first)."""
        return len(self.orders)

    @property
    def next_due(self) -> datetime:
        """When the next period begins and its renewal is charged."""
        return self.started + self.period * RENEWAL_PERIOD


@dataclass(frozen=True)
class Renewal:
    """What one renewal did: the period's order and payment, the payment's status, and the recovery link when the
    customer has to complete it."""

    customer_party_id: str
    period: int
    order_id: str
    payment_id: str | None
    status_id: str | None
    recovery_url: str | None = None
    message: str | None = None

    @property
    def paid(self) -> bool:
        """Whether the period is paid."""
        return self.status_id in _PAID


async def newest_saved_card(context: ServiceContext, party_id: str) -> dict[str, Any] | None:
    """The customer's newest card saved at Stripe (a current Mantle PaymentMethod with a gatewayCimId) under the
    renewals' gateway config, or None."""
    methods = await context.entity.find(
        names.PAYMENT_METHOD,
        {
            "ownerPartyId": party_id,
            "paymentMethodTypeEnumId": names.PMT_CREDIT_CARD,
            "paymentGatewayConfigId": RENEWAL_CONFIG_ID,
            "thruDate": None,
        },
        order_by=["-fromDate", "-paymentMethodId"],
    )
    return next((method for method in methods if method.get("gatewayCimId")), None)


async def _payments(context: ServiceContext, order_id: str) -> list[dict[str, Any]]:
    return await context.entity.find(names.PAYMENT, {"orderId": order_id}, order_by=["paymentId"])


async def subscription_of(context: ServiceContext, party_id: str) -> Subscription | None:
    """The customer's subscription, or None when no plan order of theirs was ever paid."""
    entity = context.entity
    parts = await entity.find(names.ORDER_PART, {"customerPartyId": party_id})
    orders = []
    for order_id in {str(part["orderId"]) for part in parts}:
        order = await entity.find_one(names.ORDER_HEADER, {"orderId": order_id})
        if order is not None and str(order.get("orderName") or "").endswith(PLAN_ORDER_SUFFIX):
            orders.append(order)
    orders.sort(key=lambda order: (order["entryDate"], order["orderId"]))
    paid = []
    for order in orders:
        paid.append(any(p.get("statusId") in _PAID for p in await _payments(context, str(order["orderId"]))))
    # Checkout attempts never paid before the first payment are no period of the subscription.
    while orders and not paid[0]:
        orders.pop(0)
        paid.pop(0)
    if not orders:
        return None
    first = orders[0]
    return Subscription(
        customer_party_id=party_id,
        plan_name=str(first["orderName"]).removesuffix(PLAN_ORDER_SUFFIX),
        price=first["grandTotal"],
        currency=str(first["currencyUomId"]),
        orders=tuple(orders),
        paid=tuple(paid),
    )


async def renew(
    context: ServiceContext,
    mantle: MantleSide,
    subscription: Subscription,
    now: datetime,
    *,
    retry_declined: bool = False,
) -> Renewal | None:
    """Charge the subscription's next period when it is due; with `retry_declined`, authorize its declined renewal
    again (with the customer's newest saved card). None when nothing is due or left as it is."""
    party_id = subscription.customer_party_id
    saved = await newest_saved_card(context, party_id)
    latest = subscription.orders[-1]
    if subscription.period > 1 and not subscription.paid[-1]:
        # The period's renewal waits for the customer (the recovery link), or for the button to try again.
        if not retry_declined:
            return None
        card = str(saved["paymentMethodId"]) if saved else None
        return await _retry(context, mantle, subscription, str(latest["orderId"]), card)
    if now < subscription.next_due:
        return None
    period = subscription.period + 1
    if not saved:
        return Renewal(party_id, period, "", None, None, message="No saved card: the customer must pay by checkout.")
    created = await context.call_service(
        names.CREATE_ORDER,
        {
            "orderName": f"{subscription.plan_name}{PLAN_ORDER_SUFFIX}",
            "customerPartyId": party_id,
            "vendorPartyId": VENDOR_PARTY_ID,
            "currencyUomId": subscription.currency,
            "productStoreId": RENEWAL_STORE_ID,
            "grandTotal": subscription.price,
        },
    )
    order_id, part_seq_id = str(created["orderId"]), str(created["orderPartSeqId"])
    payment_id = await mantle.add_order_part_payment(
        order_id, part_seq_id, None, str(saved["paymentMethodId"]), RENEWAL_CONFIG_ID
    )
    # place#Order authorizes the order's payments through the store's gateway: authorize-and-capture, off-session.
    await mantle.place_order(order_id)
    return await _outcome(context, party_id, period, order_id, payment_id)


async def _retry(
    context: ServiceContext,
    mantle: MantleSide,
    subscription: Subscription,
    order_id: str,
    card: str | None,
) -> Renewal:
    period = subscription.period
    declined = [p for p in await _payments(context, order_id) if p.get("statusId") == names.PMNT_DECLINED]
    if not declined:
        return await _outcome(context, subscription.customer_party_id, period, order_id, None)
    payment = declined[-1]
    payment_id = str(payment["paymentId"])
    if card is not None and payment.get("paymentMethodId") != card:
        # The customer saved another card since: Mantle authorizes the payment with it (update#Payment).
        await context.entity.update(names.PAYMENT, {"paymentId": payment_id}, {"paymentMethodId": card})
    try:
        await mantle.authorize_payment(payment_id)
    except ServiceError as error:
        log.warning("saas example: retrying payment %s failed: %s", payment_id, error)
    return await _outcome(context, subscription.customer_party_id, period, order_id, payment_id)


async def _outcome(
    context: ServiceContext, party_id: str, period: int, order_id: str, payment_id: str | None
) -> Renewal:
    payments = await _payments(context, order_id)
    payment = next((p for p in payments if str(p["paymentId"]) == payment_id), payments[-1] if payments else None)
    if payment is None:
        return Renewal(party_id, period, order_id, None, None)
    status = payment.get("statusId")
    recovery = None
    if status == names.PMNT_DECLINED:
        recovery = await standalone_recovery_url(context, str(payment["paymentId"]))
    renewal = Renewal(party_id, period, order_id, str(payment["paymentId"]), status, recovery)
    log.info("saas example: %s period %s, order %s: %s", party_id, period, order_id, status)
    return renewal


async def renew_customer(
    context: ServiceContext,
    mantle: MantleSide,
    party_id: str,
    now: datetime,
    *,
    retry_declined: bool = False,
) -> Renewal | None:
    """`renew` the customer's subscription, if any, under the lease of the customer's renewals (a named lease,
    service/named_lease.py: no database connection held while Stripe is called, the work cut off at the deadline of
    `context`): the button and the scheduled run at the same moment open one period, not two. None as well when
    another renewal of the customer held the lease until the deadline (that one renews it), or when Mantle did not
    finish by then (what it did stays, as after any failed charge: the account page shows it, the button retries)."""
    name, what = f"saas-renewal:{party_id}", f"the renewal of {party_id}'s plan"
    try:
        async with named_lease(context.entity, name, context.deadline, holder_key=context.liveness_key, what=what):
            subscription = await subscription_of(context, party_id)
            if subscription is None:
                return None
            return await renew(context, mantle, subscription, now, retry_declined=retry_declined)
    except LeaseUnavailable as error:
        log.warning("saas example: %s", error)
        return None


async def renew_due_plans(
    context: ServiceContext, mantle: MantleSide, party_ids: tuple[str, ...], now: datetime
) -> list[Renewal]:
    """The scheduled run: every customer's due renewal (or unpaid renewal retried)."""
    renewals = []
    for party_id in party_ids:
        renewal = await renew_customer(context, mantle, party_id, now)
        if renewal is not None:
            renewals.append(renewal)
    return renewals
