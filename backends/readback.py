"""Read a configuration back into the IR: what network does the chip actually run?

``tables_to_network`` goes config -> hardware network -> IR:

1. Every neuron's realised currents are its core's biases: ``target.bias_current(name, coarse,
   fine)`` for each role the target realises with a bias (``I_spkthr`` on a target whose spike
   threshold is fixed comes from the mapping options, as in the forward mapping).
2. Every synapse the routing memories deliver (:func:`~neurocc.compiler.tables.delivered_synapses`,
   the SRAM x CAM join) gets its realised weight current: ``base_sum`` targets add the post core's
   base weight currents selected by the CAM entry's mask (bit 0 first); ``count`` targets give each
   entry the post core's weight bias of the entry's type. Repeated entries add up (in CAM row
   order).
3. :func:`~neurocc.compiler.circuits.currents_to_params` turns currents into normalised IR
   parameters and weights (the inverse of the forward mapping).

Populations, their order and the neuron numbering come from the tables; projection names and
delays from :class:`ConfigMeta` when the config recorded them. Without them, synapses are grouped
per (source population, target population) into a projection named ``"source->target"`` with delay
0, or 1 when the source does not come before the target (inputs first, then the tables' population
order), which keeps every cycle delayed. The chip cannot tell apart two projections between the same
pair of populations: their synapses all come back in the first one.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import scipy.sparse as sp

from neurocc.backends.circuit_constants import NEURON_ROLES
from neurocc.backends.config.meta import ConfigMeta, ProjectionRecord
from neurocc.backends.target import Target
from neurocc.compiler.circuits import (CircuitMap, CircuitOptions, PopulationCircuits,
                                       ProjectionCircuits, currents_to_params)
from neurocc.compiler.errors import ConfigError
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.compiler.tables import RoutingTables, delivered_synapses

#: The time step assumed when the config records none (snnTorch's export convention).
DEFAULT_DT = 1e-4


def tables_to_network(tables: RoutingTables, target: Target, meta: ConfigMeta = ConfigMeta(),
                      *, name: str = "readback") -> Network:
    """The verified IR network that ``tables`` realise on ``target`` (see the module docstring).

    Input populations come first, then the tables' populations in order; the outputs are the
    tables' outputs.
    """
    options = meta.circuit_options or CircuitOptions()
    dt = float(meta.dt) if meta.dt is not None else DEFAULT_DT
    core_currents = _core_currents(tables, target, options)
    numbering = _Numbering(tables, target.total_neurons)
    syn = _synapse_currents(tables, target, core_currents, numbering)
    records = list(meta.projections) or _default_projections(tables, syn)
    skeleton = _skeleton(tables, records, dt, name)
    pops = {}
    for p, (pname, size) in enumerate(tables.populations):
        hw = numbering.hw_of(p)
        types = _received_types(target, tables, syn["type"][syn["post_pop"] == p])
        roles = list(NEURON_ROLES) + [r for st in types for r in (st.tau_role, st.gain_role)]
        currents = {role: _per_neuron(core_currents, role, hw, tables, pname) for role in roles}
        pops[pname] = PopulationCircuits(name=pname, model="LIF", size=size, currents=currents,
                                         synapse_types=tuple(st.name for st in types))
    projs = _projection_circuits(records, syn, tables, target)
    realised = CircuitMap(target=target.name, options=options, dt=dt, populations=pops,
                          projections=projs)
    return currents_to_params(skeleton, realised, target)


# -- realised currents ---------------------------------------------------------------------------
def _core_currents(tables: RoutingTables, target: Target, options: CircuitOptions
                   ) -> dict[tuple[int, int], dict[str, float]]:
    """Per core, the current of every role its biases realise (plus a fixed spike threshold)."""
    out = {}
    for key, core in tables.cores.items():
        currents = {}
        for bias_name, (coarse, fine) in core.biases.items():
            role = target.bias(bias_name).role
            if role is not None:
                currents[role] = target.bias_current(bias_name, coarse, fine)
        if target.bias_for_role("I_spkthr") is None:
            currents["I_spkthr"] = options.spike_threshold_current
        out[key] = currents
    return out


def _per_neuron(core_currents: Mapping[tuple[int, int], Mapping[str, float]], role: str,
                hw: np.ndarray, tables: RoutingTables, pname: str) -> np.ndarray:
    chips, cores, slots = tables.hw_location(hw)
    values = np.empty(hw.size)
    for i, key in enumerate(zip(chips.tolist(), cores.tolist())):
        found = core_currents.get(key)
        if found is None or role not in found:
            missing = "has no settings" if found is None else f"sets no bias for {role}"
            raise ConfigError(f"core (chip {key[0]}, core {key[1]}) {missing}, but neuron "
                              f"{i} of population {pname!r} (neuron {slots[i]}) needs it",
                              where="config", fix="give every used core all the biases its "
                                                  "neurons' circuits need")
        values[i] = found[role]
    return values


class _Numbering:
    """IR identity of hardware neurons and input channels."""

    def __init__(self, tables: RoutingTables, total: int):
        self.tables = tables
        self.pop_of = np.full(total, -1, dtype=np.int64)
        self.local_of = np.full(total, -1, dtype=np.int64)
        self.starts, start = [], 0
        for p, (_, size) in enumerate(tables.populations):
            hw = tables.neuron_hw[start:start + size]
            self.pop_of[hw] = p
            self.local_of[hw] = np.arange(size)
            self.starts.append(start)
            start += size
        self.channel_pop: list[int] = []
        for p, (_, size) in enumerate(tables.input_populations):
            self.channel_pop += [p] * size
        self.channel_local = np.concatenate(
            [np.arange(s) for _, s in tables.input_populations] or [np.zeros(0, np.int64)])

    def hw_of(self, p: int) -> np.ndarray:
        start, size = self.starts[p], self.tables.populations[p][1]
        return self.tables.neuron_hw[start:start + size]

    def sources(self, src: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Source population name and local index of SRAM-convention sources."""
        names, local = [], np.empty(src.size, dtype=np.int64)
        pops, inputs = self.tables.populations, self.tables.input_populations
        for i, s in enumerate(src.tolist()):
            if s >= 0:
                names.append(pops[self.pop_of[s]][0])
                local[i] = self.local_of[s]
            else:
                names.append(inputs[self.channel_pop[-1 - s]][0])
                local[i] = self.channel_local[-1 - s]
        return names, local


