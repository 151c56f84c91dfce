"""The command line's failures are one line on standard error and exit status 2, never a traceback."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path


async def _run_cli(*arguments: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        *arguments,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_demo_on_a_busy_port_prints_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        status, stderr = await _run_cli("demo", "--port", str(port), "--data-dir", str(tmp_path / "demo"))
    assert status == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith(f"moqui-stripe: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert not (tmp_path / "demo" / "postgres").exists()  # refused before anything was started


async def test_a_mistyped_environment_setting_stops_serve_in_one_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        env={"MOQUI_STRIPE_SERVER_PROT": "8081", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert stderr.decode() == "moqui-stripe: invalid configuration: server.prot: unknown key (did you mean port?)\n"
