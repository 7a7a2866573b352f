"""Exact CP-SAT model of neuron -> core placement, for a whole small network or one LNS window.

A window is a set of cores ``K`` and a set of free neurons ``V`` currently on them; every other
neuron stays where it is (fixed neurons may share a core of ``K``). The exact solve frees all
neurons and all cores. One constraint family per block below:

* assignment: every free neuron on exactly one core of ``K`` that accepts its class;
* capacity: at most the core's capacity, fixed neurons included;
* classes: one parameter class per core;
* reach: ``r[s, k]`` is 1 iff source ``s`` has a free target on core ``k`` (a pair reached
  through a fixed target is a constant);
* keys: at most ``usable_keys`` distinct sources reach a core;
* SRAM: a neuron source reaches at most ``sram`` distinct chips (fixed ones included);
* hops: ``h[s, k]`` carries the hop count of a free source whose chip can change;
* symmetry breaking: interchangeable empty-of-fixed cores of a chip are ordered by their lowest
  neuron;
* cuts (whole network only): a source reaches at least the cores its targets of each class need.

The objective is the expected events of every (source, core) pair, scaled to integers; pairs the
model cannot change are a constant added back. Families can sit behind assumption literals so
that an infeasible model names the families of its infeasible core (see :mod:`capacity`), or
one family can be made soft (slack minimised) to measure by how much it overflows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from .problem import PlacementProblem
from .resources import Resources

#: Largest objective coefficient after scaling to integers.
OBJECTIVE_SCALE = 10_000
#: Constraint families that can be blamed, most specific first.
FAMILIES = ("sram", "keys", "classes", "capacity")


@dataclass(eq=False)
class Window:
    """What a model may change: the free ``neurons`` (all on ``cores``) and the ``cores``."""

    cores: np.ndarray
    neurons: np.ndarray


@dataclass(eq=False)
class ModelResult:
    status: str
    core_of: np.ndarray | None  # full assignment (None when no solution)
    objective: float  # expected events of the whole placement (model scale undone)
    bound: float  # lower bound on the same
    infeasible_families: tuple[str, ...] = field(default_factory=tuple)


def solver_for(seed: int, deterministic_time: float) -> cp_model.CpSolver:
    """One deterministic worker; cheap presolve so that the time goes to search from the hint."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = deterministic_time
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.symmetry_level = 0
    solver.parameters.merge_at_most_one_work_limit = 100_000
    solver.parameters.linearization_level = 2
    return solver


