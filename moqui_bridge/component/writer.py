"""Write the installable Moqui component: the files next to this module, plus a MoquiConf.xml with the service URL.

The services and data are copied as they are: nothing secret or installation-specific is in them. Moqui merges a
component's MoquiConf.xml into its configuration and turns each ``default-property`` into a Java System property
unless one of that name, or an environment variable, is already set (ExecutionContextFactoryImpl.groovy:393-410); the
component's script reads them with ``System.getProperty``. The api key and the checkout link secret are best given as
environment variables of the same names; the writer puts the key into MoquiConf.xml (readable by its owner only) only
when it is asked to.
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

import jinja2
from lxml import etree

from moqui_bridge.resources import package_path

__all__ = [
    "COMPONENT_NAME",
    "GATEWAY_CONFIG_IDS",
    "MOQUI_PROPERTIES",
    "TEMPLATE_ROOT",
    "ComponentFolderError",
    "component_files",
    "normalize_server_url",
    "write_component",
]

logger = logging.getLogger(__name__)

TEMPLATE_ROOT: Final = package_path("moqui_bridge.component")
COMPONENT_NAME: Final = "moqui-stripe"
GATEWAY_CONFIG_IDS: Final = ("StripeGateway", "StripeGatewayAuthCapture")
# The Moqui configuration the component reads: property name -> what it holds.
MOQUI_PROPERTIES: Final = {
    "moqui_stripe_url": "the moqui-stripe service's base URL as Moqui reaches it",
    "moqui_stripe_api_key": "the api key this Moqui calls the service with (a secret: prefer the environment)",
    "moqui_stripe_link_secret": "the checkout link secret, shared with the service's checkout.link_secret (a secret)",
}
_COMPONENT_FOLDERS: Final = ("service", "entity", "data", "screen")
_MOQUI_CONF: Final = "MoquiConf.xml"
_README_TEMPLATE: Final = "README.txt.j2"
_README: Final = "README.txt"
# Paths a base URL must not end with: the component appends the gateway API's own path.
_API_SUFFIXES: Final = ("/rpc/json", "/rest/s1", "/rest")
# Characters that would break the XML attribute or be expanded by Moqui.
_FORBIDDEN_URL_CHARACTERS: Final = frozenset('${}"<>\\`^|')
_SECRET_MODE: Final = 0o600
_PUBLIC_MODE: Final = 0o644


class ComponentFolderError(FileExistsError):
    """The output folder holds something that is not a moqui-stripe component, and overwriting was not allowed."""


def component_files() -> list[tuple[str, Path]]:
    """The component's files as shipped: (path inside the component, file it is copied from)."""
    files = [("component.xml", TEMPLATE_ROOT / "component.xml")]
    for folder in _COMPONENT_FOLDERS:
        for path in sorted((TEMPLATE_ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix == ".xml":
                files.append((path.relative_to(TEMPLATE_ROOT).as_posix(), path))
    return files


def write_component(
    out_dir: Path,
    *,
    server_url: str,
    api_key: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the Moqui component for the moqui-stripe service at ``server_url`` into ``out_dir``.

    ``server_url`` is the service's base URL (http or https, optionally with a path prefix, no query, not ending in
    /rpc/json or /rest/s1). ``api_key``, when given, is written into MoquiConf.xml (mode 0600); without it Moqui
    reads the environment variable ``moqui_stripe_api_key``. ``out_dir`` may be missing, empty, or an earlier output
    of this writer (which is then updated); anything else raises :class:`ComponentFolderError` unless ``force`` is
    true, and even then only our files are written, nothing is deleted. Returns the written files, README.txt last.

    Blocking file I/O: from async code call it through ``asyncio.to_thread``.
    """
    base_url = normalize_server_url(server_url)
    if api_key is not None:
        _check_api_key(api_key)
    out_dir = Path(out_dir)
    _check_output_folder(out_dir, force=force)

    written: list[Path] = []
    for relative, source in component_files():
        text = source.read_text(encoding="utf-8")
        _check_well_formed(relative, text)
        target = out_dir / relative
        _write_atomically(target, text, _PUBLIC_MODE)
        written.append(target)

    conf = _moqui_conf(base_url, api_key)
    _check_well_formed(_MOQUI_CONF, conf)
    conf_path = out_dir / _MOQUI_CONF
    _write_atomically(conf_path, conf, _SECRET_MODE if api_key is not None else _PUBLIC_MODE)
    written.append(conf_path)

    readme_path = out_dir / _README
    _write_atomically(readme_path, _render_readme(base_url, key_in_conf=api_key is not None), _PUBLIC_MODE)
    written.append(readme_path)

    if urllib.parse.urlsplit(base_url).scheme == "http" and not _is_loopback(base_url):
        # The key travels in a header of every request; over plain http anyone on the path can read it.
        logger.warning(
            "moqui component written for a plain http service URL %s: use https or a private network", base_url
        )
    logger.info("moqui component written to %s (%d files)", out_dir, len(written))
    return written


def normalize_server_url(server_url: str) -> str:
    """Check that ``server_url`` is a usable http(s) base URL and return it without a trailing slash.

    Refused: other schemes, a missing host, user info (it would end up in Moqui's configuration), a query or fragment
    (the component appends the API's path), a path already ending in /rpc/json or /rest/s1, and characters that
    would break the XML or be expanded by Moqui.
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
    for suffix in _API_SUFFIXES:
        if path.lower().endswith(suffix):
            raise ValueError(
                f"server URL must be the service's base URL, without {suffix}: the component adds the API's path"
            )
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def _check_api_key(api_key: str) -> None:
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("api key must not be empty")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in api_key):
        raise ValueError("api key must not contain control characters")


def _moqui_conf(base_url: str, api_key: str | None) -> str:
    values = {"moqui_stripe_url": base_url, "moqui_stripe_api_key": api_key or "", "moqui_stripe_link_secret": ""}
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- moqui-stripe: merged into Moqui's configuration. An environment variable of the same name replaces the",
        "     value here (give the secrets that way); a Java system property (-Dname=value) replaces both. -->",
        '<moqui-conf xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
        '        xsi:noNamespaceSchemaLocation="http://moqui.org/xsd/moqui-conf-3.xsd">',
    ]
    for name, meaning in MOQUI_PROPERTIES.items():
        secret = ' is-secret="true"' if name != "moqui_stripe_url" else ""
        lines.append(f"    <!-- {meaning} -->")
        lines.append(f'    <default-property name="{name}" value="{_escape_attribute(values[name])}"{secret}/>')
    lines.append("</moqui-conf>")
    return "\n".join(lines) + "\n"


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


def _check_well_formed(relative: str, text: str) -> None:
    try:
        etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        raise RuntimeError(f"{relative} is not well-formed: {error}") from error


def _render_readme(base_url: str, *, key_in_conf: bool) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_ROOT)),
        autoescape=False,  # plain text, not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template(_README_TEMPLATE).render(
        server_url=base_url,
        component_name=COMPONENT_NAME,
        gateway_config_ids=list(GATEWAY_CONFIG_IDS),
        key_in_conf=key_in_conf,
        data_files=[relative for relative, _ in component_files() if relative.startswith("data/")],
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
