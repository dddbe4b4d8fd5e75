"""The exhaustive-search baseline of the paper's SD v1.4 experiment ("Exhaustive Search (4)").

AutoBuild (Mills et al., CVPR 2024) compares its N built U-Nets with the N architectures that the
trained predictor's regression head ranks best over the *whole* ``sd-unet`` space (884,736). The
space-agnostic baseline is :mod:`core.building.head_top`; this module is its SD face: :func:`exhaustive_top`
streams ``sd-unet`` (or any named space) through a ``predict(specs) -> scores`` callable.
"""
from __future__ import annotations

from typing import Callable, Collection, Iterable

import pandas as pd

from core.building.head_top import Predict, top_by_prediction
from core.errors import InputError
from core.spaces import get_space


def exhaustive_top(predict: Predict, n: int = 4, *, space: str = "sd-unet", specs: Iterable[str] | None = None,
                   maximize: bool = True, exclude: Collection[str] = (), batch_size: int = 8192,
                   progress: Callable[[int, int | None], None] | None = None) -> pd.DataFrame:
    """The ``n`` best architectures by ``predict`` over every spec of ``space`` (or of ``specs``);
    see :func:`core.building.head_top.top_by_prediction` for the arguments and the result."""
    total = None
    if specs is None:
        search_space = get_space(space)
        if not search_space.enumerable:
            raise InputError(f"space {space!r} cannot be enumerated, so it cannot be searched exhaustively")
        specs, total = search_space.enumerate(), search_space.size()
    return top_by_prediction(predict, n, specs, total=total, maximize=maximize, exclude=exclude,
                             batch_size=batch_size, progress=progress)
