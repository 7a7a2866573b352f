"""The neuron model as target data: which membrane equations the simulator integrates and the
compiler maps for, read from a target's ``neuron_model`` block.

Nobody has fitted a DPI neuron model to DYNAP-SE2 silicon in a source readable here
(``shared/hardware/README.md``, "Neuron feedback"), so the model is a stated choice, not a fact.
A target file names its models and its default::

    "neuron_model": {
      "default": "none", "default_source": "why this default",
      "constants": {"U_T": {"value": 0.025, "source": "..."}, "kappa_n": ..., "kappa_p": ...,
                    "I_0": ..., "V_th": ..., "C_mem": ..., "C_ref": ..., "C_pulse": ..., "C_ahp": ...},
      "models": {
        "<name>": {"equations": "dpi" | "dynapsim", "integration": ..., "refractory": ...,
                   "feedback": {"form": "none" | "exponential" | "sigmoid", ...},
                   "adaptation": {...} (dynapsim only), "source": "..."}}}

Every value is ``{"value": number, "source": citation}``. The constants must agree with the
target's ``circuit`` block (the compiler's mapping reads that one): the block states their sources
and keeps both in one file. The equation sets:

* ``dpi`` (``integration: exponential_euler``, ``refractory: clamp_round``): the DPI membrane of
  Chicca et al. (2014) as ``runtime/circuit`` writes it, one current per synapse type, the membrane
  held at ``I_0`` for ``round(t_ref/dt)`` steps, at most one spike per step. Feedback ``none``
  (no positive feedback), ``exponential`` (Rockpool's ``I_a = I_0 (I_mem/I_0)^(kappa/(kappa+1))``
  on the present ``I_mem``) or ``sigmoid`` (NICE's SE1 simulator / teili:
  ``I_a = gain / (1 + exp(-(I_mem - threshold) / width))``, the three constants given as fractions
  of the neuron's spike threshold current). The feedback enters as ``(I_a / I_tau)(I_mem + I_gain)``.
* ``dynapsim`` (``integration: forward_euler``, ``refractory: block_input_ceil``): Rockpool 3.1
  DynapSim's ``evolve``, quirks included: forward Euler; feedback ``I_0 exp(kappa^2/(kappa+1)
  V_mem/U_T)`` with ``V_mem`` the previous step's membrane voltage taken before the reset; one
  lumped synapse (the first excitatory type's time constant and gain; inhibitory and shunting weights
  negative) whose steady-state input is clipped at ``>= I_0`` every step (inhibition alone does
  nothing); an always-on adaptation block whose current never falls below ``I_0`` and adds to the
  leak; the leak subtracted twice (``I_in = I_syn - I_leak + I_dc``, then ``I_inf = r (I_in -
  I_leak)``); input blocked while a float timer, set to ``t_ref`` at a spike and counted down by
  ``dt``, is positive (``ceil(t_ref/dt)`` steps) while the membrane keeps running;
  ``ceil(ln(I_mem/I_spkthr))`` spikes per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from neurocc.backends.circuit_constants import CircuitConstants
from neurocc.backends.json_fields import Fields, child
from neurocc.compiler.errors import TargetError

#: Equation sets and the integration scheme and refractory semantics each one implements.
EQUATIONS = {"dpi": ("exponential_euler", "clamp_round"),
             "dynapsim": ("forward_euler", "block_input_ceil")}
#: Feedback forms each equation set takes.
FEEDBACK_FORMS = {"dpi": ("none", "exponential", "sigmoid"), "dynapsim": ("exponential",)}
#: Constants of the block and the field of the target's ``circuit`` block each must equal.
CONSTANTS = {"U_T": "U_T", "kappa_n": "kappa_n", "kappa_p": "kappa_p", "I_0": "I_0",
             "V_th": "V_th", "C_mem": "capacitance_F.mem", "C_ref": "capacitance_F.ref",
             "C_pulse": "capacitance_F.pulse", "C_ahp": "capacitance_F.ahp"}
#: Constants of the sigmoid feedback, as fractions of the spike threshold current.
SIGMOID_FIELDS = ("gain", "threshold", "width")
#: Constants of DynapSim's adaptation block (no bias of the targets drives it).
ADAPTATION_FIELDS = ("tau", "gain_ratio", "I_w", "t_pulse")


@dataclass(frozen=True)
class NeuronModel:
    """One named neuron model (hashable: the simulator specialises its step on it).

    ``sigmoid``: ``(gain, threshold, width)`` as fractions of ``I_spkthr`` (``feedback ==
    "sigmoid"``). ``adaptation``: DynapSim's ``(tau_ahp, I_gain/I_tau, I_w_ahp,
    t_pulse_ahp)`` (``equations == "dynapsim"``). ``sources``: field -> citation.
    """

    name: str
    equations: str
    integration: str
    refractory: str
    feedback: str
    sigmoid: tuple[float, float, float] | None = None
    adaptation: tuple[float, float, float, float] | None = None
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def multi_spike(self) -> bool:
        """Whether a neuron may emit several spikes in one step."""
        return self.equations == "dynapsim"


@dataclass(frozen=True)
class NeuronModels:
    """A target's models: ``models`` by name, the default's name and why it is the default."""

    default: str
    default_source: str
    models: Mapping[str, NeuronModel]
    constant_sources: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def get(self, name: str | None = None) -> NeuronModel:
        """The model ``name`` (None: the default); an error lists the names."""
        key = self.default if name is None else name
        if key not in self.models:
            raise TargetError(f"neuron model {key!r} is not defined by the target",
                              fix=f"pass --neuron-model with one of {list(self.models)}")
        return self.models[key]


#: The model of a target file without a ``neuron_model`` block (the simulator's model before #15).
WITHOUT_BLOCK = NeuronModel(name="none", equations="dpi", integration="exponential_euler",
                            refractory="clamp_round", feedback="none",
                            sources=(("model", "the target file has no neuron_model block"),))


def parse_neuron_models(raw: Any, circuit: CircuitConstants, path: Path | str) -> NeuronModels:
    """Validate a target's ``neuron_model`` block against its ``circuit`` constants; a file
    without the block gets the single model ``none`` (:data:`WITHOUT_BLOCK`)."""
    if raw is None:
        return NeuronModels(default="none", default_source="the target file has no neuron_model "
                            "block", models={"none": WITHOUT_BLOCK}, constant_sources={})
    return _Parser(path).models(raw, circuit)


class _Parser(Fields):
    """The ``neuron_model`` block's fields, checked; errors are :class:`TargetError`."""

    def __init__(self, path: Path | str):
        super().__init__(str(path), TargetError)

    def text(self, raw: dict, key: str, at: str) -> str:
        value = self.field(raw, key, str, at)
        if not value.strip():
            raise self.fail(child(at, key), "is empty", fix=f"give {key!r} as a non-empty string")
        return value

    def value(self, raw: dict, key: str, at: str) -> tuple[float, str]:
        """A ``{"value": positive number, "source": text}`` item."""
        item = self.field(raw, key, dict, at)
        return (self.number(item.get("value"), child(child(at, key), "value"), positive=True),
                self.text(item, "source", child(at, key)))

    def models(self, raw: Any, circuit: CircuitConstants) -> NeuronModels:
        at = "neuron_model"
        block = self.mapping(raw, at)
        constants = self.mapping(block.get("constants"), f"{at}.constants")
        sources = {}
        for key, circuit_field in CONSTANTS.items():
            value, sources[key] = self.value(constants, key, f"{at}.constants")
            expected = _circuit_value(circuit, circuit_field)
            if expected is None or not math.isclose(value, expected, rel_tol=1e-12):
                raise self.fail(f"{at}.constants.{key}", f"is {value!r} but circuit.{circuit_field}"
                                f" is {expected!r}", fix="make the two agree (one chip, one value);"
                                " measured values of one chip go in a --calibration file")
        models = self.mapping(block.get("models"), f"{at}.models")
        if not models:
            raise self.fail(f"{at}.models", "is empty", fix="define at least one model")
        parsed = {name: self.model(name, spec, f"{at}.models.{name}")
                  for name, spec in models.items()}
        default = self.choice(block, "default", tuple(parsed), at)
        return NeuronModels(default=default, default_source=self.text(block, "default_source", at),
                            models=parsed, constant_sources=sources)

    def model(self, name: str, raw: Any, at: str) -> NeuronModel:
        spec = self.mapping(raw, at)
        equations = self.choice(spec, "equations", tuple(EQUATIONS), at)
        integration, refractory = EQUATIONS[equations]
        for key, expected in (("integration", integration), ("refractory", refractory)):
            self.choice(spec, key, (expected,), at)
        feedback = self.mapping(spec.get("feedback"), f"{at}.feedback")
        form = self.choice(feedback, "form", FEEDBACK_FORMS[equations], f"{at}.feedback")
        sources = {"model": self.text(spec, "source", at)}
        if form != "none":
            sources["feedback"] = self.text(feedback, "source", f"{at}.feedback")
        sigmoid = adaptation = None
        if form == "sigmoid":
            items = [self.value(feedback, k, f"{at}.feedback") for k in SIGMOID_FIELDS]
            sigmoid = tuple(v for v, _ in items)
            sources.update({f"feedback.{k}": s for k, (_, s) in zip(SIGMOID_FIELDS, items)})
        if equations == "dynapsim":
            block = self.mapping(spec.get("adaptation"), f"{at}.adaptation")
            items = [self.value(block, k, f"{at}.adaptation") for k in ADAPTATION_FIELDS]
            adaptation = tuple(v for v, _ in items)
            sources.update({f"adaptation.{k}": s for k, (_, s) in zip(ADAPTATION_FIELDS, items)})
        return NeuronModel(name=name, equations=equations, integration=integration,
                           refractory=refractory, feedback=form, sigmoid=sigmoid,
                           adaptation=adaptation, sources=tuple(sources.items()))


def _circuit_value(circuit: CircuitConstants, field_path: str) -> float | None:
    if field_path.startswith("capacitance_F."):
        return circuit.capacitance.get(field_path.split(".", 1)[1])
    return getattr(circuit, field_path)
