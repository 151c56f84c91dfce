"""Async client for a Moqui instance's service REST API (``/rest/s1/...``).

Used where a flow starts on our side (checkout, webhooks, shared-database mode) and Moqui has to act with its own
rules, SECAs and audit log: authorize or capture a Payment, place an Order, read them back.

Moqui authenticates a REST call by ``Authorization: Basic`` or an ``api_key`` header and answers errors as
``{"errorCode": <status>, "errors": "<message>"}`` with the same HTTP status; proxies and Jetty answer with text or
HTML pages instead. Both become :class:`MoquiRestError` subclasses by status. Money is ``Decimal`` both ways.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import random
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from yarl import URL

from moqui_bridge.web import moqui_json

__all__ = [
    "MoquiAuthenticationError",
    "MoquiBadRequestError",
    "MoquiConnectionError",
    "MoquiForbiddenError",
    "MoquiNotFoundError",
    "MoquiRateLimitedError",
    "MoquiRestClient",
    "MoquiRestError",
    "MoquiServerError",
    "MoquiTimeoutError",
    "dump_json",
]

logger = logging.getLogger(__name__)

_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# 501 (not implemented) and the like will not change on a second try; these are the transient ones.
_RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_MESSAGE_LIMIT: Final = 500
_TITLE_PATTERN: Final = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG_PATTERN: Final = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)


class MoquiRestError(Exception):
    """A Moqui REST call failed. ``status`` is the HTTP status, or ``None`` when no response arrived."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        method: str,
        path: str,
        error_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.error_code = error_code
        self.retry_after = retry_after
        where = f"Moqui {method} {path}"
        super().__init__(f"{where}: HTTP {status}: {message}" if status is not None else f"{where}: {message}")


class MoquiBadRequestError(MoquiRestError):
    """400: bad parameters, or the service reported errors (Moqui's message facade)."""


class MoquiAuthenticationError(MoquiRestError):
    """401: the user name and password or the api key were not accepted."""


class MoquiForbiddenError(MoquiRestError):
    """403: authenticated, but the user may not run this service."""


class MoquiNotFoundError(MoquiRestError):
    """404: no such resource path or record."""


class MoquiRateLimitedError(MoquiRestError):
    """429: Moqui's tarpit refused the call; ``retry_after`` says when to come back (seconds)."""


class MoquiServerError(MoquiRestError):
    """5xx: Moqui, or a proxy in front of it, failed."""


class MoquiConnectionError(MoquiRestError):
    """No HTTP response: the connection failed or broke."""


class MoquiTimeoutError(MoquiConnectionError):
    """No complete HTTP response within the client's timeout."""


_ERRORS_BY_STATUS: Final[dict[int, type[MoquiRestError]]] = {
    400: MoquiBadRequestError,
    401: MoquiAuthenticationError,
    403: MoquiForbiddenError,
    404: MoquiNotFoundError,
    429: MoquiRateLimitedError,
}


