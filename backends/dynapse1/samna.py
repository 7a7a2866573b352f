"""Fill a real ``samna.dynapse1.Dynapse1Configuration`` from a neurocc deployment.

Same rules as the DYNAP-SE2 filler (:mod:`neurocc.backends.dynapse2.samna`): samna is detected
without importing it, PyPI's bootstrap stub is refused, every neuron of the covered chips is reset
before the listed ones are written, SRAM entries reserved for monitoring (entry 0 by default) keep
their content. samna's ``Dynapse1Configuration`` holds one board of 4 chips.
"""

from __future__ import annotations

from typing import Any

from neurocc.backends.config.meta import Deployment
from neurocc.backends.dynapse1.config import CONFIG
from neurocc.backends.dynapse2.samna import SamnaSpelling, fill_configuration, require_samna
from neurocc.backends.target import Target

DESTINATION_FIELDS = ("target_chip_id", "in_use", "virtual_core_id", "core_mask", "sx", "sy",
                      "dx", "dy")


def to_samna(deployment: Deployment, target: Target, config: Any = None) -> Any:
    """A ``samna.dynapse1.Dynapse1Configuration`` holding ``deployment``.

    ``config``: the object to fill (e.g. the board's current configuration); a new default one
    when None. Raises :class:`~neurocc.backends.dynapse2.samna.SamnaError` without a
    real samna.
    """
    d1 = require_samna("dynapse1")
    data = CONFIG.to_json(deployment.tables, target, deployment.meta)

    def synapse(entry: dict[str, Any] | None) -> Any:
        syn = d1.Dynapse1Synapse()
        if entry is not None:
            syn.listen_core_id = entry["listen_core_id"]
            syn.listen_neuron_id = entry["listen_neuron_id"]
            syn.syn_type = getattr(d1.Dynapse1SynType, entry["syn_type"])
        return syn

    def destination(entry: dict[str, Any] | None) -> Any:
        dest = d1.Dynapse1Destination()
        if entry is not None:
            for name in DESTINATION_FIELDS:
                setattr(dest, name, entry[name])
        return dest

    spelling = SamnaSpelling(synapse=synapse, destination=destination,
                             parameters=lambda core: core.parameter_group.param_map,
                             parameters_path=("parameter_group", "param_map"))
    return fill_configuration(config if config is not None else d1.Dynapse1Configuration(),
                              data, target, spelling)
