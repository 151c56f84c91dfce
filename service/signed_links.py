"""HMAC-SHA256 signatures of the links an application sends people to our pages with (checkout, staff cards).

The signed text is the fields, each length-prefixed (`<length>:<field>;`) so that no value can be shifted into its
neighbour, after a version tag that names what the link is for: a signature made for one kind of link never
verifies as another. The application signs with the secret both sides hold (`checkout.link_secret`); Moqui's
component does the same in Groovy (StripeCheckoutServices.xml, StripeStaffCardServices.xml), counting characters
as Unicode code points as Python does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["link_signature", "signature_matches"]


def _signed_text(version: str, fields: Sequence[str]) -> bytes:
    return "".join(f"{len(field)}:{field};" for field in (version, *fields)).encode("utf-8")


def link_signature(secret: str, version: str, fields: Sequence[str]) -> str:
    """The URL-safe base64 (unpadded) HMAC-SHA256 of the version tag and fields under `secret`."""
    digest = hmac.new(secret.encode("utf-8"), _signed_text(version, fields), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def signature_matches(secret: str, version: str, fields: Sequence[str], signature: str) -> bool:
    """Whether `signature` is the link's signature (compared in constant time; never with an empty secret)."""
    return bool(secret) and hmac.compare_digest(link_signature(secret, version, fields), signature)
