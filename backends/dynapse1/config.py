"""DYNAP-SE1 configs: routing tables <-> neurocc's compact JSON with samna's field names.

Spelling (samna ``Dynapse1Configuration``; see ``docs/config_format.md``):

* a CAM entry (``Dynapse1Synapse``): ``{"listen_core_id", "listen_neuron_id", "syn_type"}``; the
  tables' key is ``listen_core_id * 256 + listen_neuron_id`` and every entry has code 1 (integer
  weights repeat an entry);
* an SRAM entry (``Dynapse1Destination``): ``{"target_chip_id", "in_use", "virtual_core_id",
  "core_mask", "sx", "dx", "sy", "dy"}``; the event's address is (virtual core, the source's own
  neuron id), so the key's neuron part must be the source's slot. Hop signs follow the cAER
  netparser's routing table (``CalculateBits``): ``sx`` true = west (x decreases), ``sy`` true =
  south (y increases); the hardware facts give only "sign bits sx, sy", so this is the documented
  choice;
* an input channel's destination (an FPGA spike generator): ``{"target_chip_id", "core_mask",
  "virtual_core_id", "neuron_id"}``, the address the generator sends;
* a core's ``parameter_group.param_map``: ``{name: {"coarse_value", "fine_value", "type"}}`` with
  coarse 7 = largest current (samna's convention).

Only the usable SRAM entries are listed; tools keep the first ``entries - usable`` for monitoring.
"""

from __future__ import annotations

from typing import Any

from neurocc.backends.config.codec import Codec, Unrepresentable
from neurocc.backends.config.format import JsonConfig
from neurocc.backends.json_fields import Fields, child
from neurocc.backends.target import Target

FORMAT = "neurocc-dynapse1-config"


def hop_bits(dx: int, dy: int) -> tuple[bool, int, bool, int]:
    """(sx, |dx|, sy, |dy|) of a relative hop: sx true = west, sy true = south (cAER netparser)."""
    return dx < 0, abs(dx), dy > 0, abs(dy)


def hops_of(sx: bool, dx: int, sy: bool, dy: int) -> tuple[int, int]:
    """Inverse of :func:`hop_bits`."""
    return (-dx if sx else dx), (dy if sy else -dy)


