"""Typed async wrappers over the Stripe calls the gateway services make.

Each wrapper takes Decimal amounts (converted exactly by `service.money`, refused before any call when they cannot
be charged exactly), sends an idempotency key on every mutating call, and checks that what Stripe echoes (amount,
currency, the object and payment it belongs to) is what we asked for: a mismatch raises `StripeIntegrityError`
rather than letting a wrong amount be recorded.

The writes answer a `StripeAnswer` (Stripe's JSON; answers.py says why), the reads the SDK's objects.

Errors: a request Stripe refuses as such (400/404, idempotency conflicts) raises `StripeRequestRejected`; every
other Stripe exception (card declines, outages, bad keys) propagates unchanged for `outcome_from_error`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import stripe

from service.money import stripe_currency, to_minor_units
from service.stripe_gateway.answers import StripeAnswer
from service.stripe_gateway.client import StripeGateway
from service.stripe_gateway.outcome import field_value, rejected_request

if TYPE_CHECKING:
    from stripe.params import (
        PaymentIntentCancelParams,
        PaymentIntentCaptureParams,
        PaymentIntentConfirmParams,
        PaymentIntentCreateParams,
        PaymentIntentListParams,
        PaymentIntentRetrieveParams,
        RefundCreateParams,
        RefundListParams,
    )

__all__ = [
    "DEFAULT_EXPAND",
    "SETTLEMENT_EXPAND",
    "CaptureMethod",
    "PaymentIntentRequest",
    "StripeIntegrityError",
    "cancel_payment_intent",
    "capture_payment_intent",
    "check_intent_amount",
    "confirm_payment_intent",
    "create_payment_intent",
    "create_refund",
    "list_payment_intents",
    "list_refunds",
    "metadata_value",
    "read_payment_intent",
    "refusals_as_rejections",
    "retrieve_dispute",
    "retrieve_payment_intent",
    "retrieve_payment_method",
    "retrieve_refund",
]

CaptureMethod = Literal["manual", "automatic"]

# The latest charge carries the approval code, AVS/CVC checks, risk score and capture deadline.
DEFAULT_EXPAND: tuple[str, ...] = ("latest_charge",)
# With the balance transaction too: when the funds were captured and whether they have settled (PmntConfirmed).
SETTLEMENT_EXPAND: tuple[str, ...] = ("latest_charge", "latest_charge.balance_transaction")

# Our metadata keys on Stripe objects (Moqui's names, so Stripe's dashboard shows what Moqui calls them).
PAYMENT_ID = "paymentId"
ORDER_ID = "orderId"
GATEWAY_CONFIG_ID = "paymentGatewayConfigId"


class StripeIntegrityError(Exception):
    """Stripe answered with an object that does not match the request (amount, currency, owner)."""

    def __init__(self, object_id: str | None, field_name: str, expected: object, actual: object) -> None:
        self.object_id = object_id
        self.field_name = field_name
        self.expected = expected
        self.actual = actual
        super().__init__(f"Stripe object {object_id}: {field_name} is {actual!r}, expected {expected!r}")


@dataclass(frozen=True)
class PaymentIntentRequest:
    """A PaymentIntent to create for one Mantle Payment (confirmed at once unless `confirm` is False).

    `off_session` is for a saved PaymentMethod charged while the customer is away: Stripe then fails with
    `authentication_required` instead of asking for 3-D Secure nobody can complete. Card PaymentMethods only by
    default, so a server-side confirm never needs a redirect.
    """

    payment_id: str
    amount: Decimal
    currency: str
    capture_method: CaptureMethod
    payment_method: str | None = None
    customer: str | None = None
    off_session: bool = False
    confirm: bool = True
    order_id: str | None = None
    description: str | None = None
    allowed_payment_method_types: tuple[str, ...] = ("card",)
    metadata: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def refusals_as_rejections() -> Iterator[None]:
    """A request Stripe refused (invalid, or an idempotency clash) raised as StripeRequestRejected: a refused request
    is not an outcome but an error for the caller."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        raise rejected_request(error) from error


