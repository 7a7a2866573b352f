"""Property-based robustness of the readers: mutated real NIR files and mutated ``.ncl`` texts.

Whatever the mutation, ``load_model`` returns a network or raises one :class:`NeuroccError`
(never another exception), prints no numpy warning, returns within a few seconds, and leaves the
file's bytes as they were. ``neurocc inspect`` on mutants exits 0 or 2 without a traceback.
Examples are derandomized (the same on every run) and bounded so that the file runs in ~30 s.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
from unittest import mock

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocc.compiler.errors import NeuroccError
from neurocc.compiler.ir import Network
from neurocc.frontend.nir import source as nir_source
from neurocc.frontend.load import LoadOptions, load_model
from networks import REPO, SHARED_MODELS, strict


#: Small real exports (the CNNs take a second each to unroll, too slow for many examples).
NIR_FILES = ["lif_norse.nir", "lif_rockpool.nir", "two_lif_neurons.nir",
             "braille_noDelay_bias_zero.nir", "spyx_shd.nir"]
#: A budget small enough that an accepted mutant cannot take much of the shared machine.
OPTIONS = LoadOptions(max_memory=256 * 2**20)
SECONDS = 5.0
FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@contextmanager
def fast_hdf5_timeout() -> Iterator[None]:
    """Damaged heaps make the HDF5 library loop; give up on them after 1 s instead of 5 s."""
    with mock.patch.object(nir_source, "READ_TIMEOUT_S", 1.0):
        yield


def check_load(path: Path) -> Network | NeuroccError:
    """The reader's contract on one file; returns what it gave."""
    before = hashlib.sha256(path.read_bytes()).digest()
    start = time.monotonic()
    with strict(int(SECONDS) + 5), fast_hdf5_timeout():
        try:
            result: Network | NeuroccError = load_model(path, OPTIONS)
        except NeuroccError as err:
            result = err
    assert time.monotonic() - start < SECONDS
    assert hashlib.sha256(path.read_bytes()).digest() == before
    if isinstance(result, NeuroccError):
        assert len(str(result).splitlines()) == 1, str(result)
    else:
        assert result.neurons() > 0
    return result


# -- NIR: bytes -----------------------------------------------------------------------------------

BYTE_EDITS = st.lists(st.tuples(st.sampled_from(["flip", "zero", "truncate"]),
                                st.floats(0.0, 1.0), st.integers(1, 255)), min_size=1, max_size=4)


