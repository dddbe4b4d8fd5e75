"""A product directory (a run, a campaign) as one file to take home, and its removal in one step.

:func:`zip_directory` packs a directory's regular files (never a symlink: a link could point anywhere on the
server) under the directory's name, within a size bound. :func:`remove_directory` first renames the directory
to a hidden sibling, so it vanishes from every listing at once and a half-deleted run is never seen, then
removes the sibling. Neither decides *whether* a directory may go: the run and campaign packages say what is
theirs (core/runs/run.py ``delete_run``, core/campaign/removal.py).
"""
from __future__ import annotations

import io
import os
import shutil
import uuid
import zipfile
from pathlib import Path

from core.errors import InputError

#: The most a zip may hold, uncompressed: runs are megabytes, campaigns tens of megabytes.
MAX_ZIP_BYTES = 512 * 1024**2
#: How a directory being removed is renamed first (hidden: listings skip dot-names).
REMOVING = ".removing-"


def directory_files(path: Path) -> list[Path]:
    """The regular files under ``path`` (symlinks and hidden names skipped), sorted."""
    found = []
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d)))
        for name in sorted(files):
            full = Path(root) / name
            if not name.startswith(".") and full.is_file() and not full.is_symlink():
                found.append(full)
    return found


def directory_stamp(path: str | Path) -> tuple:
    """Names, sizes and modification times of a directory's files: changes when any file does."""
    path = Path(path)
    return tuple((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in directory_files(path))


def zip_directory(path: str | Path, max_bytes: int = MAX_ZIP_BYTES) -> bytes:
    """A zip of ``path``'s files, each under ``<directory name>/``; one-line InputError past ``max_bytes``."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path} is not a directory")
    files = directory_files(path)
    total = sum(f.stat().st_size for f in files)
    if total > max_bytes:
        raise InputError(f"{path} holds {total / 1024**2:.0f} MiB, more than the {max_bytes / 1024**2:.0f} MiB a "
                         "download may hold; copy the directory instead")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.write(f, f"{path.name}/{f.relative_to(path).as_posix()}")
    return buffer.getvalue()


def remove_directory(path: str | Path) -> None:
    """Remove ``path`` (a real directory, not a link): renamed away first, then deleted."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        raise InputError(f"{path} is not a directory")
    doomed = path.with_name(f"{REMOVING}{uuid.uuid4().hex[:8]}-{path.name}")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
