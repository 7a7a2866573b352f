"""Verification: the reference simulator on the source network vs the circuit simulator on many
simulated chips, driven by the same inputs; metrics, a verdict, and robustness sweeps.

The compiled side is read from the configuration alone (through the backends' readers and
:func:`runtime.hardware_network.build_hardware_network`), never from the compiler's internals, so
what is verified is what would be loaded onto the chip.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from neurocc.backends.config.text import read_text
from neurocc.backends.json_fields import BOOL, INT, NUM, STR, check_shape, parse_json
from neurocc.compiler.errors import ConfigError, ModelFormatError, SimulationError
from neurocc.compiler.files import check_regular_file, write_atomic
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, check_memory
from neurocc.compiler.ir import Network

from . import metrics


@dataclass(frozen=True)
class VerifyOptions:
    """``instances`` simulated chips with ``mismatch`` (relative sigma of every current), membrane
    ``noise`` (fraction of the threshold current), a ``silence`` fraction of dead neurons and an
    optional ``weight_bits`` override. The verdict passes when the median classification
    agreement and the median count correlation reach their minimums. ``van_rossum_tau``: seconds
    of the distance's kernel (model time). ``neuron_model``: the target's neuron model simulated
    (None: the one the folder was compiled for, else the target's default)."""

    instances: int = 100
    mismatch: float = 0.2
    noise: float = 0.0
    silence: float = 0.0
    weight_bits: int | None = None
    seed: int = 0
    min_agreement: float = 0.8
    min_correlation: float = 0.7
    van_rossum_tau: float = 0.01
    #: The target's neuron model simulated (None: the one the folder was compiled for).
    neuron_model: str | None = None
    #: A chip's measured constants (``backends/calibration.py``): the file's path, or None.
    calibration: str | None = None


@dataclass(frozen=True)
class Stimulus:
    """Input spike trains per input population ``(batch, T, size)``, optional labels and an
    optional population readout: ``output_classes[k]`` is the class of output neuron ``k`` (output
    populations concatenated in order), a class's count is the sum over its neurons."""

    inputs: Mapping[str, np.ndarray]
    labels: np.ndarray | None = None
    output_classes: np.ndarray | None = None

    @property
    def samples(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])


def poisson_stimulus(net: Network, *, samples: int = 16, steps: int = 200,
                     rate_hz: float = 50.0, seed: int = 0) -> Stimulus:
    """Independent Poisson spike trains on every input channel (``rate_hz`` in model time)."""
    rng = np.random.default_rng(seed)
    p = min(1.0, rate_hz * net.dt)
    return Stimulus({name: rng.random((samples, steps, net.populations[name].size)) < p
                     for name in net.inputs})


#: How many unused classes a message lists.
LIST_MAX = 10

NPZ_FIX = "pass --inputs an .npz written by numpy.savez(path, <input>=spikes, labels=labels)"


def load_stimulus(path: str | Path, net: Network, max_memory: int = DEFAULT_MAX_MEMORY
                  ) -> Stimulus:
    """Read an ``.npz`` with one array per input population (``(batch, T, size)``: 0/1 spikes or
    non-negative integer counts), an optional ``labels`` array and an optional ``output_classes``
    array (see :class:`Stimulus`); with a single input population its array may have any name.
    Arrays whose headers declare more than ``max_memory`` bytes in all are refused unread."""
    arrays = read_npz(path, max_memory)
    labels = arrays.pop("labels", None)
    classes = arrays.pop("output_classes", None)
    if len(net.inputs) == 1 and len(arrays) == 1 and net.inputs[0] not in arrays:
        arrays = {net.inputs[0]: next(iter(arrays.values()))}
    missing = [name for name in net.inputs if name not in arrays]
    if missing:
        raise SimulationError(f"no spike trains for input populations {missing}",
                              where=str(path), fix=f"store arrays named {list(net.inputs)}")
    inputs = {name: _spikes(arrays[name], name, net.populations[name].size, str(path))
              for name in net.inputs}
    batch = {a.shape[0] for a in inputs.values()}
    steps = {a.shape[1] for a in inputs.values()}
    if len(batch) != 1 or len(steps) != 1:
        raise SimulationError(f"the input arrays disagree on batch and steps ({sorted(batch)}, "
                              f"{sorted(steps)})", where=str(path),
                              fix="give every input population the same (batch, T)")
    if labels is not None and (labels.ndim != 1 or {labels.shape[0]} != batch):
        raise SimulationError(f"labels have shape {labels.shape}, expected ({batch.pop()},)",
                              where=str(path), fix="one integer label per sample")
    n_out = sum(net.populations[name].size for name in net.outputs)
    if classes is not None:
        classes = _checked_classes(classes, n_out, str(path))
    n_classes = n_out if classes is None else int(classes.max()) + 1
    if labels is not None and (not _is_integral(labels) or labels.min() < 0
                               or labels.max() >= n_classes):
        raise SimulationError(f"labels must be integers in 0..{n_classes - 1}, the classes of "
                              "the readout", where=str(path),
                              fix="one class index per sample" + ("" if classes is not None else
                                  ", or map output neurons to classes with `output_classes`"))
    return Stimulus(inputs, None if labels is None else labels.astype(np.int64), classes)


