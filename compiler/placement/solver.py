"""Decide the (chip, core, slot) of every neuron.

Every network first goes through a hierarchy: core-sized blocks of one class each
(:mod:`placement.partition`), blocks onto chips and cores (:mod:`placement.chips`), a neuron-level
local search with hop costs (:mod:`placement.local`) and an SRAM repair
(:mod:`placement.repair`). Small networks are then solved exactly with CP-SAT
(:mod:`placement.cpsat`) from that hint; large ones are improved by large-neighbourhood search:
CP-SAT re-places the neurons of a few cores that exchange the most events while everything else
stays put. Slots come last (:mod:`placement.slots`).

Results are deterministic for a given seed: CP-SAT runs on one worker with a *deterministic* time
limit (``time_limit_s`` is CP-SAT's deterministic work measure, not wall time: a busy machine
takes several wall seconds per deterministic second), and every other step is a fixed sequence
of vectorised operations. The wall time of each phase is reported in ``Placement.phases``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import capacity
from .bound import lower_bound
from .chips import assign_chips
from .cost import events, reach
from .cpsat import PlacementModel, Window
from .local import Layout, Limits, LocalSearch
from .partition import partition
from .problem import PlacementProblem
from .repair import repair_sram
from .resources import Resources, as_resources
from .slots import assign_slots

if TYPE_CHECKING:
    from neurocc.backends.target import Target


#: The neuron-level search with hops goes on while a round gains this fraction of the events
#: (small steps add up there), for at most this many (round x connection) units of work so that
#: its cost stays linear in the network size.
FINAL_MIN_GAIN = 1e-4
FINAL_WORK = 4_000_000


@dataclass(frozen=True)
class PlacementOptions:
    """``time_limit_s``: CP-SAT budget in deterministic seconds, for the whole placement.
    ``hop_cost``: extra events per chip-to-chip hop of an event copy. Networks up to
    ``exact_max_neurons`` neurons (and ``exact_max_terms`` model terms) are solved exactly.
    ``partitioner``: ``spectral`` or ``mtkahypar`` (the optional Mt-KaHyPar package), where
    the core-sized blocks of the hierarchy start from (:mod:`placement.partition`)."""

    seed: int = 0
    time_limit_s: float = 1.0
    exact_max_neurons: int = 512
    exact_max_terms: int = 150_000
    hop_cost: float = 1.0
    local_rounds: int = 40
    lns_iterations: int = 4
    lns_cores: int = 3
    lns_neurons: int = 160
    lns_patience: int = 2
    partitioner: str = "spectral"
    #: At most this many neurons per core (None: full cores); see ``Resources.fill``.
    fill: int | None = None


@dataclass(frozen=True, eq=False)
class Placement:
    """Where every neuron sits, and how good that is.

    ``objective``: expected routed events per step; ``bound``: a proven lower bound on it;
    ``gap = (objective - bound) / objective``. ``status``: ``OPTIMAL``/``FEASIBLE`` (CP-SAT on
    the whole network) or ``HEURISTIC`` (hierarchy; the bound is then the per-source one of
    :mod:`placement.bound`).
    """

    chip: np.ndarray  # global chip index (boards tile the chip grid)
    core: np.ndarray  # core within its chip
    slot: np.ndarray
    neuron_class: np.ndarray
    cores_per_chip: int
    neurons_per_core: int
    objective: float
    bound: float
    status: str
    method: str
    seconds: float
    #: Wall seconds of each phase (partition, chips, local, exact or lns, slots).
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return 0.0 if self.objective <= 0 else max(0.0, (self.objective - self.bound) /
                                                   self.objective)

    def board(self, chips_per_board: int) -> np.ndarray:
        """Board of every neuron, for boards of ``chips_per_board`` chips."""
        return self.chip // chips_per_board

    @property
    def core_of(self) -> np.ndarray:
        """Global core (chip * cores_per_chip + core) of every neuron."""
        return self.chip * self.cores_per_chip + self.core

    @property
    def hw(self) -> np.ndarray:
        """Hardware neuron id of every neuron (see :mod:`compiler.tables`)."""
        return self.core_of * self.neurons_per_core + self.slot


def place(problem: PlacementProblem, target: Target | Resources,
          options: PlacementOptions = PlacementOptions()) -> Placement:
    """Place ``problem`` on ``target`` (a loaded Target or :class:`Resources`).

    Raises :class:`CapacityError` / :class:`InfeasibleError` naming the resource at fault.
    """
    clock = _Clock()
    res = as_resources(target)
    if options.fill is not None:
        res = dataclasses.replace(res, fill=options.fill)
    capacity.check_bounds(problem, res)
    core_of = hierarchical(problem, res, options, 0.3 * options.time_limit_s, clock)
    bound = lower_bound(problem, res, options.hop_cost)
    status, method = "HEURISTIC", "hierarchical"
    if _exact_fits(problem, res, options):
        solved, status, bound_cp = _exact(problem, res, options, core_of)
        bound = max(bound, bound_cp)
        method = "exact"
        if solved is not None:
            core_of = solved
        clock.lap("exact")
    else:
        core_of = lns(problem, res, options, core_of, budget=0.7 * options.time_limit_s)
        clock.lap("lns")
    capacity.check_solution(problem, res, core_of)
    objective = events(problem, core_of, res, options.hop_cost)
    status = "OPTIMAL" if objective <= bound + 1e-9 else status
    slot = assign_slots(problem, core_of, res)
    clock.lap("slots")
    return Placement(chip=core_of // res.cores_per_chip, core=core_of % res.cores_per_chip,
                     slot=slot, neuron_class=problem.neuron_class.copy(),
                     cores_per_chip=res.cores_per_chip, neurons_per_core=res.neurons_per_core,
                     objective=objective, bound=min(bound, objective), status=status,
                     method=method, seconds=clock.total(), phases=clock.laps)


class _Clock:
    """Wall time of each phase (reported, never used for decisions: results stay
    deterministic)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def hierarchical(problem: PlacementProblem, res: Resources, options: PlacementOptions,
                 budget: float, clock: "_Clock | None" = None) -> np.ndarray:
    """Blocks, blocks onto chips and cores, then the neuron-level local search with hops and
    the SRAM repair of the sources still over their limit."""
    clock = clock or _Clock()
    block_of, layout = partition(problem, res, options.local_rounds, options.seed,
                                 options.hop_cost, options.partitioner)
    clock.lap("partition")
    block_core = assign_chips(problem, block_of, layout, res, options.hop_cost, options.seed,
                              budget)
    clock.lap("chips")
    core_of = block_core[block_of]
    cores = Layout(block_class=_core_classes(problem, core_of, res),
                   block_cap=res.core_capacity(),
                   block_chip=np.arange(res.total_cores) // res.cores_per_chip)
    limits = Limits(keys=res.usable_keys, sram=res.sram_per_neuron if res.chips > 1 else 0,
                    hops=res.hops().astype(np.float64), hop_cost=options.hop_cost)
    rounds = min(options.local_rounds, max(1, FINAL_WORK // max(problem.pre.size, 1)))
    core_of = LocalSearch(problem, cores, limits).run(core_of, rounds, FINAL_MIN_GAIN).block_of
    core_of = repair_sram(problem, core_of, res)
    clock.lap("local")
    return core_of


def _core_classes(problem: PlacementProblem, core_of: np.ndarray, res: Resources) -> np.ndarray:
    cls = np.full(res.total_cores, -1, dtype=np.int64)
    cls[core_of] = problem.neuron_class
    return cls


def _exact_fits(problem: PlacementProblem, res: Resources, options: PlacementOptions) -> bool:
    terms = (problem.n_neurons + problem.pre.size) * res.total_cores
    return problem.n_neurons <= options.exact_max_neurons and terms <= options.exact_max_terms


def _exact(problem: PlacementProblem, res: Resources, options: PlacementOptions,
           hint: np.ndarray) -> tuple[np.ndarray | None, str, float]:
    """CP-SAT on the whole network from the heuristic hint: (placement or None when no better
    one was found, CP-SAT status, lower bound). On infeasibility, explain."""
    window = Window(cores=np.arange(res.total_cores), neurons=np.arange(problem.n_neurons))

    def factory(assumptions: bool = False, soft: str | None = None) -> PlacementModel:
        return PlacementModel(problem, res, options.hop_cost, window, hint,
                              assumptions=assumptions, soft=soft)

    result = factory().solve(options.seed, 0.7 * options.time_limit_s)
    if result.status == "INFEASIBLE":
        raise capacity.explain_infeasible(problem, res, factory, options.seed,
                                             0.3 * options.time_limit_s)
    if result.core_of is None:
        return None, result.status, result.bound
    heuristic = events(problem, hint, res, options.hop_cost)
    better = result.core_of if result.objective <= heuristic + 1e-9 else None
    return better, result.status, result.bound


def lns(problem: PlacementProblem, res: Resources, options: PlacementOptions,
        core_of: np.ndarray, budget: float) -> np.ndarray:
    """Large-neighbourhood search: CP-SAT re-places a few hundred neurons of a few cores.

    A window starts from a core drawn with the seeded generator (weighted by the events it
    receives) and grows by the cores that exchange the most events with it; its free neurons
    are those most attracted to another window core relative to their own. A window's result
    is kept only when the whole placement's events go down and no limit breaks. The search
    stops after ``lns_patience`` windows in a row bring nothing.
    """
    if options.lns_iterations <= 0 or res.total_cores < 2:
        return core_of
    rng = np.random.default_rng(options.seed)
    current = events(problem, core_of, res, options.hop_cost)
    per_window = budget / options.lns_iterations
    idle = 0
    for _ in range(options.lns_iterations):
        if idle >= options.lns_patience:
            break
        idle += 1
        cores = _window_cores(problem, res, core_of, options, rng)
        neurons = _window_neurons(problem, core_of, cores, options.lns_neurons, rng)
        if neurons.size == 0:
            continue
        model = PlacementModel(problem, res, options.hop_cost, Window(cores, neurons), core_of)
        result = model.solve(options.seed, per_window)
        if result.core_of is None:
            continue
        value = events(problem, result.core_of, res, options.hop_cost)
        if value < current - 1e-9 and _within_limits(problem, res, result.core_of):
            core_of, current, idle = result.core_of, value, 0
    return core_of


def _window_cores(problem: PlacementProblem, res: Resources, core_of: np.ndarray,
                  options: PlacementOptions, rng: np.random.Generator) -> np.ndarray:
    r = reach(problem, core_of, res, options.hop_cost)
    k = res.total_cores
    own = r.source < problem.n_neurons
    traffic = np.zeros((k, k))
    np.add.at(traffic, (core_of[r.source[own]], r.core[own]), r.charge[own])
    traffic = traffic + traffic.T
    np.fill_diagonal(traffic, 0.0)
    received = np.bincount(r.core, weights=r.charge, minlength=k)
    if received.sum() <= 0:
        return np.array([int(rng.integers(k))])
    chosen = [int(rng.choice(k, p=received / received.sum()))]
    while len(chosen) < min(options.lns_cores, k):
        link = traffic[chosen].sum(axis=0)
        link[chosen] = -1.0
        chosen.append(int(np.argmax(link)))
    return np.array(sorted(chosen))


def _window_neurons(problem: PlacementProblem, core_of: np.ndarray, cores: np.ndarray,
                    limit: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``limit`` neurons of ``cores``: those whose sources send the largest share of
    their targets to another window core rather than to the neuron's own core."""
    members = np.flatnonzero(np.isin(core_of, cores))
    if members.size <= limit:
        return members
    col = np.searchsorted(cores, core_of)  # window column of each neuron (valid for members)
    in_win = np.isin(core_of[problem.post], cores)
    pre, post = problem.pre[in_win], problem.post[in_win]
    share = np.zeros((problem.n_sources, cores.size))
    np.add.at(share, (pre, col[post]), 1.0)
    share *= (problem.rate / np.maximum(problem.fan_out(), 1))[:, None]
    attraction = np.zeros((problem.n_neurons, cores.size))
    np.add.at(attraction, post, share[pre])
    a = attraction[members]
    own = a[np.arange(members.size), col[members]]
    a[np.arange(members.size), col[members]] = -np.inf
    score = a.max(axis=1) - own
    order = np.lexsort((rng.permutation(members.size), -score))
    return np.sort(members[order[:limit]])


def _within_limits(problem: PlacementProblem, res: Resources, core_of: np.ndarray) -> bool:
    try:
        capacity.check_solution(problem, res, core_of)
    except Exception:  # noqa: BLE001 - any limit error means "reject this window"
        return False
    return True
