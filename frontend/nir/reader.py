"""Read a NIR graph (HDF5 file or ``nir.NIRGraph``) into a verified, normalised IR ``Network``.

Pipeline: plain node dicts (``nir.source``) -> nested graphs inlined (``nir.graph``) -> neuron
nodes parsed and checked (``nir.neurons``) -> shapes inferred and stateless nodes turned into
sparse linear maps (``nir.linear``) -> every chain of linear nodes between two populations
composed into one projection per (source, target, delay) -> thresholds normalised.

Choices the file leaves open, fixed here so that the result is deterministic:

* Recurrence: a depth-first search from the Input nodes (by name), visiting successors by name,
  finds the back edges; a composed path gets one step of delay per back edge it crosses (so 1 on
  ordinary recurrent connections, 0 elsewhere).
* Names: populations are the neuron/Input node names (``sub.node`` inside a nested graph);
  projections are ``source->target`` (``source->target#<delay>`` for a second delay of a pair).
* Order: inputs first, then populations in topological order of the delay-0 projections, ties by
  name; ``outputs`` follow the Output nodes by name.
* An Affine bias (also Conv bias) is composed through later linear nodes and added to the bias of
  the population it reaches. Edges are unordered; several edges into one node add up.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import networkx as nx
import nir
import numpy as np
import scipy.sparse as sp

from neurocc.compiler.errors import InvalidModelError, ModelFormatError, NeuroccError, \
    UnsupportedError
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.compiler.limits import check_memory

from ..load import LoadOptions, check_neuron_memory
from ..presets import adjust_neurons, get_preset
from .graph import FlatGraph, check_loops, find_back_edges, flatten_graph
from .linear import LINEAR_TYPES, LinearOp, linear_op
from .neurons import NEURON_FIELDS, NeuronNode, gain, parse_neuron, to_population
from .source import load_graph_dict
from .values import check_finite, field, shape_of, size_of

Shape = tuple[int, ...]
SUPPORTED_TYPES = ("Input", "Output", *NEURON_FIELDS, *LINEAR_TYPES, "NIRGraph")


def read_nir(source: str | Path | nir.NIRGraph, options: LoadOptions = LoadOptions()) -> Network:
    """Read a NIR file (or in-memory graph) into a verified, threshold-normalised Network.

    ``options`` supplies what NIR does not store: ``dt`` and, for resetting models, the reset
    mode and refractory period. The network is named after the file stem (``network`` for an
    in-memory graph).
    """
    options = options.with_nir_defaults()
    graph_dict, label = load_graph_dict(source, options.max_memory)
    graph = flatten_graph(graph_dict, label)
    kinds = {name: node["type"] for name, node in graph.nodes.items()}
    for name, kind in sorted(kinds.items()):
        if kind not in SUPPORTED_TYPES:
            raise UnsupportedError(f"node type {kind!r} is not supported",
                                   where=_where(label, name, kind),
                                   fix=f"supported node types: {', '.join(SUPPORTED_TYPES)}")
    _check_edge_directions(graph, kinds, label)
    neurons, inputs = _parse_nodes(graph, label, options.max_memory)
    adjust_neurons(neurons, get_preset(options.preset), options.dt)
    if not neurons:
        raise InvalidModelError("the graph has no neuron nodes, so there is nothing to compile",
                                where=label, fix="export the network with its neuron layers ("
                                f"{', '.join(NEURON_FIELDS)})")
    check_loops(graph, label)
    shapes, ops = _infer_shapes(graph, neurons, inputs, label, options.max_memory)
    _check_sizes(graph, shapes, ops, label)
    check_neuron_memory(sum(size_of(shapes[n]) for n in [*inputs, *neurons]),
                        f"{label}: the model", options.max_memory)
    back = find_back_edges(graph.nodes, graph.edges, roots=sorted(inputs))
    weights, biases = _compose(graph, [*inputs, *neurons], ops, shapes, back, label,
                               options.max_memory)

    net = Network(dt=options.dt,
                  name="network" if isinstance(source, nir.NIRGraph) else Path(source).stem)
    order = _population_order(list(inputs), list(neurons), weights)
    for pop in order:
        size = size_of(shapes[pop])
        if pop in inputs:
            net.add_population(make_population(pop, "input", size))
            continue
        with _located(_where(label, pop, neurons[pop].type)):
            net.add_population(to_population(neurons[pop], size, biases.get(pop, np.zeros(size)),
                                             options.reset, options.refractory))
    rank = {pop: i for i, pop in enumerate(order)}
    for src, tgt, delay in sorted(weights, key=lambda k: (rank[k[0]], rank[k[1]], k[2])):
        with _located(_where(label, tgt, neurons[tgt].type)):
            matrix = _scale_rows(gain(neurons[tgt], net.populations[tgt].size),
                                 weights[src, tgt, delay], f"the weights from {src!r}")
        first = min(d for s, t, d in weights if (s, t) == (src, tgt))
        name = f"{src}->{tgt}" if delay == first else f"{src}->{tgt}#{delay}"
        net.add_projection(Projection(name, src, tgt, matrix, delay=delay))
    net.outputs = _outputs(graph, kinds, label)
    return net.verify()


def _parse_nodes(graph: FlatGraph, label: str, max_memory: int,
                 ) -> tuple[dict[str, NeuronNode], dict[str, Shape]]:
    """Neuron nodes (parameters checked) and the shapes of the Input nodes (within the memory
    budget), by name."""
    neurons, inputs = {}, {}
    for name, node in sorted(graph.nodes.items()):
        with _located(_where(label, name, node["type"])):
            if node["type"] in NEURON_FIELDS:
                neurons[name] = parse_neuron(name, node)
            elif node["type"] == "Input":
                inputs[name] = shape_of(field(node, "shape"), "shape")
                check_neuron_memory(size_of(inputs[name]), "the Input node", max_memory)
    return neurons, inputs


def _where(label: str, name: str, kind: str) -> str:
    return f"{label}, node {name!r} ({kind})"


@contextmanager
def _located(where: str) -> Iterator[None]:
    """Give errors raised by node-level helpers the node's location."""
    try:
        yield
    except NeuroccError as err:
        if err.where is None:
            err.where = where
        raise