def read_npz(path: str | Path, max_memory: int = DEFAULT_MAX_MEMORY) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive (a regular file), each header's declared size checked
    against ``max_memory`` before its data is read; damage of any kind is one error."""
    check_regular_file(path, max_bytes=max_memory, what="inputs", fix=NPZ_FIX)
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head == b"\x93NUMPY":
        raise ModelFormatError("is a single .npy array, not an .npz archive", where=str(path),
                               fix=NPZ_FIX)
    try:
        with zipfile.ZipFile(path) as archive:
            return _npz_members(archive, max_memory, str(path))
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError,
            NotImplementedError, RuntimeError) as exc:
        raise ModelFormatError(f"cannot read the inputs ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:200]})", where=str(path),
                               fix=NPZ_FIX) from None


def _npz_members(archive: zipfile.ZipFile, max_memory: int, where: str
                 ) -> dict[str, np.ndarray]:
    members = [m for m in archive.namelist() if m.endswith(".npy")]
    if not members:
        raise ModelFormatError("holds no .npy arrays", where=where, fix=NPZ_FIX)
    total = 0
    arrays = {}
    for member in members:
        with archive.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(fh))
            if dtype.hasobject:
                raise ModelFormatError(f"array {member[:-4]!r} holds Python objects",
                                       where=where, fix=NPZ_FIX)
            total += math.prod(shape) * dtype.itemsize
            check_memory(total * 2, f"the input arrays (up to {member[:-4]!r})", max_memory)
        with archive.open(member) as fh:
            arrays[member[:-4]] = np.lib.format.read_array(fh, allow_pickle=False)
    return arrays


def _spikes(a: np.ndarray, name: str, size: int, where: str) -> np.ndarray:
    """Spikes of input population ``name``: ``(batch, T, size)`` of 0/1 or counts, as booleans."""
    fix = (f"pass --inputs an .npz whose {name!r} is a (batch, T, {size}) array of 0/1 spikes or "
           "non-negative integer counts")
    if a.ndim != 3 or a.shape[2] != size or a.shape[0] < 1 or a.shape[1] < 1:
        raise SimulationError(f"input array {name!r} has shape {a.shape}, expected "
                              f"(batch, T, {size})", where=where, fix=fix)
    if a.dtype.kind == "b":
        return a
    if a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not bool(np.isfinite(a).all())) \
            or bool((a < 0).any()) or (a.dtype.kind == "f" and not bool((a == np.round(a)).all())):
        raise SimulationError(f"input array {name!r} (dtype {a.dtype}) is not spikes: values must "
                              "be 0/1 or non-negative integer counts", where=where, fix=fix)
    return a.astype(bool)


def _is_integral(a: np.ndarray) -> bool:
    return a.size > 0 and (a.dtype.kind in "iu" or (a.dtype.kind == "f"
                                                    and bool(np.all(a == np.round(a)))))


def _checked_classes(classes: np.ndarray, n_out: int, where: str) -> np.ndarray:
    """``output_classes``: one class index per output neuron, every class 0..K-1 used."""
    fix = (f"store output_classes as {n_out} integers, the class of each output neuron, "
           "using every class from 0 up")
    if classes.shape != (n_out,) or not _is_integral(classes) or classes.min() < 0 \
            or not np.isfinite(classes).all():
        raise SimulationError(f"output_classes has shape {classes.shape} and dtype "
                              f"{classes.dtype}, expected {n_out} non-negative integers (one per "
                              "output neuron)", where=where, fix=fix)
    # n_out neurons cover at most n_out classes: look for gaps below n_out + 1 only, so that a
    # huge class index costs nothing
    top = min(float(classes.max()), float(n_out))
    unused = np.setdiff1d(np.arange(int(top) + 1), classes).tolist()
    if unused:
        shown = unused[:LIST_MAX] + (["..."] if len(unused) > LIST_MAX else [])
        raise SimulationError(f"output_classes leaves classes {shown} without a neuron".replace(
            "'...'", "..."), where=where, fix=fix)
    classes = classes.astype(np.int64)
    return classes


@dataclass(frozen=True, eq=False)
class Verification:
    """Per-instance metrics, their summaries, the verdict, and the spikes behind them."""

    metrics: dict[str, np.ndarray]
    summary: dict[str, dict[str, float]]
    passed: bool
    reasons: list[str]
    reference_outputs: np.ndarray
    compiled_outputs: np.ndarray
    options: VerifyOptions

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons, "summary": self.summary,
                "neuron_model": self.options.neuron_model,
                "calibration": self.options.calibration,
                "instances": self.options.instances, "mismatch": self.options.mismatch,
                "noise": self.options.noise, "silence": self.options.silence,
                "weight_bits": self.options.weight_bits, "seed": self.options.seed}


@dataclass(frozen=True, eq=False)
class CompiledSimulation:
    """Everything needed to simulate one compiled folder, built once and reused by sweeps."""

    network: Network
    hardware: Any
    dt_chip: float
    input_order: tuple[str, ...]
    outputs: tuple[str, ...]
    target: Any

    @classmethod
    def from_folder(cls, folder: Any, calibration: str | None = None) -> "CompiledSimulation":
        """The folder's chip; with ``calibration`` (a file), the chip it describes."""
        from neurocc.backends.calibration import calibrated_target, load_calibration
        from neurocc.compiler.circuits import CircuitOptions

        from .hardware_network import build_hardware_network
        meta = folder.deployment.meta
        circuit = meta.circuit_options or CircuitOptions()
        target, calib = folder.target, None
        if calibration is not None:
            calib = load_calibration(calibration, target)
            target = calibrated_target(target, calib)
        hw = build_hardware_network(folder.deployment.tables, target,
                                    spike_threshold=circuit.spike_threshold_current,
                                    neuron_model=circuit.neuron_model, calibration=calib)
        tables = folder.deployment.tables
        return cls(network=folder.network, hardware=hw,
                   dt_chip=float(meta.dt or folder.network.dt) * circuit.time_scale,
                   input_order=tuple(name for name, _ in tables.input_populations),
                   outputs=tuple(tables.outputs), target=folder.target)

    @property
    def neuron_model(self) -> str:
        """The model the folder was compiled for (the default of :meth:`run`)."""
        return self.hardware.neuron_model.name

    def _hardware(self, model: str | None) -> Any:
        if model is None or model == self.neuron_model:
            return self.hardware
        return replace(self.hardware, neuron_model=self.target.neuron_models.get(model))

    def run(self, stimulus: Stimulus, options: VerifyOptions) -> tuple[np.ndarray, np.ndarray]:
        """Output spikes ``(instances, batch, T, n_out)`` and spikes per inference."""
        from .circuit import simulate_circuit
        x = np.concatenate([np.asarray(stimulus.inputs[name], dtype=np.float32)
                            for name in self.input_order], axis=-1)
        result = simulate_circuit(self._hardware(options.neuron_model), x, dt=self.dt_chip,
                                  instances=options.instances,
                                  mismatch=options.mismatch, seed=options.seed,
                                  noise=options.noise, silence=options.silence,
                                  weight_bits=options.weight_bits)
        out = np.concatenate([result.population(name) for name in self.outputs], axis=-1)
        per_inference = result.spikes.sum(axis=(2, 3), dtype=np.float64).mean(axis=1)
        return out, per_inference


