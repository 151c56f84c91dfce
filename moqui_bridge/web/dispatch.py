"""What both dispatchers share: the context factory seam, JSON responses, and error messages safe to send."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web

from moqui_bridge.redaction import redact_secrets
from moqui_bridge.web import moqui_json
from moqui_bridge.web.auth import Authenticator, Principal

ContextT = TypeVar("ContextT")

ContextFactory = Callable[[web.Request, Principal | None], ContextT | Awaitable[ContextT]]
"""Builds the per-call context from the request (headers such as `Idempotency-Key` included) and the caller."""

JSON_CONTENT_TYPE = "application/json"


async def build_context(
    factory: ContextFactory[ContextT],
    request: web.Request,
    principal: Principal | None,
) -> ContextT:
    """Call the context factory, awaiting it when it is async."""
    context = factory(request, principal)
    if inspect.isawaitable(context):
        return await context
    return context


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A response written as Moqui's Jackson writes it, with `Content-Type: application/json`."""
    response = web.Response(body=moqui_json.dump_bytes(payload), status=status, headers=headers)
    response.content_type = JSON_CONTENT_TYPE
    return response


def is_json_content_type(content_type: str | None) -> bool:
    """Moqui parses a body as JSON only when the Content-Type contains application/json or text/json."""
    if not content_type:
        return False
    return "application/json" in content_type or "text/json" in content_type


def safe_exception_message(error: BaseException, authenticator: Authenticator) -> str:
    """The exception's message for the caller, with configured and recognisable secrets removed; never a trace."""
    message = str(error) or type(error).__name__
    return redact_secrets(authenticator.redact(message))


def java_type_name(value: Any) -> str:
    """The Java class Moqui would see for a parsed JSON value, for messages that quote it."""
    if value is None:
        return "org.codehaus.groovy.runtime.NullObject"
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if -(2**31) <= value < 2**31 else "java.lang.Long"
    if isinstance(value, Decimal):
        return "java.math.BigDecimal"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "java.util.ArrayList"
    if isinstance(value, dict):
        return "java.util.LinkedHashMap"
    return type(value).__name__
