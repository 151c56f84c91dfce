"""What Stripe limits per account, and the switches tests turn: request rates, the Search API, added latency.

- Rate limits (docs.stripe.com/rate-limits): 25 requests per second in test mode, 100 in live mode, per account;
  beyond that Stripe answers 429 `rate_limit`. The Search API has its own limit of 20 read requests per second
  (docs.stripe.com/rate-limits, "Search"). Both counted here over a sliding second of real time, per API key.
- Search (docs.stripe.com/search): eventually consistent ("data is searchable in under 1 minute"), so a new object
  is invisible to search for `search_index_lag_seconds` of emulator clock; and not available to merchants in some
  countries (India), which get a 400 (`search_available` off).
- Latency: every `/v1/` request waits `latency_seconds` plus up to `latency_jitter_seconds`, as a far-away Stripe.
- MOTO (docs.stripe.com/payments/payment-intents/moto): a gated feature Stripe enables per account after checking
  PCI compliance; `moto_enabled` says whether this account has it (off, as on a new account).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import Any

from stripe_emulator.errors import StripeError, invalid_request

# Stripe's test-mode rate limit per account (live mode: 100).
TEST_MODE_REQUESTS_PER_SECOND = 25
SEARCH_REQUESTS_PER_SECOND = 20
# Above zero, as on Stripe; a few seconds keeps tests that wait for it short.
SEARCH_INDEX_LAG_SECONDS = 5


# The settings that are on or off.
_SWITCHES = frozenset({"search_available", "moto_enabled"})


@dataclass
class LimitSettings:
    """The switches; `api_requests_per_second` None turns the general rate limit off."""

    api_requests_per_second: int | None = TEST_MODE_REQUESTS_PER_SECOND
    search_requests_per_second: int | None = SEARCH_REQUESTS_PER_SECOND
    search_available: bool = True
    search_index_lag_seconds: int = SEARCH_INDEX_LAG_SECONDS
    latency_seconds: float = 0.0
    latency_jitter_seconds: float = 0.0
    moto_enabled: bool = False

    def describe(self) -> dict[str, Any]:
        """The settings as the control API shows them."""
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply the given settings (validated: unknown names and wrong types are refused, nothing changes)."""
        known = {f.name: f for f in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise invalid_request(f"Unknown setting {name}; known: {', '.join(known)}", param=name)
            if name in _SWITCHES:
                if not isinstance(value, bool):
                    raise invalid_request(f"{name} must be true or false", param=name)
            elif value is not None or name not in ("api_requests_per_second", "search_requests_per_second"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise invalid_request(f"{name} must be a number, zero or more", param=name)
                if name in ("api_requests_per_second", "search_requests_per_second", "search_index_lag_seconds"):
                    value = int(value)
            checked[name] = value
        for name, value in checked.items():
            setattr(self, name, value)


def rate_limited(reason: str) -> StripeError:
    """Stripe's 429 (`Stripe-Rate-Limited-Reason` names which limiter, docs.stripe.com/rate-limits)."""
    return StripeError(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers={"Stripe-Rate-Limited-Reason": reason},
        stored=False,
    )


def search_unavailable() -> StripeError:
    """What a merchant without the Search API gets (as quoted in SAP-archive/btp-create-api-integrations#7)."""
    return invalid_request("The search feature is temporarily unavailable in your region.", stored=False)


class RateWindows:
    """Requests per API key over the last second of real time (rate limits are about wall-clock load)."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}

    def admit(self, key: str, per_second: int | None) -> bool:
        """Count a request; False (not counted) if `key` already made `per_second` in the last second."""
        if per_second is None:
            return True
        now = time.monotonic()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - 1.0:
            seen.popleft()
        if len(seen) >= per_second:
            return False
        seen.append(now)
        return True

    def clear(self) -> None:
        """Forget every window."""
        self._seen.clear()


class Limits:
    """The settings, the rate windows and the count of search requests received."""

    def __init__(self, defaults: LimitSettings) -> None:
        self.defaults = defaults
        self.settings = LimitSettings(**asdict(defaults))
        self.api_windows = RateWindows()
        self.search_windows = RateWindows()
        self.search_requests = 0

    def check(self, api_key: str, is_search: bool) -> None:
        """Count one API request and raise Stripe's error if a limit or the search switch refuses it."""
        if is_search:
            self.search_requests += 1
        if not self.api_windows.admit(api_key, self.settings.api_requests_per_second):
            raise rate_limited("global-rate")
        if is_search:
            if not self.settings.search_available:
                raise search_unavailable()
            if not self.search_windows.admit(api_key, self.settings.search_requests_per_second):
                raise rate_limited("endpoint-rate")

    def reset(self) -> None:
        """Back to the configured settings, empty windows, no search requests counted."""
        self.settings = LimitSettings(**asdict(self.defaults))
        self.api_windows.clear()
        self.search_windows.clear()
        self.search_requests = 0
