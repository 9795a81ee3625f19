"""The pieces of atomic file writing: a temporary file in the destination folder, fsync, rename.

Temporary files are named ``.<name>.hi-widgets-<pid>-<random>.tmp`` and created
owner-only, so a file being written (which may hold PHI) is never readable by others and
never mistaken for a finished one; :func:`remove_stale_temp_files` removes those a killed
process left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path

TEMP_MARK = ".hi-widgets-"
TEMP_NAME = re.compile(r"^\..+\.hi-widgets-(\d+)-[0-9a-f]+\.tmp$")


def fsync_folder(folder: Path) -> None:
    # Make the rename itself durable where the platform allows opening a folder.
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
    """Remove temporary files that a killed export left in ``folder``.

    Only files named as :func:`export_frame` names its temporary files
    (``.<name>.hi-widgets-<pid>-<random>.tmp``) whose process is gone are removed: they
    may hold PHI and are never complete.

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
    name = f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp"
    temp = target.parent / name
    try:
        # 0600 while being written: the mode for the finished file is set before rename.
        return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(temp)
    except OSError as error:
        raise type(error)(error.errno, error.strerror, str(target)) from error


def final_mode(target: Path, include_phi: bool) -> int:
    if include_phi:
        return 0o600
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
