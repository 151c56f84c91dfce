"""Reading a data folder's ``postmaster.pid``: is the PostgreSQL that wrote it still running, and is it that folder's?

PostgreSQL writes the file at start (first line the postmaster's pid, second its data folder, fourth its port) and
removes it at a clean stop. After a crash of the process that started it (SIGKILL, the OOM killer), the server keeps
running and the file stays; after a crash of the server itself, the file stays with a pid that may since belong to
anything. Only a live process whose command line is ``postgres -D <this folder>`` counts as that folder's server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["PID_FILE_NAME", "PostmasterRecord", "read_postmaster_pid", "running_postmaster"]

PID_FILE_NAME = "postmaster.pid"


@dataclass(frozen=True)
class PostmasterRecord:
    """What ``postmaster.pid`` says about the server that wrote it."""

    pid: int
    data_dir: Path
    port: int | None


def read_postmaster_pid(data_dir: Path) -> PostmasterRecord | None:
    """The pid file's record, or None when there is no (readable, well-formed) file."""
    try:
        lines = (data_dir / PID_FILE_NAME).read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(lines) < 2 or not lines[0].strip().isdigit():
        return None
    port = lines[3].strip() if len(lines) > 3 else ""
    return PostmasterRecord(int(lines[0]), Path(lines[1].strip()), int(port) if port.isdigit() else None)


def _command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def running_postmaster(data_dir: Path) -> PostmasterRecord | None:
    """The record of the server running on ``data_dir`` right now, or None (no file, or a stale one)."""
    record = read_postmaster_pid(data_dir)
    if record is None:
        return None
    command = _command_line(record.pid)
    if not command or Path(command[0]).name != "postgres":
        return None
    folders = {command[index + 1] for index, part in enumerate(command[:-1]) if part == "-D"}
    real = data_dir.resolve()
    return record if any(Path(folder).resolve() == real for folder in folders) else None
