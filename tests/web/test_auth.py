"""The authenticator checks Moqui's credential kinds in Moqui's order and never hands out a secret.

Requests go over real HTTP to a small app whose handler answers with the principal the authenticator found.
"""

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from moqui_bridge.web.auth import Authenticator

AUTHENTICATOR = Authenticator(
    users={"alice": "alice-password"}, api_keys={"moqui": "key-one-123456", "ci": "key-two-654321"}
)

Client = TestClient[Any, Any]


async def whoami(request: web.Request) -> web.Response:
    principal = AUTHENTICATOR.authenticate(request)
    return web.json_response(None if principal is None else {"name": principal.name, "method": principal.method})


@pytest.fixture
async def client(aiohttp_client: Callable[[Any], Awaitable[Client]]) -> Client:
    app = web.Application()
    app.router.add_post("/whoami", whoami)
    return await aiohttp_client(app)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def principal_of(client: Client, path: str, headers: dict[str, str]) -> Any:
    response = await client.post(path, headers=headers)
    return await response.json()


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/whoami", {"Authorization": basic("alice", "alice-password")}, {"name": "alice", "method": "basic"}),
        ("/whoami", {"api_key": "key-one-123456"}, {"name": "moqui", "method": "api_key:header"}),
        ("/whoami", {"login_key": "key-two-654321"}, {"name": "ci", "method": "api_key:header"}),
        ("/whoami?api_key=key-two-654321", {}, {"name": "ci", "method": "api_key:query"}),
        ("/whoami?login_key=key-one-123456", {"api_key": "null"}, {"name": "moqui", "method": "api_key:query"}),
    ],
)
async def test_valid_credentials(client: Client, path: str, headers: dict[str, str], expected: Any) -> None:
    assert await principal_of(client, path, headers) == expected


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/whoami", {}),
        ("/whoami", {"Authorization": basic("alice", "wrong")}),
        ("/whoami", {"Authorization": basic("mallory", "alice-password")}),
        ("/whoami", {"Authorization": "Basic !!!not-base64"}),
        ("/whoami", {"api_key": "key-one-12345"}),
        ("/whoami", {"api_key": "undefined"}),
        # Moqui stops at the first kind of credential present: a bad header key is not rescued by the query.
        ("/whoami?api_key=key-one-123456", {"api_key": "wrong-key"}),
        # ...and a Basic header decides even when an api key is present.
        ("/whoami?api_key=key-one-123456", {"Authorization": basic("alice", "wrong")}),
    ],
)
async def test_missing_or_invalid_credentials(client: Client, path: str, headers: dict[str, str]) -> None:
    assert await principal_of(client, path, headers) is None


async def test_failures_are_logged_without_secrets(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="moqui_bridge.web.auth"):
        await principal_of(client, "/whoami", {"api_key": "presented-secret-value"})
        await principal_of(client, "/whoami", {"Authorization": basic("alice", "guessed-password")})
    messages = [record.getMessage() for record in caplog.records if record.name == "moqui_bridge.web.auth"]
    assert len(messages) == 2
    for message in messages:
        assert "presented-secret-value" not in message
        assert "guessed-password" not in message


def test_redact_removes_configured_secrets() -> None:
    assert AUTHENTICATOR.redact("key key-one-123456 and alice-password") == "key [redacted] and [redacted]"
