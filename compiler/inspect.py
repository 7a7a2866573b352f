"""What is in a network: the data behind ``neurocc inspect`` (rendering lives in the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .ir import Network

if TYPE_CHECKING:
    from neurocc.backends.target import Target


def _stats(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"min": 0.0, "mean": 0.0, "max": 0.0}
    return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}


def fan_in(net: Network, population: str) -> np.ndarray:
    """Number of synapses (non-zero weights) reaching each neuron of ``population``."""
    counts = np.zeros(net.populations[population].size, dtype=np.int64)
    for proj in net.incoming(population):
        counts += np.diff(proj.weights.indptr)
    return counts


def fan_out(net: Network, population: str) -> np.ndarray:
    """Number of synapses leaving each neuron of ``population``."""
    counts = np.zeros(net.populations[population].size, dtype=np.int64)
    for proj in net.outgoing(population):
        counts += np.bincount(proj.weights.indices, minlength=counts.size)
    return counts


def summarize(net: Network, targets: list[Any] = ()) -> dict[str, Any]:
    """A JSON-ready summary of ``net``; with ``targets`` (loaded Target objects), what each needs.

    Stable keys: ``total_neurons``, ``total_synapses``, ``recurrent``, ``populations`` (each with
    ``name``, ``size``, ``model``).
    """
    populations = []
    for pop in net.populations.values():
        fin, fout = fan_in(net, pop.name), fan_out(net, pop.name)
        populations.append({
            "name": pop.name,
            "size": pop.size,
            "model": pop.model,
            "spiking": pop.spiking,
            "reset": pop.reset if not pop.is_input else None,
            "refractory_s": pop.refractory,
            "params": {name: _stats(value) for name, value in pop.params.items()},
            "fan_in": _stats(fin),
            "fan_out": _stats(fout),
        })
    projections = [{
        "name": proj.name,
        "source": proj.source,
        "target": proj.target,
        "synapses": proj.num_synapses,
        "density": proj.num_synapses / max(1, proj.weights.shape[0] * proj.weights.shape[1]),
        "delay": int(proj.delay),
        "sign": proj.sign,
        "weight": _stats(proj.weights.data[proj.weights.data != 0]),
    } for proj in net.projections.values()]
    summary = {
        "name": net.name,
        "dt_s": net.dt,
        "total_neurons": net.neurons(),
        "total_input_channels": net.neurons(include_inputs=True) - net.neurons(),
        "total_synapses": net.synapses(),
        "recurrent": net.recurrent,
        "inputs": list(net.inputs),
        "outputs": list(net.outputs),
        "populations": populations,
        "projections": projections,
    }
    if targets:
        summary["targets"] = [target_needs(net, t) for t in targets]
    return summary


def target_needs(net: Network, target: Target) -> dict[str, Any]:
    """Lower bounds on what ``net`` needs on ``target`` (cores, chips, CAM fan-in)."""
    from .placement.resources import as_resources, class_blocks

    res = as_resources(target)
    neurons = net.neurons()
    # the placement's own capacity rule (cores with a reserved slot hold one neuron less), on a
    # board with as many chips as needed, so that inspect and compile agree
    chips = res.chips_needed([neurons])
    caps = np.tile(res.core_capacity()[:res.cores_per_chip], chips)
    cores = int(class_blocks([neurons], caps)[0].sum()) if neurons else 0
    sizes = [p.size for p in net.populations.values() if not p.is_input]
    cores_one_class_each = int(class_blocks(sizes, np.tile(
        caps[:res.cores_per_chip], res.chips_needed(sizes)))[0].sum()) if sizes else 0
    fin = np.concatenate([fan_in(net, p.name) for p in net.populations.values()
                          if not p.is_input] or [np.zeros(0, dtype=np.int64)])
    over = int(np.count_nonzero(fin > target.cam_per_neuron))
    return {
        "target": target.name,
        "neurons": neurons,
        "neurons_per_core": target.neurons_per_core,
        "cores_lower_bound": cores,
        "cores_one_population_per_core": cores_one_class_each,
        "cores_available": target.total_cores,
        "chips_lower_bound": chips if neurons else 0,
        "chips_available": target.chips,
        "cam_per_neuron": target.cam_per_neuron,
        "max_fan_in": int(fin.max()) if fin.size else 0,
        "neurons_over_cam": over,
        "fits": cores <= target.total_cores and over == 0,
    }
