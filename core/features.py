"""Node features of architecture graphs: :class:`FeatureSpec` and the space's :class:`FeatureSchema`.

Each node carries *categorical* features (op type, stage, kernel, ...) and *numeric* ones (channels,
resolution). The FE-MLP gives every feature its own embedding, so a space declares its features once in
a schema, which encodes a node as category indices and scaled numbers (see docs/design.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from core.errors import SpecError

#: The categorical value a node gets for a feature it does not have (generic user spaces).
MISSING = "-"

CATEGORICAL = "categorical"
NUMERIC = "numeric"


@dataclass(frozen=True)
class FeatureSpec:
    """One node feature.

    Categorical features have a fixed vocabulary (values are stored as strings); numeric features have
    a range used to scale values to about [0, 1] before the FE-MLP sees them.
    """

    name: str
    kind: str
    vocab: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in (CATEGORICAL, NUMERIC):
            raise ValueError(f"feature {self.name!r}: kind must be categorical or numeric, not {self.kind!r}")
        if self.kind == CATEGORICAL:
            if not self.vocab:
                raise ValueError(f"feature {self.name!r}: a categorical feature needs a vocabulary")
            if len(set(self.vocab)) != len(self.vocab):
                raise ValueError(f"feature {self.name!r}: vocabulary has duplicates")
        elif not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"feature {self.name!r}: numeric range must be finite")

    def to_dict(self) -> dict[str, Any]:
        if self.kind == CATEGORICAL:
            return {"name": self.name, "kind": self.kind, "vocab": list(self.vocab)}
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "FeatureSpec":
        return FeatureSpec(
            name=str(d["name"]),
            kind=str(d["kind"]),
            vocab=tuple(str(v) for v in d.get("vocab", ())),
            low=float(d.get("low", 0.0)),
            high=float(d.get("high", 1.0)),
        )


@dataclass(frozen=True)
class FeatureSchema:
    """The node features of a search space, in a fixed order (categorical first, then numeric)."""

    features: tuple[FeatureSpec, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate feature names in schema: {names}")
        if not self.features:
            raise ValueError("a feature schema needs at least one feature")
        # Keep a stable order: categorical features first so x_cat / x_num columns are predictable.
        ordered = tuple(f for f in self.features if f.kind == CATEGORICAL) + tuple(
            f for f in self.features if f.kind == NUMERIC
        )
        object.__setattr__(self, "features", ordered)
        object.__setattr__(
            self, "_index", {f.name: {v: i for i, v in enumerate(f.vocab)} for f in ordered if f.kind == CATEGORICAL}
        )

    @property
    def categorical(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.kind == CATEGORICAL)

    @property
    def numeric(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.kind == NUMERIC)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def encode_node(self, node: Mapping[str, Any]) -> tuple[list[int], list[float]]:
        """Encode one node's feature dict: (categorical indices, scaled numeric values)."""
        cats: list[int] = []
        for f in self.categorical:
            value = node.get(f.name, MISSING)
            value = MISSING if value is None else category_value(value)
            idx = self._index[f.name].get(value)  # type: ignore[attr-defined]
            if idx is None:
                raise SpecError(
                    f"feature {f.name!r} has value {value!r}, which is not in the space's vocabulary {list(f.vocab)}"
                )
            cats.append(idx)
        nums: list[float] = []
        for f in self.numeric:
            value = node.get(f.name)
            try:
                v = 0.0 if value is None else float(value)
            except (TypeError, ValueError):
                # A user graph may spell a numeric feature as a word; that is bad input, not a bug.
                raise SpecError(f"feature {f.name!r} has value {value!r}, which is not a number") from None
            if not math.isfinite(v):
                raise SpecError(f"feature {f.name!r} has non-finite value {value!r}")
            span = f.high - f.low
            nums.append((v - f.low) / span if span > 0 else 0.0)
        return cats, nums

    def to_dict(self) -> dict[str, Any]:
        return {"features": [f.to_dict() for f in self.features]}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "FeatureSchema":
        return FeatureSchema(tuple(FeatureSpec.from_dict(f) for f in d["features"]))

    @staticmethod
    def discover(nodes: Iterable[Mapping[str, Any]]) -> "FeatureSchema":
        """Infer a schema from example nodes: strings (and bools) are categorical, numbers numeric.

        A categorical feature that some node lacks gets the :data:`MISSING` value in its vocabulary.
        A feature that is numeric in one node and a string in another is categorical.
        """
        values: dict[str, list[Any]] = {}
        count = 0
        for node in nodes:
            count += 1
            for k, v in node.items():
                values.setdefault(k, []).append(v)
        if not values:
            raise SpecError("no node features found")
        specs = []
        for name in sorted(values):
            vals = values[name]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
            if numeric:
                lo, hi = float(min(vals)), float(max(vals))
                if len(vals) < count:
                    lo = min(lo, 0.0)
                specs.append(FeatureSpec(name, NUMERIC, low=lo, high=hi if hi > lo else lo + 1.0))
            else:
                vocab = sorted({category_value(v) for v in vals})
                if len(vals) < count and MISSING not in vocab:
                    vocab.append(MISSING)
                specs.append(FeatureSpec(name, CATEGORICAL, vocab=tuple(vocab)))
        return FeatureSchema(tuple(specs))


def category_value(value: Any) -> str:
    """Categorical values are strings; integral floats print as ints so 3 and 3.0 are one value."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
