"""Graph-level structure of a NIR file: flattening nested graphs, back edges, illegal loops.

Shared by the reader and the writer (the writer checks that what it writes reads back with the
same delays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from neurocc.compiler.errors import ModelFormatError, UnsupportedError

#: NIR types whose output is a spike train (the IR's spiking models).
SPIKING_TYPES = frozenset({"LIF", "CubaLIF", "IF", "Threshold"})
#: Deepest nesting of subgraphs (``NIRGraph`` nodes inside ``NIRGraph`` nodes) the reader follows.
MAX_NESTING = 64


@dataclass
class FlatGraph:
    """A graph without nesting: node dicts by name and edges (a list; repeats add up)."""

    nodes: dict[str, dict[str, Any]]
    edges: list[tuple[str, str]]

    def predecessors(self, name: str) -> list[str]:
        return [u for u, v in self.edges if v == name]


def flatten_graph(graph: Mapping[str, Any], label: str) -> FlatGraph:
    """Inline nested ``NIRGraph`` nodes; their nodes are renamed ``<subgraph>.<node>``.

    An edge into a subgraph names it (``sub``, when it has exactly one Input node) or one of its
    inputs (``sub.<input>``); likewise out of it through its Output nodes. The subgraph's own
    Input/Output nodes stay as ``Identity`` nodes that the linear composition passes through. A
    dotted name in a flat graph (``lif1.lif``) is just a name. Repeated edges in one graph are
    read once (NIR forbids them); edges that meet through an inlined subgraph keep their sum.
    """
    kind = graph.get("type")
    if not (isinstance(kind, str) and kind == "NIRGraph"):
        shown = f"a {kind}" if isinstance(kind, str) else "a node without a type name"
        raise ModelFormatError(f"the root node is {shown}, not a NIRGraph", where=label,
                               fix="export the whole network as a NIRGraph (nir.write(path, "
                                   "nir.NIRGraph(nodes, edges)))")
    return _flatten(graph, label, "", 0)[0]


def _flatten(graph: Mapping[str, Any], label: str, prefix: str,
             depth: int) -> tuple[FlatGraph, tuple[list[str], list[str]]]:
    """Flatten one level; also return the names of this graph's own Input and Output nodes."""
    where = f"{label}, graph {prefix.rstrip('.')!r}" if prefix else label
    if depth > MAX_NESTING:
        raise ModelFormatError(f"subgraphs are nested more than {MAX_NESTING} deep", where=where,
                               fix="flatten the nested subgraphs before export")
    if not isinstance(graph.get("nodes"), Mapping) or "edges" not in graph:
        raise ModelFormatError("graph has no 'nodes' group or no 'edges' list", where=where,
                               fix="write the file with nir.write")
    nodes: dict[str, dict[str, Any]] = {}
    ports: dict[str, tuple[list[str], list[str]]] = {}  # subgraph -> (its inputs, its outputs)
    edges: list[tuple[str, str]] = []
    for name, node in graph["nodes"].items():
        if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
            raise ModelFormatError(f"node {name!r} has no 'type' string", where=where,
                                   fix="every NIR node needs a type field")
        if node["type"] == "NIRGraph":
            inner, ports[prefix + name] = _flatten(node, label, prefix + name + ".", depth + 1)
            members, edges = inner.nodes, edges + inner.edges
        else:
            members = {prefix + name: dict(node)}
        for member, value in members.items():
            if member in nodes:
                raise ModelFormatError(f"inlining subgraphs gives two nodes named {member!r}",
                                       where=where, fix="rename one of the nodes")
            nodes[member] = value
    own = tuple([prefix + n for n, d in graph["nodes"].items() if d["type"] == kind]
                for kind in ("Input", "Output"))
    if prefix:
        for name in own[0] + own[1]:
            nodes[name] = {"type": "Identity"}
    edges += [(_endpoint(prefix + u, 1, ports, nodes, where),
               _endpoint(prefix + v, 0, ports, nodes, where))
              for u, v in dict.fromkeys(_edge_list(graph["edges"], where))]
    return FlatGraph(nodes, edges), own


def _edge_list(edges: Any, where: str) -> list[tuple[str, str]]:
    edges = np.asarray(edges, dtype=object)
    if edges.size == 0:
        return []
    if edges.ndim != 2 or edges.shape[1] != 2 or \
            not all(isinstance(end, (str, int, np.integer)) for end in edges.reshape(-1)):
        raise ModelFormatError("the edge list is not a list of (source, target) pairs",
                               where=where, fix="write the file with nir.write")
    return [(str(u), str(v)) for u, v in edges.tolist()]


def _endpoint(name: str, side: int, entries: Mapping[str, tuple[list[str], list[str]]],
              nodes: Mapping[str, Any], where: str) -> str:
    """Resolve an edge end; ``side`` 0 = the edge enters ``name``, 1 = it leaves it."""
    if name in entries:
        ports = entries[name][side]
        kind = ("Input", "Output")[side]
        if len(ports) != 1:
            raise ModelFormatError(
                f"edge names subgraph {name!r}, which has {len(ports)} {kind} nodes",
                where=where, fix=f"name the {kind} node in the edge, e.g. '{name}.<{kind} node>'")
        return ports[0]
    if name not in nodes:
        known = sorted(nodes)
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise ModelFormatError(f"an edge names node {name!r}, which does not exist", where=where,
                               fix=f"edges may only name the graph's nodes ({listed})")
    return name


def find_back_edges(nodes: Iterable[str], edges: Iterable[tuple[str, str]],
                    roots: Sequence[str]) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first search; these carry the recurrent delay.

    The search starts at ``roots`` (the inputs) in the given order, then at the remaining nodes
    by name; successors are visited by name, so the result does not depend on the edge order in
    the file.
    """
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in dict.fromkeys(edges):
        succ[u].append(v)
    for targets in succ.values():
        targets.sort()
    on_stack, done, back = set(), set(), set()
    for root in [*roots, *sorted(succ)]:
        if root in done:
            continue
        on_stack.add(root)
        stack = [(root, iter(succ[root]))]
        while stack:
            node, todo = stack[-1]
            nxt = next(todo, None)
            if nxt is None:
                stack.pop()
                on_stack.discard(node)
                done.add(node)
            elif nxt in on_stack:
                back.add((node, nxt))
            elif nxt not in done:
                on_stack.add(nxt)
                stack.append((nxt, iter(succ[nxt])))
    return back


def check_loops(graph: FlatGraph, where: str) -> None:
    """Reject a cycle with no spiking node on it (e.g. LI -> Affine -> LI, or a loop of Affines).

    The IR delays recurrent connections by a step at a spiking layer; a loop of analog values
    alone has no such place.
    """
    analog = nx.DiGraph()
    analog.add_nodes_from(n for n, d in graph.nodes.items() if d["type"] not in SPIKING_TYPES)
    analog.add_edges_from((u, v) for u, v in graph.edges if u in analog and v in analog)
    try:
        cycle = nx.find_cycle(analog)
    except nx.NetworkXNoCycle:
        return
    loop = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
    raise UnsupportedError(f"recurrent loop without a spiking node: {loop}", where=where,
                           fix="put a spiking neuron layer (LIF, CubaLIF, IF, Threshold) in every "
                               "recurrent loop")
