"""Stripe objects for tests, built from Stripe's own example objects (stripe-mock's fixtures3.json).

The file is vendored in `tests/reference/stripe-reference/` (source in its SOURCES.md).
Errors are built with the SDK's exception classes and the arguments its requestor passes for an HTTP error body, so
`e.error` is populated exactly as it is for a real response.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from functools import cache
from typing import Any

import stripe

from tests.reference import STRIPE_FIXTURES

FIXTURES = STRIPE_FIXTURES


@cache
def _resources() -> dict[str, Any]:
    with FIXTURES.open(encoding="utf-8") as file:
        resources: dict[str, Any] = json.load(file, parse_float=Decimal)["resources"]
    return resources


def example(resource: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example `resource` with top-level `changes`."""
    values: dict[str, Any] = copy.deepcopy(_resources()[resource])
    values.update(changes)
    return values


def charge_example(**changes: Any) -> dict[str, Any]:
    """Stripe's example charge, with `card` changes applied to payment_method_details.card."""
    card_changes = changes.pop("card", {})
    values = example("charge", **changes)
    values["payment_method_details"]["card"].update(card_changes)
    return values


def payment_intent(**changes: Any) -> stripe.PaymentIntent:
    """Stripe's example PaymentIntent (with changes) as the SDK's PaymentIntent object."""
    return stripe.PaymentIntent.construct_from(example("payment_intent", **changes), None)


def refund(**changes: Any) -> stripe.Refund:
    """Stripe's example Refund (with changes) as the SDK's Refund object."""
    return stripe.Refund.construct_from(example("refund", **changes), None)


def error_body(**error: Any) -> dict[str, Any]:
    """A Stripe error response body: {"error": {...}}."""
    return {"error": error}


def card_error(body: dict[str, Any], request_id: str = "req_card") -> stripe.CardError:
    """A CardError as the SDK raises it for an HTTP 402 with this body."""
    data = body["error"]
    # The SDK's exception constructors are unannotated.
    return stripe.CardError(  # type: ignore[no-untyped-call]
        data.get("message"), data.get("param"), data.get("code"), json.dumps(body, default=str), 402, body,
        {"request-id": request_id},
    )  # fmt: skip


def invalid_request_error(body: dict[str, Any], status: int = 400) -> stripe.InvalidRequestError:
    """An InvalidRequestError as the SDK raises it for an HTTP 400/404 with this body."""
    data = body["error"]
    return stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
        data.get("message"), data.get("param"), data.get("code"), json.dumps(body), status, body,
        {"request-id": "req_invalid"},
    )  # fmt: skip


def simple_error(cls: type[stripe.StripeError], body: dict[str, Any] | None, status: int | None) -> stripe.StripeError:
    """An error of a class the SDK builds with (message, body, status, json, headers)."""
    message = body["error"].get("message") if body else "Network error"
    return cls(message, json.dumps(body) if body else None, status, body, {"request-id": "req_other"})
