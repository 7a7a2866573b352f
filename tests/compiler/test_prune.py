"""Pass ``prune`` (issue 16): ``--max-fanin prune`` keeps each neuron's strongest synapses by
|weight| x source rate, reports what it dropped, and keeps the user's network as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from neurocc.compiler import CompileOptions, compile_model
from neurocc.compiler.canonicalise import run as canonicalise
from neurocc.compiler.compilation import Compilation
from neurocc.compiler.driver import read_compiled
from neurocc.compiler.errors import CapacityError, InvalidModelError
from neurocc.compiler.prune import run as prune
from neurocc.backends.target import load_target
from networks import make_net

PRUNE = CompileOptions(max_fanin="prune")


def wide_net(seed: int = 0, neurons: int = 3, fan_in: int = 100):
    """``neurons`` LIF neurons, each fed by all ``fan_in`` input channels with distinct weights."""
    rng = np.random.default_rng(seed)
    w = rng.permutation(np.linspace(0.05, 1.0, neurons * fan_in)).reshape(neurons, fan_in)
    return make_net([("h", neurons)], [("x", "h", w)], inputs=[("x", fan_in)])


def pruned(net, options=PRUNE, target="dynapse2") -> Compilation:
    state = Compilation(network=net, target=load_target(target), options=options)
    return prune(canonicalise(state))


def kept_sources(net, neuron: int) -> set[int]:
    return set(net.projections["p0_x_h"].weights.toarray()[neuron].nonzero()[0].tolist())


def test_fan_in_100_keeps_exactly_the_64_strongest_by_weight_times_rate():
    net = wide_net()
    rates = np.random.default_rng(1).uniform(0.01, 0.5, 3 + 100)  # neurons, then channels
    c = pruned(net, CompileOptions(max_fanin="prune", rates=rates))
    w = net.projections["p0_x_h"].weights.toarray()
    for n in range(3):
        expected = set(np.argsort(-w[n] * rates[3:])[:64].tolist())
        assert kept_sources(c.network, n) == expected
        # the rates matter: |w| alone would keep another set
        assert expected != set(np.argsort(-w[n])[:64].tolist())
    (lost,) = c.pruning.projections
    assert (lost.name, lost.dropped, lost.neurons) == ("p0_x_h", 3 * 36, 3)
    score = w * rates[3:]
    dropped = sum(np.sort(score[n])[:36].sum() for n in range(3))
    assert lost.current_fraction == pytest.approx(dropped / score.sum())


def test_ties_go_to_the_lower_source_and_across_projections():
    # a: 50 channels of weight 1, b: 50 of weight 1 and 20 of weight 2 -> all 20 strong ones,
    # then the 44 lowest sources of the equal rest (a's 44 first, as a precedes b)
    wa = np.ones((1, 50))
    wb = np.ones((1, 70))
    wb[0, 50:] = 2.0
    net = make_net([("h", 1)], [("a", "h", wa), ("b", "h", wb)], inputs=[("a", 50), ("b", 70)])
    c = pruned(net)
    kept_a = c.network.projections["p0_a_h"].weights.toarray()[0].nonzero()[0]
    kept_b = c.network.projections["p1_b_h"].weights.toarray()[0].nonzero()[0]
    assert kept_a.tolist() == list(range(44))
    assert kept_b.tolist() == list(range(50, 70))
    assert [(p.name, p.dropped) for p in c.pruning.projections] == [("p0_a_h", 6),
                                                                  ("p1_b_h", 50)]
    assert c.pruning.neurons == 1  # one neuron, counted once over both projections


def test_without_the_option_nothing_is_pruned_and_the_cam_error_names_the_flag():
    net = wide_net()
    c = pruned(net, CompileOptions())
    assert c.pruning is None and c.network.synapses() == 300
    with pytest.raises(CapacityError) as err:
        compile_model(net, "dynapse2")
    assert "CAM overflow: 3 neurons" in err.value.message and "36 over" in err.value.message
    assert "--max-fanin prune" in err.value.fix


def test_a_fan_in_within_the_cam_is_left_alone():
    net = wide_net(fan_in=64)
    c = pruned(net)
    assert c.pruning is None and c.network.synapses() == 3 * 64


def test_an_unknown_mode_is_refused():
    with pytest.raises(InvalidModelError, match="max-fanin"):
        pruned(wide_net(), CompileOptions(max_fanin="drop"))


@pytest.mark.parametrize("target", ["dynapse1", "dynapse2"])
def test_pruned_compile_passes_the_checker_and_reports_the_drop(tmp_path, target):
    net = wide_net()
    before = net.projections["p0_x_h"].weights.toarray().copy()
    compiled = compile_model(net, target, options=PRUNE)
    r = compiled.report
    assert r["checker_ok"] and r["max_cam_per_neuron"] <= r["cam_per_neuron_limit"]
    assert r["synapses"] == 3 * 64
    assert r["pruned"] == [{"projection": "p0_x_h", "synapses_dropped": 108,
                            "current_fraction_dropped": pytest.approx(
                                compiled.compilation.pruning.projections[0].current_fraction,
                                abs=1e-4),
                            "neurons_affected": 3}]
    assert 0 < r["pruned"][0]["current_fraction_dropped"] < 36 / 100
    assert sum("--max-fanin prune" in note for note in r["notes"]) == 1
    # the user's network is untouched; the folder keeps it as the verification reference
    np.testing.assert_array_equal(net.projections["p0_x_h"].weights.toarray(), before)
    compiled.save(tmp_path)
    folder = read_compiled(tmp_path)
    assert folder.network.synapses() == 300
    assert folder.realised().synapses() == 3 * 64


def test_pruned_compile_is_byte_identical():
    rates = np.random.default_rng(2).uniform(0.01, 0.5, 103)
    options = CompileOptions(max_fanin="prune", rates=rates)
    assert compile_model(wide_net(), options=options).files == \
        compile_model(wide_net(), options=options).files


def test_cli_flag(cli, tmp_path):
    from neurocc.frontend.ncl.text_format import format_network
    model = tmp_path / "wide.ncl"
    model.write_text(format_network(wide_net()))
    code, _, err = cli(["compile", str(model), "-o", str(tmp_path / "refused")])
    assert code == 2 and "--max-fanin prune" in err
    code, out, _ = cli(["compile", str(model), "-o", str(tmp_path / "out"), "--max-fanin",
                        "prune"])
    assert code == 0 and "dropped 108 synapses" in " ".join(out.split())
    code, _, err = cli(["compile", str(model), "-o", str(tmp_path / "bad"), "--max-fanin",
                        "drop"])
    assert code == 2 and "--max-fanin" in err
