"""DYNAP-SE1 configs: JSON, cAER netparser text, CortexControl scripts, samna filling."""

from __future__ import annotations

import importlib
import json
from collections import Counter

import numpy as np
import pytest

from neurocc.backends.config.canonical import tables_equal
from neurocc.backends.config.meta import ConfigMeta
from neurocc.backends.dynapse1 import caer, cortexcontrol
from neurocc.backends.dynapse1 import config as se1
from neurocc.backends.dynapse1 import samna as se1_samna
from neurocc.backends.dynapse1.config import hop_bits
from neurocc.backends.dynapse2.samna import SamnaError
from neurocc.backends.target import load_target
from neurocc.compiler.errors import ConfigError
from neurocc.compiler.tables import RoutingTables, delivered_synapses
from networks import SE1_ROLE_BIASES, hw, role_biases, se1_tables

AMPA, NMDA, GABA_A, GABA_B = range(4)


@pytest.fixture(scope="module")
def target():
    return load_target("dynapse1")


def entry(data: dict, chip: int, core: int, slot: int) -> dict:
    c = next(c for c in data["chips"] if c["id"] == chip)
    k = next(k for k in c["cores"] if k["id"] == core)
    return next(n for n in k["neurons"] if n["id"] == slot)


# -- JSON ------------------------------------------------------------------------------------------
def test_json_round_trip_is_exact_and_byte_identical(target, tmp_path):
    tables, meta = se1_tables(), ConfigMeta(dt=1e-3)
    se1.write_config(tmp_path / "a.json", tables, target, meta)
    dep = se1.read_config(tmp_path / "a.json", target)
    assert tables_equal(dep.tables, tables) and dep.meta == meta
    se1.write_config(tmp_path / "b.json", dep.tables, target, dep.meta)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_json_spells_samna_dynapse1_fields(target):
    data = se1.to_json(se1_tables(), target)
    h1 = entry(data, 0, 1, 6)
    assert h1["destinations"] == [{"target_chip_id": 3, "in_use": True, "virtual_core_id": 3,
                                   "core_mask": 4, "sx": False, "dx": 1, "sy": True, "dy": 1}]
    assert h1["synapses"] == [{"listen_core_id": 1, "listen_neuron_id": 20, "syn_type": "AMPA"}]
    assert entry(data, 3, 2, 1)["synapses"].count(
        {"listen_core_id": 1, "listen_neuron_id": 5, "syn_type": "AMPA"}) == 3
    core = data["chips"][0]["cores"][0]
    coarse, fine = role_biases(0, SE1_ROLE_BIASES, (2, 8))["IF_DC_P"]
    assert core["parameter_group"]["param_map"]["IF_DC_P"] == {
        "coarse_value": coarse, "fine_value": fine, "type": "P"}
    assert data["inputs"][0]["channels"][1] == {"index": 1, "destinations": [
        {"target_chip_id": 0, "core_mask": 2, "virtual_core_id": 2, "neuron_id": 21}]}


# The cAER netparser's routing table (CalculateBits): (from, to) -> (sx, dx, sy, dy).
NETPARSER_BITS = {(0, 1): (0, 1, 0, 0), (0, 2): (0, 0, 1, 1), (0, 3): (0, 1, 1, 1),
                  (1, 0): (1, 1, 0, 0), (1, 2): (1, 1, 1, 1), (1, 3): (0, 0, 1, 1),
                  (2, 0): (0, 0, 0, 1), (2, 1): (0, 1, 0, 1), (2, 3): (0, 1, 0, 0),
                  (3, 0): (1, 1, 0, 1), (3, 1): (0, 0, 0, 1), (3, 2): (1, 1, 0, 0)}


def test_hop_sign_bits_follow_the_netparser_table(target):
    for (src, dst), bits in NETPARSER_BITS.items():
        assert tuple(int(b) for b in hop_bits(*target.hops(src, dst))) == bits


