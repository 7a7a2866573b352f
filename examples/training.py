"""Hardware-aware training of small CubaLIF networks in JAX, for the worked examples.

The forward pass is the IR's update (``neurocc.compiler.ir``) for the one model the examples use,
CubaLIF with zero reset, no refractory period, ``v_leak = 0`` and no bias:

    x = sum of incoming projections (spikes @ W.T), delay 0 or 1 step
    i += dt/tau_syn * (x - i);  v += dt/tau_mem * (0 - v + i);  spike if v > 1;  v := 0 on a spike

written with the same float32 operations in the same order as
``neurocc.runtime.reference.simulate``, so that without noise the two give identical spikes
(``tests/test_examples.py`` asserts it). CubaLIF is what the chip's DPI neuron implements; a zero
bias and zero ``v_leak`` are what it realises best (no DC drive to match).

Training differs from that exact pass only by the chip's imperfections, drawn afresh for every
sample (every sample sees another "chip"): multiplicative Gaussian noise on every synapse, on each
neuron's excitatory and inhibitory input gain (threshold, membrane and synapse gains all scale the
input) and on each neuron's two time constants. The backward pass replaces the spike's step by a
fast-sigmoid surrogate. A penalty on negative membrane values keeps the float network in the range
the chip can follow (the DPI membrane cannot go below zero).

Projections carry a fixed 0/1 mask (the trained weight is ``w * mask``) so that every neuron's
fan-in is hardware-legal: DYNAP-SE1 repeats CAM entries to express a weight and has 64 per
neuron, so a small fan-in leaves room for several levels per synapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.sparse as sp

from neurocc.compiler.errors import InvalidModelError
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.frontend.nir.writer import write_nir

Arrays = dict[str, jax.Array]


@dataclass(frozen=True)
class Layer:
    """A CubaLIF population; time constants in seconds."""

    name: str
    size: int
    tau_mem: float
    tau_syn: float


@dataclass(frozen=True, eq=False)
class Connection:
    """A projection ``source -> target`` with a fixed ``(target, source)`` 0/1 mask."""

    source: str
    target: str
    mask: np.ndarray
    delay: int = 0

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass(frozen=True, eq=False)
class Model:
    """Inputs (name -> size), layers in update order, connections, and the output layer.

    Every delay-0 connection must go from an input or an earlier layer to a later one; delay-1
    connections may go anywhere (recurrence). At most two connections may reach a layer, so that
    the float sum of its inputs does not depend on their order. ``output_classes`` (optional)
    maps each output neuron to its class: a population readout, the class's count is the sum
    over its neurons (``neurocc verify`` reads the same map from the inputs file).
    """

    dt: float
    inputs: Mapping[str, int]
    layers: tuple[Layer, ...]
    connections: tuple[Connection, ...]
    output: str
    output_classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        sizes = {**self.inputs, **{layer.name: layer.size for layer in self.layers}}
        order = list(self.inputs) + [layer.name for layer in self.layers]
        for c in self.connections:
            where = f"connection {c.name}"
            if c.source not in sizes or c.target not in sizes or c.target in self.inputs:
                raise InvalidModelError("names an unknown population or targets an input",
                                        where=where, fix=f"use populations {order}")
            if c.mask.shape != (sizes[c.target], sizes[c.source]):
                raise InvalidModelError(f"mask has shape {c.mask.shape}, expected "
                                        f"{(sizes[c.target], sizes[c.source])}", where=where)
            if c.delay not in (0, 1):
                raise InvalidModelError(f"delay {c.delay}", where=where,
                                        fix="NIR expresses only delays 0 and 1")
            if c.delay == 0 and order.index(c.source) >= order.index(c.target):
                raise InvalidModelError("delay-0 connection against the layer order",
                                        where=where, fix="give recurrent connections delay 1")
        for layer in self.layers:
            if sum(c.target == layer.name for c in self.connections) > 2:
                raise InvalidModelError("more than two incoming connections",
                                        where=f"layer {layer.name}")
        if self.output not in sizes:
            raise InvalidModelError(f"output {self.output!r} is not a layer", where="model")
        classes = self.output_classes
        if classes is not None and (np.shape(classes) != (sizes[self.output],) or set(
                np.asarray(classes).tolist()) != set(range(int(np.max(classes)) + 1))):
            raise InvalidModelError("output_classes must give each output neuron a class, "
                                    "using every class from 0 up", where="model")

    def incoming(self, name: str) -> list[Connection]:
        return [c for c in self.connections if c.target == name]

    def class_counts(self, spikes: jax.Array) -> jax.Array:
        """Output spikes ``(batch, T, size)`` -> spikes per class ``(batch, classes)``."""
        counts = spikes.sum(axis=1)
        if self.output_classes is None:
            return counts
        classes = np.asarray(self.output_classes)
        return counts @ jnp.asarray(classes[:, None] == np.arange(classes.max() + 1)[None],
                                    counts.dtype)

    def decay(self, layer: Layer) -> tuple[np.float32, np.float32]:
        """``dt/tau_mem``, ``dt/tau_syn`` formed in float64 and cast, as the reference does."""
        return np.float32(self.dt / layer.tau_mem), np.float32(self.dt / layer.tau_syn)


@dataclass(frozen=True)
class Noise:
    """Relative standard deviations of the chip imperfections simulated in training.

    On the chip a weight's effect on the membrane scales with several per-neuron currents: the
    membrane gain over its leak current, over the threshold current, times the pulse width (four
    currents, each with the 20% mismatch: ``gain`` ~ 0.4 together) and with the synapse type's
    gain over its leak current (two more: ``type_gain`` ~ 0.28, drawn per type). These are drawn
    log-normally (products and quotients of currents); ``synapse`` (each weight current) and
    ``tau`` (each neuron's two time constants) are drawn as ``1 + s z``.
    """

    synapse: float = 0.2
    gain: float = 0.4
    type_gain: float = 0.28
    tau: float = 0.2


def random_mask(rng: np.random.Generator, targets: int, sources: int, fan_in: int) -> np.ndarray:
    """A ``(targets, sources)`` mask with exactly ``fan_in`` distinct sources per target."""
    mask = np.zeros((targets, sources), np.float32)
    for row in mask:
        row[rng.choice(sources, size=min(fan_in, sources), replace=False)] = 1.0
    return mask


def init_weights(model: Model, rng: np.random.Generator,
                 scale: Mapping[str, tuple[float, float]]) -> Arrays:
    """Gaussian weights ``mean + std * z`` per connection (``scale[name] = (mean, std)``)."""
    out = {}
    for c in model.connections:
        mean, std = scale[c.name]
        w = mean + std * rng.standard_normal(c.mask.shape)
        out[c.name] = jnp.asarray(w.astype(np.float32))
    return out


def effective_weights(model: Model, weights: Arrays) -> Arrays:
    """The weights the network really has: trained values times the masks."""
    return {c.name: weights[c.name] * jnp.asarray(c.mask) for c in model.connections}


@jax.custom_jvp
def spike_fn(v: jax.Array) -> jax.Array:
    """``v > 1`` as 0/1; the derivative is the fast sigmoid ``1 / (1 + 10 |v - 1|)^2``."""
    return (v > 1).astype(v.dtype)


@spike_fn.defjvp
def _spike_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]
               ) -> tuple[jax.Array, jax.Array]:
    (v,), (dv,) = primals, tangents
    return spike_fn(v), dv / (1.0 + 10.0 * jnp.abs(v - 1.0)) ** 2


def _chip_draw(model: Model, key: jax.Array, batch: int, noise: Noise,
               chips: int | None = None) -> dict[str, Arrays]:
    """Per sample: synapse factors per connection, gain and time-constant factors per layer.

    With ``chips``, ``chips`` draws each shared by ``batch / chips`` consecutive samples (the
    structure of a verification: every chip sees every input)."""
    draws: dict[str, Arrays] = {"synapse": {}, "layer": {}}
    keys = jax.random.split(key, len(model.connections) + len(model.layers))
    n = batch if chips is None else chips

    def share(a: jax.Array, axis: int) -> jax.Array:
        return a if chips is None else jnp.repeat(a, batch // chips, axis=axis)

    for k, c in zip(keys, model.connections):
        z = jax.random.normal(k, (n, *c.mask.shape))
        draws["synapse"][c.name] = share(jnp.maximum(1.0 + noise.synapse * z, 0.0), 0)
    for k, layer in zip(keys[len(model.connections):], model.layers):
        z = jax.random.normal(k, (5, n, layer.size))
        draws["layer"][layer.name] = share(jnp.concatenate([
            jnp.exp(noise.gain * z[:1] + noise.type_gain * z[1:3]),  # excitatory, inhibitory gain
            jnp.clip(1.0 + noise.tau * z[3:], 0.5, 1.5)]), 1)        # 1/tau_mem, 1/tau_syn
    return draws


def run(model: Model, weights: Arrays, inputs: Mapping[str, jax.Array], *,
        key: jax.Array | None = None, noise: Noise = Noise(), chips: int | None = None
        ) -> tuple[Arrays, Arrays]:
    """Simulate ``model``; ``inputs``: per input ``(batch, T, size)`` 0/1 arrays.

    Without ``key`` this is the IR's exact update. With ``key`` every sample gets its own draw of
    the chip imperfections in ``noise``, or with ``chips`` (dividing the batch) each run of
    ``batch / chips`` consecutive samples shares one. Returns spikes and membrane values per
    layer, each ``(batch, T, size)``.
    """
    w = effective_weights(model, weights)
    first = next(iter(inputs.values()))
    batch, steps = first.shape[0], first.shape[1]
    if chips is not None and (chips < 1 or batch % chips):
        raise InvalidModelError(f"{chips} chips do not divide a batch of {batch}", where="run")
    draws = None if key is None else _chip_draw(model, key, batch, noise, chips)
    if draws is not None:
        for c in model.connections:
            gains = draws["layer"][c.target]
            sign_gain = jnp.where(w[c.name][None] > 0, gains[0][:, :, None], gains[1][:, :, None])
            w[c.name] = w[c.name][None] * draws["synapse"][c.name] * sign_gain
    decays = {layer.name: model.decay(layer) for layer in model.layers}

    def weighted(c: Connection, s: jax.Array) -> jax.Array:
        if draws is None:
            return jnp.matmul(s, w[c.name].T, precision=jax.lax.Precision.HIGHEST)
        return jnp.einsum("bs,bts->bt", s, w[c.name], precision=jax.lax.Precision.HIGHEST)

    def step(carry: tuple[Arrays, Arrays, Arrays], external: Arrays
             ) -> tuple[tuple[Arrays, Arrays, Arrays], tuple[Arrays, Arrays]]:
        i_syn, v_mem, previous = carry
        now = dict(external)
        new_i, new_v = {}, {}
        for layer in model.layers:
            x = jnp.zeros((batch, layer.size), jnp.float32)
            for c in model.incoming(layer.name):
                x = x + weighted(c, previous[c.source] if c.delay else now[c.source])
            a_mem, a_syn = decays[layer.name]
            if draws is not None:
                a_mem = a_mem * draws["layer"][layer.name][2]
                a_syn = a_syn * draws["layer"][layer.name][3]
            i = i_syn[layer.name] + a_syn * (x - i_syn[layer.name])
            v = v_mem[layer.name] + a_mem * (0.0 - v_mem[layer.name] + i)
            now[layer.name] = spike = spike_fn(v)
            new_i[layer.name] = i
            new_v[layer.name] = jnp.where(spike > 0, 0.0, v)
        spikes = {layer.name: now[layer.name] for layer in model.layers}
        return (new_i, new_v, spikes), (spikes, new_v)

    zeros = {layer.name: jnp.zeros((batch, layer.size), jnp.float32) for layer in model.layers}
    xs = {name: jnp.swapaxes(jnp.asarray(x, jnp.float32), 0, 1) for name, x in inputs.items()}
    _, (spikes, v) = jax.lax.scan(step, (zeros, zeros, zeros), xs, length=steps)
    swap = lambda d: {k: jnp.swapaxes(a, 0, 1) for k, a in d.items()}  # noqa: E731
    return swap(spikes), swap(v)


@dataclass(frozen=True)
class LossConfig:
    """Cross-entropy on ``count_scale * output spike counts``, plus penalties on negative
    membrane values (mean squared) and on the mean firing probability per step of every layer.

    ``target`` > 0 adds a per-neuron term (weight ``target_weight``): every output neuron of the
    labelled class should fire at least ``target`` spikes, every other one none (squared, in units
    of ``target``). It makes each output neuron a clear detector, far above or far below
    threshold, where the class sums alone let neurons idle near threshold; near threshold a
    neuron's count follows its chip gain many times over (a small gain error decides between
    0 and several spikes), which is what the verification's count correlation measures."""

    count_scale: float = 0.5
    negative_v: float = 1.0
    rate: float = 0.0
    target: float = 0.0
    target_weight: float = 1.0


