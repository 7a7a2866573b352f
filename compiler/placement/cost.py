"""The placement objective and resource usage of a given neuron -> core assignment.

Expected routed events: every source sends each of its events once to every core holding one of
its targets; a copy delivered to a core on another chip costs ``hop_cost`` more per chip-to-chip
hop. So the objective is ``sum over (source s, destination core k) of
rate[s] * (1 + hop_cost * hops(chip of s, chip of k))``. Input channels enter at their
destination chip (no hops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import PlacementProblem
from .resources import Resources


@dataclass(frozen=True, eq=False)
class Reach:
    """The distinct (source, destination core) pairs of an assignment."""

    source: np.ndarray
    core: np.ndarray
    charge: np.ndarray  # expected events for this pair


def reach(problem: PlacementProblem, core_of: np.ndarray, res: Resources,
          hop_cost: float) -> Reach:
    """Distinct (source, core) pairs and their expected events under ``core_of`` (per neuron)."""
    k = res.total_cores
    pair = np.unique(problem.pre * k + core_of[problem.post])
    src, core = pair // k, pair % k
    hop = np.zeros(src.size)
    is_neuron = src < problem.n_neurons
    if hop_cost and res.chips > 1:
        h = res.hops()
        src_chip = core_of[src[is_neuron]] // res.cores_per_chip
        hop[is_neuron] = h[src_chip, core[is_neuron] // res.cores_per_chip]
    return Reach(src, core, problem.rate[src] * (1.0 + hop_cost * hop))


def events(problem: PlacementProblem, core_of: np.ndarray, res: Resources,
           hop_cost: float) -> float:
    """Expected routed events per step of the assignment ``core_of``."""
    return float(reach(problem, core_of, res, hop_cost).charge.sum())


@dataclass(frozen=True, eq=False)
class Usage:
    """How much of every per-core / per-source resource an assignment uses."""

    neurons_per_core: np.ndarray  # (cores,)
    classes_per_core: np.ndarray  # (cores,) distinct parameter classes
    sources_per_core: np.ndarray  # (cores,) distinct sources arriving (keys needed)
    chips_per_source: np.ndarray  # (sources,) distinct destination chips (SRAM entries)


def usage(problem: PlacementProblem, core_of: np.ndarray, res: Resources) -> Usage:
    k = res.total_cores
    r = reach(problem, core_of, res, 0.0)
    per_core = np.bincount(core_of, minlength=k)
    cls = np.unique(core_of.astype(np.int64) * (problem.neuron_class.max(initial=0) + 1)
                    + problem.neuron_class)
    classes_per_core = np.bincount(cls // (problem.neuron_class.max(initial=0) + 1), minlength=k)
    dest_chip = r.core // res.cores_per_chip
    chip_pair = np.unique(r.source * res.chips + dest_chip)
    src_of_pair = chip_pair // res.chips
    chips_per_source = np.bincount(src_of_pair, minlength=problem.n_sources)
    return Usage(per_core, classes_per_core, np.bincount(r.core, minlength=k), chips_per_source)
