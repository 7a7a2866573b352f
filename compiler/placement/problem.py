"""The placement problem as flat arrays, built from the IR (numbering:
:mod:`neurocc.compiler.synapses`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidModelError
from ..ir import Network
from ..synapses import PopulationIndex, synapse_list

#: Rate given to every source when no simulation is available (events per step; only ratios matter).
DEFAULT_RATE = 1.0


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
    then input channels), e.g. from
    :func:`neurocc.compiler.driver.rates_from_simulation`; default uniform.
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
