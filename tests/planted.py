"""A tiny planted space for tests: chains whose target is decided by which ops they contain.

Architectures are 2 units ("stages") of 1-2 layers, each layer an op in {good, plain, bad}; the target
is (number of good layers) - (number of bad layers) plus a little noise. So a module made of a
``good`` layer appears in the best architectures and one made of ``bad`` in the worst.
"""
from __future__ import annotations

import itertools
import json
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from core.errors import InputError
from core.features import FeatureSchema, FeatureSpec
from core.files.bounded_json import load_json
from core.graph import ArchGraph
from core.spaces import register_space
from core.spaces.base import UnitCandidate, parse_error
from core.spaces.capabilities import EnumerableSpace, SamplingSpace, UnitSpace

OPS = ("good", "plain", "bad")
UNITS = ("stage1", "stage2")
SCHEMA = FeatureSchema((FeatureSpec("op", "categorical", ("input",) + OPS),
                        FeatureSpec("stage", "categorical", ("0", "1", "2")),
                        FeatureSpec("layer", "categorical", ("0", "1"))))


def unit_choices() -> list[tuple[str, ...]]:
    return [c for depth in (1, 2) for c in itertools.product(OPS, repeat=depth)]


@register_space
class PlantedSpace(SamplingSpace, EnumerableSpace, UnitSpace):
    name = "test-planted"
    description = "test-only staged chain space"

    def canonical(self, spec: str) -> str:
        try:
            stages = load_json(spec)  # bounded, like every space's parser (tests/test_fuzz.py)
            assert isinstance(stages, list) and len(stages) == 2
            assert all(isinstance(s, list) and 1 <= len(s) <= 2 and all(o in OPS for o in s) for s in stages)
        except (InputError, AssertionError):
            raise parse_error(self.name, spec, "expected [[ops of stage 1], [ops of stage 2]]") from None
        return json.dumps(stages, separators=(",", ":"))

    def schema(self, graphs=None) -> FeatureSchema:
        return SCHEMA

    def to_graph(self, spec: str) -> ArchGraph:
        stages = json.loads(self.canonical(spec))
        nodes = [{"op": "input", "stage": "0", "layer": "0"}]
        nodes += [{"op": o, "stage": str(s + 1), "layer": str(i)} for s, ops in enumerate(stages) for i, o in enumerate(ops)]
        labels = [n["op"] for n in nodes]
        return ArchGraph(nodes, [(i, i + 1) for i in range(len(nodes) - 1)], spec=self.canonical(spec), labels=labels)

    def enumerate(self) -> Iterator[str]:
        for a, b in itertools.product(unit_choices(), repeat=2):
            yield json.dumps([list(a), list(b)], separators=(",", ":"))

    def size(self) -> int:
        return len(unit_choices()) ** 2

    def sample(self, rng: np.random.Generator) -> str:
        choices = unit_choices()
        return json.dumps([list(choices[rng.integers(len(choices))]) for _ in UNITS], separators=(",", ":"))

    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        while True:
            other = self.sample(rng)
            if other != spec:
                return other

    def units(self) -> tuple[str, ...]:
        return UNITS

    def unit_candidates(self, unit: str) -> Iterator[UnitCandidate]:
        stage = UNITS.index(unit) + 1
        for ops in unit_choices():
            nodes = [{"op": o, "stage": str(stage), "layer": str(i)} for i, o in enumerate(ops)]
            graph = ArchGraph(nodes, [(i, i + 1) for i in range(len(nodes) - 1)], labels=list(ops))
            yield UnitCandidate(unit, ops, graph, root=len(ops) - 1, hops=len(ops) - 1, label=",".join(ops))

    def assemble(self, choices: Mapping[str, tuple]) -> str:
        return json.dumps([list(choices[u]) for u in UNITS], separators=(",", ":"))


def planted_target(spec: str, rng: np.random.Generator | None = None) -> float:
    ops = [o for stage in json.loads(spec) for o in stage]
    noise = 0.0 if rng is None else 0.05 * rng.normal()
    return ops.count("good") - ops.count("bad") + noise


def planted_lookup() -> pd.DataFrame:
    """Every architecture of the planted space with its noise-free target ``y``, indexed by spec."""
    specs = list(PlantedSpace().enumerate())
    return pd.DataFrame({"arch": specs, "y": [planted_target(s) for s in specs]}).set_index("arch")


def small_trainer(workdir, trained_on: list[int]):
    """A Trainer (core.search.rounds) for the planted space: a small, short, seeded training per call (one
    member: the searches are under test, not the ensemble), each saved under ``workdir``; records how many
    labelled architectures each call saw."""
    from core.predictor.config import PredictorConfig, TrainConfig
    from core.tables.validated import validate_table
    from core.workflow import train_from_table

    def train(specs, values, index):
        trained_on.append(len(specs))
        frame = pd.DataFrame({"arch": specs, "y": values})
        table = validate_table(frame, PlantedSpace(), source="planted")
        return train_from_table(table, "y", workdir / f"r{index}",
                                model_config=PredictorConfig(width=16, layers=2, members=1),
                                train_config=TrainConfig(epochs=40, batch_size=32, val_fraction=0.0, seed=0)).run

    return train
