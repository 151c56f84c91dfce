"""`/v1/events`: every event the emulator emitted, newest first."""

from __future__ import annotations

from aiohttp import web

from stripe_emulator.errors import resource_missing
from stripe_emulator.routes.common import checked_params, object_id
from stripe_emulator.state import state_of
from stripe_emulator.wire import paginate, respond

routes = web.RouteTableDef()


@routes.get("/v1/events")
async def list_events(request: web.Request) -> web.Response:
    """List events, filtered by `type` (with `*` wildcards as `payment_intent.*`) or `types[]`."""
    state = state_of(request)
    params = await checked_params(request)
    wanted = params.string_list("types")
    single = params.str("type")
    if single is not None:
        wanted.append(single)

    def matches(event_type: str) -> bool:
        return not wanted or any(event_type == w or (w.endswith("*") and event_type.startswith(w[:-1])) for w in wanted)

    items = [e for e in state.events.events.newest_first() if matches(e["type"])]
    return respond(paginate(params, items, "/v1/events", lambda o, _e: o))


@routes.get("/v1/events/{id}")
async def retrieve_event(request: web.Request) -> web.Response:
    """Retrieve an event."""
    state = state_of(request)
    await checked_params(request)
    event = state.events.get(object_id(request))
    if event is None:
        raise resource_missing("event", object_id(request))
    return respond(event)
