"""neurocc's JSON chip configurations (DYNAP-SE1 and DYNAP-SE2), documented in
``docs/config_format.md``.

Both generations' configs have the same skeleton::

    {"format": ..., "version": 1, "target": {...}, "populations": [...], "neuron_map": {...},
     "inputs": [...], "outputs": [...], "chips": [...], "mapping": {...}, "projections": [...]}

and differ only in how a CAM entry, an SRAM entry, an input's destination and a core's parameters
are spelled: a :class:`~.codec.Codec` per generation (``dynapse1/config.py``,
``dynapse2/config.py``) spells those; everything else lives here, once: ``meta`` (what a config
holds besides the tables), ``canonical`` (row order), ``text`` (canonical text, file I/O),
``encode`` and ``decode`` (tables <-> JSON, validated), ``format`` (the file API of one
generation).
"""