def _check_edge_directions(graph: FlatGraph, kinds: dict[str, str], label: str) -> None:
    for u, v in graph.edges:
        if kinds[u] == "Output" or kinds[v] == "Input":
            raise ModelFormatError(f"edge {u!r} -> {v!r} leaves an Output or enters an Input node",
                                   where=label, fix="Input nodes only send, Output nodes only "
                                                    "receive")


def _infer_shapes(graph: FlatGraph, neurons: dict[str, NeuronNode], inputs: dict[str, Shape],
                  label: str, max_memory: int) -> tuple[dict[str, Shape], dict[str, LinearOp]]:
    """Output shape of every node (and the linear maps, built once their input is known).

    A node takes the shape of its first predecessor (by name) whose shape is known; that all
    predecessors agree is checked afterwards (``_check_sizes``).
    """
    shapes: dict[str, Shape] = dict(inputs)
    shapes.update({name: node.shape for name, node in neurons.items() if node.shape})
    ops: dict[str, LinearOp] = {}
    preds = {name: sorted(set(graph.predecessors(name))) for name in graph.nodes}
    pending = [n for n in sorted(graph.nodes) if n not in shapes and graph.nodes[n]["type"]
               != "Output"]
    while pending:
        ready = [n for n in pending if not preds[n] or any(p in shapes for p in preds[n])]
        if not ready:
            raise ModelFormatError(f"cannot infer the shapes of nodes {pending}", where=label,
                                   fix="give the neuron parameters one value per neuron")
        for name in ready:
            in_shape = next((shapes[p] for p in preds[name] if p in shapes), None)
            with _located(_where(label, name, graph.nodes[name]["type"])):
                if name in neurons:
                    if in_shape is None:
                        raise ModelFormatError("all parameters are scalars and nothing feeds the "
                                               "node, so its size is unknown",
                                               fix="give the parameters one value per neuron")
                    shapes[name] = in_shape
                else:
                    ops[name] = linear_op(graph.nodes[name], in_shape, max_memory)
                    shapes[name] = ops[name].shape
            pending.remove(name)
    return shapes, ops


def _check_sizes(graph: FlatGraph, shapes: dict[str, Shape], ops: dict[str, LinearOp],
                 label: str) -> None:
    for u, v in sorted(set(graph.edges)):
        kind = graph.nodes[v]["type"]
        if kind == "Output":
            continue  # Output shapes in real files are often wrong; they carry no information
        takes = ops[v].matrix.shape[1] if v in ops else size_of(shapes[v])
        if size_of(shapes[u]) != takes:
            raise InvalidModelError(
                f"shape mismatch: node {u!r} outputs {size_of(shapes[u])} values "
                f"(shape {list(shapes[u])}) but node {v!r} ({kind}) takes {takes}",
                where=label, fix="connect layers of matching sizes")


