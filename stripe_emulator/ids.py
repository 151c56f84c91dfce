"""Object ids and secrets with Stripe's prefixes (`pi_`, `ch_`, `re_`, `pm_`, `cus_`, `seti_`, `evt_`, ...)."""

from __future__ import annotations

import random
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Ids only need to be unique and Stripe-looking, not unguessable; a seeded-from-OS PRNG is much faster.
_random = random.Random(secrets.randbits(64))


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id such as `pi_3Pq...` (prefix plus 24 alphanumerics)."""
    return f"{prefix}_{''.join(_random.choices(_ALPHABET, k=length))}"


def new_secret(object_id: str) -> str:
    """A client secret as Stripe forms it: `<id>_secret_<random>`; these must be unguessable."""
    return f"{object_id}_secret_{secrets.token_hex(12)}"


def new_webhook_secret() -> str:
    """A webhook signing secret (`whsec_...`)."""
    return f"whsec_{secrets.token_hex(24)}"
