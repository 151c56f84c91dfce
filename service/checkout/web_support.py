"""What the shopper-facing pages share: Jinja2 rendering, static assets and the security headers.

Used by the checkout pages and the SaaS example. Templates are autoescaped and strict (a missing variable is an
error, not an empty string). Static assets are a fixed list read once, so no request path ever reaches the file
system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import jinja2
from aiohttp import web

from moqui_bridge.resources import package_path
from service.checkout.links import origin_of

__all__ = [
    "CHECKOUT_TEMPLATES",
    "PageRenderer",
    "add_static_assets",
    "content_security_policy",
    "page_headers",
    "see_other",
    "stripe_origins",
]

# The checkout's templates: their base.html (the merchant's header, checkout.css) is every shopper page's base.
CHECKOUT_TEMPLATES: Final = package_path("service.checkout", "templates")
_CONTENT_TYPES: Final = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml"}
# Stripe's own hosts when the page loads the real stripe.js (Stripe's documented CSP for Elements and 3-D Secure).
_REAL_STRIPE_JS_ORIGIN: Final = "https://js.stripe.com"
_REAL_STRIPE: Final = {
    "script": ("https://js.stripe.com", "https://*.js.stripe.com"),
    "frame": ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect": ("https://api.stripe.com",),
}


class PageRenderer:
    """Renders the templates of one or more folders to HTML text (a name is looked up in the folders in order)."""

    def __init__(self, template_dir: Path, *more_dirs: Path) -> None:
        self._environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(folder) for folder in (template_dir, *more_dirs)]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, **values: Any) -> str:
        """The template filled with `values` (all text escaped unless marked safe)."""
        return self._environment.get_template(template).render(**values)


def stripe_origins(stripe_js_url: str, api_base: str = "") -> dict[str, tuple[str, ...]]:
    """The origins a page that loads `stripe_js_url` must allow, by CSP directive (script, frame, connect)."""
    js_origin = origin_of(stripe_js_url)
    if js_origin == _REAL_STRIPE_JS_ORIGIN:
        return dict(_REAL_STRIPE)
    # The emulator's stand-in: one origin serves the script, the card frame and the API.
    origins = tuple(dict.fromkeys(origin for origin in (js_origin, origin_of(api_base)) if origin))
    return {"script": origins, "frame": origins, "connect": origins}


def content_security_policy(stripe: Mapping[str, Iterable[str]] | None = None, *, form_action: str = "'self'") -> str:
    """A CSP allowing our own origin, plus the Stripe origins given, and nothing inline.

    Without `stripe` the page loads no third-party code at all.
    """
    extra = {key: " ".join(values) for key, values in (stripe or {}).items()}

    def allow(base: str, key: str) -> str:
        return f"{base} {extra[key]}".strip() if extra.get(key) else base

    directives = [
        "default-src 'none'",
        allow("script-src 'self'", "script"),
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        allow("connect-src 'self'", "connect"),
        f"frame-src {extra['frame']}" if extra.get("frame") else "frame-src 'none'",
        f"form-action {form_action}",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def page_headers(csp: str) -> dict[str, str]:
    """Headers for every shopper-facing response (pages and redirects alike)."""
    return {
        "Content-Security-Policy": csp,
        # Checkout pages carry a client secret and per-order state: never cached, by browsers or proxies.
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Frame-Options": "DENY",
        # The signed link is in our URLs: other origins (Stripe included) never see it in a Referer.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }


def see_other(url: str) -> web.Response:
    """A 303 to `url` with the page headers: the browser follows with a GET whatever brought it here."""
    headers = page_headers(content_security_policy())
    headers["Location"] = url
    return web.Response(status=303, headers=headers)


def add_static_assets(app: web.Application, url_prefix: str, directory: Path, file_names: Iterable[str]) -> None:
    """Serve the named files of `directory` under `url_prefix` (e.g. /stripe/static/checkout.js)."""
    for file_name in file_names:
        path = directory / file_name
        content_type = _CONTENT_TYPES[path.suffix]
        body = path.read_bytes()

        async def handler(request: web.Request, body: bytes = body, content_type: str = content_type) -> web.Response:
            return web.Response(
                body=body,
                content_type=content_type,
                charset="utf-8",
                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
            )

        app.router.add_get(f"{url_prefix.rstrip('/')}/{file_name}", handler)
