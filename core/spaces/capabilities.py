"""What a space can do beyond parsing specs, declared by deriving from these classes.

Like Archai's search-space ABCs (``EvolutionarySearchSpace``, ``BayesOptSearchSpace``), each class
re-declares the methods of one capability abstract and sets its flag on :class:`SearchSpace`, so a
space that declares a capability cannot be instantiated without implementing it, and callers ask the
flag (``space.can_sample``) instead of probing. ``tests/spaces/test_contract.py`` holds every
registered space to what it declares (docs/design.md 7).

=========================  ===================  ================================================
class                      flag                 provides
=========================  ===================  ================================================
:class:`SamplingSpace`     ``can_sample``       ``sample``, ``mutate``
:class:`EnumerableSpace`   ``enumerable``       ``enumerate`` and a finite ``size()``
:class:`UnitSpace`         ``has_units``        ``units``, ``unit_candidates``, ``assemble``
:class:`MeasuringSpace`    ``can_measure``      ``measure`` of the metrics in ``measures``
:class:`LookupSpace`       ``has_lookup``       ``metrics_table`` of the shipped ``datasets``
:class:`FileSpace`         ``resolves_files``   ``resolve``: specs are paths to files
=========================  ===================  ================================================
"""
from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from core.spaces.base import SearchSpace, UnitCandidate


class SamplingSpace(SearchSpace):
    """A space that draws random architectures and random one-step neighbours (search baselines)."""

    can_sample = True

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> str:
        """One uniformly random canonical spec."""

    @abstractmethod
    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        """A random one-step neighbour of ``spec`` (different from it), canonical."""


class EnumerableSpace(SearchSpace):
    """A space small enough to list: every architecture, and how many there are."""

    enumerable = True

    @abstractmethod
    def size(self) -> int:
        """Number of distinct architectures."""

    @abstractmethod
    def enumerate(self) -> Iterator[str]:
        """Every canonical spec of the space."""


class UnitSpace(SearchSpace):
    """A space whose architectures are one independently chosen candidate per unit (the unit build)."""

    has_units = True

    @abstractmethod
    def units(self) -> tuple[str, ...]:
        """Names of the units, in order (never empty)."""

    @abstractmethod
    def unit_candidates(self, unit: str, **setting: Any) -> Iterator[UnitCandidate]:
        """Every candidate configuration of ``unit``."""

    @abstractmethod
    def assemble(self, choices: Mapping[str, Any]) -> str:
        """The canonical spec made of one ``choice`` per unit (keys: every name of :meth:`units`)."""


class MeasuringSpace(SearchSpace):
    """A space that builds its architectures as real networks and measures them on this machine.

    Subclasses list what they measure in ``measures`` (not empty)."""

    can_measure = True

    @abstractmethod
    def measure(self, spec: str, metric: str = "latency", **options: Any) -> dict[str, Any]:
        """Build ``spec`` and measure ``metric`` (one of ``measures``); returns table columns.

        ``options`` are the timing protocol every measuring space accepts: ``warmup`` and ``repeats``
        (forward passes discarded and timed), ``threads`` and ``device``.
        """


class LookupSpace(SearchSpace):
    """A space with a benchmark of trained metrics shipped with a package (look-up instead of training).

    Subclasses list the benchmark's datasets in ``datasets`` (not empty)."""

    has_lookup = True

    @abstractmethod
    def metrics_table(self, dataset: str | None = None) -> pd.DataFrame:
        """The shipped benchmark as a table: an ``arch`` column (canonical spec) plus metric columns."""


class FileSpace(SearchSpace):
    """A space whose specs are paths to files; relative paths are resolved against a table's folder."""

    resolves_files = True

    @staticmethod
    @abstractmethod
    def resolve(spec: str, base_dir: str | Path | None = None) -> str:
        """``spec`` as an absolute, normalised path (relative ones taken from ``base_dir``)."""
