"""Injected faults for resilience tests: errors, hangs, dropped connections and lost responses.

A rule applies to the next `count` API requests whose path starts with `path_prefix` (and method, if given).
`lose_response` lets Stripe's side run (and store the idempotent result) and then drops the connection, so a
client retry with the same key must be answered by replay, not by a second charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id
from stripe_emulator.limits import rate_limited

FaultMode = Literal["error", "hang", "drop", "lose_response"]
FAULT_MODES: tuple[FaultMode, ...] = ("error", "hang", "drop", "lose_response")


@dataclass
class FaultRule:
    """One injected fault and how many more requests it will hit."""

    id: str
    path_prefix: str
    mode: FaultMode
    remaining: int
    method: str | None = None
    status: int = 500
    should_retry: bool | None = None
    hang_seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        """The rule as the control API reports it."""
        return {
            "id": self.id,
            "path_prefix": self.path_prefix,
            "mode": self.mode,
            "remaining": self.remaining,
            "method": self.method,
            "status": self.status,
            "should_retry": self.should_retry,
            "hang_seconds": self.hang_seconds,
        }

    def error(self) -> StripeError:
        """The Stripe-shaped error an `error` fault answers with."""
        headers = {} if self.should_retry is None else {"Stripe-Should-Retry": "true" if self.should_retry else "false"}
        if self.status == 429:
            limited = rate_limited("global-rate")
            limited.headers.update(headers)
            return limited
        return StripeError(
            self.status,
            "api_error",
            "An unknown error occurred while processing this request.",
            headers=headers,
            stored=False,
        )


class FaultRegistry:
    """Active fault rules, consumed first-registered first."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(
        self,
        path_prefix: str,
        mode: FaultMode,
        *,
        count: int = 1,
        method: str | None = None,
        status: int = 500,
        should_retry: bool | None = None,
        hang_seconds: float = 0.0,
    ) -> FaultRule:
        """Register a rule for the next `count` matching requests."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if mode == "error" and status not in (400, 402, 404, 409, 429, 500, 502, 503, 504):
            raise ValueError(f"unsupported fault status {status}")
        rule = FaultRule(
            new_id("fault"),
            path_prefix,
            mode,
            count,
            method.upper() if method else None,
            status,
            should_retry,
            hang_seconds,
        )
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule hitting this request, if any, counting it down."""
        for rule in self.rules:
            if path.startswith(rule.path_prefix) and (rule.method is None or rule.method == method):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()
