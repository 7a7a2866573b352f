"""Quantize each placed core's incoming weights and realise them, with the class currents, as the
core's biases.

Why here and in this order: the chip's weights are per-core resources (DYNAP-SE2: four base weight
currents shared by the core's 256 neurons; DYNAP-SE1: one weight current per synapse type), so
quantization needs to know which neurons share a core, i.e. it runs after placement. Placement only
needs each neuron's CAM use, which is bounded before quantization: one entry per synapse (the
``count`` quantizer never exceeds the CAM budget, dropping its least useful synapses if it must;
the ``base_sum`` quantizer only adds repeats into spare entries). The checker then re-verifies the
CAM use of the final tables.

Weights are quantized as *weight currents* ``I_w``: the current each synapse needs, computed with
the currents of its neuron's parameter class (not its own requested ones), so that the realised
neuron gets the trained normalised weight. A quantizer's per-type scale ``s_t`` (``base_sum``) is
realised by the core's gain current of that synapse type (the synaptic jump is proportional to
``I_gain * I_w``); a base or quantum above what its bias can deliver moves the excess factor into
the gains the same way. Every current then goes through the bias generator, and the error report
compares the realised jump with the requested one, so it includes the generator's rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..biasgen import BiasChoice, assign_roles
from ..circuits import CircuitMap, current_per_unit_weight
from ..classes import ParameterClasses
from ..errors import CapacityError
from .base_sum import quantize_base_sum
from .count import quantize_count

if TYPE_CHECKING:
    from neurocc.backends.target import Target


@dataclass(frozen=True)
class WeightOptions:
    """``bits``: base weights used per core (``base_sum``; None = all the target has).
    ``allow_repeats``: spare CAM entries may repeat a synapse to reach larger weights.
    ``seed``: for the quantizer's random starting points."""

    bits: int | None = None
    allow_repeats: bool = True
    seed: int = 0


@dataclass(frozen=True, eq=False)
class CoreWeights:
    """Per synapse (per projection, aligned with its non-zero weights in CSR order) and per core.

    ``syn_type``: index into ``target.synapse_types``; ``code``: the CAM weight code (a mask for
    ``base_sum``, the number of entries for ``count``); ``repeats``: CAM entries per synapse for
    ``base_sum`` (1 for ``count``). ``requested_iw`` / ``effective_iw``: the weight current asked
    for and the one the chip realises (referred to the class's gain, so the two compare directly).
    ``core_biases[core]``: every bias of a used core, keyed by role. ``neuron_currents``: the
    realised current of every role per neuron (population -> role -> array), and ``realised_iw``
    the realised weight current per synapse, for :func:`circuits.currents_to_params`.
    """

    syn_type: Mapping[str, np.ndarray]
    code: Mapping[str, np.ndarray]
    repeats: Mapping[str, np.ndarray]
    requested_iw: Mapping[str, np.ndarray]
    effective_iw: Mapping[str, np.ndarray]
    realised_iw: Mapping[str, np.ndarray]
    core_biases: Mapping[int, Mapping[str, BiasChoice]]
    neuron_currents: Mapping[str, Mapping[str, np.ndarray]]

    @property
    def rel_error(self) -> float:
        """||effective - requested|| / ||requested|| over every synapse."""
        req = np.concatenate([v for v in self.requested_iw.values()] or [np.zeros(0)])
        eff = np.concatenate([v for v in self.effective_iw.values()] or [np.zeros(0)])
        norm = float(np.linalg.norm(req))
        return 0.0 if norm == 0 else float(np.linalg.norm(eff - req) / norm)

    def projection_error(self, name: str) -> float:
        req, eff = self.requested_iw[name], self.effective_iw[name]
        norm = float(np.linalg.norm(req))
        return 0.0 if norm == 0 else float(np.linalg.norm(eff - req) / norm)


