"""Directed bad inputs for the readers (issue 14, classes 2, 3 and the .ncl part of 8).

Each case must end in one :class:`NeuroccError` naming the cause, without numpy warnings, without
allocating what a hostile size asks for, and without hanging.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurocc.compiler.errors import (CapacityError, InvalidModelError, ModelFormatError,
                                     NeuroccError, ParseError)
from neurocc.frontend.load import LoadOptions, load_model
from neurocc.frontend.ncl.text_format import parse_network
from networks import REPO, lif, strict, write_graph

HEADER = "network x { dt = 1 ms }\n"


def refused(path: Path | str, error: type[NeuroccError], *parts: str,
            options: LoadOptions = LoadOptions()) -> str:
    """Load ``path``, expect ``error`` whose one-line message contains every part; return it."""
    with strict(), pytest.raises(error) as info:
        load_model(path, options)
    message = str(info.value)
    assert "\n" not in message and len(message.splitlines()) == 1, message
    for part in parts:
        assert part in message, message
    return message


def chain(tmp_path: Path, middle: dict, in_shape=(2,), name: str = "bad.nir",
          out_shape=(2,)) -> Path:
    """Input -> middle nodes in name order -> Output, as a NIR file."""
    names = sorted(middle)
    nodes = {"in": {"type": "Input", "shape": np.array(in_shape)},
             "out": {"type": "Output", "shape": np.array(out_shape)}, **middle}
    hops = ["in", *names, "out"]
    return write_graph(tmp_path / name, nodes, list(zip(hops, hops[1:])))


def conv(**fields) -> dict:
    node = {"type": "Conv2d", "weight": np.ones((1, 1, 2, 2)), "stride": np.array([1, 1]),
            "padding": np.array([0, 0]), "dilation": np.array([1, 1]), "groups": 1,
            "input_shape": np.array([3, 3])}
    node.update(fields)
    return {k: v for k, v in node.items() if v is not None}


def pool(**fields) -> dict:
    node = {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([1, 1]),
            "padding": np.array([0, 0])}
    node.update(fields)
    return {k: v for k, v in node.items() if v is not None}


# -- class 2: NIR nodes missing a required field ------------------------------------------------

@pytest.mark.parametrize("node,field", [
    ({"type": "Affine", "bias": np.zeros(2)}, "weight"),
    ({"type": "Linear"}, "weight"),
    ({"type": "Scale"}, "scale"),
])
def test_linear_node_without_its_field(tmp_path, node, field):
    path = chain(tmp_path, {"a": node, "b": lif(2)})
    refused(path, ModelFormatError, f"node 'a' ({node['type']})", repr(field))


def test_conv_without_weight_and_pool_without_kernel(tmp_path):
    path = chain(tmp_path, {"a": conv(weight=None), "b": lif(4)}, in_shape=(1, 3, 3),
                 out_shape=(4,))
    refused(path, ModelFormatError, "node 'a' (Conv2d)", "'weight'")
    path = chain(tmp_path, {"a": pool(kernel_size=None), "b": lif(4)}, in_shape=(1, 3, 3),
                 out_shape=(4,))
    refused(path, ModelFormatError, "node 'a' (SumPool2d)", "'kernel_size'")


def test_neuron_without_its_parameters(tmp_path):
    node = {"type": "CubaLIF", "tau_mem": np.ones(2), "r": np.ones(2), "v_leak": np.zeros(2),
            "v_threshold": np.ones(2)}
    path = chain(tmp_path, {"a": {"type": "Linear", "weight": np.eye(2)}, "b": node})
    refused(path, ModelFormatError, "node 'b' (CubaLIF)", "tau_syn")


# -- class 2: structure ---------------------------------------------------------------------------

def nested_file(path: Path, depth: int) -> Path:
    """Input -> ``depth`` subgraphs nested in each other (pass-through) -> LIF -> Output."""
    def ports(nodes: h5py.Group) -> None:
        for name, kind in (("i", "Input"), ("o", "Output")):
            port = nodes.create_group(name)
            port.create_dataset("type", data=kind, dtype=h5py.string_dtype())
            port.create_dataset("shape", data=np.array([1]))

    def edges(group: h5py.Group, pairs: list[tuple[str, str]]) -> None:
        group.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        group.create_dataset("edges", data=np.array(pairs, dtype=object),
                             dtype=h5py.string_dtype())

    with h5py.File(path, "w") as fh:
        root = fh.create_group("node")
        edges(root, [("i", "s"), ("s", "l"), ("l", "o")])
        nodes = root.create_group("nodes")
        ports(nodes)
        neuron = nodes.create_group("l")
        for key, value in lif(1).items():
            neuron.create_dataset(key, data=value, **(
                {"dtype": h5py.string_dtype()} if key == "type" else {}))
        for level in range(1, depth + 1):
            group = nodes.create_group("s")
            edges(group, [("i", "s"), ("s", "o")] if level < depth else [("i", "o")])
            nodes = group.create_group("nodes")
            ports(nodes)
    return path


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    shallow = load_model(nested_file(tmp_path / "ok.nir", 3))
    assert list(shallow.populations) == ["i", "l"]
    refused(nested_file(tmp_path / "deep.nir", 400), ModelFormatError, "deep.nir",
            "nested more than 64")


def test_root_that_is_not_a_graph(tmp_path):
    with h5py.File(tmp_path / "root.nir", "w") as fh:
        node = fh.create_group("node")
        for key, value in lif(2).items():
            if key == "type":
                node.create_dataset(key, data=value, dtype=h5py.string_dtype())
            else:
                node.create_dataset(key, data=value)
    refused(tmp_path / "root.nir", ModelFormatError, "root.nir", "root node is a LIF",
            "NIRGraph")


def test_graph_without_neurons(tmp_path):
    path = chain(tmp_path, {"a": {"type": "Linear", "weight": np.eye(2)}}, name="empty.nir")
    refused(path, InvalidModelError, "empty.nir", "no neuron")


@pytest.mark.parametrize("error", [RuntimeError, TypeError, ValueError, KeyError, OSError])
def test_damaged_hdf5_is_one_format_error(shared_models, tmp_path, monkeypatch, error):
    """Whatever h5py raises on damaged bytes (it is not only OSError) is one clear error."""
    from neurocc.frontend.nir import source as nir_source

    def broken(*args, **kwargs):
        raise error("Unable to synchronously open object (bad symbol table node signature)")

    monkeypatch.setattr(nir_source, "_group_to_dict", broken)
    refused(shared_models / "lif_norse.nir", ModelFormatError, "lif_norse.nir",
            "damaged or not a NIR file")


def test_damaged_bytes_of_a_real_file(shared_models, tmp_path, monkeypatch):
    """Zeroed bytes across the object headers and heaps of a real export: an error or a network,
    never a crash, and never a hang (the HDF5 library loops forever on some damaged heaps)."""
    from neurocc.frontend.nir import source as nir_source
    monkeypatch.setattr(nir_source, "READ_TIMEOUT_S", 1.0)
    data = (shared_models / "braille_noDelay_bias_zero.nir").read_bytes()
    refusals = []
    for start in range(512, 8192, 512):
        path = tmp_path / f"damaged{start}.nir"
        path.write_bytes(data[:start] + bytes(64) + data[start + 64:])
        with strict(5):
            try:
                load_model(path)
            except NeuroccError as err:
                assert "\n" not in str(err) and f"damaged{start}.nir" in str(err)
                refusals.append(start)
        assert path.read_bytes()[:start] == data[:start]
    assert len(refusals) >= 2, refusals


# -- class 2: declared sizes are checked before anything is allocated ------------------------

def test_huge_input_is_refused_with_the_estimate(tmp_path):
    path = chain(tmp_path, {"a": {"type": "Identity"}, "b": {"type": "IF", "r": 1.0,
                                                            "v_threshold": 1.0}},
                 in_shape=(10**9,))
    message = refused(path, CapacityError, "GiB", "--max-memory")
    assert "10^9" in message or "1000000000" in message


@pytest.mark.parametrize("shape,shown", [([1e300], "about 10^300 neurons"),
                                         ([1e300] * 3, "about 10^900 neurons"),
                                         ([2.0**40, 2.0**40], "about 10^24 neurons")])
def test_shape_of_1e300(tmp_path, shape, shown):
    path = chain(tmp_path, {"b": {"type": "IF", "r": 1.0, "v_threshold": 1.0}},
                 in_shape=np.array(shape))
    refused(path, CapacityError, shown, "--max-memory")


@pytest.mark.parametrize("side,where", [(30000, "node 'in' (Input)"),
                                        (3000, "node 'a' (Conv2d): unrolling the convolution")])
def test_conv_over_a_huge_image(tmp_path, side, where):
    node = conv(input_shape=np.array([side, side]), weight=np.ones((64, 1, 3, 3)))
    path = chain(tmp_path, {"a": node, "b": {"type": "IF", "r": 1.0, "v_threshold": 1.0}},
                 in_shape=(1, side, side))
    refused(path, CapacityError, where, "--max-memory")


def test_pool_with_a_huge_kernel(tmp_path):
    node = pool(kernel_size=np.array([10**6, 10**6]))
    path = chain(tmp_path, {"a": node, "b": {"type": "IF", "r": 1.0, "v_threshold": 1.0}},
                 in_shape=(1, 4, 4))
    refused(path, NeuroccError, "node 'a' (SumPool2d)")


def test_huge_declared_dataset_is_not_read(tmp_path):
    """An HDF5 dataset can declare a terabyte it does not store (chunked, never written)."""
    path = chain(tmp_path, {"a": {"type": "Linear", "weight": np.eye(2)}, "b": lif(2)})
    with h5py.File(path, "a") as fh:
        del fh["node/nodes/a/weight"]
        fh["node/nodes/a"].create_dataset("weight", shape=(10**6, 10**6), dtype="f8",
                                          chunks=(1, 1024))
    refused(path, CapacityError, "'/node/nodes/a/weight'", "--max-memory")


def test_budget_follows_the_option(tmp_path):
    path = chain(tmp_path, {"a": {"type": "Identity"}, "b": {"type": "IF", "r": 1.0,
                                                            "v_threshold": 1.0}},
                 in_shape=(10**5,))
    assert load_model(path).neurons() == 10**5
    refused(path, CapacityError, "memory budget of 1.0 MiB",
            options=LoadOptions(max_memory=2**20))


# -- class 2: values that are not what they claim to be -------------------------------------

@pytest.mark.parametrize("field,value", [
    ("stride", np.array([np.nan, 1.0])), ("stride", np.array([1.5, 1.0])),
    ("stride", np.array([np.inf, 1.0])), ("padding", np.array([np.inf, 0.0])),
    ("dilation", np.array([1.0, -np.inf])), ("groups", np.nan), ("groups", 1.5),
    ("groups", np.inf), ("stride", np.array([1e300, 1.0])), ("padding", np.array([10**18, 0])),
])
def test_conv_fields_must_be_whole_numbers(tmp_path, field, value):
    path = chain(tmp_path, {"a": conv(**{field: value}), "b": lif(4)}, in_shape=(1, 3, 3),
                 out_shape=(4,))
    refused(path, NeuroccError, "node 'a' (Conv2d)", field)


@pytest.mark.parametrize("value", [np.nan, np.inf, 2.5, 1e300])
def test_pool_kernel_must_be_a_whole_number(tmp_path, value):
    path = chain(tmp_path, {"a": pool(kernel_size=np.array([value, 2.0])), "b": lif(4)},
                 in_shape=(1, 3, 3), out_shape=(4,))
    refused(path, NeuroccError, "node 'a' (SumPool2d)", "kernel_size")


@pytest.mark.parametrize("field,value", [("start_dim", 1.5), ("start_dim", np.nan),
                                         ("end_dim", np.inf), ("start_dim", np.array([])),
                                         ("start_dim", "one")])
def test_flatten_dims_must_be_whole_numbers(tmp_path, field, value):
    node = {"type": "Flatten", field: value}
    path = chain(tmp_path, {"a": node, "b": lif(6)}, in_shape=(1, 2, 3), out_shape=(6,))
    refused(path, NeuroccError, "node 'a' (Flatten)", field)


@pytest.mark.parametrize("threshold", [1e-310, 5e-324, 1e-300])
def test_tiny_threshold_blames_the_threshold_without_warnings(tmp_path, threshold):
    node = lif(2, thr=np.array([1.0, threshold]))
    node["r"] = np.array([1.0, 1e10])
    path = chain(tmp_path, {"a": {"type": "Linear", "weight": np.eye(2)}, "b": node})
    refused(path, InvalidModelError, "node 'b' (LIF)", "v_threshold[1]")


def test_weights_that_overflow_when_composed(tmp_path):
    middle = {"a": {"type": "Linear", "weight": np.full((2, 2), 1e200)},
              "b": {"type": "Linear", "weight": np.full((2, 2), 1e200)}, "c": lif(2)}
    refused(chain(tmp_path, middle), InvalidModelError, "bad.nir: the weights composed from 'in' "
            "to 'c' overflow 64-bit floats")


# -- class 3: .ncl text ------------------------------------------------------------------------

@pytest.mark.parametrize("char", ["\u00a0", "\u2028", "\u0085", "\u2029", "\u000b", "\ufeff"])
def test_unusual_characters_give_a_located_syntax_error(char):
    text = HEADER + "input a[2]\n" + f"population b : LIF[2] {{ tau_mem ={char}1 ms }}\n"
    with strict(), pytest.raises(ParseError) as info:
        parse_network(text, filename="u.ncl")
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    # lark counts lines by '\n' only; the reported position is the character's own
    assert message.startswith("u.ncl:3:34: unexpected character U+"), message
    assert f"U+{ord(char):04X}" in message


def test_unusual_characters_at_the_start_of_a_line():
    text = HEADER + "input a[2]\n\u2028\u0085population b : IF[2]\n"
    with strict(), pytest.raises(ParseError, match=r"^<text>:3:1: unexpected character U\+2028"):
        parse_network(text)


@pytest.mark.parametrize("exponent", [9, 12, 30])
def test_huge_population_is_refused_before_allocation(tmp_path, exponent):
    path = tmp_path / "huge.ncl"
    path.write_text(HEADER + f"input a[{10 ** exponent}]\n"
                    f"population b : IF[{10 ** exponent}]\n")
    refused(path, CapacityError, "huge.ncl", "--max-memory")


def test_populations_add_up_against_the_budget(tmp_path):
    path = tmp_path / "many.ncl"
    path.write_text(HEADER + "".join(f"population p{i} : IF[200000]\n" for i in range(8)))
    assert load_model(path).neurons() == 1_600_000
    refused(path, CapacityError, "many.ncl", options=LoadOptions(max_memory=50 * 2**20))


@pytest.mark.parametrize("suffix", [".ncl", ".nir"])
def test_fifo_is_refused_without_blocking(tmp_path, suffix):
    path = tmp_path / f"pipe{suffix}"
    os.mkfifo(path)
    refused(path, ModelFormatError, "not a regular file")


@pytest.mark.parametrize("suffix", [".ncl", ".nir"])
def test_device_is_refused_without_reading(tmp_path, suffix):
    path = tmp_path / f"zero{suffix}"
    path.symlink_to("/dev/zero")
    refused(path, ModelFormatError, "not a regular file")


@pytest.mark.parametrize("suffix", [".ncl", ".nir"])
def test_directory_is_refused(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.mkdir()
    refused(path, ModelFormatError, "is a directory")


@pytest.mark.parametrize("source", ["tiny.ncl", "lif_norse.nir"])
def test_file_over_the_size_cap(shared_models, tmp_path, monkeypatch, source):
    from neurocc.frontend import model_file
    path = REPO / "examples" / source if source.endswith(".ncl") else shared_models / source
    monkeypatch.setattr(model_file, "MAX_MODEL_BYTES", 1000)
    refused(path, ModelFormatError, "larger than", "1000 bytes")


# -- class 8: --dt/--reset/--refractory on .ncl models ---------------------------------------

NCL = (HEADER + "input a[1]\n"
       "population stated : LIF[1] { tau_mem = 10 ms; reset = subtract; refractory = 2 ms }\n"
       "population open : LIF[1] { tau_mem = 10 ms }\n"
       "projection a -> stated { weights = dense [[1]] }\n")


@pytest.fixture
def ncl(tmp_path) -> Path:
    path = tmp_path / "flags.ncl"
    path.write_text(NCL)
    return path


def test_flags_not_given_keep_the_file(ncl):
    net = load_model(ncl)
    assert net.dt == 1e-3
    assert (net.populations["stated"].reset, net.populations["stated"].refractory) == \
        ("subtract", 2e-3)
    assert (net.populations["open"].reset, net.populations["open"].refractory) == ("zero", 0.0)


def test_flags_that_agree_are_accepted_and_fill_what_the_file_leaves_open(ncl):
    net = load_model(ncl, LoadOptions(dt=0.001, reset="subtract", refractory=0.002))
    assert net.dt == 1e-3
    for pop in ("stated", "open"):
        assert (net.populations[pop].reset, net.populations[pop].refractory) == \
            ("subtract", 2e-3)


@pytest.mark.parametrize("options,parts", [
    (LoadOptions(dt=1e-4), ["flags.ncl:1:", "dt = 1 ms", "--dt 0.0001"]),
    (LoadOptions(reset="zero"), ["flags.ncl:3:", "reset = subtract", "--reset zero"]),
    (LoadOptions(refractory=0.0), ["flags.ncl:3:", "refractory = 2 ms", "--refractory 0"]),
])
def test_flags_that_contradict_the_file_are_refused(ncl, options, parts):
    message = refused(ncl, ParseError, *parts, options=options)
    assert "Fix: " in message


def test_nir_defaults_are_unchanged(shared_models):
    net = load_model(shared_models / "braille_noDelay_bias_zero.nir")
    assert net.dt == 1e-4
    hidden = net.populations["lif1.lif"]
    assert (hidden.reset, hidden.refractory) == ("zero", 0.0)


# -- the command line on a few of these files ------------------------------------------------

def test_inspect_says_one_line_on_bad_models(cli, tmp_path, shared_models):
    nested = nested_file(tmp_path / "deep.nir", 400)
    empty = chain(tmp_path, {"a": {"type": "Linear", "weight": np.eye(2)}}, name="empty.nir")
    text = tmp_path / "nbsp.ncl"
    text.write_text(HEADER + "input\u00a0a[2]\n")
    os.mkfifo(tmp_path / "pipe.ncl")
    for path in (nested, empty, text, tmp_path / "pipe.ncl"):
        with strict():
            code, out, err = cli(["inspect", str(path)])
        assert code == 2, (path, err)
        assert err.startswith("error: ") and "Traceback" not in err + out, err


# -- .ncl: numbers, weight files and the text itself --------------------------------------------

def test_integer_with_thousands_of_digits():
    with strict(), pytest.raises(ParseError, match=r"<text>:2:19: whole number with 5000 digits"):
        parse_network(HEADER + "population b : IF[" + "9" * 5000 + "]\n")


def npz_declaring(path: Path, shape: tuple[int, ...]) -> Path:
    """A .npz whose member's header declares ``shape`` but which stores no data."""
    import zipfile
    with zipfile.ZipFile(path, "w") as archive, archive.open("w.npy", "w") as member:
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return path


