"""Signed recovery links: which client's payment, under which gateway config, by which PaymentIntent, until when.

Signed with `checkout.link_secret` as checkout links are (service/checkout/links.py), under a purpose of their own,
so a checkout signature never opens a recovery page nor the other way round. Nothing in the query counts unless the
signature covers it.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final
from urllib.parse import urlencode

from moqui_bridge.service.json_text import storable_text
from service.checkout.links import CheckoutLinkError, link_signature, signed_fields_text
from service.config import Settings

__all__ = [
    "COMPLETABLE_STATUSES",
    "RECOVERY_LINK_LIFETIME",
    "RECOVERY_PATH",
    "RecoveryLink",
    "recovery_query",
    "recovery_url",
    "verify_recovery_query",
]

RECOVERY_PATH: Final = "/stripe/Recover"
_PURPOSE: Final = "recovery-v1"
SIGNED_KEYS: Final = ("client", "paymentGatewayConfigId", "paymentId", "paymentIntentId", "expires", "signature")
# Long enough for a reminder e-mail to be read; the application may ask for another link (get#RecoveryUrl) later.
RECOVERY_LINK_LIFETIME: Final = timedelta(days=7)
_MAX_EXPIRES_DIGITS: Final = 20
# PaymentIntent states the customer can still complete (a decline, a page never confirmed, a challenge unanswered).
COMPLETABLE_STATUSES: Final = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})


@dataclass(frozen=True)
class RecoveryLink:
    """What a verified recovery link says."""

    client_name: str
    payment_gateway_config_id: str
    payment_id: str
    payment_intent_id: str
    expires: int

    def fields(self) -> tuple[str, ...]:
        """The signed fields, in their signed order."""
        return (
            self.client_name,
            self.payment_gateway_config_id,
            self.payment_id,
            self.payment_intent_id,
            str(self.expires),
        )


def recovery_query(secret: str, link: RecoveryLink) -> dict[str, str]:
    """The signed query of a link to the recovery page."""
    return {
        "client": link.client_name,
        "paymentGatewayConfigId": link.payment_gateway_config_id,
        "paymentId": link.payment_id,
        "paymentIntentId": link.payment_intent_id,
        "expires": str(link.expires),
        "signature": link_signature(secret, signed_fields_text((_PURPOSE, *link.fields()))),
    }


def recovery_url(
    settings: Settings,
    *,
    client_name: str,
    payment_gateway_config_id: str,
    payment_id: str,
    payment_intent_id: str,
    lifetime_seconds: float | None = None,
    now: float | None = None,
) -> str | None:
    """The full recovery link, or None when no link secret is configured (then nothing can be signed)."""
    secret = settings.checkout.link_secret
    if secret is None:
        return None
    lifetime = RECOVERY_LINK_LIFETIME.total_seconds() if lifetime_seconds is None else lifetime_seconds
    if lifetime <= 0:
        raise ValueError("lifetime_seconds must be positive")
    link = RecoveryLink(
        client_name,
        payment_gateway_config_id,
        payment_id,
        payment_intent_id,
        int((now if now is not None else time.time()) + lifetime),
    )
    server = settings.server
    base = (server.public_url or f"http://{server.host}:{server.port}").rstrip("/")
    return f"{base}{RECOVERY_PATH}?{urlencode(recovery_query(secret.get_secret_value(), link))}"


def verify_recovery_query(secret: str, query: dict[str, str], now: float | None = None) -> RecoveryLink:
    """The link a query signs; CheckoutLinkError (`invalid` or `expired`, never a redirect) otherwise."""
    if any(not query.get(key) or not storable_text(query[key]) for key in SIGNED_KEYS):
        raise CheckoutLinkError("This payment link is incomplete or unsigned.")
    expires_text = query["expires"]
    if len(expires_text) > _MAX_EXPIRES_DIGITS or not expires_text.isascii() or not expires_text.isdigit():
        raise CheckoutLinkError("This payment link is malformed.")
    link = RecoveryLink(
        query["client"],
        query["paymentGatewayConfigId"],
        query["paymentId"],
        query["paymentIntentId"],
        int(expires_text),
    )
    expected = link_signature(secret, signed_fields_text((_PURPOSE, *link.fields()))) if secret else ""
    if not secret or not hmac.compare_digest(expected, query["signature"]):
        raise CheckoutLinkError("This payment link is not valid.")
    if link.expires < int(now if now is not None else time.time()):
        raise CheckoutLinkError("This payment link has expired.", "expired")
    return link
