"""Energy estimate of a compiled network, from its routing tables and an activity figure.

The model (one inference, or one second of operation)::

    E = routed events x E_route + synaptic events x E_syn + neuron spikes x E_spike
        + P_static x chips used x duration

* A neuron spike sends one routed event per SRAM (destination) entry of the neuron, and every CAM
  entry that matches one of those events on a reached core is one synaptic event
  (:func:`neurocc.compiler.tables.delivered_synapses`). An external input event does the same
  through its input destinations.
* The activity comes, in order of preference, from ``verify/verify.json`` (the median spikes per
  inference of the simulated chips; per-spike fan-outs averaged over the placed neurons, i.e. all
  neurons taken as equally active), or from the compile report's ``expected_activity`` when the
  compile was given ``--inputs`` (reference-simulator rates per step, rate-weighted fan-outs). With
  neither, only the energy per spike and the static power are given.
* Figures come from the target's ``energy`` block (``backends/*/target.json``) or an override file
  (``--energy``); a figure may be unknown (null). ``E_spike`` is optional (no figure: no term);
  without ``E_route``, ``E_syn`` or ``P_static`` the total is not given, only the known terms.
* Assumption (no source gives it): ``P_static`` is per chip and scales with the chips used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..tables import RoutingTables, delivered_synapses

#: Figure -> the activity count it multiplies (``P_static`` multiplies chips x seconds).
EVENT_TERMS = {"E_route": "routed_events", "E_syn": "synaptic_events", "E_spike": "spikes"}
#: Figures without which no total is given (``E_spike`` is optional).
REQUIRED = ("E_route", "E_syn", "P_static")


@dataclass(frozen=True)
class Fanout:
    """Routed and synaptic events one spike causes, averaged over a set of sources."""

    routed_per_spike: float
    synaptic_per_spike: float


def _per_source(tables: RoutingTables) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SRAM entries and delivered CAM entries of every placed neuron (IR order) and input
    channel (network order)."""
    n_hw = tables.chips * tables.cores_per_chip * tables.neurons_per_core
    n_in = sum(size for _, size in tables.input_populations)

    def count(src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        neurons = np.bincount(src[src >= 0], minlength=n_hw)[tables.neuron_hw]
        inputs = np.bincount(-1 - src[src < 0], minlength=n_in)[:n_in]
        return neurons.astype(np.float64), inputs.astype(np.float64)

    sram_n, sram_i = count(tables.sram_src)
    syn_n, syn_i = count(delivered_synapses(tables).src)
    return sram_n, syn_n, sram_i, syn_i


def fanouts(tables: RoutingTables) -> tuple[Fanout, Fanout]:
    """Mean SRAM entries and mean delivered CAM entries per placed neuron and per input channel
    (one join of the tables for both)."""
    sram_n, syn_n, sram_i, syn_i = _per_source(tables)

    def mean(sram: np.ndarray, syn: np.ndarray) -> Fanout:
        return Fanout(float(sram.mean()), float(syn.mean())) if sram.size else Fanout(0.0, 0.0)

    return mean(sram_n, syn_n), mean(sram_i, syn_i)


def expected_activity(tables: RoutingTables, rates: np.ndarray) -> dict[str, float]:
    """Expected events per step for source ``rates`` (IR neurons, then input channels, as the
    placement uses them): neuron spikes, input events, routed events and synaptic events."""
    sram_n, syn_n, sram_i, syn_i = _per_source(tables)
    n = sram_n.size
    rates = np.asarray(rates, dtype=np.float64)
    r_n, r_i = rates[:n], rates[n:n + sram_i.size]
    return {"spikes": float(r_n.sum()), "input_events": float(r_i.sum()),
            "routed_events": float(r_n @ sram_n + r_i @ sram_i),
            "synaptic_events": float(r_n @ syn_n + r_i @ syn_i)}


@dataclass(frozen=True)
class Activity:
    """Event counts over a window (one inference or one step) and the window's chip seconds
    (None when unknown). ``basis`` says where the counts come from, in words."""

    source: str
    window: str
    seconds: float | None
    spikes: float
    routed_events: float
    synaptic_events: float
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "window": self.window, "window_s": self.seconds,
                "spikes": self.spikes, "routed_events": self.routed_events,
                "synaptic_events": self.synaptic_events, "basis": self.basis}


