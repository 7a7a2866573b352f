"""How close a compiled network's output spikes are to the reference's: one function per metric.

All metrics take spike arrays shaped ``(batch, T, n_outputs)`` (0/1 per step); the compiled side
may carry a leading instance axis, ``(instances, batch, T, n_outputs)``, and then every metric
returns one value per instance. They are plain numpy: the simulators produce the spikes, this
module only compares them.
"""

from __future__ import annotations

import numpy as np


def _per_instance(compiled: np.ndarray) -> np.ndarray:
    # no dtype conversion: (instances, batch, T, n) spikes can be gigabytes
    compiled = np.asarray(compiled)
    return compiled[None] if compiled.ndim == 3 else compiled


def spike_counts(spikes: np.ndarray) -> np.ndarray:
    """Spikes per output per sample: ``(..., batch, n)``."""
    return np.asarray(spikes).sum(axis=-2, dtype=np.float64)


def count_correlation(reference: np.ndarray, compiled: np.ndarray,
                      classes: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation of output spike counts over all (sample, output) pairs, per instance.

    1 when the counts are an exact affine image of the reference's; 0 when either side has no
    variation at all (nothing to correlate), unless both are identical. With a population readout
    (``classes``, see :func:`class_counts`) the outputs are the class counts.
    """
    ref = class_counts(reference, classes).ravel()
    out = []
    for inst in _per_instance(compiled):
        got = class_counts(inst, classes).ravel()
        if np.array_equal(ref, got):
            out.append(1.0)
        elif ref.std() == 0 or got.std() == 0:
            out.append(0.0)
        else:
            out.append(float(np.corrcoef(ref, got)[0, 1]))
    return np.asarray(out)


def rate_error(reference: np.ndarray, compiled: np.ndarray,
               classes: np.ndarray | None = None) -> np.ndarray:
    """Per instance and output, |rate_compiled - rate_ref| / max(rate_ref, 1 spike per sample).

    Shape ``(instances, n_outputs)`` (``n_classes`` with a population readout ``classes``); rates
    are spikes per sample averaged over the batch.
    """
    ref = class_counts(reference, classes).mean(axis=0)
    got = class_counts(_per_instance(compiled), classes).mean(axis=1)
    return np.abs(got - ref[None]) / np.maximum(ref, 1.0)[None]


def class_counts(spikes: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """Spikes per class per sample, ``(..., batch, n_classes)``.

    ``classes`` maps each output neuron to its class (a population readout: a class's count is the
    sum over its group, which averages out the gain errors of single neurons); without it every
    output neuron is its own class."""
    counts = spike_counts(spikes)
    if classes is None:
        return counts
    classes = np.asarray(classes)
    return counts @ (classes[:, None] == np.arange(classes.max() + 1)[None]).astype(np.float64)


def predictions(spikes: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """Class per sample: the class with most spikes (ties: the lowest index)."""
    return np.argmax(class_counts(spikes, classes), axis=-1)


def agreement(reference: np.ndarray, compiled: np.ndarray,
              classes: np.ndarray | None = None) -> np.ndarray:
    """Fraction of samples whose predicted class equals the reference's, per instance."""
    ref = predictions(reference, classes)
    return (predictions(_per_instance(compiled), classes) == ref[None]).mean(axis=1)


def accuracy(spikes: np.ndarray, labels: np.ndarray,
             classes: np.ndarray | None = None) -> np.ndarray:
    """Fraction of samples classified as ``labels`` (per instance if there is an instance axis)."""
    return (predictions(spikes, classes) == np.asarray(labels)).mean(axis=-1)


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
    # one instance at a time: the filtered trains are float64 copies of the spikes
    return np.asarray([np.sqrt(((filtered(g) - f) ** 2).sum(axis=-2) / tau_steps).mean()
                       for g in _per_instance(compiled)])


def spikes_per_inference(spikes_by_population: list[np.ndarray]) -> np.ndarray:
    """Total spikes of all given populations per sample, averaged over samples (per instance).

    Each array is ``(instances, batch, T, n)``."""
    total = sum(np.asarray(s).sum(axis=(2, 3), dtype=np.float64) for s in spikes_by_population)
    return np.asarray(total).mean(axis=1)


def summarise(values: np.ndarray) -> dict[str, float]:
    """Median and 5-95% range of per-instance values."""
    values = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(values)), "p5": float(np.percentile(values, 5)),
            "p95": float(np.percentile(values, 95))}