def _options(idempotency_key: str) -> stripe.RequestOptions:
    if not idempotency_key:
        raise ValueError("an idempotency key is required for every mutating Stripe call")
    return {"idempotency_key": idempotency_key}


async def _write(gateway: StripeGateway, path: str, params: Mapping[str, Any], idempotency_key: str) -> StripeAnswer:
    """POST `params` to `path` with the idempotency key; Stripe's answer as JSON (refusals as rejections)."""
    with refusals_as_rejections():
        response = await gateway.client.raw_request_async("post", path, **params, **_options(idempotency_key))
    return _answer(response)


def _answer(response: stripe.StripeResponse) -> StripeAnswer:
    """A raw request's answer as a StripeAnswer; StripeIntegrityError unless it is a JSON object."""
    if not isinstance(response.data, dict):
        raise StripeIntegrityError(None, "object", "a JSON object", type(response.data).__name__)
    return StripeAnswer(response.data, response.request_id)


async def read_payment_intent(
    gateway: StripeGateway, payment_intent_id: str, *, expand: Sequence[str] = DEFAULT_EXPAND
) -> StripeAnswer:
    """A PaymentIntent with `expand`, as Stripe's JSON (get#PaymentGatewayDetails reads a dozen fields of it)."""
    params: PaymentIntentRetrieveParams = {"expand": list(expand)} if expand else {}
    with refusals_as_rejections():
        response = await gateway.client.raw_request_async("get", f"/v1/payment_intents/{payment_intent_id}", **params)
    intent = _answer(response)
    _check_answer(intent, "payment_intent", payment_intent_id)
    return intent


def _check(object_id: str | None, field_name: str, expected: object, actual: object) -> None:
    if expected != actual:
        raise StripeIntegrityError(object_id, field_name, expected, actual)


def metadata_value(obj: stripe.StripeObject | Mapping[str, Any], key: str) -> str | None:
    """The string our metadata `key` has on a Stripe object or its JSON (None when absent or not a string)."""
    value = field_value(field_value(obj, "metadata"), key)
    return value if isinstance(value, str) else None


def check_intent_amount(intent: stripe.PaymentIntent | Mapping[str, Any], amount: Decimal, currency: str) -> None:
    """Raise StripeIntegrityError unless the PaymentIntent is for exactly `amount` in `currency`."""
    intent_id = field_value(intent, "id")
    _check(intent_id, "amount", to_minor_units(amount, currency), field_value(intent, "amount"))
    _check(intent_id, "currency", stripe_currency(currency).stripe_code, field_value(intent, "currency"))


def _check_intent(
    intent: stripe.PaymentIntent | Mapping[str, Any], gateway: StripeGateway, request: PaymentIntentRequest
) -> None:
    check_intent_amount(intent, request.amount, request.currency)
    intent_id = field_value(intent, "id")
    _check(intent_id, f"metadata.{PAYMENT_ID}", request.payment_id, metadata_value(intent, PAYMENT_ID))
    _check(
        intent_id,
        f"metadata.{GATEWAY_CONFIG_ID}",
        gateway.payment_gateway_config_id,
        metadata_value(intent, GATEWAY_CONFIG_ID),
    )


def _check_answer(answer: StripeAnswer, kind: str, object_id: str | None = None) -> None:
    """The answer is a `kind` object (and `object_id`, when given)."""
    _check(answer.id or None, "object", kind, answer.object)
    if object_id is not None:
        _check(answer.id, "id", object_id, answer.id)


