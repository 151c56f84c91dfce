"""The one place where Stripe's answers become Mantle's words.

- `GatewayOutcome`: exactly the PaymentGatewayResponse fields Mantle reads, built from a PaymentIntent, a Refund or
  a Stripe exception (`outcome_from_payment_intent`, `outcome_from_refund`, `outcome_from_error`).
- `StripeRequestRejected`: Stripe refused the request itself (bad parameters, wrong state, idempotency conflict).
  That is our bug or the caller's, not a card outcome: the services turn it into a Moqui error that rolls back.
- `gateway_payment_status`: a PaymentIntent (with its latest charge) as a Mantle payment status, for
  get#PaymentGatewayDetails.

Declines are answers (`result_declined`, Mantle moves the payment to PmntDeclined); outages, rate limits and bad
keys are `result_error` only (Mantle changes nothing and the call can be repeated with the same idempotency key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import stripe

from moqui_bridge.redaction import redact_secrets
from service.money import from_minor_units
from service.stripe_gateway.idempotency import GatewayOperation

__all__ = [
    "GatewayOutcome",
    "GatewayPaymentStatus",
    "StripeRequestRejected",
    "StripeValues",
    "field_value",
    "gateway_payment_status",
    "outcome_from_error",
    "outcome_from_payment_intent",
    "outcome_from_refund",
    "rejected_request",
    "safe_message",
]

# Column sizes of PaymentGatewayResponse: text-short is VARCHAR(63), reasonMessage is text-medium (255).
SHORT_TEXT = 63
MESSAGE_TEXT = 255

# Codes (Stripe's `code` or the issuer's `decline_code`) with a Mantle flag of their own.
_NSF_CODES = frozenset({"insufficient_funds"})
_BAD_EXPIRE_CODES = frozenset({"expired_card", "invalid_expiry_month", "invalid_expiry_year"})
_BAD_CARD_NUMBER_CODES = frozenset({"incorrect_number", "invalid_number"})
# Failures that say nothing about the card: the same payment may well go through when tried again, so they are
# errors (Mantle leaves the payment as it is) rather than declines (Mantle marks it PmntDeclined for good).
_TRANSIENT_CODES = frozenset(
    {"processing_error", "try_again_later", "issuer_not_available", "reenter_transaction", "approve_with_id"}
)
AUTHENTICATION_REQUIRED = "authentication_required"

# Card-number-like digit runs must never reach a Moqui table either (secrets are moqui_bridge.redaction's job).
_CARD_NUMBER = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


@dataclass(frozen=True)
class GatewayOutcome:
    """One Stripe result in the shape of a PaymentGatewayResponse row (snake_case here, see `response_fields`).

    At most one of success / declined / error is set; none set means pending (e.g. `processing`, or 3-D Secure the
    shopper can still complete). nsf / bad_expire / bad_card_number only ever accompany declined.
    """

    result_success: bool = False
    result_declined: bool = False
    result_error: bool = False
    result_nsf: bool = False
    result_bad_expire: bool = False
    result_bad_card_number: bool = False
    reference_num: str | None = None  # PaymentIntent id
    alt_reference: str | None = None  # Charge id
    sub_reference: str | None = None  # Refund id
    approval_code: str | None = None
    response_code: str | None = None
    reason_code: str | None = None
    reason_message: str | None = None
    avs_result: str | None = None
    cv_result: str | None = None
    score_result: str | None = None
    transaction_status: str | None = None
    amount: Decimal | None = None
    currency: str | None = None  # upper-case ISO code, as Moqui's amountUomId

    @property
    def pending(self) -> bool:
        """Neither success, decline nor error: Stripe has not decided yet."""
        return not (self.result_success or self.result_declined or self.result_error)

    def response_fields(self) -> dict[str, str | Decimal | None]:
        """The PaymentGatewayResponse fields under Moqui's names, indicators as "Y"/"N"."""

        def indicator(flag: bool) -> str:
            return "Y" if flag else "N"

        return {
            "resultSuccess": indicator(self.result_success),
            "resultDeclined": indicator(self.result_declined),
            "resultError": indicator(self.result_error),
            "resultNsf": indicator(self.result_nsf),
            "resultBadExpire": indicator(self.result_bad_expire),
            "resultBadCardNumber": indicator(self.result_bad_card_number),
            "referenceNum": self.reference_num,
            "altReference": self.alt_reference,
            "subReference": self.sub_reference,
            "approvalCode": self.approval_code,
            "responseCode": self.response_code,
            "reasonCode": self.reason_code,
            "reasonMessage": self.reason_message,
            "avsResult": self.avs_result,
            "cvResult": self.cv_result,
            "scoreResult": self.score_result,
            "transactionStatus": self.transaction_status,
            "amount": self.amount,
            "amountUomId": self.currency,
        }


