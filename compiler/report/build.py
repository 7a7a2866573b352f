"""The machine-readable placement and resource report of a compilation.

Stable keys (other tools may rely on them): ``target``, ``chips_used``, ``cores_used``,
``routed_events``, ``checker_ok``, ``max_cam_per_neuron``, ``max_sram_per_neuron``,
``weight_rel_error``, ``bias_rel_error_max``; ``parameter_error`` holds, per population, the
relative error of its requested currents against its classes' shared ones (``max`` and ``mean``
per role, class sharing only, synaptic gains left out) and how many of its classes were merged to fit the cores
(``classes_merged``); ``expected_activity`` holds the expected
``spikes``, ``input_events``, ``routed_events`` and ``synaptic_events`` per step under the
compile's ``--inputs`` rates (null without them), for the energy estimate. Everything is a deterministic function of the
compilation (no timings, no paths), so that the same input gives a byte-identical report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..circuits import precision_floors
from .energy import expected_activity
from ..compilation import Compilation
from ..placement.problem import DEFAULT_RATE

REPORT_FORMAT = "neurocc-report"
REPORT_VERSION = 1


def _round(x: float, digits: int = 6) -> float:
    """Round for stable text (the value is already deterministic; this keeps reports short)."""
    return float(f"{float(x):.{digits}g}")


def per_neuron_bias_error(c: Compilation) -> np.ndarray:
    """For every neuron, the worst relative error between a requested and a realised current
    (class sharing plus bias-generator rounding), floors as in the class assignment. Synaptic
    gains are left out: they also carry the weight scales, whose error is the weight error."""
    floors = precision_floors(c.circuits)
    gains = {st.gain_role for st in c.target.synapse_types}
    worst = []
    for name, pc in c.circuits.populations.items():
        realised = c.weights.neuron_currents[name]
        err = np.zeros(pc.size)
        for role, requested in pc.currents.items():
            if role in gains or role not in realised or c.target.bias_for_role(role) is None:
                continue
            denom = np.maximum(requested, floors.get(role, 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(denom > 0, np.abs(realised[role] - requested) / denom, 0.0)
            err = np.maximum(err, rel)
        worst.append(err)
    return np.concatenate(worst) if worst else np.zeros(0)


def _cores(c: Compilation) -> list[dict[str, Any]]:
    t = c.tables
    n_cores = t.chips * t.cores_per_chip
    cam_hw = np.bincount(t.cam_post, minlength=n_cores * t.neurons_per_core)
    core_of_hw = t.neuron_hw // t.neurons_per_core
    neurons = np.bincount(core_of_hw, minlength=n_cores)
    cam_total = np.bincount(core_of_hw, weights=cam_hw[t.neuron_hw], minlength=n_cores)
    cam_max = np.zeros(n_cores, dtype=np.int64)
    np.maximum.at(cam_max, core_of_hw, cam_hw[t.neuron_hw])
    # distinct (synapse type, weight code) pairs heard by each core
    levels = np.unique(np.stack([t.cam_post // t.neurons_per_core, t.cam_type, t.cam_code]),
                       axis=1)
    levels_used = np.bincount(levels[0], minlength=n_cores)
    rows = []
    for (chip, core), config in sorted(t.cores.items()):
        g = chip * t.cores_per_chip + core
        biases = []
        for role, choice in sorted(c.weights.core_biases[g].items()):
            biases.append({"bias": choice.name, "role": role, "coarse": int(choice.coarse),
                           "fine": int(choice.fine), "requested_A": _round(choice.requested),
                           "realised_A": _round(choice.realised),
                           "rel_error": _round(choice.rel_error, 4)})
        rows.append({"chip": int(chip), "core": int(core), "parameter_class":
                     int(config.parameter_class), "neurons": int(neurons[g]),
                     "cam_max": int(cam_max[g]), "cam_total": int(cam_total[g]),
                     "weight_levels_used": int(levels_used[g]), "biases": biases})
    return rows


def _source_rates(c: Compilation) -> np.ndarray:
    """Events per step of every source (IR neurons, then input channels) the placement used:
    the compile's ``--inputs`` rates, or the uniform placeholder rate."""
    sources = c.network.neurons(include_inputs=True)
    return np.full(sources, DEFAULT_RATE) if c.options.rates is None else \
        np.asarray(c.options.rates, dtype=float)