async def create_payment_intent(
    gateway: StripeGateway, request: PaymentIntentRequest, *, idempotency_key: str
) -> StripeAnswer:
    """Create (and by default confirm) a PaymentIntent, with `latest_charge` expanded.

    Raises AmountNotRepresentable before calling Stripe, stripe.CardError for a decline (its `error.payment_intent`
    is checked too), StripeRequestRejected for a refused request, StripeIntegrityError for a mismatched echo.
    """
    minor = to_minor_units(request.amount, request.currency)
    metadata = {
        **request.metadata,
        PAYMENT_ID: request.payment_id,
        GATEWAY_CONFIG_ID: gateway.payment_gateway_config_id,
    }
    if request.order_id:
        metadata[ORDER_ID] = request.order_id
    params: PaymentIntentCreateParams = {
        "amount": minor,
        "currency": stripe_currency(request.currency).stripe_code,
        "capture_method": request.capture_method,
        "confirm": request.confirm,
        "metadata": metadata,
        "allowed_payment_method_types": list(request.allowed_payment_method_types),
        "expand": list(DEFAULT_EXPAND),
    }
    if request.payment_method:
        params["payment_method"] = request.payment_method
    if request.customer:
        params["customer"] = request.customer
    if request.off_session:
        params["off_session"] = True
    if request.description:
        params["description"] = request.description
    try:
        intent = await _write(gateway, "/v1/payment_intents", params, idempotency_key)
    except stripe.CardError as error:
        declined = error.error.payment_intent if error.error is not None else None
        if declined is not None:
            try:
                _check_intent(declined, gateway, request)
            except StripeIntegrityError as mismatch:
                raise mismatch from error
        raise
    _check_answer(intent, "payment_intent")
    _check_intent(intent.values, gateway, request)
    return intent


async def retrieve_payment_intent(
    gateway: StripeGateway, payment_intent_id: str, *, expand: Sequence[str] = DEFAULT_EXPAND
) -> stripe.PaymentIntent:
    """A PaymentIntent with `expand` (DEFAULT_EXPAND, SETTLEMENT_EXPAND for get#PaymentGatewayDetails, or nothing)."""
    params: PaymentIntentRetrieveParams = {"expand": list(expand)} if expand else {}
    with refusals_as_rejections():
        intent = await gateway.client.v1.payment_intents.retrieve_async(payment_intent_id, params)
    _check(intent.id, "id", payment_intent_id, intent.id)
    return intent


async def confirm_payment_intent(
    gateway: StripeGateway,
    intent_id: str,
    params: PaymentIntentConfirmParams,
    *,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
) -> StripeAnswer:
    """Confirm an existing PaymentIntent with `params` (payment method, off_session, capture method, expand).

    `amount` and `currency` are what the PaymentIntent must be for: a confirm does not send them, but the answer is
    checked against them so a PaymentIntent changed meanwhile is never recorded as this payment's. A decline raises
    stripe.CardError.
    """
    minor = to_minor_units(amount, currency)
    intent = await _write(gateway, f"/v1/payment_intents/{intent_id}/confirm", params, idempotency_key)
    _check_answer(intent, "payment_intent", intent_id)
    _check(intent.id, "amount", minor, intent.value("amount"))
    _check(intent.id, "currency", stripe_currency(currency).stripe_code, intent.value("currency"))
    return intent


async def capture_payment_intent(
    gateway: StripeGateway,
    payment_intent_id: str,
    *,
    amount: Decimal | None,
    currency: str,
    idempotency_key: str,
) -> StripeAnswer:
    """Capture an authorized PaymentIntent: `amount` (partial allowed, the rest is released) or all of it (None)."""
    params: PaymentIntentCaptureParams = {"expand": list(DEFAULT_EXPAND)}
    minor = to_minor_units(amount, currency) if amount is not None else None
    if minor is not None:
        params["amount_to_capture"] = minor
    intent = await _write(gateway, f"/v1/payment_intents/{payment_intent_id}/capture", params, idempotency_key)
    _check_answer(intent, "payment_intent", payment_intent_id)
    _check(intent.id, "currency", stripe_currency(currency).stripe_code, intent.value("currency"))
    if minor is not None and intent.value("status") == "succeeded":
        _check(intent.id, "amount_received", minor, intent.value("amount_received"))
    return intent


