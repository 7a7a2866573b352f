"""The network IR: populations of neurons and sparse projections between them.

Conventions (every frontend produces them, every pass keeps them, ``Network.verify`` checks them):

* Time is discrete with step ``Network.dt`` seconds; time constants are in seconds.
* Spiking models are normalised so that the firing threshold is 1: the state ``v`` of neuron ``i``
  is the original membrane value divided by its original threshold. NIR only fixes products
  (``r * W``, and ``r * w_in * W`` for CubaLIF), so the input gain ``r * w_in / v_threshold`` of a
  target neuron is folded into the rows of the weight matrices that reach it and into its ``bias``.
  The factors are kept in ``Population.scale`` so that nothing is lost.
* ``bias`` is a constant added, every step, to the summed weighted input of the neuron (at the
  synapse for the Cuba models, at the membrane otherwise), exactly like an Affine bias.
* A projection's weights are a ``scipy.sparse.csr_array`` of shape ``(target.size, source.size)``
  (rows are targets). Spiking sources deliver spikes of amplitude 1 per step; non-spiking sources
  (LI, CubaLI, I) deliver their state.
* ``delay`` counts steps. Delay-0 projections act within the step (a feed-forward chain sees the
  spikes of the same step, as the training frameworks do); recurrent back edges carry delay >= 1.
  The delay-0 subgraph must be acyclic.

Neuron models and their per-step (Euler) update, with ``x`` the summed input plus ``bias``::

    LIF      v += dt/tau_mem * (v_leak - v + x);                     spike if v > 1, reset
    CubaLIF  i += dt/tau_syn * (x - i); v += dt/tau_mem * (v_leak - v + i); spike if v > 1, reset
    IF       v += x;                                                 spike if v > 1, reset
    LI       v += dt/tau_mem * (v_leak - v + x)                      (no spikes: a readout)
    CubaLI   i += dt/tau_syn * (x - i); v += dt/tau_mem * (v_leak - v + i)
    I        v += x                                                  (integrator, no spikes)
    Threshold  spike = x > 1                                         (stateless)
    input    spikes given from outside

Reset is ``zero`` (v := v_reset) or ``subtract`` (v -= 1), applied right after the spike; a neuron
is refractory (input ignored, v held at v_reset) for ``round(refractory / dt)`` steps after it; a
CubaLIF's synaptic current keeps integrating while its membrane is held. Every state starts at 0 and
no neuron starts refractory.

snnTorch's ``Synaptic``/``RLeaky``/``RSynaptic`` with zero reset equal this zero reset plus one
refractory step (``refractory = dt``); its subtract reset removes the threshold after the leak, so it
has no exact equivalent here (the IR's ``subtract`` is the immediate one of Sinabs and Rockpool).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator

import networkx as nx
import numpy as np
import scipy.sparse as sp

from .errors import IRVerifyError

#: Parameters each neuron model carries (each a float array of shape ``(size,)``).
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "input": (),
    "LIF": ("tau_mem", "v_leak", "v_reset", "bias"),
    "CubaLIF": ("tau_mem", "tau_syn", "v_leak", "v_reset", "bias"),
    "IF": ("v_reset", "bias"),
    "LI": ("tau_mem", "v_leak", "bias"),
    "CubaLI": ("tau_mem", "tau_syn", "v_leak", "bias"),
    "I": ("bias",),
    "Threshold": ("bias",),
}
SPIKING_MODELS = frozenset({"input", "LIF", "CubaLIF", "IF", "Threshold"})
#: Models that reset after a spike (and so use ``reset`` and ``refractory``).
RESETTING_MODELS = frozenset({"LIF", "CubaLIF", "IF"})
RESET_MODES = ("zero", "subtract")
TIME_CONSTANTS = ("tau_mem", "tau_syn")


@dataclass(eq=False)
class Population:
    """A group of neurons of one model with per-neuron parameters.

    ``params`` holds one float64 array of shape ``(size,)`` per name in ``MODEL_PARAMS[model]``.
    ``scale`` holds the per-neuron factors that normalisation removed (``v_threshold``, ``r``,
    ``w_in`` of the source file); empty when the population was written in normal form.
    """

    name: str
    model: str
    size: int
    params: dict[str, np.ndarray] = field(default_factory=dict)
    reset: str = "zero"
    refractory: float = 0.0
    scale: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def spiking(self) -> bool:
        return self.model in SPIKING_MODELS

    @property
    def is_input(self) -> bool:
        return self.model == "input"

    def param(self, name: str) -> np.ndarray:
        return self.params[name]


@dataclass(eq=False)
class Projection:
    """Weighted connections from ``source`` to ``target`` (population names).

    ``weights`` is a CSR array of shape ``(target.size, source.size)``; zero entries are not
    synapses. ``delay`` is in steps.
    """

    name: str
    source: str
    target: str
    weights: sp.csr_array
    delay: int = 0

    @property
    def num_synapses(self) -> int:
        return int(self.weights.count_nonzero())

    @property
    def sign(self) -> str:
        """``excitatory``, ``inhibitory``, ``mixed`` or ``empty``, from the weights' signs."""
        data = self.weights.data[self.weights.data != 0]
        if data.size == 0:
            return "empty"
        if np.all(data > 0):
            return "excitatory"
        if np.all(data < 0):
            return "inhibitory"
        return "mixed"


