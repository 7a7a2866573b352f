"""Circuit mapping: the normalised IR neuron and its synapses as DPI circuit currents.

The derivation is written out in ``docs/circuit_mapping.md``; in short (all currents in amperes,
chip time ``t_c = time_scale * t_IR``, ``S = I_spkthr``, ``r_m = I_gain_mem / I_tau_mem``)::

    tau of a DPI block       tau = C * U_T / (kappa * I_tau)
    membrane (I_mem >> I_g)  tau_mem dI_mem/dt = r_m * (I_in - I_tau_mem) - I_mem
    state                    v = I_mem / S          (threshold 1  <->  I_mem = I_spkthr)
    constant drive           v_leak + bias = r_m * (I_dc - I_tau_mem) / S
    input                    x = (r_m / S) * I_syn  (summed synaptic currents, signed by type)
    synapse event            dI_syn = (I_gain_syn * I_w / I_tau_syn) * (1 - exp(-t_pulse/tau_syn))
    weight w of a synapse    (r_m / S) * dI_syn * tau_syn = w * dt     (equal mean input)
    refractory, pulse        t = V_th * C / I

So a normalised weight ``w`` needs ``I_w = |w| * dt * S / (r_m * tau_syn * (I_gain_syn/I_tau_syn) *
(1 - exp(-t_pulse/tau_syn)))`` on the synapse type its sign selects. Time constants are matched per
step by default: the IR's Euler update decays by ``1 - dt/tau`` per step, the chip continuously, so
``tau_chip = -dt / ln(1 - dt/tau)`` (``discretisation="step_decay"``); ``"continuous"`` keeps
``tau``.

Where the chip differs (each is an approximation the docs discuss): the DPI membrane is linear only
for ``I_mem >> I_gain_mem`` (near reset it grows multiplicatively); it cannot go below ``I_0`` (no
negative potentials); LIF's instantaneous synapse becomes a DPI synapse with a short time constant;
IF has no leak, the chip leaks at least ``I_0``; the neuron resets to ground (``v_reset = 0`` only);
CubaLIF's bias enters at the synapse in the IR but at the membrane on chip (same steady state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import scipy.sparse as sp

from .errors import UnsupportedError
from .ir import Network, Population, make_population
from .neuron_fit import (NeuronFit, dc_offset, effective_leak, fit_population, leak_current,
                         neuron_model_for)

if TYPE_CHECKING:
    from .compilation import Compilation

MAPPED_MODELS = ("LIF", "CubaLIF", "IF")
NON_SPIKING = ("LI", "CubaLI", "I")


@dataclass(frozen=True)
class CircuitOptions:
    """The free choices of the mapping (defaults follow the README's DYNAP-SE2 starting point).

    ``time_scale`` stretches every IR time constant (chip seconds per IR second); the IR's dt of
    1e-4 s from snnTorch gives sub-ms taus that the chip realises but that leave little room.
    ``instant_synapse_tau`` (IR seconds; None = one step dt) is the synapse time constant that
    stands in for LIF's and IF's instantaneous synapse. ``pulse_width`` (chip seconds) is t_pulse.
    ``slow_synapse_tau`` (chip seconds) splits fast and slow synapse types where a target has both.
    ``inhibition`` picks subtractive or shunting inhibitory types; ``excitatory_type`` /
    ``inhibitory_type`` name a type outright. ``integrator_leak_current`` (A; None = the smallest
    leak current the target can set, at least I_0) is the leak an IF neuron gets. ``negative_drive``: ``error`` or ``clip``
    (realise a negative v_leak + bias as zero drive). ``subtract_reset``: ``error`` or ``zero``
    (accept the chip's reset to ground). ``zero_refractory_steps``: the refractory time, in steps,
    that stands in for none (well under one step so that it rounds to zero). ``neuron_model``: the
    target's neuron model the mapping is made for (None: the target's default;
    ``compiler/neuron_fit.py``).
    """

    time_scale: float = 1.0
    membrane_gain_ratio: float = 4.0
    synapse_gain_ratio: float = 100.0
    spike_threshold_current: float = 1e-7
    pulse_width: float = 1e-5
    instant_synapse_tau: float | None = None
    discretisation: str = "step_decay"
    zero_refractory_steps: float = 0.25
    slow_synapse_tau: float = math.sqrt(0.01 * 0.1)
    inhibition: str = "subtractive"
    excitatory_type: str | None = None
    inhibitory_type: str | None = None
    integrator_leak_current: float | None = None
    negative_drive: str = "error"
    subtract_reset: str = "error"
    neuron_model: str | None = None


@dataclass(frozen=True, eq=False)
class PopulationCircuits:
    """Requested currents of one population: ``currents[role]`` has shape ``(size,)``."""

    name: str
    model: str
    size: int
    currents: Mapping[str, np.ndarray]
    #: Names of the synapse types its incoming synapses use (target order).
    synapse_types: tuple[str, ...]
    #: The fit of a neuron model with feedback (threshold scale, drive shift, residual); None:
    #: the linear mapping (threshold scale 1, no shift).
    fit: NeuronFit | None = None

    @property
    def threshold_scale(self) -> float:
        return self.fit.threshold_scale if self.fit is not None else 1.0

    @property
    def drive_shift(self) -> float:
        return self.fit.drive_shift if self.fit is not None else 0.0


@dataclass(frozen=True, eq=False)
class ProjectionCircuits:
    """Per synapse (non-zero weights, row-major: post then pre) its type code and weight current."""

    name: str
    source: str
    target: str
    post: np.ndarray
    pre: np.ndarray
    weight: np.ndarray
    syn_code: np.ndarray
    i_w: np.ndarray


@dataclass(frozen=True, eq=False)
class CircuitMap:
    """The whole network's requested currents, plus what stays on the host."""

    target: str
    options: CircuitOptions
    dt: float
    populations: Mapping[str, PopulationCircuits]
    projections: Mapping[str, ProjectionCircuits]
    #: Non-spiking output populations: computed by the host from the spikes it receives.
    host_readouts: tuple[str, ...] = ()
    #: Approximations applied, one line each (clipped drives, accepted resets...).
    notes: tuple[str, ...] = field(default=())

    def roles(self) -> tuple[str, ...]:
        """Every role any population requests, in first-seen order."""
        seen: dict[str, None] = {}
        for pc in self.populations.values():
            seen.update(dict.fromkeys(pc.currents))
        return tuple(seen)

    def with_currents(self, currents: Mapping[str, Mapping[str, Any]] | None = None,
                      i_w: Mapping[str, Any] | None = None) -> "CircuitMap":
        """A copy with some populations' currents and projections' weight currents replaced
        (e.g. by the values the bias generator realises), for :func:`currents_to_params`."""
        pops = dict(self.populations)
        for name, cur in (currents or {}).items():
            merged = {**pops[name].currents,
                      **{k: np.asarray(v, float) for k, v in cur.items()}}
            pops[name] = replace(pops[name], currents=MappingProxyType(merged))
        projs = dict(self.projections)
        for name, values in (i_w or {}).items():
            projs[name] = replace(projs[name], i_w=np.asarray(values, float))
        return replace(self, populations=MappingProxyType(pops),
                       projections=MappingProxyType(projs))


# -- elementary relations ---------------------------------------------------------------------
def tau_current(tau: Any, capacitance: float, circuit: Any) -> np.ndarray:
    """I_tau = U_T * C / (kappa * tau)."""
    return circuit.U_T * capacitance / (circuit.kappa * np.asarray(tau, float))


def current_tau(current: Any, capacitance: float, circuit: Any) -> np.ndarray:
    """tau = U_T * C / (kappa * I_tau)."""
    return circuit.U_T * capacitance / (circuit.kappa * np.asarray(current, float))


def width_current(duration: Any, capacitance: float, circuit: Any) -> np.ndarray:
    """Pulse or refractory current: I = V_th * C / t."""
    return circuit.V_th * capacitance / np.asarray(duration, float)


def synapse_jump(i_w: Any, i_gain: Any, i_tau: Any, t_pulse: Any, tau: Any) -> np.ndarray:
    """Synapse current step per input event: (I_gain * I_w / I_tau) * (1 - exp(-t_pulse/tau))."""
    return (np.asarray(i_gain) * np.asarray(i_w) / np.asarray(i_tau)) * \
        -np.expm1(-np.asarray(t_pulse) / np.asarray(tau))


def chip_tau(tau: Any, dt: float, options: CircuitOptions) -> np.ndarray:
    """IR time constant (s) -> chip time constant (s), per ``options.discretisation``."""
    tau = np.asarray(tau, float)
    if options.discretisation == "continuous":
        return options.time_scale * tau
    return options.time_scale * (-dt / np.log1p(-dt / tau))


def ir_tau(tau_c: Any, dt: float, options: CircuitOptions) -> np.ndarray:
    """Inverse of :func:`chip_tau`."""
    tau_c = np.asarray(tau_c, float)
    if options.discretisation == "continuous":
        return tau_c / options.time_scale
    return -dt / np.expm1(-dt * options.time_scale / tau_c)


def current_per_unit_weight(currents: Mapping[str, Any], syn_type: Any, target: Any,
                            dt_chip: float, threshold_scale: float = 1.0) -> np.ndarray:
    """Weight current per unit of (leaky-form) normalised weight, per post neuron.

    Inverts ``(r_m / S) * dI_syn * tau_syn = w * dt_chip`` through :func:`synapse_jump`; works
    on requested and realised currents alike (``currents`` keyed by role). ``threshold_scale``:
    threshold 1 is ``threshold_scale * I_spkthr`` (a neuron model with feedback).
    """
    circuit = target.circuit
    i_tau_syn = np.asarray(currents[syn_type.tau_role], float)
    tau_syn = current_tau(i_tau_syn, syn_type.capacitance, circuit)
    t_pulse = circuit.V_th * circuit.capacitance["pulse"] / np.asarray(currents["I_pulse"], float)
    k = np.asarray(currents["I_gain_mem"]) / (np.asarray(currents["I_tau_mem"]) *
                                             (np.asarray(currents["I_spkthr"]) * threshold_scale))
    jump_per_w = dt_chip / (k * tau_syn)
    return jump_per_w / synapse_jump(1.0, currents[syn_type.gain_role], i_tau_syn, t_pulse,
                                     tau_syn)


def precision_floors(cmap: "CircuitMap") -> dict[str, float]:
    """Per role, the current below which only absolute precision matters.

    An error ``dI`` in ``I_dc`` shifts the drive ``v_leak + bias`` by ``r_m * dI / S`` whatever
    ``I_dc`` is, so a relative tolerance on it is measured against the current of a unit drive,
    ``S / r_m`` (the drive that holds the membrane at threshold). Other currents set time constants
    and gains, where relative precision is what matters.
    """
    o = cmap.options
    # a model with feedback scales the threshold (and the unit drive) down
    scale = min([pc.threshold_scale for pc in cmap.populations.values()] + [1.0])
    return {"I_dc": o.spike_threshold_current * scale / o.membrane_gain_ratio}


# -- the forward mapping ----------------------------------------------------------------------
def map_circuits(net: Network, target: Any, options: CircuitOptions = CircuitOptions()
                 ) -> CircuitMap:
    """Requested DPI currents of every spiking non-input population and synapse of ``net``."""
    _check_options(options)
    dt = float(net.dt)
    notes: list[str] = []
    readouts = _host_readouts(net)
    pops, projs = {}, {}
    types = {name: _types_for(net, net.populations[name], target, options, dt)
             for name in net.populations
             if not net.populations[name].is_input and name not in readouts}
    for name, used in types.items():
        pop = net.populations[name]
        pops[name] = _population_circuits(pop, target, options, dt, used, notes)
    for proj in net.projections.values():
        if proj.target in pops:
            projs[proj.name] = _projection_circuits(proj, pops[proj.target], types[proj.target],
                                                    target, options, dt)
    return CircuitMap(target=target.name, options=options, dt=dt,
                      populations=MappingProxyType(pops), projections=MappingProxyType(projs),
                      host_readouts=readouts, notes=tuple(notes))


def _check_options(o: CircuitOptions) -> None:
    for name in ("time_scale", "membrane_gain_ratio", "synapse_gain_ratio",
                 "spike_threshold_current", "pulse_width", "zero_refractory_steps",
                 "slow_synapse_tau"):
        value = getattr(o, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise UnsupportedError(f"CircuitOptions.{name} = {value!r} is not a positive number",
                                   fix=f"give {name} a positive value")
    for name, value in (("instant_synapse_tau", o.instant_synapse_tau),
                        ("integrator_leak_current", o.integrator_leak_current)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UnsupportedError(f"CircuitOptions.{name} = {value!r} is not a positive number",
                                   fix=f"give {name} a positive value or None for the default")
    for name, choices in (("discretisation", ("step_decay", "continuous")),
                          ("inhibition", ("subtractive", "shunting")),
                          ("negative_drive", ("error", "clip")),
                          ("subtract_reset", ("error", "zero"))):
        if getattr(o, name) not in choices:
            raise UnsupportedError(f"CircuitOptions.{name} = {getattr(o, name)!r} is unknown",
                                   fix=f"use one of {list(choices)}")


def _host_readouts(net: Network) -> tuple[str, ...]:
    """Non-spiking populations: allowed only as outputs that feed nothing (read by the host)."""
    out = []
    for pop in net.populations.values():
        where = f"population {pop.name!r} ({pop.model})"
        if pop.model == "Threshold":
            raise UnsupportedError("a stateless Threshold neuron has no DPI circuit", where=where,
                                   fix="use IF or LIF neurons for spiking layers")
        if pop.model in NON_SPIKING:
            if any(True for _ in net.outgoing(pop.name)) or pop.name not in net.outputs:
                raise UnsupportedError(
                    "non-spiking hidden neurons cannot be realised: DPI neurons communicate "
                    "only by spikes", where=where,
                    fix="retrain with spiking neurons in hidden layers; a non-spiking readout is "
                        "allowed only as a network output, computed by the host")
            out.append(pop.name)
    return tuple(out)


def _effective_tau_syn(pop: Population, options: CircuitOptions, dt: float) -> np.ndarray:
    """Chip synapse time constant per neuron (CubaLIF: its own; others: the stand-in)."""
    if pop.model == "CubaLIF":
        _require_tau_above_dt(pop, "tau_syn", dt, options)
        return chip_tau(pop.params["tau_syn"], dt, options)
    tau = options.instant_synapse_tau if options.instant_synapse_tau is not None else dt
    return np.full(pop.size, options.time_scale * tau)


def _types_for(net: Network, pop: Population, target: Any, options: CircuitOptions,
               dt: float) -> dict[str, Any]:
    """Synapse type per sign used by the population's incoming synapses."""
    signs = set()
    for proj in net.incoming(pop.name):
        data = proj.weights.data
        if np.any(data > 0):
            signs.add("excitatory")
        if np.any(data < 0):
            signs.add("inhibitory")
    tau = float(np.median(_effective_tau_syn(pop, options, dt))) if signs else 0.0
    return {sign: _choose_type(target, sign, tau, options, pop) for sign in sorted(signs)}


def _choose_type(target: Any, sign: str, tau_chip: float, options: CircuitOptions,
                 pop: Population) -> Any:
    where = f"population {pop.name!r}"
    forced = options.excitatory_type if sign == "excitatory" else options.inhibitory_type
    if forced is not None:
        st = target.synapse_type(forced)
        if st.sign != sign:
            raise UnsupportedError(f"synapse type {forced} is {st.sign}, not {sign}", where=where,
                                   fix=f"name a {sign} type of {target.name}")
        return st
    cands = [t for t in target.synapse_types if t.sign == sign]
    if sign == "inhibitory":
        want = options.inhibition == "shunting"
        cands = [t for t in cands if t.shunting == want]
        if not cands:
            raise UnsupportedError(f"{target.name} has no {options.inhibition} inhibitory synapse "
                                   f"type", where=where,
                                   fix=f"pass --inhibition {_other_inhibition(options)}")
    speeds = {t.speed for t in cands}
    if {"fast", "slow"} <= speeds:
        speed = "slow" if tau_chip >= options.slow_synapse_tau else "fast"
        cands = [t for t in cands if t.speed == speed]
    return cands[0]


def _other_inhibition(options: CircuitOptions) -> str:
    return "subtractive" if options.inhibition == "shunting" else "shunting"


def _require_tau_above_dt(pop: Population, name: str, dt: float, options: CircuitOptions) -> None:
    if options.discretisation != "step_decay":
        return
    tau = pop.params[name]
    bad = np.flatnonzero(tau <= dt)
    if bad.size:
        raise UnsupportedError(
            f"{name}[{bad[0]}] = {tau[bad[0]]:.4g} s is not longer than the step dt = {dt:.4g} s: "
            f"the Euler update forgets the state every step, which no time constant matches",
            where=f"population {pop.name!r} ({pop.model})",
            fix="pass --discretisation continuous, or a smaller --dt")


def _smallest_leak(target: Any) -> float:
    """The weakest membrane leak the chip can set: the leak bias's smallest current, not below
    the leakage floor I_0 (an IF neuron has no leak; this is the closest the chip gets)."""
    spec = target.bias_for_role("I_tau_mem")
    lowest = target.bias_range(spec.name)[0] if spec is not None else 0.0
    return max(target.circuit.I_0, lowest)


def _population_circuits(pop: Population, target: Any, o: CircuitOptions, dt: float,
                         used: Mapping[str, Any], notes: list[str]) -> PopulationCircuits:
    where = f"population {pop.name!r} ({pop.model})"
    circuit, caps = target.circuit, target.circuit.capacitance
    _check_reset(pop, o, where, notes)
    s, dt_c = o.time_scale, o.time_scale * dt
    if pop.model == "IF":
        i_tau = np.full(pop.size, o.integrator_leak_current or _smallest_leak(target))
        tau_m = current_tau(i_tau, caps["mem"], circuit)
        drive = pop.params["bias"] * tau_m / dt_c
    else:
        _require_tau_above_dt(pop, "tau_mem", dt, o)
        tau_m = chip_tau(pop.params["tau_mem"], dt, o)
        i_tau = tau_current(tau_m, caps["mem"], circuit)
        drive = pop.params["v_leak"] + pop.params["bias"]
    S, r_m = o.spike_threshold_current, o.membrane_gain_ratio
    steps = int(round(pop.refractory / dt))
    t_ref = s * dt * (steps if steps > 0 else o.zero_refractory_steps)
    i_pulse = width_current(o.pulse_width, caps["pulse"], circuit)
    i_dc = _handle_negative_drive(pop, i_tau + drive * S / r_m, drive, o, where, notes)
    model = neuron_model_for(target, o)
    fit = None
    if model.feedback != "none" or model.equations != "dpi":
        fit = fit_population(model, circuit, o, float(np.median(i_tau)), float(t_ref),
                             float(i_pulse), dt_c, steps)
        i_tau = leak_current(model, i_tau, circuit.I_0)
        i_dc = np.maximum(dc_offset(model, i_tau, circuit.I_0) + (drive + fit.drive_shift) *
                          (fit.threshold_scale * S) / r_m, 0.0)
    currents = {
        "I_tau_mem": i_tau,
        "I_gain_mem": r_m * i_tau,
        "I_dc": np.maximum(i_dc, circuit.I_0),
        "I_ref": np.full(pop.size, width_current(t_ref, caps["ref"], circuit)),
        "I_pulse": np.full(pop.size, i_pulse),
        "I_spkthr": np.full(pop.size, S),
    }
    tau_syn = _effective_tau_syn(pop, o, dt)
    names = []
    for st in target.synapse_types:
        if st in used.values():
            i_tau_syn = tau_current(tau_syn, st.capacitance, circuit)
            currents[st.tau_role] = i_tau_syn
            currents[st.gain_role] = o.synapse_gain_ratio * i_tau_syn
            names.append(st.name)
    for value in currents.values():
        value.setflags(write=False)
    return PopulationCircuits(name=pop.name, model=pop.model, size=pop.size,
                              currents=MappingProxyType(currents), synapse_types=tuple(names),
                              fit=fit)


def _check_reset(pop: Population, o: CircuitOptions, where: str, notes: list[str]) -> None:
    bad = np.flatnonzero(pop.params["v_reset"] != 0)
    if bad.size:
        raise UnsupportedError(
            f"v_reset[{bad[0]}] = {pop.params['v_reset'][bad[0]]:.4g} (threshold 1): the DPI "
            f"neuron resets its membrane to ground, i.e. v_reset = 0 only", where=where,
            fix="retrain or export with v_reset = 0")
    if pop.reset == "subtract":
        if o.subtract_reset == "error":
            raise UnsupportedError(
                "subtractive reset: the DPI neuron resets its membrane to ground (v := 0)",
                where=where, fix="pass --subtract-reset zero to accept the chip's reset to ground, "
                                 "or --reset zero")
        _note_once(notes, "subtractive reset realised as a reset to zero (the DPI neuron resets "
                          "to ground):", where)


def _note_once(notes: list[str], what: str, where: str) -> None:
    """One note for ``what`` however many populations share it: ``where`` is appended to it."""
    tail = "; neurocc verify measures the effect"
    for i, note in enumerate(notes):
        if note.startswith(what):
            notes[i] = note[:-len(tail)] + f", {where}" + tail
            return
    notes.append(f"{what} {where}{tail}")


def _handle_negative_drive(pop: Population, i_dc: np.ndarray, drive: np.ndarray,
                           o: CircuitOptions, where: str, notes: list[str]) -> np.ndarray:
    neg = np.flatnonzero(i_dc < 0)
    if not neg.size:
        return i_dc
    worst = neg[np.argmin(drive[neg])]
    message = (f"{neg.size} of {pop.size} neurons have a negative constant drive v_leak + bias "
               f"(lowest {drive[worst]:.4g} at neuron {worst}); the DPI membrane current cannot "
               f"be driven below rest")
    if o.negative_drive == "error":
        raise UnsupportedError(message, where=where,
                               fix="retrain with bias >= 0 and v_leak >= 0, or pass "
                                   "CircuitOptions(negative_drive='clip') to realise it as zero")
    notes.append(f"{where}: {message}; realised as zero drive")
    return np.maximum(i_dc, 0.0)


def _projection_circuits(proj: Any, post: PopulationCircuits, used: Mapping[str, Any],
                         target: Any, o: CircuitOptions, dt: float) -> ProjectionCircuits:
    w = sp.csr_array(proj.weights, copy=True)
    w.sum_duplicates()
    w.sort_indices()
    w.eliminate_zeros()
    coo = w.tocoo()
    rows, cols, data = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    codes = np.zeros(data.size, dtype=np.int64)
    i_w = np.zeros(data.size)
    dt_c = o.time_scale * dt
    leaky_w = data.copy()
    if post.model == "IF":
        tau_m = current_tau(post.currents["I_tau_mem"], target.circuit.capacitance["mem"],
                            target.circuit)
        leaky_w = data * (tau_m / dt_c)[rows]
    for sign, st in used.items():
        sel = data > 0 if sign == "excitatory" else data < 0
        codes[sel] = st.code
        per_unit = current_per_unit_weight(post.currents, st, target, dt_c, post.threshold_scale)
        i_w[sel] = np.abs(leaky_w[sel]) * per_unit[rows[sel]]
    return ProjectionCircuits(name=proj.name, source=proj.source, target=proj.target, post=rows,
                              pre=cols, weight=data, syn_code=codes, i_w=i_w)


# -- the inverse ------------------------------------------------------------------------------
def currents_to_params(net: Network, realised: CircuitMap, target: Any) -> Network:
    """The normalised IR network that the (realised) currents implement.

    The chip's neuron is a leaky membrane behind DPI synapses, so every mapped population comes
    back as CubaLIF (as LIF when it receives no synapses) with ``v_leak`` holding the whole
    constant drive and ``bias`` 0: IF gains the chip's minimum leak and LIF the stand-in synapse,
    with weights in leaky form (an IF weight ``w`` returns as ``w * tau_mem / dt``). The IR holds
    one synaptic time constant and one refractory period per population: they are read from the
    first synapse type used and the median neuron. Projections into host readouts are kept.
    """
    o = realised.options
    dt = float(net.dt)
    dt_c = o.time_scale * dt
    circuit, caps = target.circuit, target.circuit.capacitance
    neuron_model = neuron_model_for(target, o)
    out = net.copy()
    for name, pc in realised.populations.items():
        cur = pc.currents
        old = net.populations[name]
        leak = effective_leak(neuron_model, cur["I_tau_mem"], circuit.I_0)
        tau_m = ir_tau(current_tau(leak, caps["mem"], circuit), dt, o)
        offset = dc_offset(neuron_model, cur["I_tau_mem"], circuit.I_0)
        drive = (cur["I_gain_mem"] / cur["I_tau_mem"]) * (cur["I_dc"] - offset) / \
            (cur["I_spkthr"] * pc.threshold_scale) - pc.drive_shift
        t_ref = float(np.median(circuit.V_th * caps["ref"] / cur["I_ref"])) / o.time_scale
        params: dict[str, Any] = {"tau_mem": tau_m, "v_leak": drive, "v_reset": 0.0, "bias": 0.0}
        model = "LIF"
        if pc.synapse_types:
            st = target.synapse_type(pc.synapse_types[0])
            params["tau_syn"] = ir_tau(current_tau(cur[st.tau_role], st.capacitance, circuit),
                                       dt, o)
            model = "CubaLIF"
        new = make_population(name, model, old.size, reset="zero", refractory=t_ref,
                              scale=dict(old.scale), **params)
        out.populations[name] = new
    for name, prc in realised.projections.items():
        pc = realised.populations[prc.target]
        weights = np.zeros(prc.i_w.size)
        for code in np.unique(prc.syn_code):
            st = target.synapse_type_by_code(int(code))
            sel = prc.syn_code == code
            per_unit = current_per_unit_weight(pc.currents, st, target, dt_c, pc.threshold_scale)
            sign = 1.0 if st.sign == "excitatory" else -1.0
            weights[sel] = sign * prc.i_w[sel] / per_unit[prc.post[sel]]
        shape = net.projections[name].weights.shape
        out.projections[name].weights = sp.csr_array((weights, (prc.post, prc.pre)), shape=shape)
    return out.verify()


def run(c: Compilation) -> Compilation:
    """Pass ``circuits``: neuron and synapse parameters -> requested DPI circuit currents."""
    circuits = map_circuits(c.network, c.target, c.options.circuit)
    if circuits.host_readouts:
        raise UnsupportedError(
            f"non-spiking output populations {list(circuits.host_readouts)} cannot run on the "
            f"chip", where=c.network.name,
            fix="train with a spiking output layer (LIF/CubaLIF/IF) and read its spike counts")
    return replace(c, circuits=circuits)