def reference_outputs(net: Network, stimulus: Stimulus, outputs: tuple[str, ...]
                      ) -> tuple[np.ndarray, float]:
    """Output spikes of the float reference ``(batch, T, n_out)`` and its spikes per inference."""
    from .reference import simulate
    result = simulate(net, dict(stimulus.inputs))
    non_spiking = [name for name in outputs if name not in result.spikes]
    if non_spiking:
        raise SimulationError(f"outputs {non_spiking} do not spike", where=net.name,
                              fix="verification compares spike counts of spiking outputs")
    out = np.concatenate([np.asarray(result.spikes[name]) for name in outputs], axis=-1)
    hidden = [np.asarray(s, dtype=np.float64).sum(axis=(1, 2))
              for name, s in result.spikes.items() if not net.populations[name].is_input]
    per_inference = float(np.mean(sum(hidden))) if hidden else 0.0
    return out.astype(np.float64), per_inference


def compare(reference: np.ndarray, compiled: np.ndarray, spikes_per_inference: np.ndarray,
            stimulus: Stimulus, options: VerifyOptions, dt: float) -> Verification:
    """Metrics per instance, summaries and the verdict."""
    values = {
        # with a population readout the network's outputs are the class counts
        "count_correlation": metrics.count_correlation(reference, compiled,
                                                       stimulus.output_classes),
        "rate_error": metrics.rate_error(reference, compiled, stimulus.output_classes
                                         ).mean(axis=1),
        "agreement": metrics.agreement(reference, compiled, stimulus.output_classes),
        "van_rossum": metrics.van_rossum(reference, compiled,
                                         tau_steps=max(1.0, options.van_rossum_tau / dt)),
        "spikes_per_inference": np.asarray(spikes_per_inference, dtype=np.float64),
    }
    if stimulus.labels is not None:
        values["accuracy"] = metrics.accuracy(compiled, stimulus.labels,
                                              stimulus.output_classes)
    summary = {name: metrics.summarise(v) for name, v in values.items()}
    reasons = []
    if summary["agreement"]["median"] < options.min_agreement:
        reasons.append(f"median classification agreement {summary['agreement']['median']:.3f} "
                       f"< {options.min_agreement}")
    if summary["count_correlation"]["median"] < options.min_correlation:
        reasons.append(f"median spike-count correlation "
                       f"{summary['count_correlation']['median']:.3f} < {options.min_correlation}")
    return Verification(metrics=values, summary=summary, passed=not reasons, reasons=reasons,
                        reference_outputs=reference, compiled_outputs=compiled, options=options)


