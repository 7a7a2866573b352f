"""DYNAP-SE2 target: its facts live in ``target.json`` and the vendor-measured bias-generator table
in ``biasgen.json`` beside this file (load them with
``neurocc.backends.target.load_target("dynapse2")``).

``config`` (the JSON codec: samna ``Dynapse2Configuration`` field names) and ``samna`` (fills a
real samna object).
"""

from __future__ import annotations

from ..emitter import Emitter


def emitter() -> Emitter:
    """The configuration formats of DYNAP-SE2."""
    from . import config, samna
    return Emitter(target="dynapse2", config=config.CONFIG, to_samna=samna.to_samna)
