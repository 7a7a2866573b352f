"""The temporal-memory example (``examples/temporal_memory``): a recurrent hidden layer remembers
which of two cues came first across silent delays of several membrane time constants."""

from __future__ import annotations


import numpy as np
import pytest

from neurocc.compiler.ir import Network
from neurocc.frontend.load import load_model
from neurocc.runtime import metrics
from neurocc.runtime.reference import simulate
from neurocc.runtime.verify import Stimulus, load_stimulus
from networks import REPO

EXAMPLE = REPO / "examples" / "temporal_memory"
#: Float accuracy the shipped model reaches (its check, with the other examples', is in
#: test_examples.py); chance is 1/2.
MIN_ACCURACY = 0.95
#: Without its recurrent weights the network sees two identical, non-overlapping bursts in either
#: order: its accuracy must be chance within about two binomial standard deviations (128 samples:
#: 0.5 +- 0.09).
MAX_FEED_FORWARD_ACCURACY = 0.6
#: The shortest silent stretch the task promises, in membrane time constants (train.py: 4 to 7.5).
MIN_SILENT_TAUS = 4.0


@pytest.fixture(scope="module")
def net() -> Network:
    return load_model(EXAMPLE / "model.nir")


@pytest.fixture(scope="module")
def stimulus(net: Network) -> Stimulus:
    return load_stimulus(EXAMPLE / "test.npz", net)


def _accuracy(net: Network, stimulus: Stimulus) -> float:
    out = np.asarray(simulate(net, dict(stimulus.inputs)).outputs[net.outputs[0]])
    return float(metrics.accuracy(out, stimulus.labels))


def _without_recurrence(net: Network) -> Network:
    ff = net.copy()
    for name in [p.name for p in ff.projections.values() if p.delay > 0]:
        del ff.projections[name]
    return ff.verify()


def test_classes_are_balanced(stimulus: Stimulus) -> None:
    assert np.bincount(stimulus.labels).tolist() == [stimulus.samples // 2] * 2


def test_cues_are_separated_by_silence_longer_than_the_membrane(net: Network,
                                                               stimulus: Stimulus) -> None:
    tau_steps = round(float(net.populations["hidden"].params["tau_mem"].max()) / net.dt)
    active = np.asarray(stimulus.inputs["cues"]).any(axis=2)            # (batch, T)
    for row in active:
        steps = np.nonzero(row)[0]
        longest_gap = np.diff(steps).max() - 1
        assert longest_gap >= MIN_SILENT_TAUS * tau_steps
        assert row.size - 1 - steps[-1] >= MIN_SILENT_TAUS * tau_steps  # silent report period


def test_hidden_layer_is_recurrent_with_one_step_delay(net: Network) -> None:
    assert net.recurrent
    loops = [p for p in net.projections.values() if p.source == p.target]
    assert [(p.source, p.delay) for p in loops] == [("hidden", 1)]
    assert loops[0].num_synapses > 0


def test_zeroing_the_recurrence_drops_accuracy_to_chance(net: Network,
                                                         stimulus: Stimulus) -> None:
    full = _accuracy(net, stimulus)
    feed_forward = _accuracy(_without_recurrence(net), stimulus)
    assert feed_forward <= MAX_FEED_FORWARD_ACCURACY
    assert full - feed_forward >= MIN_ACCURACY - MAX_FEED_FORWARD_ACCURACY


def test_network_is_silent_without_input(net: Network, stimulus: Stimulus) -> None:
    """No drive but the cues (zero bias and leak level): the state the chip realises exactly."""
    quiet = {name: np.zeros_like(x[:2]) for name, x in stimulus.inputs.items()}
    spikes = simulate(net, quiet).spikes
    assert all(not np.asarray(s).any() for s in spikes.values())