class StripeRequestRejected(Exception):
    """Stripe refused the request as such (HTTP 400/404: invalid parameters, wrong state, idempotency conflict).

    Not a card outcome: retrying the same request cannot succeed. `message` is safe to show and to store.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.param = param
        self.http_status = http_status
        self.request_id = request_id
        super().__init__(message)


@dataclass(frozen=True)
class GatewayPaymentStatus:
    """What get#PaymentGatewayDetails answers: Mantle's status for the payment and its dates (naive UTC)."""

    status_id: str | None  # None: Stripe's status is unknown to us, so Mantle should not change anything
    transaction_status: str
    effective_date: datetime | None = None
    settlement_date: datetime | None = None


# ---------------------------------------------------------------------------------------------------------------
# Small readers: Stripe omits null fields in some nested objects (last_payment_error), and an object we get may be a
# bare id where it was not expanded, so every optional read goes through these.


# A Stripe object as the SDK built it, or as its JSON (the journal's writes keep Stripe's answer as JSON: answers.py).
StripeValues = stripe.StripeObject | Mapping[str, Any]
# Bound once: `stripe.StripeObject` is resolved by the SDK's lazy module __getattr__ (an import) at every use.
_STRIPE_OBJECT: Final = stripe.StripeObject


def field_value(obj: Any, key: str) -> Any:
    """`obj[key]` of a Stripe object or dict, None when absent or when `obj` is None or a bare (unexpanded) id."""
    if obj is None or isinstance(obj, str):
        return None
    if isinstance(obj, _STRIPE_OBJECT):
        # StripeObject has no .get(); a missing key raises KeyError.
        try:
            return obj[key]
        except KeyError:
            return None
    if isinstance(obj, dict):
        return obj.get(key)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id_of(value: Any) -> str | None:
    """The id of an expandable field, expanded or not."""
    return _str(value) if isinstance(value, str) else _str(field_value(value, "id"))


def _expanded(value: Any) -> StripeValues | None:
    """An expanded field (an SDK object or its JSON), None when it is a bare id or absent."""
    return value if isinstance(value, (_STRIPE_OBJECT, dict)) else None


def _short(value: str | None, limit: int = SHORT_TEXT) -> str | None:
    return value[:limit] if value else None


def _utc(epoch: int | None) -> datetime | None:
    # Naive UTC, as Moqui stores date-time fields (database_time_zone default).
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) if epoch is not None else None


def safe_message(text: str | None, *, request_id: str | None = None, limit: int = MESSAGE_TEXT) -> str | None:
    """`text` without client secrets, keys or card numbers, with Stripe's request id, cut to `limit` characters."""
    if not text and not request_id:
        return None
    cleaned = " ".join((text or "").split())
    cleaned = _CARD_NUMBER.sub("[number]", redact_secrets(cleaned))
    if request_id:
        # The request id is what Stripe support asks for; keep it even when the message must be cut.
        suffix = f" [{request_id}]"
        cleaned = cleaned[: max(limit - len(suffix), 0)].rstrip() + suffix
    return cleaned[:limit].strip() or None


def _amount(minor: Any, currency: Any) -> tuple[Decimal | None, str | None]:
    code = _str(currency)
    value = _int(minor)
    if code is None:
        return None, None
    return (from_minor_units(value, code) if value is not None else None), code.upper()


