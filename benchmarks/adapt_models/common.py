"""Shared pieces of the adaptation-benchmark training scripts: data, rate code, determinism, files.

Every script trains the way its framework's tutorials do (the point of the benchmark: users do
not train for the chip); only the data and the file format are shared here so that all models
see the same digits and write the same ``.npz`` layout that ``neurocc verify --inputs`` reads:
one ``(batch, T, size)`` bool spike array per NIR Input node, named as the node, plus ``labels``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import nir
import numpy as np
import torch
from sklearn.datasets import load_digits

SEED = 0
STEPS = 100
TEST = 360  # 20% of sklearn's 1,797 digits held out


def seed_everything(seed: int = SEED) -> None:
    """Fix every random source and force deterministic torch kernels on one CPU thread."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def digits(pool: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits as intensities in [0, 1], seeded split: x_train, y_train, x_test, y_test.

    ``pool=2`` averages 2x2 pixel blocks (16 inputs) for networks whose CAM fan-in must stay small.
    """
    data = load_digits()
    images = data.images / 16.0
    if pool > 1:
        n, h, w = images.shape
        images = images.reshape(n, h // pool, pool, w // pool, pool).mean(axis=(2, 4))
    x = images.reshape(len(images), -1).astype(np.float32)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], data.target[order].astype(np.int64)
    return x[TEST:], y[TEST:], x[:TEST], y[:TEST]


def rate_code(x: np.ndarray, seed: int, steps: int = STEPS) -> np.ndarray:
    """Bernoulli rate code as ``snntorch.spikegen.rate``: P(spike per step) = intensity.

    Drawn once with a seeded numpy generator, so the spike trains written to the ``.npz`` are the
    ones the float accuracy was measured on.
    """
    rng = np.random.default_rng(seed)
    return rng.random((x.shape[0], steps, x.shape[1])) < x[:, None, :]


def input_names(graph: nir.NIRGraph) -> list[str]:
    """Names of the graph's Input nodes (the ``.npz`` keys neurocc expects)."""
    return sorted(k for k, v in graph.nodes.items() if isinstance(v, nir.Input))


def save(out: Path, name: str, graph: nir.NIRGraph, spikes: dict[str, np.ndarray],
         labels: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``NAME.nir``, ``NAME_train.npz``, ``NAME_test.npz`` and ``NAME.json`` (float accuracy,
    training settings) into ``out``; the npz key of the spikes is the graph's one Input node."""
    (key,) = input_names(graph)
    nir.write(out / f"{name}.nir", graph)
    for split in ("train", "test"):
        np.savez_compressed(out / f"{name}_{split}.npz", **{key: spikes[split]},
                            labels=labels[split])
    (out / f"{name}.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def versions(*modules) -> dict[str, str]:
    """Library versions recorded beside each model."""
    out = {"numpy": np.__version__, "torch": torch.__version__, "nir": nir.version}
    out.update({m.__name__: m.__version__ for m in modules})
    return out
