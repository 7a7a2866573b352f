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

from .problem import build_problem
from .solver import Placement, PlacementOptions, place

if TYPE_CHECKING:
    from ..compilation import Compilation

__all__ = ["Placement", "PlacementOptions", "place"]


def run(c: Compilation) -> Compilation:
    """Pass ``placement``: (chip, core, slot) of every neuron by CP-SAT / hierarchical search
    on expected events."""
    problem = build_problem(c.network, c.classes.class_of, rates=c.options.rates)
    return replace(c, placement=place(problem, c.target, c.options.placement))
