"""Stable Diffusion v1.4 inpainting U-Net block space (AutoBuild, Mills et al. CVPR 2024, Sec. "Stable Diffusion").

One concept in one file (about 300 lines, a fifth of them this layout and its rules): the stage table, the
removal rules and the space that enforces them are read together and change together.

The paper learned from 68 of ~800k variants of the SD v1.4 U-Net, whose stages are sequences of ResNet (R)
and Attention (A, a cross-attention ``Transformer2DModel``) blocks, and minimised inpainting FID. This space
is the diffusers ``UNet2DConditionModel`` layout of SD v1.4 (inpainting: ``in_channels=9``), one unit per
stage, blocks in execution order (diffusers indices: ``R1`` = ``resnets[1]``, ``A0`` = ``attentions[0]``):

    stage  diffusers          layout   channels  level       stage  diffusers       layout   channels  level
    down0  down_blocks.0      R A R A  320       0           up0    up_blocks.0     R R R    1280      3
    down1  down_blocks.1      R A R A  640       1           up1    up_blocks.1     RARARA   1280      2
    down2  down_blocks.2      R A R A  1280      2           up2    up_blocks.2     RARARA   640       1
    down3  down_blocks.3      R R      1280      3           up3    up_blocks.3     RARARA   320       0
    mid    mid_block          R A R    1280      3

(level 0 = 64x64 latents for 512x512 images, level 3 = 8x8; down/up samplers and conv_in/conv_out are fixed.)

Rules (an architecture removes blocks; a removed block is bypassed, see :mod:`core.diffusion.unet_arch`):

1. The first R block of every stage is kept. In down1, down2, up2 and up3 it changes the channel count
   (320->640, 640->1280, 1280->640, 640->320), so no identity can replace it; keeping it everywhere also
   gives the rule "every stage keeps at least one R block".
2. Every R block of the up stages is kept: each one concatenates one encoder skip connection to its input
   (``cat([h, skip])``, more channels in than out), so it cannot be bypassed by an identity without silently
   dropping that skip connection.
3. An A block is kept only if the R block right before it (its diffusers layer partner) is kept: a layer is
   kept whole ("RA"), kept without its attention ("R-") or removed whole ("--").

So the optional blocks are the second R of down0..down3 and of mid, and all 16 A blocks. Per stage:
down0/1/2 have 6 configurations each, down3 2, mid 4, up0 1, up1/2/3 8 each, so the space holds
6^3 * 2 * 4 * 1 * 8^3 = 884,736 architectures (the paper reports ~800k for its SD v1.4 space), small
enough for the exhaustive-search baseline to score every one of them.

Spec string: JSON of the kept blocks per stage, canonically a mask over the stage layout with ``-`` for a
removed block, e.g. ``{"down0":"RAR-","down1":"RARA",...,"up3":"R-RARA"}``. Parsing also accepts, per stage,
a list of kept block names (``["R0","A0","R1"]``), and a stage left out is kept whole (so ``{}`` is the
original U-Net). The canonical form lists all 9 stages in the order above.

Graph: an ``input`` node (conv_in), one node per kept block in execution order, and an ``output`` node
(conv_out). Edges follow the data flow (each node feeds the next) plus the 12 encoder-decoder skip
connections: each up-stage R receives the skip that diffusers pops for it, from the node whose output forms
that skip (the last kept block of the corresponding down layer, or the block before it when the layer is
removed; a downsampler's skip comes from the last block of its stage, the downsampler itself being fixed).
Node features: ``stage``, ``position`` (index in the stage layout), ``kind`` (R/A/input/output), ``channels``
(SD v1.4 output channels) and ``level`` (resolution level).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Mapping

import numpy as np

from core.errors import InputError
from core.features import CATEGORICAL, MISSING, NUMERIC, FeatureSchema, FeatureSpec
from core.graph import ArchGraph
from core.spaces import register_space
from core.spaces.base import UnitCandidate, parse_error, spec_json
from core.spaces.capabilities import EnumerableSpace, SamplingSpace, UnitSpace

SPACE = "sd-unet"
REMOVED = "-"


@dataclass(frozen=True)
class Stage:
    """One U-Net stage: its blocks in execution order and where it sits in the diffusers model."""

    name: str
    layout: str  # e.g. "RARA": resnets[0], attentions[0], resnets[1], attentions[1]
    channels: int  # SD v1.4 output channels of the stage's blocks
    level: int  # resolution level: 0 = full latent resolution, 3 = 1/8 of it
    module: str  # diffusers attribute path of the block

    @property
    def is_up(self) -> bool:
        return self.name.startswith("up")

    def block_name(self, position: int) -> str:
        """``R1``/``A0``: the kind and its index in the diffusers ``resnets``/``attentions`` list."""
        kind = self.layout[position]
        return f"{kind}{self.layout[:position].count(kind)}"

    def module_path(self, position: int) -> str:
        """The diffusers module path of a block, e.g. ``down_blocks.0.attentions.1``."""
        kind = self.layout[position]
        attr = "resnets" if kind == "R" else "attentions"
        return f"{self.module}.{attr}.{self.layout[:position].count(kind)}"

    def fixed(self, position: int) -> bool:
        """Rules 1 and 2: the first R of a stage and every R of an up stage are always kept."""
        return self.layout[position] == "R" and (position == 0 or self.is_up)

    def valid(self, mask: str) -> str | None:
        """Why ``mask`` breaks a rule, or None when it is a valid configuration of this stage."""
        for p, (full, kept) in enumerate(zip(self.layout, mask)):
            if kept == REMOVED and self.fixed(p):
                why = "the first R of a stage" if p == 0 else "an up-stage R (it fuses a skip connection)"
                return f"{self.name} {self.block_name(p)} is {why} and cannot be removed"
            if full == "A" and kept == "A" and mask[p - 1] == REMOVED:
                return f"{self.name} {self.block_name(p)} is kept but its R {self.block_name(p - 1)} is removed"
        return None


STAGES: tuple[Stage, ...] = (
    Stage("down0", "RARA", 320, 0, "down_blocks.0"),
    Stage("down1", "RARA", 640, 1, "down_blocks.1"),
    Stage("down2", "RARA", 1280, 2, "down_blocks.2"),
    Stage("down3", "RR", 1280, 3, "down_blocks.3"),
    Stage("mid", "RAR", 1280, 3, "mid_block"),
    Stage("up0", "RRR", 1280, 3, "up_blocks.0"),
    Stage("up1", "RARARA", 1280, 2, "up_blocks.1"),
    Stage("up2", "RARARA", 640, 1, "up_blocks.2"),
    Stage("up3", "RARARA", 320, 0, "up_blocks.3"),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}
#: Down stages that end in a downsampler (its output is one more skip connection).
DOWNSAMPLING = ("down0", "down1", "down2")
#: Output channels of conv_in and conv_out in SD v1.4.
CONV_IN_CHANNELS, CONV_OUT_CHANNELS = 320, 4
FULL_MASKS = {s.name: s.layout for s in STAGES}


@lru_cache(maxsize=None)
def stage_masks(name: str) -> tuple[str, ...]:
    """Every valid mask of a stage, the full layout first."""
    stage = STAGE_BY_NAME[name]
    choices = [(kind,) if stage.fixed(p) else (kind, REMOVED) for p, kind in enumerate(stage.layout)]
    masks = ("".join(m) for m in itertools.product(*choices))
    return tuple(m for m in masks if stage.valid(m) is None)


@lru_cache(maxsize=None)
def _ways_to_remove(first: int) -> np.ndarray:
    """[r] = how many ways stages ``first``.. (of :data:`STAGES`) can together remove exactly r blocks."""
    ways = np.zeros(1 + sum(s.layout.count("A") + s.layout.count("R") for s in STAGES), dtype=np.int64)
    ways[0] = 1
    for stage in STAGES[first:]:
        step = np.zeros_like(ways)
        for mask in stage_masks(stage.name):
            k = mask.count(REMOVED)
            step[k:] += ways[:len(ways) - k]
        ways = step
    return ways


def spec_string(masks: Mapping[str, str]) -> str:
    """The canonical spec of one mask per stage (all 9 stages, in order)."""
    return json.dumps({s.name: masks[s.name] for s in STAGES}, separators=(",", ":"))


FULL_SPEC = spec_string(FULL_MASKS)


def removed_blocks(masks: Mapping[str, str]) -> list[tuple[Stage, int]]:
    """``(stage, position)`` of every removed block, in execution order."""
    return [(s, p) for s in STAGES for p, kept in enumerate(masks[s.name]) if kept == REMOVED]


def _block_node(stage: Stage, position: int) -> dict[str, Any]:
    return {"stage": stage.name, "position": str(position), "kind": stage.layout[position],
            "channels": stage.channels, "level": stage.level}


@register_space
class SdUnetSpace(SamplingSpace, EnumerableSpace, UnitSpace):
    """SD v1.4 inpainting U-Net: which R/A blocks each of the 9 stages keeps; 884,736 architectures."""

    name = SPACE
    description = ("Stable Diffusion v1.4 inpainting U-Net: which ResNet/Attention blocks each stage keeps "
                   "(884,736 variants); needs a local diffusers model directory to evaluate.")
    default_metric = "fid"
    lower_is_better = True

    # ------------------------------------------------------------ spec strings
    def removed_count(self, spec: str) -> int:
        """How many blocks the architecture ``spec`` removes (0 for the full U-Net)."""
        return len(removed_blocks(self.parse(spec)))

    def parse(self, spec: str) -> dict[str, str]:
        """Stage name -> mask (``R``/``A`` kept, ``-`` removed), for all 9 stages; strict about every value."""
        raw = spec_json(SPACE, spec, "string")
        if not isinstance(raw, dict):
            raise parse_error(SPACE, spec, f"need a JSON object of stages, got {type(raw).__name__}")
        unknown = [k for k in raw if k not in STAGE_BY_NAME]
        if unknown:
            raise parse_error(SPACE, spec, f"unknown stage {unknown[0]!r}; stages are {list(STAGE_BY_NAME)}")
        masks = {}
        for stage in STAGES:
            mask = self._stage_mask(spec, stage, raw.get(stage.name, stage.layout))
            why = stage.valid(mask)
            if why:
                raise parse_error(SPACE, spec, why)
            masks[stage.name] = mask
        return masks

    @staticmethod
    def _stage_mask(spec: str, stage: Stage, value: Any) -> str:
        """A stage's mask from a mask string (``RAR-``) or a list of kept block names (``["R0","A0","R1"]``)."""
        if isinstance(value, str):
            if len(value) != len(stage.layout):
                raise parse_error(SPACE, spec, f"{stage.name} mask {value!r} needs {len(stage.layout)} characters "
                                               f"(layout {stage.layout}, '-' for a removed block)")
            for kept, full in zip(value, stage.layout):
                if kept not in (full, REMOVED):
                    raise parse_error(SPACE, spec, f"{stage.name} mask {value!r} must follow layout "
                                                   f"{stage.layout} with '-' for removed blocks")
            return value
        if isinstance(value, list):
            names = [stage.block_name(p) for p in range(len(stage.layout))]
            bad = [v for v in value if v not in names]
            if bad:
                raise parse_error(SPACE, spec, f"{stage.name} has no block {bad[0]!r}; its blocks are {names}")
            if len(set(value)) != len(value):
                raise parse_error(SPACE, spec, f"{stage.name} lists a block twice")
            return "".join(kind if names[p] in value else REMOVED for p, kind in enumerate(stage.layout))
        raise parse_error(SPACE, spec, f"{stage.name} must be a mask string or a list of block names")

    def canonical(self, spec: str) -> str:
        return spec_string(self.parse(spec))

    def to_graph(self, spec: str) -> ArchGraph:
        masks = self.parse(spec)
        nodes: list[dict[str, Any]] = [{"stage": MISSING, "position": MISSING, "kind": "input",
                                        "channels": CONV_IN_CHANNELS, "level": 0}]
        labels = ["conv_in"]
        edges: list[tuple[int, int]] = []
        # Skip sources in diffusers' order: conv_in, then per down layer and per downsampler.
        skips = [0]
        for stage in STAGES:
            mask = masks[stage.name]
            for p, kept in enumerate(mask):
                last = len(nodes) - 1
                if kept != REMOVED:
                    nodes.append(_block_node(stage, p))
                    labels.append(f"{stage.name} {stage.block_name(p)}")
                    edges.append((last, len(nodes) - 1))
                    if stage.is_up and kept == "R":
                        # diffusers pops the most recent skip for each up-stage ResNet.
                        edges.append((skips.pop(), len(nodes) - 1))
                # A down layer (R plus its A, if the layout has one) ends here: its output is a skip.
                layer_ends = p == len(mask) - 1 or stage.layout[p + 1] == "R"
                if stage.name.startswith("down") and layer_ends:
                    skips.append(len(nodes) - 1)
            if stage.name in DOWNSAMPLING:
                skips.append(len(nodes) - 1)
        nodes.append({"stage": MISSING, "position": MISSING, "kind": "output",
                      "channels": CONV_OUT_CHANNELS, "level": 0})
        labels.append("conv_out")
        edges.append((len(nodes) - 2, len(nodes) - 1))
        assert not skips, "every skip connection must be consumed"
        return ArchGraph(nodes=nodes, edges=edges, spec=spec_string(masks), labels=labels)

    # --------------------------------------------------------------- features
    def schema(self, graphs=None) -> FeatureSchema:
        """stage, position, kind (categorical); channels, level (numeric, SD v1.4 values)."""
        return FeatureSchema((
            FeatureSpec("stage", CATEGORICAL, vocab=tuple(STAGE_BY_NAME) + (MISSING,)),
            FeatureSpec("position", CATEGORICAL, vocab=tuple(str(p) for p in range(6)) + (MISSING,)),
            FeatureSpec("kind", CATEGORICAL, vocab=("R", "A", "input", "output")),
            FeatureSpec("channels", NUMERIC, low=0.0, high=1280.0),
            FeatureSpec("level", NUMERIC, low=0.0, high=3.0),
        ))

    # ----------------------------------------------------------------- search
    def sample(self, rng: np.random.Generator) -> str:
        """Uniform over the space: every stage's mask is drawn uniformly and independently."""
        masks = {s.name: stage_masks(s.name)[int(rng.integers(len(stage_masks(s.name))))] for s in STAGES}
        return spec_string(masks)

    def sample_removing(self, removed: int, rng: np.random.Generator) -> str:
        """A uniform random architecture among those that remove exactly ``removed`` blocks.

        Stage by stage, a mask is drawn with probability proportional to the number of ways the later stages
        can remove the blocks still to remove (counts from :func:`_ways_to_remove`), which makes every
        architecture with that count equally likely. The study's random baseline matched to AutoBuild's
        picks uses it (a pick that removes few blocks is compared with random architectures of its size)."""
        if not 0 <= removed <= _ways_to_remove(0).shape[0] - 1 or _ways_to_remove(0)[removed] == 0:
            raise InputError(f"no {SPACE} architecture removes exactly {removed} blocks")
        masks, left = {}, removed
        for i, stage in enumerate(STAGES):
            options = stage_masks(stage.name)
            later = _ways_to_remove(i + 1)
            weights = np.array([later[left - m.count(REMOVED)] if 0 <= left - m.count(REMOVED) < len(later) else 0
                                for m in options], dtype=np.float64)
            masks[stage.name] = options[int(rng.choice(len(options), p=weights / weights.sum()))]
            left -= masks[stage.name].count(REMOVED)
        return spec_string(masks)

    def mutate(self, spec: str, rng: np.random.Generator) -> str:
        """Toggle one uniformly chosen optional block; removing an R removes its A, adding an A adds its R."""
        masks = self.parse(spec)
        optional = [(s, p) for s in STAGES for p in range(len(s.layout)) if not s.fixed(p)]
        stage, p = optional[int(rng.integers(len(optional)))]
        mask = list(masks[stage.name])
        if mask[p] == REMOVED:
            mask[p] = stage.layout[p]
            if stage.layout[p] == "A":
                mask[p - 1] = "R"
        else:
            mask[p] = REMOVED
            if stage.layout[p] == "R" and p + 1 < len(mask) and stage.layout[p + 1] == "A":
                mask[p + 1] = REMOVED
        masks[stage.name] = "".join(mask)
        return spec_string(masks)

    def size(self) -> int:
        return int(np.prod([len(stage_masks(s.name)) for s in STAGES]))

    def enumerate(self) -> Iterator[str]:
        """All 884,736 canonical specs, stage masks varying fastest in the last stage."""
        # A format template is ~10x faster than json.dumps per spec, which matters at this size.
        template = "{" + ",".join(f'"{s.name}":"%s"' for s in STAGES) + "}"
        return (template % masks for masks in itertools.product(*(stage_masks(s.name) for s in STAGES)))

    # ------------------------------------------------------------------ units
    def units(self) -> tuple[str, ...]:
        return tuple(s.name for s in STAGES)

    def unit_candidates(self, unit: str) -> Iterator[UnitCandidate]:
        """Each valid mask of the stage as the chain of its kept blocks (no skip edges: they cross units)."""
        stage = STAGE_BY_NAME.get(unit)
        if stage is None:
            raise InputError(f"space {SPACE!r} has no unit {unit!r}; its units are {list(STAGE_BY_NAME)}")
        for mask in stage_masks(unit):
            kept = [p for p, k in enumerate(mask) if k != REMOVED]
            graph = ArchGraph(nodes=[_block_node(stage, p) for p in kept],
                              edges=[(i, i + 1) for i in range(len(kept) - 1)],
                              spec=mask, labels=[f"{unit} {stage.block_name(p)}" for p in kept])
            yield UnitCandidate(unit=unit, choice=mask, graph=graph, root=len(kept) - 1, hops=len(kept) - 1,
                                label=mask)

    def assemble(self, choices: Mapping[str, Any]) -> str:
        missing = [s.name for s in STAGES if s.name not in choices]
        if missing:
            raise parse_error(SPACE, json.dumps(dict(choices)), f"no choice for stage {missing[0]!r}")
        return self.canonical(json.dumps({s.name: choices[s.name] for s in STAGES}))
