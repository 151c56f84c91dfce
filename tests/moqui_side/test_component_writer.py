"""write_component: argument checks, folder safety, file modes, and the URLs Moqui will really send."""

from __future__ import annotations

import json
import re
import stat
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from moqui_bridge.component.writer import (
    ComponentFolderError,
    Transport,
    component_files,
    normalize_server_url,
    write_component,
)
from tests.moqui_side.component_xml import parse

API_KEY = "s3cr&t+key/with ${odd}#chars ü"
EXPECTED_FILES = [
    "component.xml",
    "service/stripe/StripePaymentServices.xml",
    "service/stripe/StripeCheckoutServices.xml",
    "data/StripeSetupData.xml",
    "data/StripeDemoData.xml",
    "README.txt",
]


def relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def locations(component: Path) -> dict[str, tuple[str, str]]:
    """Service name (verb#noun) -> (location, method) in the installed payment and checkout services."""
    found: dict[str, tuple[str, str]] = {}
    for file_name in ("StripePaymentServices.xml", "StripeCheckoutServices.xml"):
        for service in parse(component / "service" / "stripe" / file_name).getroot().iter("service"):
            name = f"{service.get('verb')}#{service.get('noun')}"
            found[name] = (service.get("location", ""), service.get("method", ""))
    return found


# ----- arguments -----


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://pay.example.com", "https://pay.example.com"),
        ("HTTPS://pay.example.com:8443/gw/", "https://pay.example.com:8443/gw"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/a/b//", "http://[::1]:9000/a/b"),
    ],
)
def test_server_url_is_normalized(given: str, expected: str) -> None:
    assert normalize_server_url(given) == expected


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("", "required"),
        ("pay.example.com", "http:// or https://"),
        ("ftp://pay.example.com", "http:// or https://"),
        ("https://", "no host"),
        ("https://user:secret@pay.example.com", "user name or password"),
        ("https://pay.example.com/?x=1", "query or fragment"),
        ("https://pay.example.com/#top", "query or fragment"),
        ("https://pay.example.com/${base}", "must not contain"),
        ('https://pay.example.com/"x', "must not contain"),
        ("https://pay.example.com/a b", "spaces"),
        ("https://pay.example.com:99999", "invalid port"),
    ],
)
def test_bad_server_urls_are_refused_before_anything_is_written(tmp_path: Path, given: str, complaint: str) -> None:
    out_dir = tmp_path / "component"
    with pytest.raises(ValueError, match=re.escape(complaint)):
        write_component(out_dir, server_url=given, api_key=API_KEY)
    assert not out_dir.exists()


@pytest.mark.parametrize("api_key", ["", "line\nbreak", "tab\tkey"])
def test_bad_api_keys_are_refused(tmp_path: Path, api_key: str) -> None:
    with pytest.raises(ValueError, match="api key"):
        write_component(tmp_path / "component", server_url="https://pay.example.com", api_key=api_key)
    assert not (tmp_path / "component").exists()


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="transport"):
        component_files("soap")  # type: ignore[arg-type]


# ----- the folder -----


@pytest.mark.parametrize("transport", ["json-rpc", "rest"])
def test_writes_the_component_and_returns_its_files(tmp_path: Path, transport: Transport) -> None:
    out_dir = tmp_path / "runtime" / "component" / "moqui-stripe"
    written = write_component(out_dir, server_url="https://pay.example.com", api_key=API_KEY, transport=transport)
    assert [path.relative_to(out_dir).as_posix() for path in written] == EXPECTED_FILES
    # Nothing else, in particular no temporary files from the atomic writes.
    assert relative_files(out_dir) == set(EXPECTED_FILES)


def test_files_holding_the_key_are_private(tmp_path: Path) -> None:
    written = write_component(tmp_path / "c", server_url="https://pay.example.com", api_key=API_KEY)
    modes = {path.relative_to(tmp_path / "c").as_posix(): stat.S_IMODE(path.stat().st_mode) for path in written}
    encoded_key = urllib.parse.quote(API_KEY, safe="")
    for name, mode in modes.items():
        holds_key = encoded_key in (tmp_path / "c" / name).read_text(encoding="utf-8")
        assert mode == (0o600 if holds_key else 0o644), name
    assert modes["service/stripe/StripePaymentServices.xml"] == 0o600
    assert modes["service/stripe/StripeCheckoutServices.xml"] == 0o600


