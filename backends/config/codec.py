"""The per-generation spelling of a configuration: a :class:`Codec` says how one chip generation
writes and reads CAM entries, SRAM entries, input destinations and core parameters (samna's
``Dynapse2Configuration`` vs ``Dynapse1Configuration`` field names)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from neurocc.backends.json_fields import Fields
from neurocc.backends.target import Target


class Unrepresentable(Exception):
    """Raised by a codec's encoder for a table value the format cannot express."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message, self.fix = message, fix


class Codec(ABC):
    """How one chip generation spells CAM entries, SRAM entries, inputs and core parameters."""

    format: str
    #: Nesting of the per-core parameter map inside a core object (samna's names).
    parameters_path: tuple[str, ...]
    #: Per-neuron latch names the format accepts (empty: none).
    latches: tuple[str, ...] = ()

    def __init__(self, target: Target):
        self.target = target
        self.npc = target.neurons_per_core
        self.cpc = target.cores_per_chip
        self.type_names = tuple(st.name for st in target.synapse_types)

    @abstractmethod
    def synapse(self, key: int, syn_type: int, code: int) -> dict[str, Any]:
        """One CAM entry as JSON (``syn_type`` indexes ``type_names``)."""

    @abstractmethod
    def read_synapse(self, r: Fields, obj: Any, path: str) -> tuple[int, int, int]:
        """(key, type index, code) of a CAM entry."""

    def quick_synapse(self, obj: Any) -> tuple[int, int, int] | None:
        """:meth:`read_synapse` for the common well-formed entry without building paths, or None
        (then :meth:`read_synapse` decides). It must accept nothing that one refuses."""
        return None

    @abstractmethod
    def destination(self, chip: int, slot: int, key: int, dest_chip: int,
                    cores: int) -> dict[str, Any]:
        """One SRAM entry of the neuron in ``slot`` of a core on ``chip``, as JSON."""

    @abstractmethod
    def read_destination(self, r: Fields, obj: Any, path: str, chip: int,
                         slot: int) -> tuple[int, int, int]:
        """(key, destination chip, core mask) of an SRAM entry."""

    @abstractmethod
    def input_destination(self, key: int, dest_chip: int, cores: int) -> dict[str, Any]:
        """Where an external input channel's events go, as JSON."""

    @abstractmethod
    def read_input_destination(self, r: Fields, obj: Any, path: str) -> tuple[int, int, int]:
        """(key, destination chip, core mask) of an input destination."""


def mask_bools(mask: int, length: int) -> list[bool]:
    return [bool((mask >> k) & 1) for k in range(length)]
