"""What the Inpainting page shows, computed without Streamlit: image folders, masked views, FID matching.

An output folder has the layout of ``python -m core inpaint`` (:mod:`core.diffusion.pipeline`): ``_inputs/
originals`` and ``_inputs/masks`` plus one folder of images per architecture. This module pairs images by
file stem, draws the "masked" view the model sees, reads a user's FID table and matches its rows to the
architecture folders (by ``name``, else by canonical ``arch`` spec), and parses architecture lists.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from core.diffusion.images import open_image
from core.diffusion.inception import IMAGE_SUFFIXES
from core.diffusion.run_architectures import (
    Architecture,
    architectures_from_table,
    check_names,
    default_name,
)
from core.errors import InputError
from core.files.table_io import read_table
from core.spaces import get_space
from core.spaces.sd_unet import FULL_SPEC, SPACE


def image_files(folder: Path) -> dict[str, Path]:
    """Stem -> file of the images directly in ``folder`` (empty when it does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def folder_stamp(folder: Path) -> tuple:
    """Names, sizes and modification times of a folder's images: changes whenever its images change."""
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in image_files(folder).values())


def masked_view(original: Path, mask: Path | None) -> Image.Image:
    """The original with the region to repaint (white in the mask) painted grey, as the model sees it."""
    with Image.open(original) as opened:
        img = opened.convert("RGB")
    if mask is None:
        return img
    with Image.open(mask) as opened:
        m = np.asarray(opened.convert("L").resize(img.size, Image.Resampling.NEAREST)) > 127
    pixels = np.asarray(img).copy()
    pixels[m] = 128
    return Image.fromarray(pixels)


def upscaled(image: Image.Image | Path, side: int = 128) -> Image.Image:
    """``image`` enlarged by a whole factor to at least ``side`` pixels with nearest-neighbour sampling, so a
    16 x 16 output shows its real pixels (a browser would smooth them into a blur); larger images unchanged."""
    if isinstance(image, Path):
        image = open_image(image)
    factor = -(-side // max(1, min(image.size)))
    if factor <= 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def tile_sheet(files: list[Path], columns: int = 4, side: int = 256) -> Image.Image:
    """One architecture's outputs as one picture: ``files`` in a grid of ``columns``, each tile enlarged with
    nearest-neighbour sampling so the sheet is about ``side`` pixels wide (a 1-pixel grey line between tiles)."""
    if not files:
        raise InputError("no images for a tile sheet")
    tiles = [open_image(f) for f in files]
    tile = upscaled(tiles[0], max(1, side // columns))
    step = tile.width + 1
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * step - 1, rows * step - 1), (128, 128, 128))
    for i, img in enumerate(tiles):
        sheet.paste(img.resize(tile.size, Image.Resampling.NEAREST),
                    ((i % columns) * step, (i // columns) * step))
    return sheet


def read_fid_table(source) -> pd.DataFrame | None:
    """A table with a ``fid`` column and ``name`` and/or ``arch`` (+ optional ``set``); None when not given."""
    if source is None or source == "":
        return None
    table = read_table(source if not isinstance(source, str) else Path(source).expanduser())
    if "fid" not in table.columns:
        raise InputError(f"table has no 'fid' column (columns: {list(table.columns)})")
    if not ({"name", "arch"} & set(table.columns)):
        raise InputError("table needs a 'name' (output folder) or an 'arch' (spec) column to match architectures")
    return table


def canonical_or_raw(spec: str) -> str:
    try:
        return get_space(SPACE).canonical(spec)
    except InputError:
        return spec


def results_table(outputs: pd.DataFrame, table: pd.DataFrame | None,
                  computed_fid: Callable[[str], float]) -> pd.DataFrame:
    """One row per architecture: the table's rows (with their FID) plus output folders not in the table.

    A folder's FID comes from the table when a row matches it (by ``name``, else by canonical ``arch``),
    else from ``computed_fid(folder)`` (NaN when not computed yet). Columns: name, set, fid, fid source,
    and params, images, model_dir from the folders.
    """
    rows = []
    matched = set()
    if table is not None:
        by_spec = {canonical_or_raw(str(a)): n for n, a in zip(outputs["name"], outputs["arch"]) if a}
        for record in table.to_dict("records"):
            name = "" if pd.isna(record.get("name", np.nan)) else str(record["name"])
            arch = record.get("arch", np.nan)
            if name not in set(outputs["name"]) and not pd.isna(arch):
                name = by_spec.get(canonical_or_raw(str(arch)), name)
            matched.add(name)
            set_label = record.get("set")
            rows.append({"name": name or "(no name)", "set": "" if pd.isna(set_label) else str(set_label or ""),
                         "fid": pd.to_numeric(record.get("fid"), errors="coerce"), "fid source": "table"})
    for record in outputs.to_dict("records"):
        if record["name"] in matched:
            continue
        value = computed_fid(record["folder"])
        rows.append({"name": record["name"], "set": record["set"], "fid": value,
                     "fid source": "" if np.isnan(value) else "computed"})
    frame = pd.DataFrame(rows, columns=["name", "set", "fid", "fid source"])
    if len(outputs):
        frame = frame.join(outputs.set_index("name")[["params", "images", "model_dir"]], on="name")
    return frame


def column_header(name: str, results: pd.DataFrame) -> str:
    """Grid column title (Markdown): the architecture's name, its FID (and KID ± std when known) and its set."""
    row = results[results["name"] == name]
    fid = row["fid"].iloc[0] if len(row) else np.nan
    label = row["set"].iloc[0] if len(row) and isinstance(row["set"].iloc[0], str) else ""
    text = f"**{name}**  \nFID {fid:.2f}" if pd.notna(fid) else f"**{name}**  \nFID —"
    if len(row) and "kid" in row.columns and pd.notna(row["kid"].iloc[0]):
        text += f"  \nKID {row['kid'].iloc[0]:.4f} ± {row['kid_std'].iloc[0]:.4f}"
    return text + (f" · {label}" if label else "")


def parse_architectures(values: list[str], source: str = "--arch") -> list[Architecture]:
    """Architectures from JSON specs, ``full``, or paths of tables of specs; ``source`` names where they
    were given (a CLI option or a form field) in errors."""
    space = get_space(SPACE)
    archs: list[Architecture] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            if text == "full":
                archs.append(Architecture("full", FULL_SPEC))
            elif text.startswith("{"):
                spec = space.canonical(text)
                archs.append(Architecture(default_name(spec), spec))
            else:
                archs.extend(architectures_from_table(read_table(text), text))
        except InputError as err:
            raise InputError(f"{source}: {err}") from None
    return check_names(archs, source)
