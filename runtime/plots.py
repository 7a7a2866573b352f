"""PNG figures of a verification: rasters, metric histograms, robustness sweeps (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from neurocc.compiler.files import write_figure

_FIX = "make OUTDIR/verify a writable folder, or verify a copy of the compiled folder"


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _raster(ax, spikes: np.ndarray, title: str) -> None:
    """One sample's output spikes ``(T, n)`` as a raster."""
    t, n = np.nonzero(np.asarray(spikes))
    ax.scatter(t, n, s=4, marker="|", color="black")
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("output neuron")
    ax.set_ylim(-0.5, max(1, spikes.shape[1]) - 0.5)


def rasters(reference: np.ndarray, compiled: np.ndarray, score: np.ndarray, path: Path,
            sample: int = 0) -> Path:
    """Reference vs the typical (median score) and the worst (lowest score) simulated chip."""
    plt = _pyplot()
    order = np.argsort(score, kind="stable")
    typical, worst = int(order[len(order) // 2]), int(order[0])
    fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
    _raster(axes[0], reference[sample], f"reference (float), sample {sample}")
    _raster(axes[1], compiled[typical, sample], f"typical chip (instance {typical})")
    _raster(axes[2], compiled[worst, sample], f"worst chip (instance {worst})")
    axes[2].set_xlabel("time step")
    fig.tight_layout()
    try:
        write_figure(fig, path, fix=_FIX, dpi=100)
    finally:
        plt.close(fig)
    return path


def histograms(values: dict[str, np.ndarray], path: Path) -> Path:
    """One histogram per metric over the simulated chips."""
    plt = _pyplot()
    names = sorted(values)
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 2.8))
    for ax, name in zip(np.atleast_1d(axes), names):
        ax.hist(np.asarray(values[name], dtype=float), bins=20, color="tab:blue")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("value")
    np.atleast_1d(axes)[0].set_ylabel("chips")
    fig.tight_layout()
    try:
        write_figure(fig, path, fix=_FIX, dpi=100)
    finally:
        plt.close(fig)
    return path


def sweep_plot(points: Sequence, path: Path) -> Path:
    """Agreement (and accuracy when labelled) against each swept axis."""
    plt = _pyplot()
    axes_names = list(dict.fromkeys(p.axis for p in points))
    fig, axes = plt.subplots(1, len(axes_names), figsize=(3.2 * len(axes_names), 2.8),
                             sharey=True)
    for ax, axis in zip(np.atleast_1d(axes), axes_names):
        pts = [p for p in points if p.axis == axis]
        x = [p.value for p in pts]
        ax.plot(x, [p.agreement for p in pts], "o-", label="agreement")
        ax.plot(x, [p.correlation for p in pts], "s--", label="count correlation")
        if all(p.accuracy is not None for p in pts):
            ax.plot(x, [p.accuracy for p in pts], "^-", label="accuracy")
        ax.set_xlabel(axis)
        ax.set_ylim(-0.05, 1.05)
    np.atleast_1d(axes)[0].set_ylabel("median over chips")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    try:
        write_figure(fig, path, fix=_FIX, dpi=100)
    finally:
        plt.close(fig)
    return path
