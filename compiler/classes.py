"""Parameter classes: groups of neurons that can share one core's biases.

A core's neurons share every bias, so two neurons may share a core only if one value per bias
serves both. For a role (a core-level current) with tolerance ``t`` and precision floor ``u`` a
representative current ``v`` *serves* a neuron requesting ``x`` when

    |v - x| <= t * max(x, u)

i.e. a relative error of at most ``t``, measured against ``u`` for currents below it. The floor is 0
(purely relative) except where only absolute precision matters: the DC current, whose error shifts
the drive ``v_leak + bias`` by ``r_m * dI / S``, so its floor is the current of a unit drive
(see :func:`neurocc.compiler.circuits.precision_floors`). Both ends of the serving window,
``x - t*max(x, u)`` and ``x + t*max(x, u)``, grow with ``x``, so the requests one value ``v``
serves form an interval: a class is a box in the space of core-level currents (one axis per role
the target realises with a bias) and the task is to cover every neuron's point with as few boxes
as possible. Representatives are taken from the currents the bias generator can produce, so the
tolerance holds for the *realised* values and bias assignment reproduces them exactly.

Method:

1. Identical requests merge (unique rows). Roles a population does not use (e.g. an inhibitory
   synapse's time constant where no inhibitory synapse arrives) are "don't care".
2. Greedy box covering. The seed is the uncovered point that is smallest on the widest axis that
   every point uses (ties broken on the next axes). The box starts, on each axis, at the largest
   representable value serving the seed; coordinate ascent then moves one axis at a time to the
   representable value serving the most uncovered points given the other axes (ties: the smallest
   worst-case error). The box's uncovered points become a class; repeat.
   In one dimension this is the classic interval-covering greedy and is optimal: the seed is the
   smallest uncovered value, and the box reaching furthest right serves a superset of any other
   box serving the seed.
3. A lower bound: each axis alone needs at least its own optimal (1-D) count, so their maximum
   bounds the joint optimum. ``lower_bound`` is reported; equal counts prove optimality.
4. Fitting the cores (:func:`fit_to_cores`). The tolerance is a preference: when the classes need
   more cores than the target has (:func:`~neurocc.compiler.placement.resources.class_blocks`,
   the capacity rule of placement), whole classes merge, agglomeratively, until they fit; the
   first fit is the most classes on the merge path. Merging measures the symmetric error
   ``|v - x| / max(min(v, x), u)`` (a current 2x off either way counts alike). A merged class
   takes, per role, the representable current with the least worst-case such error over its
   members, which only the members' lowest and highest request decide. Each step merges, among
   the pairs whose union needs fewer cores than the two apart (else any pair), the one adding
   the least ``cost`` = members x worst error over roles and members; ties go to the lowest
   pair of class numbers. A heuristic: optimal when one merge suffices, with no general bound
   (the tests measure its distance to the optimum on small cases); where classes must pack the
   cores tightly, the merge path may fit with fewer classes than a better packing would. All
   classes then take these representatives; the errors (above the tolerance) are recomputed as
   in step 1 and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .biasgen import BiasChoice, assign_bias, assign_roles, bias_table
from .circuits import CircuitMap, precision_floors
from .errors import TargetError
from .placement.resources import Resources, class_blocks

if TYPE_CHECKING:
    from neurocc.backends.target import Target

    from .compilation import Compilation

_ASCENT_PASSES = 3


@dataclass(frozen=True, eq=False)
class ParameterClasses:
    """Class of every mapped neuron, with the class representatives and per-neuron errors.

    Neurons are numbered over ``populations`` in order (``(name, offset, size)``); ``roles`` are the
    core-level currents clustered. ``representatives[k, r]`` is NaN where no member uses role r.
    ``error[i, r] = |rep - x| / max(x, floor[r])`` (NaN where neuron i does not use role r) is at
    most ``tolerance[r]``.
    """

    roles: tuple[str, ...]
    populations: tuple[tuple[str, int, int], ...]
    class_of: np.ndarray
    representatives: np.ndarray
    error: np.ndarray
    tolerance: np.ndarray
    floor: np.ndarray
    lower_bound: int
    #: Class of every neuron before :func:`fit_to_cores` merged classes (None: nothing merged).
    unmerged_of: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return int(self.representatives.shape[0])

    @property
    def max_error(self) -> np.ndarray:
        """Worst error over the roles each neuron uses."""
        if self.error.shape[1] == 0:
            return np.zeros(self.error.shape[0])
        return np.max(np.nan_to_num(self.error, nan=0.0), axis=1)

    def sizes(self) -> np.ndarray:
        return np.bincount(self.class_of, minlength=self.n_classes)

    def class_currents(self, k: int) -> dict[str, float]:
        """Representative current per role of class ``k`` (roles no member uses are left out)."""
        return {r: float(v) for r, v in zip(self.roles, self.representatives[k])
                if not np.isnan(v)}

    def neuron_index(self, population: str, index: int) -> int:
        """Global neuron number of ``population[index]``."""
        for name, offset, size in self.populations:
            if name == population and 0 <= index < size:
                return offset + index
        raise KeyError(f"{population}[{index}]")


def class_biases(classes: ParameterClasses, target: Target) -> list[dict[str, BiasChoice]]:
    """(coarse, fine) of every representative current of every class, keyed by role.

    Representatives are table values, so each is realised exactly (``rel_error`` 0); roles no
    member of a class uses are left out (the emitter sets those biases as it sees fit).
    """
    return [assign_roles(target, classes.class_currents(k), where=f"parameter class {k}")
            for k in range(classes.n_classes)]


#: A request the bias table realises no nearer than this is refused (a tolerance this wide would
#: let a class's representative serve currents of another order).
MAX_GRID_ERROR = 0.5


@dataclass(frozen=True, eq=False)
class _Rule:
    """The serving rule of one axis: tolerance ``t``, floor ``u``, representable ``grid``."""

    t: float
    u: float
    grid: np.ndarray

    def serves(self, v: Any, x: Any) -> Any:
        return np.abs(v - x) <= self.t * np.maximum(x, self.u)

    def reps_for(self, x: float) -> np.ndarray:
        """Representable values serving ``x``; the nearest if none does by a rounding hair
        (requests are checked against the tolerance beforehand)."""
        half = self.t * max(x, self.u)
        cands = self.grid[(self.grid >= x - half) & (self.grid <= x + half)]
        return cands if cands.size else self.grid[[np.argmin(np.abs(self.grid - x))]]

    def lowest_served(self, v: Any) -> Any:
        v = np.asarray(v)
        return np.where(v >= self.u * (1 + self.t), v / (1 + self.t), v - self.t * self.u)

    def highest_served(self, v: Any) -> Any:
        v = np.asarray(v)
        return np.where(v >= self.u * (1 - self.t), v / (1 - self.t), v + self.t * self.u)

    def error(self, v: Any, x: Any) -> Any:
        return np.abs(v - x) / np.maximum(x, self.u)

    def ratio_error(self, v: Any, x: Any) -> Any:
        """Symmetric error, what merging minimises: a current 2x too large or too small counts
        alike (``error`` saturates at 1 below the request, and a current sets 1 / tau)."""
        return np.abs(v - x) / np.maximum(np.minimum(v, x), self.u)


def assign_classes(cmap: CircuitMap, target: Target, *, tolerance: float = 0.05,
                   role_tolerance: Mapping[str, float] | None = None,
                   floors: Mapping[str, float] | None = None) -> ParameterClasses:
    """Group the mapped neurons of ``cmap`` into as few parameter classes as the method finds.

    ``tolerance`` bounds every current's error; ``role_tolerance`` overrides it per role.
    ``floors`` overrides the precision floors (default :func:`precision_floors` of ``cmap``).
    """
    roles = tuple(r for r in cmap.roles() if target.bias_for_role(r) is not None)
    per_role = dict(role_tolerance or {})
    unknown = sorted(set(per_role) - set(roles))
    if unknown:
        raise TargetError(f"role_tolerance names roles {unknown} that no neuron uses here",
                          fix=f"use some of {list(roles)}")
    floor_of = precision_floors(cmap) if floors is None else dict(floors)
    rules = [_Rule(_tolerance(r, per_role.get(r, tolerance)), float(floor_of.get(r, 0.0)),
                   _representable(target, r)) for r in roles]
    pops, offset = [], 0
    for pc in cmap.populations.values():
        pops.append((pc.name, offset, pc.size))
        offset += pc.size
    rules = [_servable(target, role, cmap, rule) for role, rule in zip(roles, rules)]
    x = _requests(cmap, roles)
    uniq, inverse = np.unique(np.nan_to_num(x, nan=-1.0), axis=0, return_inverse=True)
    uniq[uniq < 0] = np.nan
    labels, reps = _cover(uniq, rules)
    class_of = labels[np.asarray(inverse).reshape(-1)]
    err = _errors(x, reps, class_of, rules)
    bound = max((_optimal_1d(np.unique(col[~np.isnan(col)]), rule)
                 for col, rule in zip(uniq.T, rules)), default=min(offset, 1))
    return ParameterClasses(roles=roles, populations=tuple(pops), class_of=class_of,
                            representatives=reps, error=err,
                            tolerance=np.array([r.t for r in rules]),
                            floor=np.array([r.u for r in rules]), lower_bound=bound)


def _requests(cmap: CircuitMap, roles: tuple[str, ...]) -> np.ndarray:
    """(neurons, roles) requested currents, populations in order; NaN where a role is unused."""
    x = np.full((sum(pc.size for pc in cmap.populations.values()), len(roles)), np.nan)
    offset = 0
    for pc in cmap.populations.values():
        for j, role in enumerate(roles):
            if role in pc.currents:
                x[offset:offset + pc.size, j] = pc.currents[role]
        offset += pc.size
    return x


def _errors(x: np.ndarray, reps: np.ndarray, class_of: np.ndarray, rules: list[_Rule]
            ) -> np.ndarray:
    """Relative error of every neuron's request against its class's representative, per role."""
    if not rules:
        return np.zeros((x.shape[0], 0))
    with np.errstate(invalid="ignore"):
        return np.stack([rule.error(reps[class_of, j], x[:, j]) for j, rule in enumerate(rules)],
                        axis=1)


def fit_to_cores(classes: ParameterClasses, cmap: CircuitMap, target: Target,
                 caps: np.ndarray) -> ParameterClasses:
    """``classes`` unchanged when they fit cores of capacities ``caps`` (or when even one class
    of every neuron would not); else merged, least added error first, to the most classes that
    fit (method step 4 of the module docstring). Errors are recomputed for the merged classes."""
    counts = classes.sizes()
    if class_blocks(counts, caps) is not None or \
            class_blocks(np.array([counts.sum()]), caps) is None:
        return classes
    rules = [_Rule(float(t), float(u), _representable(target, r))
             for r, t, u in zip(classes.roles, classes.tolerance, classes.floor)]
    x = _requests(cmap, classes.roles)
    class_of, reps = _merge(x, classes.class_of, classes.n_classes, rules, caps)
    return replace(classes, class_of=class_of, representatives=reps,
                   error=_errors(x, reps, class_of, rules), unmerged_of=classes.class_of)


def _merge(x: np.ndarray, class_of: np.ndarray, m: int, rules: list[_Rule],
           caps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the ``m`` classes until :func:`class_blocks` fits; new labels and reps."""
    lo, hi = _group_bounds(class_of, x, x)
    size = np.bincount(class_of, minlength=m)
    group = _agglomerate(lo, hi, size, rules, caps)
    glo, ghi = _group_bounds(group, lo, hi)
    return group[class_of], _union(glo, ghi, glo, ghi, rules)[0]


