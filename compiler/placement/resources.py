"""The target facts placement and routing use, gathered once from a loaded ``Target``.

Placement code never reads a chip name: it reads these numbers. ``Resources.from_target`` is the
only place that knows how the target object spells them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import TargetError

if TYPE_CHECKING:
    from neurocc.backends.target import Target, WeightScheme

ADDRESSING = ("tag", "core_neuron")


@dataclass(frozen=True, eq=False)
class Resources:
    """Sizes and limits of a multi-chip target.

    ``addressing`` is ``tag`` (a key is a tag chosen per SRAM entry, unambiguous per receiving
    core) or ``core_neuron`` (key = virtual core * neurons_per_core + source slot, the virtual
    core chosen per SRAM entry). ``forbidden_source_slots`` lists (core, slot) pairs of every
    chip whose neuron must never send; ``forbidden_keys`` are keys no source may use.
    """

    name: str
    chips: int
    chip_xy: np.ndarray  # (chips, 2) grid coordinates
    cores_per_chip: int
    neurons_per_core: int
    cam_per_neuron: int
    sram_per_neuron: int  # usable SRAM (fan-out) entries
    addressing: str
    key_count: int
    hop_range: tuple[int, int]  # lowest and highest relative hop on each axis
    syn_types: tuple[str, ...]
    weights: WeightScheme
    sram_entries: int = 0  # physical SRAM entries (>= sram_per_neuron)
    chips_per_board: int = 0  # 0: one board holds every chip
    virtual_cores: int = 0
    forbidden_keys: tuple[int, ...] = ()
    forbidden_source_slots: tuple[tuple[int, int], ...] = ()
    #: At most this many neurons per core (None: full cores); lowered to spread a network whose
    #: cores run out of keys over more cores.
    fill: int | None = None

    def __post_init__(self) -> None:
        if self.addressing not in ADDRESSING:
            raise TargetError(f"addressing {self.addressing!r} unknown", where=self.name,
                              fix=f"use one of {ADDRESSING}")
        if np.asarray(self.chip_xy).shape != (self.chips, 2):
            raise TargetError(f"chip grid has shape {np.asarray(self.chip_xy).shape}, expected "
                              f"({self.chips}, 2)", where=self.name)

    # -- derived sizes ------------------------------------------------------------------
    @property
    def total_cores(self) -> int:
        return self.chips * self.cores_per_chip

    @property
    def usable_keys(self) -> int:
        """Distinct sources one core can tell apart."""
        return self.key_count - len(self.forbidden_keys)

    def core_capacity(self) -> np.ndarray:
        """Neurons each global core can hold (a forbidden source slot is left empty)."""
        cap = np.full(self.total_cores, self.neurons_per_core, dtype=np.int64)
        for core, _slot in self.forbidden_source_slots:
            cap[core::self.cores_per_chip] -= 1
        return cap if self.fill is None else np.minimum(cap, self.fill)

    def chips_needed(self, counts: np.ndarray) -> int:
        """Fewest chips of this target whose cores hold parameter classes of ``counts`` neurons
        under :func:`class_blocks` (at least the chips given, so the answer is never fewer)."""
        per_chip = self.core_capacity()[:self.cores_per_chip]
        counts = np.asarray(counts, dtype=np.int64)
        chips = max(1, -(-int((-(-counts // per_chip.max())).sum()) // self.cores_per_chip))
        while class_blocks(counts, np.tile(per_chip, chips)) is None:
            chips += 1
        return chips

    def hops(self) -> np.ndarray:
        """(chips, chips) Manhattan hop counts between chips of the grid."""
        xy = np.asarray(self.chip_xy, dtype=np.int64)
        return np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)

    def in_hop_range(self) -> np.ndarray:
        """(chips, chips) whether chip [a] can send to chip [b] (each relative hop in range)."""
        xy = np.asarray(self.chip_xy, dtype=np.int64)
        d = xy[None, :, :] - xy[:, None, :]
        lo, hi = self.hop_range
        return ((d >= lo) & (d <= hi)).all(axis=2)

    @staticmethod
    def from_target(target: Target) -> "Resources":
        """Read the numbers from a ``backends.target.Target``."""
        return _from_target(target)


def class_blocks(counts: np.ndarray, caps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Cores per parameter class of ``counts`` neurons on cores of capacities ``caps``, and the
    order in which the classes take the cores (largest cores first); None when they run out.

    Classes never share a core. The classes with the least slack take the largest cores; a class
    still short of room (a core with a forbidden slot holds one neuron less) gets one more core.
    This is the one capacity rule of ``neurocc inspect``, the bounds before placement and the
    placement's blocks, so that they agree.
    """
    caps = np.sort(np.asarray(caps, dtype=np.int64))[::-1]
    counts = np.asarray(counts, dtype=np.int64)
    n_blocks = -(-counts // caps[0])
    while n_blocks.sum() <= caps.size:
        order = np.argsort(n_blocks * caps[0] - counts, kind="stable")
        owner = np.repeat(order, n_blocks[order])
        held = np.bincount(owner, weights=caps[:owner.size], minlength=counts.size)
        short = np.flatnonzero(held < counts)
        if short.size == 0:
            return n_blocks, order
        n_blocks[short[0]] += 1
    return None


def _from_target(target: Target) -> Resources:
    addr = target.addressing
    if addr.scheme == "tag":
        key_count, virtual, forbidden_keys = addr.tags, 0, ()
    else:
        key_count = 2 ** (addr.core_bits + addr.neuron_bits)
        virtual = 2 ** addr.core_bits if addr.virtual_core else 0
        # An empty CAM entry holds address (core 0, neuron 0): no event may carry such a key.
        forbidden_keys = tuple(sorted(core * 2 ** addr.neuron_bits + neuron
                                      for core, neuron in addr.forbidden_sources))
    return Resources(
        name=target.name,
        chips=target.chips,
        chip_xy=np.asarray([target.chip_xy(c) for c in range(target.chips)], dtype=np.int64),
        cores_per_chip=target.cores_per_chip,
        neurons_per_core=target.neurons_per_core,
        cam_per_neuron=target.cam_per_neuron,
        sram_per_neuron=target.sram_usable,
        addressing=addr.scheme,
        key_count=key_count,
        hop_range=tuple(target.hop_range),
        syn_types=tuple(t.name for t in target.synapse_types),
        weights=target.weights,
        sram_entries=target.sram_per_neuron,
        chips_per_board=target.chips_per_board,
        virtual_cores=virtual,
        forbidden_keys=forbidden_keys,
        forbidden_source_slots=tuple(addr.forbidden_sources),
    )


def as_resources(target: Target | Resources) -> Resources:
    """Accept either a loaded ``Target`` or ready ``Resources``."""
    return target if isinstance(target, Resources) else Resources.from_target(target)
