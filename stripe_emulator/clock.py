"""The emulator's clock: real time plus an offset that tests move forward to reach deadlines."""

from __future__ import annotations

import time


class Clock:
    """Unix seconds as Stripe reports them (`created`, `capture_before`), shiftable for expiry tests."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        """Current emulator time in whole Unix seconds."""
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> int:
        """Move the clock forward (never back: Stripe's objects only age) and return the new time."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self.offset += seconds
        return self.now()

    def reset(self) -> None:
        """Back to real time."""
        self.offset = 0
