"""RunConfig: everything a run records about how it was made, as a typed, validated dataclass.

It is what ``runs/<name>/config.json`` holds (core/runs/run.py). ``from_dict`` reads every run format-1
directory ever written: fields added later take their defaults, and keys this version does not know
are kept in ``extra`` and written back unchanged, so an old run still loads and round-trips.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError
from core.predictor.config import PredictorConfig
from core.predictor.config import TrainConfig

FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """space, dataset, target (expression) and target_columns (the columns it reads); dataset_note: how
    the look-up dataset was chosen (given or inferred from the table's values) or why there is none
    (empty in runs written before it was recorded: those are inferred on load); target_mean,
    target_std: the standardisation of the training targets; hop_moments: [(mean, std)] of node
    norms per hop (module scores); metric_columns: every metric column of the training table; train,
    model: the training and predictor configs; seed; table_source, table_hash, rows, excluded_rows,
    train_rows, val_rows: the data and its split; schema: the node feature schema (FeatureSchema's
    dict); versions, created: package versions and time; extra: keys of a newer or older writer."""

    space: str
    target: str
    target_mean: float
    target_std: float
    hop_moments: tuple[tuple[float, float], ...]
    target_columns: tuple[str, ...] = ()
    dataset: str | None = None
    dataset_note: str = ""
    metric_columns: tuple[str, ...] = ()
    train: TrainConfig | None = None
    model: PredictorConfig | None = None
    seed: int | None = None
    table_source: str = ""
    table_hash: str = ""
    rows: int = 0
    excluded_rows: tuple[int, ...] = ()
    train_rows: tuple[int, ...] = ()
    val_rows: tuple[int, ...] = ()
    schema: dict | None = None
    versions: dict = field(default_factory=dict)
    created: str = ""
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.space or not self.target:
            raise ValueError("a run config needs a space and a target")
        if not self.target_std > 0:
            raise ValueError(f"target_std must be positive, not {self.target_std!r}")
        if any(len(m) != 2 for m in self.hop_moments):
            raise ValueError("hop_moments must be (mean, std) pairs")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """A config from its JSON form (any run format-1 directory); a one-line error when unusable."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        try:
            values["hop_moments"] = tuple(tuple(float(x) for x in m) for m in values.get("hop_moments", ()))
            for name in ("target_columns", "metric_columns", "excluded_rows", "train_rows", "val_rows"):
                if name in values:
                    values[name] = tuple(values[name])
            if isinstance(values.get("train"), dict):
                values["train"] = _tolerant(TrainConfig, values["train"])
            if isinstance(values.get("model"), dict):
                # A run written before ensembles has no "members": it holds one predictor.
                values["model"] = _tolerant(PredictorConfig, {"members": 1, **values["model"]})
            return cls(**values, extra=extra)
        except (TypeError, ValueError, KeyError) as err:
            raise InputError(f"run config: {str(err).splitlines()[0]}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``config.json`` holds); ``from_dict(to_dict())`` gives the same config."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, (TrainConfig, PredictorConfig)):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            data[f.name] = value
        return {**self.extra, **data}


def _tolerant(cls, data: dict[str, Any]):
    """``cls(**data)`` keeping only the fields ``cls`` still has (an old run's renamed options drop)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