# ---------------------------------------------------------------------------------------------------------------
# Declines


@dataclass(frozen=True)
class _Failure:
    declined: bool
    nsf: bool
    bad_expire: bool
    bad_card_number: bool
    reason_code: str | None


def _classify_card_failure(code: str | None, decline_code: str | None) -> _Failure:
    codes = {c for c in (code, decline_code) if c}
    # The issuer's decline code is the more precise reason when there is one (code is then just "card_declined").
    reason = decline_code or code
    if codes & _TRANSIENT_CODES:
        return _Failure(False, False, False, False, reason)
    return _Failure(
        declined=True,
        nsf=bool(codes & _NSF_CODES),
        bad_expire=bool(codes & _BAD_EXPIRE_CODES),
        bad_card_number=bool(codes & _BAD_CARD_NUMBER_CODES),
        reason_code=reason,
    )


def _is_card_failure(error: Any) -> bool:
    # Only card errors are declines; a last_payment_error of another type (api_error, ...) says nothing of the card.
    return error is not None and field_value(error, "type") == "card_error"


# ---------------------------------------------------------------------------------------------------------------
# Charge details shared by PaymentIntent outcomes


@dataclass(frozen=True)
class _ChargeDetails:
    charge_id: str | None = None
    approval_code: str | None = None
    response_code: str | None = None
    reason_code: str | None = None
    seller_message: str | None = None
    avs_result: str | None = None
    cv_result: str | None = None
    score_result: str | None = None


def _charge_details(charge_field: Any) -> _ChargeDetails:
    charge_id = _id_of(charge_field)
    charge = _expanded(charge_field)
    if charge is None:
        return _ChargeDetails(charge_id=charge_id, approval_code=charge_id)
    card = field_value(field_value(charge, "payment_method_details"), "card")
    checks = field_value(card, "checks")
    avs = [
        f"{label}:{value}"
        for label, value in (
            ("line1", _str(field_value(checks, "address_line1_check"))),
            ("postal", _str(field_value(checks, "address_postal_code_check"))),
        )
        if value
    ]
    outcome = field_value(charge, "outcome")
    risk_score = _int(field_value(outcome, "risk_score"))
    return _ChargeDetails(
        charge_id=charge_id,
        # The network's authorization code when Stripe shares it, else the charge id identifies the approval.
        approval_code=_str(field_value(card, "authorization_code")) or charge_id,
        response_code=_str(field_value(outcome, "network_status")),
        reason_code=_str(field_value(outcome, "reason")),
        seller_message=_str(field_value(outcome, "seller_message")),
        avs_result=" ".join(avs) or None,
        cv_result=_str(field_value(checks, "cvc_check")),
        # risk_score needs Radar for Fraud Teams; risk_level is always there.
        score_result=str(risk_score) if risk_score is not None else _str(field_value(outcome, "risk_level")),
    )


# ---------------------------------------------------------------------------------------------------------------
# PaymentIntent -> GatewayOutcome

_SUCCESS_STATUSES: dict[GatewayOperation, frozenset[str]] = {
    # A manual PaymentIntent that is already captured (the checkout page may capture automatically) is still
    # authorized: the service records it as authorizeAndCapture, it must not charge again.
    GatewayOperation.AUTHORIZE: frozenset({"requires_capture", "succeeded"}),
    GatewayOperation.AUTHORIZE_AND_CAPTURE: frozenset({"succeeded"}),
    GatewayOperation.CAPTURE: frozenset({"succeeded"}),
    GatewayOperation.RELEASE: frozenset({"canceled"}),
}


