"""The embedded PostgreSQL (moqui_bridge/database/postgres_server.py) where issue 12 found it failing: a private
folder as root, a second user of one data folder, a stale pid file, and failures that must say why in one line."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import asyncpg
import pytest

from moqui_bridge.database.postgres_server import SERVICE_USER, PostgresServer, PostgresServerError

_NO_POSTGRES = "PostgreSQL server binaries are not installed"
pytestmark = [
    pytest.mark.expected_skip(_NO_POSTGRES),
    pytest.mark.skipif(not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")), reason=_NO_POSTGRES),
]
_NOT_ROOT = "the postgres user only takes over as root"


async def _count_rows(server: PostgresServer) -> int:
    connection = await asyncpg.connect(server.dsn())
    try:
        await connection.execute("CREATE TABLE IF NOT EXISTS kept (value INTEGER)")
        await connection.execute("INSERT INTO kept VALUES (1)")
        count: int = await connection.fetchval("SELECT count(*) FROM kept")
        return count
    finally:
        await connection.close()


@pytest.mark.expected_skip(_NOT_ROOT)
@pytest.mark.skipif(os.geteuid() != 0, reason=_NOT_ROOT)
async def test_as_root_a_private_folder_works_and_says_where_the_data_is(
    scratch_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = scratch_folder / "private"
    private.mkdir(mode=0o700)  # like /root: the postgres user may not enter it
    requested = private / "project" / ".moqui-stripe" / "postgres"
    caplog.set_level(logging.INFO, logger="moqui_bridge.database.postgres_server")

    first = PostgresServer(requested, fsync=False)
    await first.start()
    try:
        assert await _count_rows(first) == 1
    finally:
        await first.stop()
    relocated = [record.getMessage() for record in caplog.records if "keeps its data in" in record.getMessage()]
    assert len(relocated) == 1 and str(requested) in relocated[0] and str(first.data_dir) in relocated[0]
    assert requested.is_symlink() and requested.resolve() == first.data_dir
    assert first.data_dir.owner() == SERVICE_USER and not str(first.data_dir).startswith(str(private))

    # The next start in the same folder finds the same data, without relocating again.
    caplog.clear()
    second = PostgresServer(requested, fsync=False)
    await second.start()
    try:
        assert second.data_dir == first.data_dir
        assert await _count_rows(second) == 2
    finally:
        await second.stop()
    assert not any("keeps its data in" in record.getMessage() for record in caplog.records)


async def test_a_second_process_on_one_data_folder_is_refused_in_one_line(scratch_folder: Path) -> None:
    async with PostgresServer(scratch_folder / "postgres", fsync=False, keep_data=False):
        with pytest.raises(PostgresServerError) as refused:
            await PostgresServer(scratch_folder / "postgres", fsync=False).start()
    message = str(refused.value)
    assert "\n" not in message and f"pid {os.getpid()}" in message and str(scratch_folder / "postgres") in message


async def test_a_stale_pid_file_whose_pid_is_another_process_does_not_stop_the_start(scratch_folder: Path) -> None:
    data_dir = scratch_folder / "postgres"
    server = PostgresServer(data_dir, fsync=False)
    await server.start()
    await server.stop()
    # As after a crash of the server itself: the file stays and its pid now belongs to someone else (this test).
    pid_file = server.data_dir / "postmaster.pid"
    await asyncio.to_thread(pid_file.write_text, f"{os.getpid()}\n{server.data_dir}\n0\n5432\n")
    restarted = PostgresServer(data_dir, fsync=False, keep_data=False)
    await restarted.start()
    try:
        assert await _count_rows(restarted) == 1
    finally:
        await restarted.stop()


async def test_a_failed_start_says_why_in_one_line(scratch_folder: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = PostgresServer(scratch_folder / "postgres", port=port, fsync=False, keep_data=False)
        with pytest.raises(PostgresServerError) as failed:
            await server.start()
    message = str(failed.value)
    assert "\n" not in message
    # pg_ctl's own words plus the server's reason from its log.
    assert "could not start server" in message and "could not bind IPv4 address" in message
