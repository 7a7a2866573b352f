"""DYNAP-SE2 configs: JSON round trips, canonical bytes, validation errors, samna filling."""

from __future__ import annotations

import copy
import importlib
import json
import sys

import numpy as np
import pytest

from neurocc.backends import emitter_for
from neurocc.backends.config.canonical import tables_equal
from neurocc.backends.dynapse2 import config as se2
from neurocc.backends.dynapse2 import samna as se2_samna
from neurocc.backends.target import load_target
from neurocc.compiler.errors import ConfigError, NeuroccError
from neurocc.compiler.tables import RoutingTables
from networks import full_meta, role_biases, se2_tables

AMPA, GABA, NMDA, SHUNT = range(4)


@pytest.fixture(scope="module")
def target():
    return load_target("dynapse2")


def shuffled(t: RoutingTables, seed: int) -> RoutingTables:
    rng = np.random.default_rng(seed)
    cam, sram = rng.permutation(t.cam_post.size), rng.permutation(t.sram_src.size)
    out = copy.deepcopy(t)
    for name in ("cam_post", "cam_key", "cam_type", "cam_code"):
        setattr(out, name, getattr(t, name)[cam])
    for name in ("sram_src", "sram_key", "sram_chip", "sram_cores"):
        setattr(out, name, getattr(t, name)[sram])
    out.cores = dict(reversed(list(t.cores.items())))
    return out


def neuron_entry(data: dict, chip: int, core: int, slot: int) -> dict:
    c = next(c for c in data["chips"] if c["id"] == chip)
    k = next(k for k in c["cores"] if k["id"] == core)
    return next(n for n in k["neurons"] if n["id"] == slot)


# -- round trips ----------------------------------------------------------------------------------
def test_tables_to_file_to_tables_is_exact_and_bytes_are_stable(target, tmp_path):
    tables, meta = se2_tables(), full_meta()
    path = tmp_path / "net.json"
    se2.write_config(path, tables, target, meta)
    dep = se2.read_config(path)  # the target comes from the file
    assert tables_equal(dep.tables, tables)
    assert dep.meta == meta
    path2 = tmp_path / "again.json"
    se2.write_config(path2, dep.tables, target, dep.meta)
    assert path.read_bytes() == path2.read_bytes()
    assert path.read_bytes().endswith(b"}\n")


def test_row_order_does_not_change_the_bytes(target):
    text = se2.CONFIG.dumps(se2_tables(), target, full_meta())
    for seed in range(3):
        assert se2.CONFIG.dumps(shuffled(se2_tables(), seed), target, full_meta()) == text


def test_writer_uses_samna_names_hops_masks_and_lists_only_used_neurons(target):
    data = se2.to_json(se2_tables(), target, full_meta())
    h0 = neuron_entry(data, 0, 0, 1)
    assert h0["destinations"] == [{"tag": 100, "x_hop": 1, "y_hop": 1,
                                   "core": [False, True, False, False]}]
    assert {"tag": 7, "dendrite": "AMPA", "weight": [True, True, False, False]} in h0["synapses"]
    assert h0["synapses"].count(h0["synapses"][1]) == 2  # the repeated entry stays twice
    assert h0["latches"] == {"latch_so_dc": True, "latch_de_mux": False}
    listed = sum(len(k.get("neurons", [])) for c in data["chips"] for k in c["cores"])
    assert listed == 6
    assert [c["id"] for c in data["chips"]] == [0, 3]
    params = data["chips"][0]["cores"][0]["parameters"]["SYAM_W2_P"]
    assert params == {"coarse_value": role_biases(0)["SYAM_W2_P"][0],
                      "fine_value": role_biases(0)["SYAM_W2_P"][1], "type": "P"}
    assert data["neuron_map"] == {"hid": [[0, 0, 1, 3], [0, 1, 7, 1]], "out": [[3, 1, 10, 2]]}
    assert data["outputs"] == [{"population": "out", "neurons": [[3, 1, 10], [3, 1, 11]]}]
    ch2 = data["inputs"][0]["channels"][2]
    assert ch2 == {"index": 2, "destinations": [  # canonical order: chip, core mask, tag
        {"tag": 9, "chip": 0, "core": [True, False, False, False]},
        {"tag": 7, "chip": 0, "core": [False, True, False, False]}]}


def test_emitter_registry_names_the_formats():
    assert emitter_for("dynapse2").config is se2.CONFIG
    assert set(emitter_for("dynapse1").extras) == {"caer", "cortexcontrol"}
    with pytest.raises(NeuroccError, match="no config emitter"):
        emitter_for("loihi")