def outcome_from_payment_intent(
    intent: StripeValues,
    operation: GatewayOperation,
    *,
    customer_can_authenticate: bool = False,
) -> GatewayOutcome:
    """The outcome of authorize, authorizeAndCapture, capture, release or details from a returned PaymentIntent.

    Expand `latest_charge` to get the approval code, AVS/CVC checks and risk score. `customer_can_authenticate` is
    True when a shopper may still complete 3-D Secure (a checkout page's PaymentIntent): `requires_action` is then
    pending; otherwise nobody can authenticate, so it is a decline with reason code `authentication_required`.
    """
    if operation is GatewayOperation.REFUND:
        raise ValueError("a refund's outcome comes from the Refund: use outcome_from_refund")
    status = _str(field_value(intent, "status")) or "unknown"
    charge = _charge_details(field_value(intent, "latest_charge"))
    currency = field_value(intent, "currency")
    received = status == "succeeded" and operation is not GatewayOperation.RELEASE
    amount, code = _amount(field_value(intent, "amount_received" if received else "amount"), currency)
    common: dict[str, Any] = {
        "reference_num": _short(_str(field_value(intent, "id"))),
        "alt_reference": _short(charge.charge_id),
        "avs_result": _short(charge.avs_result),
        "cv_result": _short(charge.cv_result),
        "score_result": _short(charge.score_result),
        "transaction_status": status,
        "amount": amount,
        "currency": code,
    }
    if operation is GatewayOperation.DETAILS or status in _SUCCESS_STATUSES[operation]:
        return GatewayOutcome(
            result_success=True,
            approval_code=_short(charge.approval_code) if status in {"requires_capture", "succeeded"} else None,
            response_code=_short(charge.response_code),
            reason_code=_short(charge.reason_code),
            reason_message=safe_message(charge.seller_message),
            **common,
        )
    error = field_value(intent, "last_payment_error")
    if status == "requires_payment_method" and _is_card_failure(error):
        failure = _classify_card_failure(_str(field_value(error, "code")), _str(field_value(error, "decline_code")))
        return _failure_outcome(failure, "card_error", _str(field_value(error, "message")), None, common)
    if status == "requires_action":
        if customer_can_authenticate:
            return GatewayOutcome(reason_code=AUTHENTICATION_REQUIRED, **common)
        return GatewayOutcome(
            result_declined=True,
            response_code=status,
            reason_code=AUTHENTICATION_REQUIRED,
            reason_message="The card requires authentication (3-D Secure) and the customer is not present.",
            **common,
        )
    if status == "processing":
        return GatewayOutcome(reason_message="Stripe is still processing the payment.", **common)
    return GatewayOutcome(
        result_error=True,
        response_code=status,
        reason_code="unexpected_status",
        reason_message=safe_message(f"The PaymentIntent is {status}, which does not complete {operation.value}."),
        **common,
    )


def _failure_outcome(
    failure: _Failure, response_code: str, message: str | None, request_id: str | None, common: dict[str, Any]
) -> GatewayOutcome:
    return GatewayOutcome(
        result_declined=failure.declined,
        result_error=not failure.declined,
        result_nsf=failure.nsf,
        result_bad_expire=failure.bad_expire,
        result_bad_card_number=failure.bad_card_number,
        response_code=response_code,
        reason_code=_short(failure.reason_code),
        reason_message=safe_message(message, request_id=request_id),
        **common,
    )


# ---------------------------------------------------------------------------------------------------------------
# Refund -> GatewayOutcome


def outcome_from_refund(refund: StripeValues) -> GatewayOutcome:
    """The outcome of a refund from the Refund Stripe returned.

    `pending` counts as success: Stripe has accepted the refund and the amount is committed; the rare later failure
    arrives as a `refund.failed` webhook. `failed` and `canceled` are declines; `requires_action` is pending.
    """
    status = _str(field_value(refund, "status")) or "unknown"
    amount, code = _amount(field_value(refund, "amount"), field_value(refund, "currency"))
    refund_id = _short(_str(field_value(refund, "id")))
    common: dict[str, Any] = {
        "reference_num": _short(_id_of(field_value(refund, "payment_intent"))),
        "alt_reference": _short(_id_of(field_value(refund, "charge"))),
        "sub_reference": refund_id,
        "transaction_status": status,
        "amount": amount,
        "currency": code,
    }
    if status in {"succeeded", "pending"}:
        # A refund has no network authorization code: the refund id is what approved it.
        return GatewayOutcome(result_success=True, approval_code=refund_id, **common)
    if status in {"failed", "canceled"}:
        reason = _str(field_value(refund, "failure_reason")) or status
        return GatewayOutcome(
            result_declined=True,
            response_code=status,
            reason_code=_short(reason),
            reason_message=safe_message(f"Stripe reports the refund as {status} ({reason})."),
            **common,
        )
    if status == "requires_action":
        return GatewayOutcome(reason_message="The refund needs action in Stripe's dashboard.", **common)
    return GatewayOutcome(
        result_error=True,
        response_code=status,
        reason_code="unexpected_status",
        reason_message=safe_message(f"The refund is {status}."),
        **common,
    )


