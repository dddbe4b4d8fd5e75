"""The predictor's and training's settings, apart from torch.

These dataclasses are what a command line, a run's config.json and the dashboard need before any
training happens (defaults, choices, validation). Keeping them free of torch and PyG lets
``python -m core train --help`` and argument errors answer at once instead of after seconds of
imports.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: Names of the GNN layer types (the ``--gnn`` choices); ``core.predictor.model.GNN_LAYERS`` builds them.
GNN_NAMES = ("gatv2", "graphconv", "gin")

#: Widest layer accepted: the paper's predictor is 32 wide; a typo such as 1e5 would otherwise try to
#: allocate tens of GB (the GNN's weights grow with width squared).
MAX_WIDTH = 1024

#: Ensemble members a run trains by default (docs/decisions.md gives the measured trade-off) and at most.
DEFAULT_MEMBERS = 5
MAX_MEMBERS = 32


@dataclass(frozen=True)
class PredictorConfig:
    """Architecture of the predictor; validated on construction.

    gnn: one of :data:`GNN_NAMES` (the keys of ``core.predictor.model.GNN_LAYERS``). Default ``graphconv``: the paper names GATv2, and
    ``gatv2`` remains available, but GATv2 training stalled on some seeds and its head trailed boosted
    trees on three datasets, where GraphConv (mean aggregation) did neither
    (benchmarks/results/predictor_quality.md has both). width: node embedding size of every layer; layers: L, the number
    of message-passing layers (so hops 0..L); fe_hidden: width of numeric FE-MLPs; head_hidden: width of
    the regression head's hidden layer; monotone_init: start the first
    layer's input weights non-negative (see ``AutoBuildPredictor._align_first_layer``); members: K, the
    number of independently started predictors trained together and read as one
    (:mod:`core.predictor.ensemble`); 1 is a single predictor, as every run before ensembles had.
    """

    gnn: str = "graphconv"
    width: int = 32
    layers: int = 4
    fe_hidden: int = 16
    head_hidden: int = 32
    monotone_init: bool = True
    members: int = DEFAULT_MEMBERS

    def __post_init__(self) -> None:
        if self.gnn not in GNN_NAMES:
            raise ValueError(f"unknown gnn {self.gnn!r}; choose one of {sorted(GNN_NAMES)}")
        for name in ("width", "layers", "fe_hidden", "head_hidden", "members"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        for name in ("width", "fe_hidden", "head_hidden"):
            if getattr(self, name) > MAX_WIDTH:
                raise ValueError(f"{name} must be at most {MAX_WIDTH}, not {getattr(self, name)}")
        if not isinstance(self.monotone_init, bool):
            raise ValueError(f"monotone_init must be true or false, not {self.monotone_init!r}")
        if self.layers > 16:
            raise ValueError(f"layers must be at most 16, not {self.layers}")
        if self.members > MAX_MEMBERS:
            raise ValueError(f"members must be at most {MAX_MEMBERS}, not {self.members}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; validated on construction.

    batch_size: graphs per step; 0 picks ``clamp(n_train // 8, 16, 128)`` so that even a small table
    gets several steps per epoch. min_steps: a small table is trained for more epochs until it has had
    this many optimiser steps (50 labels need as many updates as 1,000 to fit; 0 disables it).
    lam: weight of the rank term (0 = the plain-MSE ablation). val_fraction: share of the table each
    member holds out for validation, a different share per member (``core.predictor.train.member_folds``:
    the ensemble learns from every row, each member is checked on rows it never saw); 0 disables it. patience: epochs without a better validation Spearman before
    stopping (None = train all epochs). eval_every: epochs between validation passes.
    keep_best: with a validation split, end with the weights of the validation pass that had the best
    Spearman rather than the last epoch's. Validation Spearman is noisy and can fall late in a long
    cosine schedule, and the model is only worth its ranking. Without a validation split
    (val_fraction=0, as benchmarks and campaigns train) there is nothing to choose by and the last
    epoch is kept.
    lr: 1e-2: lower rates left some GATv2 seeds stalled with a high training loss
    (benchmarks/results/predictor_quality.md gives the comparison).
    """

    epochs: int = 200
    batch_size: int = 0
    min_steps: int = 1000
    lr: float = 1e-2
    weight_decay: float = 1e-4
    lam: float = 1.0
    temperature: float = 0.1
    val_fraction: float = 0.1
    seed: int = 0
    patience: int | None = None
    eval_every: int = 5
    device: str = "auto"
    keep_best: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be an integer in 0..2**32-1, not {self.seed!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, not {self.epochs!r}")
        if not isinstance(self.batch_size, int) or (self.batch_size != 0 and self.batch_size < 4):
            raise ValueError(f"batch_size must be 0 (auto) or an integer >= 4, not {self.batch_size!r}")
        if not isinstance(self.min_steps, int) or self.min_steps < 0:
            raise ValueError(f"min_steps must be a non-negative integer, not {self.min_steps!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive, not {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, not {self.weight_decay!r}")
        if not (self.lam >= 0 and math.isfinite(self.lam)):
            raise ValueError(f"lambda must be >= 0, not {self.lam!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, not {self.temperature!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), not {self.val_fraction!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be positive, not {self.patience!r}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be positive, not {self.eval_every!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")

    def to_dict(self) -> dict:
        return asdict(self)
