"""The OFA spec format: a subnet config as JSON text, parsed to a :class:`~core.spaces.ofa_subnets.SubnetConfig`.

A spec is OFA's own subnet config, ``{"ks":[...],"e":[...],"d":[...],"r":[224]}``: kernel size and
expansion ratio for every layer slot of the supernet (active or not), depth per stage, and the input
resolution. The canonical text fills inactive slots with :data:`FILLER_KERNEL`/:data:`FILLER_EXPAND`;
the rules are in :mod:`core.spaces.ofa_common`, the space that uses this format.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from core.errors import SpecError
from core.spaces.base import parse_error, spec_json
from core.spaces.ofa_layouts import EXPANDS, KERNELS, Layout, SubnetConfig

#: Every input size OFA was trained at (parsing accepts these).
RESOLUTIONS = tuple(range(128, 225, 4))
#: The sizes :meth:`OFASpace.sample` draws from (the AutoBuild experiments' 192-224).
SAMPLE_RESOLUTIONS = tuple(range(192, 225, 4))
#: OFA's default input size; also the resolution feature of unit candidates.
DEFAULT_RESOLUTION = 224
#: What inactive layer slots hold in a canonical spec.
FILLER_KERNEL, FILLER_EXPAND = KERNELS[0], EXPANDS[0]

_Fail = Callable[[str], SpecError]


def parse_config(space: str, layout: Layout, spec: str) -> SubnetConfig:
    """Validate an OFA config (JSON text) of space ``space`` and return it with inactive slots canonicalised."""
    obj = spec_json(space, spec, "as text")
    if not isinstance(obj, dict):
        raise parse_error(space, spec, "need a JSON object with keys ks, e, d, r")

    def fail(why: str) -> SpecError:
        return parse_error(space, spec, why)

    unknown = sorted(set(obj) - {"ks", "e", "d", "r", "wid"})
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; an OFA config has ks, e, d and r")
    if obj.get("wid") is not None:
        raise fail(f"wid = {obj['wid']!r}: this space has a single width, so wid must be null or absent")
    for key in ("ks", "e", "d"):
        if key not in obj:
            raise fail(f"missing key {key!r}")
    stages = layout.stages
    d = _int_list(obj["d"], "d", len(stages), fail, f"{space} needs {len(stages)}")
    for i, (depth, stage) in enumerate(zip(d, stages)):
        if depth not in stage.depths:
            raise fail(f"d[{i}] = {depth} is not a depth of stage {i + 1}; choose from {list(stage.depths)}")
    active = {slot for _, _, slot in layout.active_layers(d)}
    needs = f"{space} needs {layout.num_layers} (one per layer slot)"
    ks = _choices(obj["ks"], "ks", layout.num_layers, KERNELS, "a kernel size", FILLER_KERNEL, active, fail, needs)
    e = _choices(obj["e"], "e", layout.num_layers, EXPANDS, "an expansion ratio", FILLER_EXPAND, active, fail, needs)
    r = obj.get("r", DEFAULT_RESOLUTION)
    if isinstance(r, list) and len(r) == 1:
        r = r[0]
    r_int = as_int(r)
    if r_int not in RESOLUTIONS:
        raise fail(f"r = {json.dumps(r)} is not an OFA resolution; use a multiple of 4 from 128 to 224")
    return SubnetConfig(ks=ks, e=e, d=tuple(d), r=r_int)


def spec_of(config: SubnetConfig) -> str:
    """The canonical spec text of a parsed config (compact JSON, keys ks, e, d, r)."""
    return json.dumps({"ks": list(config.ks), "e": list(config.e), "d": list(config.d), "r": [config.r]},
                      separators=(",", ":"))


def _check_list(value: Any, key: str, length: int, fail: _Fail, needs: str) -> None:
    """Refuse a ``value`` that is not a list of ``length`` entries (``needs`` says what the space needs)."""
    if not isinstance(value, list):
        raise fail(f"{key} must be a list of {length} integers, not {json.dumps(value)[:30]}")
    if len(value) != length:
        raise fail(f"{key} has {len(value)} entries; {needs}")


def _int_list(value: Any, key: str, length: int, fail: _Fail, needs: str) -> list[int]:
    _check_list(value, key, length, fail, needs)
    out = []
    for i, v in enumerate(value):
        n = as_int(v)
        if n is None:
            raise fail(f"{key}[{i}] = {json.dumps(v)} is not an integer")
        out.append(n)
    return out


def _choices(value: Any, key: str, length: int, allowed: tuple[int, ...], what: str, filler: int,
             active: set[int], fail: _Fail, needs: str) -> tuple[int, ...]:
    _check_list(value, key, length, fail, needs)
    out = []
    for i, v in enumerate(value):
        n = as_int(v)
        if v is None and i not in active:
            n = filler  # OFA's set_active_subnet skips None; the layer is off anyway
        elif n not in allowed:
            raise fail(f"{key}[{i}] = {json.dumps(v)} is not {what}; choose from {list(allowed)}")
        out.append(n if i in active else filler)
    return tuple(out)


def as_int(value: Any) -> int | None:
    """An int from a JSON number that is integral (3 or 3.0); None for anything else (incl. booleans)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
