"""The whole compile, as a list of passes.

A :class:`Compilation` is the state that flows through the passes: the input network (never
modified), the target, the options, and one field per stage that a pass fills. A pass is a pure
function ``Compilation -> Compilation``; after each one :func:`verify` checks the state (the
network's invariants and the consistency of what the stages produced so far).

    PIPELINE = canonicalise -> capacity bounds -> map circuits -> parameter classes -> place
               -> quantize weights -> route -> check tables -> realised network

The order between quantization and placement: weights are per-core resources, so quantization
runs per placed core; placement only needs each neuron's CAM use, which is known before
quantization (one entry per synapse; see :mod:`core_weights`). The independent checker re-reads
the final tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import numpy as np
import scipy.sparse as sp

from . import diagnostics
from .checker import CheckReport, check, expected_synapses
from .circuits import CircuitMap, CircuitOptions, currents_to_params, map_circuits
from .classes import ParameterClasses, assign_classes
from .core_weights import CoreWeights, WeightOptions, quantize_cores
from .errors import IRVerifyError, KeyCapacityError, UnsupportedError
from .ir import Network
from .placement import Placement, PlacementOptions, place
from .placement_problem import build_problem
from .placement_resources import as_resources, class_blocks
from .routing import route
from .tables import RoutingTables


@dataclass(frozen=True)
class CompileOptions:
    """Every choice of a compile. ``class_tolerance``: largest relative error of any core-level
    current of a neuron when it shares its core's biases. ``rates``: events per step of every
    source (neurons, then input channels) for the placement objective; None = uniform."""

    circuit: CircuitOptions = CircuitOptions()
    class_tolerance: float = 0.05
    weights: WeightOptions = WeightOptions()
    placement: PlacementOptions = PlacementOptions()
    rates: Optional[np.ndarray] = None


@dataclass(frozen=True, eq=False)
class Compilation:
    """The state passes transform; each stage field is None until its pass has run."""

    network: Network
    target: Any
    options: CompileOptions
    circuits: Optional[CircuitMap] = None
    classes: Optional[ParameterClasses] = None
    placement: Optional[Placement] = None
    weights: Optional[CoreWeights] = None
    tables: Optional[RoutingTables] = None
    check: Optional[CheckReport] = None
    realised: Optional[Network] = None
    seconds: dict[str, float] = field(default_factory=dict)


Pass = Callable[[Compilation], Compilation]


def canonicalise(c: Compilation) -> Compilation:
    """A private copy of the network whose weights are canonical CSR (sorted, no explicit zeros),
    so that every per-synapse array of later stages aligns with ``weights.data``."""
    net = c.network.copy()
    for proj in net.projections.values():
        w = sp.csr_array(proj.weights, copy=True)
        w.sum_duplicates()
        w.eliminate_zeros()
        w.sort_indices()
        proj.weights = w
    return replace(c, network=net)


def check_capacity(c: Compilation) -> Compilation:
    """Cheap bounds before any mapping or solving: cores, CAM fan-in, SRAM fan-out (with every
    neuron in one class, so each bound is a true lower bound); fails with the resource named."""
    problem = build_problem(c.network, np.zeros(c.network.neurons(), dtype=np.int64))
    diagnostics.check_bounds(problem, as_resources(c.target))
    return c


def map_to_circuits(c: Compilation) -> Compilation:
    """Neuron and synapse parameters -> requested DPI circuit currents."""
    circuits = map_circuits(c.network, c.target, c.options.circuit)
    if circuits.host_readouts:
        raise UnsupportedError(
            f"non-spiking output populations {list(circuits.host_readouts)} cannot run on the "
            f"chip", where=c.network.name,
            fix="train with a spiking output layer (LIF/CubaLIF/IF) and read its spike counts")
    return replace(c, circuits=circuits)


def group_classes(c: Compilation) -> Compilation:
    """Neurons that can share a core's biases (within the tolerance) form a parameter class."""
    classes = assign_classes(c.circuits, c.target, tolerance=c.options.class_tolerance)
    return replace(c, classes=classes)


def place_neurons(c: Compilation) -> Compilation:
    """(chip, core, slot) of every neuron: CP-SAT / hierarchical search on expected events.

    When the cores run out of keys, the neurons are spread over more of the given cores
    (:func:`_spread`)."""
    while True:
        try:
            return replace(c, placement=_place(c))
        except KeyCapacityError as exc:
            c = _spread(c, exc)


