"""In- and out-parameters of the six gateway services: exactly Mantle's interface parameters.

Mantle declares them in `mantle.account.PaymentServices` (`authorize#Payment`, `capture#Payment`, `release#Payment`,
`refund#Payment`, `get#PaymentGatewayDetails`); `authorizeAndCapture#Payment` implements `authorize#Payment`. Moqui
drops undeclared keys before a call, so declaring anything more here would only differ from what Moqui sends.
"""

from __future__ import annotations

from typing import Annotated

from moqui_bridge.service import BigDecimal, MoquiParameters, Required, String, Timestamp

__all__ = [
    "AUTHORIZE_INTERFACE",
    "CAPTURE_INTERFACE",
    "DETAILS_INTERFACE",
    "REFUND_INTERFACE",
    "RELEASE_INTERFACE",
    "AuthorizeIn",
    "CaptureIn",
    "DetailsIn",
    "DetailsOut",
    "GatewayResponseOut",
    "RefundIn",
    "ReleaseIn",
]

AUTHORIZE_INTERFACE = "mantle.account.PaymentServices.authorize#Payment"
CAPTURE_INTERFACE = "mantle.account.PaymentServices.capture#Payment"
RELEASE_INTERFACE = "mantle.account.PaymentServices.release#Payment"
REFUND_INTERFACE = "mantle.account.PaymentServices.refund#Payment"
DETAILS_INTERFACE = "mantle.account.PaymentServices.get#PaymentGatewayDetails"


class _PaymentIn(MoquiParameters):
    """What every gateway interface takes: the Payment and the gateway configuration to use for it."""

    paymentId: Annotated[String, Required]
    paymentGatewayConfigId: Annotated[String, Required]


class AuthorizeIn(_PaymentIn):
    """authorize#Payment (and authorizeAndCapture#Payment). Stripe never needs the CVC here: the PaymentMethod was
    tokenized by stripe.js, so `cardSecurityCode` is accepted (Moqui always sends it, usually null) and ignored."""

    cardSecurityCode: String | None = None


class CaptureIn(_PaymentIn):
    """capture#Payment: `amount` defaults to the Payment's amount."""

    amount: BigDecimal | None = None


class ReleaseIn(_PaymentIn):
    """release#Payment."""


class RefundIn(_PaymentIn):
    """refund#Payment: `amount` defaults to what is left to refund."""

    amount: BigDecimal | None = None


class DetailsIn(_PaymentIn):
    """get#PaymentGatewayDetails."""


class GatewayResponseOut(MoquiParameters):
    """The out-parameter of authorize, capture, release and refund: the PaymentGatewayResponse written."""

    paymentGatewayResponseId: String | None = None


class DetailsOut(MoquiParameters):
    """get#PaymentGatewayDetails' out-parameters; Mantle updates the Payment from `gatewayStatusId` and the dates."""

    paymentGatewayResponseId: String | None = None
    gatewayStatusId: String | None = None
    effectiveDate: Timestamp | None = None
    settlementDate: Timestamp | None = None
