"""Per-request facts that objects and events record (`event.request.id`, `idempotency_key`, the public base URL)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    """The request being served: its `Request-Id`, idempotency key and the URL it reached us at."""

    request_id: str | None = None
    idempotency_key: str | None = None
    base_url: str = "http://127.0.0.1"


# aiohttp runs each request in its own task, so a context variable is per request.
current_request: ContextVar[RequestInfo] = ContextVar("current_request", default=RequestInfo())  # noqa: B039 (frozen, never mutated)
