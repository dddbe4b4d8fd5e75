"""The ``arch`` column of a table (core/tables/validated.py): every spec canonicalised in its space (file specs
resolved next to the table, or confined to an upload's folder), its graph built once, and every bad
cell and duplicate architecture collected for the one-line report."""
from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InputError, shorten, shorten_list
from core.files.table_io import ARCH, first_line
from core.graph import ArchGraph
from core.spaces.base import SearchSpace


def arch_column(
    frame: pd.DataFrame,
    space: SearchSpace,
    base_dir: str | Path | None,
    confine_to: str | Path | None,
    general: list[str],
    by_row: list[tuple[int, int, str]],
) -> tuple[list[str | None], list[ArchGraph | None], list[str]]:
    """The canonical specs, graphs and duplicate-row messages of the ``arch`` column (a missing column
    is put first in ``general``, with the closest column name as a hint)."""
    columns = list(frame.columns)
    specs: list[str | None] = [None] * len(frame)
    graphs: list[ArchGraph | None] = [None] * len(frame)
    duplicates: list[str] = []
    if ARCH in columns:
        _check_specs(frame[ARCH], space, base_dir, specs, graphs, by_row, duplicates, confine_to)
    else:
        close = difflib.get_close_matches(ARCH, columns, n=1, cutoff=0.5)
        hint = f" (is {shorten(close[0])} it?)" if close else ""
        general.insert(0, f"no {ARCH!r} column{hint}; columns are {shorten_list(columns)}")
    return specs, graphs, duplicates


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
            problems.append((row, 0, f"row {row}: {first_line(e)}"))
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
