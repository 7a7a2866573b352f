"""NIR writer: normal form, read(write(net)) == net, and the delay patterns it must refuse."""

import networkx as nx
import nir
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocc.compiler.errors import UnsupportedError
from neurocc.compiler.ir import (MODEL_PARAMS, RESETTING_MODELS, Network, Projection,
                                 make_population, networks_equal)
from neurocc.frontend.load import LoadOptions
from neurocc.frontend.nir.reader import read_nir
from neurocc.frontend.nir.writer import network_to_nir, write_nir

MODELS = ["LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold"]


def random_network(seed: int) -> tuple[Network, LoadOptions]:
    """A random network in the reader's conventions: a chain of layers from the first input
    (names sort in chain order), extra inputs, skip projections, delay-1 loops (each with a
    spiking layer on it), sometimes a bias-only population without inputs."""
    rng = np.random.default_rng(seed)
    options = LoadOptions(dt=1e-3, reset=str(rng.choice(["zero", "subtract"])),
                          refractory=float(rng.choice([0.0, 2e-3])))
    net = Network(dt=options.dt, name="gen")

    def add(name, model, size):
        drawn = {"tau_mem": rng.uniform(1e-3, 5e-2, size), "tau_syn": rng.uniform(1e-3, 1e-2, size),
                 "v_leak": rng.normal(0, 0.3, size), "v_reset": rng.normal(0, 0.2, size),
                 "bias": rng.normal(0, 0.5, size) * (rng.random() < 0.6)}
        params = {k: drawn[k] for k in MODEL_PARAMS[model]}
        if model in RESETTING_MODELS:
            params.update(reset=options.reset, refractory=options.refractory)
        return net.add_population(make_population(name, model, size, **params))

    def connect(src, tgt, delay=0):
        shape = (net.populations[tgt].size, net.populations[src].size)
        weights = rng.normal(0, 1, shape) * (rng.random(shape) < 0.6)
        net.add_projection(Projection(f"{src}->{tgt}", src, tgt, sp.csr_array(weights), delay))

    inputs = [add(f"in{k}", "input", int(rng.integers(1, 5))).name
              for k in range(int(rng.integers(1, 3)))]
    layers = [add(f"l{i:02d}", str(rng.choice(MODELS)), int(rng.integers(1, 6))).name
              for i in range(int(rng.integers(1, 6)))]
    connect(inputs[0], layers[0])
    for a, b in zip(layers, layers[1:]):
        connect(a, b)
    for extra in inputs[1:]:
        connect(extra, str(rng.choice(layers)))
    for i, a in enumerate(layers):
        for b in layers[i + 2:]:
            if rng.random() < 0.3:
                connect(a, b)
    analog = nx.DiGraph((q.source, q.target) for q in net.projections.values()
                        if not (net.populations[q.source].spiking
                                or net.populations[q.target].spiking))
    for i, a in enumerate(layers):
        for b in layers[:i + 1]:
            analog_loop = not (net.populations[a].spiking or net.populations[b].spiking) and (
                a == b or (b in analog and a in analog and nx.has_path(analog, b, a)))
            if not analog_loop and rng.random() < 0.3:
                connect(a, b, delay=1)
                if not (net.populations[a].spiking or net.populations[b].spiking):
                    analog.add_edge(a, b)
    if rng.random() < 0.3:
        pop = add("z_tonic", "LIF", 2)
        pop.params["bias"][:] = 1.5
    net.outputs = sorted({layers[-1], str(rng.choice(layers))})
    return net.verify(), options


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_round_trip_random_networks(seed, tmp_path_factory):
    net, options = random_network(seed)
    path = tmp_path_factory.mktemp("rt") / "net.nir"
    write_nir(net, path)
    back = read_nir(path, options)
    assert networks_equal(back, net)
    assert networks_equal(read_nir(network_to_nir(net), options), net)


def test_generator_covers_recurrence_and_all_models():
    nets = [random_network(seed)[0] for seed in range(40)]
    models = {p.model for net in nets for p in net.populations.values()}
    assert models == set(MODELS) | {"input"}
    assert sum(any(q.delay == 1 for q in net.projections.values()) for net in nets) >= 10
    assert sum("z_tonic" in net.populations for net in nets) >= 5