def _synapse_currents(tables: RoutingTables, target: Target,
                      core_currents: Mapping[tuple[int, int], Mapping[str, float]],
                      numbering: _Numbering) -> dict[str, Any]:
    """Delivered synapses merged per (source, post, type), with their summed weight current.

    Sources use the SRAM convention (hardware id >= 0, input channel c as -1 - c).
    """
    d = delivered_synapses(tables)
    i_w = np.empty(d.code.size)
    post_core = d.post // tables.neurons_per_core
    for gcore in np.unique(post_core).tolist():
        key = (gcore // tables.cores_per_chip, gcore % tables.cores_per_chip)
        rows = np.flatnonzero(post_core == gcore)
        i_w[rows] = _weight_current(target, tables, core_currents.get(key, {}),
                                    d.syn_type[rows], d.code[rows], key)
    hw_src = np.where(d.src >= 0, d.src, d.post)
    bad = np.flatnonzero((numbering.pop_of[d.post] < 0) | (numbering.pop_of[hw_src] < 0))
    if bad.size:
        k = bad[0]
        raise ConfigError(f"a synapse from source {int(d.src[k])} to hardware neuron "
                          f"{int(d.post[k])} involves a neuron outside neuron_map",
                          where="config", fix="map every neuron that sends or receives events "
                                              "to a population")
    keys, inverse = np.unique(np.stack((d.src, d.post, d.syn_type)), axis=1, return_inverse=True)
    summed = np.zeros(keys.shape[1])
    np.add.at(summed, inverse.ravel(), i_w)
    src_pop, src_local = numbering.sources(keys[0])
    return {"src_pop": np.asarray(src_pop, dtype=object), "src_local": src_local,
            "post_pop": numbering.pop_of[keys[1]], "post_local": numbering.local_of[keys[1]],
            "type": keys[2], "i_w": summed}


def _weight_current(target: Target, tables: RoutingTables, currents: Mapping[str, float],
                    types: np.ndarray, codes: np.ndarray, core: tuple[int, int]) -> np.ndarray:
    """Weight current of each CAM entry delivered to one core."""
    def need(role: str) -> float:
        if role not in currents:
            raise ConfigError(f"core (chip {core[0]}, core {core[1]}) sets no bias for {role} but "
                              f"its neurons receive synapses that need it", where="config",
                              fix="set the core's weight biases")
        return currents[role]

    synapse_types = [target.synapse_type(name) for name in tables.syn_types]
    return target.weights.entry_current(codes, types, synapse_types, lambda role, _: need(role))


def _received_types(target: Target, tables: RoutingTables, types: np.ndarray) -> list[Any]:
    """Synapse types a population receives, in the target's order."""
    names = {tables.syn_types[t] for t in np.unique(types).tolist()}
    return [st for st in target.synapse_types if st.name in names]


# -- projections -----------------------------------------------------------------------------------
def _default_projections(tables: RoutingTables, syn: Mapping[str, Any]
                         ) -> list[ProjectionRecord]:
    """One projection per (source, target) population pair; delay 1 unless source comes first."""
    order = [n for n, _ in tables.input_populations] + [n for n, _ in tables.populations]
    pairs = {(s, tables.populations[t][0]) for s, t in zip(syn["src_pop"], syn["post_pop"])}
    out = []
    for source, target in sorted(pairs, key=lambda st: (order.index(st[0]), order.index(st[1]))):
        delay = 0 if order.index(source) < order.index(target) else 1
        out.append(ProjectionRecord(f"{source}->{target}", source, target, delay))
    return out


def _skeleton(tables: RoutingTables, records: list[ProjectionRecord], dt: float,
              name: str) -> Network:
    """The network's structure with placeholder parameters and empty weights."""
    net = Network(dt=dt, name=name)
    sizes = dict(tables.input_populations + tables.populations)
    for pname, size in tables.input_populations:
        net.add_population(make_population(pname, "input", size))
    for pname, size in tables.populations:
        net.add_population(make_population(pname, "LIF", size, tau_mem=1.0))
    for rec in records:
        shape = (sizes[rec.target], sizes[rec.source])
        net.add_projection(Projection(rec.name, rec.source, rec.target,
                                      sp.csr_array(shape, dtype=np.float64), rec.delay))
    net.outputs = list(tables.outputs)
    return net


def _projection_circuits(records: list[ProjectionRecord], syn: Mapping[str, Any],
                         tables: RoutingTables, target: Target) -> dict[str, ProjectionCircuits]:
    first: dict[tuple[str, str], str] = {}
    for rec in records:
        first.setdefault((rec.source, rec.target), rec.name)
    codes = np.array([target.synapse_type(n).code for n in tables.syn_types], dtype=np.int64)
    post_names = np.array([n for n, _ in tables.populations],
                          dtype=object)[syn["post_pop"]]
    out = {}
    for (source, target_pop) in sorted({(s, t) for s, t in zip(syn["src_pop"], post_names)}):
        if (source, target_pop) not in first:
            raise ConfigError(f"the chip delivers synapses from {source!r} to {target_pop!r} but "
                              f"the config lists no such projection", where="config",
                              fix="list the projection in 'projections' or remove the synapses")
        rows = np.flatnonzero((syn["src_pop"] == source) & (post_names == target_pop))
        pname = first[source, target_pop]
        out[pname] = ProjectionCircuits(
            name=pname, source=source, target=target_pop, post=syn["post_local"][rows],
            pre=syn["src_local"][rows], weight=np.zeros(rows.size),
            syn_code=codes[syn["type"][rows]], i_w=syn["i_w"][rows])
    return out
