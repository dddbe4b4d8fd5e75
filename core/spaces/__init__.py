"""Search spaces: one file per family, found by :func:`get_space` through a registry.

Adding a space is one new file in this package that defines a :class:`SearchSpace` subclass
decorated with :func:`register_space`; the package imports every module in it on first use.
"""
from __future__ import annotations

import importlib
import pkgutil
from core.errors import InputError
from core.spaces.base import SearchSpace

_REGISTRY: dict[str, type[SearchSpace]] = {}
_INSTANCES: dict[str, SearchSpace] = {}
_LOADED = False


def register_space(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: make ``cls`` available as ``get_space(cls.name)``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"space name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True


def space_names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get_space(name: str) -> SearchSpace:
    """The (shared, stateless) space instance registered under ``name``."""
    _load_all()
    if name not in _REGISTRY:
        raise InputError(f"unknown space {name!r}; choose one of {sorted(_REGISTRY)}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]


__all__: list[str] = ["SearchSpace", "register_space", "get_space", "space_names"]
