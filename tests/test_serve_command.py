"""README's run command, `moqui-stripe serve`, with no configuration: embedded PostgreSQL, a generated api key, and
/health and /rpc/json answering; SIGTERM stops it and its database."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from moqui_bridge.web import moqui_json

_NO_POSTGRES = "PostgreSQL server binaries are not installed"
pytestmark = [
    pytest.mark.expected_skip(_NO_POSTGRES),
    pytest.mark.skipif(not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")), reason=_NO_POSTGRES),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_healthy(url: str, process: asyncio.subprocess.Process) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError(f"serve exited early with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        body: dict[str, str] = await response.json()
                        return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve did not become healthy within 60 s")


def _scratch_folder() -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="moqui-stripe-serve-"))
    scratch.chmod(0o755)  # the embedded PostgreSQL runs as the postgres user and must reach its data folder
    return scratch


def _generated_key(key_file: Path) -> tuple[int, str]:
    return key_file.stat().st_mode & 0o777, key_file.read_text().strip()


def _data_folder_state(data_dir: Path) -> tuple[bool, bool]:
    return (data_dir / "postmaster.pid").exists(), (data_dir / "PG_VERSION").exists()


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Path, asyncio.subprocess.Process]]:
    """`moqui-stripe serve` in a scratch folder (its data folder inside), stopped with SIGTERM afterwards."""
    scratch = _scratch_folder()
    port = _free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("MOQUI_STRIPE_") and key != "DATABASE_URL"
    }
    environment["MOQUI_STRIPE_DATABASE_DATA_DIR"] = str(scratch / "postgres")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--port",
        str(port),
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}", scratch, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), timeout=60)
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def test_serve_answers_health_and_json_rpc_with_no_setup(
    served: tuple[str, Path, asyncio.subprocess.Process],
) -> None:
    url, scratch, process = served
    assert await _wait_healthy(f"{url}/health", process) == {"status": "ok", "mode": "standalone", "database": "up"}

    mode, api_key = _generated_key(scratch / "api-key")
    assert mode == 0o600 and len(api_key) >= 32
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "stripe.StripePaymentServices.get#PaymentGatewayDetails",
        "params": {"paymentGatewayConfigId": "StripeGateway", "paymentId": "100000"},
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/rpc/json", json=call) as response:
            refused = moqui_json.loads(await response.read())
        assert refused["error"]["code"] == 403 and refused["id"] == 1

        async with session.post(f"{url}/rpc/json", json=call, headers={"api_key": api_key}) as response:
            answered = moqui_json.loads(await response.read())
            status = response.status
        # No such payment in the fresh database: Moqui's service-error shape, HTTP 500.
        assert status == 500 and answered["error"]["code"] == 500
        assert "100000" in answered["error"]["message"]

        batch = [call, {**call, "id": 2, "method": "no.Such.service#Here"}]
        async with session.post(f"{url}/rpc/json", json=batch, headers={"api_key": api_key}) as response:
            batch_answers = moqui_json.loads(await response.read())
        assert [answer["id"] for answer in batch_answers] == [1, 2]
        assert batch_answers[1]["error"]["code"] == -32601


async def test_serve_stops_cleanly_on_sigterm(served: tuple[str, Path, asyncio.subprocess.Process]) -> None:
    url, scratch, process = served
    await _wait_healthy(f"{url}/health", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    # The embedded database was stopped with it: its pid file is gone, its data kept for the next start.
    assert _data_folder_state(scratch / "postgres") == (False, True)


async def test_serve_stopped_during_startup_leaves_no_database_running(
    served: tuple[str, Path, asyncio.subprocess.Process],
) -> None:
    _, scratch, process = served
    pid_file = scratch / "postgres" / "postmaster.pid"
    # SIGTERM as soon as the embedded PostgreSQL is up: serve is still creating its database and schema.
    for _ in range(3000):
        if process.returncode is not None or await asyncio.to_thread(pid_file.exists):
            break
        await asyncio.sleep(0.01)
    assert await asyncio.to_thread(pid_file.exists), "the embedded PostgreSQL never started"
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert _data_folder_state(scratch / "postgres") == (False, True)
