"""The deadline of one request: set when it arrives, and every wait under it is cut to what is left.

Moqui's HTTP client gives up after about 30 s of silence, so an answer that comes later is an answer nobody reads
(docs/gateway-api.md, "Deadline"). Lease waits, Stripe calls (with the SDK's own retries and back-off) and our
rate-limit back-off all run under `Deadline.remaining()`; what is kept back (`RECORDING_RESERVE_SECONDS`) is the
time the answer needs to be journaled and sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

__all__ = ["RECORDING_RESERVE_SECONDS", "Deadline", "DeadlineReached"]

# Kept back from every Stripe wait: journaling the outcome and answering take a few statements.
RECORDING_RESERVE_SECONDS: Final = 1.0


class DeadlineReached(Exception):
    """The request's deadline passed before the wait was over."""


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock by which the request must be answered."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline `seconds` from now."""
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - time.monotonic())

    def for_stripe(self) -> float:
        """Seconds a Stripe call (with its retries) may take, leaving time to record its outcome."""
        return max(0.0, self.remaining() - RECORDING_RESERVE_SECONDS)

    @property
    def passed(self) -> bool:
        """Whether nothing is left."""
        return self.remaining() <= 0.0
