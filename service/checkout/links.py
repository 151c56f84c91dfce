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
from typing import Final, Literal
from urllib.parse import urlencode, urlsplit

from moqui_bridge.service.json_text import storable_text

# Bumped if the signed text ever changes, so old links fail cleanly instead of verifying by accident.
_SIGNATURE_VERSION = "v1"
_REQUIRED: Final = ("orderId", "customerPartyId", "doneUrl", "errorUrl", "expires", "signature")
# Seconds since 1970 fit in far fewer digits; a longer `expires` is not worth converting.
_MAX_EXPIRES_DIGITS: Final = 20

LinkProblem = Literal["invalid", "expired", "redirect_not_allowed"]


class CheckoutLinkError(Exception):
    """A link that must not be honoured; the message is safe to show to the shopper.

    `problem` says what happened (`expired`: signed by the application but too old; `invalid`: incomplete, changed
    or signed with another secret; `redirect_not_allowed`: a return address outside the allowed origins), and
    `error_url` is where the shopper may be sent back to, only when it can be trusted: the link's own error URL when
    its signature verified, or when its origin is one of the allowed redirect origins; otherwise None.
    """

    def __init__(self, message: str, problem: LinkProblem = "invalid", error_url: str | None = None) -> None:
        super().__init__(message)
        self.problem: LinkProblem = problem
        self.error_url = error_url


@dataclass(frozen=True)
class CheckoutLink:
    """What a verified link says."""

    order_id: str
    customer_party_id: str
    done_url: str
    error_url: str
    expires: int


def signed_fields_text(fields: tuple[str, ...]) -> bytes:
    """The text a link's signature covers. Length-prefixed fields: no value can be shifted into its neighbour to forge
    another link; the first field names the kind of link and its version, so no link verifies as another kind."""
    return "".join(f"{len(field)}:{field};" for field in fields).encode("utf-8")


def _signed_text(order_id: str, customer_party_id: str, done_url: str, error_url: str, expires: int) -> bytes:
    return signed_fields_text((_SIGNATURE_VERSION, order_id, customer_party_id, done_url, error_url, str(expires)))


def link_signature(secret: str, text: bytes) -> str:
    """HMAC-SHA256 of `text` with the shared link secret, URL-safe base64 without padding."""
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
        "signature": link_signature(secret, text),
    }


def checkout_url(base_url: str, query: dict[str, str]) -> str:
    """The full link: our public base URL, the checkout path and the signed query."""
    return f"{base_url.rstrip('/')}/stripe/Checkout?{urlencode(query)}"


def _trusted_error_url(url: str, allowed_origins: tuple[str, ...], *, signed: bool) -> str | None:
    """The error URL when the shopper may be sent there: signed by the application, or on an allowed origin; always
    an http(s) URL whose text can be written into a page."""
    if not url or not storable_text(url) or not origin_of(url):
        return None
    if signed:
        return url
    try:
        check_redirect_url(url, allowed_origins)
    except CheckoutLinkError:
        return None
    return url


def verify_checkout_query(
    secret: str, query: dict[str, str], allowed_origins: tuple[str, ...], now: float | None = None
) -> CheckoutLink:
    """Check a link's signature, expiry and redirect origins; raise CheckoutLinkError when any fails."""
    error_url = query.get("errorUrl", "")
    unsigned_error_url = _trusted_error_url(error_url, allowed_origins, signed=False)
    if any(not query.get(name) for name in _REQUIRED):
        raise CheckoutLinkError("This payment link is incomplete or unsigned.", "invalid", unsigned_error_url)
    if not all(storable_text(query[name]) for name in _REQUIRED):
        # A NUL or an unpaired surrogate: nothing the application signs and nothing a query could look up.
        raise CheckoutLinkError("This payment link is not valid.", "invalid", unsigned_error_url)
    expires_text = query["expires"]
    if len(expires_text) > _MAX_EXPIRES_DIGITS or not expires_text.isascii() or not expires_text.isdigit():
        raise CheckoutLinkError("This payment link is malformed.", "invalid", unsigned_error_url)
    expires = int(expires_text)
    text = _signed_text(query["orderId"], query["customerPartyId"], query["doneUrl"], error_url, expires)
    if not secret or not hmac.compare_digest(link_signature(secret, text), query["signature"]):
        raise CheckoutLinkError("This payment link is not valid.", "invalid", unsigned_error_url)
    if expires < int(now if now is not None else time.time()):
        raise CheckoutLinkError(
            "This payment link has expired. Please start the payment again.",
            "expired",
            _trusted_error_url(error_url, allowed_origins, signed=True),
        )
    for url in (query["doneUrl"], error_url):
        try:
            check_redirect_url(url, allowed_origins)
        except CheckoutLinkError as error:
            raise CheckoutLinkError(str(error), "redirect_not_allowed", unsigned_error_url) from None
    return CheckoutLink(query["orderId"], query["customerPartyId"], query["doneUrl"], error_url, expires)
