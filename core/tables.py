"""Architecture/metric tables: reading them from files or uploads and validating them against a space.

A table has an ``arch`` column (the space's spec string) and metric columns (accuracy, latency, FID,
...). It is the only user data AutoBuild learns from, so every problem in it is reported up front, all
at once, in one line that names the file, the row and the column: a user fixing a 3,000-row CSV should
not have to rerun once per bad row.

Row numbers in messages are 1-based *data* rows, as the user counts them in the file (the header is not
a row): "row 1" is the first architecture.

Files are read by extension: ``.csv`` (also ``.csv.gz``), ``.parquet``/``.pq``, ``.jsonl`` and ``.json``
(JSON lines, or one JSON array of records). Nothing is ever unpickled: a table is data, and an uploaded
pickle would run arbitrary code.
"""
from __future__ import annotations

import difflib
import hashlib
import io
import json
import math
import os
import stat
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence, Union

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import InputError, TableError
from core.graph import ArchGraph
from core.json_input import JsonInputError, load_json, reject_duplicate_keys
from core.spaces.base import SearchSpace

ARCH = "arch"

#: Extensions and the reader each one uses (longest suffix first, so ``.csv.gz`` wins over ``.gz``).
FORMATS = {
    ".csv.gz": "csv",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".json": "json",
}

TableSource = Union[str, Path, bytes, bytearray, memoryview, IO[bytes]]

#: Largest table file or upload read, in bytes (the dashboard's upload limit is 200 MB). Checked on the
#: file's size before a byte is read, so /dev/zero or a FIFO is refused rather than read or waited on.
MAX_TABLE_BYTES = 256 * 1024**2
#: Largest decompressed ``.csv.gz``. A gzip shrinks 1 GiB of zeros to 1 MiB, so the output is capped
#: while decompressing; the cap keeps a bomb's peak memory well under 1 GB.
MAX_DECOMPRESSED_BYTES = 256 * 1024**2
_CHUNK = 4 * 1024**2


@dataclass
class ValidatedTable:
    """A table that passed :func:`validate_table`.

    Attributes:
        frame: the canonical ``arch`` column plus the float64 metric columns, in the file's row order
            with a fresh 0..n-1 index.
        graphs: one :class:`ArchGraph` per row of ``frame``, built once here.
        metric_columns: the metric columns, in table order.
        source: the file name (or label) used in messages.
        space_name: the space the specs were validated in.
    """

    frame: pd.DataFrame
    graphs: list[ArchGraph]
    metric_columns: tuple[str, ...]
    source: str
    space_name: str

    def __len__(self) -> int:
        return len(self.frame)


# ---------------------------------------------------------------------------- reading

def read_table(source: TableSource, name: str | None = None) -> pd.DataFrame:
    """Read a table from a path, bytes or a binary file-like object (an upload).

    ``name`` is the file name that tells the format of bytes and uploads (an upload's own ``name``
    attribute is used when it is not given); for a path it defaults to the path. Raises
    :class:`TableError` for an unknown extension, an unreadable or malformed file, or an empty table.
    """
    if isinstance(source, (str, Path)):
        label = name or str(source)
        path = Path(source)
        fmt = _format_of(name or path.name, label)
        data = _read_regular_file(path, label)
    else:
        label = name or getattr(source, "name", None) or ""
        if not label:
            raise TableError("an uploaded table needs a file name to tell its format (.csv, .parquet, .jsonl)")
        data = _bytes_of(source, label)
        fmt = _format_of(label, label)
    df = _parse(data, fmt, label)
    if df.shape[1] == 0:
        raise TableError(f"{label}: the table has no columns")
    if len(df) == 0:
        raise TableError(f"{label}: the table has no rows")
    df.columns = [str(c) for c in df.columns]
    return df


def _format_of(file_name: str, label: str) -> str:
    lower = str(file_name).lower()
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt
    raise TableError(f"{label}: unknown table format; use one of {', '.join(FORMATS)}")


