"""authorize and authorizeAndCapture: a PaymentIntent for the caller's payment, confirmed off-session with its card.

Without `paymentIntentId`: a new PaymentIntent, created and confirmed in one call (the attempt's one write). With
one (the checkout page made it, so it is linked to this client's payment): it is read once to decide.

- already authorized (`requires_capture`) or paid (`succeeded`): answered as success without a second charge; a
  paid one as PgoAuthAndCapture, which tells Mantle the money is delivered. authorizeAndCapture captures an
  authorized one.
- `requires_payment_method` / `requires_confirmation` (a decline, a page never confirmed): confirmed with
  `stripePaymentMethodId`.
- `requires_action` / `processing`: only the shopper or the bank can move it on; answered as pending (no flag set).
- canceled (released, expired): a new PaymentIntent, as without one.

A re-authorization (the named PaymentIntent is canceled, or the journal shows the PaymentMethod already used in an
earlier PaymentIntent of this payment) needs a PaymentMethod saved to the party's Stripe Customer: Stripe refuses a
second use of one attached to no Customer. Without `stripeCustomerId`, or when a read of the PaymentMethod shows it is
not attached to that Customer, the answer is a decline saying the card must be entered again, and nothing is created.

Every PaymentIntent created here is confirmed off-session (`off_session=true`, `confirm=true`, with `customer` when
`stripeCustomerId` is given): the gateway API is called server to server, so no shopper is present. A card that
insists on authentication is declined with reason `authentication_required`. A decline that leaves the PaymentIntent
completable (`requires_payment_method`, `requires_confirmation`, `requires_action`) answers `recoveryUrl` too: a signed
link to the page where the customer completes it (service/recovery, docs/off-session.md). It is signed afresh for every
answer, replays included, and never journaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import stripe

from moqui_bridge.service import ServiceError
from service.config import Settings
from service.context import ServiceContext
from service.money import from_minor_units, stripe_currency, to_minor_units
from service.payment_services.answer import gateway_answer, gateway_response
from service.payment_services.attempt import NewAttempt, Plan, run_attempt, unreachable_outcome
from service.payment_services.gateway_call import GatewayCall, checked_attempt, checked_id, gateway_call
from service.payment_services.intent_link import required_link
from service.payment_services.journal import GATEWAY_OPERATION, JournaledRequest
from service.payment_services.parameters import AuthorizeIn, GatewayAnswerOut
from service.payment_services.stripe_writes import CAPTURE, CONFIRM, CREATE
from service.recovery.links import COMPLETABLE_STATUSES, recovery_url
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.operations import DEFAULT_EXPAND, retrieve_payment_intent, retrieve_payment_method
from service.stripe_gateway.outcome import (
    GatewayOutcome,
    StripeRequestRejected,
    field_value,
    outcome_from_payment_intent,
)

__all__ = ["AuthorizeRequest", "authorize_payment"]

_CONFIRMABLE: Final = frozenset({"requires_payment_method", "requires_confirmation"})
# The journal's writes that put a PaymentMethod into a PaymentIntent.
_USES_PAYMENT_METHOD: Final = (CREATE, CONFIRM)
REUSE_DECLINED_CODE: Final = "payment_method_not_reusable"


@dataclass(frozen=True)
class AuthorizeRequest:
    """One authorize (or authorizeAndCapture) request, checked."""

    call: GatewayCall
    operation: GatewayOperation
    attempt_num: int
    amount: Decimal
    currency: str
    payment_intent_id: str | None
    payment_method: str | None
    customer: str | None
    order_id: str | None
    order_part_seq_id: str | None
    settings: Settings

    @classmethod
    async def of(cls, parameters: AuthorizeIn, context: ServiceContext, *, capture: bool) -> AuthorizeRequest:
        """The request from the gateway API's parameters; a ServiceError (400) for anything unusable."""
        call = gateway_call(context, parameters.paymentGatewayConfigId, parameters.paymentId)
        currency = await call.checked_currency(parameters.currencyUomId)
        return cls(
            call=call,
            operation=GatewayOperation.AUTHORIZE_AND_CAPTURE if capture else GatewayOperation.AUTHORIZE,
            attempt_num=checked_attempt(parameters.attemptNum),
            amount=await call.checked_amount(parameters.amount, currency, "amount"),
            currency=currency,
            payment_intent_id=checked_id("paymentIntentId", parameters.paymentIntentId, prefix="pi_"),
            payment_method=checked_id("stripePaymentMethodId", parameters.stripePaymentMethodId),
            customer=checked_id("stripeCustomerId", parameters.stripeCustomerId, prefix="cus_"),
            order_id=checked_id("orderId", parameters.orderId),
            order_part_seq_id=checked_id("orderPartSeqId", parameters.orderPartSeqId),
            settings=context.settings,
        )

    def journaled(self) -> JournaledRequest:
        """The attempt as the journal keeps it."""
        return JournaledRequest(
            self.call.identity(self.operation, self.attempt_num),
            payment_intent_id=self.payment_intent_id,
            amount=self.amount,
            currency=self.currency,
            payment_method=self.payment_method,
            customer=self.customer,
            order_id=self.order_id,
            order_part_seq_id=self.order_part_seq_id,
        )

    def new_attempt(self) -> NewAttempt | None:
        """A create with a PaymentMethod this payment never used needs no read: journaled with the lease at once."""
        if self.payment_intent_id is None and self.payment_method is not None:
            return NewAttempt(CREATE, unused_payment_method=self.payment_method)
        return None


