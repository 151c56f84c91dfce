"""Stripe's error envelope and the errors the emulator raises, with Stripe's HTTP statuses and codes."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An API error rendered as `{"error": {...}}` with Stripe's status.

    `stored` says whether an idempotent request that failed this way keeps its result: Stripe saves
    results once an endpoint has started executing, but not for rejected parameters or conflicts.
    """

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        stored: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.decline_code = decline_code
        self.param = param
        self.extra = extra or {}
        self.headers = headers or {}
        self.stored = stored

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe sends; absent fields are omitted as Stripe omits them."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid_request(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    stored: bool = True,
    extra: dict[str, Any] | None = None,
) -> StripeError:
    """A 400-class `invalid_request_error`."""
    return StripeError(status, "invalid_request_error", message, code=code, param=param, stored=stored, extra=extra)


def parameter_error(message: str, param: str, code: str) -> StripeError:
    """Rejected input: never stored under an idempotency key, as with Stripe."""
    return invalid_request(message, param=param, code=code, stored=False)


def unknown_parameter(name: str) -> StripeError:
    """Stripe's answer to a parameter the endpoint does not take."""
    return parameter_error(f"Received unknown parameter: {name}", name, "parameter_unknown")


def missing_parameter(name: str) -> StripeError:
    """Stripe's answer to a missing required parameter."""
    return parameter_error(f"Missing required param: {name}.", name, "parameter_missing")


def resource_missing(label: str, object_id: str, param: str = "id") -> StripeError:
    """404 for an unknown id, worded as Stripe words it (`No such payment_intent: 'pi_x'`)."""
    return invalid_request(f"No such {label}: '{object_id}'", param=param, code="resource_missing", status=404)


def unexpected_state(message: str, object_key: str, obj: dict[str, Any]) -> StripeError:
    """A wrong status transition; the object is embedded under `payment_intent` or `setup_intent`."""
    code = "setup_intent_unexpected_state" if object_key == "setup_intent" else "payment_intent_unexpected_state"
    return invalid_request(message, code=code, extra={object_key: obj})


def card_error(
    message: str,
    code: str,
    *,
    decline_code: str | None = None,
    param: str | None = None,
    extra: dict[str, Any] | None = None,
) -> StripeError:
    """402 `card_error`, the SDK's `stripe.CardError`."""
    return StripeError(402, "card_error", message, code=code, decline_code=decline_code, param=param, extra=extra)


def authentication_error(message: str) -> StripeError:
    """401: Stripe reports bad keys as `invalid_request_error` with status 401."""
    return StripeError(401, "invalid_request_error", message, stored=False)
