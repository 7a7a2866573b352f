"""The NIR reader on the real exports in shared/models and on small synthetic HDF5 files."""

import shutil

import h5py
import nir
import numpy as np
import pytest
import scipy.signal

from neurocc.compiler.errors import InvalidModelError, ModelFormatError, UnsupportedError
from neurocc.compiler.ir import networks_equal
from neurocc.frontend.load import LoadOptions
from neurocc.frontend.nir.reader import read_nir
from networks import lif, reference_conv, write_graph


def raw(path, node, key):
    """A parameter straight from the file, as float64."""
    with h5py.File(path, "r") as fh:
        return np.asarray(fh[f"node/nodes/{node}/{key}"][()], dtype=np.float64)


def rows(gain, matrix):
    return np.asarray(gain)[:, None] * matrix


# -- real files ----------------------------------------------------------------------------------

def test_braille_recurrent_cubalif(shared_models):
    path = shared_models / "braille_noDelay_bias_zero.nir"
    net = read_nir(path, LoadOptions(dt=1e-4, reset="subtract", refractory=1e-3))
    assert net.name == "braille_noDelay_bias_zero" and net.dt == 1e-4
    assert [(p.name, p.model, p.size) for p in net.populations.values()] == [
        ("input", "input", 12), ("lif1.lif", "CubaLIF", 38), ("lif2", "CubaLIF", 7)]
    assert net.neurons() == 45 and net.inputs == ["input"] and net.outputs == ["lif2"]
    assert {(q.name, q.delay) for q in net.projections.values()} == {
        ("input->lif1.lif", 0), ("lif1.lif->lif1.lif", 1), ("lif1.lif->lif2", 0)}

    gains = {pop: raw(path, pop, "r") * raw(path, pop, "w_in") / raw(path, pop, "v_threshold")
             for pop in ("lif1.lif", "lif2")}
    for name, node, target in [("input->lif1.lif", "fc1", "lif1.lif"),
                               ("lif1.lif->lif1.lif", "lif1.w_rec", "lif1.lif"),
                               ("lif1.lif->lif2", "fc2", "lif2")]:
        weight = raw(path, node, "weight")
        proj = net.projections[name]
        np.testing.assert_allclose(proj.weights.toarray(), rows(gains[target], weight), rtol=1e-12)
        assert proj.num_synapses == np.count_nonzero(weight)
    assert net.synapses() == sum(np.count_nonzero(raw(path, n, "weight"))
                                 for n in ("fc1", "lif1.w_rec", "fc2"))
    hidden, out = net.populations["lif1.lif"], net.populations["lif2"]
    np.testing.assert_allclose(hidden.params["bias"], gains["lif1.lif"] * (
        raw(path, "fc1", "bias") + raw(path, "lif1.w_rec", "bias")), rtol=1e-12)
    np.testing.assert_allclose(out.params["bias"], gains["lif2"] * raw(path, "fc2", "bias"))
    np.testing.assert_array_equal(hidden.params["tau_syn"], raw(path, "lif1.lif", "tau_syn"))
    np.testing.assert_array_equal(hidden.scale["w_in"], raw(path, "lif1.lif", "w_in"))
    np.testing.assert_array_equal(hidden.params["v_reset"], np.zeros(38))  # not in the file
    assert (hidden.reset, hidden.refractory) == ("subtract", 1e-3)


def conv_synapse_count(weight, spatial, stride, pad):
    """Synapses of a convolution counted with scipy: valid non-zero taps per output position."""
    inside = np.pad(np.ones(spatial), pad)
    return int(sum(scipy.signal.correlate(inside, (weight[co, ci] != 0).astype(float),
                                          mode="valid")[::stride, ::stride].sum()
                   for co in range(weight.shape[0]) for ci in range(weight.shape[1])))


def sum_pool(x):
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).sum(axis=(2, 4))


