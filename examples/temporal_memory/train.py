"""Train the temporal-memory example: which of two cues came first, told after a silent delay.

Two groups of 8 input channels are the cues A and B. Every sample plays both cues once, each a
2 ms burst (2 kHz Poisson per channel); the first starts within the first 3 ms, the second 10 to
15 ms after it, and the trial ends 30 ms after the start (at least 10 ms after the second cue).
The class is the cue that came first. Between the cues there is no input at all for at least 4
membrane time constants (2 ms), after the second for at least 5: a network without memory sees
two identical bursts whose responses do not overlap, in either order, and cannot tell the orders
apart (with the recurrent weights zeroed this network is at chance; ``main`` prints it).

The memory is a recurrent hidden layer of 32 CubaLIF neurons (delay-1 connections, fan-in 12 of
the hidden layer plus 8 of the 16 cue channels); two outputs (16 hidden neurons each) report the
class by spike count. The weights start as a flip-flop: two groups of 16 (the first and second
half) each driven by its own cue, exciting themselves and inhibiting each other, so the first cue
switches its group on and the running group keeps the other one off; the masks are random and
training moves every weight. A group that is on fires at about one spike per step (the loop
gain saturates), which is what makes it insensitive to the chip's gain spread; with 8 neurons per
group instead of 16 the compiled network fails on many simulated chips.

Training uses chip noise stronger than ``training.Noise``'s defaults: the IR's saturated groups
fire faster than the chip's, so the float network needs a margin that the default noise does not
demand (the initial flip-flop scores 0.90 under this noise, the trained network 0.99). There is
no penalty on negative membrane values: the only negative membranes are those of the neurons held
off (down to about -44), which the chip holds at 0 instead, silent either way; without mismatch
the compiled network fires 4354 spikes per inference to the reference's 4385 (count correlation
1.00). Any such penalty makes training trade the cross inhibition away, and with it the margin on
the chip. Bias and ``v_leak`` are zero, so the silent state is exactly silent on the chip too.

Time step 0.1 ms, zero reset, no refractory period: the defaults of ``neurocc compile``. Run
``python examples/temporal_memory/train.py`` (seed fixed: identical files every time); it writes
``model.nir`` and ``test.npz`` here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import training as tr  # noqa: E402

from neurocc.frontend.nir.writer import write_nir  # noqa: E402

SEED = 0
DT = 1e-4
STEPS = 300
PER_CUE = 8
CUE_STEPS = 20
CUE_HZ = 2000.0
FIRST_ONSET = (0, 30)        # steps: the first cue starts in [0, 30)
GAP = (100, 150)             # steps from the first cue's onset to the second's
HIDDEN = 32
TAU_MEM = 2e-3
TAU_SYN = 1e-3
CUE_FAN_IN = 8
RECURRENT_FAN_IN = 12
OUT_FAN_IN = 16
TRAIN, TEST = 512, 128
RECURRENT = "hidden->hidden"
TRAIN_NOISE = tr.Noise(synapse=0.3, gain=0.6, type_gain=0.4, tau=0.3)


def cue_trials(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples ``(n, STEPS, 2 * PER_CUE)`` bool (half of each class, shuffled), labels."""
    labels = rng.permutation(np.arange(n) % 2)
    x = np.zeros((n, STEPS, 2 * PER_CUE), bool)
    for k, label in enumerate(labels):
        first = rng.integers(*FIRST_ONSET)
        second = first + rng.integers(*GAP)
        for cue, onset in ((label, first), (1 - label, second)):
            burst = rng.random((CUE_STEPS, PER_CUE)) < CUE_HZ * DT
            x[k, onset:onset + CUE_STEPS, cue * PER_CUE:(cue + 1) * PER_CUE] = burst
    return x, labels


