"""Train the digits example: scikit-learn's 8x8 handwritten digits, rate coded, 10 classes.

Each pixel is one input channel firing Poisson spikes at a rate proportional to its intensity
(``RATE_HZ`` at intensity 16) for 30 ms. 320 CubaLIF output neurons, 32 per class, each see 32
random pixels; the class is the group with the most spikes (a population readout, stored as
``output_classes`` in ``test.npz`` for ``neurocc verify``). 256 digits are held out for the test
set.

Why this shape: device mismatch gives every chip neuron its own gain (about 50% spread, see
``training.Noise``), and a neuron near its threshold turns that into a far larger spread of its
spike count. With one output per class a single hot neuron decided the class (compiled median
0.46 against 0.80 in float); summing 32 neurons per class averages the gains out, a single layer
adds no hidden neurons' errors on top, and training draws one mismatched chip per group of
samples, as the verification does. The per-neuron target term (``training.LossConfig.target``)
asks each output neuron to fire clearly for its class and stay silent otherwise.

Time step 0.1 ms, zero reset, no refractory period: the defaults of ``neurocc compile``.
Run ``python examples/digits/train.py`` (seed fixed); it writes ``model.nir`` and ``test.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import training as tr  # noqa: E402


SEED = 0
DT = 1e-4
STEPS = 300
RATE_HZ = 1000.0
PER_CLASS = 32
FAN_IN = 32
TEST = 256


def rate_code(rng: np.random.Generator, images: np.ndarray) -> np.ndarray:
    """``(n, 64)`` intensities 0..16 -> ``(n, STEPS, 64)`` bool Poisson spike trains."""
    p = images[:, None, :] / 16.0 * RATE_HZ * DT
    return rng.random((images.shape[0], STEPS, images.shape[1])) < p


def model(rng: np.random.Generator) -> tr.Model:
    n_out = 10 * PER_CLASS
    return tr.Model(
        dt=DT, inputs={"pixels": 64},
        layers=(tr.Layer("out", n_out, tau_mem=10e-3, tau_syn=2e-3),),
        connections=(tr.Connection("pixels", "out", tr.random_mask(rng, n_out, 64, FAN_IN)),),
        output="out", output_classes=np.repeat(np.arange(10), PER_CLASS))


def main(out: Path = HERE) -> None:
    rng = np.random.default_rng(SEED)
    digits = load_digits()
    order = rng.permutation(len(digits.target))
    x = rate_code(rng, digits.data[order])
    y = digits.target[order]
    x_train, y_train, x_test, y_test = x[TEST:], y[TEST:], x[:TEST], y[:TEST]
    net_model = model(rng)
    weights = tr.init_weights(net_model, rng, {"pixels->out": (1.0, 3.0)})
    weights, _ = tr.train(net_model, weights, {"pixels": x_train}, y_train, steps=400, batch=64,
                          chips=8, learning_rate=0.1, seed=SEED,
                          cfg=tr.LossConfig(count_scale=0.05, negative_v=100.0, target=8.0))
    tr.save_example(net_model, weights, "digits", out, {"pixels": x_test}, y_test)

if __name__ == "__main__":
    main()
