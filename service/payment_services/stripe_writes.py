"""The one Stripe write of a journaled attempt, sent from the journal row alone.

Everything a write sends is derived from its row (amounts, ids, metadata, capture method), so a replay of an
unresolved attempt sends exactly the request Stripe keyed; Stripe would refuse anything else under the same key.
Each kind of write also says how its answer reads as a GatewayOutcome.
"""

from __future__ import annotations

from typing import Final

from stripe.params import PaymentIntentConfirmParams

from service.payment_services.gateway_call import GatewayCall
from service.payment_services.journal import Attempt
from service.stripe_gateway.answers import StripeAnswer
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import (
    DEFAULT_EXPAND,
    CaptureMethod,
    PaymentIntentRequest,
    cancel_payment_intent,
    capture_payment_intent,
    confirm_payment_intent,
    create_payment_intent,
    create_refund,
)
from service.stripe_gateway.outcome import GatewayOutcome, outcome_from_payment_intent, outcome_from_refund

__all__ = [
    "CANCEL",
    "CAPTURE",
    "CHECKOUT_AUTOMATIC",
    "CHECKOUT_MANUAL",
    "CLIENT_METADATA",
    "CONFIRM",
    "CREATE",
    "NONE",
    "OPERATION_METADATA",
    "REFUND",
    "StripeWrite",
    "operation_reference",
    "outcome_of",
    "send_write",
]

CREATE: Final = "create"  # create and confirm off-session (authorize, authorizeAndCapture)
CONFIRM: Final = "confirm"  # confirm a PaymentIntent made unconfirmed (by the checkout page)
CAPTURE: Final = "capture"
CANCEL: Final = "cancel"
REFUND: Final = "refund"
NONE: Final = "none"  # the attempt needed no write (an authorization already made)
# The checkout page's PaymentIntent: created unconfirmed (the shopper confirms it in the browser), by capture method.
CHECKOUT_MANUAL: Final = "checkout-manual"
CHECKOUT_AUTOMATIC: Final = "checkout-automatic"

# What a write answered (a PaymentIntent or a Refund), as Stripe's JSON.
StripeWrite = StripeAnswer

# Our metadata keys naming the client and the journal row (so the reconciler can find a create whose answer was lost).
CLIENT_METADATA: Final = "moquiStripeClient"
OPERATION_METADATA: Final = "moquiStripeOperation"


def operation_reference(call: GatewayCall, attempt: Attempt) -> str:
    """`<installationId>/<operationId>`: our metadata naming the journal row on what its write made."""
    return f"{call.installation_id}/{attempt.operation_id}"


def capture_method(operation: GatewayOperation) -> CaptureMethod:
    """authorizeAndCapture captures at once; everything else is authorized to be captured later."""
    return "automatic" if operation is GatewayOperation.AUTHORIZE_AND_CAPTURE else "manual"


def intent_request(
    call: GatewayCall, attempt: Attempt, *, confirm: bool, method: CaptureMethod | None = None
) -> PaymentIntentRequest:
    """The PaymentIntent a create of `attempt` asks for (confirmed off-session, or left for the shopper)."""
    request = attempt.request
    metadata = {
        CLIENT_METADATA: request.identity.client_name,
        OPERATION_METADATA: operation_reference(call, attempt),
    }
    if request.order_part_seq_id:
        metadata["orderPartSeqId"] = request.order_part_seq_id
    if request.amount is None or request.currency is None:
        raise ValueError(f"journal row {attempt.operation_id} has no amount to create a PaymentIntent for")
    return PaymentIntentRequest(
        payment_id=request.identity.payment_id,
        amount=request.amount,
        currency=request.currency,
        capture_method=method or capture_method(request.identity.operation),
        payment_method=request.payment_method,
        customer=request.customer,
        # Moqui calls us server to server: nobody can answer 3-D Secure, so Stripe must decline instead of asking.
        off_session=confirm,
        confirm=confirm,
        order_id=request.order_id,
        metadata=metadata,
    )


async def send_write(call: GatewayCall, attempt: Attempt) -> StripeWrite:
    """Send the attempt's write with its idempotency key."""
    request, key, gateway = attempt.request, attempt.idempotency_key, call.gateway
    kind = attempt.stripe_call
    if kind == CREATE:
        return await create_payment_intent(gateway, intent_request(call, attempt, confirm=True), idempotency_key=key)
    if kind in (CHECKOUT_MANUAL, CHECKOUT_AUTOMATIC):
        method: CaptureMethod = "automatic" if kind == CHECKOUT_AUTOMATIC else "manual"
        unconfirmed = intent_request(call, attempt, confirm=False, method=method)
        return await create_payment_intent(gateway, unconfirmed, idempotency_key=key)
    intent_id = request.payment_intent_id
    if intent_id is None:
        raise ValueError(f"journal row {attempt.operation_id} ({kind}) names no PaymentIntent")
    currency = request.currency or ""
    if kind == CONFIRM:
        params: PaymentIntentConfirmParams = {
            "off_session": True,
            "capture_method": capture_method(request.identity.operation),
            "expand": list(DEFAULT_EXPAND),
        }
        if request.payment_method:
            params["payment_method"] = request.payment_method
        if request.amount is None:
            raise ValueError(f"journal row {attempt.operation_id} has no amount to confirm")
        return await confirm_payment_intent(
            gateway, intent_id, params, amount=request.amount, currency=currency, idempotency_key=key
        )
    if kind == CAPTURE:
        return await capture_payment_intent(
            gateway, intent_id, amount=request.amount, currency=currency, idempotency_key=key
        )
    if kind == CANCEL:
        # No cancellation_reason: a release is the caller's decision, and Stripe's reasons would claim more.
        return await cancel_payment_intent(gateway, intent_id, idempotency_key=key)
    if kind == REFUND:
        return await create_refund(
            gateway,
            intent_id,
            amount=request.amount,
            currency=currency,
            payment_id=request.identity.payment_id,
            idempotency_key=key,
            metadata={OPERATION_METADATA: operation_reference(call, attempt)},
        )
    raise ValueError(f"journal row {attempt.operation_id} has no Stripe write ({kind})")


def outcome_of(attempt: Attempt, answer: StripeWrite) -> GatewayOutcome:
    """Stripe's answer to the attempt's write as Mantle's result."""
    if answer.object == "refund":
        return outcome_from_refund(answer.values)
    operation = attempt.request.identity.operation
    read_as = GatewayOperation.RELEASE if attempt.stripe_call == CANCEL else operation
    return outcome_from_payment_intent(answer.values, read_as)
