"""Backends: one target per chip, described as data; emitters and readers of chip configs.

``target`` (the chip's facts, loaded from each chip folder's ``target.json``), ``json_fields``
(the one strict JSON reader), ``config`` (the JSON configuration both generations share),
``readback`` (a configuration -> the IR network it implements), and one package per chip
(``dynapse1``, ``dynapse2``) with its codec, samna filling and lab formats.

:data:`EMITTERS` names, per target, the function that gathers its formats, so that a driver never
imports a chip module by name; each chip's modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from neurocc.compiler.errors import TargetError

from . import dynapse1, dynapse2
from .emitter import Emitter

if TYPE_CHECKING:
    from .target import Target

#: Target name -> its emitter (chip modules are imported when it is called).
EMITTERS: dict[str, Callable[[], Emitter]] = {
    "dynapse1": dynapse1.emitter,
    "dynapse2": dynapse2.emitter,
}


def extra_formats() -> list[str]:
    """Every extra text format of any target (``compile`` writes them as ``<format>.txt``)."""
    return sorted({fmt for make in EMITTERS.values() for fmt in make().extras})


def emitter_for(target: Target | str) -> Emitter:
    """The emitter of a target (a loaded :class:`~neurocc.backends.target.Target` or its name)."""
    name = target if isinstance(target, str) else target.name
    if name not in EMITTERS:
        raise TargetError(f"no config emitter for target {name!r}", where=name,
                          fix=f"targets with emitters: {sorted(EMITTERS)}")
    return EMITTERS[name]()
