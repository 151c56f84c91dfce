"""A private PostgreSQL server run from Debian's system binaries (embedded default, tests, demo).

``initdb`` and ``postgres`` refuse to run as root, so as root every server command runs as the ``postgres``
OS user through ``runuser`` and the data folder is handed to that user; when that user cannot reach the folder
(a parent it may not enter, such as ``/root``), the data lives under its home instead, linked from the requested
place (data_folder.py). The server listens on 127.0.0.1 only, on a free port, with its unix socket inside the data
folder. One process at a time uses a data folder (a lock next to it); a server left running by a crashed run is
found by its ``postmaster.pid`` and stopped cleanly before the new start. Every failure is one line saying why.
Subprocesses run with asyncio, never blocking the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import socket
from pathlib import Path
from types import TracebackType

import asyncpg

from moqui_bridge.database.data_folder import (
    DataFolderError,
    DataFolderLock,
    relocated_path,
    remove_tree,
    unreachable_parent,
)
from moqui_bridge.database.postmaster_pid import PID_FILE_NAME, running_postmaster

log = logging.getLogger(__name__)

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVICE_USER = "postgres"
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Lines of the server log that say why a start failed, and pg_ctl's progress lines that say nothing.
_LOG_REASON = re.compile(r"\b(?:(?:FATAL|PANIC|ERROR|HINT):\s*(.*)|LOG:\s*(could not .*))")
_PROGRESS = re.compile(r"^(waiting for server|stopped waiting|Examine the log output)")


class PostgresServerError(RuntimeError):
    """The private PostgreSQL server could not be set up, started or stopped."""


def find_postgres_bin_dir(root: Path = POSTGRES_ROOT) -> Path:
    """The ``bin`` folder of the newest PostgreSQL under ``/usr/lib/postgresql/<version>/bin``."""
    candidates: list[tuple[int, Path]] = []
    if root.is_dir():
        for version_dir in root.iterdir():
            bin_dir = version_dir / "bin"
            if version_dir.name.isdigit() and (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
                candidates.append((int(version_dir.name), bin_dir))
    if not candidates:
        raise PostgresServerError(
            f"No PostgreSQL server binaries found under {root}/<version>/bin; install Debian's postgresql package "
            "(apt-get install postgresql) or point DATABASE_URL at an existing server"
        )
    return max(candidates)[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _check_database_name(name: str) -> str:
    if not _DATABASE_NAME.match(name):
        raise PostgresServerError(f"Database name {name!r} must be a plain identifier")
    return name


class PostgresServer:
    """One private server in ``data_dir``. Use ``async with`` or ``start()``/``stop()``.

    ``keep_data=True`` (the embedded default) leaves the data folder in place at stop and reuses an existing
    cluster at the next start; ``keep_data=False`` (tests) deletes the folder at stop. ``fsync=False`` turns
    off durability for speed in tests.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database: str = "moqui",
        port: int | None = None,
        keep_data: bool = True,
        fsync: bool = True,
        bin_dir: Path | None = None,
    ) -> None:
        # The folder asked for; data_dir is where the data really is (the same, unless relocated for root).
        self.requested_dir = Path(data_dir).absolute()
        self.data_dir = self.requested_dir
        self._lock = DataFolderLock(self.requested_dir)
        self.database = _check_database_name(database)
        self.keep_data = keep_data
        self.fsync = fsync
        self._requested_port = port
        self._bin_dir = bin_dir
        self._port: int | None = None
        self._running = False

    @property
    def port(self) -> int:
        """The TCP port the running server listens on."""
        if self._port is None:
            raise PostgresServerError("The server is not started")
        return self._port

    @property
    def running(self) -> bool:
        """Whether start() has succeeded and stop() has not run since."""
        return self._running

    def dsn(self, database: str | None = None) -> str:
        """A libpq/asyncpg URL for a database on this server (the server's own database by default)."""
        name = _check_database_name(database or self.database)
        return f"postgresql://{SERVICE_USER}@127.0.0.1:{self.port}/{name}"

    async def start(self) -> str:
        """Create the cluster if needed, start the server and create its database; return the DSN."""
        if self._bin_dir is None:
            self._bin_dir = await asyncio.to_thread(find_postgres_bin_dir)
        try:
            await asyncio.to_thread(self._lock.acquire)
        except (DataFolderError, OSError) as error:
            raise PostgresServerError(f"PostgreSQL data folder {self.requested_dir} cannot be used: {error}") from None
        try:
            return await self._start_locked(self._bin_dir)
        except BaseException:
            await asyncio.to_thread(self._lock.release)
            raise

    async def _start_locked(self, bin_dir: Path) -> str:
        await self._prepare_data_dir()
        await self._stop_orphan()
        if not await asyncio.to_thread((self.data_dir / "PG_VERSION").exists):
            await self._run(
                str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SERVICE_USER, "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
            )  # fmt: skip
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            port = self._requested_port or free_port()
            log_offset = await asyncio.to_thread(self._log_size)
            try:
                await self._pg_ctl("start", "-w", "-t", "60", "-l", str(self._log_file),
                                   "-o", self._server_options(port), log_offset=log_offset)  # fmt: skip
            except PostgresServerError:
                # Another process may have taken the port between probing and binding: try a new one.
                if attempt == attempts - 1:
                    raise
                continue
            except BaseException:
                # Interrupted (cancelled by a stop signal) while pg_ctl was starting it: the server may be up.
                self._port = port
                self._running = True
                await self._stop_after_failed_start()
                raise
            self._port = port
            self._running = True
            break
        try:
            await self.create_database(self.database, exist_ok=True)
        except BaseException:
            # Nobody stops a server whose start() failed: stop it here rather than leave a postmaster behind.
            await self._stop_after_failed_start()
            raise
        return self.dsn()

    async def _stop_after_failed_start(self) -> None:
        # Best effort while another error is on its way up: that error is the one to report, not a failed stop
        # (for one, pg_ctl finds no server when an interrupted start had not brought it up yet).
        with contextlib.suppress(PostgresServerError):
            await asyncio.shield(self.stop())

    async def stop(self) -> None:
        """Stop the server (fast shutdown) and, unless keep_data, delete the data folder."""
        try:
            if self._running:
                self._running = False
                await self._pg_ctl("stop", "-w", "-m", "fast")
            if not self.keep_data:
                await asyncio.to_thread(remove_tree, self.requested_dir)
        finally:
            await asyncio.to_thread(self._lock.release, remove=not self.keep_data)

    async def _stop_orphan(self) -> None:
        """Stop a server of this folder left running by a crashed run (we hold the folder's lock, so it is no one's).

        A clean (fast) shutdown: committed data is kept, and the start that follows recovers nothing. A pid file
        whose process is gone or is not this folder's server is stale and removed, so that a reused pid cannot stop
        PostgreSQL from starting.
        """
        orphan = await asyncio.to_thread(running_postmaster, self.data_dir)
        if orphan is not None:
            log.warning(
                "PostgreSQL (pid %s) from an earlier run is still running in %s; stopping it before starting again",
                orphan.pid,
                self.data_dir,
            )
            await self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")
            return
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread((self.data_dir / PID_FILE_NAME).unlink)

    async def create_database(self, name: str, *, template: str | None = None, exist_ok: bool = False) -> str:
        """Create a database (optionally as a copy of ``template``) and return its DSN."""
        name = _check_database_name(name)
        statement = f'CREATE DATABASE "{name}"'
        if template is not None:
            statement += f' TEMPLATE "{_check_database_name(template)}"'
        connection = await asyncpg.connect(self.dsn("postgres"))
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists and not exist_ok:
                raise PostgresServerError(f"Database {name} already exists")
            if not exists:
                await connection.execute(statement)
        finally:
            await connection.close()
        return self.dsn(name)

    async def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still connected to it."""
        connection = await asyncpg.connect(self.dsn("postgres"))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{_check_database_name(name)}" WITH (FORCE)')
        finally:
            await connection.close()

    async def __aenter__(self) -> PostgresServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    def _server_options(self, port: int) -> str:
        options = [
            "-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(self.data_dir),
            "-c", "timezone=UTC", "-c", "max_connections=200", "-c", "shared_buffers=32MB",
        ]  # fmt: skip
        if not self.fsync:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        # pg_ctl hands -o to a shell, so each option is quoted.
        return " ".join(shlex.quote(option) for option in options)

    @property
    def _log_file(self) -> Path:
        return self.data_dir / "server.log"

    def _log_size(self) -> int:
        try:
            return self._log_file.stat().st_size
        except FileNotFoundError:
            return 0

    async def _prepare_data_dir(self) -> None:
        if os.geteuid() != 0:
            await asyncio.to_thread(self.requested_dir.mkdir, parents=True, exist_ok=True)
            return
        try:
            self.data_dir = await asyncio.to_thread(self._reachable_data_dir)
        except (DataFolderError, OSError) as error:
            raise PostgresServerError(f"PostgreSQL data folder {self.requested_dir} cannot be used: {error}") from None
        await asyncio.to_thread(self._chown_tree)

    def _reachable_data_dir(self) -> Path:
        """As root: a data folder the postgres user can reach (the requested one, or a relocated one linked from it)."""
        requested = self.requested_dir
        if requested.is_symlink():
            return requested.resolve()  # relocated at an earlier start
        blocked = unreachable_parent(requested, SERVICE_USER)
        if blocked is None:
            requested.mkdir(parents=True, exist_ok=True)
            return requested
        if (requested / "PG_VERSION").exists():
            raise DataFolderError(
                f"it holds a cluster, but the {SERVICE_USER} user cannot enter {blocked}; "
                f"allow it (chmod o+x {blocked}) or move the folder"
            )
        target = relocated_path(requested, SERVICE_USER)
        target.mkdir(parents=True, exist_ok=True)
        shutil.chown(target.parent, SERVICE_USER, SERVICE_USER)
        if requested.is_dir():
            requested.rmdir()  # empty (no cluster yet): replaced by the link; a non-empty folder raises here
        requested.parent.mkdir(parents=True, exist_ok=True)
        requested.symlink_to(target, target_is_directory=True)
        log.info(
            "the %s user cannot enter %s, so the embedded PostgreSQL keeps its data in %s (linked from %s)",
            SERVICE_USER,
            blocked,
            target,
            requested,
        )
        return target

    def _chown_tree(self) -> None:
        shutil.chown(self.data_dir, SERVICE_USER, SERVICE_USER)
        self.data_dir.chmod(0o700)
        for path in self.data_dir.rglob("*"):
            shutil.chown(path, SERVICE_USER, SERVICE_USER)

    async def _pg_ctl(self, action: str, *arguments: str, log_offset: int | None = None) -> None:
        assert self._bin_dir is not None
        command = (str(self._bin_dir / "pg_ctl"), action, "-D", str(self.data_dir), *arguments)
        await self._run(*command, what=f"pg_ctl {action}", log_offset=log_offset)

    async def _run(self, *command: str, what: str | None = None, log_offset: int | None = None) -> None:
        """Run a server command (as the postgres user when root); a failure raises one line with its reason.

        ``log_offset``: where the server log stood before the command, so that the reasons the server wrote there
        (pg_ctl itself only says "could not start server") join the message.
        """
        full_command = list(command)
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresServerError("Running as root needs runuser to start PostgreSQL as the postgres user")
            full_command = [runuser, "-u", SERVICE_USER, "--", *full_command]
        process = await asyncio.create_subprocess_exec(
            *full_command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "LC_ALL": "C"},
        )
        communication = asyncio.ensure_future(process.communicate())
        try:
            output, _ = await asyncio.shield(communication)
        except asyncio.CancelledError:
            # Cut short by a stop signal, initdb would leave a half-made cluster and pg_ctl start a server that
            # nobody stops: let the command finish (the caller's cleanup then stops a started server), then stop.
            await asyncio.shield(communication)
            raise
        if process.returncode != 0:
            lines = (line.strip() for line in output.decode(errors="replace").splitlines())
            reasons = [line for line in lines if line and not _PROGRESS.match(line)]
            if log_offset is not None:
                reasons += await asyncio.to_thread(self._log_reasons, log_offset)
            label = what or Path(command[0]).name
            why = " | ".join(dict.fromkeys(reasons)) or "no output"
            raise PostgresServerError(
                f"PostgreSQL {label} failed (exit {process.returncode}) for data folder {self.data_dir}: {why}"
            )

    def _log_reasons(self, offset: int) -> list[str]:
        """The FATAL/PANIC/ERROR lines the server logged after ``offset``."""
        try:
            with self._log_file.open("rb") as log_file:
                log_file.seek(offset)
                text = log_file.read(65536).decode(errors="replace")
        except FileNotFoundError:
            return []
        return [match.group(1) or match.group(2) for match in map(_LOG_REASON.search, text.splitlines()) if match]