def _expected_activity(c: Compilation) -> dict[str, float] | None:
    """Expected spikes, input, routed and synaptic events per step under the compile's
    ``--inputs`` rates; None without them (the placeholder rate is no activity)."""
    if c.options.rates is None:
        return None
    return {k: _round(v) for k, v in expected_activity(c.tables, _source_rates(c)).items()}


def _traffic(c: Compilation) -> list[list[float]]:
    """Expected events per step from each used core (last row: external inputs) to each core."""
    t = c.tables
    n_cores = t.chips * t.cores_per_chip
    n = t.neuron_hw.size
    rates = _source_rates(c)
    hw_rate = np.zeros(n_cores * t.neurons_per_core)
    hw_rate[t.neuron_hw] = rates[:n]
    is_neuron = t.sram_src >= 0
    rate = np.where(is_neuron, hw_rate[np.maximum(t.sram_src, 0)],
                    rates[n + np.maximum(-1 - t.sram_src, 0)])
    src_core = np.where(is_neuron, t.sram_src // t.neurons_per_core, n_cores)
    traffic = np.zeros((n_cores + 1, n_cores))
    for bit in range(t.cores_per_chip):
        hit = (t.sram_cores >> bit) & 1 == 1
        np.add.at(traffic, (src_core[hit], t.sram_chip[hit] * t.cores_per_chip + bit), rate[hit])
    return [[_round(v) for v in row] for row in traffic]


def _cam_entries(c: Compilation, projection: str) -> int:
    """CAM entries a projection occupies."""
    w = c.weights
    entries, _ = c.target.weights.cam_entries(w.code[projection], w.repeats[projection])
    return int(entries.sum())


def _pruned(c: Compilation) -> list[dict[str, Any]]:
    """Per projection that ``--max-fanin prune`` cut: synapses dropped, the fraction of its
    expected current (|weight| x source rate) dropped, and the neurons that lost synapses."""
    lost = () if c.pruning is None else c.pruning.projections
    return [{"projection": p.name, "synapses_dropped": p.dropped,
             "current_fraction_dropped": _round(p.current_fraction, 4),
             "neurons_affected": p.neurons} for p in lost]


def _parameter_error(c: Compilation) -> dict[str, dict[str, Any]]:
    """Per population: max and mean class-sharing error per role it uses, classes merged.
    Synaptic gains are left out, as in :func:`per_neuron_bias_error` (quantization sets them)."""
    k = c.classes
    gains = {st.gain_role for st in c.target.synapse_types}
    out = {}
    for name, offset, size in k.populations:
        rows = slice(offset, offset + size)
        merged = 0 if k.unmerged_of is None else \
            np.unique(k.unmerged_of[rows]).size - np.unique(k.class_of[rows]).size
        roles = {role: {"max": _round(np.max(col), 4), "mean": _round(np.mean(col), 4)}
                 for role, col in zip(k.roles, k.error[rows].T)
                 if role not in gains and not np.isnan(col).all()}
        out[name] = {"classes_merged": int(merged), "roles": roles}
    return out


def _merge_note(c: Compilation) -> list[str]:
    """One note when classes were merged to fit the cores: how many, and the worst errors."""
    k = c.classes
    if k.unmerged_of is None:
        return []
    before = int(k.unmerged_of.max()) + 1
    worst = []
    for name, pe in _parameter_error(c).items():
        if pe["roles"]:
            role, e = max(pe["roles"].items(), key=lambda item: item[1]["max"])
            worst.append(f"{name!r} {e['max']:.1%} on {role}")
    return [f"the {before} parameter classes within --class-tolerance "
            f"{c.options.class_tolerance:g} need more cores than the target has; merged to "
            f"{k.n_classes} (least added error); worst relative current error per population: "
            f"{', '.join(worst)} (report.json parameter_error)"]


def _widened_note(c: Compilation) -> list[str]:
    """One note when the bias table cannot realise some requests within --class-tolerance, so
    that role's tolerance was widened (the classes pass never refuses for the tolerance)."""
    wanted = c.options.class_tolerance
    wide = [f"{role} {t:.1%}" for role, t in zip(c.classes.roles, c.classes.tolerance)
            if t > wanted * (1 + 1e-6)]
    if not wide:
        return []
    return [f"the bias generator realises some requests only coarser than --class-tolerance "
            f"{wanted:g}, so these currents share classes within: {', '.join(wide)} "
            f"(report.json parameter_error)"]


def _compile_notes(c: Compilation) -> list[str]:
    """What the compile did that the user did not ask for: classes merged to fit the cores,
    delays it cannot realise, the synapses ``--max-fanin prune`` dropped, and a placement spread
    over more cores because full cores ran out of keys."""
    notes = _widened_note(c) + _merge_note(c)
    delayed = [f"{p.name!r} ({p.delay} steps)" for p in c.network.projections.values()
               if p.delay > 1]
    if delayed:
        more = f" and {len(delayed) - 4} more" if len(delayed) > 4 else ""
        notes.append(f"projection delays not realised: {', '.join(delayed[:4])}{more}; neurocc "
                     "programs no synaptic delay, so each event reaches its targets with the "
                     "chip's own routing latency (one step in the circuit simulator)")
    if c.pruning is not None:
        notes.append(c.pruning.note())
    fill = c.options.placement.fill
    if fill is not None:
        notes.append(f"placement spread the neurons, at most {fill} per core: full cores would "
                     "receive more distinct sources than their keys tell apart")
    return notes


def build_report(c: Compilation) -> dict[str, Any]:
    """The report of a finished compilation (every pass has run)."""
    t, p, w = c.tables, c.placement, c.weights
    cam = np.bincount(t.cam_post) if t.cam_post.size else np.zeros(1, np.int64)
    sram = np.bincount(t.sram_src[t.sram_src >= 0]) if np.any(t.sram_src >= 0) else \
        np.zeros(1, np.int64)
    bias_err = per_neuron_bias_error(c)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "network": c.network.name,
        "target": c.target.name,
        "chips_available": int(c.target.chips),
        "chips_used": int(np.unique(p.chip).size),
        "cores_used": int(len(t.cores)),
        "neurons": int(c.network.neurons()),
        "input_channels": int(c.network.neurons(include_inputs=True) - c.network.neurons()),
        "synapses": int(c.network.synapses()),
        "parameter_classes": int(c.classes.n_classes),
        "parameter_classes_lower_bound": int(c.classes.lower_bound),
        "routed_events": _round(p.objective),
        "solver": {"status": p.status, "method": p.method,
                   "partitioner": c.options.placement.partitioner,
                   "objective": _round(p.objective), "bound": _round(p.bound),
                   "gap": _round(p.gap, 4)},
        "checker_ok": bool(c.check.ok),
        "max_cam_per_neuron": int(cam.max()),
        "max_sram_per_neuron": int(sram.max()),
        "cam_per_neuron_limit": int(c.target.cam_per_neuron),
        "sram_per_neuron_limit": int(c.target.sram_usable),
        "weight_rel_error": _round(w.rel_error, 4),
        "bias_rel_error_max": _round(float(bias_err.max(initial=0.0)), 4),
        "parameter_error": _parameter_error(c),
        "projections": [{"name": name, "synapses": int(w.requested_iw[name].size),
                         "kept": int(np.count_nonzero(w.code[name])),
                         "cam_entries": int(_cam_entries(c, name)),
                         "weight_rel_error": _round(w.projection_error(name), 4)}
                        for name in w.requested_iw],
        "cores": _cores(c),
        "core_traffic_events": _traffic(c),
        "expected_activity": _expected_activity(c),
        "notes": list(c.options.notes) + list(c.circuits.notes) + _compile_notes(c),
        "pruned": _pruned(c),
        "neuron_model": _neuron_model(c),
    }


def _neuron_model(c: Compilation) -> dict[str, Any]:
    """The neuron model the mapping was made for and, per population, its fit
    (``compiler/neuron_fit.py``: threshold scale, drive shift, largest f-I rate error vs the LIF;
    null for the linear mapping of the model without feedback)."""
    fits = {name: None if pc.fit is None else
            {"threshold_scale": _round(pc.fit.threshold_scale, 6),
             "drive_shift": _round(pc.fit.drive_shift, 6),
             "rate_rel_error": _round(pc.fit.rate_rel_error, 4)}
            for name, pc in c.circuits.populations.items()}
    return {"name": c.options.circuit.neuron_model, "fit": fits}