async def authorize_payment(request: AuthorizeRequest) -> GatewayAnswerOut:
    """Authorize (or authorize and capture) the payment once per attempt; the answer, with `recoveryUrl` when the
    customer can still complete a declined PaymentIntent."""
    answer = await run_attempt(request.call, request.journaled(), lambda: _plan(request), new=request.new_attempt())
    return GatewayAnswerOut.of({**answer, "recoveryUrl": _recovery_url(request, answer)})


def _recovery_url(request: AuthorizeRequest, answer: dict[str, Any]) -> str | None:
    response = answer.get("paymentGatewayResponse") or {}
    intent_id = str(response.get("referenceNum") or "")
    if (
        response.get("resultDeclined") != "Y"
        or response.get("transactionStatus") not in COMPLETABLE_STATUSES
        or not intent_id.startswith("pi_")
    ):
        return None
    call = request.call
    return recovery_url(
        request.settings,
        client_name=call.client_name,
        payment_gateway_config_id=call.payment_gateway_config_id,
        payment_id=call.payment_id,
        payment_intent_id=intent_id,
    )


def _require_payment_method(request: AuthorizeRequest) -> None:
    if request.payment_method is None:
        raise ServiceError(
            f"Payment {request.call.payment_id} has no Stripe PaymentMethod to charge: send stripePaymentMethodId "
            "(the pm_... id saved through Stripe, PaymentMethod.gatewayCimId)"
        )


async def _used_before(request: AuthorizeRequest) -> bool:
    """Whether the journal shows this payment's PaymentMethod already put into an earlier PaymentIntent."""
    call = request.call
    rows = await call.entity.find(
        GATEWAY_OPERATION,
        {
            "clientName": call.client_name,
            "paymentGatewayConfigId": call.payment_gateway_config_id,
            "paymentId": call.payment_id,
            "stripePaymentMethodId": request.payment_method,
            "stripeCall": list(_USES_PAYMENT_METHOD),
        },
        limit=1,
    )
    return bool(rows)


