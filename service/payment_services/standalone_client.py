"""The standalone client of the gateway API: `stripe.StripePaymentServices.*` in this process.

The standalone seed's PaymentGatewayConfig rows name these services, as a Moqui install's name the component's
(moqui_bridge/component). Each does in-process what the component's XML services do in Moqui: read the Payment,
its PaymentMethod's `gatewayCimId` and the party's Stripe Customer from the local tables, count the definitive
PaymentGatewayResponses of the operation's kind (`attemptNum`, docs/gateway-api.md), call the gateway API as the
client `standalone`, create the PGR from the answer, and return its id. Called by a Mantle rule, they read on
connections of their own and call the gateway API holding none, then write the PGR in the rule's write transaction
(`ServiceContext.transaction`, begun then: moqui_bridge/mantle/rule_call.py), where the rule's own writes on that
answer follow. So a rule that dies or rolls back after the gateway answered leaves no PGR, and its retry sends the
same attemptNum: the journal answers it without acting twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from moqui_bridge.mantle import names
from moqui_bridge.service import BigDecimal, MoquiParameters, Required, ServiceError, ServiceRegistry, String, Timestamp
from service.context import STANDALONE_CLIENT, ServiceContext
from service.payment_services import registration as gateway_api
from service.payment_services.standalone_reads import LocalPayment, read_local_payment
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = ["STANDALONE_SERVICE_NAMES", "register_standalone_client"]

_PREFIX: Final = "stripe.StripePaymentServices."
AUTHORIZE: Final = _PREFIX + "authorize#Payment"
AUTHORIZE_AND_CAPTURE: Final = _PREFIX + "authorizeAndCapture#Payment"
CAPTURE: Final = _PREFIX + "capture#Payment"
RELEASE: Final = _PREFIX + "release#Payment"
REFUND: Final = _PREFIX + "refund#Payment"
DETAILS: Final = _PREFIX + "get#PaymentGatewayDetails"
STANDALONE_SERVICE_NAMES: Final = (AUTHORIZE, AUTHORIZE_AND_CAPTURE, CAPTURE, RELEASE, REFUND, DETAILS)

# The PGRs that count as the attempts of an operation's kind (docs/gateway-api.md, "The attempt identity").
_COUNTED: Final = {
    GatewayOperation.AUTHORIZE: ("PgoAuthorize", "PgoAuthAndCapture"),
    GatewayOperation.AUTHORIZE_AND_CAPTURE: ("PgoAuthorize", "PgoAuthAndCapture"),
    GatewayOperation.CAPTURE: ("PgoCapture",),
    GatewayOperation.RELEASE: ("PgoRelease",),
    GatewayOperation.REFUND: ("PgoRefund",),
}


# The operations that may make a PaymentIntent; the one their attempt made is not named when it is sent again.
_AUTHORIZATIONS: Final = (GatewayOperation.AUTHORIZE.value, GatewayOperation.AUTHORIZE_AND_CAPTURE.value)


class PaymentIn(MoquiParameters):
    """Mantle's gateway interfaces (mantle.account.PaymentServices.*#Payment): the Payment and its gateway config."""

    paymentId: Annotated[String, Required]
    paymentGatewayConfigId: Annotated[String, Required]


class AuthorizeIn(PaymentIn):
    """authorize#Payment; the CVC (never needed: stripe.js tokenized the card) is accepted and ignored."""

    cardSecurityCode: String | None = None


class AmountIn(PaymentIn):
    """capture#Payment and refund#Payment: `amount` defaults to all of it."""

    amount: BigDecimal | None = None


class ResponseOut(MoquiParameters):
    """The PaymentGatewayResponse written."""

    paymentGatewayResponseId: String | None = None


class DetailsOut(ResponseOut):
    """get#PaymentGatewayDetails: Mantle updates the Payment from the status and dates."""

    gatewayStatusId: String | None = None
    effectiveDate: Timestamp | None = None
    settlementDate: Timestamp | None = None


async def _local_payment(
    context: ServiceContext, parameters: PaymentIn, operation: GatewayOperation | None, *, authorized: bool
) -> LocalPayment:
    return await read_local_payment(
        context.entity,
        parameters.paymentId,
        parameters.paymentGatewayConfigId,
        client_name=STANDALONE_CLIENT,
        counted=_COUNTED[operation] if operation is not None else (),
        attempted_by=_AUTHORIZATIONS if operation in _AUTHORIZATIONS else (),
        authorized=authorized,
        connection=None,
    )