def test_normal_form_nodes():
    net = Network(dt=1e-3, name="nf")
    net.add_population(make_population("in", "input", 2))
    net.add_population(make_population("c", "CubaLIF", 3, tau_mem=0.02, tau_syn=0.004,
                                       v_leak=0.1, bias=[0.0, 0.5, 0.0]))
    net.add_population(make_population("t", "Threshold", 3))
    net.add_projection(Projection("in->c", "in", "c", sp.csr_array(np.ones((3, 2)))))
    net.add_projection(Projection("c->t", "c", "t", sp.csr_array(np.eye(3))))
    net.add_projection(Projection("t->c", "t", "c", sp.csr_array(-np.eye(3)), delay=1))
    net.outputs = ["t"]
    graph = network_to_nir(net)
    c = graph.nodes["c"]
    assert isinstance(c, nir.CubaLIF)
    for key in ("r", "w_in", "v_threshold"):
        np.testing.assert_array_equal(getattr(c, key), np.ones(3))
    np.testing.assert_array_equal(c.tau_syn, net.populations["c"].params["tau_syn"])
    np.testing.assert_array_equal(graph.nodes["t"].threshold, np.ones(3))
    # The bias rides on the delay-0 input projection, the others are plain Linear nodes.
    assert isinstance(graph.nodes["in->c"], nir.Affine)
    np.testing.assert_array_equal(graph.nodes["in->c"].bias, [0.0, 0.5, 0.0])
    assert isinstance(graph.nodes["t->c"], nir.Linear)
    assert sorted(graph.edges) == sorted([
        ("in", "in->c"), ("in->c", "c"), ("c", "c->t"), ("c->t", "t"), ("t", "t->c"),
        ("t->c", "c"), ("t", "output")])


def test_real_file_round_trip_and_nir_read(shared_models, tmp_path):
    net = read_nir(shared_models / "braille_noDelay_bias_zero.nir")
    write_nir(net, tmp_path / "braille.nir")
    assert networks_equal(read_nir(tmp_path / "braille.nir"), net)
    graph = nir.read(tmp_path / "braille.nir")  # the official reader accepts the file
    assert isinstance(graph.nodes["lif1.lif"], nir.CubaLIF)
    assert ("lif1.lif->lif1.lif", "lif1.lif") in graph.edges


def three_populations(delays: dict[str, int]) -> Network:
    net = Network(dt=1e-3, name="bad")
    net.add_population(make_population("in", "input", 1))
    for name in ("A", "B"):
        net.add_population(make_population(name, "LIF", 1, tau_mem=0.01))
    for name, delay in delays.items():
        src, tgt = name.split("->")
        net.add_projection(Projection(name, src, tgt, sp.csr_array(np.ones((1, 1))), delay))
    return net


@pytest.mark.parametrize("delays,pattern", [
    ({"in->A": 0, "A->B": 2}, r"projection 'A->B': delay 2 steps cannot be written"),
    ({"in->A": 0, "A->B": 1}, r"projection 'A->B' \(A -> B\): delay 1 would read back as 0"),
    # B is reached before A, so the reader would put the delay on A->B instead of B->A.
    ({"in->B": 0, "A->B": 0, "B->A": 1}, r"projection 'A->B' \(A -> B\): delay 0 would read "
                                         r"back as 1"),
])
def test_refuses_delays_it_cannot_express(delays, pattern):
    with pytest.raises(UnsupportedError, match=pattern):
        network_to_nir(three_populations(delays))


def test_refuses_bad_names():
    net = three_populations({"in->A": 0})
    net.projections["in->A"].name = "A"
    net.projections["A"] = net.projections.pop("in->A")
    with pytest.raises(UnsupportedError, match=r"\['A'\] name both a population and a projection"):
        network_to_nir(net)
    net = three_populations({"in->A": 0})
    net.populations["A"].name = "A/1"
    net.populations["A/1"] = net.populations.pop("A")
    net.projections["in->A"].target = "A/1"
    with pytest.raises(UnsupportedError, match=r"name 'A/1' cannot be a NIR node name"):
        network_to_nir(net)