async def cancel_payment_intent(
    gateway: StripeGateway,
    payment_intent_id: str,
    *,
    idempotency_key: str,
) -> StripeAnswer:
    """Cancel a PaymentIntent (release an authorization)."""
    params: PaymentIntentCancelParams = {"expand": list(DEFAULT_EXPAND)}
    intent = await _write(gateway, f"/v1/payment_intents/{payment_intent_id}/cancel", params, idempotency_key)
    _check_answer(intent, "payment_intent", payment_intent_id)
    return intent


async def create_refund(
    gateway: StripeGateway,
    payment_intent_id: str,
    *,
    amount: Decimal | None,
    currency: str,
    payment_id: str,
    idempotency_key: str,
    metadata: Mapping[str, str] | None = None,
) -> StripeAnswer:
    """Refund `amount` of a PaymentIntent (None: all that is left); several partial refunds are allowed.

    `metadata` is added to ours (the journal's operation, so a refund whose answer was lost is found by listing)."""
    minor = to_minor_units(amount, currency) if amount is not None else None
    params: RefundCreateParams = {
        "payment_intent": payment_intent_id,
        "metadata": {
            **(metadata or {}),
            PAYMENT_ID: payment_id,
            GATEWAY_CONFIG_ID: gateway.payment_gateway_config_id,
        },
    }
    if minor is not None:
        params["amount"] = minor
    refund = await _write(gateway, "/v1/refunds", params, idempotency_key)
    _check_answer(refund, "refund")
    paid_by = refund.value("payment_intent")
    _check(refund.id, "payment_intent", payment_intent_id, field_value(paid_by, "id") or paid_by)
    _check(refund.id, "currency", stripe_currency(currency).stripe_code, refund.value("currency"))
    if minor is not None:
        _check(refund.id, "amount", minor, refund.value("amount"))
    _check(refund.id, f"metadata.{PAYMENT_ID}", payment_id, metadata_value(refund.values, PAYMENT_ID))
    return refund


async def list_refunds(gateway: StripeGateway, payment_intent_id: str) -> list[stripe.Refund]:
    """Every refund of a PaymentIntent (ours and those made in Stripe's dashboard), newest first."""
    params: RefundListParams = {"payment_intent": payment_intent_id, "limit": 100}
    with refusals_as_rejections():
        page = await gateway.client.v1.refunds.list_async(params)
        return [refund async for refund in page.auto_paging_iter()]


async def retrieve_refund(gateway: StripeGateway, refund_id: str) -> stripe.Refund:
    """One Refund by id."""
    with refusals_as_rejections():
        refund = await gateway.client.v1.refunds.retrieve_async(refund_id)
    _check(refund.id, "id", refund_id, refund.id)
    return refund


async def list_payment_intents(
    gateway: StripeGateway, *, created_from: int, created_to: int, customer: str | None = None
) -> list[stripe.PaymentIntent]:
    """The PaymentIntents created between two epoch seconds (of `customer`, when given), nothing expanded.

    A list, not the Search API: lists are consistent at once and not rate-limited apart (docs.stripe.com/search)."""
    params: PaymentIntentListParams = {
        "created": {"gte": created_from, "lte": created_to},
        "limit": 100,
    }
    if customer:
        params["customer"] = customer
    with refusals_as_rejections():
        page = await gateway.client.v1.payment_intents.list_async(params)
        return [intent async for intent in page.auto_paging_iter()]


async def retrieve_payment_method(gateway: StripeGateway, payment_method_id: str) -> stripe.PaymentMethod:
    """One PaymentMethod (whether it is attached to a Customer, and to which)."""
    with refusals_as_rejections():
        method = await gateway.client.v1.payment_methods.retrieve_async(payment_method_id)
    _check(method.id, "id", payment_method_id, method.id)
    return method


async def retrieve_dispute(gateway: StripeGateway, dispute_id: str) -> stripe.Dispute:
    """A Dispute (for the webhooks' dispute records)."""
    with refusals_as_rejections():
        dispute = await gateway.client.v1.disputes.retrieve_async(dispute_id)
    _check(dispute.id, "id", dispute_id, dispute.id)
    return dispute