@dataclass
class _Synapses:
    """Every synapse of the mapped network, concatenated over projections."""

    names: list[str]
    bounds: np.ndarray  # projection k owns rows bounds[k]:bounds[k+1]
    post: np.ndarray  # global neuron index
    type_index: np.ndarray
    iw: np.ndarray

    def split(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return {n: values[self.bounds[k]:self.bounds[k + 1]] for k, n in enumerate(self.names)}


def class_currents(cmap: CircuitMap, classes: ParameterClasses) -> dict[str, dict[str, np.ndarray]]:
    """Per population, the current of every role each neuron gets: its class's representative,
    or its own request for roles no bias sets (fixed circuits such as a hard-wired threshold)."""
    out = {}
    for name, offset, size in classes.populations:
        reps = classes.representatives[classes.class_of[offset:offset + size]]
        own = dict(cmap.populations[name].currents)
        for r, role in enumerate(classes.roles):
            if role in own:
                own[role] = np.where(np.isnan(reps[:, r]), own[role], reps[:, r])
        out[name] = own
    return out


def quantize_cores(cmap: CircuitMap, classes: ParameterClasses, core_of: np.ndarray,
                   target: Target, options: WeightOptions = WeightOptions()) -> CoreWeights:
    """Quantize and realise the weights of every core that ``core_of`` (per neuron) uses."""
    per_class = class_currents(cmap, classes)
    syn = _gather(cmap, classes, per_class, target)
    _check_realisable(syn, target)
    code = np.zeros(syn.iw.size, dtype=np.int64)
    repeats = np.ones(syn.iw.size, dtype=np.int64)
    core_biases: dict[int, dict[str, BiasChoice]] = {}
    syn_core = core_of[syn.post]
    for core in np.unique(core_of):
        # every bias is chosen for the core it sits on (a calibrated core has its own currents)
        core_target = target.for_core(*divmod(int(core), target.cores_per_chip))
        rows = np.flatnonzero(syn_core == core)
        klass = int(classes.class_of[np.flatnonzero(core_of == core)[0]])
        currents = {**_idle(core_target), **classes.class_currents(klass)}
        where = f"core {int(core)} (parameter class {klass})"
        if target.weights.masked:
            weights = _base_sum_core(syn, rows, currents, core_target, options, where)
        else:
            weights = _count_core(syn, rows, currents, core_target, where)
        code[rows], repeats[rows] = weights.code, weights.repeats
        core_biases[int(core)] = assign_roles(core_target, currents, where=where)
    return _realise(classes, syn, core_of, target, code, repeats, core_biases, per_class)


@dataclass
class _CoreResult:
    code: np.ndarray
    repeats: np.ndarray


def _gather(cmap: CircuitMap, classes: ParameterClasses, per_class: Mapping[str, Any],
            target: Target) -> _Synapses:
    """Concatenate the synapses; re-express each weight current for its neuron's class."""
    offsets = {name: off for name, off, _ in classes.populations}
    type_index = {st.code: i for i, st in enumerate(target.synapse_types)}
    dt_c = cmap.options.time_scale * cmap.dt
    names, posts, types, iws, bounds = [], [], [], [], [0]
    for name, pc in cmap.projections.items():
        pop = cmap.populations[pc.target]
        iw = pc.i_w.copy()
        for code in np.unique(pc.syn_code):
            st = target.synapse_types[type_index[int(code)]]
            sel = pc.syn_code == code
            own = current_per_unit_weight(pop.currents, st, target, dt_c)
            cls = current_per_unit_weight(per_class[pc.target], st, target, dt_c)
            iw[sel] *= (cls / own)[pc.post[sel]]
        names.append(name)
        posts.append(offsets[pc.target] + pc.post)
        types.append(np.array([type_index[int(c)] for c in pc.syn_code], dtype=np.int64))
        iws.append(iw)
        bounds.append(bounds[-1] + iw.size)
    cat = (lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype))
    return _Synapses(names, np.asarray(bounds), cat(posts, np.int64), cat(types, np.int64),
                     cat(iws, np.float64))