def verify_folder(folder: Any, stimulus: Stimulus, options: VerifyOptions = VerifyOptions()
                  ) -> tuple[Verification, dict[str, Any]]:
    """Verify a compiled folder (see :func:`neurocc.compiler.driver.read_compiled`).

    Returns the verification and the reference's own figures (accuracy when labelled, spikes per
    inference) for the summary."""
    sim = CompiledSimulation.from_folder(folder, options.calibration)
    options = replace(options, neuron_model=options.neuron_model or sim.neuron_model)
    ref, ref_spikes = reference_outputs(sim.network, stimulus, sim.outputs)
    compiled, per_inference = sim.run(stimulus, options)
    verification = compare(ref, compiled, per_inference, stimulus, options, sim.network.dt)
    reference = {"spikes_per_inference": ref_spikes}
    if stimulus.labels is not None:
        reference["accuracy"] = float(metrics.accuracy(ref, stimulus.labels,
                                                       stimulus.output_classes))
    return verification, reference


#: The robustness axes and the values swept (the SE1 robustness results were reported at 20%
#: mismatch, 2-bit weights, noise sigma 0.1 and 40% silenced neurons). :func:`sweep` adds the
#: axis ``neuron_model``: every model of the target.
SWEEP_AXES: dict[str, tuple[Any, ...]] = {
    "mismatch": (0.0, 0.05, 0.1, 0.2, 0.3),
    "weight_bits": (1, 2, 3, 4),
    "noise": (0.0, 0.025, 0.05, 0.1),
    "silence": (0.0, 0.1, 0.2, 0.4, 0.5),
}


