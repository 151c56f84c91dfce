"""Where the private PostgreSQL keeps its data, and who may use that folder.

Two problems of the embedded server live here:

- As root, the server runs as the ``postgres`` OS user, which must be able to enter every parent of the data
  folder. A folder under ``/root`` (or any private parent) is out of its reach, so the data goes to a folder under
  the postgres user's home instead, with a symbolic link at the requested place: the next start finds the same data.
- One data folder serves one process at a time. A lock (``flock``) on a file next to the folder is held for as long
  as the server is ours; the kernel drops it when the process dies, even by SIGKILL, so a server still running
  without its lock holder is an orphan of a crashed run, and a live lock means another process really uses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import re
import shutil
import stat
from pathlib import Path
from typing import IO

__all__ = [
    "RELOCATED_ROOT_NAME",
    "DataFolderError",
    "DataFolderLock",
    "relocated_path",
    "remove_tree",
    "unreachable_parent",
]

# Under the service user's home: ~postgres/moqui-stripe/<folder name>-<hash of the requested path>.
RELOCATED_ROOT_NAME = "moqui-stripe"


class DataFolderError(RuntimeError):
    """The data folder cannot be used (one line saying why)."""


def unreachable_parent(path: Path, user: str) -> Path | None:
    """The first existing ancestor of ``path`` (or ``path`` itself) that ``user`` cannot enter, or None.

    Classic Unix permission bits only (owner, group, other), which is what decides for folders without ACLs.
    """
    account = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, account.pw_gid))
    for folder in reversed([path, *path.parents]):
        try:
            status = folder.stat()
        except FileNotFoundError:
            return None  # made later by us, as the user who runs the server can reach it
        if not stat.S_ISDIR(status.st_mode):
            return None
        if status.st_uid == account.pw_uid:
            allowed = status.st_mode & stat.S_IXUSR
        elif status.st_gid in groups:
            allowed = status.st_mode & stat.S_IXGRP
        else:
            allowed = status.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


def relocated_path(requested: Path, user: str) -> Path:
    """The folder under ``user``'s home that stands in for ``requested`` (the same one at every start)."""
    home = Path(pwd.getpwnam(user).pw_dir)
    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", requested.name) or "data"
    return home / RELOCATED_ROOT_NAME / f"{name}-{digest}"


class DataFolderLock:
    """An exclusive, non-blocking ``flock`` on ``<data folder>.lock``, holding this process's pid as text."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.with_name(data_dir.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise DataFolderError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise DataFolderError(
                f"another process (pid {holder}) runs the PostgreSQL of {self.path.with_suffix('')}; "
                "stop it or use another data folder"
            ) from None
        except BaseException:
            lock_file.close()
            raise
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._file = lock_file

    def release(self, *, remove: bool = False) -> None:
        """Drop the lock (and, for a throwaway folder, its file)."""
        if self._file is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None


def remove_tree(path: Path) -> None:
    """Delete a data folder; when it is a link to a relocated folder, the folder it points at too."""
    if path.is_symlink():
        target = path.resolve()
        path.unlink()
        shutil.rmtree(target, ignore_errors=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
