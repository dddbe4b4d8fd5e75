"""What the Once-for-All spaces share: subnet config specs, sequence graphs, sampling and units.

A spec is OFA's own subnet config as JSON, ``{"ks":[...],"e":[...],"d":[...],"r":[224]}``: kernel
size and expansion ratio for every layer slot of the supernet (active or not), depth per stage, and
the input resolution (parsed by :mod:`core.spaces.ofa_spec`). ``ofa-mbv3`` (:mod:`core.spaces.ofa_mbv3`) and ``ofa-pn``
(:mod:`core.spaces.ofa_pn`) differ only in their :class:`~core.spaces.ofa_subnets.Layout` and units.

Facts checked against ``mit-han-lab/once-for-all`` (``ofa_mbv3.py``, ``ofa_proxyless.py``,
``train_ofa_net.py``, ``my_random_resize_crop.py``):

- Kernels 3, 5, 7 and expansions 3, 4, 6 in every elastic layer; depths 2, 3, 4 per stage. A stage of
  depth ``d`` runs its *first* ``d`` layers; the values of the other slots are ignored. The canonical
  spec therefore fills inactive slots with kernel 3 and expansion 3 (it keeps all slots, so it is still
  a config that OFA's ``set_active_subnet`` loads), and parsing accepts any valid value or ``null`` there.
- OFA trains at every resolution from 128 to 224 in steps of 4 (``image_size='128,160,192,224'`` with
  ``continuous_size=True`` and ``IMAGE_SIZE_SEG = 4``); its tutorial searches 160-224 in steps of 16.
  Specs may use any of the 25 trained sizes; :meth:`OFASpace.sample` draws from 192-224 in steps of 4,
  the range of the AutoBuild experiments. ``r`` may be an int or a one-element list (OFA writes
  ``[224]``), and a spec without ``r`` is at 224, OFA's default. The key ``"wid": null`` that OFA's
  evolution finder writes is accepted and dropped.

Graph (the paper's sequence graph): one node per active layer, edges in layer order. Node features:
``stage`` (1-based OFA stage), ``layer`` (0-based index in the stage), ``block`` (MBConv with its
activation and squeeze-excite, e.g. ``mbconv-h_swish-se``), ``expand``, ``kernel`` (categorical) and
``resolution`` (numeric). The fixed stem, first block and head are the same in every subnet and left out.

Units (docs/design.md 2.8): contiguous groups of stages chosen independently. A candidate is one depth and
one ``e``/``k`` per active layer, i.e. :math:`\\sum_{d} 9^{d}` candidates for a stage of depths ``d``;
a stage of depth 2-4 has :math:`9^2 + 9^3 + 9^4 = 7{,}371`.

One concept, the OFA space class (its spec format is :mod:`core.spaces.ofa_spec`); about 300 lines
because this docstring records the facts checked against OFA's code.
"""
from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from core.errors import InputError, SpecError
from core.features import CATEGORICAL, NUMERIC, FeatureSchema, FeatureSpec
from core.graph import ArchGraph
from core.spaces.base import UnitCandidate
from core.spaces.capabilities import MeasuringSpace, SamplingSpace, UnitSpace
from core.spaces.ofa_layouts import EXPANDS, KERNELS, Layout, SubnetConfig
from core.spaces.ofa_spec import (
    DEFAULT_RESOLUTION,
    FILLER_EXPAND,
    FILLER_KERNEL,
    RESOLUTIONS,
    SAMPLE_RESOLUTIONS,
    parse_config,
    spec_of,
)

#: One elastic layer's choice as a unit-choice token, e.g. "e6k5".
TOKENS = tuple(f"e{e}k{k}" for e in EXPANDS for k in KERNELS)
_TOKEN = re.compile(r"e(\d+)k(\d+)")


@dataclass(frozen=True)
class UnitDef:
    """A unit: consecutive 0-based stages of the layout; at most one of them may have elastic depth."""

    name: str
    stages: tuple[int, ...]