# -- validation ------------------------------------------------------------------------------------
def first_synapse(d):
    return neuron_entry(d, 0, 0, 1)["synapses"][0]


def first_destination(d):
    return neuron_entry(d, 0, 0, 1)["destinations"][0]


SYN = "chips[0].cores[0].neurons[0].synapses[0]"
DEST = "chips[0].cores[0].neurons[0].destinations[0]"
CASES = [
    ("tag out of range", lambda d: first_synapse(d).update(tag=2048), f"{SYN}.tag", "0..2047"),
    ("unknown dendrite", lambda d: first_synapse(d).update(dendrite="AMPAR"), f"{SYN}.dendrite",
     "unknown"),
    ("weight not bool", lambda d: first_synapse(d).update(weight=[1, 0, 0, 0]), f"{SYN}.weight[0]",
     "true or false"),
    ("weight length", lambda d: first_synapse(d).update(weight=[True] * 5), f"{SYN}.weight",
     "expected 4"),
    ("stp set", lambda d: first_synapse(d).update(stp=True), f"{SYN}.stp", "plasticity"),
    ("unknown field", lambda d: first_synapse(d).update(delay=3), f"{SYN}.delay", "not a field"),
    ("hop range", lambda d: first_destination(d).update(x_hop=8), f"{DEST}.x_hop", "-7..7"),
    ("hop off board", lambda d: first_destination(d).update(x_hop=2), DEST, "no chip"),
    ("empty core mask", lambda d: first_destination(d).update(core=[False] * 4), f"{DEST}.core",
     "no core"),
    ("CAM overflow", lambda d: neuron_entry(d, 0, 0, 1).update(
        synapses=[dict(tag=1, dendrite="AMPA", weight=[True] * 4)] * 65),
     "chips[0].cores[0].neurons[0].synapses", "CAM overflow"),
    ("SRAM overflow", lambda d: neuron_entry(d, 0, 0, 1).update(
        destinations=[dict(tag=1, x_hop=0, y_hop=0, core=[True] * 4)] * 5),
     "chips[0].cores[0].neurons[0].destinations", "SRAM size limit"),
    ("unmapped neuron", lambda d: neuron_entry(d, 0, 0, 1).update(id=200),
     "chips[0].cores[0].neurons[0].id", "not in neuron_map"),
    ("duplicate neuron", lambda d: neuron_entry(d, 0, 0, 2).update(id=1),
     "chips[0].cores[0].neurons[1].id", "listed twice"),
    ("unknown bias", lambda d: d["chips"][0]["cores"][0]["parameters"].update(
        SOIF_FOO_N={"coarse_value": 1, "fine_value": 1, "type": "N"}),
     "chips[0].cores[0].parameters.SOIF_FOO_N", "no bias"),
    ("coarse range", lambda d: d["chips"][0]["cores"][0]["parameters"]["SOIF_LEAK_N"].update(
        coarse_value=6), "chips[0].cores[0].parameters.SOIF_LEAK_N.coarse_value", "0..5"),
    ("transistor type", lambda d: d["chips"][0]["cores"][0]["parameters"]["SOIF_LEAK_N"].update(
        type="P"), "chips[0].cores[0].parameters.SOIF_LEAK_N.type", "N-type"),
    ("class without parameters", lambda d: d["chips"][0]["cores"][0].pop("parameters"),
     "chips[0].cores[0].parameters", "missing"),
    ("unknown latch", lambda d: neuron_entry(d, 0, 0, 1)["latches"].update(latch_magic=True),
     "chips[0].cores[0].neurons[0].latches.latch_magic", "not a field"),
    ("neuron map count", lambda d: d["neuron_map"]["out"][0].__setitem__(3, 1),
     "neuron_map.out", "places 1 neurons"),
    ("neuron map overlap", lambda d: d["neuron_map"]["out"].__setitem__(0, [0, 0, 1, 2]),
     "neuron_map.out[0]", "also used by 'hid'"),
    ("missing population map", lambda d: d["neuron_map"].pop("out"), "neuron_map.out", "missing"),
    ("output neuron list", lambda d: d["outputs"][0]["neurons"][1].__setitem__(2, 12),
     "outputs[0].neurons[1]", "neuron_map places"),
    ("input channel index", lambda d: d["inputs"][0]["channels"][0].update(index=3),
     "inputs[0].channels[0].index", "0..2"),
    ("input chip", lambda d: d["inputs"][0]["channels"][0]["destinations"][0].update(chip=4),
     "inputs[0].channels[0].destinations[0].chip", "0..3"),
    ("projection source", lambda d: d["projections"][0].update(source="nowhere"),
     "projections[0].source", "unknown"),
    ("negative delay", lambda d: d["projections"][1].update(delay=-1), "projections[1].delay",
     ">= 0"),
    ("dt", lambda d: d["mapping"].update(dt=0), "mapping.dt", "not positive"),
    ("circuit option", lambda d: d["mapping"]["circuit_options"].update(time_scale="fast"),
     "mapping.circuit_options.time_scale", "finite number"),
    ("format", lambda d: d.update(format="neurocc-dynapse1-config"), "format", "reads"),
    ("version", lambda d: d.update(version=2), "version", "newer"),
    ("chip id", lambda d: d["chips"][1].update(id=4), "chips[1].id", "0..3"),
    ("unknown top-level field", lambda d: d.update(comment="x"), "comment", "not a field"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_config_names_field_and_fix(target, case):
    _, mutate, path, words = case
    data = json.loads(json.dumps(se2.to_json(se2_tables(), target, full_meta())))
    mutate(data)
    with pytest.raises(ConfigError) as info:
        se2.from_json(data, target, where="cfg.json")
    message = str(info.value)
    assert message.startswith(f"cfg.json: {path}: ")
    assert words in message
    assert "Fix:" in message


def test_given_target_must_match_the_file(target):
    data = se2.to_json(se2_tables(), target)
    with pytest.raises(ConfigError, match=r"target.sram_usable: .*written for 4.*has 3"):
        se2.from_json(data, load_target("dynapse2", sram_usable=3))


def test_json_syntax_and_duplicate_keys_are_config_errors(target):
    text = se2.CONFIG.dumps(se2_tables(), target)
    with pytest.raises(ConfigError, match="not valid JSON: .* at line 4 column"):
        se2.CONFIG.loads(text.replace('"cores": [', '"cores": [,', 1))
    with pytest.raises(ConfigError, match="duplicate key 'version'"):
        se2.CONFIG.loads(text.replace('"version": 1', '"version": 1, "version": 1'))


def test_writer_refuses_what_the_chip_cannot_hold(target):
    bad = se2_tables()
    bad.cam_code = bad.cam_code.copy()
    bad.cam_code[2] = 16
    with pytest.raises(ConfigError, match=r"neuron \(chip 0, core 0, neuron 1\): CAM weight code "
                                          r"16 does not fit the 4-bit mask"):
        se2.to_json(bad, target)
    far = se2_tables()
    far.sram_key = far.sram_key.copy()
    far.sram_key[4] = 4096
    with pytest.raises(ConfigError, match="destinations.*tag: 4096 is outside"):
        se2.to_json(far, target)
    with pytest.raises(ConfigError, match="tables.target is 'dynapse2' but target dynapse1"):
        se2.to_json(se2_tables(), load_target("dynapse1"))


# -- samna -----------------------------------------------------------------------------------------
LATCH_NAMES = ["latch_so_dc", "latch_so_adaptation", "latch_soif_kill", "latch_coho_ca_mem",
               "latch_ho_enable", "latch_ho_so_de", "latch_deam_ampa", "latch_denm_nmda",
               "latch_de_conductance", "latch_deam_alpha", "latch_denm_alpha", "latch_de_mux",
               "latch_soif_type", "latch_ho_active"]

FAKE_DYNAPSE2 = '''
import enum

PARAMETERS = {parameters!r}
LATCHES = {latches!r}


class Dendrite(enum.IntEnum):
    none = 0
    shunt = 128
    nmda = 256
    gaba = 512
    ampa = 1024


class Dynapse2Synapse:
    __slots__ = ("tag", "dendrite", "weight", "stp", "precise_delay", "mismatched_delay")

    def __init__(self):
        self.tag, self.dendrite, self.weight = 0, Dendrite.none, [False] * 4
        self.stp = self.precise_delay = self.mismatched_delay = False


class Dynapse2Destination:
    __slots__ = ("tag", "x_hop", "y_hop", "core")

    def __init__(self):
        self.tag, self.x_hop, self.y_hop, self.core = 0, 0, 0, [False] * 4


class Dynapse2Parameter:
    __slots__ = ("type", "coarse_value", "fine_value")

    def __init__(self, kind):
        self.type, self.coarse_value, self.fine_value = kind, 0, 0


class Dynapse2Neuron:
    __slots__ = ("synapses", "destinations") + tuple(LATCHES)

    def __init__(self):
        self.synapses = [Dynapse2Synapse() for _ in range(64)]
        self.destinations = [Dynapse2Destination() for _ in range(4)]
        for name in LATCHES:
            setattr(self, name, False)


class Dynapse2Core:
    __slots__ = ("neurons", "parameters")

    def __init__(self):
        self.neurons = [Dynapse2Neuron() for _ in range(256)]
        self.parameters = {{n: Dynapse2Parameter(k) for n, k in PARAMETERS.items()}}


class Dynapse2Chip:
    __slots__ = ("cores",)

    def __init__(self):
        self.cores = [Dynapse2Core() for _ in range(4)]


class Dynapse2Configuration:
    __slots__ = ("chips",)

    def __init__(self):
        self.chips = [Dynapse2Chip() for _ in range(4)]
'''


def test_pypi_stub_is_detected_without_importing_it(target, fake_samna):
    fake_samna({"__init__.py": "PYPI_SAMNA = True\n"
                                         "raise RuntimeError('the stub must not be imported')\n"})
    usable, reason = se2_samna.samna_status()
    assert not usable and "bootstrap stub" in reason
    with pytest.raises(se2_samna.SamnaError, match="bootstrap stub.*Fix: install SynSense"):
        se2_samna.to_samna(se2.from_json(se2.to_json(se2_tables(), target)), target)
    assert "samna" not in sys.modules


def test_missing_samna_is_a_clear_error(target, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(se2_samna.SamnaError, match="samna is not installed"):
        se2_samna.to_samna(se2.from_json(se2.to_json(se2_tables(), target)), target)


def test_to_samna_fills_a_real_like_configuration(target, fake_samna):
    params = {b.name: b.transistor for b in target.biases}
    fake_samna({
        "__init__.py": "", "dynapse2.py": FAKE_DYNAPSE2.format(parameters=params,
                                                               latches=LATCH_NAMES)})
    assert se2_samna.samna_status()[0]
    d2 = importlib.import_module("samna.dynapse2")
    base = d2.Dynapse2Configuration()
    stale = base.chips[2].cores[3].neurons[9]
    stale.synapses[0].tag = 99
    tables, meta = se2_tables(), full_meta()
    config = se2_samna.to_samna(se2.from_json(se2.to_json(tables, target, meta)), target, base)
    assert config is base
    assert stale.synapses[0].tag == 0  # neurons absent from the config are reset
    data = se2.to_json(tables, target, meta)
    codes = {"AMPA": 1024, "GABA": 512, "NMDA": 256, "SHUNT": 128}
    for chip in data["chips"]:
        for core in chip["cores"]:
            obj = config.chips[chip["id"]].cores[core["id"]]
            for name, p in core["parameters"].items():
                assert (obj.parameters[name].coarse_value,
                        obj.parameters[name].fine_value) == (p["coarse_value"], p["fine_value"])
            for n in core.get("neurons", []):
                neuron = obj.neurons[n["id"]]
                assert len(neuron.synapses) == 64 and len(neuron.destinations) == 4
                got = [(s.tag, int(s.dendrite), s.weight) for s in neuron.synapses]
                want = [(s["tag"], codes[s["dendrite"]], s["weight"])
                        for s in n.get("synapses", [])]
                assert got[:len(want)] == want
                assert all(d == 0 for _, d, _ in got[len(want):])
                dests = [(d.tag, d.x_hop, d.y_hop, d.core) for d in neuron.destinations]
                want_d = [(d["tag"], d["x_hop"], d["y_hop"], d["core"])
                          for d in n.get("destinations", [])]
                assert dests[:len(want_d)] == want_d
                assert not any(any(c) for *_, c in dests[len(want_d):])
    assert config.chips[0].cores[0].neurons[1].latch_so_dc is True


def test_to_samna_names_a_parameter_samna_lacks(target, fake_samna):
    params = {b.name: b.transistor for b in target.biases if b.name != "SOIF_LEAK_N"}
    fake_samna({
        "__init__.py": "", "dynapse2.py": FAKE_DYNAPSE2.format(parameters=params,
                                                               latches=LATCH_NAMES)})
    dep = se2.from_json(se2.to_json(se2_tables(), target))
    with pytest.raises(se2_samna.SamnaError, match="has no 'SOIF_LEAK_N'"):
        se2_samna.to_samna(dep, target)