async def _call_gateway(context: ServiceContext, service_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The gateway API, in-process, as the client `standalone`."""
    return await context.as_client(STANDALONE_CLIENT).call_service(service_name, parameters)


async def _record(context: ServiceContext, payment: dict[str, Any], answer: dict[str, Any]) -> str:
    """Create the PGR of the gateway API's answer, in the calling rule's write transaction if any."""
    connection = await context.transaction.writing() if context.transaction is not None else None
    fields = dict(answer["paymentGatewayResponse"])
    if fields.get("amount") is not None:
        fields["amount"] = Decimal(str(fields["amount"]))
    fields["transactionDate"] = datetime.fromtimestamp(int(fields["transactionDate"]) / 1000, UTC).replace(tzinfo=None)
    fields["paymentMethodId"] = payment.get("paymentMethodId")
    created = await context.entity.create(names.GATEWAY_RESPONSE, fields, connection=connection)
    return str(created["paymentGatewayResponseId"])


async def _authorize(parameters: AuthorizeIn, context: ServiceContext, operation: GatewayOperation) -> ResponseOut:
    local = await _local_payment(context, parameters, operation, authorized=False)
    payment = local.payment
    answer = await _call_gateway(
        context,
        gateway_api.AUTHORIZE_AND_CAPTURE
        if operation is GatewayOperation.AUTHORIZE_AND_CAPTURE
        else gateway_api.AUTHORIZE,
        {
            "paymentGatewayConfigId": parameters.paymentGatewayConfigId,
            "paymentId": parameters.paymentId,
            "attemptNum": local.attempt_num,
            "amount": payment.get("amount"),
            "currencyUomId": payment.get("amountUomId"),
            "paymentIntentId": local.payment_intent_id,
            "stripePaymentMethodId": local.stripe_payment_method_id,
            "stripeCustomerId": local.stripe_customer_id,
            "orderId": payment.get("orderId"),
            "orderPartSeqId": payment.get("orderPartSeqId"),
        },
    )
    return ResponseOut(paymentGatewayResponseId=await _record(context, payment, answer))


async def _on_authorization(
    context: ServiceContext, parameters: PaymentIn, operation: GatewayOperation, service_name: str, **extra: Any
) -> ResponseOut:
    local = await _local_payment(context, parameters, operation, authorized=True)
    payment, intent_id = local.payment, local.payment_intent_id
    if intent_id is None:
        raise ServiceError(f"Payment {parameters.paymentId} has no Stripe PaymentIntent to {operation.value}")
    answer = await _call_gateway(
        context,
        service_name,
        {
            "paymentGatewayConfigId": parameters.paymentGatewayConfigId,
            "paymentId": parameters.paymentId,
            "attemptNum": local.attempt_num,
            "paymentIntentId": intent_id,
            "currencyUomId": payment.get("amountUomId"),
            **extra,
        },
    )
    return ResponseOut(paymentGatewayResponseId=await _record(context, payment, answer))


async def _details(parameters: PaymentIn, context: ServiceContext) -> DetailsOut:
    local = await _local_payment(context, parameters, None, authorized=True)
    payment, intent_id = local.payment, local.payment_intent_id
    if intent_id is None:
        return DetailsOut()
    answer = await _call_gateway(
        context,
        gateway_api.DETAILS,
        {
            "paymentGatewayConfigId": parameters.paymentGatewayConfigId,
            "paymentId": parameters.paymentId,
            "paymentIntentId": intent_id,
        },
    )
    status_id = answer.get("gatewayStatusId")
    response_id = None
    # A PGR only when the status is news (unknown, or not the Payment's), as Mantle's other gateways do, so a nightly
    # poll does not pile up rows.
    if status_id is None or status_id != payment.get("statusId"):
        response_id = await _record(context, payment, answer)
    return DetailsOut(
        paymentGatewayResponseId=response_id,
        gatewayStatusId=status_id,
        effectiveDate=answer.get("effectiveDate"),
        settlementDate=answer.get("settlementDate"),
    )


def register_standalone_client(registry: ServiceRegistry[ServiceContext]) -> None:
    """Add the six Mantle gateway implementations of the standalone client to `registry`."""

    @registry.service(
        AUTHORIZE,
        AuthorizeIn,
        ResponseOut,
        allow_remote=True,
        implements="mantle.account.PaymentServices.authorize#Payment",
    )
    async def authorize(parameters: AuthorizeIn, context: ServiceContext) -> ResponseOut:
        return await _authorize(parameters, context, GatewayOperation.AUTHORIZE)

    @registry.service(
        AUTHORIZE_AND_CAPTURE,
        AuthorizeIn,
        ResponseOut,
        allow_remote=True,
        implements="mantle.account.PaymentServices.authorize#Payment",
    )
    async def authorize_and_capture(parameters: AuthorizeIn, context: ServiceContext) -> ResponseOut:
        return await _authorize(parameters, context, GatewayOperation.AUTHORIZE_AND_CAPTURE)

    @registry.service(
        CAPTURE, AmountIn, ResponseOut, allow_remote=True, implements="mantle.account.PaymentServices.capture#Payment"
    )
    async def capture(parameters: AmountIn, context: ServiceContext) -> ResponseOut:
        return await _on_authorization(
            context, parameters, GatewayOperation.CAPTURE, gateway_api.CAPTURE, amount=parameters.amount
        )

    @registry.service(
        RELEASE, PaymentIn, ResponseOut, allow_remote=True, implements="mantle.account.PaymentServices.release#Payment"
    )
    async def release(parameters: PaymentIn, context: ServiceContext) -> ResponseOut:
        return await _on_authorization(context, parameters, GatewayOperation.RELEASE, gateway_api.RELEASE)

    @registry.service(
        REFUND, AmountIn, ResponseOut, allow_remote=True, implements="mantle.account.PaymentServices.refund#Payment"
    )
    async def refund(parameters: AmountIn, context: ServiceContext) -> ResponseOut:
        return await _on_authorization(
            context, parameters, GatewayOperation.REFUND, gateway_api.REFUND, amount=parameters.amount
        )

    @registry.service(
        DETAILS,
        PaymentIn,
        DetailsOut,
        allow_remote=True,
        implements="mantle.account.PaymentServices.get#PaymentGatewayDetails",
    )
    async def details(parameters: PaymentIn, context: ServiceContext) -> DetailsOut:
        return await _details(parameters, context)
