"""Train the frozen-noise example: which of two frozen Poisson patterns is playing?

Two fixed random spike patterns on 60 input channels (100 Hz per channel for 30 ms) are the two
classes; every sample is one of them with its spikes jittered (Gaussian, 1 ms), 10% of them
deleted and 5 Hz of background spikes added, so that the rates say nothing and only the timing
tells the classes apart. 64 hidden CubaLIF neurons (16 inputs each) feed 32 outputs (16 hidden
neurons each), 16 per class: the class is the group with more spikes (a population readout,
``output_classes`` in ``test.npz``), so that one neuron made hot or cold by device mismatch cannot
decide alone. Trained with one noise draw per group of samples (a simulated chip).

Time step 0.1 ms, zero reset, no refractory period: the defaults of ``neurocc compile``, so the
saved ``model.nir`` compiles with a plain command line. Run ``python examples/frozen_noise/train.py``
(seed fixed: identical files every time); it writes ``model.nir`` and ``test.npz`` here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import training as tr  # noqa: E402


SEED = 0
DT = 1e-4
STEPS = 300
CHANNELS = 60
RATE_HZ = 100.0
JITTER_STEPS = 10.0
DELETE = 0.1
BACKGROUND_HZ = 5.0
HIDDEN = 64
PER_CLASS = 16


def patterns(rng: np.random.Generator) -> np.ndarray:
    """The two frozen patterns, ``(2, STEPS, CHANNELS)`` bool."""
    return rng.random((2, STEPS, CHANNELS)) < RATE_HZ * DT


def variants(rng: np.random.Generator, frozen: np.ndarray, n: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy samples (half of each class, shuffled) and their labels."""
    labels = rng.permutation(np.arange(n) % 2)
    x = np.zeros((n, STEPS, CHANNELS), bool)
    for k, label in enumerate(labels):
        t, c = np.nonzero(frozen[label])
        keep = rng.random(t.size) >= DELETE
        t = np.rint(t[keep] + JITTER_STEPS * rng.standard_normal(keep.sum())).astype(int)
        inside = (t >= 0) & (t < STEPS)
        x[k, t[inside], c[keep][inside]] = True
    x |= rng.random(x.shape) < BACKGROUND_HZ * DT
    return x, labels


def model(rng: np.random.Generator) -> tr.Model:
    return tr.Model(
        dt=DT, inputs={"spikes": CHANNELS},
        layers=(tr.Layer("hidden", HIDDEN, tau_mem=2e-3, tau_syn=1e-3),
                tr.Layer("out", 2 * PER_CLASS, tau_mem=10e-3, tau_syn=2e-3)),
        connections=(tr.Connection("spikes", "hidden", tr.random_mask(rng, HIDDEN, CHANNELS, 16)),
                     tr.Connection("hidden", "out",
                                   tr.random_mask(rng, 2 * PER_CLASS, HIDDEN, 16))),
        output="out", output_classes=np.repeat(np.arange(2), PER_CLASS))


def main() -> None:
    rng = np.random.default_rng(SEED)
    frozen = patterns(rng)
    x_train, y_train = variants(rng, frozen, 512)
    x_test, y_test = variants(rng, frozen, 128)
    net_model = model(rng)
    weights = tr.init_weights(net_model, rng, {"spikes->hidden": (2.0, 3.0),
                                               "hidden->out": (2.0, 1.0)})
    weights, _ = tr.train(net_model, weights, {"spikes": x_train}, y_train, steps=600, batch=32,
                          chips=8, learning_rate=0.02, seed=SEED,
                          cfg=tr.LossConfig(count_scale=0.25, negative_v=100.0, target=4.0))
    tr.save_example(net_model, weights, "frozen_noise", HERE, {"spikes": x_test}, y_test)

if __name__ == "__main__":
    main()