def _group_bounds(group: np.ndarray, lo: np.ndarray, hi: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest request per role of every group (of neurons, or of classes with
    bounds ``lo``, ``hi``); groups are numbered 0.. without gaps."""
    k = int(group.max()) + 1
    glo, ghi = np.full((k, lo.shape[1]), np.nan), np.full((k, lo.shape[1]), np.nan)
    for j in range(lo.shape[1]):
        np.fmin.at(glo[:, j], group, lo[:, j])
        np.fmax.at(ghi[:, j], group, hi[:, j])
    return glo, ghi


def _agglomerate(lo: np.ndarray, hi: np.ndarray, size: np.ndarray, rules: list[_Rule],
                 caps: np.ndarray) -> np.ndarray:
    """Group of every class after greedy pairwise merging until :func:`class_blocks` fits
    (groups numbered by their lowest class)."""
    m = size.size
    lo, hi, size = lo.copy(), hi.copy(), size.copy()
    cost = size * _union(lo, hi, lo, hi, rules)[1]
    alive = np.ones(m, dtype=bool)
    root = np.arange(m)
    cap = int(np.max(caps))
    delta = np.empty((m, m))
    saves = np.empty((m, m), dtype=bool)

    def refresh(i: np.ndarray) -> None:
        """Merge cost of classes ``i`` with every class."""
        _, err = _union(lo[i, None], hi[i, None], lo[None], hi[None], rules)
        joint = size[i, None] + size[None]
        delta[i] = np.where(alive[None], joint * err - cost[i, None] - cost[None], np.inf)
        saves[i] = -(-size[i, None] // cap) - (-size[None] // cap) > -(-joint // cap)
        delta[:, i] = delta[i].T
        saves[:, i] = saves[i].T
        delta[np.arange(m), np.arange(m)] = np.inf

    refresh(np.arange(m))
    while class_blocks(size[alive], caps) is None:
        useful = np.where(saves, delta, np.inf)
        pick = useful if np.isfinite(useful).any() else delta
        i, j = np.unravel_index(int(np.argmin(pick)), pick.shape)  # row-major: i < j
        lo[i], hi[i] = np.fmin(lo[i], lo[j]), np.fmax(hi[i], hi[j])
        size[i] += size[j]
        cost[i] = size[i] * _union(lo[i], hi[i], lo[i], hi[i], rules)[1]
        alive[j], size[j], root[root == j] = False, 0, i
        delta[j], delta[:, j] = np.inf, np.inf
        refresh(np.array([i]))
    return (np.cumsum(alive) - 1)[root]


def _union(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray,
           rules: list[_Rule]) -> tuple[np.ndarray, np.ndarray]:
    """Representatives (..., roles) of the unions of classes a and b (given by their lowest and
    highest requests per role) and the union's worst error over roles and members."""
    lo, hi = np.fmin(lo_a, lo_b), np.fmax(hi_a, hi_b)
    rep = np.full(lo.shape, np.nan)
    for j, rule in enumerate(rules):
        rep[..., j] = _minimax(lo[..., j], hi[..., j], rule)
    return rep, _worst(rep, lo, hi, rules)


def _minimax(lo: np.ndarray, hi: np.ndarray, rule: _Rule) -> np.ndarray:
    """The representable value with the least worst-case ``ratio_error`` over requests in
    [lo, hi] (NaN where lo is NaN); ties: the lower value. The continuous optimum equalises the
    two ends' errors (the geometric mean above the floor); the worst error is convex in the
    value, so the best table value is one of the two around it."""
    u = rule.u
    a = np.maximum(lo, u)
    with np.errstate(invalid="ignore"):
        balanced = (lo - a + np.sqrt((a - lo) ** 2 + 4 * a * hi)) / 2  # (v - lo) v = a (hi - v)
        balanced = np.where(balanced >= u, balanced, (lo * u + hi * a) / (a + u))
    k = np.searchsorted(rule.grid, np.nan_to_num(balanced, nan=0.0))
    below = rule.grid[np.clip(k - 1, 0, rule.grid.size - 1)]
    above = rule.grid[np.clip(k, 0, rule.grid.size - 1)]
    with np.errstate(invalid="ignore"):
        worse = _span_error(below, lo, hi, rule) > _span_error(above, lo, hi, rule)
    return np.where(np.isnan(lo), np.nan, np.where(worse, above, below))


def _span_error(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, rule: _Rule) -> np.ndarray:
    """Worst ``ratio_error`` of ``v`` over requests in [lo, hi] (it grows away from ``v`` on
    either side, so the ends decide)."""
    return np.maximum(rule.ratio_error(v, lo), rule.ratio_error(v, hi))


def _worst(rep: np.ndarray, lo: np.ndarray, hi: np.ndarray, rules: list[_Rule]) -> np.ndarray:
    """Worst ``ratio_error`` over roles and members of classes with representatives ``rep``
    and requests in [lo, hi] per role (0 for roles no member uses)."""
    worst = np.zeros(rep.shape[:-1])
    for j, rule in enumerate(rules):
        with np.errstate(invalid="ignore"):
            e = _span_error(rep[..., j], lo[..., j], hi[..., j], rule)
        worst = np.maximum(worst, np.nan_to_num(e, nan=0.0))
    return worst


def _tolerance(role: str, value: Any) -> float:
    if not (isinstance(value, (int, float)) and 0 < value < 1):
        raise TargetError(f"class tolerance {value!r} for {role} is not in (0, 1)",
                          fix="give a relative tolerance such as 0.05")
    return float(value)


def _representable(target: Target, role: str) -> np.ndarray:
    values = bias_table(target, target.bias_for_role(role).name).distinct
    return values[values > 0]


def _servable(target: Target, role: str, cmap: CircuitMap, rule: _Rule) -> _Rule:
    """``rule``, its tolerance widened to what the bias generator can do: every request must be
    in the generator's range (else one error naming the population), and where the table's
    nearest current to a request is further off than the tolerance (a coarse part of the table),
    the tolerance of this role becomes that distance, so that every request keeps a class (the
    tolerance is a preference; the report shows the widened one)."""
    worst = rule.t
    for name, pc in cmap.populations.items():
        if role in pc.currents:
            values = pc.currents[role]
            choice = assign_bias(target, target.bias_for_role(role).name, values,
                                 where=f"population {name!r}")
            err = rule.error(choice.realised, values)
            i = int(np.argmax(err)) if err.size else 0
            if err.size and err[i] >= MAX_GRID_ERROR:
                raise TargetError(
                    f"{role} = {values[i]:.4g} A at neuron {i}: the nearest current the bias "
                    f"generator produces is {choice.realised[i]:.4g} A (error {err[i]:.1%})",
                    where=f"population {name!r}",
                    fix="move the current to a finer part of the bias table with --time-scale")
            worst = max(worst, float(np.max(err, initial=0.0)))
    return rule if worst <= rule.t else replace(rule, t=worst * (1 + 1e-9))


def _cover(points: np.ndarray, rules: list[_Rule]) -> tuple[np.ndarray, np.ndarray]:
    """Greedy box cover of ``points`` (NaN = don't care). Returns labels and representatives."""
    m, n_roles = points.shape
    labels = np.full(m, -1)
    reps: list[np.ndarray] = []
    present = ~np.isnan(points)
    spread = [float(np.ptp(np.log(np.maximum(points[present[:, j], j], rules[j].u))))
              if present[:, j].any() else -1.0 for j in range(n_roles)]
    # Axes every point uses come first (the seed is then the true minimum on the first axis).
    order = sorted(range(n_roles), key=lambda j: (not present[:, j].all(), -spread[j]))
    keys = [np.where(present[:, j], points[:, j], np.inf) for j in reversed(order)]
    seeds = np.lexsort(keys) if keys else np.arange(m)
    first = order[0] if order else None
    by_first = np.argsort(keys[-1], kind="stable") if keys else np.arange(m)
    first_sorted = keys[-1][by_first] if keys else np.zeros(m)
    for seed_index in seeds:
        if labels[seed_index] >= 0:
            continue
        seed = points[seed_index]
        if first is not None and np.isfinite(seed[first]):
            # Only points that a box serving the seed can reach on the first axis may join it.
            rule = rules[first]
            reach = rule.highest_served(rule.reps_for(seed[first])[-1])
            near = by_first[:np.searchsorted(first_sorted, reach, side="right")]
        else:
            near = np.arange(m)
        idx = near[labels[near] < 0]
        pts = points[idx]
        box = _grow_box(pts, seed, rules, order)
        inside = _inside(pts, box, rules).all(axis=1)
        labels[idx[inside]] = len(reps)
        has = present[idx[inside]].any(axis=0)
        reps.append(np.where(has & ~np.isnan(box), box, np.nan))
    return labels, np.array(reps).reshape(len(reps), n_roles)


def _inside(pts: np.ndarray, box: np.ndarray, rules: list[_Rule]) -> np.ndarray:
    """Per point and axis: is the point served on that axis (NaN point or free axis: yes)?"""
    out = np.ones(pts.shape, dtype=bool)
    for j, rule in enumerate(rules):
        out[:, j] = _inside_axis(pts[:, j], box[j], rule)
    return out


def _inside_axis(col: np.ndarray, v: float, rule: _Rule) -> np.ndarray:
    if np.isnan(v):
        return np.ones(col.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return rule.serves(v, col) | np.isnan(col)


def _grow_box(pts: np.ndarray, seed: np.ndarray, rules: list[_Rule], order: list[int]
              ) -> np.ndarray:
    box = np.full(seed.shape, np.nan)
    for j in order:
        if not np.isnan(seed[j]):
            box[j] = rules[j].reps_for(seed[j])[-1]
    inside = _inside(pts, box, rules)
    count = inside.sum(axis=1)
    for _ in range(_ASCENT_PASSES):
        changed = False
        for j in order:
            rule = rules[j]
            others = count - inside[:, j] == len(box) - 1
            col = pts[others, j]
            vals = np.sort(col[~np.isnan(col)])
            if np.isnan(seed[j]):
                if vals.size == 0:
                    continue
                lo, hi = rule.reps_for(vals[0])[0], rule.reps_for(vals[-1])[-1]
                cands = rule.grid[(rule.grid >= lo) & (rule.grid <= hi)]
            else:
                cands = rule.reps_for(seed[j])
            best = _best_rep(vals, cands, rule)
            if best != box[j]:
                box[j], changed = best, True
                column = _inside_axis(pts[:, j], best, rule)
                count += column.astype(int) - inside[:, j]
                inside[:, j] = column
        if not changed:
            break
    return box


def _best_rep(vals: np.ndarray, cands: np.ndarray, rule: _Rule) -> float:
    """The candidate serving most of ``vals`` (sorted); ties: smallest worst-case error."""
    lo = np.searchsorted(vals, rule.lowest_served(cands), side="left")
    hi = np.searchsorted(vals, rule.highest_served(cands), side="right")
    count = hi - lo
    best = count.max()
    tied = np.flatnonzero(count == best)
    if best == 0:
        return float(cands[tied[-1]])
    v = cands[tied]
    err = np.maximum(rule.error(v, vals[lo[tied]]), rule.error(v, vals[hi[tied] - 1]))
    return float(v[np.argmin(err)])


def _optimal_1d(vals: np.ndarray, rule: _Rule) -> int:
    """Optimal number of representatives for sorted distinct values (interval-covering greedy)."""
    count, i = 0, 0
    while i < vals.size:
        v = rule.reps_for(vals[i])[-1]
        i = int(np.searchsorted(vals, rule.highest_served(v), side="right"))
        count += 1
    return count


def run(c: Compilation) -> Compilation:
    """Pass ``classes``: neurons that can share a core's biases (within the tolerance) form a
    parameter class; classes merge (least added error) when they need more cores than the
    target has."""
    classes = assign_classes(c.circuits, c.target, tolerance=c.options.class_tolerance)
    caps = Resources.from_target(c.target).core_capacity()
    return replace(c, classes=fit_to_cores(classes, c.circuits, c.target, caps))
