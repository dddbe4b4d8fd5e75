"""The architectures of an inpainting run: folder-safe names, canonical ``sd-unet`` specs, set labels
(read from a table with ``arch`` and optional ``name`` / ``set`` columns)."""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from core.errors import InputError
from core.spaces import get_space
from core.spaces.sd_unet import FULL_SPEC, SPACE

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Architecture:
    """One architecture to run: a folder-safe name, its canonical spec and an optional set label."""

    name: str
    spec: str
    set: str = ""


def default_name(spec: str) -> str:
    """A stable folder name for an architecture: ``full`` or ``arch-`` + 8 hex digits of its canonical spec."""
    if spec == FULL_SPEC:
        return "full"
    return "arch-" + format(zlib.crc32(spec.encode()), "08x")


def architectures_from_table(frame: pd.DataFrame, source: str) -> list[Architecture]:
    """Architectures from a table with an ``arch`` column and optional ``name`` and ``set`` columns."""
    if "arch" not in frame.columns:
        raise InputError(f"{source}: no 'arch' column (columns: {list(frame.columns)})")
    space = get_space(SPACE)
    archs = []
    for row, record in enumerate(frame.to_dict("records"), start=1):
        try:
            spec = space.canonical(str(record["arch"]))
        except InputError as err:
            raise InputError(f"{source} row {row}: {err}") from None
        name = str(record.get("name") or "").strip() or default_name(spec)
        set_label = record.get("set")
        archs.append(Architecture(name, spec, "" if pd.isna(set_label) else str(set_label)))
    return check_names(archs, source)


def check_names(archs: Sequence[Architecture], source: str = "architectures") -> list[Architecture]:
    """Folder-safe, unique names (the same spec twice under one name is dropped, not an error)."""
    seen: dict[str, str] = {}
    out = []
    for arch in archs:
        if not NAME_PATTERN.match(arch.name) or arch.name.startswith("_"):
            raise InputError(f"{source}: architecture name {arch.name!r} must be 1-64 letters, digits, '.', '_' "
                             "or '-', starting with a letter or digit")
        if arch.name in seen:
            if seen[arch.name] != arch.spec:
                raise InputError(f"{source}: name {arch.name!r} is given to two different architectures")
            continue
        seen[arch.name] = arch.spec
        out.append(arch)
    if not out:
        raise InputError(f"{source}: no architectures")
    return out
