"""Write the installable Moqui component from the templates next to this module.

The templates are ordinary Moqui XML with two markers, ``@@SERVER_URL@@`` and ``@@API_KEY@@``, inside the service
locations. Moqui cannot look the URL up anywhere else (it does not resolve service-location names) and its remote
runners send no headers, so the writer puts both into the XML as literals.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import urllib.parse
from pathlib import Path
from typing import Final, Literal
from xml.sax.saxutils import escape

import jinja2
from lxml import etree

from moqui_bridge.resources import package_path

__all__ = [
    "COMPONENT_NAME",
    "GATEWAY_CONFIG_IDS",
    "TEMPLATE_ROOT",
    "ComponentFolderError",
    "Transport",
    "component_files",
    "normalize_server_url",
    "write_component",
]

logger = logging.getLogger(__name__)

Transport = Literal["json-rpc", "rest"]

TEMPLATE_ROOT: Final = package_path("moqui_bridge.component")
COMPONENT_NAME: Final = "moqui-stripe"
GATEWAY_CONFIG_IDS: Final = ("StripeGateway", "StripeGatewayAuthCapture")

_SERVER_URL_MARKER: Final = "@@SERVER_URL@@"
_API_KEY_MARKER: Final = "@@API_KEY@@"
_MARKER_PATTERN: Final = re.compile(r"@@[A-Z_]+@@")
_PAYMENT_SERVICES: Final = "service/stripe/StripePaymentServices.xml"

# Output path -> template path. The rest transport writes its template under the json-rpc file's name: a Moqui service
# is named after its file, and the PaymentGatewayConfig rows name stripe.StripePaymentServices.* either way.
_LAYOUT: Final[dict[Transport, tuple[tuple[str, str], ...]]] = {
    "json-rpc": (
        ("component.xml", "component.xml"),
        (_PAYMENT_SERVICES, "service/stripe/StripePaymentServices.xml"),
        ("service/stripe/StripeCheckoutServices.xml", "service/stripe/StripeCheckoutServices.xml"),
        ("data/StripeSetupData.xml", "data/StripeSetupData.xml"),
        ("data/StripeDemoData.xml", "data/StripeDemoData.xml"),
    ),
    "rest": (
        ("component.xml", "component.xml"),
        (_PAYMENT_SERVICES, "service/stripe/StripePaymentRestServices.xml"),
        ("service/stripe/StripeCheckoutServices.xml", "service/stripe/StripeCheckoutServices.xml"),
        ("data/StripeSetupData.xml", "data/StripeSetupData.xml"),
        ("data/StripeDemoData.xml", "data/StripeDemoData.xml"),
    ),
}
_README_TEMPLATE: Final = "README.txt.j2"
_README: Final = "README.txt"
_TRANSPORT_DESCRIPTIONS: Final[dict[Transport, str]] = {
    "json-rpc": "JSON-RPC (type remote-json-rpc, POST {url}/rpc/json)",
    "rest": "REST (type remote-rest, {url}/rest/s1/stripe/...) for the payment services, JSON-RPC for get#CheckoutUrl",
}
# Characters that would let the URL escape its attribute, or that Moqui's remote-rest runner would try to expand.
_FORBIDDEN_URL_CHARACTERS: Final = frozenset('${}"<>\\`^|')
# Files holding the key are private to the writing user; the others are ordinary readable files.
_SECRET_MODE: Final = 0o600
_PUBLIC_MODE: Final = 0o644


class ComponentFolderError(FileExistsError):
    """The output folder holds something that is not a moqui-stripe component, and overwriting was not allowed."""


def component_files(transport: Transport = "json-rpc") -> list[tuple[str, Path]]:
    """The component's files for ``transport``: (path inside the component, template it is written from)."""
    if transport not in _LAYOUT:
        raise ValueError(f"transport must be 'json-rpc' or 'rest', got {transport!r}")
    return [(output, TEMPLATE_ROOT / template) for output, template in _LAYOUT[transport]]


