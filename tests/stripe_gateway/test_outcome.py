"""Stripe results and errors -> GatewayOutcome and Mantle payment status, from Stripe's own example objects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe

from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.outcome import (
    GatewayOutcome,
    StripeRequestRejected,
    gateway_payment_status,
    outcome_from_error,
    outcome_from_payment_intent,
    outcome_from_refund,
    safe_message,
)
from tests.stripe_gateway.stripe_objects import (
    card_error,
    charge_example,
    error_body,
    example,
    invalid_request_error,
    payment_intent,
    refund,
    simple_error,
)

PI_ID = "pi_1PgafyB7WZ01zgkWSjxsAJo3"  # the id of Stripe's example PaymentIntent
CHARGE_ID = "ch_1PgafuB7WZ01zgkWXYmPNZs8"  # the id of Stripe's example charge

FLAGS = (
    "result_success",
    "result_declined",
    "result_error",
    "result_nsf",
    "result_bad_expire",
    "result_bad_card_number",
)


def flags(outcome: GatewayOutcome) -> set[str]:
    return {name for name in FLAGS if getattr(outcome, name)}


def authorized_intent(**changes: Any) -> stripe.PaymentIntent:
    """Stripe's example PaymentIntent, confirmed with manual capture, its example charge expanded."""
    charge = charge_example(**{"captured": False, "payment_intent": PI_ID, **changes.pop("charge", {})})
    values: dict[str, Any] = {
        "status": "requires_capture",
        "capture_method": "manual",
        "amount_capturable": 1099,
        "last_payment_error": None,
        "canceled_at": None,
        "latest_charge": charge,
    }
    values.update(changes)
    return payment_intent(**values)


def decline_error(
    code: str, decline_code: str | None = None, message: str = "Your card was declined."
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "card_error", "code": code, "message": message, "charge": CHARGE_ID}
    if decline_code:
        error["decline_code"] = decline_code
    return error


# --- PaymentIntent outcomes --------------------------------------------------------------------------------------


def test_stripe_example_intent_without_a_card_failure_is_an_error_for_authorize() -> None:
    # Stripe's example is requires_payment_method with an idempotency_error: nothing says the card was declined.
    outcome = outcome_from_payment_intent(payment_intent(), GatewayOperation.AUTHORIZE)
    assert flags(outcome) == {"result_error"}
    assert outcome.reference_num == PI_ID
    assert outcome.transaction_status == "requires_payment_method"
    assert outcome.amount == Decimal("10.99")
    assert outcome.currency == "USD"
    assert "secret" not in str(outcome)


def test_authorized_intent_is_success_with_charge_details() -> None:
    intent = authorized_intent(
        charge={
            "card": {
                "authorization_code": "A1B2C3",
                "checks": {"address_line1_check": "pass", "address_postal_code_check": "fail", "cvc_check": "pass"},
            },
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "risk_score": 32,
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
        }
    )
    outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE)
    assert flags(outcome) == {"result_success"}
    assert outcome.reference_num == PI_ID
    assert outcome.alt_reference == CHARGE_ID
    assert outcome.approval_code == "A1B2C3"
    assert outcome.response_code == "approved_by_network"
    assert outcome.avs_result == "line1:pass postal:fail"
    assert outcome.cv_result == "pass"
    assert outcome.score_result == "32"
    assert outcome.reason_message == "Payment complete."
    assert outcome.transaction_status == "requires_capture"
    assert outcome.amount == Decimal("10.99")


def test_approval_code_falls_back_to_the_charge_id() -> None:
    # Stripe's example charge has no authorization_code and no risk score.
    outcome = outcome_from_payment_intent(authorized_intent(), GatewayOperation.AUTHORIZE)
    assert outcome.approval_code == CHARGE_ID
    assert outcome.cv_result == "pass"
    assert outcome.avs_result is None
    assert outcome.score_result is None


def test_unexpanded_charge_keeps_its_id() -> None:
    outcome = outcome_from_payment_intent(authorized_intent(latest_charge=CHARGE_ID), GatewayOperation.AUTHORIZE)
    assert outcome.result_success
    assert outcome.alt_reference == CHARGE_ID
    assert outcome.approval_code == CHARGE_ID


def test_partial_capture_reports_the_captured_amount() -> None:
    intent = authorized_intent(status="succeeded", amount_capturable=0, amount_received=600)
    outcome = outcome_from_payment_intent(intent, GatewayOperation.CAPTURE)
    assert flags(outcome) == {"result_success"}
    assert outcome.amount == Decimal("6.00")
    assert outcome.transaction_status == "succeeded"