def edit_bytes(data: bytes, edits: list[tuple[str, float, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        at = int(where * (len(out) - 1))
        if kind == "flip":
            out[at] ^= value
        elif kind == "zero":
            out[at:at + value] = bytes(len(out[at:at + value]))
        else:
            del out[max(at, 1):]
    return bytes(out)


@settings(FUZZ, max_examples=40)
@given(name=st.sampled_from(NIR_FILES), edits=BYTE_EDITS)
def test_nir_bytes(name: str, edits: list[tuple[str, float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(edit_bytes((SHARED_MODELS / name).read_bytes(), edits))
        check_load(path)


# -- NIR: HDF5 objects ----------------------------------------------------------------------------

VALUES = [np.nan, np.inf, -np.inf, 1e300, -1.0, 0.0, 1.5, 5e-324, 2.0**40]
DTYPES = ["int8", "complex128", "bool", "S3", "float16", "uint64"]
SHAPES = [(), (0,), (1,), (3, 1), (2, 2, 2, 2), (10**6, 10**6)]
TYPES = ["NIRGraph", "LIF", "CubaLIF", "Affine", "Linear", "Scale", "Conv2d", "SumPool2d",
         "Flatten", "Input", "Output", "Delay", "", "\u2028"]
NAMES = ["a.b", "\u00a0", "input", "x" * 300, "0"]


def _objects(fh: h5py.File, kind: type) -> list[str]:
    names: list[str] = []
    fh.visititems(lambda name, obj: names.append(name) if isinstance(obj, kind) else None)
    return sorted(names)


def _replace(fh: h5py.File, name: str, **dataset) -> None:
    del fh[name]
    fh.create_dataset(name, **dataset)


def _nest(fh: h5py.File, depth: int) -> None:
    """Add a node made of ``depth`` empty subgraphs inside each other."""
    group = fh["node/nodes"].create_group("deep")
    for level in range(depth):
        group.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        group.create_dataset("edges", shape=(0, 2), dtype=h5py.string_dtype())
        group = group.create_group("nodes").create_group("deep") if level < depth - 1 else group


def edit_hdf5(path: Path, op: str, index: int, choice: int) -> None:
    with h5py.File(path, "r+") as fh:
        datasets = _objects(fh, h5py.Dataset)
        groups = [g for g in _objects(fh, h5py.Group) if g.startswith("node/nodes/")]
        name = datasets[index % len(datasets)]
        if op == "delete":
            del fh[name]
        elif op == "value":
            shape = fh[name].shape if fh[name].size < 10**6 else ()  # not a declared terabyte
            _replace(fh, name, data=np.full(shape, VALUES[choice % len(VALUES)]))
        elif op == "dtype":
            kind = DTYPES[choice % len(DTYPES)]
            data = np.array([b"abc"]) if kind == "S3" else np.ones(3, dtype=kind)
            _replace(fh, name, data=data)
        elif op == "shape":
            shape = SHAPES[choice % len(SHAPES)]
            if shape == (10**6, 10**6):  # declared, never written: it takes no space in the file
                _replace(fh, name, shape=shape, dtype="f8", chunks=(1, 1024))
            else:
                _replace(fh, name, data=np.ones(shape))
        elif op == "type":
            types = [d for d in datasets if d.endswith("/type")]
            _replace(fh, types[index % len(types)], data=TYPES[choice % len(TYPES)],
                     dtype=h5py.string_dtype())
        elif op == "rename":
            source = groups[index % len(groups)]
            fh.move(source, f"node/nodes/{NAMES[choice % len(NAMES)]}")
        else:
            _nest(fh, [1, 3, 66, 140][choice % 4])


@settings(FUZZ, max_examples=70)
@given(name=st.sampled_from(NIR_FILES),
       ops=st.lists(st.tuples(st.sampled_from(["delete", "value", "dtype", "shape", "type",
                                               "rename", "nest"]),
                              st.integers(0, 200), st.integers(0, 50)), min_size=1, max_size=3))
def test_nir_hdf5_edits(name: str, ops: list[tuple[str, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes((SHARED_MODELS / name).read_bytes())
        for op in ops:
            try:
                edit_hdf5(path, *op)
            except ValueError:  # h5py refuses some edits (e.g. moving onto an existing name)
                pass
        check_load(path)


# -- .ncl text ------------------------------------------------------------------------------------

OWN_TEXT = """network "fuzz target" { dt = 0.5 ms }
input spikes[4]
population hidden : CubaLIF[3] {
    tau_mem = [10, 12, 14] ms; tau_syn = 5 ms
    v_leak = 0.1; reset = subtract; refractory = 1 ms
    scale.v_threshold = [2.0, 2.5, 3.0]
}
population out : LIF[2] { tau_mem = 20 ms }
projection spikes -> hidden { weights = sparse [(0, 0, 0.5), (1, 2, -0.25), (2, 3, 1e-3)] }
projection rec: hidden -> hidden delay 2 { weights = dense [[0, 1, 0], [0, 0, 1], [1, 0, 0]] }
projection hidden -> out { weights = dense [[1, 1, 1], [-1, -1, -1],] }
output out
"""
TEXTS = [(REPO / "examples" / "tiny.ncl").read_text(encoding="utf-8"), OWN_TEXT]
ODD = st.sampled_from(list("\u00a0\u2028\u2029\u0085\x0b\x0c\ufeff\x00\u00e9\"\\[](){},;:#.-+e"
                           "0123456789 \n\t\U0001F600"))
INSERTS = st.one_of(
    st.text(alphabet=ODD, max_size=6),
    st.sampled_from(["1e999", "-1e309", "1e-320", "9" * 40, "nan", "inf", " delay 99999999999 ",
                     "[", "]", '"', "input", "population p : IF[1000000000]\n",
                     "population q : LIF[10000000000000000000000000000000]\n",
                     "input i[1000000000000]\n", "output spikes\n", "network"]),
)
TEXT_EDITS = st.lists(st.tuples(st.sampled_from(["insert", "delete"]), st.floats(0.0, 1.0),
                                INSERTS, st.integers(1, 40)), min_size=1, max_size=3)


def edit_text(text: str, edits: list[tuple[str, float, str, int]]) -> str:
    for kind, where, insert, length in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at:] if kind == "insert" else \
            text[:at] + text[at + length:]
    return text


@settings(FUZZ, max_examples=150)
@given(base=st.sampled_from(range(len(TEXTS))), edits=TEXT_EDITS)
def test_ncl_text(base: int, edits: list[tuple[str, float, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.ncl"
        path.write_text(edit_text(TEXTS[base], edits), encoding="utf-8")
        check_load(path)


def test_mutations_reach_both_outcomes() -> None:
    """The strategies are not vacuous: some mutants load, others are refused."""
    outcomes: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.ncl"
        for edits in ([("insert", 0.0, "# a comment\n", 1)], [("insert", 0.5, "\u2028", 1)],
                      [("delete", 0.3, "", 5)]):
            path.write_text(edit_text(OWN_TEXT, edits), encoding="utf-8")
            outcomes.append(isinstance(check_load(path), Network))
    assert outcomes == [True, False, False]


# -- the command line -----------------------------------------------------------------------------

@settings(FUZZ, max_examples=12)
@given(name=st.sampled_from(NIR_FILES[:4]),
       op=st.tuples(st.sampled_from(["delete", "value", "type", "rename", "nest"]),
                    st.integers(0, 200), st.integers(0, 50)),
       edits=TEXT_EDITS)
def test_inspect_on_mutants(cli: Callable, name: str, op: tuple[str, int, int],
                            edits: list[tuple[str, float, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nir_path, ncl_path = Path(tmp) / name, Path(tmp) / "model.ncl"
        nir_path.write_bytes((SHARED_MODELS / name).read_bytes())
        try:
            edit_hdf5(nir_path, *op)
        except ValueError:
            pass
        ncl_path.write_text(edit_text(OWN_TEXT, edits), encoding="utf-8")
        for path in (nir_path, ncl_path):
            with strict(int(SECONDS) + 5), fast_hdf5_timeout():
                code, out, err = cli(["inspect", str(path)])
            assert code in (0, 2), err
            assert "Traceback" not in out + err
            assert (code == 0) == (err == "") and len(err.splitlines()) <= 1, err
