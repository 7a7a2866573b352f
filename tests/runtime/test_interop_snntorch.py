"""snnTorch models, exported to NIR and read back, spike exactly as snnTorch runs them.

Both sides compute in float64 (``model.double()``; the simulator with ``dtype=float64`` under
``jax.enable_x64``), so that the different order of the same arithmetic (snnTorch: ``beta * mem +
W s`` with threshold ``thr``; the IR: threshold-normalised Euler steps) cannot turn a near tie
into a different spike. snnTorch is stepped one time step at a time, as its users do.

What snnTorch 1.0's neurons do (read from its source), and how it maps to the IR:

* ``Leaky`` with ``reset_mechanism="zero"``: a spike at step t (``mem > thr``) zeroes ``mem``
  before the update of step t+1, so ``mem[t+1] = input[t+1]``: exactly the IR's immediate reset.
* ``Synaptic``, ``RLeaky`` and ``RSynaptic`` with ``"zero"`` zero the *whole* updated membrane at
  step t+1 (``mem[t+1] = 0``, the synaptic current keeps integrating): the IR's zero reset plus a
  one-step refractory period, hence ``LoadOptions(refractory=dt)`` for those models.
* Recurrent layers use the previous step's spikes: the reader's delay-1 back edge.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")  # snntorch.export_to_nir needs it

import jax  # noqa: E402

from neurocc.frontend.load import LoadOptions  # noqa: E402
from neurocc.runtime.reference import simulate  # noqa: E402

pytestmark = [
    pytest.mark.interop,
    # snnTorch 1.0 still calls nirtorch's old export entry point.
    pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated"),
]

DT = 1e-4
N_IN, N_HID, N_OUT = 6, 10, 4


def _vec(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


class TwoLayer(torch.nn.Module):
    """Linear -> neuron -> Linear -> neuron; the neuron kinds are given by the test."""

    def __init__(self, hidden: torch.nn.Module, out: torch.nn.Module, gen: torch.Generator):
        super().__init__()
        self.fc1 = torch.nn.Linear(N_IN, N_HID)
        self.lif1 = hidden
        self.fc2 = torch.nn.Linear(N_HID, N_OUT)
        self.lif2 = out
        with torch.no_grad():  # strong enough weights that both layers fire often
            self.fc1.weight.copy_(torch.randn(N_HID, N_IN, generator=gen) * 0.8 + 0.3)
            self.fc1.bias.copy_(torch.randn(N_HID, generator=gen) * 0.05)
            self.fc2.weight.copy_(torch.randn(N_OUT, N_HID, generator=gen) * 0.6 + 0.2)
            self.fc2.bias.copy_(torch.randn(N_OUT, generator=gen) * 0.05)

    def forward(self, x):
        """One time step: snnTorch neurons keep their state between calls and return
        ``(spikes, *states)``, spikes as float32 whatever the model's dtype."""
        hidden = self.lif1(self.fc1(x))[0].to(x.dtype)
        return self.lif2(self.fc2(hidden))[0], hidden


def leaky(n: int, gen: torch.Generator) -> torch.nn.Module:
    return snn.Leaky(beta=_vec(n, 0.7, 0.95, gen), threshold=_vec(n, 0.5, 1.5, gen),
                     reset_mechanism="zero")


def synaptic(n: int, gen: torch.Generator) -> torch.nn.Module:
    return snn.Synaptic(alpha=_vec(n, 0.5, 0.9, gen), beta=_vec(n, 0.7, 0.95, gen),
                        threshold=_vec(n, 0.5, 1.5, gen), reset_mechanism="zero")


def rleaky(n: int, gen: torch.Generator) -> torch.nn.Module:
    layer = snn.RLeaky(beta=_vec(n, 0.7, 0.95, gen), threshold=_vec(n, 0.5, 1.5, gen),
                       linear_features=n, reset_mechanism="zero")
    with torch.no_grad():
        layer.recurrent.weight.copy_(torch.randn(n, n, generator=gen) * 0.5)
        layer.recurrent.bias.copy_(torch.randn(n, generator=gen) * 0.05)
    return layer