class MoquiRestClient:
    """Calls one Moqui instance's ``/rest/s1`` API with one set of credentials.

    ``base_url`` is Moqui's root URL (``https://moqui.example.com``; a path prefix is kept). Give either
    ``username`` and ``password`` (Basic auth) or ``api_key`` (a Moqui login key, sent in the ``api_key`` header).
    ``timeout`` bounds each attempt in seconds. GET calls, and calls made with ``idempotent=True``, are tried up to
    ``max_attempts`` times on connection errors, timeouts, 429 and 502/503/504/500, with exponential backoff from
    ``backoff_initial`` up to ``backoff_max`` seconds, or the server's ``Retry-After`` when it is no longer than
    ``max_retry_after``. Any call is retried when the connection could not be opened, since then nothing was sent.

    Pass ``session`` to share an ``aiohttp.ClientSession``; otherwise the client opens its own on first use and
    closes it in :meth:`close` (or on leaving ``async with``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        max_retry_after: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        parsed = URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"Moqui base URL must be an http(s) URL, got {base_url!r}")
        if parsed.user is not None or parsed.query_string or parsed.fragment:
            raise ValueError("Moqui base URL must have no user info, query or fragment")
        self._base_url = str(parsed).rstrip("/")
        self._auth_headers = _auth_headers(username, password, api_key)
        self._auth_kind = "basic" if username is not None else "api_key"
        if timeout <= 0 or max_attempts < 1 or backoff_initial < 0 or backoff_max < 0 or max_retry_after < 0:
            raise ValueError("timeout must be positive, max_attempts at least 1, delays not negative")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        # Never show credentials, not even in a debugger or a log of this object.
        return f"MoquiRestClient({self._base_url!r}, auth={self._auth_kind})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client opened it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ----- what our flows need -----

    async def authorize_payment(
        self,
        payment_id: str,
        *,
        payment_gateway_config_id: str | None = None,
        card_security_code: str | None = None,
    ) -> dict[str, Any]:
        """Run Mantle's ``authorize#SinglePayment``: POST ``/rest/s1/mantle/payments/{paymentId}/gateways/authorize``.

        Returns Moqui's result (``paymentGatewayResponseId`` and, when set, ``paymentGatewayResponse``).
        """
        body = _without_none(
            {"paymentGatewayConfigId": payment_gateway_config_id, "cardSecurityCode": card_security_code}
        )
        return await self._call_for_object(
            "POST", f"/rest/s1/mantle/payments/{_segment(payment_id)}/gateways/authorize", body=body
        )

    async def capture_payment(self, payment_id: str, amount: Decimal | None = None) -> dict[str, Any]:
        """Run ``capture#SinglePayment``: POST ``/rest/s1/mantle/payments/{paymentId}/gateways/capture``.

        ``amount`` defaults (in Mantle) to the Payment's amount.
        """
        body = _without_none({"amount": _money(amount)})
        return await self._call_for_object(
            "POST", f"/rest/s1/mantle/payments/{_segment(payment_id)}/gateways/capture", body=body
        )

    async def release_payment(self, payment_id: str) -> dict[str, Any]:
        """Run ``release#SinglePayment``: POST ``/rest/s1/mantle/payments/{paymentId}/gateways/release``."""
        return await self._call_for_object("POST", f"/rest/s1/mantle/payments/{_segment(payment_id)}/gateways/release")

    async def refund_payment(
        self, payment_id: str, amount: Decimal | None, *, refund_payment_id: str | None = None
    ) -> dict[str, Any]:
        """Run ``refund#SinglePayment``: POST ``/rest/s1/mantle/payments/{paymentId}/gateways/refund``.

        ``amount`` ``None`` lets Mantle refund the unapplied amount; ``refund_payment_id`` names an existing refund
        Payment to use instead of a new one. Returns ``paymentGatewayResponseId`` and ``refundPaymentId``.
        """
        body = _without_none({"amount": _money(amount), "refundPaymentId": refund_payment_id})
        return await self._call_for_object(
            "POST", f"/rest/s1/mantle/payments/{_segment(payment_id)}/gateways/refund", body=body
        )

    async def place_order(self, order_id: str) -> dict[str, Any]:
        """Run ``mantle.order.OrderServices.place#Order``: POST ``/rest/s1/mantle/orders/{orderId}/place``."""
        return await self._call_for_object("POST", f"/rest/s1/mantle/orders/{_segment(order_id)}/place")

    async def get_payment(self, payment_id: str) -> dict[str, Any]:
        """The Payment's default master record: GET ``/rest/s1/mantle/payments/{paymentId}``."""
        return await self._call_for_object("GET", f"/rest/s1/mantle/payments/{_segment(payment_id)}")

    async def get_order(self, order_id: str) -> dict[str, Any]:
        """The OrderHeader's default master record (parts, items, ...): GET ``/rest/s1/mantle/orders/{orderId}``."""
        return await self._call_for_object("GET", f"/rest/s1/mantle/orders/{_segment(order_id)}")

    # ----- the general call -----

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | Decimal] | None = None,
        body: Mapping[str, Any] | Sequence[Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call ``method path`` (``path`` starting with ``/rest/``, segments already percent-encoded).

        ``params`` go to the query string, ``body`` is sent as JSON (``Decimal`` as a plain JSON number). Returns the
        parsed JSON answer, numbers with a fraction as ``Decimal``. ``idempotent`` defaults to true for GET, HEAD and
        OPTIONS: only idempotent calls are retried after the request may have reached Moqui.
        """
        method = method.upper()
        if not path.startswith("/rest/"):
            raise ValueError(f"path must start with /rest/, got {path!r}")
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        query = (
            f"?{urllib.parse.urlencode({key: _query_value(value) for key, value in params.items()})}" if params else ""
        )
        url = URL(self._base_url + path + query, encoded=True)
        headers = {"Accept": "application/json", **self._auth_headers}
        payload: bytes | None = None
        if body is not None:
            payload = dump_json(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        return await self._send(method, url, path, headers, payload, idempotent=idempotent)

    async def _call_for_object(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        # Moqui's own RestClient sends no body when there are no parameters; an empty body with a JSON content type
        # would be a parse error (400) on Moqui's side.
        result = await self.call(method, path, body=body or None)
        if not isinstance(result, dict):
            raise MoquiRestError(
                f"expected a JSON object, got {type(result).__name__}", status=200, method=method, path=path
            )
        return result

    async def _send(
        self,
        method: str,
        url: URL,
        path: str,
        headers: dict[str, str],
        payload: bytes | None,
        *,
        idempotent: bool,
    ) -> Any:
        session = self._get_session()
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            error: MoquiRestError
            try:
                async with session.request(
                    method,
                    url,
                    data=payload,
                    headers=headers,
                    # Without a body aiohttp would still announce application/octet-stream on a POST.
                    skip_auto_headers=() if payload is not None else ("Content-Type",),
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    raw = await response.read()
                    status = response.status
                    content_type = response.headers.get("Content-Type", "")
                    retry_after_header = response.headers.get("Retry-After")
                    reason = response.reason or ""
            except TimeoutError:
                error = MoquiTimeoutError(
                    f"no response within {self._timeout.total} s", status=None, method=method, path=path
                )
                retryable = idempotent
            except aiohttp.ClientConnectorError as connect_error:
                # The connection was never opened, so nothing reached Moqui: safe to retry any call.
                error = MoquiConnectionError(
                    f"cannot connect: {connect_error.os_error or connect_error}", status=None, method=method, path=path
                )
                retryable = True
            except aiohttp.ClientError as client_error:
                error = MoquiConnectionError(
                    f"connection failed: {type(client_error).__name__}: {client_error}",
                    status=None,
                    method=method,
                    path=path,
                )
                retryable = idempotent
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                logger.debug("Moqui %s %s -> %d in %.0f ms (attempt %d)", method, path, status, elapsed_ms, attempt)
                if 200 <= status < 300:
                    return _parse_success(raw, method, path, status)
                error = _error_from_response(
                    status, reason, raw, content_type, _parse_retry_after(retry_after_header), method, path
                )
                retryable = idempotent and status in _RETRYABLE_STATUSES

            if not retryable or attempt >= self._max_attempts:
                raise error
            delay = self._backoff(attempt)
            if error.retry_after is not None:
                if error.retry_after > self._max_retry_after:
                    raise error
                delay = error.retry_after
            logger.warning(
                "Moqui %s %s failed (%s), retrying in %.2f s (attempt %d of %d)",
                method,
                path,
                error.status if error.status is not None else type(error).__name__,
                delay,
                attempt,
                self._max_attempts,
            )
            await asyncio.sleep(delay)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env off: credentials must not be sent through a proxy picked up from the environment by accident.
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    def _backoff(self, attempt: int) -> float:
        ceiling: float = min(self._backoff_max, self._backoff_initial * 2 ** (attempt - 1))
        # Jitter keeps several workers that failed together from retrying together.
        return ceiling * random.uniform(0.5, 1.0)


def dump_json(value: Any) -> str:
    """Compact JSON with ``Decimal`` written as a plain JSON number (``12.50``, never ``1.25E+1``), as Moqui reads
    BigDecimal. Floats are refused: money must not pass through binary floating point."""
    if value is None or isinstance(value, bool | str | int):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return moqui_json.plain_decimal(value)
    if isinstance(value, float):
        raise TypeError("floats are not sent to Moqui; use Decimal")
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            items.append(f"{json.dumps(key, ensure_ascii=False)}:{dump_json(item)}")
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump_json(item) for item in value) + "]"
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _auth_headers(username: str | None, password: str | None, api_key: str | None) -> dict[str, str]:
    if api_key is not None:
        if username is not None or password is not None:
            raise ValueError("give either username and password or api_key, not both")
        if not api_key.strip() or any(ord(character) < 0x20 for character in api_key):
            raise ValueError("api_key must be a non-empty single-line string")
        return {"api_key": api_key.strip()}
    if username is None or password is None:
        raise ValueError("give username and password (Basic auth) or api_key")
    if not username or ":" in username:
        raise ValueError("username must be non-empty and contain no ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _segment(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("ids in a path must be non-empty strings")
    # "." and ".." mean "this" and "the parent" resource to every URL resolver on the way, quoted or not.
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not an id: it would address another resource")
    # Quote everything, "/" included, so an id can never reach another resource.
    return urllib.parse.quote(value, safe="")


def _money(amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return None
    if not isinstance(amount, Decimal):
        raise TypeError(f"amounts are Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount must be a finite number, got {amount}")
    return amount


def _query_value(value: str | int | Decimal) -> str:
    if isinstance(value, Decimal):
        return moqui_json.plain_decimal(value)
    return str(value)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _parse_success(raw: bytes, method: str, path: str, status: int) -> Any:
    if not raw.strip():
        return {}
    try:
        return moqui_json.loads(raw)
    except moqui_json.JsonParseError as error:
        if raw.lstrip().startswith((b"{", b"[")):
            # JSON-shaped but refused (NaN, Infinity, a cut-off body): say why rather than echo the body.
            raise MoquiRestError(
                f"answer is not valid JSON: {error}", status=status, method=method, path=path
            ) from None
        snippet = _shorten(raw.decode("utf-8", errors="replace"))
        raise MoquiRestError(f"answer is not JSON: {snippet}", status=status, method=method, path=path) from None


def _error_from_response(
    status: int,
    reason: str,
    raw: bytes,
    content_type: str,
    retry_after: float | None,
    method: str,
    path: str,
) -> MoquiRestError:
    text = raw.decode("utf-8", errors="replace").strip()
    message = ""
    error_code: int | None = None
    if text.startswith(("{", "[")):
        try:
            parsed = moqui_json.loads(text)
        except moqui_json.JsonParseError:
            parsed = None
        if isinstance(parsed, dict):
            message = _errors_text(parsed.get("errors") or parsed.get("error") or parsed.get("message"))
            code = parsed.get("errorCode")
            error_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    if not message and text:
        message = _html_text(text) if "html" in content_type.lower() or text.startswith("<") else text
    message = _shorten(message or reason or "no details")
    error_class = _ERRORS_BY_STATUS.get(status)
    if error_class is None:
        error_class = MoquiServerError if status >= 500 else MoquiRestError
    return error_class(message, status=status, method=method, path=path, error_code=error_code, retry_after=retry_after)


def _errors_text(errors: Any) -> str:
    if isinstance(errors, str):
        return errors.strip()
    if isinstance(errors, list):
        return "\n".join(str(item).strip() for item in errors if item is not None)
    if isinstance(errors, dict):
        return _errors_text(errors.get("message"))
    return ""


def _html_text(html: str) -> str:
    title = _TITLE_PATTERN.search(html)
    if title and title.group(1).strip():
        return " ".join(title.group(1).split())
    return " ".join(_TAG_PATTERN.sub(" ", html).split())


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _parse_retry_after(header: str | None) -> float | None:
    if header is None:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
