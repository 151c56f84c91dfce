"""What travels through every gateway operation: who asks (the client), about which payment, on which Stripe
account, by when; and the checks every request passes before anything is journaled or sent.

`GatewayCall` is built once per request from the in-parameters and the context; the per-operation request objects
(`AuthorizeRequest`, ...) carry it with their own values, already checked: ids printable and at most 255
characters, a currency Stripe and this gateway take, an amount the currency holds exactly. A failed check is a
`ServiceError` (HTTP 400) that changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar, Final, Self

from moqui_bridge.entity import EntityFacade
from moqui_bridge.service import ServiceError
from service.clock import SYSTEM_CLOCK, Clock
from service.config import ReconcilerSettings
from service.context import ServiceContext
from service.money import InvalidCurrency, MoneyError, stripe_currency, to_minor_units
from service.payment_services.journal import AttemptIdentity, JournaledRequest
from service.payment_services.parameters import CaptureIn, RefundIn
from service.payment_services.payment_subject import accepted_currencies
from service.stripe_gateway.client import StripeGateway
from service.stripe_gateway.deadline import Deadline
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = [
    "GATEWAY_SETTINGS",
    "GATEWAY_SETTINGS_SECONDS",
    "MAX_ID_LENGTH",
    "GatewayCall",
    "IntentAmountRequest",
    "checked_attempt",
    "checked_id",
    "gateway_call",
]

GATEWAY_SETTINGS: Final = "stripe.StripeGatewaySettings"
MAX_ID_LENGTH: Final = 255
# How long a gateway's currencies (its stripe.StripeGatewaySettings row: operator data that rarely changes) are
# trusted before they are read again; reading them for every request was a round trip of its own.
GATEWAY_SETTINGS_SECONDS: Final = 30.0


@dataclass(frozen=True)
class GatewayCall:
    """One request to the gateway API: the client, the gateway config and payment it names, and its deadline;
    the clock the journal reads and the age past which an in-doubt attempt is read from Stripe, not replayed."""

    entity: EntityFacade
    gateway: StripeGateway
    installation_id: str
    client_name: str
    payment_id: str
    deadline: Deadline
    clock: Clock = SYSTEM_CLOCK
    safe_age: timedelta = timedelta(hours=ReconcilerSettings().safe_age_hours)
    # The process's liveness key, named on the payment's lease (payment_lease.py).
    liveness_key: int = 0

    @property
    def payment_gateway_config_id(self) -> str:
        """The gateway config (Stripe account) the request runs under."""
        return self.gateway.payment_gateway_config_id

    def identity(self, operation: GatewayOperation, attempt_num: int) -> AttemptIdentity:
        """The identity of one attempt of `operation` on this call's payment."""
        return AttemptIdentity(
            self.client_name, self.payment_gateway_config_id, self.payment_id, operation, attempt_num
        )

    async def checked_amount(self, amount: Decimal, currency: str, what: str) -> Decimal:
        """`amount` once it is known to be positive and exact in `currency`, a currency this gateway takes."""
        await self.checked_currency(currency)
        if amount <= 0:
            raise ServiceError(f"The {what} must be greater than zero, got {amount}")
        try:
            to_minor_units(amount, currency)
        except MoneyError as error:
            reason = getattr(error, "reason", None) or str(error)
            raise ServiceError(
                f"The {what} {amount} {currency} of payment {self.payment_id} is not valid: {reason}"
            ) from None
        return amount

    async def checked_currency(self, currency: str) -> str:
        """The ISO code, upper case, once Stripe and this gateway's settings (currencyUomIds) are known to take it."""
        try:
            stripe_currency(currency)
        except InvalidCurrency:
            raise ServiceError(f"{currency} is not a currency Stripe takes") from None
        accepted = await self._accepted_currencies()
        if accepted and currency.upper() not in accepted:
            raise ServiceError(
                f"Gateway {self.payment_gateway_config_id} does not take {currency}; it takes "
                f"{', '.join(sorted(accepted))}"
            )
        return currency.upper()

    async def _accepted_currencies(self) -> frozenset[str]:
        """This gateway's currencies (empty: any Stripe takes), read again when GATEWAY_SETTINGS_SECONDS old."""
        remembered = self.gateway.accepted_currencies
        now = time.monotonic()
        if remembered is not None and now - remembered[1] < GATEWAY_SETTINGS_SECONDS:
            return remembered[0]
        settings = await self.entity.find_one(
            GATEWAY_SETTINGS, {"paymentGatewayConfigId": self.payment_gateway_config_id}
        )
        accepted = accepted_currencies(settings)
        self.gateway.accepted_currencies = (accepted, now)
        return accepted


def checked_attempt(attempt_num: int) -> int:
    """The caller's attemptNum once it is known to be a count (0 or more)."""
    if attempt_num < 0:
        raise ServiceError(f"attemptNum must be 0 or more, got {attempt_num}")
    return attempt_num


def checked_id(name: str, value: str | None, *, prefix: str | None = None) -> str | None:
    """An id parameter once it is printable, at most 255 characters and (given `prefix`) of that Stripe kind."""
    if value is None:
        return None
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ServiceError(f"{name} must be 1 to {MAX_ID_LENGTH} printable characters")
    if prefix is not None and not value.startswith(prefix):
        raise ServiceError(f"{name} {value} is not a Stripe {prefix}... id")
    return value


def gateway_call(context: ServiceContext, payment_gateway_config_id: str, payment_id: str) -> GatewayCall:
    """The call of one request: its gateway (400 when none is configured under that id) and the client's name."""
    checked_id("paymentGatewayConfigId", payment_gateway_config_id)
    checked_id("paymentId", payment_id)
    if payment_gateway_config_id not in context.gateways:
        raise ServiceError(
            f"Payment gateway configuration {payment_gateway_config_id} has no Stripe account configured in "
            "moqui-stripe (a [gateways.<id>] section of its configuration)"
        )
    return GatewayCall(
        entity=context.entity,
        gateway=context.gateways.get(payment_gateway_config_id),
        installation_id=context.installation_id,
        client_name=context.client_name,
        payment_id=payment_id,
        deadline=context.deadline,
        clock=context.clock,
        safe_age=timedelta(hours=context.settings.reconciler.safe_age_hours),
        liveness_key=context.liveness_key,
    )


@dataclass(frozen=True)
class IntentAmountRequest:
    """capture and refund: an amount (None: all of it) of a PaymentIntent's money, checked; subclasses name the
    operation."""

    operation: ClassVar[GatewayOperation]

    call: GatewayCall
    attempt_num: int
    payment_intent_id: str
    amount: Decimal | None
    currency: str

    @classmethod
    async def of(cls, parameters: CaptureIn | RefundIn, context: ServiceContext) -> Self:
        """The request from the gateway API's parameters; a ServiceError (400) for anything unusable."""
        call = gateway_call(context, parameters.paymentGatewayConfigId, parameters.paymentId)
        currency = await call.checked_currency(parameters.currencyUomId)
        amount = parameters.amount
        what = f"{cls.operation.value} amount"
        return cls(
            call=call,
            attempt_num=checked_attempt(parameters.attemptNum),
            payment_intent_id=str(checked_id("paymentIntentId", parameters.paymentIntentId, prefix="pi_")),
            amount=None if amount is None else await call.checked_amount(amount, currency, what),
            currency=currency,
        )

    def journaled(self) -> JournaledRequest:
        """The attempt as the journal keeps it."""
        return JournaledRequest(
            self.call.identity(self.operation, self.attempt_num),
            payment_intent_id=self.payment_intent_id,
            amount=self.amount,
            currency=self.currency,
        )
