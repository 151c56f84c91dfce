"""Signed staff links: which agent may enter a card for which party, through which gateway config, until when.

Moqui's screen (component screen/StripeStaffCard.xml, through `get#StaffCardUrl`) signs the link with the secret
both sides hold (`checkout.link_secret`), under its own version tag, so a checkout link's signature never opens the
staff page (service/checkout/links.py, `signed_fields_text` and `link_signature`). Signing is Moqui's access
control: only a user who may open the screen gets a link, and a link is short-lived (15 minutes by default). The
agent's user id is signed too and goes with the card into the SetupIntent's metadata.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Final, Literal

from moqui_bridge.service.json_text import storable_text
from service.checkout.links import link_signature, signed_fields_text

__all__ = [
    "SIGNED_KEYS",
    "STAFF_LINK_VERSION",
    "StaffCardLink",
    "StaffLinkError",
    "sign_staff_card_query",
    "verify_staff_card_query",
]

STAFF_LINK_VERSION: Final = "staff-card-v1"
SIGNED_KEYS: Final = ("partyId", "paymentGatewayConfigId", "agentUserId", "expires", "signature")
DEFAULT_LIFETIME_SECONDS: Final = 900
_MAX_EXPIRES_DIGITS: Final = 20

StaffLinkProblem = Literal["invalid", "expired"]


class StaffLinkError(Exception):
    """A staff link that must not be honoured (`problem`: `invalid` or `expired`); the message is safe to show."""

    def __init__(self, message: str, problem: StaffLinkProblem) -> None:
        super().__init__(message)
        self.problem: StaffLinkProblem = problem


@dataclass(frozen=True)
class StaffCardLink:
    """What a verified staff link says."""

    party_id: str
    payment_gateway_config_id: str
    agent_user_id: str
    expires: int


def _signed_text(party_id: str, payment_gateway_config_id: str, agent_user_id: str, expires: int) -> bytes:
    return signed_fields_text((STAFF_LINK_VERSION, party_id, payment_gateway_config_id, agent_user_id, str(expires)))


def sign_staff_card_query(
    secret: str,
    *,
    party_id: str,
    payment_gateway_config_id: str,
    agent_user_id: str,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> dict[str, str]:
    """The query parameters of a signed link to the staff card page (as the Moqui component makes them)."""
    if not secret:
        raise ValueError("a link secret is required to sign staff links")
    if lifetime_seconds <= 0:
        raise ValueError("lifetime_seconds must be positive")
    expires = int(now if now is not None else time.time()) + lifetime_seconds
    text = _signed_text(party_id, payment_gateway_config_id, agent_user_id, expires)
    return {
        "partyId": party_id,
        "paymentGatewayConfigId": payment_gateway_config_id,
        "agentUserId": agent_user_id,
        "expires": str(expires),
        "signature": link_signature(secret, text),
    }


def verify_staff_card_query(secret: str, query: dict[str, str], now: float | None = None) -> StaffCardLink:
    """Check a staff link's signature and expiry; raise StaffLinkError when either fails."""
    if any(not query.get(name) for name in SIGNED_KEYS) or not all(storable_text(query[n]) for n in SIGNED_KEYS):
        raise StaffLinkError("This staff link is incomplete or unsigned.", "invalid")
    expires_text = query["expires"]
    if len(expires_text) > _MAX_EXPIRES_DIGITS or not expires_text.isascii() or not expires_text.isdigit():
        raise StaffLinkError("This staff link is malformed.", "invalid")
    expires = int(expires_text)
    text = _signed_text(query["partyId"], query["paymentGatewayConfigId"], query["agentUserId"], expires)
    if not secret or not hmac.compare_digest(link_signature(secret, text), query["signature"]):
        raise StaffLinkError("This staff link is not valid.", "invalid")
    if expires < int(now if now is not None else time.time()):
        raise StaffLinkError("This staff link has expired: open the customer's screen in Moqui again.", "expired")
    return StaffCardLink(query["partyId"], query["paymentGatewayConfigId"], query["agentUserId"], expires)
