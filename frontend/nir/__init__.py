"""NIR (HDF5 or in-memory graphs) <-> IR: ``source`` (file -> plain node dicts), ``graph``
(nesting, back edges), ``neurons``, ``linear`` + ``unroll`` (stateless nodes -> sparse maps),
``values``, ``reader`` and ``writer``."""
