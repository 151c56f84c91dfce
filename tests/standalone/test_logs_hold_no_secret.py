"""No secret in any log at any level (issue 12, item 14): real gateway operations at DEBUG, where the Stripe SDK
logs whole response bodies (PaymentIntent client secrets included), with the service's own log handler."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from service.config import load_settings
from service.logging_setup import SecretRedactingFilter, configure_logging, configured_secrets
from tests.standalone.conftest import API_KEY, SECRET_KEY, StandaloneWorld, settings_overrides

# Shapes of every secret that may pass through: client secrets, Stripe keys, webhook secrets.
_SECRET_SHAPES = re.compile(r"_secret_[A-Za-z0-9]|\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]|whsec_[A-Za-z0-9]")


@pytest.fixture
def debug_log(stripe_emulator_url: str) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG through the service's handler (configure_logging), as text."""
    settings = load_settings(environment={}, overrides=settings_overrides(stripe_emulator_url))
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    captured = io.StringIO()
    configure_logging(logging.DEBUG, configured_secrets(settings), stream=captured)
    try:
        yield captured
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                root.removeHandler(handler)
            else:
                handler.filters = [f for f in handler.filters if not isinstance(f, SecretRedactingFilter)]
        root.setLevel(saved_level)


async def test_gateway_operations_at_debug_log_no_secret(world: StandaloneWorld, debug_log: io.StringIO) -> None:
    payment_id = await world.new_payment("40.00")
    await world.gateway_call("authorize", payment_id)
    await world.gateway_call("capture", payment_id)
    await world.gateway_call("refund", payment_id, Decimal("15.00"))
    intent = await world.only_intent(payment_id)
    assert intent.client_secret and "_secret_" in intent.client_secret

    text = debug_log.getvalue()
    # The SDK did log the bodies that carry client secrets: the test would prove nothing otherwise.
    assert "API response body" in text and "[client secret]" in text
    assert _SECRET_SHAPES.search(text) is None, _SECRET_SHAPES.search(text)
    for secret in (intent.client_secret, SECRET_KEY, API_KEY):
        assert secret not in text


def test_the_filter_covers_arguments_exceptions_and_configured_values() -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.addFilter(SecretRedactingFilter(["plain-configured-password"]))
    logger = logging.getLogger("tests.secret_filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connecting with %s", "postgresql://moqui:hunter22@db/moqui")
        logger.warning("user logged in with plain-configured-password and key %s", "rk_live_abcdef123")
        try:
            raise RuntimeError("seti_1Abc_secret_XyZ123 and whsec_abcdef0123 leaked into an exception")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = captured.getvalue()
    for secret in ("hunter22", "plain-configured-password", "rk_live_abcdef123", "seti_1Abc_secret_XyZ123", "whsec_ab"):
        assert secret not in text
    assert "[configured secret]" in text and "[client secret]" in text and "Traceback" in text
