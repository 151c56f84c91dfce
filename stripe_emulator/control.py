"""A typed client for the emulator's control routes (`/_emulator/...`), for tests and tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import aiohttp


@dataclass(frozen=True)
class WebhookEndpointInfo:
    """A registered webhook endpoint."""

    id: str
    url: str
    secret: str
    enabled_events: list[str]
    api_version: str


@dataclass(frozen=True)
class DeliveryInfo:
    """One webhook delivery and what the endpoint answered on each attempt."""

    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    status: str
    attempts: int
    responses: list[int | str]


class EmulatorControlError(RuntimeError):
    """A control call the emulator refused."""


def _delivery(data: dict[str, Any]) -> DeliveryInfo:
    return DeliveryInfo(**data)


class EmulatorControl:
    """Drive an emulator at `base_url`: reset it, inject faults, move its clock, steer webhooks and 3-D Secure."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> EmulatorControl:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client opened it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, f"{self.base_url}/_emulator{path}", json=body) as response:
            data = await response.json()
            if response.status >= 400:
                raise EmulatorControlError(f"{method} {path}: {response.status} {data}")
            return data

    # -- whole emulator ------------------------------------------------------------------------------------------

    async def reset(self) -> None:
        """Forget everything: objects, events, endpoints, idempotency keys, faults, clock offset."""
        await self._call("POST", "/reset")

    async def stats(self) -> dict[str, Any]:
        """Counts of stored objects, events, idempotency entries and deliveries."""
        result: dict[str, Any] = await self._call("GET", "/stats")
        return result

    # -- faults --------------------------------------------------------------------------------------------------

    async def add_fault(
        self,
        path_prefix: str,
        mode: Literal["error", "hang", "drop", "lose_response"],
        *,
        count: int = 1,
        method: str | None = None,
        status: int = 500,
        should_retry: bool | None = None,
        hang_seconds: float = 0.0,
    ) -> dict[str, Any]:
        """Make the next `count` requests under `path_prefix` fail:

        `error` answers `status` (500, 503, 429, ...) with `Stripe-Should-Retry` if `should_retry` is not None;
        `hang` sleeps `hang_seconds` and then proceeds; `drop` closes the connection without doing anything;
        `lose_response` does the work (and stores the idempotent result) and then closes the connection.
        """
        body = {
            "path_prefix": path_prefix,
            "mode": mode,
            "count": count,
            "method": method,
            "status": status,
            "should_retry": should_retry,
            "hang_seconds": hang_seconds,
        }
        result: dict[str, Any] = await self._call("POST", "/faults", body)
        return result

    async def faults(self) -> list[dict[str, Any]]:
        """Active fault rules (with how many requests each will still hit)."""
        result: list[dict[str, Any]] = (await self._call("GET", "/faults"))["data"]
        return result

    async def clear_faults(self) -> None:
        """Remove all fault rules."""
        await self._call("DELETE", "/faults")

    # -- limits, search, latency --------------------------------------------------------------------------------

    async def settings(self) -> dict[str, Any]:
        """Rate limits, search switches and latency in force."""
        result: dict[str, Any] = await self._call("GET", "/settings")
        return result

    async def update_settings(self, **changes: Any) -> dict[str, Any]:
        """Change settings by name: `api_requests_per_second` (None: off), `search_requests_per_second`,
        `search_available`, `search_index_lag_seconds`, `latency_seconds`, `latency_jitter_seconds`, `moto_enabled`."""
        result: dict[str, Any] = await self._call("POST", "/settings", changes)
        return result

    async def set_latency(self, seconds: float, jitter_seconds: float = 0.0) -> None:
        """Every `/v1/` request waits `seconds` plus up to `jitter_seconds` before it is handled."""
        await self.update_settings(latency_seconds=seconds, latency_jitter_seconds=jitter_seconds)

    async def set_rate_limit(self, requests_per_second: int | None) -> None:
        """The per-account request rate beyond which Stripe answers 429 (None: no limit)."""
        await self.update_settings(api_requests_per_second=requests_per_second)

    async def search_request_count(self) -> int:
        """How many Search API requests arrived since the last reset."""
        result: int = (await self._call("GET", "/search/requests"))["count"]
        return result

    # -- clock ---------------------------------------------------------------------------------------------------

    async def now(self) -> int:
        """The emulator's current Unix time."""
        result: int = (await self._call("GET", "/clock"))["now"]
        return result

    async def advance_clock(self, seconds: int) -> int:
        """Move time forward; authorizations past `capture_before` are canceled. Returns how many were."""
        result: int = (await self._call("POST", "/clock/advance", {"seconds": seconds}))["expired_payment_intents"]
        return result

    # -- webhooks ------------------------------------------------------------------------------------------------

    async def add_webhook_endpoint(
        self,
        url: str,
        secret: str | None = None,
        enabled_events: Sequence[str] | None = None,
        api_version: str | None = None,
    ) -> WebhookEndpointInfo:
        """Register an endpoint; a `whsec_` secret is generated when none is given. Its events are stamped with
        `api_version` (default: the pinned version, as an endpoint created for it)."""
        body: dict[str, Any] = {"url": url, "secret": secret, "api_version": api_version}
        if enabled_events is not None:
            body["enabled_events"] = list(enabled_events)
        return WebhookEndpointInfo(**(await self._call("POST", "/webhook_endpoints", body)))

    async def remove_webhook_endpoint(self, endpoint_id: str) -> None:
        """Unregister an endpoint."""
        await self._call("DELETE", f"/webhook_endpoints/{endpoint_id}")

    async def set_webhook_auto_delivery(self, enabled: bool) -> None:
        """Pause or resume background delivery; while paused only `deliver_webhooks` sends."""
        await self._call("POST", "/webhooks/auto_delivery", {"enabled": enabled})

    async def deliver_webhooks(
        self, order: Literal["oldest_first", "newest_first"] | Sequence[str] = "oldest_first"
    ) -> list[DeliveryInfo]:
        """Send all pending deliveries now (no backoff wait), in the given order or by a list of event ids."""
        body = {"order": order if isinstance(order, str) else list(order)}
        return [_delivery(d) for d in (await self._call("POST", "/webhooks/deliver", body))["data"]]

    async def deliveries(self) -> list[DeliveryInfo]:
        """Every delivery so far, oldest first."""
        return [_delivery(d) for d in (await self._call("GET", "/webhooks/deliveries"))["data"]]

    async def redeliver_event(self, event_id: str, endpoint_id: str | None = None) -> list[DeliveryInfo]:
        """Send an event again, now."""
        data = await self._call("POST", f"/events/{event_id}/redeliver", {"endpoint_id": endpoint_id})
        return [_delivery(d) for d in data["data"]]

    # -- payments ------------------------------------------------------------------------------------------------

    async def complete_3ds(self, intent_id: str, succeed: bool = True) -> dict[str, Any]:
        """Finish the 3-D Secure challenge of a PaymentIntent or SetupIntent (`pi_...`/`seti_...`).

        Returns `{"intent": <the intent>, "error": <card error after authentication, or None>}`.
        """
        body = {"outcome": "succeed" if succeed else "fail"}
        result: dict[str, Any] = await self._call("POST", f"/intents/{intent_id}/authenticate", body)
        return result

    async def create_dispute(
        self, charge_id: str, reason: str = "fraudulent", amount: int | None = None
    ) -> dict[str, Any]:
        """Open a dispute on a captured charge (emits `charge.dispute.created`)."""
        body: dict[str, Any] = {"reason": reason}
        if amount is not None:
            body["amount"] = amount
        result: dict[str, Any] = await self._call("POST", f"/charges/{charge_id}/dispute", body)
        return result

    async def fail_refund(self, refund_id: str) -> dict[str, Any]:
        """Make a refund fail after the fact (emits `refund.updated`, `charge.refund.updated`, `refund.failed`)."""
        result: dict[str, Any] = await self._call("POST", f"/refunds/{refund_id}/fail")
        return result

    async def update_card(
        self,
        payment_method_id: str,
        *,
        exp_month: int | None = None,
        exp_year: int | None = None,
        last4: str | None = None,
    ) -> dict[str, Any]:
        """The card updater reissues a saved card (emits `payment_method.automatically_updated`); the PaymentMethod."""
        body = {
            name: value
            for name, value in {"exp_month": exp_month, "exp_year": exp_year, "last4": last4}.items()
            if value is not None
        }
        result: dict[str, Any] = await self._call("POST", f"/payment_methods/{payment_method_id}/card_update", body)
        return result
