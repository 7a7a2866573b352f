"""DYNAP-SE1 target: its facts live in ``target.json`` beside this file (load them with
``neurocc.backends.target.load_target("dynapse1")``).

``config`` (the JSON codec: samna ``Dynapse1Configuration`` field names), ``samna`` (fills a real
samna object), ``caer`` (cAER netparser text) and ``cortexcontrol`` (bias script).
"""

from __future__ import annotations

from ..emitter import Emitter


def emitter() -> Emitter:
    """The configuration formats of DYNAP-SE1."""
    from . import caer, config, cortexcontrol, samna
    return Emitter(target="dynapse1", config=config.CONFIG, to_samna=samna.to_samna,
                   extras={"caer": (caer.dump_caer, caer.load_caer),
                           "cortexcontrol": (cortexcontrol.dump_cortexcontrol,
                                             cortexcontrol.load_cortexcontrol)})
