"""The public compile API: model in (path, ``nir.NIRGraph`` or IR), chip configuration out.

    >>> from neurocc.compiler import compile_model
    >>> compiled = compile_model("examples/tiny.ncl", target="dynapse2")   # doctest: +SKIP
    >>> compiled.save("out/")                                             # doctest: +SKIP
    >>> compiled.report["cores_used"]                                     # doctest: +SKIP

The same input with the same options gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from .compilation import Compilation, CompileOptions
from .errors import ConfigError
from .ir import Network
from .limits import DEFAULT_MAX_MEMORY
from .pipeline import run_pipeline
from .placement.problem import DEFAULT_RATE
from .report.build import build_report

if TYPE_CHECKING:
    from neurocc.backends.target import Target

CONFIG_FILE = "config.json"
REPORT_FILE = "report.json"
NETWORK_FILE = "network.ncl"


def network_digest(data: bytes) -> str:
    """The SHA-256 that ``config.json`` records of the ``network.ncl`` written beside it."""
    return hashlib.sha256(data).hexdigest()


def _target(target: Target | str | Path, chips: int | None, sram_usable: int | None) -> Target:
    from neurocc.backends.target import Target, load_target
    if isinstance(target, Target):
        if chips is None and sram_usable is None:
            return target
        target = target.path
    return load_target(target, chips=chips, sram_usable=sram_usable)


def _network(model: Any, load_options: Any) -> Network:
    from neurocc.frontend.load import LoadOptions, load_model
    load_options = load_options or LoadOptions()
    if isinstance(model, Network):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model, load_options)
    from neurocc.frontend.nir.reader import read_nir
    return read_nir(model, load_options)


def _with_preset(options: CompileOptions, load_options: Any, net: Network,
                 model: Any) -> CompileOptions:
    """``options`` with the preset's chip-side policy and the note of the mix-up detector."""
    from neurocc.frontend.presets import get_preset, mixup_notes
    preset = get_preset(load_options.preset if load_options is not None else "nir")
    if preset.subtract_reset and options.circuit.subtract_reset == "error":
        options = replace(options, circuit=replace(options.circuit,
                                                   subtract_reset=preset.subtract_reset))
    return replace(options, notes=options.notes + mixup_notes(net, preset.name, model))


@dataclass(eq=False)
class Compiled:
    """A compiled network: the pipeline's final state, its report, and its files."""

    compilation: Compilation
    #: Wall seconds of each pass (reported only).
    seconds: dict[str, float] = field(default_factory=dict)
    #: Extra formats that could not express this configuration: file name -> why.
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def network(self) -> Network:
        """The network as compiled (canonical weights), in the IR."""
        return self.compilation.network

    @property
    def realised(self) -> Network:
        """The network the chip implements (quantized weights, realised parameters)."""
        return self.compilation.realised

    @cached_property
    def report(self) -> dict[str, Any]:
        return build_report(self.compilation)

    @cached_property
    def files(self) -> dict[str, str]:
        """File name -> content of everything :meth:`save` writes."""
        from neurocc.backends import emitter_for
        from neurocc.backends.config.meta import ConfigMeta
        from neurocc.frontend.ncl.text_format import format_network

        c = self.compilation
        emitter = emitter_for(c.target)
        # the verification reference: the network before pruning (neurocc.compiler.prune)
        network = format_network(c.network if c.pruning is None else c.pruning.source)
        meta = replace(ConfigMeta.from_network(c.network, c.options.circuit),
                       network_sha256=network_digest(network.encode("utf-8")))
        files = {CONFIG_FILE: emitter.config.dumps(c.tables, c.target, meta),
                 REPORT_FILE: json.dumps(self.report, indent=1, sort_keys=True) + "\n",
                 NETWORK_FILE: network}
        for fmt, (dump, _) in sorted(emitter.extras.items()):
            try:
                files[f"{fmt}.txt"] = dump(c.tables, c.target)
            except ConfigError as exc:  # a lab format that cannot express this configuration
                self.skipped[f"{fmt}.txt"] = str(exc)
        return files

    def save(self, outdir: str | Path, *, force: bool = False,
             reads: Iterable[str | Path] = ()) -> list[Path]:
        """Write the config, the report, the source network and any extra formats to
        ``outdir`` (created if needed); only these file names are touched, each atomically.

        ``reads``: files the caller read (the model, the inputs), never overwritten. A non-empty
        folder that holds no neurocc output is refused unless ``force``."""
        from .files import prepare_output_dir, refuse_inputs, write_atomic
        outdir = prepare_output_dir(outdir, force=force)
        reads = tuple(reads)
        paths = [outdir / name for name in self.files]
        for path in paths:
            refuse_inputs(path, reads, fix="choose another output folder with -o")
        for path in paths:
            write_atomic(path, self.files[path.name], fix="choose a writable folder with -o")
        return paths

    def to_samna(self, config: Any = None) -> Any:
        """Fill a samna configuration object (needs the vendor's samna; see the backends)."""
        from neurocc.backends import emitter_for
        from neurocc.backends.config.meta import ConfigMeta, Deployment
        c = self.compilation
        deployment = Deployment(c.tables, ConfigMeta.from_network(c.network, c.options.circuit))
        return emitter_for(c.target).to_samna(deployment, c.target, config)