def _compose(graph: FlatGraph, populations: list[str], ops: dict[str, LinearOp],
             shapes: dict[str, Shape], back: set[tuple[str, str]], label: str, max_memory: int,
             ) -> tuple[dict[tuple[str, str, int], sp.csr_array], dict[str, np.ndarray]]:
    """Projection matrices (raw, before the gain) by (source, target, delay), and raw biases.

    Every sparse product is bounded before it is formed; values that overflow are one error.
    """
    preds = {name: graph.predecessors(name) for name in graph.nodes}
    linear = nx.DiGraph()
    linear.add_nodes_from(ops)
    linear.add_edges_from((u, v) for u, v in graph.edges if u in ops and v in ops)
    order = list(nx.lexicographical_topological_sort(linear))
    targets = [n for n in populations if graph.nodes[n]["type"] != "Input"]

    with np.errstate(over="ignore", invalid="ignore"):
        bias_out: dict[str, np.ndarray] = {}
        for node in order:
            acc = sum((bias_out[p] for p in preds[node] if p in ops),
                      np.zeros(ops[node].matrix.shape[1]))
            bias = ops[node].bias if ops[node].bias is not None else 0.0
            bias_out[node] = ops[node].matrix @ acc + bias
        biases = {t: sum(bias_out[p] for p in preds[t] if p in ops) for t in targets
                  if any(p in ops for p in preds[t])}

        weights: dict[tuple[str, str, int], sp.csr_array] = {}
        for src in populations:
            reach: dict[str, dict[int, sp.csr_array]] = {src: {0: sp.identity(
                size_of(shapes[src]), format="csr")}}
            for node in order:
                acc = _gather(preds[node], node, reach, back)
                if acc:
                    reach[node] = {d: _product(ops[node].matrix, m, max_memory,
                                               f"{label}: composing {src!r} through {node!r}")
                                   for d, m in acc.items()}
            for tgt in targets:
                for delay, m in _gather(preds[tgt], tgt, reach, back).items():
                    key = (src, tgt, delay)
                    weights[key] = weights[key] + m if key in weights else m
    fix = "check the export: the linear layers' values are far too large"
    with _located(label):
        for (src, tgt, _), matrix in sorted(weights.items()):
            check_finite(matrix.data, f"the weights composed from {src!r} to {tgt!r}", fix)
        for tgt, bias in sorted(biases.items()):
            check_finite(bias, f"the biases composed into {tgt!r}", fix)
    return weights, biases


def _product(a: sp.csr_array, b: sp.csr_array, max_memory: int, what: str) -> sp.csr_array:
    """``a @ b``, refused before it is formed when its entries could exceed the budget."""
    per_column = np.bincount(a.indices, minlength=a.shape[1]).astype(np.float64)
    per_row = np.diff(sp.csr_array(b).indptr).astype(np.float64)
    bound = min(float(a.shape[0]) * float(b.shape[1]), float(per_column @ per_row))
    check_memory(bound * 16 + a.shape[0] * 8, what, max_memory)
    return sp.csr_array(a @ b)


def _scale_rows(factor: np.ndarray, matrix: sp.csr_array, what: str) -> sp.csr_array:
    """``diag(factor) @ matrix`` without zeros, refused (without numpy warnings) on overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = sp.csr_array(sp.diags_array(factor) @ matrix)
    check_finite(scaled.data, f"{what} times the gain r*w_in/threshold",
                 "check the export: the threshold is far too small for the weights")
    scaled.eliminate_zeros()
    return scaled


def _gather(preds: list[str], node: str, reach: dict[str, dict[int, sp.csr_array]],
            back: set[tuple[str, str]]) -> dict[int, sp.csr_array]:
    """Sum what reaches ``node`` from its predecessors, by delay (+1 across a back edge)."""
    acc: dict[int, sp.csr_array] = {}
    for p in preds:
        for delay, m in reach.get(p, {}).items():
            d = delay + ((p, node) in back)
            acc[d] = acc[d] + m if d in acc else m
    return acc


def _population_order(inputs: list[str], neurons: list[str],
                      weights: dict[tuple[str, str, int], Any]) -> list[str]:
    g = nx.DiGraph()
    g.add_nodes_from(inputs + neurons)
    g.add_edges_from((s, t) for s, t, d in weights if d == 0)
    is_input = set(inputs)
    return list(nx.lexicographical_topological_sort(g, key=lambda n: (n not in is_input, n)))


def _outputs(graph: FlatGraph, kinds: dict[str, str], label: str) -> list[str]:
    outputs: list[str] = []
    for out in sorted(n for n, k in kinds.items() if k == "Output"):
        for p in sorted(set(graph.predecessors(out))):
            if kinds[p] not in NEURON_FIELDS and kinds[p] != "Input":
                raise UnsupportedError(
                    f"Output node {out!r} is fed by {kinds[p]} node {p!r}, not by a neuron layer",
                    where=label, fix="end the network with a neuron node before the Output "
                                     "(e.g. an LI readout), so that the output is a population")
            if p not in outputs:
                outputs.append(p)
    return outputs
