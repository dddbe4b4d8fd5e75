"""What a table's file name says about it: the search space and benchmark dataset it names."""
from __future__ import annotations

import re
from pathlib import Path

from core.spaces import get_space, space_names


def infer_space_dataset(file_name: str) -> tuple[str | None, str | None]:
    """Space and dataset named in a file name, e.g. ``nasbench-graph_cora_300.csv`` -> (nasbench-graph, cora).

    The name is split at ``_``, ``.`` and spaces; a part equal to a space name gives the space, and a
    part equal to one of that space's datasets the dataset. A name starting with a space's name with
    ``_`` for ``-`` (``ofa_mbv3_latency.csv``) names that space too. Unknown parts give None.
    """
    name = Path(file_name).name.lower()
    tokens = [t for t in re.split(r"[_.\s]+", name) if t]
    dashed = re.sub(r"[_\s]+", "-", name)
    space = next((t for t in tokens if t in space_names()), None) or next(
        (s for s in sorted(space_names(), key=len, reverse=True) if dashed.startswith((s + "-", s + "."))), None)
    dataset = None
    if space:
        dataset = next((t for t in tokens if t in get_space(space).datasets), None)
    return space, dataset
