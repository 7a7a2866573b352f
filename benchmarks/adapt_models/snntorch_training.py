"""The snnTorch training loop of its tutorials (5 and 6), shared by the snnTorch scripts.

``nn.Sequential`` of ``Linear`` and snnTorch neurons built with ``init_hidden=True`` (the form
``snntorch.export_nir.export_to_nir`` traces), stepped over time, loss ``snntorch.functional.ce_rate_loss``
on the output spikes, Adam; accuracy is the class with the most output spikes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import nirtorch
import numpy as np
import snntorch as snn
import torch
from snntorch import functional as SF
from snntorch import utils

import common

HERE = Path(__file__).resolve().parent


def output_spikes(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run ``x`` of shape (batch, T, inputs) step by step; output spikes of shape (T, batch, out)."""
    utils.reset(net)
    detach_state(net)
    record = []
    for t in range(x.shape[1]):
        out = net(x[:, t])
        record.append(out[0] if isinstance(out, tuple) else out)
    return torch.stack(record)


def detach_state(net: torch.nn.Module) -> None:
    """Cut the hidden state off the previous batch's graph.

    ``utils.reset`` leaves RSynaptic's recurrent spike state attached to the last graph, so the
    next ``backward`` fails with "Trying to backward through the graph a second time".
    """
    for module in net.modules():
        for name in ("spk", "syn", "mem"):
            value = getattr(module, name, None)
            if isinstance(value, torch.Tensor) and value.requires_grad:
                setattr(module, name, value.detach())


def clamp_decays(net: torch.nn.Module, high: float = 0.999) -> None:
    """Keep learnt ``alpha``/``beta`` in [0, high] after every step.

    snnTorch's forward clamps them to [0, 1], but ``export_to_nir`` writes the raw parameter, and a
    learnt beta above 1 becomes tau = dt / (1 - beta) < 0 in the NIR file (neurocc refuses it:
    "time constant ... is not positive", fix "constrain the trained parameters"). ``high`` < 1 keeps
    tau finite.
    """
    with torch.no_grad():
        for module in net.modules():
            for name in ("alpha", "beta"):
                value = getattr(module, name, None)
                if isinstance(value, torch.nn.Parameter):
                    value.clamp_(0.0, high)


def accuracy(net: torch.nn.Sequential, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Fraction of samples whose most-spiking output is the label (ties: lowest index)."""
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            counts = output_spikes(net, torch.as_tensor(x[i:i + batch], dtype=torch.float32)).sum(0)
            correct += int((counts.argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def train(net: torch.nn.Sequential, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
          batch: int, seed: int) -> list[float]:
    """Adam on ``ce_rate_loss``; shuffles with a seeded generator. Returns the loss per epoch."""
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
    loss_fn = SF.ce_rate_loss()
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i:i + batch]
            loss = loss_fn(output_spikes(net, xt[idx]), yt[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            clamp_decays(net)
            total += float(loss.detach()) * len(idx)
        history.append(total / len(xt))
    return history


def leaky_parameters(size: int, beta: float) -> dict[str, torch.Tensor]:
    """``beta`` and ``threshold`` (snnTorch's default 1.0) as per-neuron tensors of equal values.

    The same neuron as the scalar ``snn.Leaky(beta=beta)`` of the tutorials, which snnTorch
    1.0.0's exporter cannot write with nir 1.0.8: a scalar beta gives 0-d parameters and
    ``infer_types`` fails ("type mismatch: 0.output: [[32]] -> 1.input: []"); a vector beta with a
    scalar threshold fails with "All parameters must have the same shape".
    """
    return {"beta": torch.full((size,), beta), "threshold": torch.ones(size)}


def export(net: torch.nn.Sequential, inputs: int):
    """``export_to_nir`` on a (1, inputs) sample; ``ignore_dims=[0]`` drops the batch dimension,
    without which snnTorch 1.0.0 + nirtorch 2.6 fail with "type mismatch: input.output: [[1 64]]"."""
    from snntorch.export_nir import export_to_nir
    return export_to_nir(net, torch.zeros(1, inputs), ignore_dims=[0])


def train_and_save(name: str, network: Callable[[], torch.nn.Sequential], *, inputs: int,
                   epochs: int, lr: float, batch: int, pool: int = 1,
                   meta: dict[str, Any] | None = None) -> None:
    """The whole script of one snnTorch model: seed, data (digits pooled ``pool`` x ``pool``),
    build (after seeding), train, test, export and write ``NAME.*`` beside this file."""
    common.seed_everything()
    x_train, y_train, x_test, y_test = common.digits(pool=pool)
    spikes = {"train": common.rate_code(x_train, 1), "test": common.rate_code(x_test, 2)}
    net = network()
    losses = train(net, spikes["train"], y_train, epochs=epochs, lr=lr, batch=batch,
                   seed=common.SEED)
    acc = accuracy(net, spikes["test"], y_test)
    print(f"float test accuracy {acc:.3f}")
    graph = export(net, inputs)
    record = {"float_test_accuracy": acc, "train_loss": losses, "epochs": epochs, "lr": lr,
              "batch": batch, **(meta or {}), "versions": common.versions(snn, nirtorch)}
    common.save(HERE, name, graph, spikes, {"train": y_train, "test": y_test}, record)
    print(f"wrote {name}, inputs {common.input_names(graph)}")
