"""Which order a verified checkout link may pay, through which gateway, and how much is still to pay.

The rules (docs/checkout.md, "What can be paid"):

- the order exists and is `OrderOpen`, or `OrderPlaced` but not fully paid;
- it has a part whose `customerPartyId` is the customer the link names (the first such part, by `orderPartSeqId`,
  that still has something to pay);
- the gateway is the product store's `ProductStorePaymentGateway` for `PiCreditCard`, else
  `checkout.default_gateway_config_id`, and it must be a PaymentGatewayConfig with Stripe credentials and a
  publishable key in our configuration;
- the order's currency is one Stripe takes and, when `stripe.StripeGatewaySettings.currencyUomIds` lists any, one of
  those;
- what is still to pay is the part's total less its Payments that may still move money: every Payment of the part
  except refunds and those Cancelled, Void or Declined (they moved nothing), and except the checkout's own Promised
  Payment, which is what the shopper is about to pay with.

A refusal is a `CheckoutRefused` with a stable `reason` code (sent to the error URL) and a message safe to show.

The rules read the order through a `CheckoutSide` (service/checkout/checkout_side.py): the local tables standalone,
or the component's order read resource when a Moqui is configured. Which currencies a gateway takes is the service's
own setting (`stripe.StripeGatewaySettings` in its database) either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Protocol

import stripe

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.checkout.links import CheckoutLink
from service.config import GatewaySettings, Settings
from service.money import InvalidCurrency, MoneyError, stripe_currency, to_minor_units
from service.payment_services.intent_link import PAYMENT_INTENT_LINK
from service.payment_services.payment_subject import accepted_currencies

__all__ = [
    "AUTHORIZE_AND_CAPTURE_SERVICE",
    "PAID_STATUSES",
    "CheckoutRefused",
    "CheckoutSide",
    "OrderSnapshot",
    "PayableOrder",
    "checkout_payments",
    "gateway_unavailable",
    "load_payable_order",
]

Record = dict[str, Any]

# The authorize service name that means "charge at once" (so the checkout's PaymentIntent captures automatically).
AUTHORIZE_AND_CAPTURE_SERVICE: Final = "stripe.StripePaymentServices.authorizeAndCapture#Payment"
GATEWAY_SETTINGS: Final = "stripe.StripeGatewaySettings"
_PAYABLE_ORDER_STATUSES: Final = frozenset({names.ORDER_OPEN, names.ORDER_PLACED})
PAID_STATUSES: Final = frozenset({names.PMNT_AUTHORIZED, names.PMNT_DELIVERED, names.PMNT_CONFIRMED})
# A checkout Payment the page may still pay with: promised, or declined by an earlier card (its PaymentIntent takes
# another card).
_OPEN_CHECKOUT_STATUSES: Final = frozenset({names.PMNT_PROMISED, names.PMNT_DECLINED})


class CheckoutRefused(Exception):
    """The order cannot be paid through this link; `reason` is a stable code, the message is for the shopper."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class OrderSnapshot:
    """What the checkout reads of an order, wherever Mantle's rows live."""

    order: Record
    parts: tuple[Record, ...]
    # Every Payment of the order, newest first.
    payments: tuple[Record, ...]
    # The card gateway: the store's ProductStorePaymentGateway for PiCreditCard, else the configured default.
    payment_gateway_config_id: str
    # Its PaymentGatewayConfig row, None when there is none.
    gateway_config: Record | None
    # Mantle's OrderItems of every part, when the side keeps them (the service's own tables have none).
    items: tuple[Record, ...] = ()


class CheckoutSide(Protocol):
    """Where the checkout's order and Payment live (implementations in service/checkout/checkout_side.py)."""

    @property
    def client_name(self) -> str:
        """The gateway API client whose journal rows and PaymentIntent links the checkout's Payments have."""
        ...

    async def read_order(self, order_id: str, default_gateway_config_id: str) -> OrderSnapshot | None:
        """The order as the checkout needs it; None when there is no such order."""
        ...

    async def add_payment(
        self, order_id: str, order_part_seq_id: str, amount: Decimal, payment_gateway_config_id: str
    ) -> Record:
        """add#OrderPartPayment: a Promised card Payment for the part through the gateway; the Payment."""
        ...

    async def record_paid(self, payment: Record, intent: stripe.PaymentIntent) -> str | None:
        """Have Mantle record the authorized (or paid) PaymentIntent on its Payment, and place the order when
        configured; the Payment's status afterwards."""
        ...

    async def place_paid_order(self, order_id: str) -> None:
        """Place the order when configured and still open (its checkout Payment is already paid)."""
        ...


@dataclass(frozen=True)
class PayableOrder:
    """A checked order part: what to pay, in which currency, through which gateway."""

    order: Record
    part: Record
    amount_due: Decimal
    currency: str
    payment_gateway_config_id: str
    gateway: GatewaySettings
    capture_method: str
    # The checkout's own Payments of this part (newest first): Promised/Declined ones may be reused, paid ones
    # mean the checkout already succeeded.
    checkout_payments: tuple[Record, ...]
    # The part's OrderItems, in order (none when the order's side keeps no items).
    items: tuple[Record, ...] = ()

    @property
    def order_id(self) -> str:
        """The order's id."""
        return str(self.order["orderId"])

    @property
    def order_part_seq_id(self) -> str:
        """The paid part's sequence id."""
        return str(self.part["orderPartSeqId"])

    @property
    def order_name(self) -> str:
        """What the shopper sees as the order's name."""
        return str(self.order.get("orderName") or self.part.get("partName") or f"Order {self.order_id}")

    def reusable_payment(self) -> Record | None:
        """The checkout's open Payment for what is due (its PaymentIntent takes the card), if it has one."""
        return next(
            (
                payment
                for payment in self.checkout_payments
                if payment.get("statusId") in _OPEN_CHECKOUT_STATUSES and payment.get("amount") == self.amount_due
            ),
            None,
        )


