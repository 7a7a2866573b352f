"""Placement: the (chip, core, slot) of every neuron, minimising expected routed events.

``problem`` (what to place: synapse pairs, classes, rates), ``resources`` (what a target offers),
``capacity`` (bounds and the diagnostics that name the resource at fault), ``cost`` (events of a
placement), ``bound`` (lower bounds), ``partition`` + ``hypergraph`` (core-sized blocks), ``chips``
(blocks onto chips and cores), ``local`` (neuron-level local search), ``repair`` (SRAM),
``cpsat`` (the exact model), ``slots`` (slot within a core) and ``solver`` (the whole search).
"""

from .solver import Placement, PlacementOptions, place

__all__ = ["Placement", "PlacementOptions", "place"]
