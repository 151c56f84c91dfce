"""The service's clock: one seam through which the journal and the reconciler read "now", so tests can move it.

Moqui stores date-times naive in UTC, and so does our journal. `SYSTEM_CLOCK` is the real time; a test builds the app
with a `Clock` of its own and moves it (`advance`) together with the Stripe emulator's clock, so a journal row can
be made 25 hours old without waiting a day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["SYSTEM_CLOCK", "Clock"]


class Clock:
    """Now in UTC (naive, as Moqui stores it), plus an offset that only tests move."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        """The current time as the journal records it."""
        return datetime.now(UTC).replace(tzinfo=None) + self._offset

    def advance(self, seconds: float) -> None:
        """Move this clock forward (tests: a row becomes old; the emulator's clock is moved alike)."""
        self._offset += timedelta(seconds=seconds)


SYSTEM_CLOCK: Final = Clock()
