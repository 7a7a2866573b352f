"""Framework presets (``--from``): the conventions each exporter follows but NIR does not store.

A preset is data: what dt the exporter assumed, how its neurons reset, in what units it wrote the
time constants and the synaptic gain, and which chip-side policy realises what the chip cannot
do exactly. Every field has a one-line source in :attr:`Preset.sources`. Explicit options
(``--dt``, ``--reset``, ``--refractory``, ``--subtract-reset``) override a preset's values.

:func:`detect_mixup` reads a network loaded without a preset and names the preset a file looks
like it needs; its rules hold for every export of the framework they name (README, "Bring your
own model").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from neurocc.compiler.errors import UnsupportedError
from neurocc.compiler.ir import Network, Population

from .nir.neurons import NeuronNode

#: The time constants of a NIR neuron node (the names NIR gives them).
TIME_CONSTANTS = ("tau", "tau_mem", "tau_syn")
#: snnTorch's exporter fixes dt at this many seconds (r = tau / dt, w_in = tau_syn / dt).
SNNTORCH_DT = 1e-4
#: Below this every time constant of a file is taken for a Norse >= 1.1 export (dt-scaled taus).
NORSE_TAU_BELOW = 1e-4


@dataclass(frozen=True)
class Preset:
    """One exporter's conventions; ``None`` leaves neurocc's default (or the user's flag).

    ``dt``: seconds per step the exporter assumed. ``reset``: the framework's reset (``zero`` or
    ``subtract``). ``tau_times_dt``: the file's time constants are the true ones times dt (they
    are divided by dt when every one of them is below dt: a stable Euler model has tau > dt, so
    only the scaled form can be below it; an older export in seconds is left as written).
    ``synaptic_jump``: the framework adds its input to the synaptic current in one step
    (``i += x``), where NIR's CubaLIF adds ``dt / tau_syn * w_in * x``: in a file whose taus
    were rescaled, ``w_in`` is multiplied by ``tau_syn / dt``. ``subtract_reset``: the chip-side policy for a subtractive
    reset (``CircuitOptions.subtract_reset``). ``sources``: one line per convention, why.
    """

    name: str
    dt: float | None
    reset: str | None
    tau_times_dt: bool
    synaptic_jump: bool
    subtract_reset: str | None
    sources: tuple[str, ...]


PRESETS: Mapping[str, Preset] = {p.name: p for p in (
    Preset("nir", dt=None, reset=None, tau_times_dt=False, synaptic_jump=False,
           subtract_reset=None, sources=(
               "the file as written; NIR stores no dt, reset or refractory period: neurocc's "
               "defaults (dt 1e-4 s, reset zero, refractory 0) apply",)),
    Preset("snntorch", dt=SNNTORCH_DT, reset="subtract", tau_times_dt=False,
           synaptic_jump=False, subtract_reset="zero", sources=(
               "dt 1e-4 s: snntorch.export_nir fixes dt = 1e-4 (tau = dt/(1-beta), r = tau/dt)",
               "reset subtract: Leaky/Synaptic default reset_mechanism='subtract'; the exporter "
               "writes v_reset = 0 and loses it",
               "time constants in seconds at that dt, as written",
               "bias: nn.Linear bias -> Affine bias, scaled by r like the weights (mem = "
               "beta*mem + Wx + b)",
               "threshold: v_threshold = the neuron's threshold, as written",
               "chip: the DPI neuron resets to ground, so the subtractive reset is realised as "
               "a reset to zero (--subtract-reset zero); neurocc verify measures the effect")),
    Preset("norse", dt=1e-3, reset="zero", tau_times_dt=True, synaptic_jump=True,
           subtract_reset=None, sources=(
               "dt 1e-3 s: norse.torch.to_nir's dt, which the file does not store",
               "reset zero: Norse resets to v_reset (written, or NIR's default 0)",
               "time constants: Norse 1.1 writes tau = dt / tau_mem_inv = dt x the true tau "
               "(1e-5 s for a 10 ms membrane at dt = 1 ms): divided by dt when all are below dt",
               "synapse: Norse adds the input to i in one step, NIR's CubaLIF adds "
               "dt/tau_syn*w_in*x: w_in x tau_syn/dt",
               "bias: nn.Linear bias -> Affine bias; r = 1; threshold: v_threshold = v_th")),
    Preset("sinabs", dt=None, reset="subtract", tau_times_dt=False, synaptic_jump=False,
           subtract_reset="zero", sources=(
               "dt: Sinabs' IAF is step-based and NIR's IF applies r per step, so dt does not "
               "matter; neurocc's default applies",
               "reset subtract: Sinabs' IAF default MembraneSubtract, not stored in the file",
               "bias: Conv/Linear bias -> Affine/Conv bias; r = 1; threshold as written",
               "chip: subtractive reset realised as a reset to zero (--subtract-reset zero)")),
    Preset("rockpool", dt=1e-3, reset="subtract", tau_times_dt=False, synaptic_jump=False,
           subtract_reset="zero", sources=(
               "dt 1e-3 s: Rockpool's LIF modules' default dt (not stored; the NIR paper's "
               "lif_rockpool.nir was exported at 1e-4: pass --dt 1e-4)",
               "reset subtract: Rockpool's LIF subtracts the threshold on a spike",
               "time constants in seconds; r = tau*exp(-dt/tau)/dt as written; no w_in",
               "chip: subtractive reset realised as a reset to zero (--subtract-reset zero)")),
    Preset("spyx", dt=1.0, reset="subtract", tau_times_dt=False, synaptic_jump=False,
           subtract_reset="zero", sources=(
               "dt 1: Spyx counts time in steps (tau = 1/(1-beta))",
               "reset subtract: spyx.nn.LIF computes V = beta*V + x - spike*threshold",
               "r = beta as written (Spyx's exporter); threshold as written",
               "chip: subtractive reset realised as a reset to zero (--subtract-reset zero)")),
)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is one error listing the known ones."""
    if name not in PRESETS:
        raise UnsupportedError(f"unknown framework preset {name!r}",
                               fix=f"pass --from one of {', '.join(PRESETS)}")
    return PRESETS[name]


