"""The process's logging: one handler on standard error whose filter removes every secret from every record.

Libraries log what they see: at DEBUG the Stripe SDK writes whole response bodies, PaymentIntent client secrets
included. So the filter sits on the root handlers, where every logger's records end up, and rewrites each record's
message, exception text and stack with `moqui_bridge.redaction` (secrets by shape) plus the configured secret values
themselves (api keys, passwords, keys and secrets of no recognisable shape). Nothing is dropped: a line keeps its
meaning with a marker where the secret was.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import TextIO

from moqui_bridge.redaction import redact_secrets
from service.config import Settings

__all__ = ["LOG_FORMAT", "SecretRedactingFilter", "configure_logging", "configured_secrets"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Shorter configured values are not replaced word for word: they would garble ordinary text (and are refused as
# keys anyway); their shapes are still caught by the redaction patterns.
_MIN_LITERAL_LENGTH = 6


class SecretRedactingFilter(logging.Filter):
    """A handler filter that rewrites each record without its secrets (always lets the record through)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        literals = sorted({secret for secret in secrets if len(secret) >= _MIN_LITERAL_LENGTH}, key=len, reverse=True)
        self._literals = re.compile("|".join(map(re.escape, literals))) if literals else None

    def redact(self, text: str) -> str:
        """`text` without configured secrets and without anything shaped like one."""
        if self._literals is not None:
            text = self._literals.sub("[configured secret]", text)
        return redact_secrets(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message (arguments merged in), the exception text and the stack with redacted text."""
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs (replaced, not doubled, when it is called again)."""


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value in the configuration."""
    values = [
        *(key.get_secret_value() for key in settings.server.api_keys.values()),
        *(password.get_secret_value() for password in settings.server.users.values()),
    ]
    for secret in (
        settings.database.url,
        settings.moqui.password,
        settings.moqui.api_key,
        settings.checkout.link_secret,
    ):
        if secret is not None:
            values.append(secret.get_secret_value())
    for gateway in settings.gateways.values():
        values.append(gateway.secret_key.get_secret_value())
        if gateway.webhook_secret is not None:
            values.append(gateway.webhook_secret.get_secret_value())
    return values


def configure_logging(level: str | int, secrets: Iterable[str] = (), *, stream: TextIO | None = None) -> None:
    """Log to standard error (or `stream`) at `level`, every root handler filtered by a SecretRedactingFilter.

    `STRIPE_LOG` in the environment would make the SDK print to standard error itself, past every handler: it is
    removed (with a warning) so that the SDK logs through `logging` only.
    """
    secret_filter = SecretRedactingFilter(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ServiceHandler):
            root.removeHandler(handler)
        else:
            handler.addFilter(secret_filter)
    service_handler = _ServiceHandler(stream or sys.stderr)
    service_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    service_handler.addFilter(secret_filter)
    root.addHandler(service_handler)
    root.setLevel(level)
    if os.environ.pop("STRIPE_LOG", None) is not None:
        logging.getLogger(__name__).warning("STRIPE_LOG is ignored: the Stripe SDK logs through log_level")
