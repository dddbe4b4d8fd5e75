"""Uploaded tables kept on the server under their content hash, so a reload or a shared link brings the
upload back (app/session_url.py puts the hash in the URL as ``upload=``).

    <uploads dir>/<sha256>/data        the uploaded bytes, as uploaded
    <uploads dir>/<sha256>/meta.json   its file name, space and look-up dataset

The key is the whole SHA-256 of the bytes: only someone who has the file, or a link naming it, can name
it, so no session reaches another's upload by guessing (a key must be 64 hex digits: no path, no
wildcard). The store is bounded: uploads untouched for :data:`MAX_AGE_S` expire, and past
:data:`MAX_TOTAL_BYTES` the least recently used go first. Each entry is written to a hidden staging
directory and renamed into place, so a reader never sees half an upload. Zips of ONNX models are not
kept (their models live in a temporary extraction); a reload of one falls back to the default table.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.files.bounded_json import load_json_object

UPLOADS_ENV = "AUTOBUILD_UPLOADS_DIR"
#: Uploads kept at most, all together; the least recently used go first past it.
MAX_TOTAL_BYTES = int(os.environ.get("AUTOBUILD_UPLOADS_MAX_BYTES", 1024**3))
#: An upload nobody has opened for this long expires (a week).
MAX_AGE_S = 7 * 24 * 3600
DATA, META = "data", "meta.json"
_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class KeptUpload:
    data: bytes
    name: str
    space: str
    dataset: str | None


def uploads_dir() -> Path:
    """``$AUTOBUILD_UPLOADS_DIR``, else ``uploads/`` beside the runs folder (which a deployment or a test moves)."""
    from app.state import runs_dir

    value = os.environ.get(UPLOADS_ENV)
    return Path(value).expanduser() if value else runs_dir().parent / "uploads"


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keep(data: bytes, name: str, space: str, dataset: str | None) -> str:
    """Store an upload (once per content) and return its key; older uploads expire to stay in bounds."""
    key = content_key(data)
    root = uploads_dir()
    entry = root / key
    if entry.is_dir():
        os.utime(entry)  # used again: last to go
        return key
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{key}.{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    (staging / DATA).write_bytes(data)
    (staging / META).write_text(json.dumps({"name": name, "space": space, "dataset": dataset}))
    try:
        os.rename(staging, entry)
    except OSError:  # another session stored the same bytes a moment ago
        shutil.rmtree(staging, ignore_errors=True)
    prune(keep_key=key)
    return key


def load(key: str) -> KeptUpload | None:
    """The upload stored under ``key``; None for a malformed, unknown or expired key."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return None
    entry = uploads_dir() / key
    try:
        if entry.is_symlink() or time.time() - entry.stat().st_mtime > MAX_AGE_S:
            return None
        meta = load_json_object(entry / META, max_bytes=64 * 1024, what="upload settings")
        data = (entry / DATA).read_bytes()
    except (OSError, InputError):
        return None
    if content_key(data) != key or not isinstance(meta.get("name"), str) or not isinstance(meta.get("space"), str):
        return None
    os.utime(entry)
    dataset = meta.get("dataset")
    return KeptUpload(data, meta["name"], meta["space"], dataset if isinstance(dataset, str) else None)


def prune(keep_key: str | None = None, now: float | None = None) -> list[str]:
    """Remove expired uploads, then the least recently used until the total fits; returns the removed keys."""
    root = uploads_dir()
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    entries = []
    for entry in root.iterdir():
        if not _KEY.fullmatch(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
        entries.append((entry.stat().st_mtime, size, entry))
    removed, total = [], sum(size for _, size, _ in entries)
    for mtime, size, entry in sorted(entries, key=lambda e: e[0]):  # oldest first
        if entry.name != keep_key and (now - mtime > MAX_AGE_S or total > MAX_TOTAL_BYTES):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
            total -= size
    return removed