def test_capture_of_an_uncaptured_intent_is_an_error() -> None:
    outcome = outcome_from_payment_intent(authorized_intent(), GatewayOperation.CAPTURE)
    assert flags(outcome) == {"result_error"}
    assert outcome.reason_code == "unexpected_status"


def test_authorize_and_capture_needs_succeeded() -> None:
    captured = authorized_intent(status="succeeded", capture_method="automatic", amount_received=1099)
    assert outcome_from_payment_intent(captured, GatewayOperation.AUTHORIZE_AND_CAPTURE).result_success
    # An already captured PaymentIntent also satisfies authorize: it must not be charged again.
    assert outcome_from_payment_intent(captured, GatewayOperation.AUTHORIZE).result_success
    assert outcome_from_payment_intent(authorized_intent(), GatewayOperation.AUTHORIZE_AND_CAPTURE).result_error


def test_release_of_a_canceled_intent_is_success() -> None:
    intent = authorized_intent(status="canceled", cancellation_reason=None, amount_capturable=0)
    outcome = outcome_from_payment_intent(intent, GatewayOperation.RELEASE)
    assert flags(outcome) == {"result_success"}
    assert outcome.approval_code is None
    assert outcome.amount == Decimal("10.99")


def test_card_decline_left_on_the_intent_is_a_decline() -> None:
    intent = payment_intent(last_payment_error=decline_error("card_declined", "insufficient_funds"))
    outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE)
    assert flags(outcome) == {"result_declined", "result_nsf"}
    assert outcome.reason_code == "insufficient_funds"
    assert outcome.alt_reference is None  # the example PaymentIntent has no latest_charge


def test_requires_action_without_the_customer_is_declined() -> None:
    intent = payment_intent(status="requires_action", last_payment_error=None)
    outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE)
    assert flags(outcome) == {"result_declined"}
    assert outcome.reason_code == "authentication_required"


def test_requires_action_with_the_customer_is_pending() -> None:
    intent = payment_intent(status="requires_action", last_payment_error=None)
    outcome = outcome_from_payment_intent(intent, GatewayOperation.AUTHORIZE, customer_can_authenticate=True)
    assert flags(outcome) == set()
    assert outcome.pending
    assert outcome.transaction_status == "requires_action"


def test_processing_is_pending() -> None:
    outcome = outcome_from_payment_intent(
        payment_intent(status="processing", last_payment_error=None), GatewayOperation.AUTHORIZE_AND_CAPTURE
    )
    assert outcome.pending


def test_refund_operation_needs_a_refund_object() -> None:
    with pytest.raises(ValueError, match="outcome_from_refund"):
        outcome_from_payment_intent(payment_intent(), GatewayOperation.REFUND)


def test_details_outcome_is_a_successful_lookup() -> None:
    outcome = outcome_from_payment_intent(payment_intent(), GatewayOperation.DETAILS)
    assert outcome.result_success
    assert outcome.transaction_status == "requires_payment_method"


# --- Refund outcomes ---------------------------------------------------------------------------------------------


def test_refund_example_is_success() -> None:
    outcome = outcome_from_refund(refund(payment_intent=PI_ID))
    assert flags(outcome) == {"result_success"}
    assert outcome.sub_reference == "re_1Pgc72B7WZ01zgkWqPvrRrPE"
    assert outcome.reference_num == PI_ID
    assert outcome.alt_reference == CHARGE_ID
    assert outcome.amount == Decimal("1.00")
    assert outcome.currency == "USD"


def test_pending_refund_is_success_and_failed_refund_is_declined() -> None:
    assert outcome_from_refund(refund(status="pending")).result_success
    failed = outcome_from_refund(refund(status="failed", failure_reason="expired_or_canceled_card"))
    assert flags(failed) == {"result_declined"}
    assert failed.reason_code == "expired_or_canceled_card"
    assert outcome_from_refund(refund(status="requires_action")).pending