def loss_fn(model: Model, weights: Arrays, inputs: Mapping[str, jax.Array], labels: jax.Array,
            key: jax.Array, noise: Noise, cfg: LossConfig, chips: int | None = None
            ) -> tuple[jax.Array, jax.Array]:
    """Loss and accuracy of one noisy batch (``chips``: see :func:`run`)."""
    spikes, v = run(model, weights, inputs, key=key, noise=noise, chips=chips)
    counts = model.class_counts(spikes[model.output])
    logits = cfg.count_scale * counts
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    negative = sum(jnp.mean(jnp.minimum(a, 0.0) ** 2) for a in v.values())
    rate = sum(jnp.mean(s) for s in spikes.values())
    accuracy = jnp.mean(jnp.argmax(counts, axis=-1) == labels)
    loss = ce + cfg.negative_v * negative + cfg.rate * rate
    if cfg.target > 0:
        loss = loss + cfg.target_weight * _target_loss(model, spikes[model.output], labels,
                                                       cfg.target)
    return loss, accuracy


def _target_loss(model: Model, spikes: jax.Array, labels: jax.Array, target: float
                 ) -> jax.Array:
    """Mean over samples and output neurons of ``(target - count)_+^2`` for the labelled class's
    neurons and ``count^2`` for the others, divided by ``target^2``."""
    counts = spikes.sum(axis=1) / target
    classes = np.arange(counts.shape[-1]) if model.output_classes is None else \
        np.asarray(model.output_classes)
    mine = jnp.asarray(classes)[None, :] == labels[:, None]
    return jnp.mean(jnp.where(mine, jnp.maximum(1.0 - counts, 0.0), counts) ** 2)


