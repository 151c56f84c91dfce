"""Stripe's answer to one of the journal's writes, kept as the JSON Stripe sent.

The writes (create, confirm, capture, cancel, refund) are sent with the SDK's `StripeClient.raw_request_async`: the
same transport, retries, idempotency key and error mapping as its typed services, but the answer is not turned into
the SDK's objects. Building a PaymentIntent with its expanded charge that way cost about a millisecond of CPU, a third
of what the service spent on an authorization (py-spy over `bench/service_benchmark.py --stripe-latency 0.25`), and
the journal only reads a dozen fields of it (`outcome.py` reads JSON and SDK objects alike with `field_value`).
Pages that go on with an SDK object (the checkout's client secret, the recovery page) convert with `as_object`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import stripe

from service.stripe_gateway.outcome import field_value

__all__ = ["StripeAnswer"]

T = TypeVar("T", bound=stripe.StripeObject)


@dataclass(frozen=True)
class StripeAnswer:
    """One Stripe object as its JSON, and the id of the request that answered it (None when read back later)."""

    values: Mapping[str, Any]
    request_id: str | None = None

    @classmethod
    def of(cls, obj: stripe.StripeObject) -> StripeAnswer:
        """An object the SDK built (a read), as JSON."""
        response = obj.last_response
        return cls(obj.to_dict(), response.request_id if response is not None else None)

    @property
    def id(self) -> str:
        """The object's id."""
        return str(self.values.get("id") or "")

    @property
    def object(self) -> str:
        """The object's type (`payment_intent`, `refund`)."""
        return str(self.values.get("object") or "")

    def value(self, key: str) -> Any:
        """A top-level field, None when absent."""
        return field_value(self.values, key)

    def as_object(self, kind: type[T]) -> T:
        """The SDK object of `kind` built from the JSON, for code that goes on with one (checkout, recovery)."""
        return kind.construct_from(dict(self.values), None)
