"""The whole compile, as a list of passes.

A pass is a module named as the pass, with one pure function ``run(Compilation) ->
Compilation`` (:mod:`neurocc.compiler.compilation` holds the state); after each pass
:func:`~neurocc.compiler.compilation.verify` checks the state (the network's invariants, the
routing tables' own invariants, and the consistency of what the stages produced so far).

    PIPELINE = canonicalise -> prune -> capacity -> circuits -> classes -> placement -> quantize
               -> routing -> checker -> realise

When a pass finds that cores receive more distinct sources than their keys tell apart
(:class:`KeyCapacityError`, from placement or routing), the pipeline goes back to the placement
pass with the neurons spread over more of the given cores (:func:`placement.spread`).

The order between quantization and placement: weights are per-core resources, so quantization
runs per placed core; placement only needs each neuron's CAM use, which is known before
quantization (one entry per synapse; see :mod:`neurocc.compiler.quantize.cores`). The
independent checker re-reads the final tables.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import TYPE_CHECKING, Callable

from . import (canonicalise, checker, circuits, classes, placement, prune, quantize, realise,
               routing)
from .compilation import Compilation, CompileOptions, verify
from .errors import KeyCapacityError
from .ir import Network
from .placement import capacity

if TYPE_CHECKING:
    from neurocc.backends.target import Target

PIPELINE: tuple[ModuleType, ...] = (
    canonicalise,  # private copy, canonical CSR weights
    prune,         # --max-fanin prune: fan-in above the CAM cut to the strongest synapses
    capacity,      # cores, CAM fan-in, SRAM fan-out lower bounds, before any solving
    circuits,      # LIF/CubaLIF/IF parameters -> DPI circuit currents
    classes,       # neurons that can share a core's biases
    placement,     # (chip, core, slot) of every neuron, minimising expected routed events
    quantize,      # per-core weight levels and every current as a (coarse, fine) bias
    routing,       # keys, CAM and SRAM rows, core biases
    checker,       # the tables rebuilt independently must equal the quantized network
    realise,       # the IR network the chip implements
)


def pass_name(step: ModuleType) -> str:
    """The name of a pass: its module's own name."""
    return step.__name__.rsplit(".", 1)[-1]


def run_pipeline(network: Network, target: Target, options: CompileOptions = CompileOptions(),
                 passes: tuple[ModuleType, ...] = PIPELINE,
                 progress: Callable[[str], None] | None = None,
                 ) -> tuple[Compilation, dict[str, float]]:
    """Run ``passes`` in order, verifying after each; ``progress`` hears each pass's name.
    Returns the final state and the wall seconds of each pass (reported, never part of the
    state: results do not depend on the clock)."""
    state = verify(Compilation(network=network, target=target, options=options))
    seconds: dict[str, float] = {}
    entered: dict[str, Compilation] = {}  # the state each pass started from
    names = [pass_name(step) for step in passes]
    i = 0
    while i < len(passes):
        name = names[i]
        entered[name] = state
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        try:
            state = verify(passes[i].run(state))
            i += 1
        except KeyCapacityError as exc:
            # Cores ran out of keys: place again from the placement pass, neurons spread over
            # more of the given cores (or the error, when they cannot spread further).
            if "placement" not in entered:
                raise
            state = placement.spread(entered["placement"], exc)
            i = names.index("placement")
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    return state, seconds