def _idle(target: Target) -> dict[str, float]:
    """A deployment must set every bias of a used core: circuits no neuron of the core uses (an
    unused synapse type, say) get their bias's smallest current, i.e. as good as off."""
    return {role: target.bias_range(target.bias_for_role(role).name)[0] for role in target.roles}


#: A weight current this many times above the largest bias current cannot be realised even by
#: raising the synaptic gains; one this many times below the smallest is zero on any core.
CURRENT_HEADROOM = 1e6


def _check_realisable(syn: _Synapses, target: Target) -> None:
    """Refuse weight currents no core can come near, and zero those below any level a core can
    make, before the quantizers square them (weights of 1e300 or 1e-300 overflow or underflow
    their error sums)."""
    ranges = [target.bias_range(b.name) for b in target.biases]
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    too_big = np.flatnonzero(~(syn.iw <= hi * CURRENT_HEADROOM))
    if too_big.size:
        k = int(np.searchsorted(syn.bounds, too_big[0], side="right")) - 1
        raise CapacityError(
            f"projection {syn.names[k]!r} asks for a weight current of "
            f"{syn.iw[too_big[0]]:.3g} A, far above the largest any bias of the chip gives "
            f"({hi:.3g} A)", where=target.name,
            fix="clip or rescale the trained weights (weight decay or clipping) and export again")
    syn.iw[syn.iw < lo / CURRENT_HEADROOM] = 0.0


def _fold_into_gains(currents: dict[str, float], scale: Mapping[int, float], target: Target,
                     where: str) -> None:
    """Multiply the gain current of every synapse type ``t`` by ``scale[t]``, checking range."""
    for t, s in scale.items():
        st = target.synapse_types[t]
        role = st.gain_role
        if role not in currents:
            continue
        wanted = currents[role] * s
        spec = target.bias_for_role(role)
        lo, hi = target.bias_range(spec.name)
        if wanted > hi:
            # a synapse's jump grows about linearly with its pulse: a pulse this much longer
            # (with a margin) needs no more gain than the bias gives
            pulse = target.circuit.V_th * target.circuit.capacitance["pulse"] / currents["I_pulse"]
            raise CapacityError(
                f"{st.name} weights need a synaptic gain of {wanted:.3g} A, above the "
                f"{spec.name} maximum of {hi:.3g} A", where=where,
                fix=f"pass --pulse-width {1.25 * pulse * wanted / hi:.2g} (a longer pulse per "
                    "event), or clip or rescale the trained weights (weight decay or clipping) "
                    "and export again")
        currents[role] = wanted


def _base_sum_core(syn: _Synapses, rows: np.ndarray, currents: dict[str, float], target: Target,
                   options: WeightOptions, where: str) -> _CoreResult:
    bits = options.bits or target.weights.bases
    result = quantize_base_sum(syn.iw[rows], syn.type_index[rows], syn.post[rows], bits=bits,
                               cam_budget=target.cam_per_neuron,
                               allow_repeats=options.allow_repeats, seed=options.seed)
    # Only products s_t * bases matter: let the strongest type keep its class gain (scale 1) so
    # that no gain current is raised for the sake of another type.
    strongest = max(result.type_scales.values(), default=1.0)
    bases = np.asarray(result.bases, dtype=float) * strongest
    type_scales = {t: s / strongest for t, s in result.type_scales.items()}
    roles = [target.weights.base_role(j) for j in range(bases.size)]
    lo, top = zip(*(target.bias_range(target.bias_for_role(r).name) for r in roles))
    excess = max(1.0, float(np.max(bases / np.asarray(top), initial=0.0)))
    scale = {t: s * excess for t, s in type_scales.items()}
    _fold_into_gains(currents, scale, target, where)
    # An unused base (0) is set to the generator's smallest current, negligible beside the others.
    for r, b, floor in zip(roles, bases / excess, lo):
        currents[r] = max(float(b), floor)
    return _CoreResult(code=result.mask.astype(np.int64), repeats=result.repeats.astype(np.int64))


