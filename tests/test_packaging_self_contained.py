"""The suite needs nothing outside the checkout: from a copy with no ``../shared`` beside it, nothing skips.

The reference files (Moqui/Mantle XML, Stripe's fixtures) are vendored in tests/reference; the tests that read them
run here from a copy of the repository placed where no sibling folder exists, under the CI skip policy, so a test
that reached outside the checkout would fail or skip (which the policy turns into a failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The tests that read vendored reference files and need no database or emulator.
READS_REFERENCES = (
    "tests/entity/test_definition_loading.py",
    "tests/contract/test_entity_defs_contract.py",
    "tests/contract/test_service_contract.py",
    "tests/moqui_side",
)
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "test-output", ".*_cache")


def test_reference_tests_run_from_a_copy_without_shared(tmp_path: Path) -> None:
    checkout = tmp_path / "alone" / "moqui-stripe"
    shutil.copytree(REPO_ROOT, checkout, ignore=_NOT_COPIED)
    assert not (checkout.parent / "shared").exists()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *READS_REFERENCES],
        cwd=checkout,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output and "skipped" not in output, output
