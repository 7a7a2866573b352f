"""A 2,560-neuron snnTorch network with learnt per-neuron time constants: 64 -> 2,550 -> 10 Leaky.

The digits of ``snntorch_digits.py``; every ``snn.Leaky`` has a per-neuron ``beta`` drawn from a
seeded uniform range and learnt (``learn_beta=True``), so the exported taus are all different, as
in a user's network that learns its time constants. Each output neuron listens to 64 random
hidden neurons (a fixed mask on the readout weights) so that the CAM fan-in fits and compiling
meets the parameter classes rather than the CAM. Three epochs of Adam (lr 2e-3) on
``ce_rate_loss``: the accuracy is not the point, heterogeneous parameters are. Writes
``snntorch_pertau.{nir,json}`` and ``snntorch_pertau_{train,test}.npz``.
"""

from __future__ import annotations


import snntorch as snn
import torch

import snntorch_training as st

HIDDEN = 2550
READOUT_FAN_IN = 64
EPOCHS = 3
LR = 2e-3
BATCH = 64


def leaky(size: int, **kwargs) -> snn.Leaky:
    beta = 0.8 + 0.19 * torch.rand(size)
    return snn.Leaky(beta=beta, threshold=torch.ones(size), learn_beta=True, init_hidden=True,
                     **kwargs)


def readout_mask() -> torch.Tensor:
    """(10, HIDDEN) 0/1 mask: each output keeps READOUT_FAN_IN random hidden neurons."""
    mask = torch.zeros(10, HIDDEN)
    for row in mask:
        row[torch.randperm(HIDDEN)[:READOUT_FAN_IN]] = 1.0
    return mask


def network() -> torch.nn.Sequential:
    readout = torch.nn.Linear(HIDDEN, 10)
    mask = readout_mask()
    with torch.no_grad():
        readout.weight.mul_(mask)
    readout.weight.register_hook(lambda grad: grad * mask)  # masked entries stay exactly 0
    return torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), leaky(HIDDEN), readout,
                               leaky(10, output=True))


def main() -> None:
    st.train_and_save("snntorch_pertau", network, inputs=64, epochs=EPOCHS, lr=LR, batch=BATCH)


if __name__ == "__main__":
    main()
