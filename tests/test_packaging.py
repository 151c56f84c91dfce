"""The two wheels built from this tree: moqui-stripe (production) and moqui-stripe-demo (emulator, demo, example).

Built offline from a copy of the source (no build isolation, no index), they must together carry every source and
data file of the packages, each file in exactly one of them, with nothing of the demo in the production wheel, the
entity definitions mapped to ``moqui_stripe_entity_defs``, and the same version on both sides of the ``demo`` extra.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from service.database_setup import ENTITY_DEFS_PACKAGE

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_PROJECT = Path("distributions") / "moqui-stripe-demo"
# Source folders that become packages, by their name inside a wheel.
SOURCE_FOLDERS = {
    "service": "service",
    "moqui_bridge": "moqui_bridge",
    "stripe_emulator": "stripe_emulator",
    "entity-defs": ENTITY_DEFS_PACKAGE,
}
DEMO_PARTS = ("stripe_emulator/", "service/demo/", "service/saas_example/")
OFFLINE_WHEEL = (sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index")
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "test-output", ".*_cache")


def _project(path: Path) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    return project


def _source_files() -> set[str]:
    """Every file of the package folders but their notes for readers (*.md), named as it lands in a wheel."""
    found: set[str] = set()
    for folder, package in SOURCE_FOLDERS.items():
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".md"}:
                found.add(f"{package}/{path.relative_to(REPO_ROOT / folder).as_posix()}")
    return found


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """File names inside each built wheel (dist-info left out), by distribution name."""
    source = tmp_path_factory.mktemp("source") / "moqui-stripe"
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_COPIED)
    out = tmp_path_factory.mktemp("wheels")
    for project in (source, source / DEMO_PROJECT):
        subprocess.run(
            [*OFFLINE_WHEEL, "--wheel-dir", str(out), str(project)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    contents: dict[str, set[str]] = {}
    for wheel in out.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            names = {name for name in archive.namelist() if ".dist-info/" not in name}
        contents[wheel.name.split("-")[0].replace("_", "-")] = names
    return contents


def test_the_two_wheels_carry_every_file_once(wheels: dict[str, set[str]]) -> None:
    production, demo = wheels["moqui-stripe"], wheels["moqui-stripe-demo"]
    assert production & demo == set()
    assert production | demo == _source_files()


def test_the_production_wheel_has_nothing_of_the_demo(wheels: dict[str, set[str]]) -> None:
    assert [name for name in wheels["moqui-stripe"] if name.startswith(DEMO_PARTS)] == []
    assert all(name.startswith(DEMO_PARTS) for name in wheels["moqui-stripe-demo"])
    assert f"{ENTITY_DEFS_PACKAGE}/stripe/StripePaymentEntities.xml" in wheels["moqui-stripe"]
    assert "moqui_bridge/component/service/stripe/StripePaymentServices.xml" in wheels["moqui-stripe"]


def test_the_demo_extra_pins_the_demo_distribution_of_the_same_version() -> None:
    main = _project(REPO_ROOT / "pyproject.toml")
    demo = _project(REPO_ROOT / DEMO_PROJECT / "pyproject.toml")
    assert main["optional-dependencies"]["demo"] == [f"moqui-stripe-demo=={main['version']}"]  # type: ignore[index]
    assert demo["version"] == main["version"]
    assert demo["dependencies"] == [f"moqui-stripe=={main['version']}"]