def model(rng: np.random.Generator) -> tr.Model:
    return tr.Model(
        dt=DT, inputs={"cues": 2 * PER_CUE},
        layers=(tr.Layer("hidden", HIDDEN, tau_mem=TAU_MEM, tau_syn=TAU_SYN),
                tr.Layer("out", 2, tau_mem=TAU_MEM, tau_syn=TAU_SYN)),
        connections=(
            tr.Connection("cues", "hidden", tr.random_mask(rng, HIDDEN, 2 * PER_CUE, CUE_FAN_IN)),
            tr.Connection("hidden", "hidden", tr.random_mask(rng, HIDDEN, HIDDEN,
                                                             RECURRENT_FAN_IN), delay=1),
            tr.Connection("hidden", "out", tr.random_mask(rng, 2, HIDDEN, OUT_FAN_IN))),
        output="out")


def flip_flop_weights(rng: np.random.Generator, net_model: tr.Model) -> tr.Arrays:
    """Initial weights: hidden group ``g`` (the first or second half) is driven by cue ``g``,
    excites itself, inhibits the other group and drives output ``g``; Gaussian spread on top."""
    group_of_hidden = np.arange(HIDDEN) // (HIDDEN // 2)
    group_of_cue = np.arange(2 * PER_CUE) // PER_CUE
    same = {"cues->hidden": group_of_hidden[:, None] == group_of_cue[None],
            RECURRENT: group_of_hidden[:, None] == group_of_hidden[None],
            "hidden->out": np.arange(2)[:, None] == group_of_hidden[None]}
    # (weight within the group, weight across groups, spread)
    levels = {"cues->hidden": (8.0, 0.0, 1.0), RECURRENT: (4.0, -4.0, 0.5),
              "hidden->out": (3.0, 0.0, 0.3)}
    out = {}
    for c in net_model.connections:
        own, other, spread = levels[c.name]
        w = np.where(same[c.name], own, other) + spread * rng.standard_normal(c.mask.shape)
        out[c.name] = jnp.asarray(w.astype(np.float32))
    return out


def without_recurrence(weights: tr.Arrays) -> tr.Arrays:
    """The same network with the recurrent weights zeroed (a feed-forward control)."""
    return {**weights, RECURRENT: jnp.zeros_like(weights[RECURRENT])}


def noisy_accuracy(net_model: tr.Model, weights: tr.Arrays, inputs: dict[str, np.ndarray],
                   labels: np.ndarray, draws: int = 4) -> float:
    """Mean accuracy over ``draws`` noisy runs with the training noise (fixed keys)."""
    return float(np.mean([tr.accuracy(net_model, weights, inputs, labels,
                                      key=jax.random.PRNGKey(1 + k), noise=TRAIN_NOISE)
                          for k in range(draws)]))


def main() -> None:
    rng = np.random.default_rng(SEED)
    x_train, y_train = cue_trials(rng, TRAIN)
    x_test, y_test = cue_trials(rng, TEST)
    net_model = model(rng)
    weights = flip_flop_weights(rng, net_model)
    test = {"cues": x_test}
    print(f"initial flip-flop: float accuracy {tr.accuracy(net_model, weights, test, y_test):.3f}, "
          f"with training noise {noisy_accuracy(net_model, weights, test, y_test):.3f}")
    weights, _ = tr.train(net_model, weights, {"cues": x_train}, y_train, steps=300, batch=32,
                          learning_rate=0.02, seed=SEED, noise=TRAIN_NOISE,
                          cfg=tr.LossConfig(count_scale=0.02, negative_v=0.0, rate=0.0))
    exact = tr.accuracy(net_model, weights, test, y_test)
    noisy = noisy_accuracy(net_model, weights, test, y_test)
    feed_forward = tr.accuracy(net_model, without_recurrence(weights), test, y_test)
    print(f"test accuracy: float {exact:.3f}, with training noise {noisy:.3f}, "
          f"recurrent weights zeroed {feed_forward:.3f}")
    write_nir(tr.to_network(net_model, weights, "temporal_memory"), HERE / "model.nir")
    np.savez_compressed(HERE / "test.npz", cues=x_test, labels=y_test)


if __name__ == "__main__":
    main()