class OFASpace(SamplingSpace, UnitSpace, MeasuringSpace):
    """Base of the OFA spaces; subclasses set ``name``, ``description``, ``layout`` and ``unit_defs``."""

    layout: Layout
    unit_defs: tuple[UnitDef, ...]
    default_metric = "latency_ms"
    lower_is_better = True
    #: What :meth:`measure` can measure (``python -m core sample --measure``).
    measures = ("latency",)

    def __init__(self) -> None:
        stages = self.layout.stages
        covered = [s for u in self.unit_defs for s in u.stages]
        if covered != list(range(len(stages))):
            raise ValueError(f"{self.name}: units must cover stages 0..{len(stages) - 1} in order, not {covered}")
        for unit in self.unit_defs:
            if sum(len(stages[s].depths) > 1 for s in unit.stages) > 1:
                raise ValueError(f"{self.name}: unit {unit.name} has two elastic-depth stages")
        self._blocks = tuple(f"mbconv-{s.act}" + ("-se" if s.se else "") for s in stages)

    # ------------------------------------------------------------ spec strings
    def parse(self, spec: str) -> SubnetConfig:
        """Validate an OFA config (JSON text) and return it with inactive slots canonicalised."""
        return parse_config(self.name, self.layout, spec)

    def spec_of(self, config: SubnetConfig) -> str:
        """The canonical spec text of a parsed config (compact JSON, keys ks, e, d, r)."""
        return spec_of(config)

    def canonical(self, spec: str) -> str:
        return self.spec_of(self.parse(spec))

    def to_graph(self, spec: str) -> ArchGraph:
        config = self.parse(spec)
        layers = [(s, layer, config.e[slot], config.ks[slot]) for s, layer, slot in self.layout.active_layers(config.d)]
        nodes = [self._node(s, layer, e, k, config.r) for s, layer, e, k in layers]
        labels = [_label(s, layer, e, k) for s, layer, e, k in layers]
        edges = [(i, i + 1) for i in range(len(nodes) - 1)]
        return ArchGraph(nodes=nodes, edges=edges, spec=self.spec_of(config), labels=labels)

    def _node(self, stage: int, layer: int, e: int, k: int, resolution: int) -> dict[str, Any]:
        return {"stage": stage + 1, "layer": layer, "block": self._blocks[stage], "expand": e, "kernel": k,
                "resolution": resolution}

    # --------------------------------------------------------------- features
    def schema(self, graphs=None) -> FeatureSchema:
        """stage, layer, block, expand, kernel (categorical) and resolution (numeric, 128-224)."""
        stages = self.layout.stages
        return FeatureSchema((
            FeatureSpec("stage", CATEGORICAL, vocab=tuple(str(i + 1) for i in range(len(stages)))),
            FeatureSpec("layer", CATEGORICAL, vocab=tuple(str(i) for i in range(max(s.max_depth for s in stages)))),
            FeatureSpec("block", CATEGORICAL, vocab=tuple(dict.fromkeys(self._blocks))),
            FeatureSpec("expand", CATEGORICAL, vocab=tuple(str(e) for e in EXPANDS)),
            FeatureSpec("kernel", CATEGORICAL, vocab=tuple(str(k) for k in KERNELS)),
            FeatureSpec("resolution", NUMERIC, low=float(RESOLUTIONS[0]), high=float(RESOLUTIONS[-1])),
        ))

    # ----------------------------------------------------------------- search
    def sample(self, rng: np.random.Generator) -> str:
        """A random subnet drawn as OFA draws them: each depth, kernel and expansion uniformly.

        This is uniform per choice, not over architectures (which would pick depth 4 for 89% of
        stages); every OFA data set and the AutoBuild experiments sample this way.
        """
        n = self.layout.num_layers
        d = tuple(int(rng.choice(stage.depths)) for stage in self.layout.stages)
        ks = [int(k) for k in rng.choice(KERNELS, size=n)]
        e = [int(x) for x in rng.choice(EXPANDS, size=n)]
        r = int(rng.choice(SAMPLE_RESOLUTIONS))
        return self.canonical(json.dumps({"ks": ks, "e": e, "d": list(d), "r": r}))

    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        """Change one uniformly chosen gene: a stage's depth, an active layer's kernel or expansion, or r.

        A deeper stage gets random kernels and expansions in its newly active layers (the canonical
        filler would bias mutants towards e3k3); resolutions move within the sampling range.
        """
        config = self.parse(spec)
        ks, e, d = list(config.ks), list(config.e), list(config.d)
        r = config.r
        genes: list[tuple[str, int]] = [("d", i) for i, s in enumerate(self.layout.stages) if len(s.depths) > 1]
        for _, _, slot in self.layout.active_layers(d):
            genes += [("ks", slot), ("e", slot)]
        genes.append(("r", 0))
        kind, index = genes[int(rng.integers(len(genes)))]
        if kind == "d":
            stage = self.layout.stages[index]
            old = d[index]
            d[index] = _other(stage.depths, old, rng)
            for layer in range(old, d[index]):
                slot = self.layout.slot(index, layer)
                ks[slot], e[slot] = int(rng.choice(KERNELS)), int(rng.choice(EXPANDS))
        elif kind == "ks":
            ks[index] = _other(KERNELS, ks[index], rng)
        elif kind == "e":
            e[index] = _other(EXPANDS, e[index], rng)
        else:
            r = _other(SAMPLE_RESOLUTIONS, r, rng)
        return self.canonical(json.dumps({"ks": ks, "e": e, "d": d, "r": r}))

    def size(self) -> int:
        per_stage = [sum(len(TOKENS) ** depth for depth in s.depths) for s in self.layout.stages]
        return math.prod(per_stage) * len(RESOLUTIONS)

    # ------------------------------------------------------------------ units
    def units(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.unit_defs)

    def _unit(self, unit: str) -> UnitDef:
        for u in self.unit_defs:
            if u.name == unit:
                return u
        raise InputError(f"unknown unit {unit!r} of space {self.name!r}; units are {list(self.units())}")

    def _unit_depths(self, unit: UnitDef) -> list[tuple[int, ...]]:
        """Depth per stage of the unit, for every choice of the (at most one) elastic stage."""
        return list(itertools.product(*(self.layout.stages[s].depths for s in unit.stages)))

    def global_choices(self) -> dict[str, tuple[int, ...]]:
        """The input resolution ``r``: a whole-network choice (the sampled range 192-224)."""
        return {"r": SAMPLE_RESOLUTIONS}

    def unit_candidates(self, unit: str, r: int = DEFAULT_RESOLUTION) -> Iterator[UnitCandidate]:
        """Every configuration of ``unit`` as an isolated chain, shallowest first (a lazy generator).

        ``choice`` is a tuple of tokens ``"e6k5"``, one per active layer in order (for a merged unit,
        its stages' layers one after another). Resolution is a whole-network choice, not part of any
        unit; candidates carry ``r`` as their resolution feature (default 224, OFA's default).
        """
        u = self._unit(unit)
        parsed = [(token, int(m.group(1)), int(m.group(2))) for token in TOKENS for m in [_TOKEN.fullmatch(token)]]
        for depths in self._unit_depths(u):
            positions = [(s, layer) for s, depth in zip(u.stages, depths) for layer in range(depth)]
            # The node dicts of one position differ only in e/k: build each once, copy per candidate.
            templates = [{t: self._node(s, layer, e, k, r) for t, e, k in parsed} for s, layer in positions]
            names = [{t: _label(s, layer, e, k) for t, e, k in parsed} for s, layer in positions]
            edges = [(i, i + 1) for i in range(len(positions) - 1)]
            root = len(positions) - 1
            for choice in itertools.product(TOKENS, repeat=len(positions)):
                graph = ArchGraph(
                    nodes=[dict(templates[i][t]) for i, t in enumerate(choice)],
                    edges=list(edges),
                    labels=[names[i][t] for i, t in enumerate(choice)],
                )
                yield UnitCandidate(unit=unit, choice=choice, graph=graph, root=root, hops=root,
                                    label=", ".join(choice))

    def unit_candidate(self, unit: str, choice: Sequence[str], r: int = DEFAULT_RESOLUTION) -> UnitCandidate:
        """The candidate of ``unit`` with layer tokens ``choice`` at resolution ``r`` (one graph)."""
        layers = self._unit_layers(self._unit(unit), choice)
        nodes = [self._node(s, layer, e, k, r) for s, layer, e, k in layers]
        labels = [_label(s, layer, e, k) for s, layer, e, k in layers]
        graph = ArchGraph(nodes=nodes, edges=[(i, i + 1) for i in range(len(nodes) - 1)], labels=labels)
        return UnitCandidate(unit=unit, choice=tuple(choice), graph=graph, root=len(nodes) - 1,
                             hops=len(nodes) - 1, label=", ".join(choice))

    def assemble(self, choices: Mapping[str, Any]) -> str:
        """The canonical spec with one choice (tokens as in :meth:`unit_candidates`) per unit.

        An optional key ``"r"`` sets the resolution (default 224); inactive slots get the filler.
        """
        unknown = sorted(set(choices) - set(self.units()) - {"r"})
        if unknown:
            raise SpecError(f"unknown unit {unknown[0]!r} of space {self.name!r}; units are {list(self.units())}")
        missing = [u for u in self.units() if u not in choices]
        if missing:
            raise SpecError(f"no choice for unit {missing[0]!r} of space {self.name!r}")
        n = self.layout.num_layers
        ks, e = [FILLER_KERNEL] * n, [FILLER_EXPAND] * n
        d = [0] * len(self.layout.stages)
        for u in self.unit_defs:
            for s, layer, expand, kernel in self._unit_layers(u, choices[u.name]):
                d[s] = layer + 1
                slot = self.layout.slot(s, layer)
                e[slot], ks[slot] = expand, kernel
        r = choices.get("r", DEFAULT_RESOLUTION)
        return self.canonical(json.dumps({"ks": ks, "e": e, "d": d, "r": r}))

    def _unit_layers(self, u: UnitDef, tokens: Any) -> list[tuple[int, int, int, int]]:
        """(stage, layer in stage, expand, kernel) of each layer token of one choice of unit ``u``."""
        if isinstance(tokens, str) or not isinstance(tokens, Sequence):
            raise SpecError(f"unit {u.name!r}: choice must be a list of tokens like 'e6k5', not {tokens!r}")
        depths = [ds for ds in self._unit_depths(u) if sum(ds) == len(tokens)]
        if not depths:
            counts = sorted({sum(ds) for ds in self._unit_depths(u)})
            raise SpecError(f"unit {u.name!r}: {len(tokens)} layers chosen; it takes {counts}")
        positions = [(s, layer) for s, depth in zip(u.stages, depths[0]) for layer in range(depth)]
        layers = []
        for (s, layer), token in zip(positions, tokens):
            match = _TOKEN.fullmatch(str(token))
            if match is None:  # ranges are checked by canonical(), with the value named
                raise SpecError(f"unit {u.name!r}: {token!r} is not a layer token like 'e6k5'")
            layers.append((s, layer, int(match.group(1)), int(match.group(2))))
        return layers

    # ------------------------------------------------------------- real nets
    def measure(self, spec: str, metric: str = "latency", *, device: str = "cpu", threads: int | None = 1,
                warmup: int = 5, repeats: int = 20) -> dict[str, float | int | str]:
        """Build the subnet and measure it on this machine (see :func:`core.spaces.ofa_subnets.profile_subnet`).

        Returns the table columns ``latency_ms`` (median wall time of a batch-1 forward), ``cpu_ms``
        (its median CPU time), ``params_m``, ``flops_m``, ``threads`` and ``device``.
        """
        if metric not in self.measures:
            raise InputError(f"space {self.name!r} can measure {list(self.measures)}, not {metric!r}")
        _check_device(device)
        if threads is not None and threads < 1:
            raise InputError(f"threads must be at least 1, not {threads}")
        if warmup < 0 or repeats < 1:
            raise InputError(f"need warmup >= 0 and repeats >= 1, not {warmup} and {repeats}")
        from core.spaces.ofa_subnets import (
            profile_subnet,  # torch only when a network is really built
        )

        return profile_subnet(self.layout, self.parse(spec), device=device, threads=threads,
                              warmup=warmup, repeats=repeats)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: this torch build sees no CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {device!r}: only cpu and cuda are supported")


def _other(values: Sequence[int], current: int, rng: np.random.Generator) -> int:
    options = [v for v in values if v != current]
    return int(options[int(rng.integers(len(options)))])


def _label(stage: int, layer: int, e: int, k: int) -> str:
    return f"s{stage + 1}.{layer} e{e}k{k}"
