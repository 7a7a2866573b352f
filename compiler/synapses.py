"""The numbering of neurons, sources and synapses, shared by placement, routing and the checker.

* Neurons: the global index over the non-input populations in network order (``0..N-1``).
* Sources: neurons keep their index; input channel ``c`` (global index over the input
  populations in order) is source ``N + c``. In routing tables an input channel is written
  ``-1 - c`` instead (:mod:`neurocc.compiler.tables`); :meth:`Synapses.table_sources` converts.
* Synapses: projections in network order, and within one the non-zero weights in CSR storage
  order (post-major). Per-synapse arrays (types, weight codes, repeats) follow this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import scipy.sparse as sp

from .errors import InvalidModelError
from .ir import Network


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

    def table_sources(self, n_neurons: int) -> np.ndarray:
        """``pre`` in the routing tables' convention: input channel ``c`` as ``-1 - c``."""
        return np.where(self.pre < n_neurons, self.pre, -1 - (self.pre - n_neurons))


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
