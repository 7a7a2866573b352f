"""Placement: the (chip, core, slot) of every neuron, minimising expected routed events.

``problem`` (what to place: synapse pairs, classes, rates), ``resources`` (what a target offers),
``capacity`` (bounds and the diagnostics that name the resource at fault), ``cost`` (events of a
placement), ``bound`` (lower bounds), ``partition`` + ``hypergraph`` (core-sized blocks), ``chips``
(blocks onto chips and cores), ``local`` (neuron-level local search), ``repair`` (SRAM),
``cpsat`` (the exact model), ``slots`` (slot within a core) and ``solver`` (the whole search).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import KeyCapacityError
from .problem import build_problem
from .resources import as_resources, class_blocks
from .solver import Placement, PlacementOptions, place

if TYPE_CHECKING:
    from ..compilation import Compilation

__all__ = ["Placement", "PlacementOptions", "place"]


def run(c: Compilation) -> Compilation:
    """Pass ``placement``: (chip, core, slot) of every neuron by CP-SAT / hierarchical search
    on expected events."""
    problem = build_problem(c.network, c.classes.class_of, rates=c.options.rates)
    return replace(c, placement=place(problem, c.target, c.options.placement))


def spread(c: Compilation, exc: KeyCapacityError) -> Compilation:
    """``c`` (the state the placement pass started from) allowing half as many neurons per core
    as its last placement, when the classes still fit the given cores; else ``exc``, whose fix
    names the chips to add."""
    res = as_resources(c.target)
    fill = (c.options.placement.fill or res.neurons_per_core) // 2
    _, counts = np.unique(c.classes.class_of, return_counts=True)
    if fill < 1 or class_blocks(counts, np.minimum(res.core_capacity(), fill)) is None:
        raise KeyCapacityError(
            f"{exc.message} (even with at most {2 * fill} neurons per core on the "
            f"{res.chips} chip(s) given)", where=exc.where,
            fix=f"pass --chips {2 * res.chips} so that the neurons can spread further, or "
                "reduce the fan-in diversity") from None
    placement = replace(c.options.placement, fill=fill)
    return replace(c, options=replace(c.options, placement=placement))