def test_cnn_sinabs_unrolled(shared_models):
    path = shared_models / "cnn_sinabs_nmnist.nir"
    net = read_nir(path)
    assert [(p.name, p.model, p.size) for p in net.populations.values()] == [
        ("input", "input", 2312), ("1", "IF", 4096), ("3", "IF", 4096), ("6", "IF", 512),
        ("10", "IF", 256), ("12", "IF", 10)]
    assert net.neurons() == 8970 and net.outputs == ["12"]
    assert all(np.all(p.scale["r"] == 1) and np.all(p.scale["v_threshold"] == 1)
               for p in net.populations.values() if not p.is_input)  # gain 1 in this file

    w0, w2, w5 = (raw(path, n, "weight") for n in ("0", "2", "5"))
    w9, w11 = raw(path, "9", "weight"), raw(path, "11", "weight")
    expected = {"input->1": conv_synapse_count(w0, (34, 34), 2, 1),
                "1->3": conv_synapse_count(w2, (16, 16), 1, 1),
                "3->6": 4 * conv_synapse_count(w5, (8, 8), 1, 1),  # each pooled cell: 4 inputs
                "6->10": 4 * np.count_nonzero(w9),
                "10->12": np.count_nonzero(w11)}
    assert {n: q.num_synapses for n, q in net.projections.items()} == expected
    assert net.synapses() == sum(expected.values())

    rng = np.random.default_rng(0)
    x = rng.random((2, 34, 34))
    got = net.projections["input->1"].weights @ x.reshape(-1)
    np.testing.assert_allclose(got, reference_conv(x, w0, stride=2, pads=1).reshape(-1),
                               atol=1e-9)
    np.testing.assert_allclose(net.populations["1"].params["bias"],
                               np.repeat(raw(path, "0", "bias"), 256))
    x = rng.random((16, 16, 16))
    got = net.projections["3->6"].weights @ x.reshape(-1)
    np.testing.assert_allclose(got, reference_conv(sum_pool(x), w5, pads=1).reshape(-1),
                               atol=1e-9)
    x = rng.random((8, 8, 8))
    got = net.projections["6->10"].weights @ x.reshape(-1)
    np.testing.assert_allclose(got, w9 @ sum_pool(x).reshape(-1), atol=1e-9)


def test_scnn_batches_reads_like_the_clean_export(shared_models):
    """Same weights as cnn_sinabs, but batch dims, no Conv input_shape, placeholder Flatten."""
    batched = read_nir(shared_models / "scnn_mnist_batches.nir")
    clean = read_nir(shared_models / "cnn_sinabs_nmnist.nir")
    assert batched.name == "scnn_mnist_batches"
    assert networks_equal(batched, clean)


@pytest.mark.parametrize("name,weights,v_leak", [
    ("lif_norse", [1.0 * 1.0 / 0.1], [0.0]),                          # r*W/thr, file 0.1.1
    ("lif_rockpool", [np.float32(24.019737) * np.float32(0.04) / np.float32(0.1)], [0.0]),
    ("two_lif_neurons", [1.0, 1.0 / 20.0], [1.2, 0.0]),               # v_leak > thr self-spikes
])
def test_single_lif_files(shared_models, name, weights, v_leak):
    net = read_nir(shared_models / f"{name}.nir", LoadOptions(dt=1e-3))
    neurons = [p for p in net.populations.values() if not p.is_input]
    assert [p.model for p in neurons] == ["LIF"] * len(weights)
    assert all(p.size == 1 for p in net.populations.values())
    assert net.outputs == [neurons[-1].name]
    got = [q.weights.toarray().item() for q in net.projections.values()]
    np.testing.assert_allclose(got, weights, rtol=1e-6)
    np.testing.assert_allclose([p.params["v_leak"].item() for p in neurons], v_leak)
    assert all(p.params["v_reset"].item() == 0 for p in neurons)


def test_spyx_negative_tau_is_rejected(shared_models):
    path = shared_models / "spyx_shd.nir"
    tau = raw(path, "LIF", "tau")
    first = np.flatnonzero(tau <= 0)[0]
    with pytest.raises(InvalidModelError) as err:
        read_nir(path)
    text = str(err.value)
    assert "spyx_shd.nir" in text and "node 'LIF'" in text
    assert f"tau[{first}] = {tau[first]:.6g} is not positive" in text


