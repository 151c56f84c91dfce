"""write_component: argument checks, folder safety, file modes, and the URLs Moqui will really send."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from moqui_bridge.component.writer import ComponentFolderError, component_files, normalize_server_url, write_component
from tests.moqui_side.component_xml import parse

API_KEY = "s3cr&t+key/with ${odd}#chars ü"
EXPECTED_FILES = [relative for relative, _ in component_files()] + ["MoquiConf.xml", "README.txt"]


def relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def properties(component: Path) -> dict[str, str]:
    """The default-property values of the written MoquiConf.xml."""
    root = parse(component / "MoquiConf.xml").getroot()
    return {node.get("name", ""): node.get("value", "") for node in root.iter("default-property")}


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
        ("https://pay.example.com/rpc/json", "without /rpc/json"),
        ("https://pay.example.com/gw/rest/s1/", "without /rest/s1"),
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


# ----- the folder -----


def test_writes_the_component_and_returns_its_files(tmp_path: Path) -> None:
    out_dir = tmp_path / "runtime" / "component" / "moqui-stripe"
    written = write_component(out_dir, server_url="https://pay.example.com", api_key=API_KEY)
    assert [path.relative_to(out_dir).as_posix() for path in written] == EXPECTED_FILES
    # Nothing else, in particular no temporary files from the atomic writes.
    assert relative_files(out_dir) == set(EXPECTED_FILES)


def test_services_and_data_are_copied_unchanged_and_hold_no_secret(tmp_path: Path) -> None:
    written = write_component(tmp_path / "c", server_url="https://pay.example.com", api_key=API_KEY)
    for relative, source in component_files():
        copied = (tmp_path / "c" / relative).read_text(encoding="utf-8")
        assert copied == source.read_text(encoding="utf-8"), relative
        assert API_KEY not in copied and "pay.example.com" not in copied, relative
    modes = {path.relative_to(tmp_path / "c").as_posix(): stat.S_IMODE(path.stat().st_mode) for path in written}
    assert modes.pop("MoquiConf.xml") == 0o600  # it holds the key
    assert set(modes.values()) == {0o644}


def test_moqui_conf_holds_the_url_and_the_key_only_when_given(tmp_path: Path) -> None:
    write_component(tmp_path / "with", server_url="https://pay.example.com/gw/", api_key=API_KEY)
    assert properties(tmp_path / "with") == {
        "moqui_stripe_url": "https://pay.example.com/gw",
        "moqui_stripe_api_key": API_KEY,
        "moqui_stripe_link_secret": "",
    }
    write_component(tmp_path / "without", server_url="https://pay.example.com")
    assert properties(tmp_path / "without")["moqui_stripe_api_key"] == ""
    assert stat.S_IMODE((tmp_path / "without" / "MoquiConf.xml").stat().st_mode) == 0o644


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


def test_rewrites_its_own_earlier_output(tmp_path: Path) -> None:
    out_dir = tmp_path / "moqui-stripe"
    write_component(out_dir, server_url="https://old.example.com", api_key="old-key")
    write_component(out_dir, server_url="https://new.example.com")
    text = "".join(path.read_text(encoding="utf-8") for path in sorted(out_dir.rglob("*.*")))
    assert "old-key" not in text and "old.example.com" not in text
    assert properties(out_dir)["moqui_stripe_url"] == "https://new.example.com"
    assert relative_files(out_dir) == set(EXPECTED_FILES)


def test_readme_says_what_to_do_and_holds_no_key(tmp_path: Path) -> None:
    write_component(tmp_path / "c", server_url="https://pay.example.com/gw/", api_key=API_KEY)
    readme = (tmp_path / "c" / "README.txt").read_text(encoding="utf-8")
    assert "https://pay.example.com/gw/rest/s1/moqui-stripe/v1/gateway/" in readme
    assert "runtime/component/moqui-stripe" in readme and "moqui_stripe_api_key" in readme
    assert "StripeGateway" in readme and "StripeGatewayAuthCapture" in readme
    # One location per load command, in file-name order (Moqui's load location= takes one location).
    loads = re.findall(r"load location=(\S+)", readme)
    assert loads == [f"component://moqui-stripe/{name}" for name in EXPECTED_FILES if name.startswith("data/")]
    assert "private network" in readme and "TLS proxy" in readme
    assert API_KEY not in readme
