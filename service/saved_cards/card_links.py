"""Signed "Saved cards" links: whose cards the page manages, and where the browser goes back to.

The same scheme as checkout links (service/checkout/links.py): the application that owns the customer's session
signs the link with the shared `checkout.link_secret`; the signature covers the customer, both return URLs and the
expiry; both return URLs must be on `checkout.allowed_redirect_origins`. The signed text starts with its own kind
(`saved-cards-v1`), so a checkout link never verifies as a saved-cards link nor the other way round.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from moqui_bridge.service.json_text import storable_text
from service.checkout.links import CheckoutLinkError, check_redirect_url, link_signature, signed_fields_text
from service.config import Settings

__all__ = [
    "SIGNED_KEYS",
    "SavedCardsLink",
    "link_secret",
    "saved_cards_url",
    "sign_saved_cards_query",
    "verify_saved_cards_query",
]

_KIND: Final = "saved-cards-v1"
SIGNED_KEYS: Final = ("customerPartyId", "doneUrl", "expires", "signature")
_MAX_EXPIRES_DIGITS: Final = 20


@dataclass(frozen=True)
class SavedCardsLink:
    """What a verified link says."""

    customer_party_id: str
    done_url: str
    expires: int

    def query(self, signature: str) -> dict[str, str]:
        """The link's query again (for the page's own forms and return URL)."""
        return {
            "customerPartyId": self.customer_party_id,
            "doneUrl": self.done_url,
            "expires": str(self.expires),
            "signature": signature,
        }


def link_secret(settings: Settings) -> str:
    """The configured link secret (`checkout.link_secret`), empty when none is set (every link is then refused)."""
    secret = settings.checkout.link_secret
    return secret.get_secret_value() if secret is not None else ""


def _text(customer_party_id: str, done_url: str, expires: int) -> bytes:
    return signed_fields_text((_KIND, customer_party_id, done_url, str(expires)))


def sign_saved_cards_query(
    secret: str, *, customer_party_id: str, done_url: str, lifetime_seconds: int, now: float | None = None
) -> dict[str, str]:
    """The query of a signed link to /stripe/SavedCards."""
    if not secret:
        raise ValueError("a link secret is required to sign links")
    if lifetime_seconds <= 0:
        raise ValueError("lifetime_seconds must be positive")
    expires = int(now if now is not None else time.time()) + lifetime_seconds
    signature = link_signature(secret, _text(customer_party_id, done_url, expires))
    return SavedCardsLink(customer_party_id, done_url, expires).query(signature)


def saved_cards_url(base_url: str, query: dict[str, str]) -> str:
    """The full link: our public base URL, the page's path and the signed query."""
    return f"{base_url.rstrip('/')}/stripe/SavedCards?{urlencode(query)}"


def verify_saved_cards_query(
    secret: str, query: dict[str, str], allowed_origins: tuple[str, ...], now: float | None = None
) -> SavedCardsLink:
    """Check the signature, the expiry and the return origin; CheckoutLinkError (its `problem` says which) else."""
    if any(not query.get(name) for name in SIGNED_KEYS) or not all(storable_text(query[n]) for n in SIGNED_KEYS):
        raise CheckoutLinkError("This link is incomplete or unsigned.")
    expires_text = query["expires"]
    if len(expires_text) > _MAX_EXPIRES_DIGITS or not expires_text.isascii() or not expires_text.isdigit():
        raise CheckoutLinkError("This link is malformed.")
    expires = int(expires_text)
    expected = link_signature(secret, _text(query["customerPartyId"], query["doneUrl"], expires)) if secret else ""
    if not expected or not hmac.compare_digest(expected, query["signature"]):
        raise CheckoutLinkError("This link is not valid.")
    if expires < int(now if now is not None else time.time()):
        raise CheckoutLinkError("This link has expired.", "expired")
    try:
        check_redirect_url(query["doneUrl"], allowed_origins)
    except CheckoutLinkError as error:
        raise CheckoutLinkError(str(error), "redirect_not_allowed") from None
    return SavedCardsLink(query["customerPartyId"], query["doneUrl"], expires)
