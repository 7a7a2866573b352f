"""The placement problem as flat arrays, built from the IR.

Numbering (shared with routing and the checker):

* Neurons: the global index over the non-input populations in network order (``0..N-1``).
* Sources: neurons keep their index; input channel ``c`` (global index over the input
  populations in order) is source ``N + c``.
* Synapses: projections in network order, and within one the non-zero weights in CSR storage
  order (post-major). Per-synapse arrays (types, weight codes) follow this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidModelError
from ..ir import Network

#: Rate given to every source when no simulation is available (events per step; only ratios matter).
DEFAULT_RATE = 1.0


@dataclass(frozen=True, eq=False)
class Synapses:
    """Every synapse of the network in canonical order, with global pre/post indices."""

    pre: np.ndarray  # source index (neuron, or N + input channel)
    post: np.ndarray  # neuron index
    projection: np.ndarray  # index of the projection in ``net.projections``
    #: For each projection name, the slice of the canonical order holding its synapses.
    spans: dict[str, slice]

    @property
    def size(self) -> int:
        return int(self.pre.size)


@dataclass(frozen=True, eq=False)
class PopulationIndex:
    """Names of the neuron and input populations with their global offsets, for messages."""

    neuron_pops: tuple[tuple[str, int, int], ...]  # (name, start, size)
    input_pops: tuple[tuple[str, int, int], ...]

    @staticmethod
    def of(net: Network) -> "PopulationIndex":
        neurons, inputs, n, m = [], [], 0, 0
        for pop in net.populations.values():
            if pop.is_input:
                inputs.append((pop.name, m, pop.size))
                m += pop.size
            else:
                neurons.append((pop.name, n, pop.size))
                n += pop.size
        return PopulationIndex(tuple(neurons), tuple(inputs))

    @property
    def n_neurons(self) -> int:
        return sum(size for _, _, size in self.neuron_pops)

    @property
    def n_inputs(self) -> int:
        return sum(size for _, _, size in self.input_pops)

    def offsets(self) -> dict[str, int]:
        """Global source offset of every population (inputs shifted by N)."""
        out = {name: start for name, start, _ in self.neuron_pops}
        out.update({name: self.n_neurons + start for name, start, _ in self.input_pops})
        return out

    def population_of(self, neuron: int) -> tuple[str, int]:
        for name, start, size in self.neuron_pops:
            if start <= neuron < start + size:
                return name, neuron - start
        raise IndexError(neuron)

    def describe_source(self, source: int) -> str:
        """``population 'h'[3]`` for a neuron, ``input 'x'[0]`` for an input channel."""
        if source < self.n_neurons:
            name, i = self.population_of(source)
            return f"{name}[{i}]"
        channel = source - self.n_neurons
        for name, start, size in self.input_pops:
            if start <= channel < start + size:
                return f"input {name}[{channel - start}]"
        raise IndexError(source)

    def populations_of(self, neurons: np.ndarray) -> dict[str, int]:
        """How many of ``neurons`` each population holds (populations with none left out)."""
        neurons = np.asarray(neurons)
        out = {}
        for name, start, size in self.neuron_pops:
            k = int(np.count_nonzero((neurons >= start) & (neurons < start + size)))
            if k:
                out[name] = k
        return out


def synapse_list(net: Network) -> Synapses:
    """All synapses (non-zero weights) of ``net`` in the canonical order."""
    index = PopulationIndex.of(net)
    offsets = index.offsets()
    pres, posts, projs, spans, at = [], [], [], {}, 0
    for p, proj in enumerate(net.projections.values()):
        w = sp.csr_array(proj.weights)
        rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
        keep = w.data != 0
        pre = w.indices[keep].astype(np.int64) + offsets[proj.source]
        post = rows[keep].astype(np.int64) + offsets[proj.target]
        pres.append(pre)
        posts.append(post)
        projs.append(np.full(pre.size, p, dtype=np.int64))
        spans[proj.name] = slice(at, at + pre.size)
        at += pre.size
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64))
    return Synapses(cat(pres), cat(posts), cat(projs), spans)


def per_synapse(values: Mapping[str, np.ndarray] | np.ndarray, synapses: Synapses,
                what: str) -> np.ndarray:
    """Flatten per-projection arrays (aligned with each projection's non-zero weights) into the
    canonical synapse order; a flat array is checked and passed through."""
    if isinstance(values, Mapping):
        out = np.zeros(synapses.size, dtype=np.int64)
        for name, span in synapses.spans.items():
            if name not in values:
                raise InvalidModelError(f"no {what} given for projection {name!r}",
                                        fix=f"give {what} for every projection")
            v = np.asarray(values[name]).ravel()
            if v.size != span.stop - span.start:
                raise InvalidModelError(
                    f"{v.size} {what} given for projection {name!r}, which has "
                    f"{span.stop - span.start} synapses", fix="one value per non-zero weight")
            out[span] = v
        return out
    values = np.asarray(values).ravel()
    if values.size != synapses.size:
        raise InvalidModelError(f"{values.size} {what} given for {synapses.size} synapses",
                                fix="one value per non-zero weight, in projection order")
    return values.astype(np.int64)


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    """What placement needs to know, as arrays.

    ``pre``/``post`` are the distinct (source, neuron) pairs: two synapses between the same pair
    (several projections) route as one connection. ``cam_cost[n]`` is the number of CAM entries
    neuron ``n`` needs (repeated entries included); ``rate[s]`` the expected events per step of
    source ``s``.
    """

    n_neurons: int
    n_inputs: int
    neuron_class: np.ndarray
    cam_cost: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    rate: np.ndarray
    index: PopulationIndex

    @property
    def n_sources(self) -> int:
        return self.n_neurons + self.n_inputs

    def incidence(self) -> sp.csr_array:
        """(sources x neurons) 0/1 matrix: which neurons each source reaches."""
        data = np.ones(self.pre.size, dtype=np.float64)
        return sp.csr_array((data, (self.pre, self.post)), shape=(self.n_sources, self.n_neurons))

    def fan_out(self) -> np.ndarray:
        return np.bincount(self.pre, minlength=self.n_sources)

    def fan_in(self) -> np.ndarray:
        return np.bincount(self.post, minlength=self.n_neurons)


def build_problem(net: Network, classes: np.ndarray, cam_cost: np.ndarray | None = None,
                  rates: np.ndarray | None = None) -> PlacementProblem:
    """Placement problem of ``net``.

    ``classes``: parameter class id per neuron. ``cam_cost``: CAM entries each neuron needs
    (default: one per incoming synapse). ``rates``: events per step of every source (neurons,
    then input channels), e.g. from :func:`rates_from_simulation`; default uniform.
    """
    index = PopulationIndex.of(net)
    n, m = index.n_neurons, index.n_inputs
    syn = synapse_list(net)
    classes = _vector(classes, n, "parameter classes", np.int64)
    if cam_cost is None:
        cam_cost = np.bincount(syn.post, minlength=n)
    cam_cost = _vector(cam_cost, n, "CAM costs", np.int64)
    rate = np.full(n + m, DEFAULT_RATE) if rates is None else _vector(rates, n + m, "rates",
                                                                      np.float64)
    if np.any(rate < 0) or not np.all(np.isfinite(rate)):
        raise InvalidModelError("source rates must be finite and >= 0",
                                fix="pass rates from a simulation, or none for a uniform rate")
    pair = np.unique(syn.pre * max(n, 1) + syn.post)
    return PlacementProblem(n_neurons=n, n_inputs=m, neuron_class=classes, cam_cost=cam_cost,
                            pre=pair // max(n, 1), post=pair % max(n, 1), rate=rate, index=index)


def _vector(values, size: int, what: str, dtype) -> np.ndarray:
    values = np.asarray(values, dtype=dtype).ravel()
    if values.size != size:
        raise InvalidModelError(f"{values.size} {what} given for {size} entries",
                                fix=f"give one value per {'source' if what == 'rates' else 'neuron'}")
    return values


def rates_from_simulation(net: Network, inputs) -> np.ndarray:
    """Mean events per step of every source (neurons, then input channels), from the reference
    simulator on the user's ``inputs``. Non-spiking populations (which cannot drive hardware
    synapses anyway) get the default rate."""
    from neurocc.runtime.reference import simulate  # the simulator is optional for placement

    spikes = simulate(net, inputs).spikes

    def mean(pop) -> np.ndarray:
        if pop.name not in spikes:
            return np.full(pop.size, DEFAULT_RATE)
        return np.asarray(spikes[pop.name], dtype=np.float64).reshape(-1, pop.size).mean(axis=0)

    pops = list(net.populations.values())
    parts = [mean(p) for p in pops if not p.is_input] + [mean(p) for p in pops if p.is_input]
    return np.concatenate(parts) if parts else np.zeros(0)
