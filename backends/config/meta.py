"""What a configuration holds besides the routing tables: the IR's projections, dt, the mapping
options and per-neuron latches, and the :class:`Deployment` a reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.ir import Network
from neurocc.compiler.tables import RoutingTables


@dataclass(frozen=True)
class ProjectionRecord:
    """Identity of one IR projection; the chip merges projections, the config remembers them."""

    name: str
    source: str
    target: str
    delay: int


@dataclass(frozen=True)
class ConfigMeta:
    """Everything a config carries beyond :class:`RoutingTables`.

    ``dt`` and ``circuit_options`` let :func:`neurocc.backends.readback.tables_to_network` turn the
    realised currents back into IR parameters; ``projections`` give the read-back network the IR's
    projection names and delays; ``latches`` maps a hardware neuron id to the per-neuron latches
    it sets (DYNAP-SE2 only; absent = chip default). ``network_sha256``: hex SHA-256 of the
    ``network.ncl`` written beside the config, so that verification refuses a source network that
    does not belong to this configuration.
    """

    dt: float | None = None
    circuit_options: CircuitOptions | None = None
    projections: tuple[ProjectionRecord, ...] = ()
    latches: Mapping[int, Mapping[str, bool]] = field(default_factory=dict)
    network_sha256: str | None = None

    @classmethod
    def from_network(cls, net: Network, circuit_options: CircuitOptions | None = None
                     ) -> "ConfigMeta":
        """The meta of a compiled network: its dt, the mapping options and its projections."""
        projections = tuple(ProjectionRecord(p.name, p.source, p.target, int(p.delay))
                            for p in net.projections.values())
        return cls(dt=float(net.dt), circuit_options=circuit_options, projections=projections)


@dataclass(eq=False)
class Deployment:
    """A config read back: the routing tables (canonical row order) and the meta."""

    tables: RoutingTables
    meta: ConfigMeta
