"""The one atomic file writer: a temporary file in the destination folder, fsync, rename.

Every file hi_widgets writes (exports, dataset parts, checkpoints, the sandbox's demo
cache) goes through :func:`atomic_write`. Temporary files are named
``.<name>.hi-widgets-<pid>-<random>.tmp`` and created owner-only, so a file being written
(which may hold PHI) is never readable by others and never mistaken for a finished one;
each write first removes those that a killed process left in its folder
(:func:`remove_stale_temp_files`). A leaf module: it imports nothing of hi_widgets, so the
sandbox uses it too.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["PRIVATE_MODE", "atomic_write", "fsync_folder", "remove_stale_temp_files"]

TEMP_MARK = ".hi-widgets-"
TEMP_NAME = re.compile(r"^\..+\.hi-widgets-(\d+)-[0-9a-f]+\.tmp$")


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable, where the platform lets a folder be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files that a killed writer left in ``folder``.

    Only files named as :func:`atomic_write` names its temporary files whose process is
    gone are removed: they may hold PHI and are never complete.

    Parameters
    ----------
    folder
        The folder to clean (a missing or unreadable folder is left alone).

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = TEMP_NAME.match(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                pid = int(match.group(1))
                if pid != os.getpid() and not _pid_alive(pid):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return removed


def temp_file(target: Path) -> tuple[int, str]:
    """Create an owner-only temporary file beside ``target``; return its fd and name."""
    name = f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp"
    temp = target.parent / name
    try:
        return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(temp)
    except OSError as error:
        raise type(error)(error.errno, error.strerror, str(target)) from error


PRIVATE_MODE = 0o600
"""The mode of a file that holds PHI, dates or fetched records: owner read and write only."""


def _public_mode(target: Path) -> int:
    # Keep the mode of the file replaced; a new file follows the umask.
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # Read it where the system shows it: setting it to learn it would change it, for a
    # moment, for every thread of the process.
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], *, private: bool = False, make_folder: bool = False
) -> Iterator[BinaryIO]:
    """Open a temporary file that becomes ``path`` only if the block completes.

    The data is flushed and fsynced, the mode set, and the file renamed over ``path``
    (then the folder fsynced). If the block raises, the temporary file is removed and an
    earlier file at ``path`` is left exactly as it was; an ``OSError`` names ``path``.

    Parameters
    ----------
    path
        The destination file.
    private
        Owner-only (``0o600``) for files holding PHI, dates or fetched records; otherwise
        the mode of the file replaced, or the umask's for a new one.
    make_folder
        Create the destination folder (and its parents) when missing.

    Yields
    ------
    BinaryIO
        The temporary file, open for writing bytes.
    """
    target = Path(path)
    if make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target.parent)
    fd, temp_name = temp_file(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp_name, PRIVATE_MODE if private else _public_mode(target))
        os.replace(temp_name, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        if isinstance(error, OSError) and error.filename in (None, temp_name):
            # Name the destination, not our temporary file.
            raise (
                type(error)(error.errno, error.strerror, str(target))
                if error.errno
                else type(error)(f"cannot write {target}: {error}")
            ) from error
        raise
    fsync_folder(target.parent)