# ---------------------------------------------------------------------------------------------------------------
# Exceptions -> GatewayOutcome or StripeRequestRejected


def rejected_request(error: stripe.InvalidRequestError | stripe.IdempotencyError) -> StripeRequestRejected:
    """The typed exception for a request Stripe refused as such (the services raise it as a Moqui error)."""
    code = error.code or _str(field_value(error.error, "code"))
    if isinstance(error, stripe.IdempotencyError):
        code = "idempotency_error"
    return StripeRequestRejected(
        safe_message(error.user_message) or "Stripe refused the request",
        code=code,
        param=_str(field_value(error.error, "param")),
        http_status=error.http_status,
        request_id=error.request_id,
    )


_ERROR_TYPES: tuple[tuple[type[stripe.StripeError], str, str], ...] = (
    (stripe.APIConnectionError, "api_connection_error", "Stripe could not be reached."),
    (stripe.RateLimitError, "rate_limit_error", "Stripe is rate limiting requests; try again later."),
    (stripe.AuthenticationError, "authentication_error", "Stripe refused the gateway's API key."),
    (stripe.PermissionError, "permission_error", "The gateway's API key may not do this at Stripe."),
    (stripe.APIError, "api_error", "Stripe reported an internal error."),
)


def outcome_from_error(
    error: stripe.StripeError,
    *,
    customer_can_authenticate: bool = False,
) -> GatewayOutcome:
    """The outcome of a call that raised: card errors are declines (or errors when transient), others are errors.

    Raises `StripeRequestRejected` (from the error) for InvalidRequestError and IdempotencyError, which no outcome
    describes: the request itself was wrong.
    """
    if isinstance(error, stripe.InvalidRequestError | stripe.IdempotencyError):
        raise rejected_request(error) from error
    details = error.error
    intent = field_value(details, "payment_intent")
    common: dict[str, Any] = {}
    if intent is not None:
        # The PaymentIntent a failed confirm left behind: keep its ids so a new attempt can reuse it.
        common = {
            "reference_num": _short(_id_of(intent)),
            "transaction_status": _str(field_value(intent, "status")),
        }
        common["amount"], common["currency"] = _amount(field_value(intent, "amount"), field_value(intent, "currency"))
    charge_id = _str(field_value(details, "charge")) or _id_of(field_value(intent, "latest_charge"))
    common["alt_reference"] = _short(charge_id)
    if isinstance(error, stripe.CardError):
        code = error.code or _str(field_value(details, "code"))
        decline_code = _str(field_value(details, "decline_code"))
        if customer_can_authenticate and AUTHENTICATION_REQUIRED in {code, decline_code}:
            return GatewayOutcome(
                reason_code=AUTHENTICATION_REQUIRED,
                reason_message=safe_message(error.user_message, request_id=error.request_id),
                **common,
            )
        failure = _classify_card_failure(code, decline_code)
        return _failure_outcome(failure, "card_error", error.user_message, error.request_id, common)
    response_code, summary = "stripe_error", "Stripe returned an error."
    for error_type, name, description in _ERROR_TYPES:
        if isinstance(error, error_type):
            response_code, summary = name, description
            break
    detail = safe_message(error.user_message, limit=MESSAGE_TEXT)
    return GatewayOutcome(
        result_error=True,
        response_code=response_code,
        reason_code=_short(
            error.code or _str(field_value(details, "code")) or (str(error.http_status) if error.http_status else None)
        ),
        reason_message=safe_message(f"{summary} {detail or ''}", request_id=error.request_id),
        **common,
    )