# --- Errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "decline_code", "expected_flags", "reason_code"),
    [
        ("card_declined", "generic_decline", {"result_declined"}, "generic_decline"),
        ("card_declined", "insufficient_funds", {"result_declined", "result_nsf"}, "insufficient_funds"),
        ("expired_card", None, {"result_declined", "result_bad_expire"}, "expired_card"),
        ("card_declined", "expired_card", {"result_declined", "result_bad_expire"}, "expired_card"),
        ("invalid_expiry_year", None, {"result_declined", "result_bad_expire"}, "invalid_expiry_year"),
        ("incorrect_number", None, {"result_declined", "result_bad_card_number"}, "incorrect_number"),
        ("invalid_number", None, {"result_declined", "result_bad_card_number"}, "invalid_number"),
        ("incorrect_cvc", None, {"result_declined"}, "incorrect_cvc"),
        ("card_declined", "fraudulent", {"result_declined"}, "fraudulent"),
        ("authentication_required", "authentication_required", {"result_declined"}, "authentication_required"),
        ("processing_error", None, {"result_error"}, "processing_error"),
        ("card_declined", "try_again_later", {"result_error"}, "try_again_later"),
    ],
)
def test_card_errors(code: str, decline_code: str | None, expected_flags: set[str], reason_code: str) -> None:
    declined_intent = example("payment_intent", last_payment_error=decline_error(code, decline_code))
    body = error_body(payment_intent=declined_intent, **decline_error(code, decline_code))
    outcome = outcome_from_error(card_error(body))
    assert flags(outcome) == expected_flags
    assert outcome.reason_code == reason_code
    assert outcome.response_code == "card_error"
    assert outcome.reference_num == PI_ID
    assert outcome.alt_reference == CHARGE_ID
    assert outcome.transaction_status == "requires_payment_method"
    assert outcome.amount == Decimal("10.99")
    assert outcome.reason_message == "Your card was declined. [req_card]"


def test_card_error_without_a_payment_intent() -> None:
    outcome = outcome_from_error(card_error(error_body(**decline_error("card_declined", "lost_card"))))
    assert flags(outcome) == {"result_declined"}
    assert outcome.reference_num is None
    assert outcome.alt_reference == CHARGE_ID


def test_authentication_required_is_pending_when_the_customer_can_authenticate() -> None:
    body = error_body(**decline_error("authentication_required", "authentication_required"))
    outcome = outcome_from_error(card_error(body), customer_can_authenticate=True)
    assert outcome.pending
    assert outcome.reason_code == "authentication_required"


@pytest.mark.parametrize(
    ("cls", "status", "response_code"),
    [
        (stripe.APIError, 500, "api_error"),
        (stripe.APIError, 503, "api_error"),
        (stripe.RateLimitError, 429, "rate_limit_error"),
        (stripe.AuthenticationError, 401, "authentication_error"),
        (stripe.PermissionError, 403, "permission_error"),
    ],
)
def test_outages_and_bad_keys_are_errors_only(cls: type[stripe.StripeError], status: int, response_code: str) -> None:
    body = error_body(
        type="invalid_request_error", message="Invalid API Key provided: sk_test_4eC39HqLyjWDarjtT1zdp7dc"
    )
    outcome = outcome_from_error(simple_error(cls, body, status))
    assert flags(outcome) == {"result_error"}
    assert outcome.response_code == response_code
    assert outcome.reason_message is not None
    assert "sk_test" not in outcome.reason_message
    assert outcome.reason_message.endswith("[req_other]")


def test_connection_error_is_an_error() -> None:
    outcome = outcome_from_error(stripe.APIConnectionError("Unexpected error communicating with Stripe."))  # type: ignore[no-untyped-call]
    assert flags(outcome) == {"result_error"}
    assert outcome.response_code == "api_connection_error"


def test_invalid_request_is_a_typed_rejection() -> None:
    body = error_body(
        type="invalid_request_error",
        code="amount_too_large",
        param="amount",
        message="Amount must be no more than $999,999.99",
    )
    with pytest.raises(StripeRequestRejected) as rejected:
        outcome_from_error(invalid_request_error(body))
    assert rejected.value.code == "amount_too_large"
    assert rejected.value.param == "amount"
    assert rejected.value.http_status == 400
    assert rejected.value.request_id == "req_invalid"
    assert "999,999.99" in rejected.value.message


def test_idempotency_conflict_is_a_typed_rejection() -> None:
    body = error_body(
        type="idempotency_error", message="Keys for idempotent requests can only be used with the same parameters"
    )
    error = stripe.IdempotencyError(body["error"]["message"], "{}", 400, body, {"request-id": "req_idem"})
    with pytest.raises(StripeRequestRejected) as rejected:
        outcome_from_error(error)
    assert rejected.value.code == "idempotency_error"


# --- Messages and response fields --------------------------------------------------------------------------------


def test_safe_message_removes_secrets_and_keeps_the_request_id() -> None:
    text = (
        "secret pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH key sk_live_51Habc*****xyz "
        "restricted rk_test_abc hook whsec_abc123 card 4242 4242 4242 4242 " + "x" * 400
    )
    message = safe_message(text, request_id="req_123")
    assert message is not None
    assert len(message) == 255
    assert message.endswith(" [req_123]")
    for secret in ("_secret_", "sk_live", "rk_test", "whsec_", "4242 4242"):
        assert secret not in message
    assert safe_message(None) is None


