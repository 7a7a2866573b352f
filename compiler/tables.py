"""Routing tables: what a chip's memories hold, in a target-neutral, array-based form.

Both DYNAP generations route by *keys*: a source's SRAM entry sends an event carrying a key to one
destination chip, where the cores named by a core mask receive it; a receiving neuron listens to a
key through a CAM entry that also names the synapse type and a weight code. What a key is depends on
the target's addressing scheme (read from the target data, never hard-coded here):

* ``tag``: the key is an explicit tag chosen per SRAM entry (DYNAP-SE2: 11 bits, only unambiguous
  among the events reaching one core).
* ``core_neuron``: the key is ``virtual_core * neurons_per_core + source_slot``; only the virtual core
  is chosen per SRAM entry (DYNAP-SE1: 2 + 8 bits, no chip id in the CAM).

The weight code of a CAM entry is the target's weight representation: a bit mask over the core's base
weights (``base_sum``), or 1 for a binary synapse whose strength is the core's weight bias of that
type, repeated entries adding up (``count``).

Numbering:

* Hardware neurons: ``hw = (chip * cores_per_chip + core) * neurons_per_core + slot``.
* IR neurons: the global index over the non-input populations of ``populations`` in order.
* Input channels: the global index over ``input_populations`` in order; as an SRAM source an input
  channel ``c`` is written ``-1 - c`` (hardware neurons are >= 0).

Tables hold one row per CAM entry and one row per SRAM entry (numpy arrays), so that a 64k-neuron
board stays a few arrays rather than millions of objects. Emitters turn them into per-neuron lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import IRVerifyError


@dataclass
class CoreConfig:
    """Per-core settings: its parameter class and every bias as (coarse, fine)."""

    chip: int
    core: int
    parameter_class: int
    biases: dict[str, tuple[int, int]] = field(default_factory=dict)


def _ints(values=()) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


@dataclass
class RoutingTables:
    """The complete hardware network: placement, CAM and SRAM rows, cores, inputs and outputs."""

    target: str
    chips: int
    cores_per_chip: int
    neurons_per_core: int
    syn_types: tuple[str, ...]
    #: (name, size) of the non-input populations, in IR order.
    populations: list[tuple[str, int]] = field(default_factory=list)
    #: (name, size) of the input populations, in IR order.
    input_populations: list[tuple[str, int]] = field(default_factory=list)
    #: Hardware id of every IR neuron.
    neuron_hw: np.ndarray = field(default_factory=_ints)
    # CAM: one row per entry of a receiving hardware neuron.
    cam_post: np.ndarray = field(default_factory=_ints)
    cam_key: np.ndarray = field(default_factory=_ints)
    cam_type: np.ndarray = field(default_factory=_ints)  # index into syn_types
    cam_code: np.ndarray = field(default_factory=_ints)
    # SRAM: one row per entry of a source (hardware neuron >= 0, input channel c as -1 - c).
    sram_src: np.ndarray = field(default_factory=_ints)
    sram_key: np.ndarray = field(default_factory=_ints)
    sram_chip: np.ndarray = field(default_factory=_ints)
    sram_cores: np.ndarray = field(default_factory=_ints)  # bit mask over the chip's cores
    cores: dict[tuple[int, int], CoreConfig] = field(default_factory=dict)
    #: Names of the output populations (their neurons are read out).
    outputs: list[str] = field(default_factory=list)

    def hw_location(self, hw: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chip, core, slot) of hardware neuron ids."""
        hw = np.asarray(hw)
        slot = hw % self.neurons_per_core
        core_global = hw // self.neurons_per_core
        return core_global // self.cores_per_chip, core_global % self.cores_per_chip, slot

    def verify(self) -> "RoutingTables":
        """The tables' own invariants (the target's limits are the checker's job): aligned
        row arrays of integers, hardware ids and destinations inside the board, a known synapse
        type on every CAM row, one hardware id per IR neuron. Raises :class:`IRVerifyError`."""
        total_hw = self.chips * self.cores_per_chip * self.neurons_per_core
        rows = {"cam": (self.cam_post, self.cam_key, self.cam_type, self.cam_code),
                "sram": (self.sram_src, self.sram_key, self.sram_chip, self.sram_cores)}
        for name, arrays in rows.items():
            if any(a.ndim != 1 or a.dtype.kind not in "iu" for a in arrays) or \
                    len({a.size for a in arrays}) != 1:
                raise IRVerifyError(f"{name} rows are not aligned 1-d integer arrays",
                                    where="routing tables")
        n_inputs = sum(size for _, size in self.input_populations)
        problems = [
            (self.neuron_hw.size != sum(size for _, size in self.populations),
             "one hardware id per IR neuron"),
            (np.unique(self.neuron_hw).size != self.neuron_hw.size, "distinct hardware ids"),
            (not _within(self.neuron_hw, 0, total_hw), "hardware ids inside the board"),
            (not _within(self.cam_post, 0, total_hw), "CAM rows on board neurons"),
            (not _within(self.cam_type, 0, len(self.syn_types)), "known CAM synapse types"),
            (not _within(self.sram_src, -n_inputs, total_hw), "SRAM sources that exist"),
            (not _within(self.sram_chip, 0, self.chips), "SRAM destination chips on the board"),
            (not _within(self.sram_cores, 1, 2 ** self.cores_per_chip), "non-empty core masks"),
            (not set(self.outputs) <= {name for name, _ in
                                       self.populations + self.input_populations},
             "outputs that are populations"),
        ]
        for broken, invariant in problems:
            if broken:
                raise IRVerifyError(f"the routing tables break an invariant: {invariant}",
                                    where="routing tables")
        return self