def batches(rng: np.random.Generator, n: int, size: int) -> Iterator[np.ndarray]:
    """Endless shuffled index batches of ``size`` out of ``n`` samples."""
    while True:
        order = rng.permutation(n)
        for k in range(0, n - size + 1, size):
            yield order[k:k + size]


def train(model: Model, weights: Arrays, inputs: Mapping[str, np.ndarray], labels: np.ndarray, *,
          steps: int, batch: int, learning_rate: float, seed: int, noise: Noise = Noise(),
          cfg: LossConfig = LossConfig(), log: Callable[[str], None] | None = print,
          log_every: int = 50, chips: int | None = None) -> tuple[Arrays, list[float]]:
    """Adam on noisy batches; returns the trained weights and the loss of every step.

    ``chips``: each batch is ``chips`` simulated chips, each running ``batch / chips`` samples
    (see :func:`run`); default: a fresh chip per sample."""
    opt = optax.adam(learning_rate)
    state = opt.init(weights)

    @jax.jit
    def update(w: Arrays, st: optax.OptState, x: Arrays, y: jax.Array, key: jax.Array):
        (loss, acc), grads = jax.value_and_grad(
            lambda p: loss_fn(model, p, x, y, key, noise, cfg, chips), has_aux=True)(w)
        upd, st = opt.update(grads, st, w)
        return optax.apply_updates(w, upd), st, loss, acc

    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    losses = []
    for k, idx in zip(range(steps), batches(rng, len(labels), batch)):
        key, sub = jax.random.split(key)
        x = {name: jnp.asarray(a[idx], jnp.float32) for name, a in inputs.items()}
        weights, state, loss, acc = update(weights, state, x, jnp.asarray(labels[idx]), sub)
        losses.append(float(loss))
        if log is not None and (k % log_every == 0 or k == steps - 1):
            log(f"step {k:4d}  loss {float(loss):.3f}  noisy batch accuracy {float(acc):.2f}")
    return weights, losses


