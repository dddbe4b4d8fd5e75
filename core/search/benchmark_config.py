"""What a head-to-head benchmark compares (:mod:`core.search.benchmark` runs it): methods, datasets, settings.

Free of torch and of the searchers, so that ``python -m core benchmark --help`` and ``search --help``
answer at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.predictor.config import PredictorConfig

if TYPE_CHECKING:
    from core.search.searchers.base import SearchSettings

#: The benchmark's methods, in the order reports list them: the names of ``core.search.searchers.SEARCHERS``
#: (tests/test_cli.py checks), spelled out so that the CLI's help needs no searcher (and no torch).
METHODS = ("autobuild", "autobuild-graph", "autobuild-norm", "random", "evolution", "predictor", "autobuild+evo",
           "autobuild-rounds", "autobuild-local", "autobuild-guided", "autobuild-loop")

#: The benchmark datasets the reports use: short name -> (space, dataset).
BENCHMARK_DATASETS = {"cora": ("nasbench-graph", "cora"), "citeseer": ("nasbench-graph", "citeseer"),
                      "pubmed": ("nasbench-graph", "pubmed"), "cs": ("nasbench-graph", "cs"),
                      "nb201": ("nasbench201", "cifar10")}


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to compare. ``select``/``report`` default to the space's validation and test metrics.

    ``members``: the predictor's ensemble size. 1 (a single predictor), not the product's default: the
    head-to-head results in benchmarks/results/build_quality_*.md were measured so, and every method is
    compared at equal evaluations whatever the predictor (docs/decisions.md).
    """

    space: str
    dataset: str | None = None
    budgets: tuple[int, ...] = (50, 100, 200)
    seeds: tuple[int, ...] = tuple(range(10))
    extra: int = 4
    k: int = 3
    epochs: int = 200
    lam: float = 1.0
    gnn: str = PredictorConfig.gnn
    members: int = 1
    rounds: int = 4
    methods: tuple[str, ...] = METHODS
    select: str | None = None
    report: str | None = None

    def __post_init__(self) -> None:
        if not self.budgets or min(self.budgets) < 10:
            raise ValueError(f"budgets must be at least 10, got {self.budgets}")
        if not self.seeds:
            raise ValueError("need at least one seed")
        if self.extra < 1:
            raise ValueError(f"extra must be positive, got {self.extra}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be positive, got {self.rounds}")
        PredictorConfig(gnn=self.gnn, members=self.members)  # validates the layer name and the ensemble size
        self.settings()  # validates k and rounds
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")

    def settings(self) -> "SearchSettings":
        """The searchers' settings for this benchmark."""
        from core.search.searchers.base import SearchSettings

        return SearchSettings(k=self.k, rounds=self.rounds, extra=self.extra)
