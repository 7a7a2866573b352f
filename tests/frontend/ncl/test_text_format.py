"""The .ncl text language: exact round trips, a hand-written file, weight files, located errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocc.compiler.errors import ModelFormatError, ParseError, UnsupportedError
from neurocc.compiler.ir import (MODEL_PARAMS, RESET_MODES, TIME_CONSTANTS, Network, Projection,
                                 make_population, networks_equal)
from neurocc.frontend.load import load_model
from neurocc.frontend.ncl.text_format import format_network, parse_network, read_text, write_text
from networks import REPO

HEADER = "network x { dt = 1 ms }\n"


# -- exact comparison (networks_equal treats -0.0 == 0.0 and ignores scale and name) ------------

def _bits(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def assert_identical(a: Network, b: Network) -> None:
    assert networks_equal(a, b)
    assert (a.name, a.inputs, a.outputs) == (b.name, b.inputs, b.outputs)
    assert _bits([a.dt]) == _bits([b.dt])
    for pa, pb in zip(a.populations.values(), b.populations.values()):
        assert (pa.name, pa.model, pa.size, pa.reset) == (pb.name, pb.model, pb.size, pb.reset)
        assert _bits([pa.refractory]) == _bits([pb.refractory])
        for group_a, group_b in ((pa.params, pb.params), (pa.scale, pb.scale)):
            assert list(group_a) == list(group_b)
            for key in group_a:
                assert np.array_equal(_bits(group_a[key]), _bits(group_b[key])), (pa.name, key)
    assert list(a.projections) == list(b.projections)
    for qa, qb in zip(a.projections.values(), b.projections.values()):
        assert (qa.source, qa.target, qa.delay) == (qb.source, qb.target, qb.delay)
        assert np.array_equal(_bits(qa.weights.toarray()), _bits(qb.weights.toarray()))
        assert qa.num_synapses == qb.num_synapses


# -- generated networks -------------------------------------------------------------------------

NAMES = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True),
    # keywords, units, dotted NIR names, characters that need quoting and escaping
    st.sampled_from(["input", "network", "scale", "ms", "dense", "lif1.lif", "a b", 'q"t\\',
                     "ünï", "0", "", "tab\there"]),
)
# both zeros often, so that lists mixing 0.0 and -0.0 occur (printing them as one value is a bug)
ANY_FLOAT = st.one_of(st.just(0.0), st.just(-0.0),
                      st.floats(allow_nan=False, allow_infinity=False))
POSITIVE = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
NON_NEGATIVE = st.floats(min_value=0.0, allow_infinity=False)


def _per_neuron(draw, values: st.SearchStrategy[float], size: int) -> np.ndarray:
    """Either one value for all neurons or a value each, so both printed forms occur."""
    if draw(st.booleans()):
        return np.full(size, draw(values))
    return np.array(draw(st.lists(values, min_size=size, max_size=size)))


@st.composite
def networks(draw) -> Network:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    net = Network(name=draw(NAMES), dt=draw(POSITIVE))
    for name in names:
        model, size = draw(st.sampled_from(sorted(MODEL_PARAMS))), draw(st.integers(1, 6))
        params = {p: _per_neuron(draw, POSITIVE if p in TIME_CONSTANTS else ANY_FLOAT, size)
                  for p in MODEL_PARAMS[model] if p in TIME_CONSTANTS or draw(st.booleans())}
        scale_keys = draw(st.lists(st.sampled_from(["v_threshold", "r", "w_in", "odd key"]),
                                   unique=True, max_size=3))
        net.add_population(make_population(
            name, model, size, **params, reset=draw(st.sampled_from(RESET_MODES)),
            refractory=draw(st.one_of(st.just(0.0), NON_NEGATIVE)),
            scale={k: _per_neuron(draw, ANY_FLOAT, size) for k in scale_keys}))
    order = list(net.populations)
    targets = [p for p in order if not net.populations[p].is_input]
    for _ in range(draw(st.integers(0, 4)) if targets else 0):
        source, target = draw(st.sampled_from(order)), draw(st.sampled_from(targets))
        # delay-0 edges only go forward in declaration order, so they cannot form a cycle
        forward = order.index(source) < order.index(target)
        delay = draw(st.sampled_from([0, 1])) if forward else 1
        name = f"{source}->{target}"
        if name in net.projections or draw(st.booleans()):
            name = draw(NAMES.filter(lambda n: n not in net.projections))
        shape = (net.populations[target].size, net.populations[source].size)
        count = shape[0] * shape[1]
        entries = draw(st.lists(ANY_FLOAT, min_size=count, max_size=count))
        net.add_projection(Projection(name, source, target,
                                      sp.csr_array(np.array(entries).reshape(shape)), delay))
    net.outputs = draw(st.lists(st.sampled_from(order), unique=True, max_size=3))
    return net.verify()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_print_parse_is_identity(net: Network) -> None:
    text = format_network(net)
    again = parse_network(text)
    assert_identical(net, again)
    assert format_network(again) == text


def test_printer_picks_dense_or_sparse_by_density() -> None:
    net = Network(name="d", dt=1e-3)
    net.add_population(make_population("a", "input", 4))
    net.add_population(make_population("b", "I", 2))
    full = np.array([[1.0, 2.0, 0.0, 3.0], [4.0, 0.0, 5.0, 6.0]])
    net.add_projection(Projection("full", "a", "b", sp.csr_array(full)))
    net.add_projection(Projection("thin", "a", "b", sp.csr_array(np.eye(2, 4) * 0.5)))
    text = format_network(net)
    assert "projection full: a -> b {\n    weights = dense [\n        [1.0, 2.0, 0.0, 3.0]," in text
    assert "projection thin: a -> b {\n    weights = sparse [\n        (0, 0, 0.5),\n" \
           "        (1, 1, 0.5),\n    ]" in text


def test_printer_rejects_inputs_out_of_declaration_order() -> None:
    net = Network(dt=1e-3)
    net.add_population(make_population("a", "input", 1))
    net.add_population(make_population("b", "input", 1))
    net.inputs = ["b", "a"]
    with pytest.raises(UnsupportedError, match="declaration order"):
        format_network(net)


# -- a hand-written file ------------------------------------------------------------------------

HAND_WRITTEN = """\
# every kind of value, written the way a person would
network "hand made" { dt = 100 us }
input in[3]
population h : CubaLIF[2] {
    tau_mem = [20 ms, 0.5 s]      # a unit on each value
    tau_syn = [5, 6] ms           # one unit for the list
    v_leak = -0.5                 # broadcast
    bias = [0.25, 1e-3]
    reset = subtract; refractory = 1.5 ms
    scale.v_threshold = 2
}
population o : LI[1] { tau_mem = 250 ns; bias = 1 }
projection in -> h { weights = dense [[0.1, 0, -0.2],
                                      [0, 0, 3e2]] }
