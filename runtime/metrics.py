"""How close a compiled network's output spikes are to the reference's: one function per metric.

All metrics take spike arrays shaped ``(batch, T, n_outputs)`` (0/1 per step); the compiled side
may carry a leading instance axis, ``(instances, batch, T, n_outputs)``, and then every metric
returns one value per instance. They are plain numpy: the simulators produce the spikes, this
module only compares them.
"""

from __future__ import annotations

import numpy as np


def _per_instance(compiled: np.ndarray) -> np.ndarray:
    compiled = np.asarray(compiled, dtype=np.float64)
    return compiled[None] if compiled.ndim == 3 else compiled


def spike_counts(spikes: np.ndarray) -> np.ndarray:
    """Spikes per output per sample: ``(..., batch, n)``."""
    return np.asarray(spikes, dtype=np.float64).sum(axis=-2)


def count_correlation(reference: np.ndarray, compiled: np.ndarray) -> np.ndarray:
    """Pearson correlation of output spike counts over all (sample, output) pairs, per instance.

    1 when the counts are an exact affine image of the reference's; 0 when either side has no
    variation at all (nothing to correlate), unless both are identical.
    """
    ref = spike_counts(reference).ravel()
    out = []
    for inst in _per_instance(compiled):
        got = spike_counts(inst).ravel()
        if np.array_equal(ref, got):
            out.append(1.0)
        elif ref.std() == 0 or got.std() == 0:
            out.append(0.0)
        else:
            out.append(float(np.corrcoef(ref, got)[0, 1]))
    return np.asarray(out)


def rate_error(reference: np.ndarray, compiled: np.ndarray) -> np.ndarray:
    """Per instance and output, |rate_compiled - rate_ref| / max(rate_ref, 1 spike per sample).

    Shape ``(instances, n_outputs)``; rates are spikes per sample averaged over the batch.
    """
    ref = spike_counts(reference).mean(axis=0)
    got = spike_counts(_per_instance(compiled)).mean(axis=1)
    return np.abs(got - ref[None]) / np.maximum(ref, 1.0)[None]


def predictions(spikes: np.ndarray) -> np.ndarray:
    """Class per sample: the output with most spikes (ties: the lowest index)."""
    return np.argmax(spike_counts(spikes), axis=-1)


def agreement(reference: np.ndarray, compiled: np.ndarray) -> np.ndarray:
    """Fraction of samples whose predicted class equals the reference's, per instance."""
    ref = predictions(reference)
    return (predictions(_per_instance(compiled)) == ref[None]).mean(axis=1)


def accuracy(spikes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of samples classified as ``labels`` (per instance if there is an instance axis)."""
    return (predictions(spikes) == np.asarray(labels)).mean(axis=-1)


def van_rossum(reference: np.ndarray, compiled: np.ndarray, *, tau_steps: float) -> np.ndarray:
    """Van Rossum distance per instance, averaged over samples and outputs.

    Each train is filtered with a causal exponential kernel of ``tau_steps`` steps (a spike adds 1),
    and ``D^2 = (1 / tau) * sum_t (f - g)^2 * dt``: one lone spike against none gives about
    ``sqrt(1/2)``, identical trains 0.
    """
    decay = np.exp(-1.0 / tau_steps)

    def filtered(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        out = np.empty_like(x)
        acc = np.zeros(x.shape[:-2] + x.shape[-1:])
        for t in range(x.shape[-2]):
            acc = acc * decay + x[..., t, :]
            out[..., t, :] = acc
        return out

    f = filtered(reference)
    g = filtered(_per_instance(compiled))
    d = np.sqrt(((g - f[None]) ** 2).sum(axis=-2) / tau_steps)
    return d.mean(axis=(1, 2))


def spikes_per_inference(spikes_by_population: list[np.ndarray]) -> np.ndarray:
    """Total spikes of all given populations per sample, averaged over samples (per instance).

    Each array is ``(instances, batch, T, n)``."""
    total = sum(np.asarray(s, dtype=np.float64).sum(axis=(2, 3)) for s in spikes_by_population)
    return np.asarray(total).mean(axis=1)


def summarise(values: np.ndarray) -> dict[str, float]:
    """Median and 5-95% range of per-instance values."""
    values = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(values)), "p5": float(np.percentile(values, 5)),
            "p95": float(np.percentile(values, 95))}
