"""Errors of the service facade, shaped like Moqui's message facade and exceptions.

Moqui reports a failed service call through its message facade: plain error messages plus validation errors that
name a field and a service. `errors_string` renders them as Moqui's `MessageFacade.getErrorsString()` does: one line
per message, each ending with a newline, validation errors as `<message> (for field <Field Pretty> of service
<Service Pretty>)`. The dispatchers send that string as the JSON-RPC error message or the REST `errors` value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Moqui's camelCaseToPretty splits before capitals, digits, dots and hashes.
_PRETTY_SPLIT = re.compile(r"(?=[A-Z0-9.#])")


def camel_case_to_pretty(camel_case: str) -> str:
    """Render a Moqui name for people, as Moqui's `StringUtilities.camelCaseToPretty` does.

    `paymentId` -> `Payment ID`; `stripe.StripePaymentServices.authorize#Payment` ->
    `Stripe Payment Services Authorize Payment` (a part equal to the one before it is skipped, "id" becomes "ID").
    """
    words: list[str] = []
    last_word: str | None = None
    for raw_part in _PRETTY_SPLIT.split(camel_case):
        part = raw_part
        if part[:1] in (".", "#"):
            part = part[1:]
        if not part:
            continue
        if part[0].islower():
            part = part[0].upper() + part[1:]
        if part.lower() == "id":
            part = "ID"
        if part == last_word:
            continue
        last_word = part
        words.append(part)
    return " ".join(words)


@dataclass(frozen=True)
class ValidationMessage:
    """One validation error on one parameter, as Moqui's `ValidationError` (field and service, no form)."""

    field: str
    message: str
    service_name: str | None = None

    def __str__(self) -> str:
        service = f" of service {camel_case_to_pretty(self.service_name)}" if self.service_name else ""
        return f"{self.message} (for field {camel_case_to_pretty(self.field)}{service})"


class MoquiServiceException(Exception):
    """Base of every error the service facade raises on purpose."""


class ServiceError(MoquiServiceException):
    """A message-facade error: the call failed for a reason the caller should read (bad input, business rule).

    Raise it from a service with one message or several; the dispatchers turn it into Moqui's error shapes
    (JSON-RPC code 500 with `errors_string`, REST 400 with `errors_string`).
    """

    def __init__(self, message_or_messages: str | Sequence[str], *, http_status: int | None = None) -> None:
        messages = (message_or_messages,) if isinstance(message_or_messages, str) else tuple(message_or_messages)
        if not messages or not all(messages):
            raise ValueError("ServiceError needs at least one non-empty message")
        self.messages: tuple[str, ...] = messages
        # The REST status a service asks for (409 for a conflict, 503 for an unavailable resource); None: the
        # dispatcher's own for service errors.
        self.http_status = http_status
        super().__init__(self.errors_string.rstrip("\n"))

    @property
    def errors_string(self) -> str:
        """All messages as Moqui's `getErrorsString()`: each followed by a newline."""
        return "".join(f"{message}\n" for message in self.messages)


class ParameterError(ServiceError):
    """In-parameters failed Moqui's conversion or validation (missing required value, value of the wrong type)."""

    def __init__(self, validation_messages: Iterable[ValidationMessage]) -> None:
        self.validation_messages: tuple[ValidationMessage, ...] = tuple(validation_messages)
        super().__init__([str(item) for item in self.validation_messages])


class ServiceNotFound(MoquiServiceException):
    """No service is registered under the name asked for."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        super().__init__(f"Unknown service [{service_name}]")


class ServiceNotRemote(MoquiServiceException):
    """The service exists but does not allow remote calls (Moqui's `allow-remote` is not true)."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        super().__init__(f"Service [{service_name}] does not allow remote calls")


class AuthenticationRequired(MoquiServiceException):
    """The service requires an authenticated caller and there is none (Moqui's AuthenticationRequiredException)."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        super().__init__(f"User must be logged in to call service {service_name}")


class AuthorizationDenied(MoquiServiceException):
    """The caller is authenticated but not allowed to do this (Moqui's ArtifactAuthorizationException, HTTP 403)."""