projection back: h -> h delay 2 {
    weights = sparse [(0, 1, 0.5), (1, 0, -1.25), (1, 1, 0),]
}
projection h -> o { weights = sparse [(0, 1, 7)] }
output o, h
"""


def test_hand_written_text_sets_every_field() -> None:
    net = parse_network(HAND_WRITTEN)
    assert net.name == "hand made" and net.dt == 1e-4
    assert list(net.populations) == ["in", "h", "o"]
    assert net.inputs == ["in"] and net.outputs == ["o", "h"]
    assert (net.populations["in"].model, net.populations["in"].size) == ("input", 3)
    h = net.populations["h"]
    assert (h.model, h.size, h.reset, h.refractory) == ("CubaLIF", 2, "subtract", 0.0015)
    assert h.params["tau_mem"].tolist() == [0.02, 0.5]
    assert h.params["tau_syn"].tolist() == [0.005, 0.006]
    assert h.params["v_leak"].tolist() == [-0.5, -0.5]
    assert h.params["v_reset"].tolist() == [0.0, 0.0]  # left out: 0
    assert h.params["bias"].tolist() == [0.25, 0.001]
    assert list(h.scale) == ["v_threshold"] and h.scale["v_threshold"].tolist() == [2.0, 2.0]
    o = net.populations["o"]
    assert (o.model, o.reset, o.refractory) == ("LI", "zero", 0.0)
    assert o.params["tau_mem"].tolist() == [2.5e-7]
    assert o.params["v_leak"].tolist() == [0.0] and o.params["bias"].tolist() == [1.0]

    dense = net.projections["in->h"]
    assert (dense.source, dense.target, dense.delay) == ("in", "h", 0)
    assert dense.weights.toarray().tolist() == [[0.1, 0.0, -0.2], [0.0, 0.0, 300.0]]
    assert dense.num_synapses == 3
    back = net.projections["back"]
    assert (back.source, back.target, back.delay) == ("h", "h", 2)
    assert back.weights.toarray().tolist() == [[0.0, 0.5], [-1.25, 0.0]]  # rows are targets
    assert back.weights.nnz == 2  # the explicit 0 is not a synapse
    readout = net.projections["h->o"]
    assert readout.weights.shape == (1, 2) and readout.weights.toarray().tolist() == [[0.0, 7.0]]


def test_write_then_read_file(tmp_path: Path) -> None:
    net = parse_network(HAND_WRITTEN)
    write_text(net, tmp_path / "net.ncl")
    assert_identical(read_text(tmp_path / "net.ncl"), net)


# -- weight files -------------------------------------------------------------------------------

def test_npz_reference_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    fc = np.array([[0.5, -1.0], [0.0, 2.0], [3.0, 0.0]])
    np.savez(tmp_path / "sub" / "w.npz", fc2=fc, other=np.ones((2, 2)))
    np.savez(tmp_path / "sub" / "one.npz", only=fc.T.copy())
    (tmp_path / "sub" / "net.ncl").write_text(
        HEADER + "input a[2]\npopulation b : IF[3]\npopulation c : I[2]\n"
        'projection a -> b { weights = file "w.npz" key "fc2" }\n'
        'projection b -> c { weights = file "one.npz" }\n')
    net = read_text(tmp_path / "sub" / "net.ncl")  # run from elsewhere: cwd is not tmp_path/sub
    assert net.projections["a->b"].weights.toarray().tolist() == fc.tolist()
    assert net.projections["b->c"].weights.toarray().tolist() == fc.T.tolist()
    same = parse_network((tmp_path / "sub" / "net.ncl").read_text(), base_dir=tmp_path / "sub")
    assert_identical(same, net)


# -- errors -------------------------------------------------------------------------------------

POPS = HEADER + "input a[3]\npopulation b : LIF[2] { tau_mem = 10 ms }\n"

# Each text marks the expected error position with '@' (removed before parsing).
BAD_INPUTS = {
    "syntax: unknown unit": (HEADER + "population b : LIF[2] { tau_mem = 20 @xs }",
                             ["unexpected 'xs'", "time unit (s, ms, us, ns)"]),
    "syntax: stray character": (HEADER + "population b : LIF[2] { tau_mem = 1 ms @$x }",
                                ["unexpected '$x'", "'}' or end of line"]),
    "syntax: unclosed block": (HEADER + "population b : LIF[2] { tau_mem = 20 ms@",
                               ["unexpected end of file", "'}'"]),
    "syntax: not a statement": (HEADER + "@neuron b[2]",
                                ["unexpected 'neuron'", "'population'", "'input'"]),
    "syntax: no header": ("@input a[2]\n", ["unexpected 'input'", "expected 'network'"]),
    "missing dt": ("@network x { }\n", ["does not set dt", "dt = 1 ms"]),
    "unknown model": (HEADER + "population b : @LIFF[2] { tau_mem = 1 ms }",
                      ["unknown neuron model 'LIFF'", "CubaLIF"]),
    "unknown parameter": (HEADER + "population b : LIF[2] { tau_mem = 1 ms; @tau_syn = 2 ms }",
                          ["LIF has no parameter 'tau_syn'", "tau_mem, v_leak"]),
    "per-neuron list too long": (HEADER + "population b : LIF[2] { @tau_mem = [1, 2, 3] ms }",
                                 ["tau_mem has 3 values", "2 neurons"]),
    "unit on a unitless parameter": (HEADER + "population b : LIF[2] { tau_mem = 1 ms\n"
                                     "  v_leak = 3 @ms }", ["v_leak", "takes no unit"]),
    "time constant without unit": (HEADER + "population b : LIF[2] { tau_mem = @20 }",
                                   ["tau_mem is a time and needs a unit", "20 ms"]),
    "missing time constant": (HEADER + "population @b : CubaLIF[2] { tau_mem = 1 ms }",
                              ["does not set its time constant tau_syn", "tau_syn = "]),
    "negative time constant": (HEADER + "population b : LIF[2] { tau_mem = @-1 ms }",
                               ["tau_mem must be > 0"]),
    "bad reset mode": (HEADER + "population b : IF[2] { reset = @maybe }",
                       ["not a reset mode", "subtract"]),
    "duplicate population": (POPS + "population @a : LI[1] { tau_mem = 1 ms }",
                             ["'a' is declared twice (first on line 2)"]),
    "duplicate parameter": (HEADER + "population b : I[2] { bias = 1\n @bias = 2 }",
                            ["bias is set twice"]),
    "unknown population": (POPS + "projection a -> @ghost { weights = sparse [] }",
                           ["unknown population 'ghost'", "a, b"]),
    "projection into an input": (POPS + "projection b -> @a delay 1 { weights = sparse [] }",
                                 ["targets input population 'a'"]),
    "duplicate projection name": (POPS + "projection a -> b { weights = sparse [] }\n"
                                  "@projection a -> b { weights = sparse [] }",
                                  ["already a projection named 'a->b'", "projection OTHER_NAME:"]),
    "weights transposed": (POPS + "projection a -> b { weights = @dense [[1, 2], [3, 4], [5, 6]] }",
                           ["shape (3, 2)", "(target, source) = (2, 3)", "transposed"]),
    "dense row too short": (POPS + "projection a -> b { weights = dense [[1, 2, 3],\n"
                            "  [@4, 5]] }", ["row 1 has 2 values, expected 3"]),
    "sparse index out of range": (POPS + "projection a -> b { weights = sparse [(@2, 0, 1.0)] }",
                                  ["target index 2 is out of range", "0..1"]),
    "sparse pair twice": (POPS + "projection a -> b { weights = sparse [(0, 0, 1),\n"
                          "(@0, 0, 2)] }", ["synapse (0, 0) is given twice"]),
    "cycle without delay": (POPS + "population c : IF[1]\n"
                            "projection b -> c { weights = dense [[1, 1]] }\n"
                            "@projection c -> b { weights = dense [[1], [1]] }",
                            ["cycle without delay: c -> b -> c", "delay 1"]),
    "missing npz file": (POPS + 'projection a -> b { weights = file @"nope.npz" }',
                         ["'nope.npz' not found", "relative to the folder"]),
    "missing npz key": (POPS + 'projection a -> b { weights = file "w.npz" key @"zz" }',
                        ["has no array 'zz'", "fc2"]),
    "unknown output": (POPS + "output b, @c", ["unknown population 'c'"]),
    "number too large": (HEADER + "population b : I[1] { bias = @1e999 }", ["too large"]),
    "bad string escape": (HEADER + 'input @"a\\q"[1]', ["bad escape"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_located_parse_error(case: str, tmp_path: Path) -> None:
    marked, expected_parts = BAD_INPUTS[case]
    before = marked[:marked.index("@")]
    line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
    np.savez(tmp_path / "w.npz", fc2=np.zeros((2, 3)))
    with pytest.raises(ParseError) as info:
        parse_network(marked.replace("@", "", 1), base_dir=tmp_path, filename="bad.ncl")
    message = str(info.value)
    assert message.startswith(f"bad.ncl:{line}:{column}: "), message
    for part in expected_parts:
        assert part in message
    assert "Fix: " in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no lark traceback


def test_errors_name_the_file_they_come_from(tmp_path: Path) -> None:
    path = tmp_path / "broken.ncl"
    path.write_text(HEADER + "population b : LIF[2] {\n  tau_mem = 1 ms\n  v_reset = ms\n}\n")
    with pytest.raises(ParseError, match=rf"^{re.escape(str(path))}:4:13: v_reset takes a number, "
                                         "not the word 'ms'"):
        read_text(path)
    with pytest.raises(ModelFormatError, match="cannot read"):
        read_text(tmp_path / "absent.ncl")


# -- the shipped example ------------------------------------------------------------------------

def test_tiny_example_loads_through_load_model() -> None:
    net = load_model(REPO / "examples" / "tiny.ncl")
    sizes = {name: pop.size for name, pop in net.populations.items()}
    assert sizes == {"spikes": 8, "hidden": 16, "out": 2}
    assert net.inputs == ["spikes"] and net.outputs == ["out"]
    assert net.neurons() == 18 and net.recurrent
    inhibition = net.projections["inhibition"]
    assert (inhibition.source, inhibition.target) == ("hidden", "hidden")
    assert inhibition.sign == "inhibitory" and inhibition.delay == 1
    assert net.projections["spikes->hidden"].num_synapses == 32
    readout = net.projections["hidden->out"].weights.toarray()
    assert readout[0, :8].min() > 0 and readout[0, 8:].max() == 0  # out 0 counts hidden 0-7
    assert_identical(parse_network(format_network(net)), net)


@pytest.mark.parametrize("model", ["braille_noDelay_bias_zero.nir", "two_lif_neurons.nir"])
def test_networks_read_from_nir_round_trip(shared_models: Path, model: str) -> None:
    """Real exports: dotted names that need quoting, recurrence, and non-empty scale factors."""
    net = load_model(shared_models / model)
    assert any(pop.scale for pop in net.populations.values())
    text = format_network(net)
    assert_identical(parse_network(text), net)
