"""DYNAP-SE2 configs: routing tables <-> neurocc's compact JSON with samna's field names.

Spelling (samna ``Dynapse2Configuration``; see ``docs/config_format.md``):

* a CAM entry (``Dynapse2Synapse``): ``{"tag", "dendrite", "weight"}`` with ``dendrite`` the synapse
  type's name (samna enum value = the target's code) and ``weight`` the 4 booleans selecting
  ``SYAM_W0_P..SYAM_W3_P`` (element k = bit k of the tables' weight code). neurocc uses no
  short-term plasticity and no delays: ``stp``, ``precise_delay``, ``mismatched_delay`` are left
  out (false); a file that sets one true is refused.
* an SRAM entry (``Dynapse2Destination``): ``{"tag", "x_hop", "y_hop", "core"}``, hops relative to
  the source chip, ``core`` the 4 booleans of the core mask;
* an input channel's destination: ``{"tag", "chip", "core"}`` (the chip the event is injected into);
* a core's ``parameters``: ``{name: {"coarse_value", "fine_value", "type"}}``; a neuron's
  ``latches``: ``{latch_name: bool}``.
"""

from __future__ import annotations

from typing import Any

from neurocc.backends.config.codec import Codec, Unrepresentable, mask_bools
from neurocc.backends.config.format import JsonConfig
from neurocc.backends.json_fields import Fields, child
from neurocc.backends.target import Target

FORMAT = "neurocc-dynapse2-config"
#: Per-neuron latches of samna's Dynapse2Neuron (shared/hardware/README.md).
LATCHES = ("latch_so_dc", "latch_so_adaptation", "latch_soif_kill", "latch_coho_ca_mem",
           "latch_ho_enable", "latch_ho_so_de", "latch_deam_ampa", "latch_denm_nmda",
           "latch_de_conductance", "latch_deam_alpha", "latch_denm_alpha", "latch_de_mux",
           "latch_soif_type", "latch_ho_active")
#: Synapse fields neurocc never sets (must be absent or false).
UNUSED_SYNAPSE_FLAGS = ("stp", "precise_delay", "mismatched_delay")


class Dynapse2Codec(Codec):
    format = FORMAT
    parameters_path = ("parameters",)
    latches = LATCHES

    def __init__(self, target: Target):
        super().__init__(target)
        self.tags = target.addressing.tags
        self.bases = target.weights.bases
        self.positions = {target.chip_xy(c): c for c in range(target.chips)}
        self.type_index = {name: i for i, name in enumerate(self.type_names)}
        self.weights = [mask_bools(m, self.bases) for m in range(2 ** self.bases)]
        self.masks = {tuple(w): m for m, w in enumerate(self.weights)}

    # -- CAM ---------------------------------------------------------------------------------
    def synapse(self, key: int, syn_type: int, code: int) -> dict[str, Any]:
        if not 0 <= code < 2 ** self.bases:
            raise Unrepresentable(f"CAM weight code {code} does not fit the {self.bases}-bit mask",
                                  fix="quantize weights to masks over the core's base weights")
        return {"tag": key, "dendrite": self.type_names[syn_type],
                "weight": list(self.weights[code])}

    def read_synapse(self, r: Fields, obj: Any, path: str) -> tuple[int, int, int]:
        syn = r.obj(obj, path, ("tag", "dendrite", "weight"), UNUSED_SYNAPSE_FLAGS)
        for flag in UNUSED_SYNAPSE_FLAGS:
            if flag in syn and r.bool(syn[flag], child(path, flag)):
                raise r.fail(child(path, flag), "is true but neurocc configs use no short-term "
                                                "plasticity or synaptic delays",
                             fix=f"set {flag} false or leave it out")
        tag = r.int(syn["tag"], child(path, "tag"), 0, self.tags - 1)
        dendrite = r.str(syn["dendrite"], child(path, "dendrite"), self.type_names)
        mask = r.bools(syn["weight"], child(path, "weight"), self.bases)
        return tag, self.type_names.index(dendrite), mask

    def quick_synapse(self, obj: Any) -> tuple[int, int, int] | None:
        if type(obj) is not dict or len(obj) != 3:
            return None
        tag, weight = obj.get("tag"), obj.get("weight")
        kind = self.type_index.get(obj.get("dendrite"))  # type: ignore[arg-type]
        if type(tag) is not int or not 0 <= tag < self.tags or kind is None or \
                type(weight) is not list or list(map(type, weight)).count(bool) != self.bases:
            return None
        return tag, kind, self.masks[tuple(weight)]

    # -- SRAM --------------------------------------------------------------------------------
    def destination(self, chip: int, slot: int, key: int, dest_chip: int,
                    cores: int) -> dict[str, Any]:
        x_hop, y_hop = self.target.hops(chip, dest_chip)
        return {"tag": key, "x_hop": x_hop, "y_hop": y_hop, "core": mask_bools(cores, self.cpc)}

    def read_destination(self, r: Fields, obj: Any, path: str, chip: int,
                         slot: int) -> tuple[int, int, int]:
        dest = r.obj(obj, path, ("tag", "x_hop", "y_hop", "core"))
        tag = r.int(dest["tag"], child(path, "tag"), 0, self.tags - 1)
        lo, hi = self.target.hop_range
        dx = r.int(dest["x_hop"], child(path, "x_hop"), lo, hi)
        dy = r.int(dest["y_hop"], child(path, "y_hop"), lo, hi)
        x, y = self.target.chip_xy(chip)
        if (x + dx, y + dy) not in self.positions:
            raise r.fail(path, f"hops ({dx}, {dy}) from chip {chip} at ({x}, {y}) lead to "
                               f"({x + dx}, {y + dy}), where the board has no chip",
                         fix="point the destination at a chip of the target")
        cores = self._cores(r, dest["core"], child(path, "core"))
        return tag, self.positions[x + dx, y + dy], cores

    def input_destination(self, key: int, dest_chip: int, cores: int) -> dict[str, Any]:
        return {"tag": key, "chip": dest_chip, "core": mask_bools(cores, self.cpc)}

    def read_input_destination(self, r: Fields, obj: Any, path: str) -> tuple[int, int, int]:
        dest = r.obj(obj, path, ("tag", "chip", "core"))
        tag = r.int(dest["tag"], child(path, "tag"), 0, self.tags - 1)
        chip = r.int(dest["chip"], child(path, "chip"), 0, self.target.chips - 1)
        return tag, chip, self._cores(r, dest["core"], child(path, "core"))

    def _cores(self, r: Fields, value: Any, path: str) -> int:
        mask = r.bools(value, path, self.cpc)
        if mask == 0:
            raise r.fail(path, "selects no core: the entry reaches nothing",
                         fix="select at least one core, or remove the entry")
        return mask


# -- public API --------------------------------------------------------------------------------
#: Writer and reader of dynapse2 JSON configs (``to_json``, ``from_json``, ``dumps``, ``loads``,
#: ``write``, ``read``).
CONFIG = JsonConfig(Dynapse2Codec)
to_json = CONFIG.to_json
from_json = CONFIG.from_json
write_config = CONFIG.write
read_config = CONFIG.read