def _read_regular_file(path: Path, label: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most :data:`MAX_TABLE_BYTES`.

    Opened without blocking and checked with ``fstat`` on the open descriptor, so a FIFO cannot hang
    the reader and a device such as /dev/zero is refused before anything is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise TableError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise TableError(f"{label}: is a directory, not a table file") from None
    except OSError as e:
        raise TableError(f"{label}: cannot read the file ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise TableError(f"{label}: is a directory, not a table file")
        if not stat.S_ISREG(info.st_mode):
            raise TableError(f"{label}: not a regular file (a device, pipe or socket); a table must be a file")
        if info.st_size > MAX_TABLE_BYTES:
            raise TableError(f"{label}: {info.st_size / 1024**2:,.0f} MiB is over the "
                             f"{MAX_TABLE_BYTES // 1024**2} MiB limit for a table")
        try:
            data = f.read(MAX_TABLE_BYTES + 1)
        except OSError as e:
            raise TableError(f"{label}: cannot read the file ({e.strerror or e})") from None
    if len(data) > MAX_TABLE_BYTES:  # it grew while being read
        raise TableError(f"{label}: over the {MAX_TABLE_BYTES // 1024**2} MiB limit for a table")
    return data


def _bytes_of(source: Any, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)  # an upload may have been read before (e.g. a preview)
        data = source.read(MAX_TABLE_BYTES + 1)
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    else:
        raise TableError(f"{label}: a table must be a path, bytes or a file, not {type(source).__name__}")
    if len(data) > MAX_TABLE_BYTES:
        raise TableError(f"{label}: over the {MAX_TABLE_BYTES // 1024**2} MiB limit for a table")
    return data


def _gunzip(data: bytes, label: str) -> bytes:
    """Decompress (possibly multi-member) gzip ``data``, refusing output beyond :data:`MAX_DECOMPRESSED_BYTES`."""
    out = bytearray()
    rest = data
    while rest:
        inflate = zlib.decompressobj(wbits=31)
        chunk = rest
        while chunk and not inflate.eof:
            piece = inflate.decompress(chunk, _CHUNK)
            if b"\x00" in piece:  # a text table never holds NUL bytes; zero bombs stop at the first chunk
                raise TableError(f"{label}: decompresses to binary data (NUL bytes), not a text table")
            out += piece
            if len(out) > MAX_DECOMPRESSED_BYTES:
                raise TableError(f"{label}: decompresses to more than {MAX_DECOMPRESSED_BYTES // 1024**2} MiB; "
                                 "refused as a possible decompression bomb")
            chunk = inflate.unconsumed_tail
        if not inflate.eof:
            raise TableError(f"{label}: the gzip data is truncated")
        rest = inflate.unused_data
        if rest and rest.strip(b"\x00") == b"":  # trailing zero padding after the last member
            break
    return bytes(out)


def _check_csv_header(data: bytes, label: str) -> None:
    """Refuse a header that repeats a column name (pandas would silently rename one ``name.1``)."""
    header = pd.read_csv(io.BytesIO(data), header=None, nrows=1, dtype=str, skipinitialspace=True,
                         index_col=False, keep_default_na=False).iloc[0].tolist()
    names = [str(c).strip() for c in header]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise TableError(f"{label}: repeated column names {repeated}; every column needs its own name")


def _parse(data: bytes, fmt: str, label: str) -> pd.DataFrame:
    """Decode ``data`` in format ``fmt``; any failure becomes one line naming the file."""
    try:
        if fmt == "csv":
            if data[:2] == b"\x1f\x8b":  # gzip magic: .csv.gz, or a .csv that is secretly compressed
                data = _gunzip(data, label)
            if b"\x00" in data:
                raise TableError(f"{label}: binary data (NUL bytes), not a text table")
            _check_csv_header(data, label)
            # The spec column stays text even when it looks numeric; skipinitialspace forgives "arch, acc".
            # index_col=False stops pandas from silently turning a row with one field too many (an
            # unquoted JSON spec) into an index; its warning about the lost data becomes an error.
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(io.BytesIO(data), dtype={ARCH: str}, skipinitialspace=True, index_col=False)
        if fmt == "parquet":
            _check_parquet_size(data, label)
            return pd.read_parquet(io.BytesIO(data))
        return _read_json_records(data, fmt, label)
    except TableError:
        raise
    except pd.errors.EmptyDataError:
        raise TableError(f"{label}: the file is empty") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as e:
        why = _first_line(e) if isinstance(e, pd.errors.ParserError) else "a row has more fields than the header"
        raise TableError(
            f"{label}: cannot read it as csv ({why}); values with commas, such as JSON specs, must be in double quotes"
        ) from None
    except (OSError, ValueError, EOFError, zlib.error, pa.ArrowException) as e:
        raise TableError(f"{label}: cannot read it as {fmt} ({_first_line(e)})") from None


def _check_parquet_size(data: bytes, label: str) -> None:
    """Refuse a Parquet file whose columns would decode to more than :data:`MAX_DECOMPRESSED_BYTES`
    (Parquet compresses too: a few KB can describe a billion equal values)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > MAX_DECOMPRESSED_BYTES or meta.num_rows * max(meta.num_columns, 1) > MAX_DECOMPRESSED_BYTES // 8:
        raise TableError(f"{label}: decodes to more than {MAX_DECOMPRESSED_BYTES // 1024**2} MiB "
                         f"({meta.num_rows:,} rows x {meta.num_columns} columns); refused")


def _read_json_records(data: bytes, fmt: str, label: str) -> pd.DataFrame:
    """JSON lines (one object per line) or, for ``.json``, also a single array of objects.

    Parsed with the standard library so a malformed line is reported by its line number, and so
    nested values (e.g. an ``arch`` given as a JSON object) arrive as they were written.
    """
    text = data.decode("utf-8-sig")
    if fmt == "json" and text.lstrip().startswith("["):
        try:
            records = load_json(text, max_chars=MAX_DECOMPRESSED_BYTES, object_pairs_hook=reject_duplicate_keys)
        except JsonInputError as e:
            raise TableError(f"{label}: not valid JSON ({e})") from None
        if not isinstance(records, list):
            raise TableError(f"{label}: not a JSON array of objects")
        where = [f"item {i + 1}" for i in range(len(records))]
    else:
        records, where = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(load_json(line, max_chars=MAX_DECOMPRESSED_BYTES,
                                         object_pairs_hook=reject_duplicate_keys))
            except JsonInputError as e:
                raise TableError(f"{label}: line {number} is not valid JSON ({e})") from None
            where.append(f"line {number}")
    for record, place in zip(records, where):
        if not isinstance(record, dict):
            raise TableError(f"{label}: {place} is a JSON {type(record).__name__}, not an object of column values")
    return pd.DataFrame.from_records(records)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."


# ------------------------------------------------------------------------- validation

def validate_table(
    df: pd.DataFrame,
    space: SearchSpace | str,
    *,
    source: str = "table",
    metric_columns: Sequence[str] | None = None,
    base_dir: str | Path | None = None,
    max_errors: int = 10,
    confine_to: str | Path | None = None,
) -> ValidatedTable:
    """Check a table against ``space`` and build its graphs; raise one :class:`TableError` listing every problem.

    Checks: an ``arch`` column exists; every spec is valid in the space; no two rows are the same
    architecture after canonicalisation; metric columns exist, are numeric and finite.

    ``metric_columns=None`` takes every column except ``arch`` that looks numeric (a numeric dtype, or
    text whose values are mostly numbers, so that one typo is reported rather than the column silently
    dropped). ``base_dir`` is where relative spec paths live (the table's directory); it is handed to the
    space's ``resolve(spec, base_dir)`` when the space has one. At most ``max_errors`` problems are
    spelled out, then "and N more". ``confine_to`` (an uploaded zip's folder) makes every spec a path
    that must name a file inside that folder (``core.spaces.onnx_upload.confined_path``).
    """
    if isinstance(space, str):
        from core.spaces import get_space

        space = get_space(space)
    source = str(source)
    if len(df) == 0:
        raise TableError(f"{source}: the table has no rows")
    columns = [str(c) for c in df.columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise TableError(f"{source}: repeated column names {repeated}; every column needs its own name")
    frame = df.copy()
    frame.columns = columns
    general: list[str] = []  # table-wide problems (missing columns) come first
    by_row: list[tuple[int, int, str]] = []  # (row, column order, message), sorted before reporting

    metrics = _metric_columns(frame, metric_columns, general)
    specs: list[str | None] = [None] * len(frame)
    graphs: list[ArchGraph | None] = [None] * len(frame)
    duplicates: list[str] = []
    if ARCH in columns:
        _check_specs(frame[ARCH], space, base_dir, specs, graphs, by_row, duplicates, confine_to)
    else:
        close = difflib.get_close_matches(ARCH, columns, n=1, cutoff=0.5)
        hint = f" (is {close[0]!r} it?)" if close else ""
        general.insert(0, f"no {ARCH!r} column{hint}; columns are {columns}")

    values: dict[str, np.ndarray] = {}
    for order, column in enumerate(metrics, start=1):
        values[column] = _check_metric(frame[column], column, order, by_row)

    by_row.sort(key=lambda p: (p[0], p[1]))
    problems = general + [p[2] for p in by_row] + duplicates
    if problems:
        raise TableError(_one_line(source, problems, max_errors))

    out = pd.DataFrame({ARCH: specs, **values})
    return ValidatedTable(
        frame=out,
        graphs=graphs,  # type: ignore[arg-type]  # every entry is set when there were no problems
        metric_columns=tuple(metrics),
        source=source,
        space_name=space.name,
    )


def _metric_columns(frame: pd.DataFrame, requested: Sequence[str] | None, problems: list[str]) -> list[str]:
    columns = list(frame.columns)
    if requested is None:
        found = [c for c in columns if c != ARCH and _looks_numeric(frame[c])]
        if not found:
            problems.append(f"no numeric metric columns besides {ARCH!r}; columns are {columns}")
        return found
    if isinstance(requested, str):
        requested = [requested]
    wanted = list(dict.fromkeys(str(c) for c in requested))
    missing = [c for c in wanted if c not in columns]
    if missing:
        others = [c for c in columns if c != ARCH]
        noun = "column" if len(missing) == 1 else "columns"
        problems.append(f"metric {noun} {', '.join(map(repr, missing))} not found; columns are {others}")
    if ARCH in wanted:
        problems.append(f"{ARCH!r} holds the architectures and cannot be a metric column")
    return [c for c in wanted if c in columns and c != ARCH]


def _looks_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False  # flags such as "is_valid" are not metrics to learn
    if pd.api.types.is_numeric_dtype(series):
        return True
    present = series.dropna()
    if len(present) == 0 or present.map(lambda v: isinstance(v, (dict, list))).any():
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    return parsed.notna().mean() > 0.5


def _check_specs(
    column: pd.Series,
    space: SearchSpace,
    base_dir: str | Path | None,
    specs: list[str | None],
    graphs: list[ArchGraph | None],
    problems: list[tuple[int, int, str]],
    duplicates: list[str],
    confine_to: str | Path | None = None,
) -> None:
    """Canonicalise every spec and build its graph; collect bad specs and duplicate architectures."""
    resolve = space.resolve if space.resolves_files else None
    if confine_to is not None:
        from core.spaces.onnx_upload import confined_path

        root = confine_to
        resolve = lambda spec, folder: confined_path(spec, folder, root)  # noqa: E731
        base_dir = base_dir if base_dir is not None else confine_to
    first_row: dict[str, list[int]] = {}
    for i, raw in enumerate(column.tolist()):
        row = i + 1
        spec = _spec_text(raw)
        if spec is None:
            problems.append((row, 0, f"row {row}: empty {ARCH!r}"))
            continue
        try:
            if resolve is not None and base_dir is not None:
                spec = resolve(spec, base_dir)
            canonical = space.canonical(spec)
            rows = first_row.setdefault(canonical, [])
            rows.append(row)
            if len(rows) == 1:
                graphs[i] = space.to_graph(canonical)
        except InputError as e:
            problems.append((row, 0, f"row {row}: {_first_line(e)}"))
            continue
        specs[i] = canonical
    for rows in first_row.values():
        if len(rows) > 1:
            listed = ", ".join(map(str, rows[:-1])) + f" and {rows[-1]}"
            duplicates.append(f"rows {listed} are the same architecture")


def _spec_text(raw: Any) -> str | None:
    """A cell of the ``arch`` column as spec text; JSON objects from .jsonl files are serialised back."""
    if isinstance(raw, (dict, list)):
        return json.dumps(raw)
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    text = str(raw).strip()
    return text or None


def _check_metric(series: pd.Series, column: str, order: int, problems: list[tuple[int, int, str]]) -> np.ndarray:
    """The column as float64; every non-numeric, NaN or infinite cell is recorded as a problem."""
    numbers = pd.to_numeric(series, errors="coerce").astype(np.float64).to_numpy()
    present = series.notna().to_numpy()
    for i in np.flatnonzero(~np.isfinite(numbers)):
        row = i + 1
        if present[i] and np.isnan(numbers[i]):
            why = f"not a number ({_shown_value(series.iloc[i])})"
        elif np.isnan(numbers[i]):
            why = "NaN"
        else:
            why = "inf" if numbers[i] > 0 else "-inf"
        problems.append((row, order, f"row {row} column {column!r}: {why}"))
    return numbers


def _shown_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(source: str, problems: list[str], max_errors: int) -> str:
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    shown = problems[: max(1, max_errors)]
    more = len(problems) - len(shown)
    tail = f"; and {more} more" if more else ""
    return f"{source}: {len(problems)} problems: " + "; ".join(shown) + tail


def load_table(
    source: TableSource,
    space: SearchSpace | str,
    *,
    name: str | None = None,
    metric_columns: Sequence[str] | None = None,
    max_errors: int = 10,
) -> ValidatedTable:
    """:func:`read_table` then :func:`validate_table`, with relative specs resolved next to a table file."""
    df = read_table(source, name=name)
    label = name or (str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "table"))
    base_dir = Path(source).parent if isinstance(source, (str, Path)) else None
    return validate_table(
        df, space, source=label, metric_columns=metric_columns, base_dir=base_dir, max_errors=max_errors
    )


# ----------------------------------------------------------------------------- hashing

def table_hash(df: pd.DataFrame | ValidatedTable) -> str:
    """A stable sha256 of a (validated) table: column names, ``arch`` texts and exact metric values.

    Recorded in a run's config so a result can be tied to the exact data it was trained on. Row order
    counts (it decides splits under a seed). Numbers are hashed as little-endian float64 bytes, so the
    hash does not depend on how pandas prints floats or on the file format the table came from.
    """
    frame = df.frame if isinstance(df, ValidatedTable) else df
    h = hashlib.sha256()
    h.update(f"rows={len(frame)}\n".encode())
    for column in frame.columns:
        series = frame[column]
        h.update(f"column={column}\n".encode())
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            h.update(series.to_numpy(dtype="<f8").tobytes())
        else:
            for value in series.tolist():
                text = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)
                data = text.encode("utf-8")
                h.update(f"{len(data)}:".encode() + data)  # length prefix: "ab","c" never hashes as "a","bc"
        h.update(b"\n")
    return h.hexdigest()


# ----------------------------------------------------------------------------- writing

def check_output_table(path: str | Path) -> Path:
    """Refuse, before any work is done, a table path :func:`write_table` could not write.

    The extension must be a table format, the path must not be a directory, and no directory above it
    may be a regular file; one line naming the path otherwise.
    """
    target = Path(path)
    _format_of(target.name, str(target))
    if target.is_dir():
        raise TableError(f"{target}: is a directory; give a file name such as {target / 'table.csv'}")
    if target.exists() and not target.is_file():
        raise TableError(f"{target}: exists and is not a regular file")
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            raise TableError(f"{target}: cannot write it, {parent} is a file, not a directory")
    return target


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table by its extension (same formats as :func:`read_table`), atomically.

    The file is written next to its destination and renamed into place, so an interrupted write
    never leaves a half-written table behind.
    """
    target = check_output_table(path)
    fmt = _format_of(target.name, str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        if fmt == "csv":
            df.to_csv(partial, index=False, compression="gzip" if target.name.endswith(".gz") else None)
        elif fmt == "parquet":
            df.to_parquet(partial, index=False)
        else:
            df.to_json(partial, orient="records", lines=True)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
