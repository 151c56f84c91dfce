"""Mantle's generic payment services, registered under Mantle's own names (moqui-contract.md 1.2-1.4).

Each handler takes the payment's advisory lock in a transaction, runs the rule, and answers Mantle's out-parameters.
Messages Mantle would put in its message facade are answered as ``messages`` (the key Moqui's REST API uses for them).
"""

from __future__ import annotations

from typing import Annotated, Any

from moqui_bridge.mantle import names
from moqui_bridge.mantle.authorization import authorize_order_payments, authorize_payment
from moqui_bridge.mantle.context import MantleContextT
from moqui_bridge.mantle.gateway import find_authorize_response
from moqui_bridge.mantle.refunds import refund_payment
from moqui_bridge.mantle.rule_call import PaymentOutcome, leased_rule_call
from moqui_bridge.mantle.settlement import capture_payment, refresh_payment_details, release_payment
from moqui_bridge.service.parameter_types import BigDecimal, Required
from moqui_bridge.service.registry import MoquiParameters, ServiceRegistry


class _WithMessages(MoquiParameters):
    messages: list[str] | None = None


class GatewayResponseOut(_WithMessages):
    """Out-parameters of authorize/capture#SinglePayment."""

    paymentGatewayResponseId: str | None = None
    paymentGatewayResponse: dict[str, Any] | None = None

    @classmethod
    def of(cls, outcome: PaymentOutcome) -> GatewayResponseOut:
        """From a rule's outcome."""
        return cls(
            paymentGatewayResponseId=outcome.response_id,
            paymentGatewayResponse=outcome.response,
            messages=outcome.messages or None,
        )


class AuthorizeSinglePaymentIn(MoquiParameters):
    """authorize#SinglePayment: the gateway config may be left to the payment, its method or its store."""

    paymentGatewayConfigId: str | None = None
    paymentId: Annotated[str, Required]
    cardSecurityCode: str | None = None


class AuthorizeStorePaymentIn(MoquiParameters):
    """authorize#StorePayment: authorize through the store's gateway for the payment's instrument."""

    productStoreId: Annotated[str, Required]
    paymentId: Annotated[str, Required]
    cardSecurityCode: str | None = None


class CaptureSinglePaymentIn(MoquiParameters):
    """capture#SinglePayment: amount defaults to the payment's amount."""

    paymentId: Annotated[str, Required]
    amount: BigDecimal | None = None


class PaymentIdIn(MoquiParameters):
    """Services that take only the payment: release, details, get#AuthorizePaymentGatewayResponse."""

    paymentId: Annotated[str, Required]


class ReleaseSinglePaymentOut(_WithMessages):
    """Out-parameters of release#SinglePayment and get#SinglePaymentGatewayDetails."""

    paymentGatewayResponseId: str | None = None


class RefundSinglePaymentIn(MoquiParameters):
    """refund#SinglePayment."""

    paymentId: Annotated[str, Required]
    refundPaymentId: str | None = None
    amount: BigDecimal | None = None


class RefundSinglePaymentOut(_WithMessages):
    """Out-parameters of refund#SinglePayment: the new (or given) refund Payment when the gateway refunded."""

    paymentGatewayResponseId: str | None = None
    refundPaymentId: str | None = None


class AuthorizePaymentGatewayResponseOut(MoquiParameters):
    """Out-parameters of get#AuthorizePaymentGatewayResponse."""

    paymentGatewayResponse: dict[str, Any] | None = None


class AuthorizeOrderPaymentsIn(MoquiParameters):
    """authorize#OrderPayments."""

    orderId: Annotated[str, Required]
    cardSecurityCodeByPaymentId: dict[str, Any] | None = None


class AuthorizeOrderPaymentsOut(_WithMessages):
    """Out-parameters of authorize#OrderPayments (both unset when the order has no product store)."""

    authFailed: bool | None = None
    totalAuthorized: BigDecimal | None = None