def test_response_fields_use_moqui_names_and_indicators() -> None:
    fields = outcome_from_refund(refund()).response_fields()
    assert fields["resultSuccess"] == "Y"
    assert fields["resultDeclined"] == "N"
    assert fields["subReference"] == "re_1Pgc72B7WZ01zgkWqPvrRrPE"
    assert fields["amount"] == Decimal("1.00")
    assert fields["amountUomId"] == "USD"


# --- Mantle payment status ---------------------------------------------------------------------------------------

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LATER = int(NOW.timestamp()) + 3600
EARLIER = int(NOW.timestamp()) - 3600


def test_status_of_stripe_example_intent_is_promised() -> None:
    status = gateway_payment_status(payment_intent(), now=NOW)
    assert status.status_id == "PmntPromised"
    assert status.transaction_status == "requires_payment_method"


def test_status_after_a_decline_is_declined() -> None:
    intent = payment_intent(last_payment_error=decline_error("card_declined", "generic_decline"))
    assert gateway_payment_status(intent, now=NOW).status_id == "PmntDeclined"
    # A transient failure is no decline: the payment may still be made.
    transient = payment_intent(last_payment_error=decline_error("processing_error"))
    assert gateway_payment_status(transient, now=NOW).status_id == "PmntPromised"


@pytest.mark.parametrize("status", ["requires_confirmation", "requires_action"])
def test_status_awaiting_the_customer_is_promised(status: str) -> None:
    assert gateway_payment_status(payment_intent(status=status, last_payment_error=None), now=NOW).status_id == (
        "PmntPromised"
    )


def test_status_authorized_until_capture_before() -> None:
    intent = authorized_intent(charge={"card": {"capture_before": LATER}})
    assert gateway_payment_status(intent, now=NOW).status_id == "PmntAuthorized"
    expired = authorized_intent(charge={"card": {"capture_before": EARLIER}})
    assert gateway_payment_status(expired, now=NOW).status_id == "PmntPromised"
    # Naive datetimes are UTC, as Moqui stores them.
    assert gateway_payment_status(expired, now=NOW.replace(tzinfo=None)).status_id == "PmntPromised"


def test_status_processing_is_authorized() -> None:
    intent = payment_intent(status="processing", last_payment_error=None)
    assert gateway_payment_status(intent, now=NOW).status_id == "PmntAuthorized"


def test_status_succeeded_is_delivered_with_the_charge_date() -> None:
    intent = authorized_intent(status="succeeded", charge={"captured": True, "created": 1700000000})
    status = gateway_payment_status(intent, now=NOW)
    assert status.status_id == "PmntDelivered"
    assert status.effective_date == datetime(2023, 11, 14, 22, 13, 20)
    assert status.settlement_date is None


def test_status_settled_funds_are_confirmed() -> None:
    balance_transaction = example(
        "balance_transaction", status="available", created=1700000100, available_on=1700172800
    )
    intent = authorized_intent(
        status="succeeded", charge={"captured": True, "balance_transaction": balance_transaction}
    )
    status = gateway_payment_status(intent, now=NOW)
    assert status.status_id == "PmntConfirmed"
    assert status.effective_date == datetime(2023, 11, 14, 22, 15)
    assert status.settlement_date == datetime(2023, 11, 16, 22, 13, 20)


def test_status_pending_funds_are_delivered() -> None:
    balance_transaction = example("balance_transaction", status="pending", created=1700000100, available_on=1700172800)
    intent = authorized_intent(
        status="succeeded", charge={"captured": True, "balance_transaction": balance_transaction}
    )
    status = gateway_payment_status(intent, now=NOW)
    assert status.status_id == "PmntDelivered"
    assert status.effective_date == datetime(2023, 11, 14, 22, 15)
    assert status.settlement_date is None


@pytest.mark.parametrize(
    ("reason", "status_id"),
    [
        (None, "PmntVoid"),
        ("requested_by_customer", "PmntVoid"),
        ("automatic", "PmntPromised"),
        ("expired", "PmntPromised"),
    ],
)
def test_status_canceled(reason: str | None, status_id: str) -> None:
    intent = authorized_intent(status="canceled", cancellation_reason=reason)
    assert gateway_payment_status(intent, now=NOW).status_id == status_id


def test_status_unknown_changes_nothing() -> None:
    assert gateway_payment_status(payment_intent(status="something_new"), now=NOW).status_id is None