def _core_groups(cores: list[int], res: Resources) -> list[list[int]]:
    """Interchangeable cores: same chip, same capacity."""
    cap = res.core_capacity()
    groups: dict[tuple[int, int], list[int]] = {}
    for k in sorted(cores):
        groups.setdefault((k // res.cores_per_chip, int(cap[k])), []).append(k)
    return [g for g in groups.values() if len(g) > 1]


class PlacementModel:
    """Builds and solves the model for one window; ``core_of`` is the current full assignment
    (fixed outside the window, the hint inside)."""

    def __init__(self, problem: PlacementProblem, res: Resources, hop_cost: float,
                 window: Window, core_of: np.ndarray, assumptions: bool = False,
                 soft: str | None = None):
        self.p, self.res, self.hc = problem, res, hop_cost
        self.win = Window(np.sort(window.cores), np.sort(window.neurons))
        self.soft = soft
        self.slack: list = []
        self.m = cp_model.CpModel()
        self.family = {f: self.m.NewBoolVar(f) for f in FAMILIES} if assumptions else {}
        self.hints: list[tuple] = []
        self._prepare(core_of)
        self._build()

    # -- data -------------------------------------------------------------------------------
    def _prepare(self, core_of: np.ndarray) -> None:
        p, res = self.p, self.res
        self.free = np.zeros(p.n_neurons, dtype=bool)
        self.free[self.win.neurons] = True
        self.K = sorted(self.win.cores.tolist())
        fixed_on = np.bincount(core_of[~self.free], minlength=res.total_cores)
        self.fixed_count = {k: int(fixed_on[k]) for k in self.K}
        self.whole = self.win.neurons.size == p.n_neurons
        self.groups = [g for g in _core_groups(self.K, res)
                       if all(self.fixed_count[k] == 0 for k in g)]
        self.core_of = self._canonical(core_of)
        self.chip_k = np.asarray(self.K) // res.cores_per_chip
        self.chips = sorted(set(self.chip_k.tolist()))
        self.hops = res.hops()
        self.chip_varies = self.hc > 0 and len(self.chips) > 1
        # class accepted by each window core (-1: any)
        self.core_class = {}
        for k in self.K:
            fixed = np.flatnonzero((self.core_of == k) & ~self.free)
            self.core_class[k] = int(p.neuron_class[fixed[0]]) if fixed.size else -1
        # free targets of every source, and the (source, core) pairs reached through fixed ones
        inside = self.free[p.post]
        self.sources = np.unique(p.pre[inside])
        order = np.argsort(p.pre[inside], kind="stable")
        pre_in, post_in = p.pre[inside][order], p.post[inside][order]
        lo = np.searchsorted(pre_in, self.sources)
        hi = np.searchsorted(pre_in, self.sources, side="right")
        self.posts = {int(s): post_in[a:b] for s, a, b in zip(self.sources, lo, hi)}
        pairs = np.unique(p.pre[~inside] * res.total_cores + self.core_of[p.post[~inside]])
        self.fixed_src, self.fixed_core = pairs // res.total_cores, pairs % res.total_cores
        self.fan_out = p.fan_out()
        self.scale = OBJECTIVE_SCALE / max(float(p.rate.max(initial=0.0)) *
                                           (1 + self.hc * float(self.hops.max(initial=0))),
                                           1e-12)

    def _canonical(self, core_of: np.ndarray) -> np.ndarray:
        """Relabel the interchangeable cores in order of their lowest neuron, empty ones last:
        the form the symmetry-breaking constraints accept."""
        out = core_of.copy()
        for group in self.groups:
            first = [(int(np.flatnonzero(core_of == k).min()) if np.any(core_of == k) else
                      np.iinfo(np.int64).max, k) for k in group]
            for new, (_, old) in zip(group, sorted(first)):
                out[core_of == old] = new
        return out

    def _fixed_cores(self, s: int) -> np.ndarray:
        a, b = np.searchsorted(self.fixed_src, [s, s + 1])
        return self.fixed_core[a:b]

    def _limit(self, expr, rhs: int, family: str) -> None:
        """``expr <= rhs`` for a constraint family: behind its assumption literal when
        diagnosing, or with a slack (minimised) when that family is the soft one."""
        if family == self.soft:
            slack = self.m.NewIntVar(0, max(self.p.n_sources, 1), f"slack_{family}")
            self.slack.append(slack)
            self.m.Add(expr <= rhs + slack)
            return
        ct = self.m.Add(expr <= rhs)
        if self.family:
            ct.OnlyEnforceIf(self.family[family])

    def _coef(self, value: float) -> int:
        return int(round(value * self.scale))

    # -- the model --------------------------------------------------------------------------
    def _build(self) -> None:
        self._assignment()
        self._capacity()
        self._classes()
        self._reach()
        self._keys()
        self._sram()
        if self.whole:
            self._cuts()
        self._symmetry()
        self._objective()
        for var, value in self.hints:
            self.m.AddHint(var, value)

    def _assignment(self) -> None:
        """Every free neuron on exactly one window core accepting its class."""
        m, cls = self.m, self.p.neuron_class
        self.x: dict[int, dict[int, cp_model.IntVar]] = {}
        for v in self.win.neurons.tolist():
            allowed = [k for k in self.K if self.core_class[k] in (-1, int(cls[v]))]
            self.x[v] = {k: m.NewBoolVar(f"x{v}_{k}") for k in allowed}
            m.AddExactlyOne(self.x[v].values())
            for k, var in self.x[v].items():
                self.hints.append((var, int(self.core_of[v] == k)))

    def _on(self, k: int, neurons) -> list:
        return [self.x[v][k] for v in neurons if k in self.x[v]]

    def _capacity(self) -> None:
        cap = self.res.core_capacity()
        V = self.win.neurons.tolist()
        for k in self.K:
            self._limit(sum(self._on(k, V)), int(cap[k]) - self.fixed_count[k], "capacity")

    def _classes(self) -> None:
        """Cores without fixed neurons take one class (the others accept only theirs)."""
        cls = self.p.neuron_class
        classes = np.unique(cls[self.win.neurons])
        if classes.size < 2:
            return
        for k in (k for k in self.K if self.core_class[k] < 0):
            used = []
            for c in classes.tolist():
                members = self.win.neurons[cls[self.win.neurons] == c].tolist()
                u = self.m.NewBoolVar(f"u{k}_{c}")
                self.m.Add(sum(self._on(k, members)) <= len(members) * u)
                self.hints.append((u, int(np.any(self.core_of[members] == k))))
                used.append(u)
            self._limit(sum(used), 1, "classes")

    def _reach(self) -> None:
        """r[s, k] = 1 iff s has a free target on core k (when no fixed target reaches it)."""
        self.r: dict[int, dict[int, cp_model.IntVar]] = {}
        for s in self.sources.tolist():
            posts = self.posts[s].tolist()
            fixed = set(self._fixed_cores(s).tolist())
            row = {}
            for k in self.K:
                on = self._on(k, posts)
                if k in fixed or not on:
                    continue
                r = self.m.NewBoolVar(f"r{s}_{k}")
                self.m.AddMaxEquality(r, on)
                self.hints.append((r, int(np.any(self.core_of[posts] == k))))
                row[k] = r
            self.r[s] = row

    def _keys(self) -> None:
        """Distinct sources per core (fixed ones included) within the key count."""
        fixed_sources = np.bincount(self.fixed_core, minlength=self.res.total_cores)
        for k in self.K:
            terms = [row[k] for row in self.r.values() if k in row]
            if len(terms) + int(fixed_sources[k]) > self.res.usable_keys:
                self._limit(sum(terms), self.res.usable_keys - int(fixed_sources[k]), "keys")

    def _sram(self) -> None:
        """A neuron source reaches at most ``sram`` chips, the fixed ones included."""
        res, m = self.res, self.m
        if res.chips == 1:
            return
        for s, row in self.r.items():
            if s >= self.p.n_neurons:
                continue  # input channels are injected directly, no SRAM
            fixed = set((self._fixed_cores(s) // res.cores_per_chip).tolist())
            open_chips = [c for c in self.chips if c not in fixed]
            if len(fixed) + len(open_chips) <= res.sram_per_neuron:
                continue
            used = []
            for c in open_chips:
                on = [r for k, r in row.items() if k // res.cores_per_chip == c]
                if not on:
                    continue
                u = m.NewBoolVar(f"c{s}_{c}")
                m.AddMaxEquality(u, on)
                self.hints.append((u, int(np.any(self.core_of[self.posts[s]] //
                                                 res.cores_per_chip == c))))
                used.append(u)
            self._limit(sum(used), res.sram_per_neuron - len(fixed), "sram")

    def _cuts(self) -> None:
        """A source reaches at least the cores that its targets of each class fill (at least
        one): redundant, but it gives the LP relaxation a useful bound."""
        big = int(self.res.core_capacity().max())
        for s, row in self.r.items():
            _, counts = np.unique(self.p.neuron_class[self.posts[s]], return_counts=True)
            self.m.Add(sum(row.values()) >= int((-(-counts // big)).sum()))

    def _symmetry(self) -> None:
        """Order interchangeable cores by their lowest neuron: neuron v may sit on core b only
        if some neuron before v sits on the core a preceding b."""
        m = self.m
        V = self.win.neurons.tolist()
        for group in self.groups:
            for ka, kb in zip(group[:-1], group[1:]):
                seen_before = None
                for j, v in enumerate(V):
                    if kb in self.x[v]:
                        if seen_before is None:
                            m.Add(self.x[v][kb] == 0)
                        else:
                            m.AddImplication(self.x[v][kb], seen_before)
                    parts = ([self.x[v][ka]] if ka in self.x[v] else []) + \
                        ([seen_before] if seen_before is not None else [])
                    if not parts:
                        continue
                    seen = m.NewBoolVar(f"seen{ka}_{j}")
                    m.AddMaxEquality(seen, parts)
                    self.hints.append((seen, int(np.any(self.core_of[V[:j + 1]] == ka))))
                    seen_before = seen

    def _objective(self) -> None:
        p, hc, m = self.p, self.hc, self.m
        terms = []
        for s, row in self.r.items():
            rate = float(p.rate[s])
            chip_s = self._known_chip(s)
            for k, r in row.items():
                hop = 0 if chip_s is None else int(self.hops[chip_s,
                                                              k // self.res.cores_per_chip])
                terms.append((self._coef(rate * (1 + hc * hop)), r))
        if self.chip_varies:
            for s in self.win.neurons.tolist():
                if self.fan_out[s]:
                    terms += self._free_source_hops(s, float(p.rate[s]))
        if self.soft:
            m.Minimize(sum(self.slack))
        else:
            m.Minimize(sum(c * v for c, v in terms if c))

    def _known_chip(self, s: int) -> int | None:
        """Chip of a source when the model cannot move it off it (None: it can, or an input)."""
        if s >= self.p.n_neurons or (self.free[s] and self.chip_varies):
            return None
        return int(self.core_of[s] // self.res.cores_per_chip)

    def _free_source_hops(self, s: int, rate: float) -> list:
        """Hops of a free source whose chip can change: ``h >= H`` to a window core it reaches
        when it sits on chip c, and hops to its fixed destination cores (linear in its chip)."""
        m, res, hc = self.m, self.res, self.hc
        terms, ys = [], {}
        chip_hint = int(self.core_of[s] // res.cores_per_chip)
        for c in self.chips:
            on = [var for k, var in self.x[s].items() if k // res.cores_per_chip == c]
            if not on:
                continue
            yv = m.NewBoolVar(f"y{s}_{c}")
            m.Add(yv == sum(on))
            self.hints.append((yv, int(chip_hint == c)))
            ys[c] = yv
        hmax = int(self.hops[np.ix_(self.chips, self.chips)].max())
        for k, r in self.r.get(s, {}).items():
            h = m.NewIntVar(0, hmax, f"h{s}_{k}")
            for c, yv in ys.items():
                d = int(self.hops[c, k // res.cores_per_chip])
                if d:
                    m.Add(h >= d).OnlyEnforceIf([yv, r])
            reached = bool(np.any(self.core_of[self.posts[s]] == k))
            self.hints.append((h, int(self.hops[chip_hint, k // res.cores_per_chip]) * reached))
            terms.append((self._coef(rate * hc), h))
        fixed = self._fixed_cores(s) // res.cores_per_chip
        if fixed.size:
            for c, yv in ys.items():
                terms.append((self._coef(rate * hc * float(self.hops[c, fixed].sum())), yv))
        return terms

    # -- solving ----------------------------------------------------------------------------
    def solve(self, seed: int, deterministic_time: float,
              assume: tuple[str, ...] | None = None) -> ModelResult:
        """Solve; with assumption literals, ``assume`` names the families enforced (default:
        all); the others are free to be switched off."""
        if self.family:
            self.m.ClearAssumptions()
            chosen = FAMILIES if assume is None else assume
            self.m.AddAssumptions([self.family[f] for f in chosen])
        solver = solver_for(seed, deterministic_time)
        status = solver.Solve(self.m)
        name = solver.StatusName(status)
        const = self._constant()
        if status == cp_model.INFEASIBLE:
            core = ()
            if self.family:
                lits = set(solver.SufficientAssumptionsForInfeasibility())
                core = tuple(f for f, lit in self.family.items() if lit.Index() in lits)
            return ModelResult(name, None, float("inf"), float("inf"), core)
        bound = const + solver.BestObjectiveBound() / self.scale
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return ModelResult(name, None, float("inf"), bound)
        core_of = self.core_of.copy()
        for v, xs in self.x.items():
            core_of[v] = next(k for k, var in xs.items() if solver.Value(var))
        return ModelResult(name, core_of, const + solver.ObjectiveValue() / self.scale, bound)

    def _constant(self) -> float:
        """Events of the pairs reached through fixed targets (less the hops of free sources
        whose chip can change: the model holds those)."""
        p, res = self.p, self.res
        s, k = self.fixed_src, self.fixed_core
        total = p.rate[s].astype(np.float64)
        is_neuron = s < p.n_neurons
        known = is_neuron & ~(self.free[np.minimum(s, p.n_neurons - 1)] & self.chip_varies)
        sc = self.core_of[s[known]] // res.cores_per_chip
        total[known] *= 1 + self.hc * self.hops[sc, k[known] // res.cores_per_chip]
        return float(total.sum())
