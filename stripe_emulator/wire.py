"""Reading requests and writing responses in Stripe's format: parameters, JSON bodies, lists and pagination."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from stripe_emulator.errors import parameter_error
from stripe_emulator.formdata import parse_form
from stripe_emulator.objects import list_object
from stripe_emulator.params import Params
from stripe_emulator.store import StripeObject

_PARAMS_KEY = web.RequestKey("stripe_emulator_params", dict)
LIST_PARAMS = ("limit", "starting_after", "ending_before", "expand", "created")


async def request_params(request: web.Request) -> dict[str, Any]:
    """The call's parameters: the query string for GET/DELETE, the form body (plus query) for POST. Cached."""
    cached = request.get(_PARAMS_KEY)
    if cached is not None:
        params: dict[str, Any] = cached
        return params
    text = request.query_string
    if request.method == "POST" and request.can_read_body:
        body = (await request.read()).decode("utf-8", errors="replace")
        text = f"{text}&{body}" if text else body
    params = parse_form(text) if text else {}
    request[_PARAMS_KEY] = params
    return params


def respond(body: StripeObject, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response (compact: the SDK does not care about layout and it is faster to write)."""
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json", headers=headers)


def _created_matches(created: int, condition: Any) -> bool:
    if isinstance(condition, str):
        return created == int(condition)
    if isinstance(condition, dict):
        checks = {"gt": created.__gt__, "gte": created.__ge__, "lt": created.__lt__, "lte": created.__le__}
        return all(checks[op](int(value)) for op, value in condition.items() if op in checks)
    return True


def paginate(
    params: Params,
    items: Iterable[StripeObject],
    url: str,
    render: Callable[[StripeObject, list[str]], StripeObject],
) -> StripeObject:
    """Stripe's cursor pagination over newest-first `items`: `limit`, `starting_after`, `ending_before`, `created`."""
    limit = params.int("limit") or 10
    if not 1 <= limit <= 100:
        raise parameter_error("This value must be between 1 and 100.", "limit", "parameter_invalid_integer")
    created = params.raw("created")
    try:
        selected = [item for item in items if created is None or _created_matches(item["created"], created)]
    except ValueError:
        raise parameter_error("Invalid integer in created filter", "created", "parameter_invalid_integer") from None
    starting_after = params.str("starting_after")
    ending_before = params.str("ending_before")
    ids = [item["id"] for item in selected]
    if starting_after is not None:
        if starting_after not in ids:
            raise parameter_error(f"No such object: '{starting_after}'", "starting_after", "resource_missing")
        selected = selected[ids.index(starting_after) + 1 :]
        page, has_more = selected[:limit], len(selected) > limit
    elif ending_before is not None:
        if ending_before not in ids:
            raise parameter_error(f"No such object: '{ending_before}'", "ending_before", "resource_missing")
        selected = selected[: ids.index(ending_before)]
        page, has_more = selected[-limit:], len(selected) > limit
    else:
        page, has_more = selected[:limit], len(selected) > limit
    expand = [path.removeprefix("data.") for path in params.string_list("expand")]
    return list_object(url, [render(item, expand) for item in page], has_more)
