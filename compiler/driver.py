"""The public compile API: model in (path, ``nir.NIRGraph`` or IR), chip configuration out.

    >>> from neurocc.compiler import compile_model
    >>> compiled = compile_model("examples/tiny.ncl", target="dynapse2")   # doctest: +SKIP
    >>> compiled.save("out/")                                             # doctest: +SKIP
    >>> compiled.report["cores_used"]                                     # doctest: +SKIP

The same input with the same options gives byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError
from .ir import Network
from .pipeline import Compilation, CompileOptions, run_pipeline
from .report import build_report

CONFIG_FILE = "config.json"
REPORT_FILE = "report.json"
NETWORK_FILE = "network.ncl"


def _target(target: Any, chips: int | None, sram_usable: int | None) -> Any:
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
    from neurocc.frontend.nir_reader import read_nir
    return read_nir(model, load_options)


@dataclass(eq=False)
class Compiled:
    """A compiled network: the pipeline's final state, its report, and its files."""

    compilation: Compilation
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
        from neurocc.backends.config_json import ConfigMeta
        from neurocc.frontend.text_format import format_network

        c = self.compilation
        emitter = emitter_for(c.target)
        meta = ConfigMeta.from_network(c.network, c.options.circuit)
        files = {CONFIG_FILE: emitter.config.dumps(c.tables, c.target, meta),
                 REPORT_FILE: json.dumps(self.report, indent=1, sort_keys=True) + "\n",
                 NETWORK_FILE: format_network(c.network)}
        for fmt, (dump, _) in sorted(emitter.extras.items()):
            try:
                files[f"{fmt}.txt"] = dump(c.tables, c.target)
            except ConfigError as exc:  # a lab format that cannot express this configuration
                self.skipped[f"{fmt}.txt"] = str(exc)
        return files

    def save(self, outdir: str | Path) -> list[Path]:
        """Write the config, the report, the source network and any extra formats to
        ``outdir`` (created if needed); only these file names are touched."""
        outdir = Path(outdir)
        if outdir.exists() and not outdir.is_dir():
            raise ConfigError("output path exists and is not a folder", where=str(outdir),
                              fix="choose a folder with -o")
        outdir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = outdir / name
            path.write_text(text, encoding="utf-8", newline="\n")
            written.append(path)
        return written

    def to_samna(self, config: Any = None) -> Any:
        """Fill a samna configuration object (needs the vendor's samna; see the backends)."""
        from neurocc.backends import emitter_for
        from neurocc.backends.config_json import ConfigMeta, Deployment
        c = self.compilation
        deployment = Deployment(c.tables, ConfigMeta.from_network(c.network, c.options.circuit))
        return emitter_for(c.target).to_samna(deployment, c.target, config)


def compile_model(model: Any, target: Any = "dynapse2", *, chips: int | None = None,
                  sram_usable: int | None = None, load_options: Any = None,
                  options: CompileOptions = CompileOptions(),
                  progress: Callable[[str], None] | None = None) -> Compiled:
    """Compile ``model`` (a path to a NIR or .ncl file, a ``nir.NIRGraph``, or an IR
    ``Network``) for ``target`` (``"dynapse1"``, ``"dynapse2"``, a target JSON path or a loaded
    Target). ``load_options`` (:class:`neurocc.frontend.load.LoadOptions`) supplies what a NIR
    file cannot carry: dt, reset mode, refractory period."""
    net = _network(model, load_options)
    target = _target(target, chips, sram_usable)
    # the neuron model the mapping is made for, by name, so that the folder records it
    chosen = target.neuron_models.get(options.circuit.neuron_model).name
    options = replace(options, circuit=replace(options.circuit, neuron_model=chosen))
    return Compiled(run_pipeline(net, target, options, progress=progress))


@dataclass(eq=False)
class CompiledFolder:
    """What ``neurocc compile`` wrote, read back: the deployment, its target, the source network
    and the report."""

    deployment: Any
    target: Any
    network: Network
    report: dict[str, Any]

    def realised(self) -> Network:
        """The network the configuration implements, read from the configuration alone."""
        from neurocc.backends.readback import tables_to_network
        return tables_to_network(self.deployment.tables, self.target, self.deployment.meta,
                                 name=self.network.name)


def read_compiled(outdir: str | Path) -> CompiledFolder:
    """Read a folder written by :meth:`Compiled.save` (config, report, source network)."""
    from neurocc.backends import emitter_for
    from neurocc.backends.config_json import parse, read_text
    from neurocc.backends.target import load_target
    from neurocc.frontend.text_format import read_text as read_network

    outdir = Path(outdir)
    for name in (CONFIG_FILE, REPORT_FILE, NETWORK_FILE):
        if not (outdir / name).is_file():
            raise ConfigError(f"{name} is missing", where=str(outdir),
                              fix="pass the folder that `neurocc compile -o` wrote")
    config_path = outdir / CONFIG_FILE
    data = parse(read_text(config_path), str(config_path))
    name = data.get("target", {}).get("name") if isinstance(data, dict) and \
        isinstance(data.get("target"), dict) else None
    if not isinstance(name, str):
        raise ConfigError("the config names no target", where=f"{config_path}: target.name",
                          fix="pass a config written by `neurocc compile`")
    deployment = emitter_for(name).config.from_json(data, None, where=str(config_path))
    target = load_target(name, chips=deployment.tables.chips,
                         sram_usable=int(data["target"]["sram_usable"]),
                         options=dict(data["target"].get("options", {})))
    report = json.loads(read_text(outdir / REPORT_FILE))
    return CompiledFolder(deployment, target, read_network(outdir / NETWORK_FILE), report)
