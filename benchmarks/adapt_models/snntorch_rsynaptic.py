"""A 33-neuron snnTorch RSynaptic network: 16 -> 23 RSynaptic (all-to-all recurrent) -> 10 Synaptic.

The digits pooled to 4x4 (16 inputs, so that 16 + 23 inputs per hidden neuron fit a 64-entry
CAM), rate coded over 100 steps. Per-neuron synaptic and membrane decays (``alpha``, ``beta``)
drawn from a seeded uniform range and learnt (``learn_alpha=True, learn_beta=True``), as a user
tuning time constants would, so the exported CubaLIF parameters differ from neuron to neuron;
otherwise snnTorch's defaults (threshold 1, subtract reset, Linear bias), Adam (lr 2e-3),
``ce_rate_loss``, ``export_to_nir``. Writes ``snntorch_rsynaptic.{nir,json}`` and
``snntorch_rsynaptic_{train,test}.npz``.
"""

from __future__ import annotations


import snntorch as snn
import torch

import snntorch_training as st

HIDDEN = 23
EPOCHS = 20
LR = 2e-3
BATCH = 64


def decays(size: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(size)


def network() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(16, HIDDEN),
        snn.RSynaptic(alpha=decays(HIDDEN, 0.6, 0.9), beta=decays(HIDDEN, 0.85, 0.97),
                      threshold=torch.ones(HIDDEN), linear_features=HIDDEN, learn_alpha=True,
                      learn_beta=True, init_hidden=True),
        torch.nn.Linear(HIDDEN, 10),
        snn.Synaptic(alpha=decays(10, 0.6, 0.9), beta=decays(10, 0.85, 0.97),
                     threshold=torch.ones(10), learn_alpha=True, learn_beta=True,
                     init_hidden=True, output=True))


def main() -> None:
    st.train_and_save("snntorch_rsynaptic", network, inputs=16, epochs=EPOCHS, lr=LR, batch=BATCH, pool=2)


if __name__ == "__main__":
    main()