def test_refuses_a_non_empty_foreign_folder_and_leaves_it_alone(tmp_path: Path) -> None:
    out_dir = tmp_path / "somebody-elses"
    out_dir.mkdir()
    (out_dir / "component.xml").write_text('<component name="mantle-usl"/>', encoding="utf-8")
    (out_dir / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ComponentFolderError, match="not empty"):
        write_component(out_dir, server_url="https://pay.example.com", api_key=API_KEY)
    assert relative_files(out_dir) == {"component.xml", "notes.txt"}
    assert (out_dir / "component.xml").read_text(encoding="utf-8") == '<component name="mantle-usl"/>'


def test_force_writes_into_a_foreign_folder_without_deleting_anything(tmp_path: Path) -> None:
    out_dir = tmp_path / "shared-folder"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("keep me", encoding="utf-8")
    write_component(out_dir, server_url="https://pay.example.com", api_key=API_KEY, force=True)
    assert relative_files(out_dir) == {*EXPECTED_FILES, "notes.txt"}
    assert (out_dir / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_refuses_a_file_in_place_of_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "component"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(ComponentFolderError, match="not a folder"):
        write_component(target, server_url="https://pay.example.com", api_key=API_KEY, force=True)


def test_rewrites_its_own_earlier_output_with_a_new_key_and_transport(tmp_path: Path) -> None:
    out_dir = tmp_path / "moqui-stripe"
    write_component(out_dir, server_url="https://old.example.com", api_key="old-key")
    write_component(out_dir, server_url="https://new.example.com", api_key="new-key", transport="rest")
    text = "".join(path.read_text(encoding="utf-8") for path in sorted(out_dir.rglob("*.xml")))
    assert "old-key" not in text and "old.example.com" not in text
    assert "new-key" in text
    assert relative_files(out_dir) == set(EXPECTED_FILES)
    location, method = locations(out_dir)["capture#Payment"]
    assert location == "https://new.example.com/rest/s1/stripe/payments/${paymentId}/capture?api_key=new-key"
    assert method == "POST"


def test_readme_tells_what_to_do_and_why_the_key_is_in_the_xml(tmp_path: Path) -> None:
    write_component(tmp_path / "c", server_url="https://pay.example.com/gw/", api_key=API_KEY, transport="rest")
    readme = (tmp_path / "c" / "README.txt").read_text(encoding="utf-8")
    assert "https://pay.example.com/gw" in readme
    assert "runtime/component/moqui-stripe" in readme
    assert "cannot add HTTP headers" in readme
    assert "StripeGateway" in readme and "StripeGatewayAuthCapture" in readme
    assert "REST" in readme
    # The README is for people to read and pass around: it must not hold the key in any form.
    assert API_KEY not in readme and urllib.parse.quote(API_KEY, safe="") not in readme


# ----- the URLs, as Moqui's runners will send them, through a real HTTP server -----


@pytest.fixture
async def echo_server() -> AsyncIterator[TestServer]:
    """An HTTP server that answers with what it understood of the request."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": [[key, value] for key, value in request.query.items()],
                "body": (await request.text()),
            }
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def moqui_expand(location: str, parameters: dict[str, str | None]) -> str:
    """Moqui's plain ${name} expansion of a remote-rest location (contract 4.3)."""
    return re.sub(r"\$\{(\w+)\}", lambda match: parameters[match.group(1)] or "", location)


def moqui_get_url(location: str, parameters: dict[str, str | None]) -> str:
    """What RemoteRestServiceRunner requests for a GET: the expanded location, "?", then the parameters form-encoded,
    null values left out but their "&" kept, without looking for a "?" already in the location (contract 4.3)."""
    pairs = [
        "" if value is None else f"{urllib.parse.quote_plus(name)}={urllib.parse.quote_plus(value)}"
        for name, value in parameters.items()
    ]
    return moqui_expand(location, parameters) + "?" + "&".join(pairs)


async def fetch(method: str, url: str, body: str | None = None) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            URL(url, encoded=True),  # sent as written, as Jetty does
            data=body,
            headers={"Content-Type": "application/json"} if body is not None else None,
        ) as response,
    ):
        assert response.status == 200
        answer: dict[str, object] = await response.json()
        return answer


