"""Routing tables + target -> the circuit simulator's network: realised currents and synapses.

What the chip will do, read from its configuration only (never from the IR it was compiled from):

* The simulated neurons are the hardware neurons that matter: every placed IR neuron, every neuron
  that receives a delivered synapse and every neuron that sends one. ``hw_ids[i]`` is the hardware
  id of simulated neuron ``i`` (sorted). Unused neurons of a core are not simulated: nothing they
  could do reaches a placed neuron.
* Per neuron, the current each circuit role realises: the core's ``(coarse, fine)`` setting of the
  bias that the target assigns to the role, through ``Target.bias_current``. Neuron roles are
  ``I_tau_mem, I_gain_mem, I_dc, I_ref, I_pulse, I_spkthr``; per used synapse type ``I_tau_syn`` and
  ``I_gain_syn`` (arrays of shape ``(n, types)``).
* Per delivered synapse (``compiler.tables.delivered_synapses``: one row per matching CAM entry, so
  repeated entries add up), its weight current: ``base_sum`` targets add the base weights of the
  post neuron's core selected by the mask code; ``count`` targets multiply the core's weight bias
  of the synapse type by the code (1 per CAM entry). Synapses whose weight current is 0 are
  dropped.
* Sources are numbered ``0..n-1`` for neurons and ``n + c`` for external input channel ``c``.

A target whose spike threshold is fixed in the circuit (no bias realises ``I_spkthr``) does not say
how large it is; :func:`build_hardware_network` then uses ``spike_threshold`` (default: the circuit
mapping's ``CircuitOptions.spike_threshold_current``, the value the compiler assumed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import jax
import numpy as np

from neurocc.backends.circuit_constants import NEURON_ROLES, CircuitConstants
from neurocc.backends.neuron_model import NeuronModel
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.errors import ConfigError, TargetError
from neurocc.compiler.tables import RoutingTables, delivered_synapses

#: Per-neuron, per-synapse-type currents (shape ``(n, types)``).
SYNAPSE_ROLES = ("I_tau_syn", "I_gain_syn")
#: How a synapse type acts on the membrane.
SYNAPSE_KINDS = ("excitatory", "inhibitory", "shunting")


@jax.tree_util.register_dataclass
@dataclass(frozen=True, eq=False)
class HardwareNetwork:
    """The configured chip as the circuit simulator sees it (a pytree: arrays are leaves).

    ``currents`` maps each role of :data:`NEURON_ROLES` to ``(n,)`` and of :data:`SYNAPSE_ROLES` to
    ``(n, len(syn_types))`` nominal currents (A). Synapse ``s`` goes from source ``syn_src[s]`` to
    simulated neuron ``syn_post[s]`` through type slot ``syn_type[s]`` with weight current
    ``syn_weight[s]`` (A); ``syn_group[s]`` numbers the (post core, type) pairs whose synapses share
    weight biases. ``neuron_index[j]`` is the simulated neuron of IR neuron ``j``.
    """

    currents: dict[str, np.ndarray]
    syn_weight: np.ndarray
    syn_src: np.ndarray
    syn_post: np.ndarray
    syn_type: np.ndarray
    syn_group: np.ndarray
    hw_ids: np.ndarray
    neuron_index: np.ndarray
    n_neurons: int = field(metadata=dict(static=True))
    n_inputs: int = field(metadata=dict(static=True))
    #: Names of the used synapse types (target order) and how each acts (:data:`SYNAPSE_KINDS`).
    syn_types: tuple[str, ...] = field(metadata=dict(static=True))
    syn_kinds: tuple[str, ...] = field(metadata=dict(static=True))
    constants: CircuitConstants = field(metadata=dict(static=True))
    #: Capacitance (F) of each used synapse type, in ``syn_types`` order.
    syn_capacitance: tuple[float, ...] = field(metadata=dict(static=True))
    #: The neuron model the simulator integrates (``backends/neuron_model.py``).
    neuron_model: NeuronModel = field(metadata=dict(static=True))
    #: (name, size) of the IR's non-input populations, in the order of ``neuron_index``.
    populations: tuple[tuple[str, int], ...] = field(metadata=dict(static=True))
    outputs: tuple[str, ...] = field(metadata=dict(static=True))

    @property
    def n_synapses(self) -> int:
        return int(np.asarray(self.syn_weight).size)

    def population_neurons(self, name: str) -> np.ndarray:
        """Simulated-neuron indices of IR population ``name``'s neurons, in IR order."""
        start = 0
        for pop, size in self.populations:
            if pop == name:
                return np.asarray(self.neuron_index)[start:start + size]
            start += size
        raise ConfigError(f"no population named {name!r} in the configuration",
                          fix=f"use one of {[p for p, _ in self.populations]}")