@dataclass(frozen=True)
class SweepPoint:
    axis: str
    value: float | str
    agreement: float
    correlation: float
    accuracy: float | None


def sweep(folder: Any, stimulus: Stimulus, options: VerifyOptions = VerifyOptions(),
          axes: Mapping[str, tuple[Any, ...]] | None = None,
          progress: Callable[[str], None] | None = None) -> list[SweepPoint]:
    """Vary one axis at a time from ``options`` (the others stay as given); median metrics.
    ``axes``: default :data:`SWEEP_AXES` and every neuron model of the folder's target."""
    sim = CompiledSimulation.from_folder(folder, options.calibration)
    if axes is None:
        axes = {**SWEEP_AXES, "neuron_model": sim.target.neuron_models.names}
    ref, _ = reference_outputs(sim.network, stimulus, sim.outputs)
    points = []
    for axis, values in axes.items():
        for value in values:
            if progress is not None:
                progress(f"{axis} = {value}")
            point = replace(options, **{axis: value})
            compiled, per_inference = sim.run(stimulus, point)
            v = compare(ref, compiled, per_inference, stimulus, point, sim.network.dt)
            acc = v.summary.get("accuracy", {}).get("median")
            points.append(SweepPoint(axis, value if isinstance(value, str) else float(value),
                                     v.summary["agreement"]["median"],
                                     v.summary["count_correlation"]["median"], acc))
    return points



# -- the results folder: OUTDIR/verify/{verify.json, rasters.png, metrics.png, sweep.png} -------
#: Where verification writes its results inside a compiled folder, and what it writes there.
RESULTS_DIR = "verify"
RESULTS_FILE = "verify.json"
PLOTS = ("rasters.png", "metrics.png", "sweep.png")
RESULT_FILES = PLOTS + (RESULTS_FILE,)
RESULTS_FIX = "run `neurocc verify` on the folder again"

_STATS = {"median": NUM, "p5": NUM, "p95": NUM}
_SWEEP = {"axis": STR, "value": NUM, "agreement": NUM, "correlation": NUM,
          "accuracy": (None, NUM)}
#: ``verify.json`` as readers rely on it (``"*"``: every key of the object).
RESULTS_SHAPE: dict[str, Any] = {
    "passed": BOOL, "reasons": [STR], "instances": INT, "mismatch": NUM, "noise": NUM,
    "silence": NUM, "reference": {"spikes_per_inference": NUM},
    "summary": {"spikes_per_inference": _STATS, "*": _STATS}, "sweep": [_SWEEP],
    "steps": (None, INT), "input_events_per_inference": (None, NUM),
}


def write_results(results_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` as ``results_dir/verify.json`` (canonical JSON, atomically)."""
    return write_atomic(results_dir / RESULTS_FILE,
                        json.dumps(summary, indent=1, sort_keys=True) + "\n",
                        fix="make OUTDIR/verify a writable folder, or verify a copy of the "
                            "compiled folder")


def read_results(outdir: Path, max_memory: int = DEFAULT_MAX_MEMORY) -> dict[str, Any] | None:
    """``OUTDIR/verify/verify.json`` checked against :data:`RESULTS_SHAPE`, plus ``plots`` (the
    PNG names present); None when the folder has not been verified."""
    path = Path(outdir) / RESULTS_DIR / RESULTS_FILE
    if not path.exists():
        return None
    text = read_text(path, max_memory)
    data = check_shape(parse_json(text, str(path), ConfigError, RESULTS_FIX), RESULTS_SHAPE,
                       str(path), RESULTS_FILE, RESULTS_FIX, ConfigError)
    data["plots"] = [name for name in PLOTS if (path.parent / name).is_file()]
    return data
