"""A careful integrator of the standalone Mantle REST API, as the soak models one.

Every mutating request carries an `Idempotency-Key`. After a fault (a 5xx, a 409 "still in progress", a timeout, a
reset or refused connection: the service may have been killed) the client sends the same request with the same key
again until it gets a definitive answer: a 2xx or a 4xx other than 409. A decline is definitive; a PGR with
`resultError="Y"` (Stripe down, in doubt) is an answer but not a result, so the caller decides whether to ask again
under a new key (a new attempt of the same logical request).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp

from moqui_bridge.web import moqui_json

RPC_DETAILS = "mantle.account.PaymentServices.get#SinglePaymentGatewayDetails"


class StuckRequestError(RuntimeError):
    """A request that got no definitive answer within the client's patience (kept retrying 5xx/409/errors)."""


class StillInProgressError(StuckRequestError):
    """The service kept answering 409 "still in progress" for a key longer than any live request runs.

    After a SIGKILL the dead request's row keeps its key busy (issue 12 item 12); the careful client then asks
    again under a new key, which the service's journal must recognise as the same Stripe action.
    """


@dataclass(frozen=True)
class Answer:
    """A definitive HTTP answer: status and decoded JSON body (amounts as Decimal)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    @property
    def gateway_response(self) -> dict[str, Any]:
        """The PaymentGatewayResponse of an authorize/capture answer ({} when none)."""
        response: dict[str, Any] | None = self.body.get("paymentGatewayResponse")
        return response or {}

    @property
    def result(self) -> str:
        """`success`, `declined`, `error` (resultError or no PGR), or `refused` (a 4xx)."""
        if not self.ok:
            return "refused"
        response = self.gateway_response
        if response.get("resultSuccess") == "Y":
            return "success"
        if response.get("resultDeclined") == "Y":
            return "declined"
        return "error"


@dataclass
class ClientCounters:
    """What the client went through: retries by cause, abandoned first attempts, stuck requests."""

    retries: Counter[str] = field(default_factory=Counter)
    stuck: int = 0
    stuck_in_progress: int = 0


class CarefulClient:
    """Mantle's REST paths under `/rest/s1/mantle`, retried with the same Idempotency-Key until definitive."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        service_url: str,
        api_key: str,
        *,
        patience_seconds: float,
        in_progress_seconds: float,
        request_timeout_seconds: float = 20.0,
    ) -> None:
        self._session = session
        self._base = f"{service_url}/rest/s1/mantle"
        self._rpc = f"{service_url}/rpc/json"
        self._headers = {"api_key": api_key, "Content-Type": "application/json"}
        self._patience = patience_seconds
        self._in_progress_limit = in_progress_seconds
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_seconds)
        self.counters = ClientCounters()

    async def post(self, path: str, body: dict[str, Any], key: str, *, abandon_after: float | None = None) -> Answer:
        """POST `body` to `path` with `key`, retrying until definitive.

        `abandon_after` makes the first attempt give up after that many seconds (a client-side lost answer: the
        request may still run in the service) before retrying with the same key.
        """
        data = moqui_json.dumps(body)
        headers = {**self._headers, "Idempotency-Key": key}
        deadline = time.monotonic() + self._patience
        first = True
        busy_since: float | None = None
        while True:
            timeout = self._timeout
            if first and abandon_after is not None:
                timeout = aiohttp.ClientTimeout(total=abandon_after)
            first = False
            cause = await self._attempt(self._base + path, data, headers, timeout)
            if isinstance(cause, Answer):
                return cause
            now = time.monotonic()
            busy_since = (busy_since or now) if cause == "in_progress" else None
            if busy_since is not None and now - busy_since > self._in_progress_limit:
                self.counters.stuck_in_progress += 1
                raise StillInProgressError(f"POST {path} (key {key}): 409 in progress for {now - busy_since:.0f} s")
            await self._retry_later(cause, deadline, f"POST {path} (key {key})")

    async def _attempt(
        self, url: str, data: str, headers: dict[str, str], limit: aiohttp.ClientTimeout
    ) -> Answer | str:
        try:
            async with self._session.post(url, data=data, headers=headers, timeout=limit) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError:
            return "connection"
        if status == 409:
            return "in_progress"
        if status >= 500:
            return f"http_{status}"
        try:
            body: dict[str, Any] = moqui_json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return "unreadable"
        return Answer(status, body)

    async def get(self, path: str) -> dict[str, Any]:
        """GET a Mantle REST path (retried on faults; reads are safe to repeat)."""
        deadline = time.monotonic() + self._patience
        while True:
            try:
                async with self._session.get(self._base + path, headers=self._headers, timeout=self._timeout) as r:
                    raw = await r.read()
                    if r.status == 200:
                        body: dict[str, Any] = moqui_json.loads(raw)
                        return body
                    cause = f"http_{r.status}"
            except TimeoutError:
                cause = "timeout"
            except aiohttp.ClientError:
                cause = "connection"
            await self._retry_later(cause, deadline, f"GET {path}")

    async def details(self, payment_id: str) -> Answer:
        """Mantle's get#SinglePaymentGatewayDetails over JSON-RPC (Mantle's REST has no path for it)."""
        request = {"jsonrpc": "2.0", "id": 1, "method": RPC_DETAILS, "params": {"paymentId": payment_id}}
        deadline = time.monotonic() + self._patience
        while True:
            cause = await self._attempt(self._rpc, json.dumps(request), self._headers, self._timeout)
            if isinstance(cause, Answer):
                if "error" not in cause.body:
                    return cause
                cause = "rpc_error"
            await self._retry_later(cause, deadline, f"details of {payment_id}")

    async def _retry_later(self, cause: str, deadline: float, what: str) -> None:
        """Count a retry for `cause` and wait a little; past the deadline, give up on the request."""
        self.counters.retries[cause] += 1
        if time.monotonic() > deadline:
            self.counters.stuck += 1
            raise StuckRequestError(f"{what}: no definitive answer, last {cause}")
        await asyncio.sleep(0.5 if cause == "in_progress" else 0.2)


def as_amount(value: Any) -> Decimal:
    """A JSON amount (parsed as Decimal by moqui_json) as a Decimal, never through float."""
    return value if isinstance(value, Decimal) else Decimal(str(value))
