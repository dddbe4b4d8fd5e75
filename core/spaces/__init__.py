"""Search spaces: one file per family, found by :func:`get_space` through a registry.

Adding a space is one new file in this package that defines a :class:`SearchSpace` subclass
decorated with :func:`register_space`, plus its line in :data:`SPACE_MODULES` (name -> module).
The table lets :func:`get_space` import only the module it needs, and :func:`space_names` answer
without importing any: an unknown name or a bad argument never pulls in torch (the OFA spaces'
networks) or the benchmark tables. A test holds the table to the modules' registrations.
"""
from __future__ import annotations

import importlib

from core.errors import InputError
from core.spaces.base import SearchSpace

_REGISTRY: dict[str, type[SearchSpace]] = {}
_INSTANCES: dict[str, SearchSpace] = {}

SPACE_MODULES: dict[str, str] = {
    "graph": "core.spaces.generic_graph",
    "nasbench-graph": "core.spaces.nasbench_graph",
    "nasbench201": "core.spaces.nasbench201",
    "ofa-mbv3": "core.spaces.ofa_mbv3",
    "ofa-pn": "core.spaces.ofa_pn",
    "onnx": "core.spaces.onnx_space",
    "sd-unet": "core.spaces.sd_unet",
}


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: make ``cls`` available as ``get_space(cls.name)``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"space name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def space_names() -> list[str]:
    """Every space's name: the shipped ones in :data:`SPACE_MODULES` and any registered since."""
    return sorted(set(SPACE_MODULES) | set(_REGISTRY))


def get_space(name: str) -> SearchSpace:
    """The (shared, stateless) space instance registered under ``name``; imports its module on first use."""
    if name not in _REGISTRY and name in SPACE_MODULES:
        importlib.import_module(SPACE_MODULES[name])
    if name not in _REGISTRY:
        raise InputError(f"unknown space {name!r}; choose one of {space_names()}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]


__all__: list[str] = ["SearchSpace", "register_space", "get_space", "space_names"]