def build_hardware_network(tables: RoutingTables, target: Any, *,
                           spike_threshold: float | None = None,
                           neuron_model: str | None = None,
                           calibration: Any = None) -> HardwareNetwork:
    """Read the configuration ``tables`` with ``target``'s bias tables into a simulator network
    simulated with ``target``'s neuron model ``neuron_model`` (None: the target's default).

    ``calibration`` (``backends/calibration.py``; ``target`` already calibrated with it) adds its
    per-core bias factors and per-neuron gain factors."""
    _check_geometry(tables, target)
    syn = delivered_synapses(tables)
    src_neurons = syn.src[syn.src >= 0]
    hw_ids = np.unique(np.concatenate([tables.neuron_hw, syn.post, src_neurons]).astype(np.int64))
    n = hw_ids.size
    n_inputs = sum(size for _, size in tables.input_populations)
    bad_inputs = syn.src[syn.src < -n_inputs]
    if bad_inputs.size:
        raise ConfigError(f"an SRAM row sends input channel {-1 - int(bad_inputs[0])}, but the "
                          f"configuration has {n_inputs} input channels",
                          fix="list every input population in RoutingTables.input_populations")

    used_types = np.unique(syn.syn_type)
    types = [_synapse_type(tables, target, int(t)) for t in used_types]
    slot_of = {int(t): i for i, t in enumerate(used_types)}

    core_of_neuron = hw_ids // tables.neurons_per_core
    per_core = _CoreBiases(tables, target, np.unique(core_of_neuron), spike_threshold,
                           target.core_bias_scale)
    currents = {role: per_core.neuron_values(role, core_of_neuron) for role in NEURON_ROLES}
    if calibration is not None and calibration.neuron_gain:
        gain = np.array([calibration.neuron_gain.get(int(h), 1.0) for h in hw_ids])
        currents["I_gain_mem"] = currents["I_gain_mem"] * gain
    for role in SYNAPSE_ROLES:
        currents[role] = np.stack(
            [per_core.neuron_values(f"{role}.{st.name}", core_of_neuron) for st in types], axis=1
        ) if types else np.zeros((n, 0))

    post = np.searchsorted(hw_ids, syn.post)
    src = np.where(syn.src >= 0, np.searchsorted(hw_ids, np.maximum(syn.src, 0)), n - 1 - syn.src)
    slot = np.array([slot_of[int(t)] for t in syn.syn_type], dtype=np.int64)
    post_core = core_of_neuron[post]
    weight = _weight_currents(target, per_core, types, slot, syn.code, post_core)
    group = post_core * max(len(types), 1) + slot
    keep = weight > 0
    return HardwareNetwork(
        currents=currents, syn_weight=weight[keep], syn_src=src[keep].astype(np.int64),
        syn_post=post[keep].astype(np.int64), syn_type=slot[keep], syn_group=group[keep],
        hw_ids=hw_ids, neuron_index=np.searchsorted(hw_ids, tables.neuron_hw).astype(np.int64),
        n_neurons=int(n), n_inputs=int(n_inputs),
        syn_types=tuple(st.name for st in types),
        syn_kinds=tuple(_kind(st) for st in types),
        constants=target.circuit,
        syn_capacitance=tuple(float(st.capacitance) for st in types),
        neuron_model=target.neuron_models.get(neuron_model),
        populations=tuple((name, int(size)) for name, size in tables.populations),
        outputs=tuple(tables.outputs))


def _check_geometry(tables: RoutingTables, target: Any) -> None:
    for attr in ("cores_per_chip", "neurons_per_core"):
        if getattr(tables, attr) != getattr(target, attr):
            raise ConfigError(f"the configuration has {getattr(tables, attr)} {attr} but target "
                              f"{target.name} has {getattr(target, attr)}",
                              where=f"routing tables for {tables.target!r}",
                              fix="simulate the configuration with the target it was compiled for")
    size = sum(s for _, s in tables.populations)
    if np.asarray(tables.neuron_hw).size != size:
        raise ConfigError(f"neuron_hw places {np.asarray(tables.neuron_hw).size} neurons but the "
                          f"populations hold {size}", where="routing tables",
                          fix="give every IR neuron exactly one hardware id")


def _synapse_type(tables: RoutingTables, target: Any, index: int) -> Any:
    if not 0 <= index < len(tables.syn_types):
        raise ConfigError(f"CAM synapse type index {index} is outside the configuration's "
                          f"{len(tables.syn_types)} types", where="routing tables",
                          fix="cam_type indexes RoutingTables.syn_types")
    return target.synapse_type(tables.syn_types[index])