def rsynaptic(n: int, gen: torch.Generator) -> torch.nn.Module:
    layer = snn.RSynaptic(alpha=_vec(n, 0.5, 0.9, gen), beta=_vec(n, 0.7, 0.95, gen),
                          threshold=_vec(n, 0.5, 1.5, gen), linear_features=n,
                          reset_mechanism="zero")
    with torch.no_grad():
        layer.recurrent.weight.copy_(torch.randn(n, n, generator=gen) * 0.3)
        layer.recurrent.bias.copy_(torch.zeros(n))
    return layer


def run_snntorch(model: torch.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step the model through ``x`` (batch, T, N_IN): (hidden, output) spikes (batch, T, n).

    snnTorch's recurrent layers keep their last spikes as float32 (exact 0/1) and feed them to
    their float64 recurrent Linear, which torch refuses; they are cast after every step.
    """
    neurons = [m for m in model.modules() if isinstance(m, snn.SpikingNeuron)]
    for module in neurons:
        module.reset_mem()
    hidden, out = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            spk_out, spk_hid = model(torch.as_tensor(x[:, t], dtype=torch.float64))
            for module in neurons:
                if isinstance(module, (snn.RLeaky, snn.RSynaptic)):
                    module.spk = module.spk.to(torch.float64)
            hidden.append(spk_hid.numpy())
            out.append(spk_out.numpy())
    return np.stack(hidden, axis=1).astype(bool), np.stack(out, axis=1).astype(bool)


def export_and_read(model: torch.nn.Module, tmp_path, options: LoadOptions):
    from neurocc.frontend.nir.reader import read_nir
    from snntorch.export_nir import export_to_nir

    graph = export_to_nir(model.float(), torch.zeros(1, N_IN), ignore_dims=[0])
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    model.double()
    return read_nir(path, options)


BUILDERS = {
    "leaky": (lambda g: leaky(N_HID, g), lambda g: leaky(N_OUT, g), 0.0),
    "synaptic": (lambda g: synaptic(N_HID, g), lambda g: synaptic(N_OUT, g), DT),
    "rleaky": (lambda g: rleaky(N_HID, g), lambda g: synaptic(N_OUT, g), DT),
    "rsynaptic": (lambda g: rsynaptic(N_HID, g), lambda g: synaptic(N_OUT, g), DT),
}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_exported_snntorch_model_spikes_like_snntorch(kind, tmp_path):
    gen = torch.Generator().manual_seed(1234)
    make_hidden, make_out, refractory = BUILDERS[kind]
    model = TwoLayer(make_hidden(gen), make_out(gen), gen)
    net = export_and_read(model, tmp_path, LoadOptions(dt=DT, reset="zero", refractory=refractory))

    rng = np.random.default_rng(99)
    x = rng.random((3, 120, N_IN)) < 0.3
    want_hidden, want_out = run_snntorch(model, x)
    with jax.enable_x64(True):
        result = simulate(net, x, dtype=np.float64)

    (out_name,) = net.outputs
    hidden_name = next(name for name, pop in net.populations.items()
                       if pop.spiking and not pop.is_input and pop.size == N_HID)
    got_out = np.asarray(result.outputs[out_name])
    got_hidden = np.asarray(result.spikes[hidden_name])
    assert want_hidden.mean() > 0.05 and want_out.mean() > 0.05  # both layers are active
    np.testing.assert_array_equal(got_hidden, want_hidden)
    np.testing.assert_array_equal(got_out, want_out)


def test_synaptic_zero_reset_needs_the_one_step_hold(tmp_path):
    """Without the refractory step the IR's plain zero reset lets the membrane integrate in the
    step after a spike, which snnTorch's Synaptic does not: the trains differ."""
    gen = torch.Generator().manual_seed(1234)
    model = TwoLayer(synaptic(N_HID, gen), synaptic(N_OUT, gen), gen)
    net = export_and_read(model, tmp_path, LoadOptions(dt=DT, reset="zero"))
    x = np.random.default_rng(99).random((3, 120, N_IN)) < 0.3
    _, want_out = run_snntorch(model, x)
    with jax.enable_x64(True):
        got = np.asarray(simulate(net, x, dtype=np.float64).outputs[net.outputs[0]])
    assert not np.array_equal(got, want_out)
