"""Pass ``prune``: fan-in above the CAM, cut to the strongest synapses (opt-in).

Without ``CompileOptions.max_fanin == "prune"`` (CLI ``--max-fanin prune``) the pass does
nothing and a neuron whose fan-in exceeds the CAM is refused by the ``capacity`` pass. With it,
every such neuron keeps the target's CAM entries per neuron worth of synapses (each synapse
needs one entry at least; the quantizers only add repeats into spare entries, so no more room
is needed) chosen by expected current ``|weight| x rate(source)``: the sources' event rates of
``CompileOptions.rates`` (from ``--inputs``), or uniform. Ties go to the lower source index,
then to the earlier projection, so the choice is deterministic.

What is compiled is the pruned network: the checker, ``realise`` and the routing tables all
see it. What verification compares against is not: the network before pruning is kept in
:attr:`Pruning.source`, and :class:`neurocc.compiler.driver.Compiled` writes *that* to
``network.ncl``. ``neurocc verify`` reads ``network.ncl`` only as the float reference (the
chip it simulates comes from ``config.json``), so it measures what the pruning cost against
the user's network, as the other adaptation passes' effects are measured. The pruned network
itself is what the configuration implements (``CompiledFolder.realised``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidModelError
from .ir import Network
from .placement.problem import build_problem
from .placement.resources import as_resources
from .synapses import Synapses, synapse_list

if TYPE_CHECKING:
    from .compilation import Compilation

#: ``CompileOptions.max_fanin`` values: refuse (the ``capacity`` pass's CAM error) or prune.
MAX_FANIN_MODES = ("error", "prune")


@dataclass(frozen=True)
class ProjectionPruning:
    """What one projection lost: synapses, the share of its expected current
    (``sum |w| x rate`` over the dropped synapses / over all of them), and how many target
    neurons lost at least one synapse."""

    name: str
    dropped: int
    current_fraction: float
    neurons: int


@dataclass(frozen=True, eq=False)
class Pruning:
    """The network before pruning (the verification reference), what each projection lost
    (projections that lost nothing are left out) and how many neurons lost synapses."""

    source: Network
    projections: tuple[ProjectionPruning, ...]
    neurons: int

    @property
    def dropped(self) -> int:
        return sum(p.dropped for p in self.projections)

    def note(self) -> str:
        """The one compile note saying what was dropped."""
        parts = ", ".join(f"{p.name!r} {p.dropped} ({100 * p.current_fraction:.1f}% of its "
                          f"expected current)" for p in self.projections[:4])
        more = f" and {len(self.projections) - 4} more projections" \
            if len(self.projections) > 4 else ""
        return (f"--max-fanin prune dropped {self.dropped} synapses over the CAM, the weakest "
                f"by |weight| x source rate, from the fan-in of {self.neurons} neurons: "
                f"{parts}{more}; network.ncl keeps the unpruned network, so `neurocc verify` "
                "measures the effect")


def keep_mask(syn: Synapses, weights: np.ndarray, rate: np.ndarray, per_neuron: int
              ) -> np.ndarray:
    """Per synapse (canonical order), whether it is among the ``per_neuron`` strongest of its
    target neuron by ``|weight| x rate[pre]``; ties: lower source, then earlier projection."""
    score = np.abs(weights) * rate[syn.pre]
    order = np.lexsort((syn.projection, syn.pre, -score, syn.post))
    post = syn.post[order]
    starts = np.flatnonzero(np.r_[True, post[1:] != post[:-1]]) if post.size else post
    rank = np.arange(post.size) - np.repeat(starts, np.diff(np.r_[starts, post.size]))
    keep = np.empty(syn.size, dtype=bool)
    keep[order] = rank < per_neuron
    return keep


def prune(net: Network, rate: np.ndarray, per_neuron: int) -> tuple[Network, Pruning]:
    """``net`` (canonical CSR weights) with every neuron's fan-in cut to ``per_neuron``
    synapses, and what was dropped; ``net`` itself is not modified."""
    syn = synapse_list(net)
    projections = list(net.projections.values())
    weights = np.concatenate([p.weights.data for p in projections]) if projections else \
        np.zeros(0)
    keep = keep_mask(syn, weights, rate, per_neuron)
    if keep.all():
        return net, Pruning(net, (), 0)
    pruned, lost = net.copy(), []
    score = np.abs(weights) * rate[syn.pre]
    for proj in projections:
        span = syn.spans[proj.name]
        drop = ~keep[span]
        if not drop.any():
            continue
        w = pruned.projections[proj.name].weights
        w.data[drop] = 0
        w.eliminate_zeros()
        total = float(score[span].sum())
        lost.append(ProjectionPruning(
            proj.name, int(drop.sum()),
            float(score[span][drop].sum()) / total if total > 0 else 0.0,
            int(np.unique(syn.post[span][drop]).size)))
    return pruned.verify(), Pruning(net, tuple(lost), int(np.unique(syn.post[~keep]).size))


def run(c: Compilation) -> Compilation:
    """Pass ``prune``: with ``--max-fanin prune``, cut every fan-in above the CAM."""
    if c.options.max_fanin not in MAX_FANIN_MODES:
        raise InvalidModelError(f"max_fanin {c.options.max_fanin!r} is not one of "
                                f"{', '.join(MAX_FANIN_MODES)}",
                                fix="pass --max-fanin error or --max-fanin prune")
    if c.options.max_fanin != "prune":
        return c
    net = c.network
    rate = build_problem(net, np.zeros(net.neurons(), dtype=np.int64), rates=c.options.rates).rate
    pruned, pruning = prune(net, rate, as_resources(c.target).cam_per_neuron)
    if not pruning.projections:
        return c
    return replace(c, network=pruned, pruning=pruning)