def write_component(
    out_dir: Path,
    *,
    server_url: str,
    api_key: str,
    transport: Transport = "json-rpc",
    force: bool = False,
) -> list[Path]:
    """Write the Moqui component for the moqui-stripe server at ``server_url`` into ``out_dir``.

    ``server_url`` is the server's base URL (http or https, optionally with a path prefix, no query); ``api_key`` is
    the key the server accepts from this Moqui. ``transport`` picks remote-json-rpc or remote-rest for the payment
    services. ``out_dir`` may be missing, empty, or an earlier output of this writer (which is then updated); anything
    else raises :class:`ComponentFolderError` unless ``force`` is true, and even then only our files are written,
    nothing is deleted. Returns the written files, README.txt last.

    Blocking file I/O: from async code call it through ``asyncio.to_thread``.
    """
    base_url = normalize_server_url(server_url)
    encoded_key = _encode_api_key(api_key)
    files = component_files(transport)
    out_dir = Path(out_dir)
    _check_output_folder(out_dir, force=force)

    written: list[Path] = []
    for relative, template in files:
        text = template.read_text(encoding="utf-8")
        has_secret = _API_KEY_MARKER in text
        # Values go into XML attributes: escape quotes as well as &, < and >.
        text = text.replace(_SERVER_URL_MARKER, _escape_attribute(base_url))
        text = text.replace(_API_KEY_MARKER, _escape_attribute(encoded_key))
        _check_rendered(relative, text)
        target = out_dir / relative
        _write_atomically(target, text, _SECRET_MODE if has_secret else _PUBLIC_MODE)
        written.append(target)

    readme = _render_readme(base_url, transport)
    readme_path = out_dir / _README
    _write_atomically(readme_path, readme, _PUBLIC_MODE)
    written.append(readme_path)

    if urllib.parse.urlsplit(base_url).scheme == "http" and not _is_loopback(base_url):
        # The key travels in every request URL; over plain http anyone on the path can read it.
        logger.warning("moqui component written for a plain http server URL %s: use https", base_url)
    logger.info("moqui component written to %s (%s transport, %d files)", out_dir, transport, len(written))
    return written


def normalize_server_url(server_url: str) -> str:
    """Check that ``server_url`` is a usable http(s) base URL and return it without a trailing slash.

    Refused: other schemes, a missing host, user info (it would end up in Moqui's XML), a query or fragment (the
    writer appends paths and its own query), and characters that would break the XML or be expanded by Moqui.
    """
    if not isinstance(server_url, str) or not server_url:
        raise ValueError("server URL is required")
    if any(character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in server_url):
        raise ValueError("server URL must not contain spaces or control characters")
    bad = sorted(_FORBIDDEN_URL_CHARACTERS.intersection(server_url))
    if bad:
        raise ValueError(f"server URL must not contain {' '.join(bad)}")
    if "?" in server_url or "#" in server_url:
        raise ValueError("server URL must be a base URL without a query or fragment")
    parts = urllib.parse.urlsplit(server_url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"server URL must start with http:// or https://, got {server_url!r}")
    if not parts.hostname:
        raise ValueError(f"server URL has no host: {server_url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("server URL must not contain a user name or password; the api key is passed separately")
    try:
        _ = parts.port  # urlsplit only checks the port when asked
    except ValueError as error:
        raise ValueError(f"server URL has an invalid port: {error}") from None
    path = parts.path.rstrip("/")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def _encode_api_key(api_key: str) -> str:
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("api key is required")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in api_key):
        raise ValueError("api key must not contain control characters")
    # Percent-encode everything but unreserved characters: the key is a query value, and "$", "{", "&", "+" or "#"
    # in it must reach the server as themselves rather than be expanded by Moqui or split the query.
    return urllib.parse.quote(api_key, safe="")


def _escape_attribute(value: str) -> str:
    return escape(value, {'"': "&quot;", "'": "&apos;"})


def _check_output_folder(out_dir: Path, *, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ComponentFolderError(f"{out_dir} exists and is not a folder")
    if not out_dir.exists() or force or not any(out_dir.iterdir()):
        return
    if not _is_our_component(out_dir / "component.xml"):
        raise ComponentFolderError(
            f"{out_dir} is not empty and does not hold a {COMPONENT_NAME} component; "
            "choose an empty or new folder, or allow overwriting"
        )


def _is_our_component(component_xml: Path) -> bool:
    if not component_xml.is_file():
        return False
    try:
        root = etree.parse(str(component_xml), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    except etree.XMLSyntaxError:
        return False
    return root.tag == "component" and root.get("name") == COMPONENT_NAME


def _check_rendered(relative: str, text: str) -> None:
    leftover = _MARKER_PATTERN.search(text)
    if leftover:
        raise RuntimeError(f"template marker {leftover.group()} left in {relative}")
    try:
        etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        raise RuntimeError(f"{relative} is not well-formed after filling in the URL and key: {error}") from error


def _render_readme(base_url: str, transport: Transport) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_ROOT)),
        autoescape=False,  # plain text, not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template(_README_TEMPLATE).render(
        server_url=base_url,
        transport_description=_TRANSPORT_DESCRIPTIONS[transport].format(url=base_url),
        component_name=COMPONENT_NAME,
        gateway_config_ids=list(GATEWAY_CONFIG_IDS),
    )


def _write_atomically(target: Path, text: str, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so Moqui never reads a half-written file and the mode is right from the
    # start (mkstemp creates the file 0600).
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _is_loopback(base_url: str) -> bool:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
