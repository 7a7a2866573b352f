"""Train the digits example: scikit-learn's 8x8 handwritten digits, latency coded, 10 classes.

Each pixel is one input channel that spikes once, earlier the brighter it is (intensity 16 at
step 0, intensity 1 at step 49; blank pixels stay silent), and the network runs for 15 ms. 64
hidden CubaLIF neurons (24 pixels each) feed 10 outputs (24 hidden neurons each); the class is
the output with the most spikes. 256 digits are held out for the test set.

Time step 0.1 ms, zero reset, no refractory period: the defaults of ``neurocc compile``.
Run ``python examples/digits/train.py`` (seed fixed); it writes ``model.nir`` and ``test.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import training as tr  # noqa: E402

from neurocc.frontend.nir_writer import write_nir  # noqa: E402

SEED = 0
DT = 1e-4
STEPS = 150
CODE_STEPS = 50
HIDDEN = 64
FAN_IN = 24
TEST = 256


def latency_code(images: np.ndarray) -> np.ndarray:
    """``(n, 64)`` intensities 0..16 -> ``(n, STEPS, 64)`` bool, one spike per lit pixel."""
    n = images.shape[0]
    x = np.zeros((n, STEPS, images.shape[1]), bool)
    sample, pixel = np.nonzero(images > 0)
    t = np.rint((16 - images[sample, pixel]) / 15 * (CODE_STEPS - 1)).astype(int)
    x[sample, t, pixel] = True
    return x


def model(rng: np.random.Generator) -> tr.Model:
    return tr.Model(
        dt=DT, inputs={"pixels": 64},
        layers=(tr.Layer("hidden", HIDDEN, tau_mem=5e-3, tau_syn=2e-3),
                tr.Layer("out", 10, tau_mem=10e-3, tau_syn=2e-3)),
        connections=(tr.Connection("pixels", "hidden", tr.random_mask(rng, HIDDEN, 64, FAN_IN)),
                     tr.Connection("hidden", "out", tr.random_mask(rng, 10, HIDDEN, FAN_IN))),
        output="out")


def main() -> None:
    rng = np.random.default_rng(SEED)
    digits = load_digits()
    order = rng.permutation(len(digits.target))
    x = latency_code(digits.data[order])
    y = digits.target[order]
    x_train, y_train, x_test, y_test = x[TEST:], y[TEST:], x[:TEST], y[:TEST]
    net_model = model(rng)
    weights = tr.init_weights(net_model, rng, {"pixels->hidden": (15.0, 5.0),
                                               "hidden->out": (10.0, 5.0)})
    weights, _ = tr.train(net_model, weights, {"pixels": x_train}, y_train, steps=800, batch=64,
                          learning_rate=0.2, seed=SEED,
                          cfg=tr.LossConfig(count_scale=0.5, negative_v=100.0))
    noisy = tr.accuracy(net_model, weights, {"pixels": x_test}, y_test, key=jax.random.PRNGKey(1))
    exact = tr.accuracy(net_model, weights, {"pixels": x_test}, y_test)
    print(f"test accuracy: float {exact:.3f}, with simulated chip noise {noisy:.3f}")
    write_nir(tr.to_network(net_model, weights, "digits"), HERE / "model.nir")
    np.savez_compressed(HERE / "test.npz", pixels=x_test, labels=y_test)


if __name__ == "__main__":
    main()