async def test_json_rpc_location_delivers_the_key_intact(tmp_path: Path, echo_server: TestServer) -> None:
    base = str(echo_server.make_url("/moqui-stripe"))
    write_component(tmp_path / "c", server_url=base, api_key=API_KEY)
    location, method = locations(tmp_path / "c")["authorize#Payment"]
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": method,
            "params": {"cardSecurityCode": None, "paymentGatewayConfigId": "StripeGateway", "paymentId": "100000"},
        },
        separators=(",", ":"),
    )
    seen = await fetch("POST", location, body)
    assert seen["path"] == "/moqui-stripe/rpc/json"
    assert seen["query"] == [["api_key", API_KEY]]
    assert json.loads(str(seen["body"]))["method"] == "stripe.StripePaymentServices.authorize#Payment"


async def test_rest_post_location_reaches_our_path_with_the_key(tmp_path: Path, echo_server: TestServer) -> None:
    write_component(tmp_path / "c", server_url=str(echo_server.make_url("")), api_key=API_KEY, transport="rest")
    location, method = locations(tmp_path / "c")["refund#Payment"]
    parameters: dict[str, str | None] = {"amount": None, "paymentGatewayConfigId": "StripeGateway", "paymentId": "P-1"}
    seen = await fetch(method, moqui_expand(location, parameters), '{"amount":12.50}')
    assert (seen["method"], seen["path"]) == ("POST", "/rest/s1/stripe/payments/P-1/refund")
    assert seen["query"] == [["api_key", API_KEY]]


def java_hash_map_order(names: list[str]) -> list[str]:
    """The iteration order of a small java.util.HashMap (16 buckets) holding ``names``, inserted in this order:
    by bucket, String.hashCode spread as HashMap.hash() does, then by insertion."""

    def bucket(name: str) -> int:
        code = 0
        for character in name:
            code = (31 * code + ord(character)) & 0xFFFFFFFF
        return (code ^ (code >> 16)) & 15

    return sorted(names, key=lambda name: (bucket(name), names.index(name)))


def moqui_dispatcher_parameters(query: list[list[str]], path_parameters: dict[str, str]) -> dict[str, object]:
    """Parameters as Moqui's REST dispatcher (and ours) reads them: a repeated name becomes a list, path ids win."""
    merged: dict[str, object] = {}
    for name, value in query:
        previous = merged.get(name)
        if previous is None:
            merged[name] = value
        else:
            merged[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return {**merged, **path_parameters}


async def test_rest_details_survives_moquis_get_query_append(tmp_path: Path, echo_server: TestServer) -> None:
    write_component(tmp_path / "c", server_url=str(echo_server.make_url("")), api_key=API_KEY, transport="rest")
    location, method = locations(tmp_path / "c")["get#PaymentGatewayDetails"]
    assert method == "GET"
    # Moqui's cleaned parameter map: the interface's in-parameters, in the runner's HashMap order.
    order = java_hash_map_order(["paymentId", "paymentGatewayConfigId"])
    assert order == ["paymentGatewayConfigId", "paymentId"]  # as moqui-contract.md 4.2 computed it
    values = {"paymentId": "100002", "paymentGatewayConfigId": "StripeGateway"}
    parameters: dict[str, str | None] = {name: values[name] for name in order}
    seen = await fetch("GET", moqui_get_url(location, parameters))
    assert seen["path"] == "/rest/s1/stripe/payments/100002/gatewayDetails"
    query = seen["query"]
    assert isinstance(query, list)
    read = moqui_dispatcher_parameters(query, {"paymentId": "100002"})
    # Each value the server reads arrives once and whole: no list from a repeated name, the key intact.
    assert read["api_key"] == API_KEY
    assert read["paymentGatewayConfigId"] == "StripeGateway"
    assert read["paymentId"] == "100002"
