"""Mounting the checkout pages on an application made by `service.app.create_app`.

`add_checkout_routes(app, provider)` is the seam; this module builds the provider from the app's own runtime for
standalone mode, where the Mantle side is `LocalMantleSide` over the same service context. With a shared database
the provider must hand out a `RemoteMantleSide` (Moqui's REST API) instead: the app factory owns that client.
"""

from __future__ import annotations

from aiohttp import web

from moqui_bridge.mantle.local_side import LocalMantleSide
from service.app import APP_STATE
from service.checkout.pages import CheckoutProvider, CheckoutServices, add_checkout_routes
from service.context import ServiceContext

__all__ = ["mount_standalone_checkout", "standalone_checkout_provider"]


def standalone_checkout_provider(app: web.Application) -> CheckoutProvider:
    """Services for the checkout pages of a standalone app: its base context and the local Mantle rules."""
    state = app[APP_STATE]
    if state.settings.server.mode != "standalone":
        raise ValueError("standalone_checkout_provider is for standalone mode; shared mode needs a RemoteMantleSide")

    def context() -> ServiceContext:
        return state.require_runtime().base_context

    mantle = LocalMantleSide(context)
    return lambda: CheckoutServices(context(), mantle)


def mount_standalone_checkout(app: web.Application) -> None:
    """Add the checkout routes to a standalone app (before it starts); does nothing if they are there already."""
    add_checkout_routes(app, standalone_checkout_provider(app))
