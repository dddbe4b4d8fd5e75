"""The search-space interface every space family implements.

Every space turns spec strings (the ``arch`` column of a table) into canonical specs and
:class:`~core.graph.ArchGraph` objects. What else it can do (sample, enumerate, units, measure,
look-up, files) it declares by deriving from the capability classes of :mod:`core.spaces.capabilities`,
which set the flags below; callers ask the flags (``space.enumerable``), never probe methods. On a space
without a capability the base methods here refuse with a one-line message (docs/design.md 7).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from core.errors import InputError, SpecError, shorten
from core.graph import ArchGraph
from core.features import FeatureSchema


@dataclass(frozen=True)
class UnitCandidate:
    """One configuration of one unit, as an isolated subgraph (docs/design.md 2.8).

    A unit is a contiguous part of an architecture that is chosen independently of the others (e.g.
    a MobileNetV3 stage). The candidate is scored by the embedding norm of ``root`` (its last node)
    at hop ``hops`` (= depth - 1, so the receptive field is exactly the candidate).

    Attributes:
        unit: the unit's name (e.g. ``"stage1"``).
        choice: a hashable, JSON-serialisable description of the configuration, accepted back by
            :meth:`SearchSpace.assemble`.
        graph: the candidate alone as an :class:`ArchGraph` with the space's node features.
        root: index of the node whose embedding scores the candidate.
        hops: the hop level to read at ``root``.
        label: readable form, e.g. ``"e6k5, e4k3"``.
    """

    unit: str
    choice: Any
    graph: ArchGraph
    root: int
    hops: int
    label: str


#: The units a ``metric_units`` entry may name, in words, for sentences ("latency in seconds").
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "M": "millions", "%": "percent"}


class SearchSpace(ABC):
    """Base class of a search space. Subclasses set ``name`` and implement the abstract methods.

    Attributes:
        name: the registry name (``nasbench-graph``, ``nasbench201``, ...).
        description: one sentence for the dashboard.
        datasets: datasets with shipped metrics (empty when the space has no look-up table).
        default_metric: the metric a user most likely wants as the target.
        lower_is_better: ``default_metric`` is a cost (latency, FID); AutoBuild ranks higher targets
            as better, so the default target is its negation (:meth:`default_target`).
        validation_metric / test_metric: for look-up benchmarks, the column a user selects by and the
            one reported (e.g. ``valid_perf`` / ``perf`` on NAS-Bench-Graph).
    """

    name: str = ""
    description: str = ""
    datasets: tuple[str, ...] = ()
    default_metric: str | None = None
    lower_is_better: bool = False
    #: What :meth:`measure` can measure on this machine by building real networks (e.g. "latency").
    measures: tuple[str, ...] = ()
    validation_metric: str | None = None
    test_metric: str | None = None
    #: Units of the look-up table's metric columns whose names do not say them (e.g. NAS-Bench-Graph's
    #: ``latency`` is in seconds, ``para`` in millions of parameters); read by
    #: :func:`core.targets.target.latency_unit` for the latency preset and by :meth:`metric_label` for
    #: every header and axis title that shows the column.
    metric_units: dict[str, str] = {}

    # Capabilities: each is set True by the class in core.spaces.capabilities that declares it, never
    # by hand; callers ask these instead of probing methods.
    can_sample: bool = False  #: samples and mutates architectures (SamplingSpace)
    enumerable: bool = False  #: lists every architecture (EnumerableSpace)
    has_units: bool = False  #: architectures are one candidate per unit (UnitSpace)
    can_measure: bool = False  #: builds real networks and measures them (MeasuringSpace)
    has_lookup: bool = False  #: a benchmark of metrics ships for it (LookupSpace)
    resolves_files: bool = False  #: specs are paths to files (FileSpace)

    def capabilities(self) -> tuple[str, ...]:
        """Names of the declared capabilities (the dashboard's and docs/design.md's words)."""
        flags = {"sample": self.can_sample, "enumerate": self.enumerable, "units": self.has_units,
                 "measure": self.can_measure, "look-up": self.has_lookup, "files": self.resolves_files}
        return tuple(name for name, declared in flags.items() if declared)

    def default_target(self, columns: Sequence[str]) -> str | None:
        """The target expression a user most likely wants for a table with metric ``columns``.

        ``default_metric`` (negated when it is a cost, e.g. ``-latency_ms``), or None when the table
        lacks that column.
        """
        metric = self.default_metric
        if metric is None or metric not in columns:
            return None
        name = metric if metric.isidentifier() else f"`{metric}`"
        return f"-{name}" if self.lower_is_better else name

    def metric_label(self, column: str) -> str:
        """A metric column as a header or axis title shows it: with its declared unit (``latency (s)``,
        ``para (M)``), else as named. A ``true_`` prefix (a built table's looked-up columns) is kept."""
        bare = column[len("true_"):] if column.startswith("true_") else column
        unit = self.metric_units.get(bare)
        return f"{column} ({unit})" if unit else column

    # ------------------------------------------------------------ spec strings
    @abstractmethod
    def canonical(self, spec: str) -> str:
        """Validate ``spec`` and return its canonical spec string; raise :class:`SpecError` if invalid.

        Two specs of the same architecture (e.g. isomorphic link lists) have the same canonical form.
        """

    @abstractmethod
    def to_graph(self, spec: str) -> ArchGraph:
        """Build the graph of a (valid) spec; its ``spec`` attribute is the canonical spec."""

    # --------------------------------------------------------------- features
    def schema(self, graphs: Sequence[ArchGraph] | None = None) -> FeatureSchema:
        """The node feature schema. Fixed spaces ignore ``graphs``; user spaces discover it from them."""
        if graphs is None:
            raise InputError(f"space {self.name!r} needs example graphs to discover its node features")
        return FeatureSchema.discover(node for g in graphs for node in g.nodes)

    # ------------------------------------------- capability methods (refuse unless declared)
    def sample(self, rng: np.random.Generator) -> str:
        """One uniformly random canonical spec."""
        raise NotImplementedError(f"space {self.name!r} cannot sample architectures")

    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        """A random one-step neighbour of ``spec`` (different from it), canonical."""
        raise NotImplementedError(f"space {self.name!r} cannot mutate architectures")

    def size(self) -> int | None:
        """Number of distinct architectures, or None when unknown or unbounded."""
        return None

    def enumerate(self) -> Iterator[str]:
        """Every canonical spec of the space (only for small spaces)."""
        raise NotImplementedError(f"space {self.name!r} is not enumerable")

    # ------------------------------------------------------------------ units
    def units(self) -> tuple[str, ...]:
        """Names of the independently chosen units, in order; empty when the space has none."""
        return ()

    def global_choices(self) -> Mapping[str, Sequence[Any]]:
        """Whole-architecture choices outside every unit, each with its options (e.g. OFA's input
        resolution ``r``). A setting (one option per key) is passed to :meth:`unit_candidates` and
        :meth:`unit_candidate` as keyword arguments and to :meth:`assemble` as extra keys."""
        return {}

    def unit_candidates(self, unit: str, **setting: Any) -> Iterator[UnitCandidate]:
        """Every candidate configuration of ``unit`` (only for spaces that declare units)."""
        raise NotImplementedError(f"space {self.name!r} has no units")

    def unit_candidate(self, unit: str, choice: Any, **setting: Any) -> UnitCandidate:
        """The candidate of ``unit`` with ``choice`` (spaces with large units override this)."""
        for candidate in self.unit_candidates(unit, **setting):
            if candidate.choice == choice:
                return candidate
        raise SpecError(f"unit {unit!r} of space {self.name!r} has no choice {choice!r}")

    def assemble(self, choices: Mapping[str, Any]) -> str:
        """The canonical spec made of one ``choice`` per unit (keys: every name of :meth:`units`)."""
        raise NotImplementedError(f"space {self.name!r} has no units")

    # ------------------------------------------------------------- measuring
    def measure(self, spec: str, metric: str = "latency", **options: Any) -> dict[str, Any]:
        """Build ``spec`` as a real network and measure ``metric`` (one of :attr:`measures`).

        Returns table columns (e.g. ``latency_ms``, ``params_m``). Spaces that cannot build networks
        keep this default, which refuses.
        """
        raise InputError(f"space {self.name!r} cannot build networks to measure")

    # ---------------------------------------------------------------- metrics
    def metrics_table(self, dataset: str | None = None) -> pd.DataFrame:
        """The shipped benchmark as a table: an ``arch`` column (canonical spec) plus metric columns."""
        raise InputError(f"space {self.name!r} ships no metrics")

    def resolve_dataset(self, dataset: str | None) -> str:
        """Check a dataset name (None picks the first); raise a one-line error naming the choices."""
        if not self.datasets:
            raise InputError(f"space {self.name!r} has no shipped datasets")
        if dataset is None:
            return self.datasets[0]
        if dataset not in self.datasets:
            raise InputError(f"unknown dataset {shorten(dataset)} for space {self.name!r}; choose one of {list(self.datasets)}")
        return dataset

    def sample_distinct(self, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` distinct random canonical specs (uniform over the space)."""
        size = self.size()
        if size is not None and n > size:
            raise InputError(f"asked for {n} architectures but space {self.name!r} has only {size}")
        seen: dict[str, None] = {}
        tries = 0
        while len(seen) < n:
            seen.setdefault(self.sample(rng), None)
            tries += 1
            if tries > 100 * n + 1000:
                raise InputError(f"could not sample {n} distinct architectures from {self.name!r}")
        return list(seen)


def parse_error(space: str, spec: str, why: str) -> SpecError:
    """A one-line spec error that shows (a prefix of) the offending spec."""
    shown = spec if len(spec) <= 80 else spec[:77] + "..."
    return SpecError(f"invalid {space} spec {shown!r}: {why}")


def spec_json(space: str, spec: Any, text: str) -> Any:
    """The parsed JSON of a spec string; one :func:`parse_error` line when ``spec`` is not text (``text`` says
    what it should be, e.g. "as text") or not JSON."""
    from core.files.bounded_json import JsonInputError, load_json

    if not isinstance(spec, str):
        raise parse_error(space, str(spec), f"need a JSON object {text}, got {type(spec).__name__}")
    try:
        return load_json(spec)
    except JsonInputError as e:
        raise parse_error(space, spec, f"not JSON ({e})") from None
