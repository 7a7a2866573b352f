"""snnTorch digits classifier trained as snnTorch's tutorials do: 64 -> 32 Leaky -> 10 Leaky.

sklearn 8x8 digits, rate coded over 100 steps (P(spike) = intensity), ``nn.Linear`` with its
default bias, ``snn.Leaky(beta=0.95)`` with snnTorch's defaults (threshold 1, subtract reset,
fast-sigmoid surrogate), Adam (lr 2e-3), ``ce_rate_loss``; exported with
``snntorch.export_nir.export_to_nir`` (beta and threshold
as per-neuron tensors of equal values: see ``snntorch_training.leaky_parameters``). Writes ``snntorch_digits.{nir,json}`` and ``snntorch_digits_{train,test}.npz``.
Run ``python benchmarks/adapt_models/snntorch_digits.py`` (seeded, deterministic, CPU).
"""

from __future__ import annotations


import snntorch as snn
import torch

import snntorch_training as st

BETA = 0.95
EPOCHS = 30
LR = 2e-3
BATCH = 64


def network() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 32), snn.Leaky(**st.leaky_parameters(32, BETA), init_hidden=True),
        torch.nn.Linear(32, 10),
        snn.Leaky(**st.leaky_parameters(10, BETA), init_hidden=True, output=True))


def main() -> None:
    st.train_and_save("snntorch_digits", network, inputs=64, epochs=EPOCHS, lr=LR, batch=BATCH,
                       meta={"beta": BETA})


if __name__ == "__main__":
    main()
