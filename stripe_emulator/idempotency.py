"""Idempotent requests as Stripe documents them.

A POST with an `Idempotency-Key` runs once per (API key, idempotency key): the same parameters later replay the
stored response with `Idempotent-Replayed: true`; different parameters get 400 `idempotency_error`; a request
arriving while the first is still running gets 409 and is told to retry. Results are kept only once the endpoint
has started executing (not for rejected parameters), and a key is pruned once it is 24 hours old (emulator clock):
used again after that, it runs as a new request. Both as docs.stripe.com/api/idempotent_requests describes.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_emulator.clock import Clock
from stripe_emulator.errors import StripeError, invalid_request
from stripe_emulator.store import BoundedMap

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    """What the first request with a key answered, and the request it answered."""

    fingerprint: str
    status: int
    body: bytes
    request_id: str
    stored_at: int


class IdempotencyStore:
    """Stored responses (bounded, oldest evicted) and the keys whose first request is still running."""

    def __init__(self, capacity: int, clock: Clock, retention_seconds: int) -> None:
        self.responses: BoundedMap[StoredResponse] = BoundedMap(capacity)
        self.in_flight: set[str] = set()
        self.clock = clock
        self.retention_seconds = retention_seconds

    @staticmethod
    def scope(api_key: str, key: str) -> str:
        """Keys belong to one API key: the same key under another account is a different request."""
        return f"{api_key}\x00{key}"

    @staticmethod
    def check_key(key: str) -> None:
        """Stripe limits keys to 255 characters."""
        if len(key) > MAX_KEY_LENGTH:
            raise invalid_request(
                f"Invalid Idempotency-Key: must be at most {MAX_KEY_LENGTH} characters long.", stored=False
            )

    def lookup(self, scoped: str, fingerprint: str) -> StoredResponse | None:
        """The stored response to replay, None if the request must run; raises on misuse of the key."""
        stored = self.responses.get(scoped)
        if stored is not None and self.clock.now() - stored.stored_at >= self.retention_seconds:
            self.responses.pop(scoped)
            stored = None
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    "with. Try using a key other than the one you used before.",
                    stored=False,
                )
            return stored
        if scoped in self.in_flight:
            raise StripeError(
                409,
                "idempotency_error",
                "There is currently another in-progress request using this Idempotent Key (that probably means you "
                "submitted twice, and the other request is still going through). Please try again later.",
                code="idempotency_key_in_use",
                headers={"Stripe-Should-Retry": "true"},
                stored=False,
            )
        return None

    def remember(self, scoped: str, fingerprint: str, status: int, body: bytes, request_id: str) -> None:
        """Keep the response of a request that ran, stamped with the emulator's time."""
        self.responses.put(scoped, StoredResponse(fingerprint, status, body, request_id, self.clock.now()))

    def clear(self) -> None:
        """Forget every key (in-flight markers stay with their running requests)."""
        self.responses.clear()
