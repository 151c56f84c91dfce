"""The seller shown on the shopper's pages: `checkout.merchant_name` and the logo file `checkout.merchant_logo`.

The logo is read once, when the application is built, and served from our own origin (the pages' CSP allows images
from nowhere else), so a missing or unreadable file stops start-up with one line instead of breaking every page.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from service.config import MERCHANT_LOGO_TYPES, CheckoutSettings, ConfigError

__all__ = ["MERCHANT_LOGO_PATH", "add_merchant_logo_route", "merchant_values"]

MERCHANT_LOGO_PATH: Final = "/stripe/static/merchant-logo"
# Larger than any sensible logo; a configuration mistake (a photo, a wrong file) is refused at start-up.
_MAX_LOGO_BYTES: Final = 512 * 1024


def merchant_values(checkout: CheckoutSettings) -> dict[str, str | None]:
    """The template values every page's header uses: `merchant_name` and `merchant_logo_url` (None without a logo)."""
    return {
        "merchant_name": checkout.merchant_name,
        "merchant_logo_url": MERCHANT_LOGO_PATH if checkout.merchant_logo is not None else None,
    }


def add_merchant_logo_route(app: web.Application, checkout: CheckoutSettings) -> None:
    """Serve the configured logo at MERCHANT_LOGO_PATH (nothing when none is configured)."""
    path = checkout.merchant_logo
    if path is None:
        return
    try:
        body = path.read_bytes()  # once, while the application is built (before the event loop serves anything)
    except OSError as error:
        raise ConfigError(f"checkout.merchant_logo: cannot read {path}: {error.strerror or error}") from None
    if not body or len(body) > _MAX_LOGO_BYTES:
        raise ConfigError(f"checkout.merchant_logo: {path} must be a non-empty image of at most 512 KiB")
    content_type = MERCHANT_LOGO_TYPES[path.suffix.lower()]

    async def logo(request: web.Request) -> web.Response:
        # An SVG is an image here (an <img>), but opened on its own it must not run scripts: a sandboxing CSP.
        headers = {
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        }
        return web.Response(body=body, content_type=content_type, headers=headers)

    app.router.add_get(MERCHANT_LOGO_PATH, logo)
