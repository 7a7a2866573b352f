"""Issue 14, property-based: mutated compiled folders (report.json, config.json, network.ncl) and
mutated input ``.npz`` files never crash the CLI. Every run exits 0, 1 or 2 with at most one line
on stderr and no traceback, and leaves the files it read byte-identical.

Bounded (derandomised, a few dozen examples in all) so that the module stays well under a minute.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from networks import REPO
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

TINY = REPO / "examples" / "tiny.ncl"
TINY_INPUTS = REPO / "examples" / "tiny_inputs.npz"

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 2**40, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from([[], {}, [[]], {"": None}]))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    from neurocc.compiler.driver import compile_model
    out = tmp_path_factory.mktemp("fuzz") / "tiny"
    compile_model(TINY, "dynapse2").save(out)
    return out


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_clean(code: int, err: str) -> None:
    event(f"exit {code}")
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.strip("\n").splitlines()) <= 1, err


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a parsed JSON value (object keys and list indices)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, prefix + (k,))
    elif isinstance(value, list):
        for k, v in enumerate(value[:3]):  # the first few elements stand for the rest
            out += paths(v, prefix + (k,))
    return out


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


def value_at(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def same_kind(value: Any) -> st.SearchStrategy:
    """Values of the same JSON type as ``value`` (so that some mutated files stay readable)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-3, max_value=2**64)
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(value, str):
        return st.text(max_size=12)
    return st.just(value)


def mutate_bytes(data: bytes, draw) -> bytes:
    """Truncate, flip a byte, or splice in a few random bytes."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice"]))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


@FUZZ
@given(data=st.data())
def test_mutated_json_files_of_a_compiled_folder(cli, compiled, data):
    name = data.draw(st.sampled_from(["report.json", "config.json"]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "out"
        shutil.copytree(compiled, folder)
        path = folder / name
        if data.draw(st.booleans()):
            parsed = json.loads(path.read_text())
            where = data.draw(st.sampled_from(paths(parsed)))
            path.write_text(json.dumps(replaced(parsed, where, data.draw(
                st.one_of(JSON_LEAVES, same_kind(value_at(parsed, where)))))))
        else:
            path.write_bytes(mutate_bytes(path.read_bytes(), data.draw))
        before = digests(folder)
        code, _, err = cli(["report", str(folder), "--json", "--html", str(Path(tmp) / "r.html")])
        assert_clean(code, err)
        assert digests(folder) == before


@FUZZ
@given(data=st.data())
def test_mutated_network_ncl_is_refused_by_verify(cli, compiled, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "out"
        shutil.copytree(compiled, folder)
        path = folder / "network.ncl"
        original = path.read_bytes()
        path.write_bytes(mutate_bytes(original, data.draw))
        before = digests(folder)
        code, _, err = cli(["verify", str(folder), "--instances", "1"])
        assert_clean(code, err)
        assert digests(folder) == before
        if path.read_bytes() != original:
            assert code == 2 and "network.ncl" in err


SPIKE_DTYPES = st.sampled_from(["bool", "int8", "uint8", "int64", "float32", "float64",
                                "complex64", "U1"])


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(data=st.data())
def test_mutated_inputs_npz(cli, data):
    base = dict(np.load(TINY_INPUTS))
    kind = data.draw(st.sampled_from(["bytes", "dtype", "shape", "values", "classes"]))
    if kind == "bytes":
        raw = mutate_bytes(TINY_INPUTS.read_bytes(), data.draw)
    else:
        arrays = dict(base)
        spikes = arrays["spikes"][:2, :20]  # small: a valid file compiles quickly
        arrays["labels"] = arrays["labels"][:2]
        if kind == "dtype":
            spikes = spikes.astype(data.draw(SPIKE_DTYPES))
        elif kind == "shape":
            shape = data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
            spikes = np.zeros(shape, dtype=np.uint8)
        elif kind == "values":
            value = data.draw(st.sampled_from([0.5, -1.0, np.nan, np.inf, 2.0, 1e300]))
            spikes = spikes.astype(np.float64)
            spikes[0, 0, 0] = value
        else:
            arrays["output_classes"] = np.array(data.draw(st.lists(
                st.integers(-2, 2**40), min_size=0, max_size=3)), dtype=np.int64)
        arrays["spikes"] = spikes
        raw = npz_bytes(arrays)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.npz"
        path.write_bytes(raw)
        code, _, err = cli(["compile", str(TINY), "--inputs", str(path), "-o",
                            str(Path(tmp) / "out")])
        assert_clean(code, err)
        assert path.read_bytes() == raw