def activity_from_verify(verify: Mapping[str, Any], fanout: Fanout, dt_chip: float,
                         inputs: Fanout = Fanout(0.0, 0.0)) -> Activity:
    """Per inference, from ``verify.json``: the median spikes per inference of the simulated
    chips times the mean per-neuron fan-out, plus its ``input_events_per_inference`` times the
    mean per-channel fan-out ``inputs``. Its optional ``steps`` gives the duration."""
    spikes = float(verify["summary"]["spikes_per_inference"]["median"])
    events_in = verify.get("input_events_per_inference")
    steps = verify.get("steps")
    seconds = None if steps is None else float(steps) * dt_chip
    basis = (f"median spikes per inference of {verify.get('instances', '?')} simulated chips "
             f"(verify.json) x mean fan-out of the placed neurons")
    if events_in is None:
        events_in = 0.0
        basis += "; external input events not counted (verify.json has no input event count)"
    else:
        basis += (f", plus {float(events_in):.6g} input events per inference x mean fan-out of "
                  f"the input channels")
    if seconds is None:
        basis += "; duration unknown (verify.json has no 'steps')"
    return Activity("verify", "inference", seconds, spikes,
                    spikes * fanout.routed_per_spike + events_in * inputs.routed_per_spike,
                    spikes * fanout.synaptic_per_spike + events_in * inputs.synaptic_per_spike,
                    basis)


def activity_from_report(expected: Mapping[str, Any], dt_chip: float) -> Activity:
    """Per chip time step, from the compile report's ``expected_activity`` (rates of the
    reference simulator on the compile's ``--inputs``), input events included."""
    return Activity("compile", "step", dt_chip, float(expected["spikes"]),
                    float(expected["routed_events"]), float(expected["synaptic_events"]),
                    "expected rates of the compile's --inputs (report.json expected_activity), "
                    "external input events included; duration of an inference unknown")


def estimate(figures: Mapping[str, Any], fanout: Fanout, chips: int,
             activity: Activity | None) -> dict[str, Any]:
    """The estimate as data (J, W, s). ``figures`` maps names to objects with ``value``,
    ``unit``, ``source`` and ``confirmed`` (:class:`neurocc.backends.target.EnergyFigure`)."""
    value = {name: f.value for name, f in figures.items()}
    missing = [name for name in REQUIRED + ("E_spike",) if value.get(name) is None]
    unconfirmed = [name for name, f in figures.items() if f.value is not None and not f.confirmed]
    per_spike = _sum({"E_route": fanout.routed_per_spike, "E_syn": fanout.synaptic_per_spike,
                      "E_spike": 1.0}, value, optional=("E_spike",))
    static_w = None if value.get("P_static") is None else value["P_static"] * chips
    out: dict[str, Any] = {
        "figures": {name: {"value": f.value, "unit": f.unit, "source": f.source,
                           "confirmed": bool(f.confirmed)} for name, f in figures.items()},
        "missing": missing, "unconfirmed": unconfirmed, "chips": int(chips),
        "routed_per_spike": fanout.routed_per_spike,
        "synaptic_per_spike": fanout.synaptic_per_spike,
        "per_spike_J": per_spike, "static_W": static_w,
        "activity": None if activity is None else activity.as_dict(),
        "terms_J": None, "per_inference_J": None, "per_second_W": None}
    if activity is None:
        return out
    counts = {name: getattr(activity, attr) for name, attr in EVENT_TERMS.items()}
    terms = {name: None if value.get(name) is None else counts[name] * value[name]
             for name in EVENT_TERMS}
    terms["P_static"] = None if static_w is None or activity.seconds is None else \
        static_w * activity.seconds
    out["terms_J"] = terms
    dynamic = _sum(counts, value, optional=("E_spike",))
    if activity.window == "inference" and terms["P_static"] is not None and dynamic is not None:
        out["per_inference_J"] = dynamic + terms["P_static"]
    if activity.seconds and dynamic is not None and static_w is not None:
        out["per_second_W"] = dynamic / activity.seconds + static_w
    return out


def _sum(counts: Mapping[str, float], value: Mapping[str, float | None],
         optional: tuple[str, ...]) -> float | None:
    """``sum(count x figure)``; None when a non-optional figure is unknown."""
    total = 0.0
    for name, count in counts.items():
        if value.get(name) is None:
            if name in optional:
                continue
            return None
        total += count * value[name]
    return total
