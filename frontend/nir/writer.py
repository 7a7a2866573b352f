"""Write an IR ``Network`` as a NIR graph in normal form.

Normal form: thresholds 1, ``r = 1``, ``w_in = 1`` (the IR already folded them into the weights),
one Affine (or Linear, when it carries no bias) node per projection, named after the projection;
a population's bias rides on the Affine of one of its incoming projections (an Affine with a
zero weight and no input when it has none). Delays are not stored: a delay-1 projection must be
a back edge of the depth-first search that :func:`neurocc.frontend.nir.reader.read_nir` runs, so
that reading the file gives the same delays; anything else is refused with an
``UnsupportedError``. ``dt``, reset mode and refractory period are not stored either (the
reader's options), nor ``Population.scale``.

``read_nir(path, LoadOptions(dt=net.dt, ...))`` gives back a network equal to ``net``
(``networks_equal``) when the network uses the reader's conventions: projections named
``source->target`` and populations in the reader's order (inputs first, then topological by
delay-0 projections, ties by name).
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from neurocc.compiler.errors import UnsupportedError
from neurocc.compiler.ir import MODEL_PARAMS, Network, Population

from .graph import find_back_edges
from .neurons import GAIN_FIELDS, NEURON_FIELDS, nir_name


def write_nir(net: Network, path: str | Path) -> None:
    """Write ``net`` to ``path`` as a NIR (HDF5) file; see :func:`network_to_nir`."""
    nir.write(Path(path), network_to_nir(net))


def network_to_nir(net: Network) -> nir.NIRGraph:
    """The network as an in-memory ``nir.NIRGraph`` in normal form."""
    net.verify()
    _check_names(net)
    nodes: dict[str, nir.NIRNode] = {name: _population_node(pop)
                                     for name, pop in net.populations.items()}
    edges: list[tuple[str, str]] = []
    carries_bias = _bias_carriers(net)
    for proj in sorted(net.projections.values(), key=lambda p: p.name):
        if proj.delay > 1:
            raise UnsupportedError(f"delay {proj.delay} steps cannot be written",
                                   where=f"{net.name}: projection {proj.name!r}",
                                   fix="NIR without Delay nodes expresses only the one-step "
                                       "delay of recurrent back edges")
        weight = proj.weights.toarray().astype(np.float64)
        if proj.name in carries_bias:
            bias = net.populations[proj.target].params["bias"]
            nodes[proj.name] = nir.Affine(weight=weight, bias=bias.copy())
        else:
            nodes[proj.name] = nir.Linear(weight=weight)
        edges += [(proj.source, proj.name), (proj.name, proj.target)]
    for pop in net.populations.values():
        if _has_bias(pop) and not any(True for _ in net.incoming(pop.name)):
            name = _unused(f"{pop.name}.bias", nodes)
            nodes[name] = nir.Affine(weight=np.zeros((pop.size, 1)), bias=pop.params["bias"].copy())
            edges.append((name, pop.name))
    for k, out in enumerate(net.outputs):
        name = _unused("output" if len(net.outputs) == 1 else f"output_{k:04d}", nodes)
        nodes[name] = nir.Output(output_type=np.array([net.populations[out].size]))
        edges.append((out, name))
    _check_delays(net, nodes, edges)
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _population_node(pop: Population) -> nir.NIRNode:
    if pop.is_input:
        return nir.Input(input_type=np.array([pop.size]))
    fields = {nir_name(pop.model, key): pop.params[key].astype(np.float64)
              for key in MODEL_PARAMS[pop.model] if key != "bias"}
    required, optional = NEURON_FIELDS[pop.model]
    fields.update({key: np.ones(pop.size) for key in (*required, *optional)
                   if key in GAIN_FIELDS})
    return getattr(nir, pop.model)(**fields)


def _has_bias(pop: Population) -> bool:
    return bool(np.any(pop.params.get("bias", 0.0) != 0))


def _bias_carriers(net: Network) -> set[str]:
    """For each population with a bias, the incoming projection that carries it (delay 0 first)."""
    carriers = set()
    for pop in net.populations.values():
        incoming = sorted(net.incoming(pop.name), key=lambda p: (p.delay, p.name))
        if _has_bias(pop) and incoming:
            carriers.add(incoming[0].name)
    return carriers


def _unused(name: str, taken: dict[str, object]) -> str:
    while name in taken:
        name += "_"
    return name


def _check_names(net: Network) -> None:
    for name in [*net.populations, *net.projections]:
        if "/" in name or not name:
            raise UnsupportedError(f"name {name!r} cannot be a NIR node name (HDF5 group names "
                                   f"are non-empty and cannot contain '/')", where=net.name,
                                   fix="rename it")
    clash = sorted(set(net.populations) & set(net.projections))
    if clash:
        raise UnsupportedError(f"{clash} name both a population and a projection; NIR node names "
                               f"must be unique", where=net.name, fix="rename the projection(s)")


def _check_delays(net: Network, nodes: dict[str, nir.NIRNode],
                  edges: list[tuple[str, str]]) -> None:
    """Refuse a network whose delays the reader would not find in the written graph."""
    roots = sorted(p.name for p in net.populations.values() if p.is_input)
    back = find_back_edges(nodes, edges, roots)
    for proj in net.projections.values():
        found = int((proj.source, proj.name) in back or (proj.name, proj.target) in back)
        if found != proj.delay:
            raise UnsupportedError(
                f"delay {proj.delay} would read back as {found}: the reader puts the one-step "
                f"delay on the back edges of a depth-first search from the inputs (successors by "
                f"name), and this projection is {'not ' if found == 0 else ''}one",
                where=f"{net.name}: projection {proj.name!r} ({proj.source} -> {proj.target})",
                fix="NIR cannot store this delay pattern without Delay nodes; use delay 1 only on "
                    "projections that close a recurrent loop")