class Dynapse1Codec(Codec):
    format = FORMAT
    parameters_path = ("parameter_group", "param_map")

    def __init__(self, target: Target):
        super().__init__(target)
        self.cores_max = 2 ** target.addressing.core_bits - 1
        self.neurons_max = 2 ** target.addressing.neuron_bits - 1
        self.forbidden = set(target.addressing.forbidden_sources)
        self.type_index = {name: i for i, name in enumerate(self.type_names)}

    # -- CAM ---------------------------------------------------------------------------------
    def synapse(self, key: int, syn_type: int, code: int) -> dict[str, Any]:
        if code != 1:
            raise Unrepresentable(f"CAM weight code {code}: every DYNAP-SE1 CAM entry is one "
                                  f"binary synapse (code 1)",
                                  fix="repeat the entry for integer weights")
        return {"listen_core_id": key // self.npc, "listen_neuron_id": key % self.npc,
                "syn_type": self.type_names[syn_type]}

    def read_synapse(self, r: Fields, obj: Any, path: str) -> tuple[int, int, int]:
        syn = r.obj(obj, path, ("listen_core_id", "listen_neuron_id", "syn_type"))
        core = r.int(syn["listen_core_id"], child(path, "listen_core_id"), 0, self.cores_max)
        neuron = r.int(syn["listen_neuron_id"], child(path, "listen_neuron_id"), 0,
                       self.neurons_max)
        kind = r.str(syn["syn_type"], child(path, "syn_type"), self.type_names)
        self._check_address(r, core, neuron, path)
        return core * self.npc + neuron, self.type_names.index(kind), 1

    def quick_synapse(self, obj: Any) -> tuple[int, int, int] | None:
        if type(obj) is not dict or len(obj) != 3:
            return None
        core, neuron = obj.get("listen_core_id"), obj.get("listen_neuron_id")
        kind = self.type_index.get(obj.get("syn_type"))  # type: ignore[arg-type]
        if type(core) is not int or type(neuron) is not int or kind is None or \
                not (0 <= core <= self.cores_max and 0 <= neuron <= self.neurons_max) or \
                (core, neuron) in self.forbidden:
            return None
        return core * self.npc + neuron, kind, 1

    # -- SRAM --------------------------------------------------------------------------------
    def destination(self, chip: int, slot: int, key: int, dest_chip: int,
                    cores: int) -> dict[str, Any]:
        if key % self.npc != slot:
            raise Unrepresentable(f"SRAM key {key} addresses neuron {key % self.npc}, but a "
                                  f"DYNAP-SE1 event carries its source's own neuron id {slot}",
                                  fix="route with key = virtual_core * 256 + source slot")
        sx, dx, sy, dy = hop_bits(*self.target.hops(chip, dest_chip))
        return {"target_chip_id": dest_chip, "in_use": True, "virtual_core_id": key // self.npc,
                "core_mask": cores, "sx": sx, "dx": dx, "sy": sy, "dy": dy}

    def read_destination(self, r: Fields, obj: Any, path: str, chip: int,
                         slot: int) -> tuple[int, int, int]:
        fields = ("target_chip_id", "in_use", "virtual_core_id", "core_mask", "sx", "dx", "sy",
                  "dy")
        dest = r.obj(obj, path, fields)
        target = r.int(dest["target_chip_id"], child(path, "target_chip_id"), 0,
                       self.target.chips - 1)
        if not r.bool(dest["in_use"], child(path, "in_use")):
            raise r.fail(child(path, "in_use"), "is false: listed destinations are in use",
                         fix="remove unused destinations")
        vcore = r.int(dest["virtual_core_id"], child(path, "virtual_core_id"), 0, self.cores_max)
        mask = self._mask(r, dest["core_mask"], child(path, "core_mask"))
        reach = max(-self.target.hop_range[0], self.target.hop_range[1])
        sx = r.bool(dest["sx"], child(path, "sx"))
        sy = r.bool(dest["sy"], child(path, "sy"))
        dx = r.int(dest["dx"], child(path, "dx"), 0, reach)
        dy = r.int(dest["dy"], child(path, "dy"), 0, reach)
        encoded, actual = hops_of(sx, dx, sy, dy), self.target.hops(chip, target)
        if encoded != actual:
            raise r.fail(path, f"sx/dx/sy/dy encode hops {encoded} but chip {target} is at hops "
                               f"{actual} from source chip {chip}",
                         fix="make the hop bits agree with target_chip_id (sx true = west, "
                             "sy true = south)")
        self._check_address(r, vcore, slot, path)
        return vcore * self.npc + slot, target, mask

    def input_destination(self, key: int, dest_chip: int, cores: int) -> dict[str, Any]:
        return {"target_chip_id": dest_chip, "core_mask": cores,
                "virtual_core_id": key // self.npc, "neuron_id": key % self.npc}

    def read_input_destination(self, r: Fields, obj: Any, path: str) -> tuple[int, int, int]:
        dest = r.obj(obj, path, ("target_chip_id", "core_mask", "virtual_core_id", "neuron_id"))
        target = r.int(dest["target_chip_id"], child(path, "target_chip_id"), 0,
                       self.target.chips - 1)
        vcore = r.int(dest["virtual_core_id"], child(path, "virtual_core_id"), 0, self.cores_max)
        neuron = r.int(dest["neuron_id"], child(path, "neuron_id"), 0, self.neurons_max)
        self._check_address(r, vcore, neuron, path)
        return vcore * self.npc + neuron, target, self._mask(r, dest["core_mask"],
                                                             child(path, "core_mask"))

    def _mask(self, r: Fields, value: Any, path: str) -> int:
        return r.int(value, path, 1, 2 ** self.cpc - 1)

    def _check_address(self, r: Fields, core: int, neuron: int, path: str) -> None:
        if (core, neuron) in self.forbidden:
            raise r.fail(path, f"address (core {core}, neuron {neuron}) is what empty CAM entries "
                               f"hold: no event may carry it",
                         fix="use another source address (virtual core or neuron)")


# -- public API --------------------------------------------------------------------------------
#: Writer and reader of dynapse1 JSON configs (``to_json``, ``from_json``, ``dumps``, ``loads``,
#: ``write``, ``read``).
CONFIG = JsonConfig(Dynapse1Codec)
to_json = CONFIG.to_json
from_json = CONFIG.from_json
write_config = CONFIG.write
read_config = CONFIG.read
