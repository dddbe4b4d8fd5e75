"""Table files: the formats by extension, bounded reading and atomic writing.

Files are read by extension: ``.csv`` (also ``.csv.gz``), ``.parquet``/``.pq``, ``.jsonl`` and ``.json``
(JSON lines, or one JSON array of records). Nothing is ever unpickled: a table is data, and an uploaded
pickle would run arbitrary code. Every size is bounded before or while reading (a FIFO, /dev/zero or a
decompression bomb is refused in one line naming the file).

CSV written for people (``--out x.csv``, the dashboard's downloads: :func:`csv_text`) cannot run as a
spreadsheet formula: a text cell (or column name) that starts with ``= + - @``, a tab or a carriage
return gets a leading single quote (:func:`neutralise_formulas`), as OWASP advises, and reading a CSV
back removes exactly that quote (:func:`restore_formulas`), so a round trip changes nothing.
Parquet and JSON lines keep every value exact and are never quoted. Checking the rows against a space is
:mod:`core.tables.validated`.
"""
from __future__ import annotations

import io
import warnings
import zlib
from pathlib import Path
from typing import IO, Any, Union

import pandas as pd
import pyarrow as pa

from core.errors import InputError, TableError
from core.files.bounded_read import read_regular
from core.files.bounded_json import JsonInputError, load_json, reject_duplicate_keys

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


# ---------------------------------------------------------------------------- reading

def read_table(source: TableSource, name: str | None = None, *, max_bytes: int | None = None,
               unquote: bool = True) -> pd.DataFrame:
    """Read a table from a path, bytes or a binary file-like object (an upload).

    ``name`` is the file name that tells the format of bytes and uploads (an upload's own ``name``
    attribute is used when it is not given); for a path it defaults to the path. Raises
    :class:`TableError` for an unknown extension, an unreadable or malformed file, or an empty table.
    ``unquote``: a CSV's formula-guard quotes are removed (:func:`restore_formulas`); a file the
    product wrote for itself, never quoted, is read with ``unquote=False``.
    """
    if isinstance(source, (str, Path)):
        label = name or str(source)
        path = Path(source)
        fmt = _format_of(name or path.name, label)
        data = _read_regular_file(path, label, MAX_TABLE_BYTES if max_bytes is None else max_bytes)
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
    return restore_formulas(df) if unquote and fmt == "csv" else df


def _format_of(file_name: str, label: str) -> str:
    lower = str(file_name).lower()
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt
    raise TableError(f"{label}: unknown table format; use one of {', '.join(FORMATS)}")


def _read_regular_file(path: Path, label: str, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``
    (:func:`core.files.bounded_read.read_regular`: a FIFO cannot hang the reader and a device such as
    /dev/zero is refused before anything is read); the message names the file as ``label``."""
    try:
        return read_regular(path, max_bytes=max_bytes, what="table")
    except InputError as err:
        text = str(err)
        prefix = f"{path}: "
        raise TableError(f"{label}: {text[len(prefix):]}" if text.startswith(prefix) else text) from None


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
        why = first_line(e) if isinstance(e, pd.errors.ParserError) else "a row has more fields than the header"
        raise TableError(
            f"{label}: cannot read it as csv ({why}); values with commas, such as JSON specs, must be in double quotes"
        ) from None
    except (OSError, ValueError, EOFError, zlib.error, pa.ArrowException) as e:
        raise TableError(f"{label}: cannot read it as {fmt} ({first_line(e)})") from None


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


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."



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


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_LEADS = frozenset("=+-@\t\r")


def _needs_quote(text: str) -> bool:
    """Whether ``text`` gets a guard quote: after any leading quotes comes a formula character (the
    leading quotes count, so a value that really starts with ``'=`` survives the round trip)."""
    rest = text.lstrip("'")
    return bool(rest) and rest[0] in FORMULA_LEADS


def _quote(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and _needs_quote(value) else value


def _unquote(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value[:1] == "'" and _needs_quote(value[1:]) else value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names cannot start a spreadsheet formula."""
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_quote)
    out.columns = [_quote(str(c)) for c in out.columns]
    return out


def restore_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the guard quotes of :func:`neutralise_formulas` removed (cells and column names)."""
    text = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
    if not text and not any(str(c)[:1] == "'" for c in df.columns):
        return df
    out = df.copy()
    for column in text:
        out[column] = out[column].map(_unquote)
    out.columns = [_unquote(str(c)) for c in out.columns]
    return out


def csv_text(df: pd.DataFrame) -> str:
    """``df`` as CSV text for a person (a download), formula cells neutralised."""
    return neutralise_formulas(df).to_csv(index=False)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table by its extension (same formats as :func:`read_table`), atomically.

    The file is written next to its destination and renamed into place, so an interrupted write
    never leaves a half-written table behind. A CSV's formula cells are neutralised
    (:func:`neutralise_formulas`); :func:`read_table` undoes it.
    """
    target = check_output_table(path)
    fmt = _format_of(target.name, str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        if fmt == "csv":
            neutralise_formulas(df).to_csv(partial, index=False,
                                           compression="gzip" if target.name.endswith(".gz") else None)
        elif fmt == "parquet":
            df.to_parquet(partial, index=False)
        else:
            df.to_json(partial, orient="records", lines=True)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
