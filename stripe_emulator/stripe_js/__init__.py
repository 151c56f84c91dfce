"""A stand-in for the part of stripe.js (v3) that moqui-stripe's checkout page uses, served by the emulator.

Tests and the demo have no internet, so js.stripe.com cannot load. The emulator serves, at `/v3/`, a small script
with the same surface our pages call: `Stripe(publishableKey)`, `stripe.elements({clientSecret})`,
`elements.create("payment")`, `element.mount(...)` / `element.on(...)`, `stripe.confirmPayment({elements,
confirmParams: {return_url}})`, `stripe.confirmSetup(...)` (the same for a SetupIntent's secret: the saved-cards
page) and `stripe.retrievePaymentIntent(clientSecret)`; for deferred intents (the staff card page),
`stripe.elements({mode, paymentMethodCreation: "manual"})`, `elements.submit()` and
`stripe.createPaymentMethod({elements})` (a `POST /v1/payment_methods` with the publishable key, as Stripe.js makes).

As with Stripe, the card fields live in an iframe on the emulator's origin (`/v3/elements-frame.html`): card data
never touches the merchant page, and the frame calls the emulator's API same-origin with the publishable key and the
PaymentIntent's client secret (no CORS needed). The merchant page and the frame talk by `postMessage`, each checking
the other's origin. 3-D Secure uses the emulator's challenge page (`/_emulator/3ds/{id}`) by a full-page redirect.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from aiohttp import web

__all__ = ["STRIPE_JS_PATH", "add_stripe_js_routes"]

STRIPE_JS_PATH: Final = "/v3/"
# Found through importlib.resources, so the assets are read from a wheel as from the source tree.
_ASSET_FOLDER = files(__name__)
_ASSETS: Final = {
    # route path -> (file, content type)
    "/v3/": ("stripe.js", "application/javascript"),
    "/v3": ("stripe.js", "application/javascript"),
    "/v3/elements-frame.html": ("elements-frame.html", "text/html"),
    "/v3/elements-frame.js": ("elements-frame.js", "application/javascript"),
    "/v3/elements-frame.css": ("elements-frame.css", "text/css"),
}


def _asset_handler(file_name: str, content_type: str):  # type: ignore[no-untyped-def]
    # Read once: the assets are a few kilobytes and never change while the emulator runs.
    body = _ASSET_FOLDER.joinpath(file_name).read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            # Tests restart emulators on new ports often; a cached copy would only hide changes.
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return handler


def add_stripe_js_routes(app: web.Application) -> None:
    """Serve the stripe.js stand-in and its card-field frame on `app` (the emulator's application).

    Calling it again on the same app does nothing, so the emulator's factory and a test or demo may both call it.
    """
    if any(resource.canonical == STRIPE_JS_PATH for resource in app.router.resources()):
        return
    for path, (file_name, content_type) in _ASSETS.items():
        app.router.add_get(path, _asset_handler(file_name, content_type))
