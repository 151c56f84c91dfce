"""Vendored reference files the tests read: Moqui's and Mantle's definitions and Stripe's example objects.

Copied verbatim from ../shared (the steering repo) so that no test depends on anything outside this repository;
each folder's SOURCES.md names the repository, commit and path of every file (Moqui and Mantle: CC0 1.0; Stripe's
stripe-mock fixtures: MIT). Product code never reads these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["MOQUI_REFERENCE", "STRIPE_FIXTURES", "STRIPE_REFERENCE"]

_HERE: Final = Path(__file__).resolve().parent
MOQUI_REFERENCE: Final = _HERE / "moqui-reference"
STRIPE_REFERENCE: Final = _HERE / "stripe-reference"
STRIPE_FIXTURES: Final = STRIPE_REFERENCE / "fixtures3.json"