@dataclass(eq=False)
class Network:
    """Populations, projections, and which populations are the external inputs and outputs."""

    populations: dict[str, Population] = field(default_factory=dict)
    projections: dict[str, Projection] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    dt: float = 1e-4
    name: str = "network"

    # -- building -------------------------------------------------------------------------
    def add_population(self, pop: Population) -> Population:
        if pop.name in self.populations:
            raise IRVerifyError(f"population {pop.name!r} already exists", fix="use unique names")
        self.populations[pop.name] = pop
        if pop.is_input:
            self.inputs.append(pop.name)
        return pop

    def add_projection(self, proj: Projection) -> Projection:
        if proj.name in self.projections:
            raise IRVerifyError(f"projection {proj.name!r} already exists", fix="use unique names")
        self.projections[proj.name] = proj
        return proj

    def copy(self) -> "Network":
        """A deep copy: passes never modify the network they were given."""
        return copy.deepcopy(self)

    # -- queries ----------------------------------------------------------------------------
    def incoming(self, population: str) -> Iterator[Projection]:
        return (p for p in self.projections.values() if p.target == population)

    def outgoing(self, population: str) -> Iterator[Projection]:
        return (p for p in self.projections.values() if p.source == population)

    def neurons(self, include_inputs: bool = False) -> int:
        """Number of neurons (external input channels excluded unless asked)."""
        return sum(p.size for p in self.populations.values() if include_inputs or not p.is_input)

    def synapses(self) -> int:
        return sum(p.num_synapses for p in self.projections.values())

    @property
    def recurrent(self) -> bool:
        """True when the population graph has a cycle (self-loops included)."""
        return not nx.is_directed_acyclic_graph(self.graph())

    def graph(self) -> nx.MultiDiGraph:
        """Population-level view: nodes are populations, edges are projections (key = name)."""
        g = nx.MultiDiGraph()
        for pop in self.populations.values():
            g.add_node(pop.name, population=pop)
        for proj in self.projections.values():
            g.add_edge(proj.source, proj.target, key=proj.name, projection=proj)
        return g

    def step_order(self) -> list[str]:
        """Populations in the order one time step must update them (delay-0 edges respected)."""
        g = nx.DiGraph()
        g.add_nodes_from(self.populations)
        g.add_edges_from((p.source, p.target) for p in self.projections.values() if p.delay == 0)
        return list(nx.lexicographical_topological_sort(g, key=list(self.populations).index))

    # -- invariants -------------------------------------------------------------------------
    def verify(self) -> "Network":
        """Check every invariant of the IR; raise :class:`IRVerifyError` naming the culprit.

        Returns ``self`` so that a pass can end with ``return net.verify()``.
        """
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise IRVerifyError(f"time step dt = {self.dt!r} s is not a positive number",
                                where=self.name, fix="pass a positive dt in seconds")
        for pop in self.populations.values():
            _verify_population(pop)
        for name in self.inputs:
            if name not in self.populations or not self.populations[name].is_input:
                raise IRVerifyError(f"input {name!r} is not an input population", where=self.name)
        missing_inputs = [p.name for p in self.populations.values()
                          if p.is_input and p.name not in self.inputs]
        if missing_inputs:
            raise IRVerifyError(f"input populations {missing_inputs} are not listed as inputs",
                                where=self.name)
        for name in self.outputs:
            if name not in self.populations:
                raise IRVerifyError(f"output {name!r} names no population", where=self.name,
                                    fix=f"choose one of {sorted(self.populations)}")
        for proj in self.projections.values():
            self._verify_projection(proj)
        self._verify_delay_zero_acyclic()
        return self

    def _verify_projection(self, proj: Projection) -> None:
        where = f"projection {proj.name!r} ({proj.source} -> {proj.target})"
        for end in (proj.source, proj.target):
            if end not in self.populations:
                raise IRVerifyError(f"dangling edge: population {end!r} does not exist", where=where)
        src, tgt = self.populations[proj.source], self.populations[proj.target]
        if tgt.is_input:
            raise IRVerifyError(f"projects into input population {tgt.name!r}", where=where,
                                fix="inputs receive only external spikes")
        if not isinstance(proj.weights, (sp.csr_array, sp.csr_matrix)):
            raise IRVerifyError(f"weights are {type(proj.weights).__name__}, not a CSR array",
                                where=where)
        if proj.weights.shape != (tgt.size, src.size):
            raise IRVerifyError(
                f"weights have shape {proj.weights.shape}, expected (target size, source size) = "
                f"({tgt.size}, {src.size})", where=where)
        bad = np.flatnonzero(~np.isfinite(proj.weights.data))
        if bad.size:
            coo = proj.weights.tocoo()
            k = bad[0]
            raise IRVerifyError(f"weight [{coo.row[k]}, {coo.col[k]}] is {coo.data[k]}", where=where,
                                fix="weights must be finite numbers")
        if not (isinstance(proj.delay, (int, np.integer)) and proj.delay >= 0):
            raise IRVerifyError(f"delay {proj.delay!r} is not a non-negative integer of steps",
                                where=where)

    def _verify_delay_zero_acyclic(self) -> None:
        g = nx.DiGraph()
        g.add_edges_from((p.source, p.target) for p in self.projections.values() if p.delay == 0)
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        raise IRVerifyError(f"cycle without delay: {path}", where=self.name,
                            fix="a recurrent connection needs a delay of at least one step")


