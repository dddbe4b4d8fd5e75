"""The one way a file a user (or another user of a shared folder) may have planted is read: a regular
file only, size-checked before a byte is read, never more than the cap read.

``Path.read_bytes`` on a symlink to /dev/zero reads until memory runs out, on a FIFO it waits forever,
and a 2 GB file is read whole before any check. :func:`read_regular` opens without blocking, checks
the open descriptor with ``fstat`` (so the file checked is the file read, whatever a symlink pointed
at a moment before) and reads at most ``max_bytes + 1`` bytes. Every failure is one
:class:`~core.errors.InputError` line naming the file.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import InputError


def size_text(size: int) -> str:
    """A byte count for a message: ``512 bytes``, ``3.2 MiB``, ``2.0 GiB``."""
    if size < 1024**2:
        return f"{size:,} bytes"
    if size < 1024**3:
        return f"{size / 1024**2:,.1f} MiB"
    return f"{size / 1024**3:,.1f} GiB"


def check_regular(path: str | Path, *, max_bytes: int, what: str = "file") -> int:
    """The size of ``path`` if it is a regular file of at most ``max_bytes`` (read nothing); else one line."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None
    _check_info(path, info, max_bytes, what)
    return info.st_size


def _check_info(path: Path, info: os.stat_result, max_bytes: int, what: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file (a device, pipe or socket); a {what} must be a file")
    if info.st_size > max_bytes:
        raise InputError(f"{path}: {size_text(info.st_size)} is over the {size_text(max_bytes)} limit for a {what}")


def read_regular(path: str | Path, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``; one :class:`InputError`
    line naming the file otherwise (missing, a directory, a device or pipe, too big, unreadable)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a {what}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as handle:
        _check_info(path, os.fstat(handle.fileno()), max_bytes, what)
        try:
            data = handle.read(max_bytes + 1)
        except OSError as err:
            raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None
    if len(data) > max_bytes:  # it grew while being read
        raise InputError(f"{path}: over the {size_text(max_bytes)} limit for a {what}")
    return data