def compile_model(model: Any, target: Target | str | Path = "dynapse2", *,
                  chips: int | None = None, sram_usable: int | None = None, load_options: Any = None,
                  options: CompileOptions = CompileOptions(),
                  progress: Callable[[str], None] | None = None) -> Compiled:
    """Compile ``model`` (a path to a NIR or .ncl file, a ``nir.NIRGraph``, or an IR
    ``Network``) for ``target`` (``"dynapse1"``, ``"dynapse2"``, a target JSON path or a loaded
    Target). ``load_options`` (:class:`neurocc.frontend.load.LoadOptions`) supplies what a NIR
    file cannot carry: dt, reset mode, refractory period, and the framework preset, whose
    chip-side policy (e.g. snnTorch's subtractive reset realised as a reset to zero) replaces
    the default ``subtract_reset="error"`` of ``options.circuit``."""
    net = _network(model, load_options)
    options = _with_preset(options, load_options, net, model)
    target = _target(target, chips, sram_usable)
    # the neuron model the mapping is made for, by name, so that the folder records it
    chosen = target.neuron_models.get(options.circuit.neuron_model).name
    options = replace(options, circuit=replace(options.circuit, neuron_model=chosen))
    state, seconds = run_pipeline(net, target, options, progress=progress)
    return Compiled(state, seconds)


@dataclass(eq=False)
class CompiledFolder:
    """What ``neurocc compile`` wrote, read back: the deployment, its target, the source network
    and the report."""

    deployment: Any
    target: Target
    network: Network
    report: dict[str, Any]

    def realised(self) -> Network:
        """The network the configuration implements, read from the configuration alone."""
        from neurocc.backends.readback import tables_to_network
        return tables_to_network(self.deployment.tables, self.target, self.deployment.meta,
                                 name=self.network.name)


def read_compiled(outdir: str | Path, max_memory: int = DEFAULT_MAX_MEMORY) -> CompiledFolder:
    """Read a folder written by :meth:`Compiled.save` (config, report, source network).

    Every file must be a regular file whose parsed form fits ``max_memory`` bytes; the source
    network must be the one the config records (its SHA-256), and the report must have the
    shape ``neurocc report`` reads."""
    from neurocc.backends import emitter_for
    from neurocc.backends.config.text import parse, read_text
    from neurocc.backends.target import load_target
    from neurocc.frontend.ncl.text_format import parse_network

    from .report.schema import check_layout, check_report

    outdir = Path(outdir)
    if not outdir.is_dir():
        raise ConfigError("is not a folder", where=str(outdir),
                          fix="pass the folder that `neurocc compile -o` wrote")
    for name in (CONFIG_FILE, REPORT_FILE, NETWORK_FILE):
        if not (outdir / name).exists():
            raise ConfigError(f"{name} is missing", where=str(outdir),
                              fix="pass the folder that `neurocc compile -o` wrote")
    config_path = outdir / CONFIG_FILE
    data = parse(read_text(config_path, max_memory), str(config_path))
    name = data.get("target", {}).get("name") if isinstance(data, dict) and \
        isinstance(data.get("target"), dict) else None
    if not isinstance(name, str):
        raise ConfigError("the config names no target", where=f"{config_path}: target.name",
                          fix="pass a config written by `neurocc compile`")
    deployment = emitter_for(name).config.from_json(data, None, where=str(config_path))
    target = load_target(name, chips=deployment.tables.chips,
                         sram_usable=int(data["target"]["sram_usable"]),
                         options=dict(data["target"].get("options", {})))
    network_path = outdir / NETWORK_FILE
    text = read_text(network_path, max_memory)
    _check_network_digest(deployment.meta.network_sha256, text, network_path)
    report_path = outdir / REPORT_FILE
    report = check_report(parse(read_text(report_path, max_memory), str(report_path)),
                          str(report_path))
    check_layout(report, deployment.tables, str(report_path))
    network = parse_network(text, base_dir=outdir, filename=str(network_path))
    return CompiledFolder(deployment, target, network, report)


def _check_network_digest(recorded: str | None, text: str, path: Path) -> None:
    """Refuse a ``network.ncl`` that is not the one compiled into the config beside it."""
    fix = "recompile with `neurocc compile MODEL -o OUTDIR` and verify that folder"
    if recorded is None:
        raise ConfigError("config.json records no SHA-256 of the source network (written by an "
                          "older neurocc), so the network cannot be matched to it",
                          where=str(path), fix=fix)
    if network_digest(text.encode("utf-8")) != recorded:
        raise ConfigError("does not belong to config.json: its SHA-256 differs from the one "
                          "recorded at compile time (mapping.network_sha256)", where=str(path),
                          fix=fix)


def rates_from_simulation(net: Network, inputs) -> np.ndarray:
    """Mean events per step of every source (neurons, then input channels), from the reference
    simulator on the user's ``inputs``. Non-spiking populations (which cannot drive hardware
    synapses anyway) get the default rate."""
    from neurocc.runtime.reference import simulate

    spikes = simulate(net, inputs).spikes

    def mean(pop) -> np.ndarray:
        if pop.name not in spikes:
            return np.full(pop.size, DEFAULT_RATE)
        return np.asarray(spikes[pop.name], dtype=np.float64).reshape(-1, pop.size).mean(axis=0)

    pops = list(net.populations.values())
    parts = [mean(p) for p in pops if not p.is_input] + [mean(p) for p in pops if p.is_input]
    return np.concatenate(parts) if parts else np.zeros(0)