def accuracy(model: Model, weights: Arrays, inputs: Mapping[str, np.ndarray], labels: np.ndarray,
             *, key: jax.Array | None = None, noise: Noise = Noise()) -> float:
    """Fraction classified right by spike count per class (ties: lowest index), exact or
    noisy."""
    spikes, _ = run(model, weights, {k: jnp.asarray(a, jnp.float32) for k, a in inputs.items()},
                    key=key, noise=noise)
    predicted = np.argmax(np.asarray(model.class_counts(spikes[model.output])), axis=-1)
    return float(np.mean(predicted == labels))


def to_network(model: Model, weights: Arrays, name: str) -> Network:
    """The trained model as an IR network in the NIR reader's conventions (zero reset, no
    refractory period, ``v_leak = 0``, no bias; projections named ``source->target``)."""
    net = Network(dt=model.dt, name=name)
    for input_name, size in model.inputs.items():
        net.add_population(make_population(input_name, "input", size))
    for layer in model.layers:
        net.add_population(make_population(layer.name, "CubaLIF", layer.size,
                                           tau_mem=layer.tau_mem, tau_syn=layer.tau_syn))
    for c, w in zip(model.connections, effective_weights(model, weights).values()):
        net.add_projection(Projection(c.name, c.source, c.target,
                                      sp.csr_array(np.asarray(w, np.float64)), c.delay))
    net.outputs = [model.output]
    return net.verify()


