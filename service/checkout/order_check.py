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
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle import names
from service.checkout.links import CheckoutLink
from service.config import GatewaySettings, Settings
from service.money import InvalidCurrency, MoneyError, stripe_currency, to_minor_units
from service.payment_services.intent_link import PAYMENT_INTENT_LINK
from service.payment_services.payment_subject import accepted_currencies

__all__ = [
    "AUTHORIZE_AND_CAPTURE_SERVICE",
    "CheckoutRefused",
    "PayableOrder",
    "checkout_payments",
    "load_payable_order",
]

Record = dict[str, Any]

# The authorize service name that means "charge at once" (so the checkout's PaymentIntent captures automatically).
AUTHORIZE_AND_CAPTURE_SERVICE: Final = "stripe.StripePaymentServices.authorizeAndCapture#Payment"
GATEWAY_SETTINGS: Final = "stripe.StripeGatewaySettings"
_PAYABLE_ORDER_STATUSES: Final = frozenset({names.ORDER_OPEN, names.ORDER_PLACED})
_PAID_STATUSES: Final = frozenset({names.PMNT_AUTHORIZED, names.PMNT_DELIVERED, names.PMNT_CONFIRMED})
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


def _is_checkout_payment(payment: Record, payment_gateway_config_id: str) -> bool:
    # The checkout collects the card itself: its Payments have no saved PaymentMethod.
    return (
        payment.get("paymentGatewayConfigId") == payment_gateway_config_id
        and not payment.get("paymentMethodId")
        and not payment.get("refundForPaymentId")
        and payment.get("paymentTypeEnumId") != names.PT_REFUND
        and payment.get("paymentInstrumentEnumId") in (None, names.PI_CREDIT_CARD)
    )


async def checkout_payments(
    entity: EntityFacade, order_id: str, order_part_seq_id: str, payment_gateway_config_id: str
) -> list[Record]:
    """The part's Payments the checkout made or may reuse, newest first (those with a PaymentIntent link first)."""
    payments = await entity.find(
        names.PAYMENT, {"orderId": order_id, "orderPartSeqId": order_part_seq_id}, order_by=["-paymentId"]
    )
    ours = [payment for payment in payments if _is_checkout_payment(payment, payment_gateway_config_id)]
    linked = {
        str(link["paymentId"])
        for link in await entity.find(PAYMENT_INTENT_LINK, {"orderId": order_id, "orderPartSeqId": order_part_seq_id})
    }
    # sorted is stable: among linked (and among unlinked) payments the newest stays first.
    return sorted(ours, key=lambda payment: str(payment["paymentId"]) not in linked)


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


async def _gateway_config_id(entity: EntityFacade, settings: Settings, order: Record) -> str:
    store_id = order.get("productStoreId")
    if store_id:
        store_gateway = await entity.find_one(
            names.STORE_GATEWAY, {"productStoreId": store_id, "paymentInstrumentEnumId": names.PI_CREDIT_CARD}
        )
        if store_gateway is not None and store_gateway.get("paymentGatewayConfigId"):
            return str(store_gateway["paymentGatewayConfigId"])
    return settings.checkout.default_gateway_config_id


_UNAVAILABLE = "Card payments are not available for this order right now. Please contact us."


async def load_payable_order(entity: EntityFacade, settings: Settings, link: CheckoutLink) -> PayableOrder:
    """Check the linked order and work out what to pay; raise CheckoutRefused when it cannot be paid here.

    `reason` "already_paid" means the checkout's Payment for it is already authorized or paid (go to the done URL).
    """
    order = await entity.find_one(names.ORDER_HEADER, {"orderId": link.order_id})
    if order is None:
        raise CheckoutRefused("order_not_found", "We could not find this order.")
    parts = [
        part
        for part in await entity.find(names.ORDER_PART, {"orderId": link.order_id}, order_by=["orderPartSeqId"])
        if part.get("customerPartyId") == link.customer_party_id
    ]
    if not parts:
        raise CheckoutRefused("not_customer_order", "This order does not belong to the customer of this payment link.")
    if order.get("statusId") not in _PAYABLE_ORDER_STATUSES:
        raise CheckoutRefused("order_not_payable", "This order can no longer be paid.")

    config_id = await _gateway_config_id(entity, settings, order)
    gateway = settings.gateway(config_id)
    config = await entity.find_one(names.GATEWAY_CONFIG, {"paymentGatewayConfigId": config_id})
    if config is None or gateway is None or not gateway.publishable_key:
        raise CheckoutRefused("gateway_not_configured", _UNAVAILABLE)
    currency = str(order.get("currencyUomId") or "")
    try:
        stripe_currency(currency)
    except InvalidCurrency:
        currency = ""
    accepted = accepted_currencies(await entity.find_one(GATEWAY_SETTINGS, {"paymentGatewayConfigId": config_id}))
    if not currency or (accepted and currency.upper() not in accepted):
        raise CheckoutRefused("currency_not_accepted", f"Card payments in {currency or 'this currency'} are not taken.")
    capture_method = "automatic" if config.get("authorizeServiceName") == AUTHORIZE_AND_CAPTURE_SERVICE else "manual"

    paid_by_checkout = False
    for part in parts:
        if part.get("statusId") not in _PAYABLE_ORDER_STATUSES:
            continue
        payments = await entity.find(
            names.PAYMENT, {"orderId": link.order_id, "orderPartSeqId": part["orderPartSeqId"]}
        )
        ours = await checkout_payments(entity, link.order_id, str(part["orderPartSeqId"]), config_id)
        reusable = {str(p["paymentId"]) for p in ours if p.get("statusId") in _OPEN_CHECKOUT_STATUSES}
        due = _still_to_pay(part, payments, reusable)
        if due > 0:
            try:
                to_minor_units(due, currency)
            except MoneyError:
                raise CheckoutRefused(
                    "amount_not_payable", "The amount of this order cannot be paid by card in its currency."
                ) from None
            return PayableOrder(order, part, due, currency.upper(), config_id, gateway, capture_method, tuple(ours))
        paid_by_checkout = paid_by_checkout or any(p.get("statusId") in _PAID_STATUSES for p in ours)
    if paid_by_checkout:
        raise CheckoutRefused("already_paid", "This order is already paid.")
    raise CheckoutRefused("nothing_to_pay", "This order has nothing left to pay.")