async def _new_authorization(request: AuthorizeRequest, *, reauthorization: bool) -> Plan:
    """Create a PaymentIntent; a re-authorization only with a PaymentMethod saved to the request's Customer."""
    _require_payment_method(request)
    if not reauthorization:
        return Plan(CREATE)
    call, method_id = request.call, str(request.payment_method)
    if request.customer is not None:
        try:
            method = await retrieve_payment_method(call.gateway, method_id)
        except StripeRequestRejected:
            method = None
        except stripe.StripeError as error:
            return Plan(answer=_answer(request, request.operation, unreachable_outcome(error)), journal=False)
        owner = field_value(method, "customer") if method is not None else None
        owner_id = owner if isinstance(owner, str) or owner is None else field_value(owner, "id")
        if owner_id == request.customer:
            return Plan(CREATE)
    saved = f"saved to Stripe Customer {request.customer}" if request.customer else "saved to a Stripe Customer"
    declined = GatewayOutcome(
        result_declined=True,
        reason_code=REUSE_DECLINED_CODE,
        reason_message=(
            f"The card must be entered again: PaymentMethod {method_id} was used for an earlier authorization of "
            f"payment {call.payment_id} and is not {saved}, so Stripe will not charge it again"
        ),
        reference_num=request.payment_intent_id,
    )
    return Plan(answer=_answer(request, request.operation, declined))


async def _plan(request: AuthorizeRequest) -> Plan:
    if request.payment_intent_id is None:
        reauthorization = request.payment_method is not None and await _used_before(request)
        return await _new_authorization(request, reauthorization=reauthorization)
    call = request.call
    await required_link(
        call.entity, call.client_name, call.payment_gateway_config_id, call.payment_id, request.payment_intent_id
    )
    try:
        intent = await retrieve_payment_intent(call.gateway, request.payment_intent_id, expand=DEFAULT_EXPAND)
    except StripeRequestRejected as rejected:
        raise ServiceError(
            f"Stripe does not know PaymentIntent {request.payment_intent_id}: {rejected.message}"
        ) from None
    except stripe.StripeError as error:
        # Nothing happened: answered as an error, not journaled, so the same attempt may simply come again.
        return Plan(answer=_answer(request, request.operation, unreachable_outcome(error)), journal=False)
    if intent.status == "canceled":
        return await _new_authorization(request, reauthorization=True)
    if (
        intent.amount != to_minor_units(request.amount, request.currency)
        or intent.currency != stripe_currency(request.currency).stripe_code
    ):
        shown = from_minor_units(intent.amount, intent.currency)
        raise ServiceError(
            f"PaymentIntent {intent.id} of payment {call.payment_id} is for {shown} {intent.currency.upper()}, "
            f"not {request.amount} {request.currency}; release it before authorizing another amount"
        )
    if intent.status == "requires_capture" and request.operation is GatewayOperation.AUTHORIZE_AND_CAPTURE:
        return Plan(CAPTURE)
    if intent.status in ("requires_capture", "succeeded"):
        # Authorized elsewhere (the checkout page): recorded, never charged again; a paid one as authorize-and-capture.
        recorded_as = GatewayOperation.AUTHORIZE_AND_CAPTURE if intent.status == "succeeded" else request.operation
        outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE)
        return Plan(answer=_answer(request, recorded_as, outcome, intent.id))
    if intent.status in _CONFIRMABLE:
        _require_payment_method(request)
        return Plan(CONFIRM)
    # requires_action or processing: the shopper or the bank has to finish.
    pending = outcome_from_payment_intent(intent, request.operation, customer_can_authenticate=True)
    return Plan(answer=_answer(request, request.operation, pending, intent.id))


def _answer(
    request: AuthorizeRequest, recorded_as: GatewayOperation, outcome: Any, intent_id: str | None = None
) -> dict[str, Any]:
    response = gateway_response(
        request.call,
        recorded_as.payment_operation_enum_id,
        outcome,
        requested_amount=request.amount,
        currency=request.currency,
    )
    return gateway_answer(
        response, payment_intent_id=intent_id or request.payment_intent_id, attempt_num=request.attempt_num
    )