def _count_core(syn: _Synapses, rows: np.ndarray, currents: dict[str, float], target: Target,
                where: str) -> _CoreResult:
    result = quantize_count(syn.iw[rows], syn.type_index[rows], syn.post[rows],
                            cam_budget=target.cam_per_neuron)
    scale = {}
    for t, q in result.quanta.items():
        role = target.synapse_types[t].weight_role
        top = target.bias_range(target.bias_for_role(role).name)[1]
        scale[t] = max(1.0, q / top)
        currents[role] = q / scale[t]
    _fold_into_gains(currents, scale, target, where)
    counts = result.counts.astype(np.int64)
    return _CoreResult(code=counts, repeats=np.ones_like(counts))


def _realised_level(syn_rows: np.ndarray, syn: _Synapses, code: np.ndarray, repeats: np.ndarray,
                    realised: Mapping[str, float], target: Target) -> np.ndarray:
    """The weight current each synapse of a core gets from the realised bias currents (a base
    weight the core does not use realises no current)."""
    scheme = target.weights
    entries, entry_code = scheme.cam_entries(code[syn_rows], repeats[syn_rows])
    return entries * scheme.entry_current(entry_code, syn.type_index[syn_rows],
                                          target.synapse_types,
                                          lambda role, _: realised.get(role, 0.0))


def _realise(classes: ParameterClasses, syn: _Synapses, core_of: np.ndarray,
             target: Target, code: np.ndarray, repeats: np.ndarray,
             core_biases: Mapping[int, Mapping[str, BiasChoice]],
             per_class: Mapping[str, Mapping[str, np.ndarray]]) -> CoreWeights:
    """Realised currents per neuron and per synapse; the effective weight vs the requested one."""
    realised_core = {core: {role: float(c.realised) for role, c in choices.items()}
                     for core, choices in core_biases.items()}
    n_cores = int(core_of.max(initial=-1)) + 1
    roles = sorted({role for choices in realised_core.values() for role in choices})
    by_core = {role: np.full(n_cores, np.nan) for role in roles}
    for core, values in realised_core.items():
        for role, value in values.items():
            by_core[role][core] = value
    neuron_currents = {}
    for name, offset, size in classes.populations:
        cores = core_of[offset:offset + size]
        neuron_currents[name] = {
            role: np.where(np.isnan(by_core[role][cores]), class_value, by_core[role][cores])
            if role in by_core else class_value
            for role, class_value in per_class[name].items()}
    realised_iw = np.zeros(syn.iw.size)
    syn_core = core_of[syn.post]
    for core in np.unique(syn_core):
        rows = np.flatnonzero(syn_core == core)
        realised_iw[rows] = _realised_level(rows, syn, code, repeats, realised_core[int(core)],
                                            target)
    # The gain each synapse type realises per neuron, relative to its class's gain.
    gain_ratio = np.ones(syn.iw.size)
    for i, st in enumerate(target.synapse_types):
        rows = np.flatnonzero(syn.type_index == i)
        if rows.size == 0:
            continue
        real = np.concatenate([neuron_currents[name].get(st.gain_role, np.ones(size))
                               for name, _, size in classes.populations])
        klass = np.concatenate([per_class[name].get(st.gain_role, np.ones(size))
                                for name, _, size in classes.populations])
        gain_ratio[rows] = (real / klass)[syn.post[rows]]
    kept = code > 0
    effective = np.where(kept, realised_iw * gain_ratio, 0.0)
    return CoreWeights(
        syn_type=syn.split(syn.type_index), code=syn.split(code),
        repeats=syn.split(np.where(kept, repeats, 0)), requested_iw=syn.split(syn.iw),
        effective_iw=syn.split(effective), realised_iw=syn.split(realised_iw),
        core_biases=core_biases, neuron_currents=neuron_currents)