def test_spyx_transposed_weights(shared_models, tmp_path):
    """With the taus made positive, the (in, out) weights are recognised by their sizes."""
    path = tmp_path / "spyx_fixed.nir"
    shutil.copyfile(shared_models / "spyx_shd.nir", path)
    with h5py.File(path, "r+") as fh:
        for node in ("LIF", "LIF_1"):
            fh[f"node/nodes/{node}/tau"][...] = np.abs(fh[f"node/nodes/{node}/tau"][()])
    net = read_nir(path, LoadOptions(dt=1.0))
    assert [(p.name, p.model, p.size) for p in net.populations.values()] == [
        ("input", "input", 128), ("LIF", "LIF", 64), ("LIF_1", "LIF", 64), ("LI", "LI", 20)]
    assert net.outputs == ["LI"] and not net.populations["LI"].spiking
    for proj, node, target, transposed in [("input->LIF", "linear", "LIF", True),
                                           ("LIF->LIF_1", "linear_1", "LIF_1", False),
                                           ("LIF_1->LI", "linear_2", "LI", True)]:
        weight = raw(path, node, "weight")
        weight = weight.T if transposed else weight
        gain = raw(path, target, "r") / (raw(path, target, "v_threshold")
                                         if target != "LI" else 1.0)
        np.testing.assert_allclose(net.projections[proj].weights.toarray(), rows(gain, weight),
                                   rtol=1e-12)


def test_not_hdf5_is_rejected(shared_models):
    with pytest.raises(ModelFormatError, match=r"not_hdf5_torch_zip\.nir: not a NIR file: it is "
                                               r"not HDF5 but a zip archive .*Fix: export"):
        read_nir(shared_models / "not_hdf5_torch_zip.nir")


# -- in-memory graphs ----------------------------------------------------------------------------