def _place(c: Compilation) -> Placement:
    problem = build_problem(c.network, c.classes.class_of, rates=c.options.rates)
    return place(problem, c.target, c.options.placement)


def _spread(c: Compilation, exc: KeyCapacityError) -> Compilation:
    """``c`` with half as many neurons allowed per core as its last placement, when the classes
    still fit the given cores; else ``exc``, whose fix names the chips to add."""
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


def quantize_weights(c: Compilation) -> Compilation:
    """Per placed core: quantize incoming weight currents, realise every current as a bias."""
    weights = quantize_cores(c.circuits, c.classes, c.placement.core_of, c.target,
                             c.options.weights)
    return replace(c, weights=weights)


def route_events(c: Compilation) -> Compilation:
    """Keys, CAM and SRAM rows; every used core gets its (coarse, fine) biases.

    When the keys of a core run out, the neurons are placed again spread over more of the given
    cores (:func:`_spread`) and quantized again, until the network routes."""
    while True:
        try:
            w = c.weights
            tables = route(c.network, c.placement, c.target, w.syn_type, w.code, w.repeats)
            break
        except KeyCapacityError as exc:
            c = quantize_weights(place_neurons(_spread(c, exc)))
    for (chip, core), config in tables.cores.items():
        choices = w.core_biases[chip * tables.cores_per_chip + core]
        config.biases = {ch.name: (int(ch.coarse), int(ch.fine)) for ch in choices.values()}
    return replace(c, tables=tables)


def compile_notes(c: Compilation) -> list[str]:
    """What the compile did that the user did not ask for: delays it cannot realise, and a
    placement spread over more cores because full cores ran out of keys."""
    notes = []
    delayed = [f"{p.name!r} ({p.delay} steps)" for p in c.network.projections.values()
               if p.delay > 1]
    if delayed:
        more = f" and {len(delayed) - 4} more" if len(delayed) > 4 else ""
        notes.append(f"projection delays not realised: {', '.join(delayed[:4])}{more}; neurocc "
                     "programs no synaptic delay, so each event reaches its targets with the "
                     "chip's own routing latency (one step in the circuit simulator)")
    fill = c.options.placement.fill
    if fill is not None:
        notes.append(f"placement spread the neurons, at most {fill} per core: full cores would "
                     "receive more distinct sources than their keys tell apart")
    return notes


def check_tables(c: Compilation) -> Compilation:
    """The independent checker: what the tables deliver must be exactly the quantized network."""
    w = c.weights
    expected = expected_synapses(c.network, w.syn_type, w.code, c.target.weights.scheme,
                                 w.repeats)
    report = check(c.tables, c.target, expected, c.classes.class_of)
    report.raise_if_failed()
    return replace(c, check=report)


def realise_network(c: Compilation) -> Compilation:
    """The IR network the chip implements: realised currents turned back into parameters."""
    realised_map = c.circuits.with_currents(c.weights.neuron_currents, c.weights.realised_iw)
    return replace(c, realised=currents_to_params(c.network, realised_map, c.target))


PIPELINE: tuple[Pass, ...] = (
    canonicalise,
    check_capacity,
    map_to_circuits,
    group_classes,
    place_neurons,
    quantize_weights,
    route_events,
    check_tables,
    realise_network,
)


def verify(c: Compilation) -> Compilation:
    """Invariants after every pass: the IR verifies, and the stages agree on sizes."""
    c.network.verify()
    n = c.network.neurons()
    if c.classes is not None and c.classes.class_of.size != n:
        raise IRVerifyError(f"{c.classes.class_of.size} class ids for {n} neurons",
                            where="parameter classes")
    if c.placement is not None and c.placement.core_of.size != n:
        raise IRVerifyError(f"{c.placement.core_of.size} placed neurons for {n}",
                            where="placement")
    if c.realised is not None:
        c.realised.verify()
    return c


def run_pipeline(network: Network, target: Any, options: CompileOptions = CompileOptions(),
                 passes: tuple[Pass, ...] = PIPELINE,
                 progress: Callable[[str], None] | None = None) -> Compilation:
    """Run ``passes`` in order, verifying after each; ``progress`` hears each pass's name."""
    state = verify(Compilation(network=network, target=target, options=options))
    for step in passes:
        if progress is not None:
            progress(step.__name__)
        start = time.perf_counter()
        state = verify(step(state))
        state.seconds[step.__name__] = time.perf_counter() - start
    return state
