"""Get a NIR graph as plain nested dicts, from an HDF5 file or from an in-memory ``nir.NIRGraph``.

Both sources give the same form, so one normaliser handles both::

    {"type": "NIRGraph", "nodes": {name: {"type": "LIF", "tau": array, ...}, ...},
     "edges": [(source, target), ...]}

Values are numpy arrays, Python scalars or strings (HDF5 byte strings are decoded); nested graphs
are nested dicts of the same form. ``nir.read`` is not used: it rejects several real exports
(missing fields, batch dimensions, placeholder shapes), which the normaliser tolerates instead.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import h5py
import nir
import numpy as np

from neurocc.compiler.errors import ModelFormatError, NeuroccError
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, check_memory

from ..model_file import check_model_file
from .graph import MAX_NESTING


#: Seconds the HDF5 file may take to read, plus one per :data:`READ_BYTES_PER_S` bytes of file.
READ_TIMEOUT_S = 5.0
READ_BYTES_PER_S = 50e6
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: First bytes of formats people save under a .nir name by mistake.
_KNOWN_MAGIC = {b"PK\x03\x04": "a zip archive (torch.save writes these)",
                b"\x80": "a Python pickle"}


def load_graph_dict(source: str | Path | nir.NIRGraph,
                    max_memory: int = DEFAULT_MAX_MEMORY) -> tuple[dict[str, Any], str]:
    """Return the graph as nested dicts and a label for messages (file name or ``network``).

    Datasets are read only while the sizes they declare add up to at most ``max_memory`` bytes,
    and groups nested deeper than ``2 * MAX_NESTING + 2`` (the HDF5 levels of
    :data:`MAX_NESTING` subgraphs) are refused before they are walked. The file is read in a
    child process with a time limit (:func:`_in_child`).
    """
    if isinstance(source, nir.NIRGraph):
        return _decode(source.to_dict()), "network"
    path = Path(source)
    size = check_model_file(path, "NIR")
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
        graph = _in_child(lambda: _read_node_group(path, max_memory),
                          READ_TIMEOUT_S + size / READ_BYTES_PER_S)
    except NeuroccError as err:
        err.where = err.where or path.name
        raise
    return graph, path.name


def _read_node_group(path: Path, max_memory: int) -> dict[str, Any]:
    """The decoded ``node`` group; whatever h5py raises on damaged bytes is one format error."""
    try:
        with h5py.File(path, "r") as fh:
            if "node" not in fh or not isinstance(fh["node"], h5py.Group):
                raise ModelFormatError("HDF5 file has no 'node' group, so it is not a NIR graph",
                                       fix="write the file with nir.write")
            return _decode(_group_to_dict(fh["node"], _Budget(max_memory)))
    except NeuroccError:
        raise
    # h5py raises any of these (not only OSError) on damaged bytes; none comes from neurocc
    except (OSError, RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
        detail = " ".join(str(err).split())[:200]
        raise ModelFormatError(f"HDF5 file is damaged or not a NIR file ({detail})",
                               fix="the file may be truncated or damaged; export it again "
                                   "with nir.write") from None


def _in_child(read: Callable[[], Any], timeout: float) -> Any:
    """Run ``read`` in a forked child process and return its result (or raise its error).

    The HDF5 library loops forever on some damaged heaps and crashes on others, inside C code
    that no signal interrupts; in a child, both become one error after ``timeout`` seconds.
    Without ``os.fork`` (Windows) ``read`` runs here.
    """
    if not hasattr(os, "fork"):
        return read()
    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX warns on fork; the child only reads HDF5
        pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(rfd)
        try:
            payload = ("value", read())
        except NeuroccError as err:
            payload = ("error", err)
        except BaseException as err:  # noqa: BLE001 (reported by the parent)
            payload = ("unexpected", f"{type(err).__name__}: {err}")
        with os.fdopen(wfd, "wb") as out:
            pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
        os._exit(0)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while chunk := _read_before(rfd, deadline, timeout):
            chunks.append(chunk)
    finally:
        os.close(rfd)
        os.kill(pid, signal.SIGKILL)  # a no-op on a child that has exited
        os.waitpid(pid, 0)
    if not chunks:
        raise ModelFormatError("the HDF5 library crashed reading the file, so it is damaged",
                               fix="the file may be truncated or damaged; export it again "
                                   "with nir.write")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise value
    if kind == "unexpected":
        raise RuntimeError(f"reading the HDF5 file failed: {value}")
    return value


def _read_before(fd: int, deadline: float, timeout: float) -> bytes:
    """The next bytes from ``fd`` (empty at its end); an error once ``deadline`` has passed."""
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        raise ModelFormatError(f"reading the HDF5 file did not finish within {timeout:.0f} s "
                               f"(the HDF5 library loops on some damaged files)",
                               fix="the file may be damaged; export it again with nir.write")
    return os.read(fd, 1 << 20)


def _group_to_dict(group: h5py.Group, budget: _Budget, depth: int = 0) -> dict[str, Any]:
    if depth > 2 * MAX_NESTING + 2:
        raise ModelFormatError(f"HDF5 groups are nested more than {2 * MAX_NESTING + 2} deep "
                               f"at {group.name!r} (subgraphs nested more than {MAX_NESTING} "
                               f"deep)", fix="flatten the nested subgraphs before export")
    return {key: _group_to_dict(item, budget, depth + 1) if isinstance(item, h5py.Group)
            else _read_dataset(item, budget) for key, item in group.items()}


class _Budget:
    """Bytes the datasets read so far take, against the memory budget."""

    def __init__(self, max_memory: int):
        self.max_memory, self.used = max_memory, 0.0

    def take(self, nbytes: float, what: str) -> None:
        self.used += nbytes
        check_memory(self.used, what, self.max_memory)


def _read_dataset(dataset: h5py.Dataset, budget: _Budget) -> Any:
    """The dataset's value, after checking the size it declares (it may store much less)."""
    itemsize = dataset.dtype.itemsize if dataset.dtype.kind != "O" else 64
    budget.take(float(np.prod(dataset.shape or (1,), dtype=np.float64)) * itemsize,
                f"the HDF5 datasets up to {dataset.name!r} (shape {list(dataset.shape or ())})")
    return dataset[()]


def _decode(value: Any) -> Any:
    """Byte strings to ``str`` (also inside object arrays, e.g. the edge list), recursively."""
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items() if key != "metadata"}
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return np.vectorize(_decode, otypes=[object])(value) if value.size else value
    return value
