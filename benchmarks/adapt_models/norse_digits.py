"""Norse 1.1 digits classifier with Norse's defaults: 64 -> 32 LIFBoxCell -> 10 LIFBoxCell.

The same digits and rate code as ``snntorch_digits.py``; ``norse.torch.SequentialState`` of
``nn.Linear`` (default bias) and ``LIFBoxCell`` with the default ``LIFBoxParameters`` values
(tau_mem 10 ms, v_th 1, v_leak 0, reset to v_reset = 0, SuperSpike surrogate) at Norse's default
dt = 1 ms; cross-entropy on the output spike counts, Adam (lr 1e-2); exported with
``norse.torch.to_nir`` (default dt = 1e-3). Norse is not a neurocc dependency: install it into your
own environment (``pip install norse==1.1.0``). Writes ``norse_digits.{nir,json}`` and
``norse_digits_{train,test}.npz``. Run ``python benchmarks/adapt_models/norse_digits.py``.
"""

from __future__ import annotations

from pathlib import Path

import nirtorch
import norse
import norse.torch as nt
import numpy as np
import torch

import common

HERE = Path(__file__).resolve().parent
EPOCHS = 30
LR = 1e-2
BATCH = 64


def lif_box(size: int) -> nt.LIFBoxCell:
    """``LIFBoxCell()`` with its default parameters held per neuron.

    The scalar defaults export 0-d NIR parameters that ``nir.write`` (nir 1.0.8) cannot store
    ("TypeError: Scalar datasets don't support chunk/filter options"); per-neuron tensors of the
    same values are the same neuron.
    """
    p = nt.LIFBoxParameters()
    return nt.LIFBoxCell(nt.LIFBoxParameters(
        tau_mem_inv=torch.full((size,), float(p.tau_mem_inv)),
        v_leak=torch.full((size,), float(p.v_leak)), v_th=torch.full((size,), float(p.v_th)),
        v_reset=torch.full((size,), float(p.v_reset))))


def network() -> nt.SequentialState:
    return nt.SequentialState(torch.nn.Linear(64, 32), lif_box(32),
                              torch.nn.Linear(32, 10), lif_box(10))


def counts(net: nt.SequentialState, x: torch.Tensor) -> torch.Tensor:
    """Output spike counts (batch, 10) of ``x`` (batch, T, 64), stepped with Norse's state."""
    state, total = None, 0.0
    for t in range(x.shape[1]):
        out, state = net(x[:, t], state)
        total = total + out
    return total


def accuracy(net: nt.SequentialState, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        c = counts(net, torch.as_tensor(x, dtype=torch.float32))
    return float((c.argmax(1).numpy() == y).mean())


def train(net: nt.SequentialState, x: np.ndarray, y: np.ndarray) -> list[float]:
    optimiser = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(common.SEED)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    history = []
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), BATCH):
            idx = order[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(counts(net, xt[idx]), yt[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(xt))
    return history


def main() -> None:
    common.seed_everything()
    x_train, y_train, x_test, y_test = common.digits()
    spikes = {"train": common.rate_code(x_train, 1), "test": common.rate_code(x_test, 2)}
    net = network()
    losses = train(net, spikes["train"], y_train)
    acc = accuracy(net, spikes["test"], y_test)
    print(f"float test accuracy {acc:.3f}")
    graph = nt.to_nir(net, torch.zeros(64))
    meta = {"float_test_accuracy": acc, "train_loss": losses, "epochs": EPOCHS, "lr": LR,
            "batch": BATCH, "dt_training": 1e-3, "versions": common.versions(norse, nirtorch)}
    common.save(HERE, "norse_digits", graph, spikes, {"train": y_train, "test": y_test}, meta)
    print(f"wrote norse_digits, inputs {common.input_names(graph)}")


if __name__ == "__main__":
    main()
