"""In- and out-parameters of the gateway API, version 1 (docs/gateway-api.md: the contract).

The caller sends everything the Stripe call needs; nothing here names a row of the caller's database. Undeclared keys
are dropped (Moqui's cleaning rule), so a Moqui service may pass its whole context.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Self

from moqui_bridge.service import BigDecimal, Indicator, MoquiParameters, Required, String, Timestamp
from moqui_bridge.service.parameter_types import Integer, Map

__all__ = [
    "API_VERSION",
    "AuthorizeIn",
    "CaptureIn",
    "DetailsIn",
    "DetailsOut",
    "GatewayAnswerOut",
    "RefundIn",
    "ReleaseIn",
]

API_VERSION: Final = "1"


class _GatewayIn(MoquiParameters):
    """What every operation names: the Stripe account (by gateway config) and the caller's Payment."""

    paymentGatewayConfigId: Annotated[String, Required]
    paymentId: Annotated[String, Required]


class _AttemptIn(_GatewayIn):
    """Operations that act at Stripe carry the caller's attempt identity (definitive PGRs of the kind so far)."""

    attemptNum: Annotated[Integer, Required]


class AuthorizeIn(_AttemptIn):
    """authorize and authorizeAndCapture: a new PaymentIntent, or the one the checkout page made for the payment."""

    amount: Annotated[BigDecimal, Required]
    currencyUomId: Annotated[String, Required]
    paymentIntentId: String | None = None
    stripePaymentMethodId: String | None = None
    stripeCustomerId: String | None = None
    orderId: String | None = None
    orderPartSeqId: String | None = None


class CaptureIn(_AttemptIn):
    """capture: `amount` defaults to all that is authorized (a partial capture releases the rest)."""

    paymentIntentId: Annotated[String, Required]
    amount: BigDecimal | None = None
    currencyUomId: Annotated[String, Required]


class ReleaseIn(_AttemptIn):
    """release: cancel the PaymentIntent's authorization."""

    paymentIntentId: Annotated[String, Required]


class RefundIn(_AttemptIn):
    """refund: `amount` defaults to all that is left (captured minus refunded, as Stripe counts it)."""

    paymentIntentId: Annotated[String, Required]
    amount: BigDecimal | None = None
    currencyUomId: Annotated[String, Required]


class DetailsIn(_GatewayIn):
    """details: the PaymentIntent's state as a Mantle payment status."""

    paymentIntentId: Annotated[String, Required]


class GatewayAnswerOut(MoquiParameters):
    """The answer: the PaymentGatewayResponse fields to record (Mantle's names), and what identifies the attempt."""

    apiVersion: String = API_VERSION
    paymentGatewayResponse: Map
    paymentIntentId: String | None = None
    attemptNum: Integer | None = None
    replayed: Indicator = "N"
    # authorize, authorizeAndCapture: a signed link where the customer completes a declined PaymentIntent.
    recoveryUrl: String | None = None

    @classmethod
    def of(cls, fields: dict[str, Any]) -> Self:
        """The model of an answer held as a plain dict (as journaled)."""
        return cls.model_validate(fields)


class DetailsOut(GatewayAnswerOut):
    """details adds Mantle's payment status for Stripe's state, and when the money was captured and settled."""

    gatewayStatusId: String | None = None
    effectiveDate: Timestamp | None = None
    settlementDate: Timestamp | None = None
