"""Why a network does not fit: cheap bounds before solving, and explanations after.

Every message names the resource, the populations (and worst neurons) concerned, by how much they
exceed it, and what would fix it. Bounds run before any solver; when the exact CP-SAT model is
infeasible, its constraint families sit behind assumption literals and the infeasible core names
the families at fault; a second solve that lets that family overflow (minimising the overflow)
tells who exceeds it and by how much.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import CapacityError, InfeasibleError, InvalidModelError, KeyCapacityError
from .cost import usage
from .problem import PlacementProblem, build_problem
from .resources import Resources, as_resources, class_blocks

if TYPE_CHECKING:
    from ..compilation import Compilation

#: How many populations / neurons a message lists before "...".
LIST_MAX = 4


# -- bounds before solving ----------------------------------------------------------------------
def check_bounds(problem: PlacementProblem, res: Resources) -> None:
    """Raise :class:`CapacityError` for the first resource family that cannot possibly fit."""
    if not res.in_hop_range().all():
        raise CapacityError(f"some of the {res.chips} chips cannot reach each other within the "
                            f"hop range {list(res.hop_range)}", where=f"target {res.name}",
                            fix="pass fewer --chips, so that the chip grid fits the hop range")
    _, counts = np.unique(problem.neuron_class, return_counts=True)
    if class_blocks(counts, res.core_capacity()) is None:
        raise cores_error(problem, res)
    over = np.flatnonzero(problem.cam_cost > res.cam_per_neuron)
    if over.size:
        raise _cam_error(problem, res, over)
    chips = min_dest_chips(problem, res)
    over = np.flatnonzero(chips > res.sram_per_neuron)
    if over.size:
        raise _sram_error(problem, res, over, chips[over] - res.sram_per_neuron, "must reach")


def min_dest_cores(problem: PlacementProblem, res: Resources) -> np.ndarray:
    """Per source, the fewest cores its targets can occupy (one class per core, full cores)."""
    ncls = int(problem.neuron_class.max(initial=0)) + 1
    key = np.unique(problem.pre * ncls + problem.neuron_class[problem.post], return_counts=True)
    cap = int(res.core_capacity().max())
    out = np.zeros(problem.n_sources, dtype=np.int64)
    np.add.at(out, key[0] // ncls, -(-key[1] // cap))
    return out


def min_dest_chips(problem: PlacementProblem, res: Resources) -> np.ndarray:
    """Per neuron source, the fewest chips its targets can occupy (inputs: 0, they need no SRAM)."""
    chips = -(-min_dest_cores(problem, res) // res.cores_per_chip)
    chips[problem.n_neurons:] = 0
    return chips


def cores_error(problem: PlacementProblem, res: Resources) -> CapacityError:
    """The classes do not fit the cores (:func:`class_blocks`): how many cores and chips they
    need, counted by the same rule on a board with enough chips."""
    classes, counts = np.unique(problem.neuron_class, return_counts=True)
    chips = res.chips_needed(counts)
    per_chip = res.core_capacity()[:res.cores_per_chip]
    per = class_blocks(counts, np.tile(per_chip, chips))[0]
    needed = int(per.sum())
    order = np.argsort(-per, kind="stable")
    parts = []
    for i in order[:LIST_MAX]:
        members = np.flatnonzero(problem.neuron_class == classes[i])
        parts.append(f"class {int(classes[i])}: {int(counts[i])} neurons -> {int(per[i])} "
                     f"core(s) [{_pops(problem, members)}]")
    more = f"; {classes.size - LIST_MAX} more classes" if classes.size > LIST_MAX else ""
    reserved = "" if per_chip.min() == per_chip.max() else (
        f", {int(per_chip.max() - per_chip.min())} neuron slot(s) of some cores reserved")
    board = f"({res.chips} chips x {res.cores_per_chip} cores)"
    short = (f"the target has {res.total_cores} {board}: short by {needed - res.total_cores} "
             f"cores" if needed > res.total_cores else
             f"on {chips} chips; the {res.total_cores} cores of the target {board} hold fewer "
             f"neurons, their reserved slots included")
    return CapacityError(
        f"not enough cores: the {classes.size} parameter classes need {needed} cores of "
        f"{int(per_chip.max())} neurons{reserved} ({'; '.join(parts)}{more}), {short}",
        where=f"target {res.name}",
        fix=f"pass --chips {chips}, or make the populations smaller")


def _cam_error(problem: PlacementProblem, res: Resources, over: np.ndarray) -> CapacityError:
    excess = problem.cam_cost[over] - res.cam_per_neuron
    worst = over[np.argsort(-excess, kind="stable")[:LIST_MAX]]
    w = ", ".join(f"{problem.index.describe_source(int(v))}: {int(problem.cam_cost[v])} entries "
                  f"({int(problem.cam_cost[v]) - res.cam_per_neuron} over)" for v in worst)
    return CapacityError(
        f"CAM overflow: {over.size} neurons need more than {res.cam_per_neuron} CAM entries "
        f"(fan-in incl. repeated entries) [{_pops(problem, over)}]; worst: {w}",
        where=f"target {res.name}",
        fix=f"pass --max-fanin prune (keeps the {res.cam_per_neuron} strongest synapses of each "
            f"neuron, reported), use fewer repeated entries for large weights, or split their "
            f"inputs over relay neurons")


def _sram_error(problem: PlacementProblem, res: Resources, over: np.ndarray, excess: np.ndarray,
                verb: str) -> CapacityError:
    worst = over[np.argsort(-excess, kind="stable")[:LIST_MAX]]
    ex = dict(zip(over.tolist(), excess.tolist()))
    w = ", ".join(f"{problem.index.describe_source(int(s))}: {res.sram_per_neuron + ex[int(s)]} "
                  f"chips ({ex[int(s)]} over)" for s in worst)
    fixes = ["split the fan-out of these neurons over relay neurons",
             "make their target populations smaller or give them fewer parameter classes"]
    if res.sram_entries > res.sram_per_neuron:
        fixes.insert(0, f"allow all {res.sram_entries} SRAM entries "
                        f"(--sram-usable {res.sram_entries})")
    return CapacityError(
        f"SRAM (fan-out) overflow: {over.size} neuron(s) {verb} more destination chips than "
        f"their {res.sram_per_neuron} SRAM entries allow [{_pops(problem, over)}]; worst: {w}", where=f"target {res.name}", fix=", or ".join(fixes))


# -- after solving ------------------------------------------------------------------------------
def check_solution(problem: PlacementProblem, res: Resources, core_of: np.ndarray) -> None:
    """Raise :class:`CapacityError` for limits a heuristic placement still breaks."""
    u = usage(problem, core_of, res)
    over_keys = np.flatnonzero(u.sources_per_core > res.usable_keys)
    if over_keys.size:
        raise _keys_error(problem, res, core_of, over_keys,
                          u.sources_per_core[over_keys] - res.usable_keys)
    over = np.flatnonzero(u.chips_per_source[:problem.n_neurons] > res.sram_per_neuron)
    if over.size:
        raise _sram_error(problem, res, over, u.chips_per_source[over] - res.sram_per_neuron,
                          "reach, in the best placement found,")


def _keys_error(problem, res, core_of, cores, excess) -> CapacityError:
    parts = []
    for k, e in list(zip(cores.tolist(), excess.tolist()))[:LIST_MAX]:
        members = np.flatnonzero(core_of == k)
        parts.append(f"chip {k // res.cores_per_chip} core {k % res.cores_per_chip}: "
                     f"{res.usable_keys + e} sources ({e} over) [{_pops(problem, members)}]")
    return KeyCapacityError(
        f"too many distinct sources per core: a core tells apart {res.usable_keys} sources "
        f"(keys), but {cores.size} core(s) receive more: {'; '.join(parts)}",
        where=f"target {res.name}",
        fix="pass more chips with --chips (the compile spreads the neurons over the cores it is "
            "given), or give the network more locality (groups of neurons sharing their inputs)")


def explain_infeasible(problem: PlacementProblem, res: Resources, model_factory, seed: int,
                       deterministic_time: float) -> InfeasibleError | CapacityError:
    """Name the constraint family behind an infeasible exact model, who overflows it and by how
    much. ``model_factory(assumptions, soft)`` builds a :class:`PlacementModel`."""
    model = model_factory(assumptions=True, soft=None)
    families = list(model.solve(seed, deterministic_time).infeasible_families)
    # shrink the core (presolve may blame every family): drop each one that is not needed
    for f in list(families):
        rest = tuple(g for g in families if g != f)
        if rest and model.solve(seed, deterministic_time, assume=rest).status == "INFEASIBLE":
            families = list(rest)
    if not families:
        return InfeasibleError("the solver proved that no placement exists but named no "
                               "resource family", where=f"target {res.name}",
                               fix=f"pass --chips {2 * res.chips}")
    family = families[0]
    soft = model_factory(assumptions=False, soft=family)
    relaxed = soft.solve(seed, deterministic_time)
    others = f" (together with: {', '.join(families[1:])})" if len(families) > 1 else ""
    if relaxed.core_of is None:
        return InfeasibleError(f"no placement satisfies the {family} limits{others}",
                               where=f"target {res.name}", fix=f"pass --chips {2 * res.chips}")
    u = usage(problem, relaxed.core_of, res)
    core_of = relaxed.core_of
    if family == "sram":
        over = np.flatnonzero(u.chips_per_source[:problem.n_neurons] > res.sram_per_neuron)
        err = _sram_error(problem, res, over, u.chips_per_source[over] - res.sram_per_neuron,
                          "reach, in every placement,")
    elif family == "keys":
        over = np.flatnonzero(u.sources_per_core > res.usable_keys)
        err = _keys_error(problem, res, core_of, over,
                          u.sources_per_core[over] - res.usable_keys)
    elif family == "capacity":
        cap = res.core_capacity()
        over = np.flatnonzero(u.neurons_per_core > cap)
        err = CapacityError(
            f"not enough cores: with one parameter class per core and the other limits, "
            f"{int((u.neurons_per_core - cap)[over].sum())} neurons do not fit "
            f"[{_pops(problem, np.flatnonzero(np.isin(core_of, over)))}]",
            where=f"target {res.name}",
            fix=f"pass --chips {2 * res.chips}, or merge parameter classes (a larger "
                "--class-tolerance)")
    else:
        over = np.flatnonzero(u.classes_per_core > 1)
        err = CapacityError(
            f"one parameter class per core: {int((u.classes_per_core[over] - 1).sum())} extra "
            f"classes would have to share cores "
            f"[{_pops(problem, np.flatnonzero(np.isin(core_of, over)))}]",
            where=f"target {res.name}",
            fix=f"pass --chips {2 * res.chips}, or merge parameter classes (a larger "
                "--class-tolerance)")
    return InfeasibleError(f"{err.message}{others}", where=err.where, fix=err.fix)


def _pops(problem: PlacementProblem, neurons: np.ndarray) -> str:
    """``population 'a' (12), population 'b' (3)`` for a set of neurons or sources."""
    neurons = np.asarray(neurons)
    counts = problem.index.populations_of(neurons[neurons < problem.n_neurons])
    parts = [f"population {name!r} ({k})" for name, k in
             sorted(counts.items(), key=lambda kv: -kv[1])[:LIST_MAX]]
    inputs = int(np.count_nonzero(neurons >= problem.n_neurons))
    if inputs:
        parts.append(f"{inputs} input channels")
    if len(counts) > LIST_MAX:
        parts.append(f"{len(counts) - LIST_MAX} more populations")
    return ", ".join(parts)


def run(c: Compilation) -> Compilation:
    """Pass ``capacity``: cheap bounds before any mapping or solving (cores, CAM fan-in, SRAM
    fan-out, with every neuron in one class, so each bound is a true lower bound)."""
    if c.network.neurons() == 0:
        raise InvalidModelError("the network has no neuron population: nothing to place on a "
                                "chip", where=c.network.name,
                                fix="compile a model with at least one spiking population "
                                    "(check it with `neurocc inspect MODEL`)")
    problem = build_problem(c.network, np.zeros(c.network.neurons(), dtype=np.int64))
    check_bounds(problem, as_resources(c.target))
    return c
