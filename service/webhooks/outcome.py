"""How processing one event ended, and which failures are worth Stripe's retry.

- `Handled`: processed (something recorded or already up to date) or ignored (not ours, not an event we act on).
  Both are answered 200.
- `PermanentFailure`: our rules refused (e.g. Mantle will not take a refund larger than the payment). Retrying the
  same event cannot help, so it is recorded as SweFailed and answered 200; the operator acts on the message.
- Any other exception is our own transient fault (database, Stripe or Moqui unreachable): SweFailed, answered 500,
  and Stripe delivers the event again later.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.webhooks.event_log import SWE_IGNORED, SWE_PROCESSED

__all__ = ["Handled", "PermanentFailure"]


@dataclass(frozen=True)
class Handled:
    """A processing result answered 200: SweProcessed or SweIgnored, with a message for the event row."""

    status_id: str
    message: str

    @classmethod
    def processed(cls, message: str) -> Handled:
        """The event was acted on, or found its work already done."""
        return cls(SWE_PROCESSED, message)

    @classmethod
    def ignored(cls, message: str) -> Handled:
        """The event is not about anything of ours, or of a type we do not act on."""
        return cls(SWE_IGNORED, message)


class PermanentFailure(Exception):
    """Processing was refused by our own rules; a retry of the same event would be refused again."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
