"""Limits on slow clients (slowloris), for the listening server of `serve` and the demo.

- Request head: aiohttp closes a connection that has not delivered a complete request line and headers within its
  keep-alive timeout of opening (or of the previous answer), so that timeout is the head timeout
  (`server.request_head_timeout_seconds`); an idle keep-alive connection closes after it too.
- Request body: aiohttp waits for a body as long as the handler reads it. A guard per request cuts the connection
  when the body has not fully arrived `server.request_body_timeout_seconds` after the head; a handler still reading
  it gets HTTP 408 as its error, and whatever runs after the body arrived (a Stripe call) is never timed by it.
- Sizes stay aiohttp's: request line and each header at most 8190 bytes, a body at most `client_max_size` (1 MiB).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from service.config import ServerSettings

__all__ = ["apply_http_limits", "body_timeout_middleware", "runner_options"]

log = logging.getLogger(__name__)


def runner_options(server: ServerSettings) -> dict[str, Any]:
    """Keyword arguments for `web.AppRunner` that bound how long a request head may take."""
    return {"keepalive_timeout": server.request_head_timeout_seconds}


def _cut_off(request: web.BaseRequest, timeout: float) -> None:
    if request.content.is_eof() or request.transport is None or request.transport.is_closing():
        return
    peer = request.remote or "unknown"
    log.info("request body from %s not received within %s s: connection closed", peer, timeout)
    request.content.set_exception(web.HTTPRequestTimeout(text=f"request body not received within {timeout} s"))
    request.transport.close()


def body_timeout_middleware(timeout: float) -> Middleware:
    """A middleware that closes the connection when the request's body has not all arrived within `timeout`."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        timer = asyncio.get_running_loop().call_later(timeout, _cut_off, request, timeout)
        try:
            return await handler(request)
        finally:
            timer.cancel()

    return guard


def apply_http_limits(app: web.Application, server: ServerSettings) -> None:
    """Put the body guard in front of `app`'s middlewares (before the app starts; `runner_options` does the rest)."""
    app.middlewares.insert(0, body_timeout_middleware(server.request_body_timeout_seconds))
