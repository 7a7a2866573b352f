"""The state that flows through the passes, and the invariants checked after each one.

A :class:`Compilation` holds the input network (never modified: the first pass takes a private
copy), the target, the options, and one field per stage that a pass fills. A pass is a module
with a pure function ``run(Compilation) -> Compilation`` (see :mod:`neurocc.compiler.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from .circuits import CircuitMap, CircuitOptions
from .classes import ParameterClasses
from .errors import IRVerifyError
from .ir import Network
from .placement import Placement, PlacementOptions
from .prune import Pruning
from .quantize import CoreWeights, WeightOptions
from .tables import RoutingTables

if TYPE_CHECKING:
    from neurocc.backends.target import Target

    from .checker import CheckReport


@dataclass(frozen=True)
class CompileOptions:
    """Every choice of a compile. ``class_tolerance``: preferred largest relative error of any
    core-level current of a neuron when it shares its core's biases (exceeded, and reported,
    only where the classes would need more cores than the target has). ``rates``: events per
    step of every source (neurons, then input channels) for the placement objective and the
    ``prune`` pass; None = uniform. ``notes``: what loading the model found (e.g. the framework
    preset a file looks like it needs), reported first among the compile's notes. ``max_fanin``:
    a fan-in above the CAM is an ``"error"``, or ``"prune"``d to the strongest synapses
    (:mod:`neurocc.compiler.prune`)."""

    circuit: CircuitOptions = CircuitOptions()
    class_tolerance: float = 0.05
    weights: WeightOptions = WeightOptions()
    placement: PlacementOptions = PlacementOptions()
    rates: Optional[np.ndarray] = None
    notes: tuple[str, ...] = ()
    max_fanin: str = "error"


@dataclass(frozen=True, eq=False)
class Compilation:
    """The state passes transform; each stage field is None until its pass has run
    (``pruning`` stays None unless the ``prune`` pass dropped synapses)."""

    network: Network
    target: Target
    options: CompileOptions
    pruning: Optional[Pruning] = None
    circuits: Optional[CircuitMap] = None
    classes: Optional[ParameterClasses] = None
    placement: Optional[Placement] = None
    weights: Optional[CoreWeights] = None
    tables: Optional[RoutingTables] = None
    check: Optional[CheckReport] = None
    realised: Optional[Network] = None


def verify(c: Compilation) -> Compilation:
    """Invariants after every pass: the IR verifies, and the stages agree on sizes."""
    c.network.verify()
    n = c.network.neurons()
    if c.classes is not None and c.classes.class_of.size != n:
        raise IRVerifyError(f"{c.classes.class_of.size} class ids for {n} neurons",
                            where="parameter classes")
    if c.placement is not None and c.placement.core_of.size != n:
        raise IRVerifyError(f"{c.placement.core_of.size} placed neurons for {n}",
                            where="placement")
    if c.tables is not None:
        c.tables.verify()
    if c.realised is not None:
        c.realised.verify()
    return c
