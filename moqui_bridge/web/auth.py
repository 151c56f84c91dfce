"""Authentication of incoming Moqui-style calls, in the order Moqui's `UserFacadeImpl` checks a request.

1. `Authorization: Basic base64(username:password)` against the configured users;
2. else header `api_key` or `login_key` (trimmed; "null" and "undefined" are treated as absent);
3. else query parameter `api_key` or `login_key`, because Moqui's remote runners cannot send headers and so carry
   the key in the service's location URL.

The first kind of credential present decides, as in Moqui. Secrets are compared by constant-time comparison of their
SHA-256 digests (equal lengths, so no length leak), against every configured key without stopping at a match.
The result names the caller; it never contains a secret, and nothing here logs one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

logger = logging.getLogger(__name__)

_KEY_NAMES = ("api_key", "login_key")
_ABSENT_VALUES = ("", "null", "undefined")
# Compared when a username is unknown, so a wrong username costs the same as a wrong password.
_UNKNOWN_USER_DIGEST = hashlib.sha256(b"moqui-bridge-unknown-user").digest()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the configured name of the user or api key, and how they authenticated."""

    name: str
    method: str


class Authenticator:
    """Checks a request's credentials against configured Basic users and api keys.

    `users` maps a username to its password; `api_keys` maps a caller name (returned as the principal) to its key.
    """

    def __init__(self, *, users: Mapping[str, str] | None = None, api_keys: Mapping[str, str] | None = None) -> None:
        self._user_digests = {name: _digest(password) for name, password in (users or {}).items()}
        self._key_digests = [(name, _digest(key)) for name, key in (api_keys or {}).items()]
        self._secrets = tuple(
            secret for secret in [*(users or {}).values(), *(api_keys or {}).values()] if len(secret) >= 4
        )

    def authenticate(self, request: web.Request) -> Principal | None:
        """The caller's principal, or None when no valid credential is present."""
        authorization = request.headers.get("Authorization", "")
        if authorization[:6].lower() == "basic ":
            return self._check_basic(authorization[6:].strip())
        header_key = _first_present(request.headers.get(name) for name in _KEY_NAMES)
        if header_key is not None:
            return self._check_key(header_key, "header")
        query_key = _first_present(request.query.get(name) for name in _KEY_NAMES)
        if query_key is not None:
            return self._check_key(query_key, "query")
        return None

    def _check_basic(self, encoded: str) -> Principal | None:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            logger.warning("Authentication failed: malformed Basic credentials")
            return None
        username, separator, password = decoded.partition(":")
        expected = self._user_digests.get(username, _UNKNOWN_USER_DIGEST)
        matched = hmac.compare_digest(_digest(password), expected) and bool(separator)
        if matched and username in self._user_digests:
            return Principal(username, "basic")
        logger.warning("Authentication failed: Basic credentials not valid")
        return None

    def _check_key(self, key: str, where: str) -> Principal | None:
        presented = _digest(key)
        found: str | None = None
        for name, digest in self._key_digests:
            # Every configured key is compared, even after a match, so timing does not depend on which one matched.
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        if found is None:
            logger.warning("Authentication failed: api key in %s not valid", where)
            return None
        return Principal(found, f"api_key:{where}")

    def redact(self, text: str) -> str:
        """`text` with every configured password and api key replaced, for error messages sent to callers."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def _first_present(values: Iterable[str | None]) -> str | None:
    for value in values:
        if value is None:
            continue
        trimmed = value.strip()
        if trimmed not in _ABSENT_VALUES:
            return trimmed
    return None
