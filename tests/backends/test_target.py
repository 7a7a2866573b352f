"""Targets as data: the shipped files carry the README's facts, bad files fail clearly."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from neurocc.backends.target import BACKENDS_DIR, load_target
from neurocc.compiler.errors import TargetError
from networks import REPO

SHARED_TABLE = REPO.parent / "shared" / "hardware" / "se2_biasgen.json"
SE1_BASE = [1.5e-11, 1.05e-10, 8.2e-10, 6.5e-9, 5e-8, 4e-7, 3.2e-6, 2.4e-5]


@pytest.fixture(scope="module")
def se1():
    return load_target("dynapse1")


@pytest.fixture(scope="module")
def se2():
    return load_target("dynapse2")


# -- the facts ------------------------------------------------------------------------------------
def test_sizes_match_the_hardware_facts(se1, se2):
    for t in (se1, se2):
        assert (t.chips, t.cores_per_chip, t.neurons_per_core, t.cam_per_neuron) == (4, 4, 256, 64)
        assert t.total_cores == 16 and t.total_neurons == 4096 and t.neurons_per_chip == 1024
        assert t.sram_per_neuron == 4
    assert se1.sram_usable == 3 and se2.sram_usable == 4
    assert se1.neuron_grid == (16, 16) and se2.core_grid == (2, 2)
    assert se1.hop_range == (-3, 3) and se2.hop_range == (-7, 7)
    assert se1.addressing.scheme == "core_neuron" and se2.addressing.scheme == "tag"
    assert se2.addressing.tags == 2048 and se2.addressing.tag_scope == "receiving_core"
    assert (se1.addressing.core_bits, se1.addressing.neuron_bits) == (2, 8)
    assert se1.addressing.virtual_core and not se1.addressing.chip_id_in_cam
    assert se1.addressing.forbidden_sources == ((0, 0),)
    assert se2.weights.scheme == "base_sum" and se2.weights.bases == 4
    assert se2.weights.mask_bits == 4 and se2.weights.repeats_add
    assert se1.weights.scheme == "count" and se1.weights.repeats_add


def test_synapse_types_codes_signs_and_the_unsure_shunting_option(se1, se2):
    codes = {t.name: (t.code, t.sign, t.speed) for t in se1.synapse_types}
    assert codes == {"AMPA": (3, "excitatory", "fast"), "NMDA": (2, "excitatory", "slow"),
                     "GABA_A": (1, "inhibitory", "fast"), "GABA_B": (0, "inhibitory", "slow")}
    assert [t.name for t in se1.synapse_types if t.shunting] == ["GABA_A"]
    flipped = load_target("dynapse1", options={"shunting_type": "GABA_B"})
    assert [t.name for t in flipped.synapse_types if t.shunting] == ["GABA_B"]
    assert {t.name: t.code for t in se2.synapse_types} == \
        {"AMPA": 1024, "GABA": 512, "NMDA": 256, "SHUNT": 128}
    assert [t.name for t in se2.synapse_types if t.shunting] == ["SHUNT"]
    assert se2.synapse_type_by_code(512).name == "GABA"
    with pytest.raises(TargetError, match="no synapse type with code 7"):
        se2.synapse_type_by_code(7)


def test_bias_roles_follow_the_readme_correspondence(se1, se2):
    se2_roles = {"SOIF_DC_P": "I_dc", "SOIF_LEAK_N": "I_tau_mem", "SOIF_GAIN_N": "I_gain_mem",
                 "SOIF_REFR_N": "I_ref", "SOIF_SPKTHR_P": "I_spkthr", "SYPD_EXT_N": "I_pulse",
                 "SYAM_W0_P": "I_w_base.0", "SYAM_W3_P": "I_w_base.3",
                 "DEAM_ETAU_P": "I_tau_syn.AMPA", "DEAM_EGAIN_P": "I_gain_syn.AMPA",
                 "DEGA_ITAU_P": "I_tau_syn.GABA", "DEGA_IGAIN_P": "I_gain_syn.GABA",
                 "DENM_ETAU_P": "I_tau_syn.NMDA", "DENM_EGAIN_P": "I_gain_syn.NMDA",
                 "DESC_ITAU_P": "I_tau_syn.SHUNT", "DESC_IGAIN_P": "I_gain_syn.SHUNT"}
    for name, role in se2_roles.items():
        assert se2.bias(name).role == role
        assert se2.bias_for_role(role).name == name
    assert se1.bias("IF_TAU1_N").role == "I_tau_mem"
    assert se1.bias("IF_THR_N").role == "I_gain_mem"
    assert se1.bias("PS_WEIGHT_INH_S_N").role == "I_w.GABA_B"
    assert len(se1.biases) == 25
    for t in (se1, se2):
        for b in t.biases:
            assert b.transistor == b.name[-1]
    # SE1's spike threshold is fixed: no bias realises it.
    assert not se1.spike_threshold_adjustable and se1.bias_for_role("I_spkthr") is None
    assert se2.spike_threshold_adjustable


def test_se2_delay_bias_spelling_is_an_option_with_the_table_scale(se2):
    assert {"SYPD_DLY0_P", "SYPD_DLY2_P"} <= {b.name for b in se2.biases}
    other = load_target("dynapse2", options={"delay_bias_spelling": "DYL"})
    names = {b.name for b in other.biases}
    assert "SYPD_DYL1_P" in names and "SYPD_DLY1_P" not in names
    scales = json.loads(SHARED_TABLE.read_text())["scale_factor"]
    assert se2.bias("SYPD_DLY2_P").scale == scales["SYPD_DYL2_P"]


def test_se1_bias_current_is_base_times_fine(se1):
    coarse, fine = np.meshgrid(np.arange(8), np.arange(256), indexing="ij")
    expected = np.asarray(SE1_BASE)[coarse] * fine / 255
    assert np.allclose(se1.bias_current("IF_DC_P", coarse, fine), expected, rtol=1e-12)
    assert se1.bias_current("IF_TAU1_N", 7, 255) == pytest.approx(2.4e-5)
    assert se1.bias_range("IF_TAU1_N") == pytest.approx((1.5e-11 / 255, 2.4e-5))


def test_se2_bias_current_is_the_measured_table_times_the_scale(se2):
    shared = json.loads(SHARED_TABLE.read_text())
    rng = np.random.default_rng(0)
    for name in ("SOIF_LEAK_N", "SOIF_DC_P", "DEAM_ETAU_P", "SYAM_W2_P"):
        kind = name[-1]
        for coarse, fine in zip(rng.integers(0, 6, 20), rng.integers(0, 256, 20)):
            expected = shared["current_A"][kind][str(coarse)][fine] * shared["scale_factor"][name]
            assert se2.bias_current(name, coarse, fine) == pytest.approx(expected, rel=1e-12)
    # The README's "at fine 255" currents (two significant digits).
    readme_n = [7.2e-11, 5.7e-10, 4.6e-9, 3.6e-8, 2.9e-7, 2.3e-6]
    table = np.array([se2.generator.current("N", c, 255) for c in range(6)])
    assert np.allclose(table, readme_n, rtol=0.03)
    with pytest.raises(TargetError, match="coarse in 0..5"):
        se2.bias_current("SOIF_DC_P", 6, 0)


def test_se1_chip_grid_follows_the_host_id_rule_and_hops(se1):
    for chip in range(4):
        assert se1.chip_xy(chip) == (chip & 1, (chip & 2) >> 1)
    assert se1.hops(0, 3) == (1, 1) and se1.hop_distance(0, 3) == 2
    assert se1.in_hop_range(3, 0)
    with pytest.raises(TargetError, match="chip 4 does not exist"):
        se1.chip_xy(4)


def test_chips_option_tiles_boards_up_to_the_hop_range():
    big = load_target("dynapse2", chips=64)
    xy = np.array([big.chip_xy(c) for c in range(64)])
    assert len({tuple(p) for p in xy}) == 64 and xy.max() == 7
    assert all(big.in_hop_range(a, b) for a in (0, 27, 63) for b in range(64))
    assert big.total_neurons == 65536
    with pytest.raises(TargetError, match="at most 64 chips"):
        load_target("dynapse2", chips=65)
    assert load_target("dynapse1", chips=16).chip_xy(15) == (3, 3)
    with pytest.raises(TargetError, match="at most 16 chips"):
        load_target("dynapse1", chips=17)
    with pytest.raises(TargetError, match="not a positive integer"):
        load_target("dynapse1", chips=0)


def test_sram_usable_option():
    assert load_target("dynapse1", sram_usable=4).sram_usable == 4
    for bad in (0, 5):
        with pytest.raises(TargetError, match="outside 1..4"):
            load_target("dynapse1", sram_usable=bad)


def test_option_errors():
    with pytest.raises(TargetError, match="unknown target option"):
        load_target("dynapse1", options={"shunt": "GABA_A"})
    with pytest.raises(TargetError, match="not among"):
        load_target("dynapse1", options={"shunting_type": "AMPA"})
    with pytest.raises(TargetError, match="unknown target 'dynapse3'"):
        load_target("dynapse3")


def test_no_dynapse_word_in_the_compiler_passes_written_here():
    for module in ("circuits.py", "classes.py", "biasgen.py"):
        text = (REPO / "compiler" / module).read_text()
        assert not re.search("dynapse", text, re.IGNORECASE), module


# -- bad files -------------------------------------------------------------------------------------
def _copy(tmp_path: Path, name: str) -> tuple[Path, dict]:
    for f in (BACKENDS_DIR / name).glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "target.json"
    return path, json.loads(path.read_text())


def _fails(path: Path, data: dict, *patterns: str) -> str:
    path.write_text(json.dumps(data))
    with pytest.raises(TargetError) as info:
        load_target(path)
    text = str(info.value)
    for pattern in patterns:
        assert pattern in text, text
    assert "Fix:" in text and str(path) in text
    return text


def test_a_copied_file_loads_by_path(tmp_path):
    path, data = _copy(tmp_path, "dynapse2")
    path.write_text(json.dumps(data))
    assert load_target(path).total_neurons == 4096


def test_missing_field(tmp_path):
    path, data = _copy(tmp_path, "dynapse1")
    del data["cam_per_neuron"]
    _fails(path, data, "cam_per_neuron: ", "is missing")


def test_wrong_type(tmp_path):
    path, data = _copy(tmp_path, "dynapse1")
    data["neurons_per_core"] = "256"
    _fails(path, data, "neurons_per_core: ", "expected int")
    path, data = _copy(tmp_path, "dynapse1")
    data["synapse_types"][2]["code"] = 1.5
    _fails(path, data, "synapse_types[2].code", "expected int")


def test_table_not_increasing_in_coarse(tmp_path):
    path, data = _copy(tmp_path, "dynapse1")
    data["bias_generator"]["base_A"][3] = 1e-10
    _fails(path, data, "not increasing in coarse", "coarse 3")


def test_table_not_monotonic_in_fine(tmp_path):
    path, data = _copy(tmp_path, "dynapse2")
    table_path = tmp_path / "biasgen.json"
    table = json.loads(table_path.read_text())
    table["current_A"]["P"]["2"][100] *= 0.7
    table_path.write_text(json.dumps(table))
    _fails(path, data, "not monotonic in fine", "coarse 2, fine 99 -> 100")


def test_chips_beyond_the_grid_in_the_file(tmp_path):
    path, data = _copy(tmp_path, "dynapse1")
    data["chips"] = 20
    _fails(path, data, "chips: ", "at most 16 chips")


def test_duplicate_codes_and_missing_roles(tmp_path):
    path, data = _copy(tmp_path, "dynapse2")
    data["synapse_types"][1]["code"] = 1024
    _fails(path, data, "duplicate codes [1024]")
    path, data = _copy(tmp_path, "dynapse1")
    for bias in data["biases"]:
        if bias["name"] == "IF_DC_P":
            bias["role"] = None
    _fails(path, data, "no bias realises ['I_dc']")


def test_type_suffix_mismatch_and_bad_json(tmp_path):
    path, data = _copy(tmp_path, "dynapse1")
    data["biases"][0]["type"] = "P"
    _fails(path, data, "biases[0].type", "ends in _N")
    path.write_text("{ not json")
    with pytest.raises(TargetError, match="not valid JSON"):
        load_target(path)
