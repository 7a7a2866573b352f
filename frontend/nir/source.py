"""Get a NIR graph as plain nested dicts, from an HDF5 file or from an in-memory ``nir.NIRGraph``.

Both sources give the same form, so one normaliser handles both::

    {"type": "NIRGraph", "nodes": {name: {"type": "LIF", "tau": array, ...}, ...},
     "edges": [(source, target), ...]}

Values are numpy arrays, Python scalars or strings (HDF5 byte strings are decoded); nested graphs
are nested dicts of the same form. ``nir.read`` is not used: it rejects several real exports
(missing fields, batch dimensions, placeholder shapes), which the normaliser tolerates instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np

from neurocc.compiler.errors import ModelFormatError


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: First bytes of formats people save under a .nir name by mistake.
_KNOWN_MAGIC = {b"PK\x03\x04": "a zip archive (torch.save writes these)",
                b"\x80": "a Python pickle"}


def load_graph_dict(source: str | Path | nir.NIRGraph) -> tuple[dict[str, Any], str]:
    """Return the graph as nested dicts and a label for messages (file name or ``network``)."""
    if isinstance(source, nir.NIRGraph):
        return _decode(source.to_dict()), "network"
    path = Path(source)
    if not path.is_file():
        raise ModelFormatError("file not found", where=str(path),
                               fix="check the path of the NIR file")
    with path.open("rb") as fh:
        head = fh.read(len(HDF5_MAGIC))
    if head != HDF5_MAGIC:
        kind = next((what for magic, what in _KNOWN_MAGIC.items() if head.startswith(magic)),
                    f"unknown content (first bytes {head[:4]!r})")
        raise ModelFormatError(f"not a NIR file: it is not HDF5 but {kind}", where=path.name,
                               fix="export the model with nir.write(path, graph) from the "
                                   "training framework (e.g. snntorch.export_to_nir, then "
                                   "nir.write)")
    try:
        with h5py.File(path, "r") as fh:
            if "node" not in fh or not isinstance(fh["node"], h5py.Group):
                raise ModelFormatError("HDF5 file has no 'node' group, so it is not a NIR graph",
                                       where=path.name, fix="write the file with nir.write")
            return _decode(_group_to_dict(fh["node"])), path.name
    except OSError as err:
        raise ModelFormatError(f"HDF5 file cannot be read ({err})", where=path.name,
                               fix="the file may be truncated; export it again") from err


def _group_to_dict(group: h5py.Group) -> dict[str, Any]:
    return {key: _group_to_dict(item) if isinstance(item, h5py.Group) else item[()]
            for key, item in group.items()}


def _decode(value: Any) -> Any:
    """Byte strings to ``str`` (also inside object arrays, e.g. the edge list), recursively."""
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items() if key != "metadata"}
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return np.vectorize(_decode, otypes=[object])(value) if value.size else value
    return value
