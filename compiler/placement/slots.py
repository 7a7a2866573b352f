"""Slots within each core.

With ``tag`` addressing the slot is irrelevant to routing: neurons take the slots in index order.
With ``core_neuron`` addressing an event's key is (virtual core, slot), so the sources arriving at
one core with the same slot must all get different virtual cores: at most ``virtual_cores`` of
them (fewer where a key is forbidden). Slots are first staggered (each core of a chip starts at a
different offset), then a local search swaps slots inside source cores until no (destination
core, slot) pair is over that limit.
"""

from __future__ import annotations

import numpy as np

from .problem import PlacementProblem
from .resources import Resources

#: Swaps tried per unit of overflow before giving up (routing then reports the clash).
SWAP_BUDGET = 64


def assign_slots(problem: PlacementProblem, core_of: np.ndarray, res: Resources) -> np.ndarray:
    """Slot of every neuron, never a forbidden source slot."""
    allowed = _allowed_slots(res)
    stagger = res.addressing == "core_neuron"
    slot = np.empty(core_of.size, dtype=np.int64)
    for k in np.unique(core_of).tolist():
        members = np.flatnonzero(core_of == k)
        free = allowed[k % res.cores_per_chip]
        offset = (k * free.size // max(res.cores_per_chip, 1)) % free.size if stagger else 0
        slot[members] = free[(offset + np.arange(members.size)) % free.size]
    if stagger:
        slot = _balance(problem, core_of, slot, res, allowed)
    return slot


def _allowed_slots(res: Resources) -> list[np.ndarray]:
    out = []
    for core in range(res.cores_per_chip):
        bad = {s for c, s in res.forbidden_source_slots if c == core}
        out.append(np.array([s for s in range(res.neurons_per_core) if s not in bad]))
    return out


def slot_capacity(res: Resources) -> np.ndarray:
    """Sources one core can tell apart per slot value: one per virtual core, minus forbidden
    keys with that slot."""
    cap = np.full(res.neurons_per_core, max(res.virtual_cores, 1), dtype=np.int64)
    for key in res.forbidden_keys:
        cap[key % res.neurons_per_core] -= 1
    return cap


def _balance(problem: PlacementProblem, core_of: np.ndarray, slot: np.ndarray,
             res: Resources, allowed: list[np.ndarray]) -> np.ndarray:
    n, k_total, npc = problem.n_neurons, res.total_cores, res.neurons_per_core
    own = problem.pre < n
    reach = np.zeros((n, k_total), dtype=np.int64)
    reach[problem.pre[own], core_of[problem.post[own]]] = 1
    cap = slot_capacity(res)
    load = np.zeros((k_total, npc), dtype=np.int64)
    np.add.at(load.T, slot, reach)
    holder = np.full((k_total, npc), -1, dtype=np.int64)
    holder[core_of, slot] = np.arange(n)
    slot = slot.copy()
    stuck: set[tuple[int, int]] = set()
    budget = SWAP_BUDGET * int(np.maximum(load - cap, 0).sum())
    while budget > 0:
        over = np.maximum(load - cap, 0)
        for k, s in stuck:
            over[k, s] = 0
        if not over.any():
            break
        k, sigma = np.unravel_index(int(np.argmax(over)), over.shape)
        movers = np.flatnonzero(reach[:, k].astype(bool) & (slot == sigma))
        if not any(_try_move(int(v), reach, load, cap, slot, holder, core_of, allowed, res)
                   for v in movers[np.argsort(reach[movers].sum(axis=1), kind="stable")]):
            stuck.add((int(k), int(sigma)))
        budget -= 1
    return slot


def _try_move(v, reach, load, cap, slot, holder, core_of, allowed, res) -> bool:
    """Swap v's slot with the slot of its core that lowers the total overflow most."""
    q, sigma = int(core_of[v]), int(slot[v])
    cand = allowed[q % res.cores_per_chip]
    cand = cand[cand != sigma]
    others = holder[q, cand]
    r_v = reach[v][None, :]
    r_t = np.where(others[:, None] >= 0, reach[np.maximum(others, 0)], 0)

    def over(x, c):
        return np.maximum(x - c, 0).sum(axis=1)

    l_s = load[:, sigma][None, :]
    l_c = load[:, cand].T
    delta = (over(l_s - r_v + r_t, cap[sigma]) - over(l_s, cap[sigma])
             + over(l_c + r_v - r_t, cap[cand][:, None]) - over(l_c, cap[cand][:, None]))
    best = int(np.argmin(delta))
    if delta[best] >= 0:
        return False
    new, t = int(cand[best]), int(others[best])
    load[:, sigma] -= reach[v]
    load[:, new] += reach[v]
    if t >= 0:
        load[:, new] -= reach[t]
        load[:, sigma] += reach[t]
        slot[t] = sigma
    holder[q, sigma], holder[q, new] = t, v
    slot[v] = new
    return True
