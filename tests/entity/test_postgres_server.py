"""The private PostgreSQL server and pool creation."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest

from moqui_bridge.database.pool import DatabaseUnavailableError, create_pool, redact_dsn
from moqui_bridge.database.postgres_server import (
    PostgresServer,
    PostgresServerError,
    find_postgres_bin_dir,
    free_port,
)


def test_finds_the_newest_binaries_or_explains(tmp_path: Path) -> None:
    assert (find_postgres_bin_dir() / "pg_ctl").is_file()
    for version in ("9", "15", "16"):
        (tmp_path / version / "bin").mkdir(parents=True)
        if version != "16":  # a version folder without binaries does not count
            for tool in ("initdb", "pg_ctl"):
                (tmp_path / version / "bin" / tool).write_text("")
    assert find_postgres_bin_dir(tmp_path) == tmp_path / "15" / "bin"
    with pytest.raises(PostgresServerError, match="No PostgreSQL server binaries"):
        find_postgres_bin_dir(tmp_path / "nothing")


async def test_session_server_listens_on_loopback(postgres_dsn: str) -> None:
    assert postgres_dsn.startswith("postgresql://postgres@127.0.0.1:")
    pool = await create_pool(postgres_dsn, max_size=1)
    try:
        assert await pool.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await pool.fetchval("SHOW fsync") == "off"
        assert await pool.fetchval("SHOW TimeZone") == "UTC"
    finally:
        await pool.close()


async def test_keep_data_keeps_the_cluster_between_runs() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="moqui-stripe-keep-"))
    try:
        async with PostgresServer(data_dir, database="kept", fsync=False) as server:
            pool = await create_pool(server.dsn(), max_size=1)
            await pool.execute("CREATE TABLE KEPT_ROWS (ID VARCHAR(40))")
            await pool.execute("INSERT INTO KEPT_ROWS VALUES ('still here')")
            await pool.close()
        assert (data_dir / "PG_VERSION").exists()
        server = PostgresServer(data_dir, database="kept", fsync=False, keep_data=False)
        await server.start()
        try:
            pool = await create_pool(server.dsn(), max_size=1)
            assert await pool.fetchval("SELECT ID FROM KEPT_ROWS") == "still here"
            await pool.close()
        finally:
            await server.stop()
        assert not await asyncio.to_thread(data_dir.exists)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_unreachable_database_is_one_clear_error() -> None:
    dsn = f"postgresql://someone:secret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DatabaseUnavailableError, match="Cannot connect to the database at") as caught:
        await create_pool(dsn, connect_timeout=2)
    assert "secret" not in str(caught.value)
    assert redact_dsn(dsn) == dsn.replace(":secret@", ":[redacted]@")


async def test_missing_database_is_a_clear_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(DatabaseUnavailableError, match="no_such_db"):
        await create_pool(postgres_server.dsn("no_such_db"))


def test_database_names_are_checked() -> None:
    with pytest.raises(PostgresServerError, match="plain identifier"):
        PostgresServer(Path("/tmp/x"), database='x"; DROP')


async def test_a_failed_start_leaves_no_server_running() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="moqui-stripe-failed-start-"))
    await asyncio.to_thread(
        data_dir.chmod, 0o755
    )  # as root the server runs as the postgres user, who must reach its folder
    try:
        async with PostgresServer(data_dir, database="first", fsync=False) as server:
            # A cluster without the maintenance database: the next start's create_database cannot connect.
            connection = await asyncpg.connect(server.dsn("first"))
            try:
                await connection.execute('DROP DATABASE "postgres"')
            finally:
                await connection.close()
        second = PostgresServer(data_dir, database="second", fsync=False)
        with pytest.raises(asyncpg.InvalidCatalogNameError, match="postgres"):
            await second.start()
        assert not second.running
        assert not await asyncio.to_thread((data_dir / "postmaster.pid").exists)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