DEST = "chips[0].cores[0].neurons[0].destinations[0]"
SYN = "chips[0].cores[0].neurons[0].synapses[0]"
CASES = [
    ("hop bits disagree", lambda d: entry(d, 0, 1, 5)["destinations"][0].update(sy=False), DEST,
     "encode hops (1, -1)"),
    ("dx range", lambda d: entry(d, 0, 1, 5)["destinations"][0].update(dx=4), f"{DEST}.dx",
     "0..3"),
    ("not in use", lambda d: entry(d, 0, 1, 5)["destinations"][0].update(in_use=False),
     f"{DEST}.in_use", "in use"),
    ("core mask", lambda d: entry(d, 0, 1, 5)["destinations"][0].update(core_mask=16),
     f"{DEST}.core_mask", "1..15"),
    ("virtual core", lambda d: entry(d, 0, 1, 5)["destinations"][0].update(virtual_core_id=4),
     f"{DEST}.virtual_core_id", "0..3"),
    ("SRAM limit", lambda d: entry(d, 0, 1, 5).update(
        destinations=entry(d, 0, 1, 5)["destinations"] * 4),
     "chips[0].cores[0].neurons[0].destinations", "SRAM size limit reached"),
    ("address 0 in CAM", lambda d: entry(d, 0, 1, 5)["synapses"][0].update(listen_core_id=0,
                                                                            listen_neuron_id=0),
     SYN, "empty CAM entries"),
    ("syn type", lambda d: entry(d, 0, 1, 5)["synapses"][0].update(syn_type="GABA"),
     f"{SYN}.syn_type", "unknown"),
    ("neuron id", lambda d: entry(d, 0, 1, 5)["synapses"][0].update(listen_neuron_id=256),
     f"{SYN}.listen_neuron_id", "0..255"),
    ("coarse range", lambda d: d["chips"][0]["cores"][0]["parameter_group"]["param_map"][
        "IF_DC_P"].update(coarse_value=8),
     "chips[0].cores[0].parameter_group.param_map.IF_DC_P.coarse_value", "0..7"),
    ("parameter group field", lambda d: d["chips"][0]["cores"][0]["parameter_group"].update(x=1),
     "chips[0].cores[0].parameter_group.x", "not a field"),
    ("input address 0", lambda d: d["inputs"][0]["channels"][0]["destinations"][0].update(
        virtual_core_id=0, neuron_id=0), "inputs[0].channels[0].destinations[0]",
     "empty CAM entries"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_se1_config_names_field(target, case):
    _, mutate, path, words = case
    data = json.loads(json.dumps(se1.to_json(se1_tables(), target)))
    mutate(data)
    with pytest.raises(ConfigError) as info:
        se1.from_json(data, target)
    assert str(info.value).startswith(f"<config>: {path}: ")
    assert words in str(info.value)


def test_forbidden_source_and_unrepresentable_rows_are_refused(target):
    t = se1_tables()
    t.neuron_hw = t.neuron_hw.copy()
    t.neuron_hw[0] = hw(0, 0, 0)  # hidden neuron 0 moves to neuron 0 of core 0 ...
    t.sram_src = np.where(t.sram_src == hw(0, 1, 5), hw(0, 0, 0), t.sram_src)
    t.sram_key = np.where(t.sram_key == 261, 0, t.sram_key)  # ... and sends address 0
    t.cam_post = np.where(t.cam_post == hw(0, 1, 5), hw(0, 0, 0), t.cam_post)
    t.cam_key = np.where(t.cam_key == 261, 0, t.cam_key)
    with pytest.raises(ConfigError, match="neuron 0 of core 0 must not be a source"):
        se1.to_json(t, target)
    t = se1_tables()
    t.sram_key = np.where(t.sram_key == 261, 262, t.sram_key)
    with pytest.raises(ConfigError, match="addresses neuron 6, but a DYNAP-SE1 event carries its "
                                          "source's own neuron id 5"):
        se1.to_json(t, target)
    t = se1_tables()
    t.cam_code = t.cam_code * 2
    with pytest.raises(ConfigError, match="code 2: every DYNAP-SE1 CAM entry is one binary"):
        se1.to_json(t, target)


def test_four_sram_entries_when_the_target_allows_them():
    four = load_target("dynapse1", sram_usable=4)
    t = se1_tables()
    src = hw(0, 1, 7)  # reaches chips 3 and 0; add chips 1 and 2
    t.sram_src = np.append(t.sram_src, [src, src])
    t.sram_key = np.append(t.sram_key, [263, 263])
    t.sram_chip = np.append(t.sram_chip, [1, 2])
    t.sram_cores = np.append(t.sram_cores, [1, 1])
    assert tables_equal(se1.from_json(se1.to_json(t, four)).tables, t)
    with pytest.raises(ConfigError, match="SRAM size limit reached"):
        se1.to_json(t, load_target("dynapse1"))


# -- cAER netparser --------------------------------------------------------------------------------
def hardware(t: RoutingTables) -> tuple:
    """What the netparser format holds: CAM multiset, SRAM rows, input count, biases."""
    cam = Counter(zip(t.cam_post.tolist(), t.cam_key.tolist(), t.cam_type.tolist()))
    sram = sorted(zip(t.sram_src.tolist(), t.sram_key.tolist(), t.sram_chip.tolist(),
                      t.sram_cores.tolist()))
    return cam, sram, sum(s for _, s in t.input_populations), \
        {k: c.biases for k, c in t.cores.items()}


def test_caer_round_trip_holds_connections_inputs_and_biases(target, tmp_path):
    tables = se1_tables(virtual=False)  # the netparser's own routing: real cores, one SRAM/chip
    caer.write_caer(tmp_path / "net.txt", tables, target)
    back = caer.read_caer(tmp_path / "net.txt", target)
    assert hardware(back) == hardware(tables)
    assert back.populations == [] and back.input_populations == [("fpga", 2)]
    assert caer.dump_caer(back, target) == (tmp_path / "net.txt").read_text()


def test_caer_lines_and_reversed_coarse(target):
    t = se1_tables(virtual=False)
    t.cores[0, 1].biases["IF_DC_P"] = (7, 10)
    t.cores[0, 1].biases["IF_TAU1_N"] = (0, 3)
    lines = caer.dump_caer(t, target).splitlines()
    assert "U00-C01-N005->3-03-U03-C02-N001" in lines  # AMPA is netparser type 3, 3 CAM slots
    assert "U00-C01-N006->0-01-U03-C02-N001" in lines  # GABA_B (slow inhibitory) is type 0
    assert "U04-C01-N020->3-02-U00-C01-N005" in lines  # FPGA input, address (core 1, neuron 20)
    assert "U0-C1-IF_DC_P-0-10-true" in lines  # samna coarse 7 (largest) is cAER coarse 0
    assert "U0-C1-IF_TAU1_N-7-3-true" in lines


def test_caer_keeps_delivered_synapses_when_virtual_cores_are_dropped(target):
    tables = se1_tables(virtual=True)
    back = caer.load_caer(caer.dump_caer(tables, target), target)

    def delivered(t):
        d = delivered_synapses(t)
        # sources by location (hardware id or the address an input sends)
        return Counter(zip(d.src.tolist(), d.post.tolist(), d.syn_type.tolist()))
    got, want = delivered(back), delivered(tables)
    assert {k for k in got if k[0] >= 0} == {k for k in want if k[0] >= 0}
    assert sum(got.values()) == sum(want.values())


def test_caer_writer_refuses_a_clash_that_only_virtual_cores_avoid(target):
    t = se1_tables(virtual=True)
    # a source on chip 1 with real address (core 1, neuron 6) also reaches output core (3, 2)
    other = hw(1, 1, 6)
    t.populations = [("hid", 3), ("out", 2), ("x", 1)]
    t.neuron_hw = np.append(t.neuron_hw, other)
    t.sram_src, t.sram_key = np.append(t.sram_src, other), np.append(t.sram_key, 262)
    t.sram_chip, t.sram_cores = np.append(t.sram_chip, 3), np.append(t.sram_cores, 0b0100)
    t.cam_post, t.cam_key = np.append(t.cam_post, hw(3, 2, 2)), np.append(t.cam_key, 262)
    t.cam_type, t.cam_code = np.append(t.cam_type, AMPA), np.append(t.cam_code, 1)
    se1.to_json(t, target)  # fine with virtual cores
    with pytest.raises(ConfigError, match="CAM clash at U03-C02-N00.: U00-C01-N006 and "
                                          "U01-C01-N006"):
        caer.dump_caer(t, target)


def test_caer_writer_refuses_shared_cam_entries(target):
    t = se1_tables(virtual=False)
    # a second source on chip 2 sends the same address (1, 5) to output core (3, 2)
    t.populations = [("hid", 3), ("out", 2), ("x", 1)]
    t.neuron_hw = np.append(t.neuron_hw, hw(2, 1, 5))
    t.sram_src, t.sram_key = np.append(t.sram_src, hw(2, 1, 5)), np.append(t.sram_key, 261)
    t.sram_chip, t.sram_cores = np.append(t.sram_chip, 3), np.append(t.sram_cores, 0b0100)
    with pytest.raises(ConfigError, match="reached by U00-C01-N005 and U02-C01-N005"):
        caer.dump_caer(t, target)


BAD_LINES = [
    ("U00-C01-N005->5-01-U00-C01-N006", "connection type 5"),
    ("U00-C01-N005->3-65-U00-C01-N006", "CAM slot count 65 is outside 1..64"),
    ("U00-C00-N000->3-01-U00-C01-N006", "must not be a source"),
    ("U00-C01-N005->3-01-U05-C01-N006", "target chip 5"),
    ("U00-C01-N005 -> U00-C01-N006", "neither a connection"),
    ("U0-C0-IF_DC_P-0-10-false", "low current level"),
    ("U0-C0-IF_DC_Q-0-10-true", "no bias 'IF_DC_Q'"),
    ("U0-C0-IF_DC_P-8-10-true", "coarse value 8"),
    ("U00-C00-N001-TAU2", "TAU2"),
]


@pytest.mark.parametrize("line,words", BAD_LINES, ids=[w for _, w in BAD_LINES])
def test_caer_reader_names_the_line(target, line, words):
    text = f"#! test\nU00-C01-N007->3-01-U00-C01-N005\n{line}\n"
    with pytest.raises(ConfigError) as info:
        caer.load_caer(text, target, where="net.txt")
    assert str(info.value).startswith("net.txt:3: ") and words in str(info.value)


def test_caer_reader_enforces_netparser_limits(target):
    overflow = "U00-C01-N005->3-40-U00-C02-N001\nU00-C01-N006->3-30-U00-C02-N001\n"
    with pytest.raises(ConfigError, match=r":2: CAM overflow for U00-C02-N001: 70"):
        caer.load_caer(overflow, target)
    clash = "U01-C00-N001->3-01-U00-C00-N001\nU02-C00-N001->3-01-U00-C00-N002\n"
    with pytest.raises(ConfigError, match=r":2: CAM clash at U00-C00-N002"):
        caer.load_caer(clash, target)
    fanout = "\n".join(f"U00-C01-N005->3-01-U0{c}-C00-N001" for c in range(4))
    with pytest.raises(ConfigError, match=r":4: SRAM size limit reached"):
        caer.load_caer(fanout, target)


# -- CortexControl ---------------------------------------------------------------------------------
def test_cortexcontrol_round_trip_and_argument_order(target, tmp_path):
    tables = se1_tables()
    cortexcontrol.write_cortexcontrol(tmp_path / "biases.py", tables, target)
    text = (tmp_path / "biases.py").read_text()
    fine = role_biases(1, SE1_ROLE_BIASES, (2, 8))["IF_DC_P"][1]
    coarse = role_biases(1, SE1_ROLE_BIASES, (2, 8))["IF_DC_P"][0]
    # chip 3, core 2 is bias group 4 * 3 + 2 = 14; fine first, coarse second (samna convention)
    assert f'model.get_bias_groups()[14].set_bias("IF_DC_P", {fine}, {coarse})' in text
    assert cortexcontrol.read_cortexcontrol(tmp_path / "biases.py", target) == \
        {k: c.biases for k, c in tables.cores.items()}
    compile(text, "biases.py", "exec")  # a valid Python script


@pytest.mark.parametrize("line,words", [
    ('model.get_bias_groups()[16].set_bias("IF_DC_P", 1, 1)', "bias group 16"),
    ('model.get_bias_groups()[0].set_bias("IF_DC_P", 256, 1)', "fine value 256"),
    ('model.get_bias_groups()[0].set_bias("IF_XX_P", 1, 1)', "no bias 'IF_XX_P'"),
    ("import os", "not a set_bias call"),
])
def test_cortexcontrol_reader_names_the_line(target, line, words):
    with pytest.raises(ConfigError, match=words) as info:
        cortexcontrol.load_cortexcontrol(f"import CtxDynapse\n{line}\n", target, where="b.py")
    assert str(info.value).startswith("b.py:2: ")


# -- samna -----------------------------------------------------------------------------------------
FAKE_DYNAPSE1 = '''
PARAMETERS = {parameters!r}


class Dynapse1SynType:
    GABA_B, GABA_A, NMDA, AMPA = 0, 1, 2, 3


class Dynapse1Synapse:
    __slots__ = ("listen_core_id", "listen_neuron_id", "syn_type")

    def __init__(self):
        self.listen_core_id = self.listen_neuron_id = 0
        self.syn_type = Dynapse1SynType.GABA_B


class Dynapse1Destination:
    __slots__ = ("target_chip_id", "in_use", "virtual_core_id", "core_mask", "sx", "sy", "dx",
                 "dy")

    def __init__(self):
        self.target_chip_id = self.virtual_core_id = self.core_mask = self.dx = self.dy = 0
        self.in_use = self.sx = self.sy = False


class Dynapse1Parameter:
    __slots__ = ("coarse_value", "fine_value", "type")

    def __init__(self, kind):
        self.coarse_value, self.fine_value, self.type = 0, 0, kind


class Dynapse1ParameterGroup:
    __slots__ = ("param_map",)

    def __init__(self):
        self.param_map = {{n: Dynapse1Parameter(k) for n, k in PARAMETERS.items()}}


class Dynapse1Neuron:
    __slots__ = ("synapses", "destinations")

    def __init__(self):
        self.synapses = [Dynapse1Synapse() for _ in range(64)]
        self.destinations = [Dynapse1Destination() for _ in range(4)]


class Dynapse1Core:
    __slots__ = ("neurons", "parameter_group")

    def __init__(self):
        self.neurons = [Dynapse1Neuron() for _ in range(256)]
        self.parameter_group = Dynapse1ParameterGroup()


class Dynapse1Chip:
    __slots__ = ("cores",)

    def __init__(self):
        self.cores = [Dynapse1Core() for _ in range(4)]


class Dynapse1Configuration:
    __slots__ = ("chips",)

    def __init__(self):
        self.chips = [Dynapse1Chip() for _ in range(4)]
'''


def test_to_samna_dynapse1_keeps_the_monitoring_sram_entry(target, fake_samna):
    params = {b.name: b.transistor for b in target.biases}
    fake_samna({"__init__.py": "",
                                         "dynapse1.py": FAKE_DYNAPSE1.format(parameters=params)})
    d1 = importlib.import_module("samna.dynapse1")
    base = d1.Dynapse1Configuration()
    monitor = base.chips[0].cores[1].neurons[5].destinations[0]
    monitor.in_use, monitor.target_chip_id = True, 2
    tables = se1_tables()
    config = se1_samna.to_samna(se1.from_json(se1.to_json(tables, target)), target, base)
    neuron = config.chips[0].cores[1].neurons[5]
    assert neuron.destinations[0] is monitor  # SRAM 0 is the tools' (sram_usable = 3)
    d = neuron.destinations[1]
    assert (d.target_chip_id, d.in_use, d.virtual_core_id, d.core_mask, d.sx, d.dx, d.sy,
            d.dy) == (3, True, 1, 4, False, 1, True, 1)
    assert not any(x.in_use for x in neuron.destinations[2:])
    syns = config.chips[3].cores[2].neurons[1].synapses
    got = Counter((s.listen_core_id, s.listen_neuron_id, s.syn_type) for s in syns[:4])
    assert got == Counter({(1, 5, 3): 3, (3, 6, 0): 1})
    p = config.chips[3].cores[2].parameter_group.param_map["IF_TAU1_N"]
    assert (p.coarse_value, p.fine_value) == role_biases(1, SE1_ROLE_BIASES, (2, 8))["IF_TAU1_N"]


def test_to_samna_dynapse1_refuses_the_pypi_stub(target, fake_samna):
    fake_samna({"__init__.py": "PYPI_SAMNA = True\nraise SystemExit\n"})
    with pytest.raises(SamnaError, match="bootstrap stub"):
        se1_samna.to_samna(se1.from_json(se1.to_json(se1_tables(), target)), target)
