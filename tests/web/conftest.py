"""A real aiohttp test server with the dispatchers and the test services."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.services import make_app


@pytest.fixture
async def client(aiohttp_client: Callable[[Any], Awaitable[TestClient[Any, Any]]]) -> TestClient[Any, Any]:
    """An HTTP client talking to the app over loopback."""
    return await aiohttp_client(make_app())
