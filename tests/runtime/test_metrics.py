"""Verification metrics on hand-built spike trains with known answers."""

import numpy as np
import pytest

from neurocc.runtime import metrics


def trains(counts: list[list[int]], steps: int = 10) -> np.ndarray:
    """(batch, T, n) with the given number of spikes per (sample, output), at the first steps."""
    counts = np.asarray(counts)
    x = np.zeros((counts.shape[0], steps, counts.shape[1]))
    for b, row in enumerate(counts):
        for o, c in enumerate(row):
            x[b, :c, o] = 1
    return x


def test_count_correlation_known_values():
    ref = trains([[1, 2], [3, 4]])
    same = trains([[1, 2], [3, 4]])
    scaled = trains([[2, 4], [6, 8]])  # an affine image: correlation 1
    reversed_ = trains([[4, 3], [2, 1]])  # perfectly anti-correlated
    flat = trains([[2, 2], [2, 2]])
    got = metrics.count_correlation(ref, np.stack([same, scaled, reversed_, flat]))
    assert got == pytest.approx([1.0, 1.0, -1.0, 0.0])


def test_rate_error_relative_with_floor():
    ref = trains([[4, 0], [4, 0]])
    got = trains([[2, 3], [2, 1]])
    err = metrics.rate_error(ref, got)
    # output 0: |2 - 4| / 4; output 1: |2 - 0| / max(0, 1)
    assert err.shape == (1, 2) and err[0] == pytest.approx([0.5, 2.0])


def test_agreement_and_accuracy():
    ref = trains([[3, 1], [0, 2], [1, 1]])  # classes 0, 1, 0 (tie -> lowest index)
    inst = np.stack([trains([[3, 1], [0, 2], [2, 1]]),   # all agree
                     trains([[0, 1], [0, 2], [0, 1]])])  # first and last flip to class 1
    assert metrics.agreement(ref, inst) == pytest.approx([1.0, 1 / 3])
    assert metrics.accuracy(inst, np.array([0, 1, 1])) == pytest.approx([2 / 3, 2 / 3])


def test_van_rossum_lone_spike_and_identity():
    steps, tau = 4000, 200.0
    one = np.zeros((1, steps, 1))
    one[0, 10, 0] = 1
    none = np.zeros_like(one)
    assert metrics.van_rossum(one, one, tau_steps=tau) == pytest.approx([0.0])
    # continuous-time value sqrt(1/2); the discrete sum is within 0.5% at tau = 200 steps
    assert metrics.van_rossum(one, none, tau_steps=tau)[0] == pytest.approx(np.sqrt(0.5), rel=5e-3)
    # a shift by one step is much closer than a missing spike
    shifted = np.roll(one, 1, axis=1)
    assert metrics.van_rossum(one, shifted, tau_steps=tau)[0] < 0.1


def test_spikes_per_inference_and_summary():
    a = np.ones((2, 3, 5, 4))  # 2 instances, 3 samples, 5 steps, 4 neurons: 20 spikes per sample
    b = np.zeros((2, 3, 5, 2))
    b[1] = 1  # instance 1: 10 more per sample
    assert metrics.spikes_per_inference([a, b]) == pytest.approx([20.0, 30.0])
    s = metrics.summarise(np.arange(101.0))
    assert s == {"median": 50.0, "p5": 5.0, "p95": 95.0}


def test_population_readout_sums_each_class_group():
    # outputs 0, 1 -> class 0; outputs 2, 3 -> class 1
    classes = np.array([0, 0, 1, 1])
    ref = trains([[3, 3, 5, 0],    # class counts 6 vs 5 -> 0 (per neuron: output 2 wins)
                  [0, 1, 1, 1],    # 1 vs 2 -> 1
                  [2, 0, 1, 1]])   # 2 vs 2 -> tie, lowest class 0
    assert metrics.class_counts(ref, classes)[0] == pytest.approx([6, 5])
    assert list(metrics.predictions(ref, classes)) == [0, 1, 0]
    assert list(metrics.predictions(ref)) == [2, 1, 0]
    inst = np.stack([trains([[1, 1, 0, 1], [0, 0, 0, 4], [4, 0, 0, 0]]),   # 0, 1, 0: all agree
                     trains([[0, 0, 1, 0], [5, 0, 2, 2], [0, 0, 0, 0]])])  # 1, 0, 0
    assert metrics.agreement(ref, inst, classes) == pytest.approx([1.0, 1 / 3])
    assert metrics.accuracy(inst, np.array([0, 1, 1]), classes) == pytest.approx([2 / 3, 0.0])
    # interleaved groups: the mapping, not the position, decides
    assert list(metrics.predictions(ref, np.array([1, 0, 1, 0]))) == [1, 0, 1]


def test_population_readout_correlates_and_compares_class_counts():
    classes = np.array([0, 0, 1, 1])
    ref = trains([[4, 0, 1, 1], [0, 1, 3, 3], [2, 2, 0, 0]])
    # the same class counts, split differently among each class's neurons
    moved = trains([[0, 4, 2, 0], [1, 0, 6, 0], [0, 4, 0, 0]])
    per_neuron = metrics.count_correlation(ref, moved)[0]
    assert per_neuron < 0.5
    assert metrics.count_correlation(ref, moved, classes) == pytest.approx([1.0])
    assert metrics.rate_error(ref, moved, classes)[0] == pytest.approx([0.0, 0.0])
    assert metrics.rate_error(ref, moved).shape == (1, 4)