def from_network(net: Network) -> tuple[Model, Arrays]:
    """A network of the form :func:`to_network` writes, back as a model and its weights (masks:
    the non-zero weights), so that the training forward pass can run a saved file."""
    layers, connections, weights = [], [], {}
    for pop in net.populations.values():
        if pop.is_input:
            continue
        if pop.model != "CubaLIF" or pop.refractory or np.any(pop.params["v_leak"]) or \
                np.any(pop.params["bias"]) or np.any(pop.params["v_reset"]) or \
                pop.reset != "zero" or np.ptp(pop.params["tau_mem"]) or np.ptp(pop.params["tau_syn"]):
            raise InvalidModelError("not a zero-reset CubaLIF population with shared time "
                                    "constants and no refractory period, leak level or bias",
                                    where=f"population {pop.name}")
        layers.append(Layer(pop.name, pop.size, float(pop.params["tau_mem"][0]),
                            float(pop.params["tau_syn"][0])))
    for proj in net.projections.values():
        dense = proj.weights.toarray().astype(np.float32)
        connections.append(Connection(proj.source, proj.target, (dense != 0).astype(np.float32),
                                      int(proj.delay)))
        weights[connections[-1].name] = jnp.asarray(dense)
    model = Model(dt=net.dt, inputs={n: net.populations[n].size for n in net.inputs},
                  layers=tuple(layers), connections=tuple(connections), output=net.outputs[0])
    return model, weights


def save_example(model: Model, weights: Arrays, name: str, folder: Path,
                 test_inputs: Mapping[str, np.ndarray], labels: np.ndarray) -> None:
    """Print the test accuracy (exact, and on one simulated chip draw) and write the example's
    ``model.nir`` and ``test.npz`` (inputs, labels and, with a population readout,
    ``output_classes``) into ``folder``."""
    noisy = accuracy(model, weights, test_inputs, labels, key=jax.random.PRNGKey(1))
    exact = accuracy(model, weights, test_inputs, labels)
    print(f"test accuracy: float {exact:.3f}, with simulated chip noise {noisy:.3f}")
    write_nir(to_network(model, weights, name), folder / "model.nir")
    extra = {} if model.output_classes is None else {"output_classes": model.output_classes}
    np.savez_compressed(folder / "test.npz", **test_inputs, labels=labels, **extra)
