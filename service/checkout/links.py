"""Signed checkout links: who may pay for which order, and where the browser goes afterwards.

The application that owns the shopper's session (Moqui, or any SaaS) signs a link with a shared secret; the checkout
page trusts nothing in the query string that the signature does not cover. The signature covers the order, the
customer, both redirect URLs and the expiry, so none of them can be changed and no link outlives its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

# Bumped if the signed text ever changes, so old links fail cleanly instead of verifying by accident.
_SIGNATURE_VERSION = "v1"


class CheckoutLinkError(Exception):
    """A link that must not be honoured; the message is safe to show to the shopper."""


@dataclass(frozen=True)
class CheckoutLink:
    """What a verified link says."""

    order_id: str
    customer_party_id: str
    done_url: str
    error_url: str
    expires: int


def _signed_text(order_id: str, customer_party_id: str, done_url: str, error_url: str, expires: int) -> bytes:
    # Length-prefixed fields: no value can be shifted into its neighbour to forge another link.
    fields = (_SIGNATURE_VERSION, order_id, customer_party_id, done_url, error_url, str(expires))
    return "".join(f"{len(field)}:{field};" for field in fields).encode("utf-8")


def _signature(secret: str, text: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute http(s) URL, lower-cased; empty for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_redirect_url(url: str, allowed_origins: tuple[str, ...]) -> None:
    """Refuse a done/error URL whose origin is not configured: the page must never be an open redirect."""
    origin = origin_of(url)
    allowed = {allowed.rstrip("/").lower() for allowed in allowed_origins}
    if not origin or origin not in allowed:
        raise CheckoutLinkError("The return address of this payment link is not allowed.")


def sign_checkout_query(
    secret: str,
    *,
    order_id: str,
    customer_party_id: str,
    done_url: str,
    error_url: str,
    lifetime_seconds: int,
    now: float | None = None,
) -> dict[str, str]:
    """The query parameters of a signed link to /stripe/Checkout."""
    if not secret:
        raise ValueError("a checkout link secret is required to sign links")
    if lifetime_seconds <= 0:
        raise ValueError("lifetime_seconds must be positive")
    expires = int(now if now is not None else time.time()) + lifetime_seconds
    text = _signed_text(order_id, customer_party_id, done_url, error_url, expires)
    return {
        "orderId": order_id,
        "customerPartyId": customer_party_id,
        "doneUrl": done_url,
        "errorUrl": error_url,
        "expires": str(expires),
        "signature": _signature(secret, text),
    }


def checkout_url(base_url: str, query: dict[str, str]) -> str:
    """The full link: our public base URL, the checkout path and the signed query."""
    return f"{base_url.rstrip('/')}/stripe/Checkout?{urlencode(query)}"


def verify_checkout_query(
    secret: str, query: dict[str, str], allowed_origins: tuple[str, ...], now: float | None = None
) -> CheckoutLink:
    """Check a link's signature, expiry and redirect origins; raise CheckoutLinkError when any fails."""
    required = ("orderId", "customerPartyId", "doneUrl", "errorUrl", "expires", "signature")
    if any(not query.get(name) for name in required):
        raise CheckoutLinkError("This payment link is incomplete or unsigned.")
    try:
        expires = int(query["expires"])
    except ValueError:
        raise CheckoutLinkError("This payment link is malformed.") from None
    text = _signed_text(query["orderId"], query["customerPartyId"], query["doneUrl"], query["errorUrl"], expires)
    if not secret or not hmac.compare_digest(_signature(secret, text), query["signature"]):
        raise CheckoutLinkError("This payment link is not valid.")
    if expires < int(now if now is not None else time.time()):
        raise CheckoutLinkError("This payment link has expired. Please start the payment again.")
    check_redirect_url(query["doneUrl"], allowed_origins)
    check_redirect_url(query["errorUrl"], allowed_origins)
    return CheckoutLink(query["orderId"], query["customerPartyId"], query["doneUrl"], query["errorUrl"], expires)
