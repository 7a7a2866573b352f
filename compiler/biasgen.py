"""Bias assignment: the (coarse, fine) setting that realises a requested current best.

Every bias delivers ``table[transistor][coarse, fine] * scale`` (see ``backends/target.py``). All
settings of one bias are sorted once by current; a request is then a binary search. For a request
``x`` between neighbouring table currents ``v_k <= x <= v_k+1`` both candidates' relative errors
share the denominator ``x``, so the nearest current is also the one with the smallest relative
error, and that error is at most ``(v_k+1 - v_k) / (v_k + v_k+1)``, below half the local relative
step. Equal currents (the tables repeat values across coarse ranges) resolve to the setting with the
largest fine value, the one least sensitive to a one-code error.

Requests outside ``[smallest positive current, largest current]`` raise :class:`TargetError` naming
the bias, its role, where it was requested and the representable range. A request of exactly 0 is
honoured only by a generator that can output 0 (fine = 0 of a linear generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from neurocc.compiler.errors import TargetError

if TYPE_CHECKING:
    from neurocc.backends.target import Target


@dataclass(frozen=True, eq=False)
class BiasTable:
    """Every setting of one bias, sorted by current (ties: largest fine first)."""

    name: str
    values: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray

    @property
    def lowest(self) -> float:
        """Smallest positive current."""
        return float(self.values[np.searchsorted(self.values, 0.0, side="right")])

    @property
    def highest(self) -> float:
        return float(self.values[-1])

    @property
    def distinct(self) -> np.ndarray:
        """Sorted distinct currents (what a class representative may take)."""
        return np.unique(self.values)

    def worst_step(self, lo: float, hi: float) -> float:
        """Largest relative gap ``(v_k+1 - v_k) / v_k`` between distinct currents in [lo, hi]."""
        v = self.distinct
        v = v[(v >= lo) & (v <= hi) & (v > 0)]
        if v.size < 2:
            return 0.0
        return float(np.max(np.diff(v) / v[:-1]))


@dataclass(frozen=True, eq=False)
class BiasChoice:
    """Requested vs realised current of one bias, element-wise over the request's shape."""

    name: str
    role: str | None
    requested: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray
    realised: np.ndarray
    rel_error: np.ndarray


@lru_cache(maxsize=256)
def bias_table(target: Target, name: str) -> BiasTable:
    """All settings of bias ``name`` of ``target``, sorted (cached per target object)."""
    spec = target.bias(name)
    table = target.generator.tables[spec.transistor] * spec.scale
    coarse, fine = np.indices(table.shape)
    values, coarse, fine = table.ravel(), coarse.ravel(), fine.ravel()
    order = np.lexsort((-fine, values))
    arrays = [a[order].copy() for a in (values, coarse, fine)]
    for a in arrays:
        a.setflags(write=False)
    return BiasTable(name, *arrays)


def assign_bias(target: Target, name: str, requested: Any, *, where: str | None = None
                ) -> BiasChoice:
    """Best (coarse, fine) of bias ``name`` for each requested current (A); vectorised."""
    table = bias_table(target, name)
    role = target.bias(name).role
    req = np.asarray(requested, dtype=float)
    _check_range(table, req, role, where, zero_ok=table.values[0] == 0.0)
    values = table.values
    hi = np.clip(np.searchsorted(values, req, side="left"), 0, values.size - 1)
    lo = np.clip(hi - 1, 0, values.size - 1)
    # Among equal currents, searchsorted lands on the first copy: the largest fine value.
    lo = np.searchsorted(values, values[lo], side="left")
    pick = np.where(np.abs(values[lo] - req) <= np.abs(values[hi] - req), lo, hi)
    realised = values[pick]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(req > 0, np.abs(realised - req) / np.where(req > 0, req, 1.0), 0.0)
    return BiasChoice(name=name, role=role, requested=req, coarse=table.coarse[pick],
                      fine=table.fine[pick], realised=realised, rel_error=rel)


def assign_roles(target: Target, currents: Mapping[str, Any], *, where: str | None = None
                 ) -> dict[str, BiasChoice]:
    """Assign every role in ``currents`` that a bias of ``target`` realises; keyed by role.

    Roles without a bias (a fixed circuit such as a hard-wired spike threshold) are skipped: the
    caller decides whether that is acceptable.
    """
    out = {}
    for role, value in currents.items():
        spec = target.bias_for_role(role)
        if spec is not None:
            out[role] = assign_bias(target, spec.name, value, where=where)
    return out


def report_rows(choices: Mapping[str, BiasChoice], *, label: str = "") -> list[dict[str, Any]]:
    """Flat rows (one per element of every choice) for printing or JSON reports."""
    rows = []
    for choice in choices.values():
        for idx in np.ndindex(choice.requested.shape):
            rows.append({
                "where": f"{label}[{', '.join(map(str, idx))}]" if idx else label,
                "bias": choice.name, "role": choice.role,
                "requested_A": float(choice.requested[idx]),
                "realised_A": float(choice.realised[idx]),
                "coarse": int(choice.coarse[idx]), "fine": int(choice.fine[idx]),
                "rel_error": float(choice.rel_error[idx]),
            })
    return rows


def _check_range(table: BiasTable, req: np.ndarray, role: str | None, where: str | None,
                 zero_ok: bool) -> None:
    lo, hi = table.lowest, table.highest
    bad = ~np.isfinite(req) | (req < 0) | (req > hi) | ((req < lo) & ~((req == 0) & zero_ok))
    if not np.any(bad):
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    value = float(req[first]) if first else float(req)
    count = int(np.count_nonzero(bad))
    label = f"{table.name} ({role})" if role else table.name
    at = f" at index {list(first)}" if first else ""
    more = f" ({count} requests out of range)" if count > 1 else ""
    if not (np.isfinite(value) and value >= 0):
        problem = "is not a valid current (a finite value >= 0)"
    else:
        problem = f"is {'above' if value > hi else 'below'} the representable range"
    raise TargetError(
        f"{label} = {value:.4g} A{at} {problem} [{lo:.4g}, {hi:.4g}] A{more}",
        where=where,
        fix="bring the current into range: for a time constant pass another --time-scale, "
            "for a weight rescale the weights in the model, otherwise the compile option that "
            "sets this current (neurocc compile --help)")
