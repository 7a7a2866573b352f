"""Write examples/tiny_inputs.npz: labelled two-class spike trains for examples/tiny.ncl.

Channels 0-3 carry evidence for class 0, channels 4-7 for class 1 (10% spike probability per
1 ms step), with 1% background on every channel. 16 samples of 300 steps, seed 0.
"""

from pathlib import Path

import numpy as np


def two_class_inputs(samples: int = 16, steps: int = 300, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    half = samples // 2
    x = np.zeros((samples, steps, 8), bool)
    x[:half, :, :4] = rng.random((half, steps, 4)) < 0.1
    x[half:, :, 4:] = rng.random((samples - half, steps, 4)) < 0.1
    x |= rng.random(x.shape) < 0.01
    return x, np.array([0] * half + [1] * (samples - half))


if __name__ == "__main__":
    spikes, labels = two_class_inputs()
    np.savez_compressed(Path(__file__).with_name("tiny_inputs.npz"), spikes=spikes, labels=labels)
