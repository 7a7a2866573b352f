"""Backends: one target per chip, described as data; emitters and readers of chip configs.

:func:`emitter_for` names, per target, the functions that write and read its configuration
formats, so that a driver never imports a chip module by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from neurocc.compiler.errors import TargetError


@dataclass(frozen=True)
class Emitter:
    """The config formats of one target.

    ``config``: the JSON writer/reader (:class:`~neurocc.backends.config_json.JsonConfig`);
    ``to_samna``: fills a samna configuration object; ``extras``: other text formats by name, each
    a ``(dump, load)`` pair of functions.
    """

    target: str
    config: Any
    to_samna: Callable[..., Any]
    extras: dict[str, tuple[Callable[..., str], Callable[..., Any]]] = field(default_factory=dict)


#: Per target: its package and its extra text formats as (module, dump, load) names.
_REGISTRY: dict[str, tuple[str, dict[str, tuple[str, str, str]]]] = {
    "dynapse1": ("neurocc.backends.dynapse1", {
        "caer": ("caer", "dump_caer", "load_caer"),
        "cortexcontrol": ("cortexcontrol", "dump_cortexcontrol", "load_cortexcontrol")}),
    "dynapse2": ("neurocc.backends.dynapse2", {}),
}


def extra_formats() -> list[str]:
    """Every extra text format of any target (``compile`` writes them as ``<format>.txt``)."""
    return sorted({fmt for _, formats in _REGISTRY.values() for fmt in formats})


def emitter_for(target: Any) -> Emitter:
    """The emitter of a target (a :class:`~neurocc.backends.target.Target` or its name)."""
    name = target if isinstance(target, str) else target.name
    if name not in _REGISTRY:
        raise TargetError(f"no config emitter for target {name!r}", where=name,
                          fix=f"targets with emitters: {sorted(_REGISTRY)}")
    package, formats = _REGISTRY[name]
    extras = {}
    for fmt, (module, dump, load) in formats.items():
        mod = importlib.import_module(f"{package}.{module}")
        extras[fmt] = (getattr(mod, dump), getattr(mod, load))
    return Emitter(target=name, config=importlib.import_module(f"{package}.config").CONFIG,
                   to_samna=importlib.import_module(f"{package}.samna").to_samna, extras=extras)