def register_payment_rules(registry: ServiceRegistry[MantleContextT]) -> None:
    """Register Mantle's generic payment services (authorize/capture/release/refund#SinglePayment, ...) by name."""

    @registry.service(
        names.AUTHORIZE_SINGLE_PAYMENT,
        AuthorizeSinglePaymentIn,
        GatewayResponseOut,
        allow_remote=True,
        description="Authorize a Payment through its gateway and move it by the gateway's answer",
    )
    async def authorize_single_payment(
        parameters: AuthorizeSinglePaymentIn, context: MantleContextT
    ) -> GatewayResponseOut:
        async with leased_rule_call(context, "payment", parameters.paymentId) as call:
            outcome = await authorize_payment(
                call,
                parameters.paymentId,
                config_id=parameters.paymentGatewayConfigId,
                card_security_code=parameters.cardSecurityCode,
            )
        return GatewayResponseOut.of(outcome)

    @registry.service(
        names.AUTHORIZE_STORE_PAYMENT,
        AuthorizeStorePaymentIn,
        GatewayResponseOut,
        allow_remote=True,
        description="Authorize a Payment through the product store's gateway for its payment instrument",
    )
    async def authorize_store_payment(
        parameters: AuthorizeStorePaymentIn, context: MantleContextT
    ) -> GatewayResponseOut:
        async with leased_rule_call(context, "payment", parameters.paymentId) as call:
            outcome = await authorize_payment(
                call,
                parameters.paymentId,
                card_security_code=parameters.cardSecurityCode,
                product_store_id=parameters.productStoreId,
            )
        return GatewayResponseOut.of(outcome)

    @registry.service(
        names.CAPTURE_SINGLE_PAYMENT,
        CaptureSinglePaymentIn,
        GatewayResponseOut,
        allow_remote=True,
        description="Capture an authorized (or promised: authorized first) Payment",
    )
    async def capture_single_payment(parameters: CaptureSinglePaymentIn, context: MantleContextT) -> GatewayResponseOut:
        async with leased_rule_call(context, "payment", parameters.paymentId) as call:
            outcome = await capture_payment(call, parameters.paymentId, parameters.amount)
        return GatewayResponseOut.of(outcome)

    @registry.service(
        names.RELEASE_SINGLE_PAYMENT,
        PaymentIdIn,
        ReleaseSinglePaymentOut,
        allow_remote=True,
        description="Release (void) the authorization of a Payment; it goes back to Promised",
    )
    async def release_single_payment(parameters: PaymentIdIn, context: MantleContextT) -> ReleaseSinglePaymentOut:
        async with leased_rule_call(context, "payment", parameters.paymentId) as call:
            outcome = await release_payment(call, parameters.paymentId)
        return ReleaseSinglePaymentOut(paymentGatewayResponseId=outcome.response_id, messages=outcome.messages or None)

    @registry.service(
        names.REFUND_SINGLE_PAYMENT,
        RefundSinglePaymentIn,
        RefundSinglePaymentOut,
        allow_remote=True,
        description="Refund a captured Payment through its gateway, recording a PtRefund Payment",
    )
    async def refund_single_payment(
        parameters: RefundSinglePaymentIn, context: MantleContextT
    ) -> RefundSinglePaymentOut:
        async with leased_rule_call(context, "payment", parameters.paymentId) as call:
            outcome = await refund_payment(call, parameters.paymentId, parameters.amount, parameters.refundPaymentId)
        return RefundSinglePaymentOut(
            paymentGatewayResponseId=outcome.response_id,
            refundPaymentId=outcome.refund_payment_id or parameters.refundPaymentId,
            messages=outcome.messages or None,
        )

    @registry.service(
        names.GET_SINGLE_PAYMENT_GATEWAY_DETAILS,
        PaymentIdIn,
        ReleaseSinglePaymentOut,
        allow_remote=True,
        description="Ask the gateway for a Payment's status and take it when it differs",
    )
    async def get_single_payment_gateway_details(
        parameters: PaymentIdIn, context: MantleContextT
    ) -> ReleaseSinglePaymentOut:
        async with leased_rule_call(context, "payment", parameters.paymentId) as call:
            outcome = await refresh_payment_details(call, parameters.paymentId)
        return ReleaseSinglePaymentOut(paymentGatewayResponseId=outcome.response_id, messages=outcome.messages or None)

    @registry.service(
        names.GET_AUTHORIZE_PAYMENT_GATEWAY_RESPONSE,
        PaymentIdIn,
        AuthorizePaymentGatewayResponseOut,
        allow_remote=True,
        description="The newest successful authorization PGR of a Payment",
    )
    async def get_authorize_payment_gateway_response(
        parameters: PaymentIdIn, context: MantleContextT
    ) -> AuthorizePaymentGatewayResponseOut:
        response = await find_authorize_response(context.entity, None, parameters.paymentId)
        return AuthorizePaymentGatewayResponseOut(paymentGatewayResponse=response)

    @registry.service(
        names.AUTHORIZE_ORDER_PAYMENTS,
        AuthorizeOrderPaymentsIn,
        AuthorizeOrderPaymentsOut,
        allow_remote=True,
        description="Authorize the open payments of an order through its product store's gateways",
    )
    async def authorize_order_payments_service(
        parameters: AuthorizeOrderPaymentsIn, context: MantleContextT
    ) -> AuthorizeOrderPaymentsOut:
        codes = {str(key): str(value) for key, value in (parameters.cardSecurityCodeByPaymentId or {}).items()}
        outcome = await authorize_order_payments(context, parameters.orderId, codes)
        return AuthorizeOrderPaymentsOut(
            authFailed=outcome.auth_failed,
            totalAuthorized=outcome.total_authorized,
            messages=outcome.messages or None,
        )
