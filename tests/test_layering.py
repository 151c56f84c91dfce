"""The layering rules of docs/internals.md ("Layering"), written as import-linter contracts in pyproject.toml.

`lint-imports` reads every module of service, moqui_bridge and stripe_emulator (imports inside functions too) and
fails when any import chain breaks a contract: moqui_bridge below service, the emulator alone, `serve` free of the
emulator, the demo and the SaaS example.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 broken" in output, output
