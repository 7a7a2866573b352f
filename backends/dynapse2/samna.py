"""Fill a real ``samna.dynapse2.Dynapse2Configuration`` from a neurocc deployment.

samna is never a dependency. PyPI's ``samna`` is a 15 kB bootstrap whose ``__init__.py`` (marked
``PYPI_SAMNA``) pip-installs the real binary from the vendor's own index when it is imported, which
cannot work offline and must not happen behind a user's back: :func:`samna_status` finds the package
with ``importlib.util.find_spec`` and reads its ``__init__.py`` without importing it. Only a real
samna is imported, and only when ``to_samna`` is called.

Filling goes through the JSON config (whose field names are samna's): every neuron of every chip the
target covers is first reset to empty CAM and SRAM entries (absent in the config = unused), except
SRAM entries the target reserves for the tools' monitoring, which are left as they are; then every
listed neuron gets its entries and latches, every listed core its parameters. Whole lists are
assigned (``neuron.synapses = [...]``), as samna's Python bindings copy list attributes.
External inputs are events sent at run time, not configuration: they are not part of the object.

This module also holds the plumbing the DYNAP-SE1 filler shares (:func:`require_samna`,
:class:`SamnaSpelling`, :func:`fill_configuration`).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from neurocc.backends.config.meta import Deployment
from neurocc.backends.dynapse2.config import CONFIG
from neurocc.backends.target import Target
from neurocc.compiler.errors import NeuroccError

STUB_MARK = "PYPI_SAMNA"
INSTALL_HINT = ("install SynSense's real samna from the vendor's own package index (the "
                "'samna' on PyPI is only a bootstrap that fetches it at import), or deploy the "
                "JSON config with your own tooling")


class SamnaError(NeuroccError):
    """samna cannot be used (not installed, PyPI's bootstrap stub) or refuses the configuration."""


def samna_status() -> tuple[bool, str]:
    """(usable, reason): is a real samna importable? Never imports samna."""
    try:
        spec = importlib.util.find_spec("samna")
    except (ImportError, ValueError) as exc:
        return False, f"samna cannot be located ({exc})"
    if spec is None:
        return False, "samna is not installed"
    origin = Path(spec.origin) if spec.origin and spec.origin != "built-in" else None
    if origin is not None and origin.suffix == ".py" and origin.is_file():
        if STUB_MARK in origin.read_text(encoding="utf-8", errors="replace"):
            return False, (f"the installed samna ({origin}) is PyPI's bootstrap stub, which "
                           f"would pip-install the real package from the vendor's index on import")
    return True, "real samna found"


def require_samna(submodule: str) -> ModuleType:
    """Import ``samna.<submodule>`` from a real samna, or raise :class:`SamnaError`."""
    usable, reason = samna_status()
    if not usable:
        raise SamnaError(f"cannot fill a samna configuration: {reason}",
                                    where="to_samna", fix=INSTALL_HINT)
    try:
        return importlib.import_module(f"samna.{submodule}")
    except ImportError as exc:
        raise SamnaError(f"samna.{submodule} cannot be imported ({exc})",
                                    where="to_samna", fix=INSTALL_HINT) from None


@dataclass(frozen=True)
class SamnaSpelling:
    """How one generation builds samna objects from the JSON config's entries."""

    synapse: Callable[[dict[str, Any] | None], Any]
    destination: Callable[[dict[str, Any] | None], Any]
    parameters: Callable[[Any], Any]
    #: Keys from a JSON core to its parameter map (as in the codec).
    parameters_path: tuple[str, ...]


def fill_configuration(config: Any, data: dict[str, Any], target: Target,
                       spelling: SamnaSpelling) -> Any:
    """Write the JSON config ``data`` into the samna object ``config`` (module docstring)."""
    used = max((chip["id"] for chip in data["chips"]), default=-1)
    if len(config.chips) <= used:
        raise SamnaError(
            f"the samna configuration has {len(config.chips)} chips, the deployment uses chip "
            f"{used}", where="to_samna",
            fix="pass the board's configuration (model.get_configuration()) as config")
    reserved = target.sram_per_neuron - target.sram_usable
    empty_syn = [spelling.synapse(None) for _ in range(target.cam_per_neuron)]
    for chip in list(config.chips)[:target.chips]:
        for core in chip.cores:
            for neuron in core.neurons:
                neuron.synapses = list(empty_syn)
                neuron.destinations = _destinations(neuron, [], reserved, target, spelling)
    for chip_data in data["chips"]:
        chip = config.chips[chip_data["id"]]
        for core_data in chip_data["cores"]:
            core = chip.cores[core_data["id"]]
            _set_parameters(core, core_data, spelling, chip_data["id"])
            for nd in core_data.get("neurons", []):
                neuron = core.neurons[nd["id"]]
                syns = [spelling.synapse(s) for s in nd.get("synapses", [])]
                neuron.synapses = syns + empty_syn[len(syns):]
                neuron.destinations = _destinations(neuron, nd.get("destinations", []), reserved,
                                                    target, spelling)
                for name, value in nd.get("latches", {}).items():
                    setattr(neuron, name, value)
    return config


def _destinations(neuron: Any, entries: list[dict[str, Any]], reserved: int, target: Target,
                  spelling: SamnaSpelling) -> list[Any]:
    kept = list(neuron.destinations)[:reserved]
    ours = [spelling.destination(d) for d in entries]
    pad = target.sram_per_neuron - reserved - len(ours)
    return kept + ours + [spelling.destination(None) for _ in range(pad)]


def _set_parameters(core: Any, core_data: dict[str, Any], spelling: SamnaSpelling,
                    chip: int) -> None:
    params: Any = core_data
    for key in spelling.parameters_path:
        if key not in params:
            return
        params = params[key]
    target_map = spelling.parameters(core)
    for name, value in params.items():
        try:
            parameter = target_map[name]
        except (KeyError, IndexError):
            raise SamnaError(
                f"samna's parameter map of core {core_data['id']} on chip {chip} has no "
                f"{name!r}", where="to_samna",
                fix="check the target's bias spelling options (e.g. delay_bias_spelling)") \
                from None
        parameter.coarse_value = value["coarse_value"]
        parameter.fine_value = value["fine_value"]


def to_samna(deployment: Deployment, target: Target, config: Any = None) -> Any:
    """A ``samna.dynapse2.Dynapse2Configuration`` holding ``deployment``.

    ``config``: the object to fill (typically ``model.get_configuration()`` of the board); a new
    default one when None. Raises :class:`SamnaError` without a real samna.
    """
    d2 = require_samna("dynapse2")
    data = CONFIG.to_json(deployment.tables, target, deployment.meta)
    codes = {st.name: st.code for st in target.synapse_types}

    def synapse(entry: dict[str, Any] | None) -> Any:
        syn = d2.Dynapse2Synapse()
        if entry is not None:
            syn.tag = entry["tag"]
            syn.dendrite = d2.Dendrite(codes[entry["dendrite"]])
            syn.weight = list(entry["weight"])
            syn.stp = syn.precise_delay = syn.mismatched_delay = False
        return syn

    def destination(entry: dict[str, Any] | None) -> Any:
        dest = d2.Dynapse2Destination()
        if entry is not None:
            dest.tag = entry["tag"]
            dest.x_hop = entry["x_hop"]
            dest.y_hop = entry["y_hop"]
            dest.core = list(entry["core"])
        return dest

    spelling = SamnaSpelling(synapse=synapse, destination=destination,
                             parameters=lambda core: core.parameters,
                             parameters_path=("parameters",))
    return fill_configuration(config if config is not None else d2.Dynapse2Configuration(),
                              data, target, spelling)