def _kind(st: Any) -> str:
    if st.sign == "excitatory":
        return "excitatory"
    return "shunting" if st.shunting else "inhibitory"


class _CoreBiases:
    """Realised current of each role on each used core (global core index = chip * cpc + core)."""

    def __init__(self, tables: RoutingTables, target: Any, cores: np.ndarray,
                 spike_threshold: float | None,
                 core_scale: Mapping[tuple[int, int], Mapping[str, float]]):
        self.tables, self.target, self.cores = tables, target, cores
        self.core_scale = core_scale
        if spike_threshold is None:
            spike_threshold = CircuitOptions().spike_threshold_current
        if not (np.isfinite(spike_threshold) and spike_threshold > 0):
            raise TargetError(f"spike_threshold = {spike_threshold!r} A is not a positive current",
                              fix="pass the fixed spike threshold current in amperes")
        self.spike_threshold = float(spike_threshold)
        self._cache: dict[str, np.ndarray] = {}

    def core_values(self, role: str) -> np.ndarray:
        """Current of ``role`` per entry of ``self.cores``."""
        if role in self._cache:
            return self._cache[role]
        spec = self.target.bias_for_role(role)
        if spec is None:
            if role == "I_spkthr" and not self.target.spike_threshold_adjustable:
                values = np.full(self.cores.size, self.spike_threshold)
            else:
                raise TargetError(f"no bias of target {self.target.name} realises {role}",
                                  fix="the simulator needs every neuron and synapse role")
        else:
            values = np.array([self._bias(int(c), spec.name, role) for c in self.cores])
        self._cache[role] = values
        return values

    def neuron_values(self, role: str, core_of: np.ndarray) -> np.ndarray:
        return self.core_values(role)[np.searchsorted(self.cores, core_of)]

    def _bias(self, core_global: int, name: str, role: str) -> float:
        chip, core = divmod(core_global, self.tables.cores_per_chip)
        config = self.tables.cores.get((chip, core))
        where = f"chip {chip} core {core}"
        if config is None:
            raise ConfigError("the core holds used neurons but has no configuration (biases)",
                              where=where, fix="add a CoreConfig for every used core")
        if name not in config.biases:
            raise ConfigError(f"bias {name} ({role}) is not set", where=where,
                              fix="set every bias whose current the neurons use")
        coarse, fine = config.biases[name]
        scale = self.core_scale.get((chip, core), {}).get(name, 1.0)
        return float(self.target.bias_current(name, coarse, fine)) * scale


def _weight_currents(target: Any, per_core: _CoreBiases, types: list[Any], slot: np.ndarray,
                     code: np.ndarray, post_core: np.ndarray) -> np.ndarray:
    """Weight current of every delivered synapse, per the target's weight scheme."""
    scheme = target.weights
    if scheme.masked and np.any(code >= 2 ** scheme.mask_bits):
        bad = code[code >= 2 ** scheme.mask_bits][0]
        raise ConfigError(f"CAM weight mask {int(bad)} does not fit {scheme.mask_bits} bits",
                          where="routing tables", fix="masks select among the base weights")
    if np.any(code < 0):
        raise ConfigError(f"CAM weight code {int(code[code < 0][0])} is negative",
                          where="routing tables", fix="codes are >= 0")
    return scheme.entry_current(code, slot, types,
                                lambda role, rows: per_core.neuron_values(role, post_core[rows]))



def neuron_network(currents: Mapping[str, Any], constants: CircuitConstants,
                   neuron_model: NeuronModel) -> HardwareNetwork:
    """Unconnected neurons (no synapses, no inputs) with per-neuron ``currents`` of every
    :data:`NEURON_ROLES` role: what a single-neuron study (an f-I curve, a model fit) simulates."""
    cur = {role: np.asarray(currents[role], float) for role in NEURON_ROLES}
    n = int(cur["I_dc"].size)
    cur.update({role: np.zeros((n, 0)) for role in SYNAPSE_ROLES})
    none = np.zeros(0, np.int64)
    return HardwareNetwork(
        currents=cur, syn_weight=np.zeros(0), syn_src=none, syn_post=none, syn_type=none,
        syn_group=none, hw_ids=np.arange(n), neuron_index=np.arange(n), n_neurons=n,
        n_inputs=0, syn_types=(), syn_kinds=(), constants=constants, syn_capacitance=(),
        neuron_model=neuron_model, populations=(("neurons", n),), outputs=("neurons",))