def adjust_neurons(neurons: dict[str, NeuronNode], preset: Preset, dt: float) -> None:
    """Rewrite the parsed neuron nodes in place into NIR's meaning, per ``preset`` (only a file
    whose time constants are all below ``dt`` is dt-scaled; others are left as written)."""
    if not (preset.tau_times_dt and _all_taus_below(neurons, dt)):
        return
    for node in neurons.values():
        for key in TIME_CONSTANTS:
            if key in node.values:
                node.values[key] = node.values[key] / dt
        if preset.synaptic_jump and "w_in" in node.values:
            node.values["w_in"] = node.values["w_in"] * node.values["tau_syn"] / dt


def _all_taus_below(neurons: dict[str, NeuronNode], dt: float) -> bool:
    taus = [node.values[key] for node in neurons.values() for key in TIME_CONSTANTS
            if key in node.values]
    return bool(taus) and all(np.all(tau < dt) for tau in taus)


def mixup_notes(net: Network, preset: str, source: object) -> tuple[str, ...]:
    """The detector's note for ``net`` read from ``source`` (a path or an in-memory NIR graph)
    with ``preset``: none once a preset is named, or for a ``.ncl`` file (which states its own
    conventions), or for a network given as IR."""
    if preset != "nir" or isinstance(source, Network) or (
            isinstance(source, (str, Path)) and Path(source).suffix == ".ncl"):
        return ()
    note = detect_mixup(net)
    return (note,) if note else ()


def detect_mixup(net: Network) -> str | None:
    """One note naming the preset ``net`` (loaded as written, no preset) looks like it needs."""
    pops = [p for p in net.populations.values() if "tau_mem" in p.params]
    if not pops:
        return None
    taus = np.concatenate([p.params[k] for p in pops for k in ("tau_mem", "tau_syn")
                           if k in p.params])
    if np.all(taus < NORSE_TAU_BELOW):
        return (f"every time constant is below {NORSE_TAU_BELOW * 1e6:g} us (largest "
                f"{taus.max():.3g} s): looks like a Norse export, whose exporter writes dt x tau; "
                "pass --from norse")
    if all(_snntorch_shaped(p) for p in pops):
        return ("every neuron has r = tau / 1e-4 s (and w_in = tau_syn / 1e-4 s): looks like an "
                "snnTorch export, whose neurons reset by subtraction (not stored in the file); "
                "pass --from snntorch")
    return None


def _snntorch_shaped(pop: Population) -> bool:
    """snnTorch's exporter writes r = tau_mem / dt and w_in = tau_syn / dt with dt = 1e-4."""
    pairs = [("r", "tau_mem"), ("w_in", "tau_syn")]
    return all(np.allclose(pop.scale.get(gain, 1.0) * SNNTORCH_DT, pop.params[tau], rtol=1e-3)
               for gain, tau in pairs if tau in pop.params)
