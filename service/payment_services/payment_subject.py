"""A local (standalone) payment as the webhooks read it: the Payment, its PaymentMethod, the gateway config and the
Stripe customer, from this service's own Mantle tables.

Loading refuses what the gateway API would refuse with a ServiceError that names the problem: an unknown payment,
an unknown or unconfigured gateway config, a currency Stripe (or this gateway) does not take. Plain reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.sql import FieldRef, Join
from moqui_bridge.service import ServiceError
from service.money import InvalidCurrency, MoneyError, stripe_currency, to_minor_units
from service.stripe_gateway.client import StripeGateway, StripeGateways

__all__ = ["PaymentSubject", "accepted_currencies", "load_subject"]

PAYMENT: Final = "mantle.account.payment.Payment"
PAYMENT_METHOD: Final = "mantle.account.method.PaymentMethod"
GATEWAY_CONFIG: Final = "mantle.account.method.PaymentGatewayConfig"
GATEWAY_SETTINGS: Final = "stripe.StripeGatewaySettings"
STRIPE_CUSTOMER: Final = "stripe.StripeCustomer"


@dataclass(frozen=True)
class PaymentSubject:
    """The rows a webhook works on for one payment, read under the payment's lease (webhooks/payment_lookup.py)."""

    payment: dict[str, Any]
    payment_method: dict[str, Any] | None
    gateway_config: dict[str, Any]
    stripe_customer_id: str | None
    gateway: StripeGateway

    @property
    def payment_id(self) -> str:
        """Mantle's paymentId."""
        return str(self.payment["paymentId"])

    @property
    def payment_gateway_config_id(self) -> str:
        """The gateway config this call runs under (the caller's, which may not be on the Payment yet)."""
        return str(self.gateway_config["paymentGatewayConfigId"])

    @property
    def currency(self) -> str:
        """The Payment's currency (amountUomId), checked to be one Stripe takes."""
        return str(self.payment["amountUomId"])

    @property
    def status_id(self) -> str | None:
        """The Payment's statusId as last committed (never changed by the gateway services)."""
        status: str | None = self.payment.get("statusId")
        return status

    @property
    def amount(self) -> Decimal:
        """The Payment's amount (checked to be present)."""
        amount: Decimal = self.payment["amount"]
        return amount

    @property
    def stripe_payment_method_id(self) -> str | None:
        """The Stripe PaymentMethod (pm_...) Mantle keeps in PaymentMethod.gatewayCimId."""
        value = (self.payment_method or {}).get("gatewayCimId")
        return value if isinstance(value, str) and value else None

    def minor_units(self, amount: Decimal, what: str) -> int:
        """`amount` in Stripe's minor units of the payment's currency; a ServiceError when it cannot be exact."""
        try:
            return to_minor_units(amount, self.currency)
        except MoneyError as error:
            raise ServiceError(
                f"The {what} {amount} {self.currency} of payment {self.payment_id} {_why(error)}"
            ) from None

    def metadata(self) -> dict[str, str]:
        """The metadata every PaymentIntent we make carries, so Stripe's dashboard and webhooks lead back here."""
        metadata = {"paymentId": self.payment_id, "paymentGatewayConfigId": self.payment_gateway_config_id}
        order_id = self.payment.get("orderId")
        if order_id:
            metadata["orderId"] = str(order_id)
        return metadata


def _why(error: MoneyError) -> str:
    reason = getattr(error, "reason", None)
    return f"cannot be charged by Stripe: {reason}" if reason else f"cannot be charged by Stripe: {error}"


async def load_subject(
    entity: EntityFacade,
    gateways: StripeGateways,
    payment_id: str,
    payment_gateway_config_id: str,
    *,
    connection: Connection | None = None,
) -> PaymentSubject:
    """Read and check the Payment, its PaymentMethod, the gateway config and the Stripe customer.

    One query for all of them (outer joins); `connection`: a caller's transaction to read in, if any (else a pooled
    connection for this statement alone).
    """
    found = await entity.find_one_with(
        PAYMENT,
        {"paymentId": payment_id},
        [
            Join("paymentMethod", PAYMENT_METHOD, {"paymentMethodId": FieldRef("payment", "paymentMethodId")}),
            Join("gatewayConfig", GATEWAY_CONFIG, {"paymentGatewayConfigId": payment_gateway_config_id}),
            Join("gatewaySettings", GATEWAY_SETTINGS, {"paymentGatewayConfigId": payment_gateway_config_id}),
            # The method's owner is who saved the card; the payer is the fallback for methods without an owner.
            Join(
                "ownerCustomer",
                STRIPE_CUSTOMER,
                {
                    "partyId": FieldRef("paymentMethod", "ownerPartyId"),
                    "paymentGatewayConfigId": payment_gateway_config_id,
                },
            ),
            Join(
                "payerCustomer",
                STRIPE_CUSTOMER,
                {"partyId": FieldRef("payment", "fromPartyId"), "paymentGatewayConfigId": payment_gateway_config_id},
            ),
        ],
        alias="payment",
        connection=connection,
    )
    payment = found["payment"] if found is not None else None
    if found is None or payment is None:
        raise ServiceError(f"Payment {payment_id} not found")
    gateway_config = found["gatewayConfig"]
    if gateway_config is None:
        raise ServiceError(f"Payment gateway configuration {payment_gateway_config_id} not found")
    if payment_gateway_config_id not in gateways:
        raise ServiceError(
            f"Payment gateway configuration {payment_gateway_config_id} has no Stripe credentials configured in "
            "moqui-stripe (gateways section of its configuration)"
        )
    currency = payment.get("amountUomId")
    if not currency:
        raise ServiceError(f"Payment {payment_id} has no currency (amountUomId)")
    try:
        stripe_currency(str(currency))
    except InvalidCurrency:
        raise ServiceError(f"Payment {payment_id} is in {currency}, which is not a currency Stripe takes") from None
    accepted = accepted_currencies(found["gatewaySettings"])
    if accepted and str(currency).upper() not in accepted:
        raise ServiceError(
            f"Payment {payment_id} is in {currency}, but gateway {payment_gateway_config_id} only takes "
            f"{', '.join(sorted(accepted))}"
        )
    if payment.get("amount") is None:
        raise ServiceError(f"Payment {payment_id} has no amount")
    payment_method = found["paymentMethod"]
    customer_id = next(
        (
            str(row["customerId"])
            for row in (found["ownerCustomer"], found["payerCustomer"])
            if row and row["customerId"]
        ),
        None,
    )
    return PaymentSubject(payment, payment_method, gateway_config, customer_id, gateways.get(payment_gateway_config_id))


def accepted_currencies(settings: dict[str, Any] | None) -> frozenset[str]:
    """The currencies a stripe.StripeGatewaySettings row limits its gateway to (empty: any Stripe takes)."""
    listed = (settings or {}).get("currencyUomIds") or ""
    return frozenset(part.strip().upper() for part in str(listed).split(",") if part.strip())
