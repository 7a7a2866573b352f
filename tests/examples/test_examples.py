"""The worked examples in ``examples/``: shipped files, float accuracy, training pass == reference,
compilation on both targets; and a smoke test of the training step (needs the ``examples`` extra).
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from neurocc.compiler.driver import compile_model
from neurocc.frontend.load import load_model
from neurocc.runtime import metrics
from neurocc.runtime.reference import simulate
from neurocc.runtime.verify import load_stimulus
from networks import REPO

EXAMPLES = REPO / "examples"
#: Minimum float test accuracy per example. Each is the accuracy its train.py prints for the
#: shipped model rounded down by a few points (so a retrained or changed model that still does
#: its job passes), and each lies far above chance (1/2, 1/10).
MIN_ACCURACY = {"frozen_noise": 0.95, "digits": 0.9, "temporal_memory": 0.95}


def _training():
    pytest.importorskip("optax")
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("examples_training", EXAMPLES / "training.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_shipped_files_are_small_and_labelled(name: str) -> None:
    net = load_model(EXAMPLES / name / "model.nir")
    stimulus = load_stimulus(EXAMPLES / name / "test.npz", net)
    assert (EXAMPLES / name / "test.npz").stat().st_size < 1 << 20
    assert 64 <= stimulus.samples <= 256
    classes = stimulus.output_classes
    n_classes = net.populations[net.outputs[0]].size if classes is None else classes.max() + 1
    assert set(np.unique(stimulus.labels)) == set(range(n_classes))


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_float_accuracy_reaches_its_threshold(name: str) -> None:
    net = load_model(EXAMPLES / name / "model.nir")
    stimulus = load_stimulus(EXAMPLES / name / "test.npz", net)
    out = np.asarray(simulate(net, dict(stimulus.inputs)).outputs[net.outputs[0]])
    assert metrics.accuracy(out, stimulus.labels, stimulus.output_classes) >= MIN_ACCURACY[name]


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_training_forward_pass_equals_reference_spikes(name: str) -> None:
    tr = _training()
    net = load_model(EXAMPLES / name / "model.nir")
    stimulus = load_stimulus(EXAMPLES / name / "test.npz", net)
    inputs = {k: v[:64] for k, v in stimulus.inputs.items()}
    model, weights = tr.from_network(net)
    ours, _ = tr.run(model, weights, {k: v.astype(np.float32) for k, v in inputs.items()})
    reference = simulate(net, inputs).spikes
    for layer in model.layers:
        np.testing.assert_array_equal(np.asarray(ours[layer.name]) > 0,
                                      np.asarray(reference[layer.name]), err_msg=layer.name)
    assert sum(int(np.asarray(s).sum()) for s in ours.values()) > 0


@pytest.mark.parametrize("target", ["dynapse2", "dynapse1"])
@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_compiles_with_independent_check(name: str, target: str) -> None:
    compiled = compile_model(EXAMPLES / name / "model.nir", target)
    assert compiled.report["checker_ok"] is True
    assert compiled.report["max_cam_per_neuron"] <= 64


def test_training_reduces_loss_on_a_toy_batch() -> None:
    tr = _training()
    rng = np.random.default_rng(0)
    model = tr.Model(dt=1e-4, inputs={"x": 4},
                     layers=(tr.Layer("out", 2, tau_mem=2e-3, tau_syn=1e-3),),
                     connections=(tr.Connection("x", "out", np.ones((2, 4), np.float32)),),
                     output="out")
    labels = np.arange(16) % 2
    x = np.zeros((16, 60, 4), bool)
    x[labels == 0, :, :2] = rng.random((8, 60, 2)) < 0.3
    x[labels == 1, :, 2:] = rng.random((8, 60, 2)) < 0.3
    weights = tr.init_weights(model, rng, {"x->out": (5.0, 1.0)})
    _, losses = tr.train(model, weights, {"x": x}, labels, steps=40, batch=16,
                         learning_rate=0.5, seed=0, log=None)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_model_rejects_a_mask_of_the_wrong_shape() -> None:
    tr = _training()
    from neurocc.compiler.errors import InvalidModelError
    with pytest.raises(InvalidModelError, match="mask has shape"):
        tr.Model(dt=1e-4, inputs={"x": 4}, layers=(tr.Layer("out", 2, 2e-3, 1e-3),),
                 connections=(tr.Connection("x", "out", np.ones((4, 2), np.float32)),),
                 output="out")


def test_chips_share_one_draw_per_group_and_classes_sum_their_neurons() -> None:
    tr = _training()
    model = tr.Model(dt=1e-4, inputs={"x": 4},
                     layers=(tr.Layer("out", 4, tau_mem=2e-3, tau_syn=1e-3),),
                     connections=(tr.Connection("x", "out", np.ones((4, 4), np.float32)),),
                     output="out", output_classes=np.array([0, 0, 1, 1]))
    weights = tr.init_weights(model, np.random.default_rng(0), {"x->out": (3.0, 1.0)})
    x = np.repeat((np.random.default_rng(1).random((1, 100, 4)) < 0.3), 4, axis=0)
    key = __import__("jax").random.PRNGKey(0)
    spikes, _ = tr.run(model, weights, {"x": x.astype(np.float32)}, key=key, chips=2)
    s = np.asarray(spikes["out"])
    # the same input on the same chip gives the same spikes; on another chip other spikes
    assert np.array_equal(s[0], s[1]) and np.array_equal(s[2], s[3])
    assert not np.array_equal(s[0], s[2])
    counts = np.asarray(model.class_counts(spikes["out"]))
    np.testing.assert_array_equal(counts, s.sum(axis=1) @ np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    from neurocc.compiler.errors import InvalidModelError
    with pytest.raises(InvalidModelError, match="chips do not divide"):
        tr.run(model, weights, {"x": x.astype(np.float32)}, key=key, chips=3)
    with pytest.raises(InvalidModelError, match="output_classes"):
        tr.Model(dt=1e-4, inputs={"x": 4}, layers=model.layers, connections=model.connections,
                 output="out", output_classes=np.array([0, 0, 2, 2]))
