"""An uploaded zip of ``.onnx`` files plus one metrics table, unpacked safely for the ``onnx`` space.

The table's ``arch`` column names the models by paths relative to the table. The zip comes from a
browser, so nothing in it is trusted:

* member names that are absolute or climb out with ``..`` are refused before anything is written;
* the declared sizes are bounded (in total and per table) and the number of members too;
* the files go to a fresh staging folder that is renamed into place only when every member was
  extracted, so a bad CRC or a full disk leaves nothing behind;
* every path in the table must resolve (symlinks included) to a file *inside* the extracted folder.
  A path outside it and a path that does not exist get the same answer, so the table cannot be used
  to probe which files exist on the server, let alone to read one.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import SpecError, TableError

#: Largest total of the members' sizes once unpacked.
MAX_UNPACKED_BYTES = 2 * 1024**3
#: Most members in one zip (a table of a few thousand models is large already).
MAX_MEMBERS = 20_000


@dataclass(frozen=True)
class OnnxUpload:
    """An unpacked zip: the metrics table's bytes and name, its folder, and the extraction root that
    every model path must stay inside."""

    table_bytes: bytes
    table_name: str
    table_dir: str
    root: str


def upload_root() -> Path:
    """Where uploads are unpacked: one folder per distinct zip (by content hash) under the temp directory."""
    return Path(tempfile.gettempdir()) / "autobuild-uploads"


def extract_onnx_zip(data: bytes, name: str, root: str | os.PathLike | None = None) -> OnnxUpload:
    """Unpack ``data`` (a zip named ``name``) under ``root`` (default :func:`upload_root`); see the module
    docstring for what is checked. Raises :class:`TableError` with one line naming the zip."""
    from core.files.table_io import FORMATS, MAX_TABLE_BYTES

    base = Path(root) if root is not None else upload_root()
    target = base / hashlib.sha256(data).hexdigest()[:16]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise TableError(f"{name}: not a valid zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise TableError(f"{name}: {len(members):,} files in the zip; the limit is {MAX_MEMBERS:,}")
        if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
            raise TableError(f"{name}: unpacks to more than {MAX_UNPACKED_BYTES // 1024**3} GB")
        tables, models = [], []
        for member in members:
            path = PurePosixPath(member.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or ":" in member.filename:
                raise TableError(f"{name}: unsafe path {member.filename!r} in the zip")
            if path.name.startswith(".") or "__MACOSX" in path.parts:
                continue
            if path.suffix.lower() == ".onnx":
                models.append(member)
            elif path.name.lower().endswith(tuple(FORMATS)):
                tables.append(member)
        if len(tables) != 1:
            raise TableError(f"{name}: the zip must hold exactly one metrics table (.csv, .parquet, .jsonl), "
                             f"found {len(tables)}")
        if not models:
            raise TableError(f"{name}: the zip holds no .onnx files")
        if tables[0].file_size > MAX_TABLE_BYTES:
            raise TableError(f"{name}: its table is over the {MAX_TABLE_BYTES // 1024**2} MiB limit")
        if not (target / ".complete").is_file():
            _extract_all(archive, models + tables, target, name)
    table = PurePosixPath(tables[0].filename)
    try:
        table_bytes = (target / table).read_bytes()
    except OSError as err:
        raise TableError(f"{name}: cannot read its table ({err.strerror or err})") from None
    return OnnxUpload(table_bytes, table.name, str(target / table.parent), str(target))


def _extract_all(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], target: Path, name: str) -> None:
    """Extract into a staging folder renamed to ``target`` when complete; nothing is left on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        for member in members:
            archive.extract(member, staging)
        (staging / ".complete").touch()
        try:
            staging.rename(target)
        except OSError:  # another session unpacked the same zip meanwhile: keep theirs
            if not (target / ".complete").is_file():
                raise
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as err:
        detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise TableError(f"{name}: cannot unpack the zip ({detail})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def confined_path(spec: str, base_dir: str | os.PathLike, root: str | os.PathLike) -> str:
    """The absolute path of model ``spec`` (relative to ``base_dir``) if it is a file inside ``root``.

    Symlinks are resolved before the check. A path outside ``root`` and a path that does not exist get
    the same :class:`SpecError`, so answers reveal nothing about files outside the upload.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"invalid onnx spec {spec!r}: expected a path to an .onnx file in the uploaded zip")
    text = spec.strip()
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(base_dir, text))
    inside = candidate.startswith(real_root + os.sep)
    if not inside or not os.path.isfile(candidate):
        raise SpecError(f"no .onnx file {text!r} in the uploaded zip (paths must name a model inside it)")
    return candidate