def mixed_graph():
    rng = np.random.default_rng(5)
    n = np.ones
    nodes = {
        "in": nir.Input(input_type=np.array([1, 4, 4])),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=rng.standard_normal((2, 1, 3, 3)),
                           stride=1, padding=1, dilation=1, groups=1, bias=np.array([0.1, 0.2])),
        "if": nir.IF(r=np.full((2, 4, 4), 2.0), v_threshold=np.full((2, 4, 4), 4.0)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "fc": nir.Affine(weight=rng.standard_normal((3, 8)), bias=rng.standard_normal(3)),
        "cuba": nir.CubaLIF(tau_syn=n(3) * 5e-3, tau_mem=n(3) * 2e-2, r=n(3) * 3, v_leak=n(3) * 0.1,
                            v_threshold=n(3) * 2, w_in=n(3) * 0.5),
        "rec": nir.Linear(weight=rng.standard_normal((3, 3))),
        "ro": nir.Affine(weight=rng.standard_normal((2, 3)), bias=np.zeros(2)),
        "li": nir.LI(tau=n(2) * 0.01, r=n(2) * 2, v_leak=np.zeros(2)),
        "out": nir.Output(output_type=np.array([2])),
    }
    edges = [("in", "conv"), ("conv", "if"), ("if", "pool"), ("pool", "flat"), ("flat", "fc"),
             ("fc", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "ro"), ("ro", "li"),
             ("li", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_in_memory_graph_equals_the_written_file(tmp_path):
    graph = mixed_graph()
    nir.write(tmp_path / "mixed.nir", graph)
    in_memory = read_nir(graph, LoadOptions(dt=1e-3))
    from_file = read_nir(tmp_path / "mixed.nir", LoadOptions(dt=1e-3))
    assert in_memory.name == "network" and from_file.name == "mixed"
    assert networks_equal(in_memory, from_file)
    assert list(in_memory.populations) == ["in", "if", "cuba", "li"]
    assert in_memory.projections["cuba->cuba"].delay == 1
    # CubaLIF gain r*w_in/thr = 3*0.5/2; LI gain r = 2.
    np.testing.assert_allclose(in_memory.projections["cuba->li"].weights.toarray(),
                               2 * graph.nodes["ro"].weight)
    np.testing.assert_allclose(in_memory.populations["cuba"].params["v_leak"], 0.05)
    fc = graph.nodes["fc"]
    np.testing.assert_allclose(in_memory.populations["cuba"].params["bias"], 0.75 * fc.bias)


# -- synthetic files: tolerated quirks -----------------------------------------------------------

@pytest.mark.parametrize("node,expected_gain", [
    ({"type": "LIF", "tau": 0.01, "r": 3.0, "v_leak": 0.0, "v_threshold": [2.0, 4.0]},
     [1.5, 0.75]),                                                    # r / v_threshold
    ({"type": "CubaLIF", "tau_syn": 0.01, "tau_mem": 0.02, "r": 3.0, "v_leak": 0.0,
      "v_threshold": 2.0, "w_in": [1.0, 2.0]}, [1.5, 3.0]),           # r * w_in / v_threshold
    ({"type": "IF", "r": [1.0, 2.0], "v_threshold": 4.0}, [0.25, 0.5]),
    ({"type": "LI", "tau": 0.01, "r": [2.0, 5.0], "v_leak": 0.0}, [2.0, 5.0]),   # r
    ({"type": "CubaLI", "tau_syn": 0.01, "tau_mem": 0.02, "r": 2.0, "v_leak": 0.0,
      "w_in": [0.5, 1.0]}, [1.0, 2.0]),                                # r * w_in
    ({"type": "I", "r": [3.0, 0.5]}, [3.0, 0.5]),                      # r
    ({"type": "Threshold", "threshold": [2.0, 0.5]}, [0.5, 2.0]),      # 1 / threshold
])
def test_gain_of_each_model(tmp_path, node, expected_gain):
    nodes = {"in": {"type": "Input", "shape": np.array([2])},
             "w": {"type": "Affine", "weight": np.array([[1.0, 2.0], [3.0, 4.0]]),
                   "bias": np.array([1.0, -1.0])},
             "n": {k: np.asarray(v) if k != "type" else v for k, v in node.items()},
             "out": {"type": "Output", "shape": np.array([2])}}
    net = read_nir(write_graph(tmp_path / "gain.nir", nodes,
                               [("in", "w"), ("w", "n"), ("n", "out")]))
    pop = net.populations["n"]
    assert (pop.model, pop.size) == (node["type"], 2)
    np.testing.assert_allclose(net.projections["in->n"].weights.toarray(),
                               rows(expected_gain, [[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(pop.params["bias"], np.multiply(expected_gain, [1.0, -1.0]))


def test_scalar_int_batched_and_missing_parameters(tmp_path):
    weight = np.arange(12, dtype=np.int64).reshape(4, 3) - 5
    nodes = {
        "in": {"type": "Input", "shape": np.array([1, 3])},
        "aff": {"type": "Affine", "weight": weight, "bias": np.float32(0.5)},
        "lif": {"type": "LIF", "tau": 0.02, "r": np.int64(2), "v_leak": 0.0,
                "v_threshold": np.array([[1.0, 2.0, 4.0, 8.0]])},
        "lin": {"type": "Linear", "weight": np.ones((2, 4), dtype=np.int64)},
        "cuba": {"type": "CubaLIF", "tau_syn": 0.005, "tau_mem": 0.02, "r": 3.0, "v_leak": 0.3,
                 "v_threshold": 1.5},
        "out": {"type": "Output", "shape": np.array([1, 1, 9])},  # wrong shape: ignored
    }
    edges = [("in", "aff"), ("aff", "lif"), ("lif", "lin"), ("lin", "cuba"), ("cuba", "out")]
    net = read_nir(write_graph(tmp_path / "quirks.nir", nodes, edges))
    assert [(p.name, p.size) for p in net.populations.values()] == [
        ("in", 3), ("lif", 4), ("cuba", 2)]
    thr = np.array([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(net.projections["in->lif"].weights.toarray(), rows(2 / thr, weight))
    np.testing.assert_allclose(net.populations["lif"].params["bias"], 2 / thr * 0.5)
    np.testing.assert_allclose(net.projections["lif->cuba"].weights.toarray(), np.full((2, 4), 2))
    cuba = net.populations["cuba"]
    np.testing.assert_allclose(cuba.params["v_leak"], [0.2, 0.2])
    np.testing.assert_allclose(cuba.params["v_reset"], [0.0, 0.0])
    np.testing.assert_allclose(cuba.scale["w_in"], [1.0, 1.0])
    assert net.outputs == ["cuba"]


def test_flatten_start_dim_counted_with_batch(tmp_path):
    """Flatten(start_dim=2) of a batched (1, 2, 4, 4) tensor is (2, 16): a Conv1d follows."""
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((3, 2, 3))
    nodes = {
        "in": {"type": "Input", "shape": np.array([1, 2, 4, 4])},
        "flat": {"type": "Flatten", "start_dim": 2, "end_dim": -1,
                 "input_type": np.zeros(4, dtype=np.int64)},
        "conv": {"type": "Conv1d", "weight": weight, "stride": 2, "padding": 1, "dilation": 1,
                 "groups": 1, "bias": np.zeros(3)},
        "if": {"type": "IF", "r": np.ones((1, 3, 8)), "v_threshold": np.ones((1, 3, 8))},
        "out": {"type": "Output", "shape": np.array([24])},
    }
    edges = [("in", "flat"), ("flat", "conv"), ("conv", "if"), ("if", "out")]
    net = read_nir(write_graph(tmp_path / "flat.nir", nodes, edges))
    x = rng.standard_normal((2, 16))
    np.testing.assert_allclose(net.projections["in->if"].weights @ x.reshape(-1),
                               reference_conv(x, weight, stride=2, pads=1).reshape(-1))


@pytest.mark.parametrize("padding,pads", [
    ("same", [(1, 1), (2, 2)]), ("valid", 0), (np.int64(1), 1),
    (np.array([2, 1]), [(2, 2), (1, 1)]),
])
def test_conv_padding_forms_without_input_shape(tmp_path, padding, pads):
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((4, 1, 3, 3))
    nodes = {
        "in": {"type": "Input", "shape": np.array([2, 7, 6])},
        "conv": {"type": "Conv2d", "weight": weight, "stride": np.array([1, 1]),
                 "padding": padding, "dilation": np.array([1, 2]), "groups": 2,
                 "bias": np.zeros(4)},
        "li": {"type": "LI", "tau": 0.01, "r": 1.0, "v_leak": 0.0},
        "out": {"type": "Output", "shape": np.array([1])},
    }
    edges = [("in", "conv"), ("conv", "li"), ("li", "out")]
    net = read_nir(write_graph(tmp_path / "conv.nir", nodes, edges))
    x = rng.standard_normal((2, 7, 6))
    expected = reference_conv(x, weight, pads=pads, dilation=(1, 2), groups=2)
    assert net.populations["li"].size == expected.size
    np.testing.assert_allclose(net.projections["in->li"].weights @ x.reshape(-1),
                               expected.reshape(-1), atol=1e-12)


def test_fan_in_chains_and_edge_order(tmp_path):
    rng = np.random.default_rng(8)
    a, b, c = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 4))
    ba, bb, s = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    nodes = {
        "in": {"type": "Input", "shape": np.array([3])},
        "a": {"type": "Affine", "weight": a, "bias": ba},
        "s": {"type": "Scale", "scale": s},
        "c": {"type": "Linear", "weight": c},
        "b": {"type": "Affine", "weight": b, "bias": bb},
        "lif": lif(4),
        "out": {"type": "Output", "shape": np.array([4])},
    }
    edges = [("in", "a"), ("a", "s"), ("s", "c"), ("c", "lif"), ("in", "b"), ("b", "lif"),
             ("lif", "out")]
    net = read_nir(write_graph(tmp_path / "fan.nir", nodes, edges))
    np.testing.assert_allclose(net.projections["in->lif"].weights.toarray(),
                               c @ (s[:, None] * a) + b)
    np.testing.assert_allclose(net.populations["lif"].params["bias"], c @ (s * ba) + bb)
    shuffled = read_nir(write_graph(tmp_path / "fan2.nir", nodes, edges[::-1]))
    assert networks_equal(net, shuffled)


def test_recurrence_and_options(tmp_path):
    """Loop p1 -> p2 -> p1 gets its delay on the back projection; LI inside a spiking loop is
    fine; reset and refractory go to resetting models only."""
    nodes = {
        "in": {"type": "Input", "shape": np.array([2])},
        "w_in": {"type": "Linear", "weight": np.ones((2, 2))},
        "p1": lif(2), "w12": {"type": "Linear", "weight": np.eye(2)},
        "p2": lif(2), "w21": {"type": "Linear", "weight": -np.eye(2)},
        "w2l": {"type": "Linear", "weight": np.eye(2)},
        "li": {"type": "LI", "tau": np.full(2, 0.01), "r": np.ones(2), "v_leak": np.zeros(2)},
        "wl2": {"type": "Linear", "weight": np.eye(2)},
        "out": {"type": "Output", "shape": np.array([2])},
    }
    edges = [("in", "w_in"), ("w_in", "p1"), ("p1", "w12"), ("w12", "p2"), ("p2", "w21"),
             ("w21", "p1"), ("p2", "w2l"), ("w2l", "li"), ("li", "wl2"), ("wl2", "p2"),
             ("p2", "out")]
    net = read_nir(write_graph(tmp_path / "loop.nir", nodes, edges),
                   LoadOptions(reset="subtract", refractory=2e-3))
    assert {n: q.delay for n, q in net.projections.items()} == {
        "in->p1": 0, "p1->p2": 0, "p2->p1": 1, "p2->li": 0, "li->p2": 1}
    assert list(net.populations) == ["in", "p1", "p2", "li"]
    assert net.populations["p2"].reset == "subtract" and net.populations["p2"].refractory == 2e-3
    assert net.populations["li"].refractory == 0.0


def test_nested_graph_is_inlined(tmp_path):
    rng = np.random.default_rng(9)
    w1, w2 = rng.standard_normal((3, 2)), rng.standard_normal((2, 3))
    sub = {"type": "NIRGraph",
           "nodes": {"i": {"type": "Input", "shape": np.array([2])},
                     "fc": {"type": "Affine", "weight": w1, "bias": np.ones(3)},
                     "lif": lif(3, thr=2.0),
                     "o": {"type": "Output", "shape": np.array([3])}},
           "edges": [("i", "fc"), ("fc", "lif"), ("lif", "o")]}
    nested = {"in": {"type": "Input", "shape": np.array([2])}, "sub": sub,
              "fc2": {"type": "Linear", "weight": w2}, "lif": lif(2),
              "out": {"type": "Output", "shape": np.array([2])}}
    flat = {"in": nested["in"], "sub.fc": sub["nodes"]["fc"], "sub.lif": sub["nodes"]["lif"],
            "fc2": nested["fc2"], "lif": nested["lif"], "out": nested["out"]}
    flat_edges = [("in", "sub.fc"), ("sub.fc", "sub.lif"), ("sub.lif", "fc2"), ("fc2", "lif"),
                  ("lif", "out")]
    expected = read_nir(write_graph(tmp_path / "flat.nir", flat, flat_edges))
    assert list(expected.populations) == ["in", "sub.lif", "lif"]
    for into_sub in ("sub", "sub.i"):  # the subgraph, or its Input node by name
        edges = [("in", into_sub), ("sub", "fc2"), ("fc2", "lif"), ("lif", "out")]
        got = read_nir(write_graph(tmp_path / "nested.nir", nested, edges))
        assert networks_equal(got, expected)
    np.testing.assert_allclose(expected.projections["in->sub.lif"].weights.toarray(), w1 / 2)


def test_nested_in_memory_graph_matches_its_file(tmp_path):
    ones = np.ones
    sub = nir.NIRGraph(
        nodes={"i": nir.Input(np.array([2])), "fc": nir.Affine(ones((3, 2)), ones(3)),
               "lif": nir.LIF(tau=ones(3) * 0.01, r=ones(3), v_leak=ones(3) * 0.5,
                              v_threshold=ones(3) * 2),
               "o": nir.Output(np.array([3]))},
        edges=[("i", "fc"), ("fc", "lif"), ("lif", "o")], type_check=False)
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2])), "sub": sub, "fc2": nir.Linear(ones((2, 3))),
               "lif": nir.LIF(tau=ones(2) * 0.01, r=ones(2), v_leak=ones(2) * 0.0,
                              v_threshold=ones(2)),
               "out": nir.Output(np.array([2]))},
        edges=[("in", "sub"), ("sub", "fc2"), ("fc2", "lif"), ("lif", "out")], type_check=False)
    nir.write(tmp_path / "nested.nir", graph)
    net = read_nir(graph)
    assert networks_equal(net, read_nir(tmp_path / "nested.nir"))
    assert list(net.populations) == ["in", "sub.lif", "lif"]
    np.testing.assert_allclose(net.populations["sub.lif"].params["v_leak"], 0.25)
    np.testing.assert_allclose(net.populations["sub.lif"].params["bias"], 0.5)


# -- synthetic files: rejected ------------------------------------------------------------------

def chain(middle, middle_edges):
    nodes = {"in": {"type": "Input", "shape": np.array([2])},
             "out": {"type": "Output", "shape": np.array([2])}, **middle}
    return nodes, middle_edges


@pytest.mark.parametrize("nodes,edges,error,pattern", [
    (*chain({"d": {"type": "Delay", "delay": np.ones(2)}, "l": lif(2)},
            [("in", "d"), ("d", "l"), ("l", "out")]),
     UnsupportedError, r"node 'd' \(Delay\): node type 'Delay' is not supported.*Fix: supported "
                       r"node types: Input, Output, LIF, CubaLIF"),
    (*chain({"w": {"type": "Linear", "weight": np.eye(2)}, "l": lif(2, thr=np.array([1.0, 0.0]))},
            [("in", "w"), ("w", "l"), ("l", "out")]),
     InvalidModelError, r"node 'l' \(LIF\): threshold v_threshold\[1\] = 0 is not positive"),
    (*chain({"w": {"type": "Linear", "weight": np.eye(2)},
             "li": {"type": "LI", "tau": np.ones(2), "r": np.ones(2), "v_leak": np.zeros(2)},
             "rec": {"type": "Linear", "weight": np.eye(2)}},
            [("in", "w"), ("w", "li"), ("li", "rec"), ("rec", "li"), ("li", "out")]),
     UnsupportedError,
     r"recurrent loop without a spiking node: (li -> rec -> li|rec -> li -> rec)"),
    (*chain({"a": {"type": "Linear", "weight": np.eye(2)},
             "b": {"type": "Linear", "weight": np.eye(2)}, "l": lif(2)},
            [("in", "a"), ("a", "b"), ("b", "a"), ("b", "l"), ("l", "out")]),
     UnsupportedError, r"recurrent loop without a spiking node: (a -> b -> a|b -> a -> b)"),
    (*chain({"w": {"type": "Linear", "weight": np.ones((3, 2))}, "l": lif(2)},
            [("in", "w"), ("w", "l"), ("l", "out")]),
     InvalidModelError, r"shape mismatch: node 'w' outputs 3 values .* but node 'l' \(LIF\) "
                        r"takes 2"),
    (*chain({"l": lif(2), "w": {"type": "Linear", "weight": np.eye(2)}},
            [("in", "l"), ("l", "w"), ("w", "out")]),
     UnsupportedError, r"Output node 'out' is fed by Linear node 'w', not by a neuron layer"),
    (*chain({"l": {"type": "LIF", "tau": np.ones(2), "r": np.ones(2)}},
            [("in", "l"), ("l", "out")]),
     ModelFormatError, r"node 'l' \(LIF\): LIF node lacks parameter\(s\) \['v_leak', "
                       r"'v_threshold'\]"),
    (*chain({"l": lif(2)}, [("in", "l"), ("l", "ghost")]),
     ModelFormatError, r"an edge names node 'ghost', which does not exist"),
    (*chain({"l": lif(2)}, [("in", "l"), ("l", "out"), ("out", "l")]),
     ModelFormatError, r"edge 'out' -> 'l' leaves an Output or enters an Input node"),
])
def test_rejected_graphs(tmp_path, nodes, edges, error, pattern):
    path = write_graph(tmp_path / "bad.nir", nodes, edges)
    with pytest.raises(error, match=pattern) as err:
        read_nir(path)
    assert "bad.nir" in str(err.value)


def test_rejected_files(tmp_path):
    with pytest.raises(ModelFormatError, match="file not found"):
        read_nir(tmp_path / "missing.nir")
    with h5py.File(tmp_path / "empty.nir", "w") as fh:
        fh.create_dataset("version", data=1)
    with pytest.raises(ModelFormatError, match="empty.nir: HDF5 file has no 'node' group"):
        read_nir(tmp_path / "empty.nir")