# ---------------------------------------------------------------------------------------------------------------
# PaymentIntent -> Mantle payment status (get#PaymentGatewayDetails)

_AWAITING_STATUSES = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
# Stripe cancels an uncaptured PaymentIntent itself when its authorization expires.
_EXPIRY_CANCELLATIONS = frozenset({"automatic", "expired"})


def gateway_payment_status(intent: StripeValues, *, now: datetime | None = None) -> GatewayPaymentStatus:
    """Mantle's payment status for a PaymentIntent; expand `latest_charge.balance_transaction` for dates and settlement.

    - requires_payment_method / requires_confirmation / requires_action: PmntPromised (not paid yet, may still be),
      PmntDeclined when the last attempt was a card decline (not a transient failure such as processing_error).
    - requires_capture: PmntAuthorized; PmntPromised once the charge's `capture_before` has passed (the authorization
      is gone, Mantle re-authorizes before capturing).
    - processing: PmntAuthorized. Funds are on their way but not delivered; PmntPromised would make Mantle authorize
      again (a second charge) and PmntDelivered could turn out false. A capture attempted meanwhile is refused by
      Stripe, which changes nothing.
    - succeeded: PmntDelivered; PmntConfirmed when the charge's balance transaction is `available` (the funds have
      settled into the Stripe balance: Mantle's "confirmed", as Authorize.Net's settledSuccessfully). Refunds do not
      change the status: Mantle records them as separate refund Payments (PmntRefunded is deprecated).
    - canceled: PmntVoid, but PmntPromised when Stripe canceled it because the authorization expired.

    `effective_date` (for PmntDelivered/PmntConfirmed) is when the funds were captured: the balance transaction's
    creation if expanded, else the charge's creation. `settlement_date` is when the funds became available.
    `now` (aware, or naive UTC) is for the `capture_before` check; it defaults to the current time.
    """
    status = _str(field_value(intent, "status")) or "unknown"
    charge = _expanded(field_value(intent, "latest_charge"))
    if status in _AWAITING_STATUSES:
        error = field_value(intent, "last_payment_error")
        # Same rule as the outcome: a transient card failure (processing_error, ...) is no decline.
        if (
            _is_card_failure(error)
            and _classify_card_failure(
                _str(field_value(error, "code")), _str(field_value(error, "decline_code"))
            ).declined
        ):
            return GatewayPaymentStatus("PmntDeclined", status)
        return GatewayPaymentStatus("PmntPromised", status)
    if status == "requires_capture":
        capture_before = _int(
            field_value(field_value(field_value(charge, "payment_method_details"), "card"), "capture_before")
        )
        if capture_before is not None and _epoch(now) >= capture_before:
            return GatewayPaymentStatus("PmntPromised", status)
        return GatewayPaymentStatus("PmntAuthorized", status)
    if status == "processing":
        return GatewayPaymentStatus("PmntAuthorized", status)
    if status == "succeeded":
        balance_transaction = _expanded(field_value(charge, "balance_transaction"))
        captured = _int(field_value(balance_transaction, "created")) or _int(field_value(charge, "created"))
        if field_value(balance_transaction, "status") == "available":
            return GatewayPaymentStatus(
                "PmntConfirmed",
                status,
                effective_date=_utc(captured),
                settlement_date=_utc(_int(field_value(balance_transaction, "available_on"))),
            )
        return GatewayPaymentStatus("PmntDelivered", status, effective_date=_utc(captured))
    if status == "canceled":
        if field_value(intent, "cancellation_reason") in _EXPIRY_CANCELLATIONS:
            return GatewayPaymentStatus("PmntPromised", status)
        return GatewayPaymentStatus("PmntVoid", status)
    return GatewayPaymentStatus(None, status)


def _epoch(now: datetime | None) -> int:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