def _is_checkout_payment(payment: Record, payment_gateway_config_id: str, linked_payment_ids: frozenset[str]) -> bool:
    # The checkout collects the card itself: its Payments have no saved PaymentMethod until one it made a
    # PaymentIntent for is recorded with the card (record#CheckoutPayment keeps the card as a PaymentMethod).
    return (
        payment.get("paymentGatewayConfigId") == payment_gateway_config_id
        and (not payment.get("paymentMethodId") or str(payment["paymentId"]) in linked_payment_ids)
        and not payment.get("refundForPaymentId")
        and payment.get("paymentTypeEnumId") != names.PT_REFUND
        and payment.get("paymentInstrumentEnumId") in (None, names.PI_CREDIT_CARD)
    )


def checkout_payments(
    payments: Iterable[Record], payment_gateway_config_id: str, linked_payment_ids: frozenset[str]
) -> list[Record]:
    """The part's Payments (newest first) the checkout made or may reuse, those with a PaymentIntent link first."""
    ours = [
        payment for payment in payments if _is_checkout_payment(payment, payment_gateway_config_id, linked_payment_ids)
    ]
    # sorted is stable: among linked (and among unlinked) payments the newest stays first.
    return sorted(ours, key=lambda payment: str(payment["paymentId"]) not in linked_payment_ids)


async def _linked_payment_ids(entity: EntityFacade, client_name: str, order_id: str) -> frozenset[str]:
    links = await entity.find(PAYMENT_INTENT_LINK, {"clientName": client_name, "orderId": order_id})
    return frozenset(str(link["paymentId"]) for link in links)


def _still_to_pay(part: Record, payments: list[Record], reusable_ids: set[str]) -> Decimal:
    total = part.get("partTotal")
    counted = sum(
        (
            payment.get("amount") or Decimal(0)
            for payment in payments
            if payment.get("statusId") not in names.DEAD_PAYMENT_STATUSES
            and not payment.get("refundForPaymentId")
            and payment.get("paymentTypeEnumId") != names.PT_REFUND
            and str(payment["paymentId"]) not in reusable_ids
        ),
        start=Decimal(0),
    )
    return (total if total is not None else Decimal(0)) - counted


_UNAVAILABLE = "Card payments are not available for this order right now. Please contact us."


def gateway_unavailable() -> CheckoutRefused:
    """The refusal when the order's gateway cannot take cards here (not configured, no publishable key)."""
    return CheckoutRefused("gateway_not_configured", _UNAVAILABLE)


async def load_payable_order(
    side: CheckoutSide, entity: EntityFacade, settings: Settings, link: CheckoutLink
) -> PayableOrder:
    """Check the linked order and work out what to pay; raise CheckoutRefused when it cannot be paid here.

    `reason` "already_paid" means the checkout's Payment for it is already authorized or paid (go to the done URL).
    """
    snapshot = await side.read_order(link.order_id, settings.checkout.default_gateway_config_id)
    if snapshot is None:
        raise CheckoutRefused("order_not_found", "We could not find this order.")
    order = snapshot.order
    parts = [part for part in snapshot.parts if part.get("customerPartyId") == link.customer_party_id]
    if not parts:
        raise CheckoutRefused("not_customer_order", "This order does not belong to the customer of this payment link.")
    if order.get("statusId") not in _PAYABLE_ORDER_STATUSES:
        raise CheckoutRefused("order_not_payable", "This order can no longer be paid.")

    config_id = snapshot.payment_gateway_config_id
    gateway = settings.gateway(config_id)
    config = snapshot.gateway_config
    if config is None or gateway is None or not gateway.publishable_key:
        raise gateway_unavailable()
    currency = str(order.get("currencyUomId") or "")
    try:
        stripe_currency(currency)
    except InvalidCurrency:
        currency = ""
    accepted = accepted_currencies(await entity.find_one(GATEWAY_SETTINGS, {"paymentGatewayConfigId": config_id}))
    if not currency or (accepted and currency.upper() not in accepted):
        raise CheckoutRefused("currency_not_accepted", f"Card payments in {currency or 'this currency'} are not taken.")
    capture_method = "automatic" if config.get("authorizeServiceName") == AUTHORIZE_AND_CAPTURE_SERVICE else "manual"

    linked = await _linked_payment_ids(entity, side.client_name, link.order_id)
    paid_by_checkout = False
    for part in parts:
        if part.get("statusId") not in _PAYABLE_ORDER_STATUSES:
            continue
        payments = [p for p in snapshot.payments if p.get("orderPartSeqId") == part["orderPartSeqId"]]
        ours = checkout_payments(payments, config_id, linked)
        reusable = {str(p["paymentId"]) for p in ours if p.get("statusId") in _OPEN_CHECKOUT_STATUSES}
        due = _still_to_pay(part, payments, reusable)
        if due > 0:
            try:
                to_minor_units(due, currency)
            except MoneyError:
                raise CheckoutRefused(
                    "amount_not_payable", "The amount of this order cannot be paid by card in its currency."
                ) from None
            items = tuple(i for i in snapshot.items if i.get("orderPartSeqId") == part["orderPartSeqId"])
            return PayableOrder(
                order, part, due, currency.upper(), config_id, gateway, capture_method, tuple(ours), items
            )
        paid_by_checkout = paid_by_checkout or any(p.get("statusId") in PAID_STATUSES for p in ours)
    if paid_by_checkout:
        raise CheckoutRefused("already_paid", "This order is already paid.")
    raise CheckoutRefused("nothing_to_pay", "This order has nothing left to pay.")