def _verify_population(pop: Population) -> None:
    where = f"population {pop.name!r} ({pop.model})"
    if pop.model not in MODEL_PARAMS:
        raise IRVerifyError(f"unknown neuron model {pop.model!r}", where=where,
                            fix=f"use one of {sorted(MODEL_PARAMS)}")
    if not (isinstance(pop.size, (int, np.integer)) and pop.size > 0):
        raise IRVerifyError(f"size {pop.size!r} is not a positive integer", where=where)
    expected = set(MODEL_PARAMS[pop.model])
    if set(pop.params) != expected:
        raise IRVerifyError(
            f"parameters {sorted(pop.params)} do not match the model's {sorted(expected)}",
            where=where)
    for name, value in pop.params.items():
        value = np.asarray(value)
        if value.shape != (pop.size,):
            raise IRVerifyError(f"parameter {name} has shape {value.shape}, expected ({pop.size},)",
                                where=where)
        bad = np.flatnonzero(~np.isfinite(value))
        if bad.size:
            raise IRVerifyError(f"parameter {name}[{bad[0]}] is {value[bad[0]]}", where=where,
                                fix="parameters must be finite")
        if name in TIME_CONSTANTS:
            bad = np.flatnonzero(value <= 0)
            if bad.size:
                raise IRVerifyError(f"time constant {name}[{bad[0]}] = {value[bad[0]]} s is not "
                                    f"positive", where=where,
                                    fix="time constants must be > 0 seconds")
    if pop.reset not in RESET_MODES:
        raise IRVerifyError(f"reset mode {pop.reset!r} unknown", where=where,
                            fix=f"use one of {RESET_MODES}")
    if not (np.isfinite(pop.refractory) and pop.refractory >= 0):
        raise IRVerifyError(f"refractory period {pop.refractory!r} s is not >= 0", where=where)
    for name, value in pop.scale.items():
        if np.asarray(value).shape != (pop.size,):
            raise IRVerifyError(f"scale factor {name} has shape {np.asarray(value).shape}, "
                                f"expected ({pop.size},)", where=where)