def weights_from_file(n: int) -> str:
    return (HEADER + f"input a[{n}]\npopulation b : IF[{n}]\n"
            'projection a -> b { weights = file "w.npz" }\n')


def test_weight_file_header_is_checked_before_reading(tmp_path):
    (tmp_path / "net.ncl").write_text(weights_from_file(3))
    npz_declaring(tmp_path / "w.npz", (10**9, 3))
    refused(tmp_path / "net.ncl", ParseError, "net.ncl:4:", "shape (1000000000, 3)")
    (tmp_path / "net.ncl").write_text(weights_from_file(100_000))
    npz_declaring(tmp_path / "w.npz", (100_000, 100_000))
    refused(tmp_path / "net.ncl", CapacityError, "net.ncl:4:", "74.5 GiB", "--max-memory")


@pytest.mark.parametrize("damage", ["truncate", "fifo", "npy"])
def test_damaged_weight_files(tmp_path, damage):
    (tmp_path / "net.ncl").write_text(weights_from_file(2))
    if damage == "fifo":
        os.mkfifo(tmp_path / "w.npz")
    elif damage == "npy":
        np.save(tmp_path / "w.npz", np.ones((2, 2)))
        (tmp_path / "w.npz.npy").rename(tmp_path / "w.npz")
    else:
        np.savez_compressed(tmp_path / "w.npz", w=np.random.default_rng(0).random((2, 2)))
        data = (tmp_path / "w.npz").read_bytes()
        (tmp_path / "w.npz").write_bytes(data[:len(data) // 2])
    refused(tmp_path / "net.ncl", ParseError, "net.ncl:4:", "w.npz")


def test_text_larger_than_the_parser_budget():
    refused(REPO / "examples" / "tiny.ncl", CapacityError, "tiny.ncl", "parsing",
            options=LoadOptions(max_memory=10_000))


def test_declared_datasets_add_up(tmp_path):
    """Each dataset within the budget, together over it: refused before reading them all."""
    path = chain(tmp_path, {"a": {"type": "Linear", "weight": np.eye(2)}, "b": lif(2)})
    with h5py.File(path, "a") as fh:
        for i in range(8):
            fh["node/nodes/a"].create_dataset(f"extra{i}", shape=(2048, 2048), dtype="f8",
                                              chunks=(1, 1024))
    refused(path, CapacityError, "HDF5 datasets up to", "extra3", options=LoadOptions(
        max_memory=100 * 2**20))


def test_root_type_that_is_not_a_string(tmp_path):
    path = chain(tmp_path, {"b": lif(2)})
    with h5py.File(path, "a") as fh:
        del fh["node/type"]
        fh["node"].create_dataset("type", data=np.ones(3))
    refused(path, ModelFormatError, "bad.nir", "root node is a node without a type name")


def test_line_breaks_from_the_file_stay_escaped(tmp_path):
    """Names and node types are the file's text; in a message they must not break the line."""
    path = chain(tmp_path, {"w": {"type": "Linear", "weight": np.eye(2)},
                            "l": {"type": "Odd\u2028Type\x85"}})
    message = refused(path, NeuroccError, "node 'l'", "\\u2028")
    assert "\u2028" not in message and "\x85" not in message
    text = tmp_path / "names.ncl"
    text.write_text(HEADER + 'input "a\u2028b"[1]\ninput "a\u2028b"[2]\n')
    refused(text, ParseError, "declared twice", "\\u2028")
