"""Removing secrets from text that may reach a log, an error message or a caller.

One list of shapes for the whole project: Stripe keys and webhook secrets, PaymentIntent/SetupIntent client secrets,
passwords in database URLs (user info or a `password` query parameter) and in keyword DSNs, and Authorization header
values. Secrets of a configured value but no recognisable shape are removed by their owners (the Authenticator knows
its keys).
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z]{2,4}_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"), "[client secret]"),
    (re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9*]+"), "[api key]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9]+"), "[webhook secret]"),
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]*@"), r"\1[redacted]@"),
    (re.compile(r"(?i)([?&;]password=)[^&\s]*"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(password\s*=\s*)('[^']*'|\S+)"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
)


def redact_secrets(text: str) -> str:
    """`text` with every recognisable secret replaced by a marker naming what it was."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
