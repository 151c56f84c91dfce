"""Object ids and secrets with Stripe's prefixes (`pi_`, `ch_`, `re_`, `pm_`, `cus_`, `seti_`, `evt_`, ...)."""

from __future__ import annotations

import base64
import os
import secrets


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id such as `pi_3Pq...` (prefix plus `length` alphanumerics)."""
    # Base64 of random bytes with its two symbols mapped to letters: alphanumeric like Stripe's ids, and far
    # cheaper than choosing characters one by one (ids are made several times per request).
    raw = base64.b64encode(os.urandom((length * 3 + 3) // 4), altchars=b"xZ")
    return f"{prefix}_{raw[:length].decode()}"


def new_secret(object_id: str) -> str:
    """A client secret as Stripe forms it: `<id>_secret_<random>`; these must be unguessable."""
    return f"{object_id}_secret_{secrets.token_hex(12)}"


def new_webhook_secret() -> str:
    """A webhook signing secret (`whsec_...`)."""
    return f"whsec_{secrets.token_hex(24)}"