def make_population(name: str, model: str, size: int, **params: float | np.ndarray) -> Population:
    """Build a population, broadcasting scalar parameters; missing parameters default to 0.

    Time constants have no default and must be given. ``reset``, ``refractory`` and ``scale`` are
    taken from ``params`` when present.
    """
    reset = str(params.pop("reset", "zero"))
    refractory = float(params.pop("refractory", 0.0))
    scale = params.pop("scale", {})
    if model not in MODEL_PARAMS:
        raise IRVerifyError(f"unknown neuron model {model!r}", where=f"population {name!r}",
                            fix=f"use one of {sorted(MODEL_PARAMS)}")
    unknown = set(params) - set(MODEL_PARAMS[model])
    if unknown:
        raise IRVerifyError(f"model {model} has no parameters {sorted(unknown)}",
                            where=f"population {name!r}",
                            fix=f"{model} takes {list(MODEL_PARAMS[model])}")
    values = {}
    for pname in MODEL_PARAMS[model]:
        if pname not in params and pname in TIME_CONSTANTS:
            raise IRVerifyError(f"missing time constant {pname}", where=f"population {name!r}")
        values[pname] = np.broadcast_to(
            np.asarray(params.get(pname, 0.0), dtype=np.float64), (size,)).copy()
    scale = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (size,)).copy()
             for k, v in scale.items()}
    return Population(name=name, model=model, size=int(size), params=values, reset=reset,
                      refractory=refractory, scale=scale)


def networks_equal(a: Network, b: Network, *, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Structural and numerical equality of two networks (exact by default)."""
    if (a.dt != b.dt and not np.isclose(a.dt, b.dt, rtol=rtol, atol=atol)) or \
            a.inputs != b.inputs or a.outputs != b.outputs:
        return False
    if list(a.populations) != list(b.populations) or set(a.projections) != set(b.projections):
        return False
    for name, pa in a.populations.items():
        pb = b.populations[name]
        if (pa.model, pa.size, pa.reset) != (pb.model, pb.size, pb.reset):
            return False
        if not np.isclose(pa.refractory, pb.refractory, rtol=rtol, atol=atol):
            return False
        if set(pa.params) != set(pb.params) or not all(
                np.allclose(pa.params[k], pb.params[k], rtol=rtol, atol=atol) for k in pa.params):
            return False
    for name, qa in a.projections.items():
        qb = b.projections[name]
        if (qa.source, qa.target, qa.delay) != (qb.source, qb.target, qb.delay):
            return False
        wa, wb = sp.csr_array(qa.weights), sp.csr_array(qb.weights)
        if wa.shape != wb.shape:
            return False
        diff = abs(wa - wb)
        if diff.nnz and diff.max() > atol + rtol * abs(wb).max():
            return False
        if (wa != 0).sum() != (wb != 0).sum():
            return False
    return True