def _within(values: np.ndarray, low: int, high: int) -> bool:
    """Every value in ``[low, high)``."""
    return values.size == 0 or (int(values.min()) >= low and int(values.max()) < high)


@dataclass(frozen=True)
class DeliveredSynapses:
    """Every (source, post, type, code) the tables realise, one row per matching CAM entry.

    ``src`` uses the SRAM source convention (hardware id >= 0, input channel ``-1 - c``); ``post``
    is a hardware id. A source reaching a post neuron through two CAM entries appears twice.
    """

    src: np.ndarray
    post: np.ndarray
    syn_type: np.ndarray
    code: np.ndarray


def delivered_synapses(tables: RoutingTables) -> DeliveredSynapses:
    """Join SRAM rows with CAM rows on (chip, core, key): what the hardware will actually do.

    This is the semantics of the routing memories, shared by the independent checker and the
    circuit simulator; it never looks at how the tables were produced.
    """
    cpc = tables.cores_per_chip
    # Expand each SRAM row into one row per destination core in its mask.
    core_bits = (tables.sram_cores[:, None] >> np.arange(cpc)[None, :]) & 1
    rows, cores = np.nonzero(core_bits)
    send_core = tables.sram_chip[rows] * cpc + cores
    send_key = tables.sram_key[rows]
    send_src = tables.sram_src[rows]
    # The core of each CAM row.
    recv_core = tables.cam_post // tables.neurons_per_core
    key_span = int(max(tables.cam_key.max(initial=0), send_key.max(initial=0))) + 1
    send_id = send_core * key_span + send_key
    recv_id = recv_core * key_span + tables.cam_key
    # Sort-merge join: for every CAM row, all SRAM deliveries with the same (core, key).
    order = np.argsort(send_id, kind="stable")
    send_sorted = send_id[order]
    lo = np.searchsorted(send_sorted, recv_id, side="left")
    hi = np.searchsorted(send_sorted, recv_id, side="right")
    counts = hi - lo
    cam_rows = np.repeat(np.arange(recv_id.size), counts)
    within = np.arange(cam_rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    send_rows = order[np.repeat(lo, counts) + within]
    return DeliveredSynapses(src=send_src[send_rows], post=tables.cam_post[cam_rows],
                             syn_type=tables.cam_type[cam_rows], code=tables.cam_code[cam_rows])
