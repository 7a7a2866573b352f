"""--calibration: one chip's measured constants change the bias choice and the simulation in the
expected direction; bad files name the field and the fix."""

import json

import numpy as np
import pytest

from networks import REPO

from neurocc.backends.calibration import calibrated_target, load_calibration
from neurocc.backends.target import load_target
from neurocc.compiler import compile_model
from neurocc.compiler.errors import TargetError
from neurocc.runtime.hardware_network import build_hardware_network

ROOT = REPO
EXAMPLE = ROOT / "examples" / "calibration_example.json"
TINY = ROOT / "examples" / "tiny.ncl"


@pytest.fixture(scope="module")
def compiled():
    se2 = load_target("dynapse2")
    calib = load_calibration(EXAMPLE, se2)
    cal = calibrated_target(se2, calib)
    return se2, cal, calib, compile_model(TINY, se2), compile_model(TINY, cal)


def _setting(compiled_net, bias):
    return next(iter(compiled_net.compilation.tables.cores.values())).biases[bias]


def test_measured_constants_and_scales_move_the_bias_choice(compiled):
    se2, cal, _, nominal, calibrated = compiled
    assert cal.circuit.capacitance["mem"] == 7.7e-12 and cal.circuit.I_0 == 4e-13
    leak = [se2.bias_current("SOIF_LEAK_N", *_setting(c, "SOIF_LEAK_N"))
            for c in (nominal, calibrated)]
    # 7.7 pF instead of 3 pF (and a smaller kappa): the same tau needs a larger leak current
    assert 2.2 < leak[1] / leak[0] < 3.2
    # the DC bias delivers 1.1x its nominal current: a setting of lower nominal current is chosen
    dc_cal = cal.bias_current("SOIF_DC_P", *_setting(calibrated, "SOIF_DC_P"))
    dc_nominal_setting = se2.bias_current("SOIF_DC_P", *_setting(calibrated, "SOIF_DC_P"))
    assert dc_cal == pytest.approx(1.1 * dc_nominal_setting)


def test_core_factors_and_neuron_gains_reach_the_simulation(compiled):
    se2, cal, calib, nominal, _ = compiled
    tables = nominal.compilation.tables
    plain = build_hardware_network(tables, se2)
    measured = build_hardware_network(tables, cal, calibration=calib)
    on_core0 = plain.hw_ids // se2.neurons_per_core == 0
    ratio = measured.currents["I_tau_mem"] / plain.currents["I_tau_mem"]
    assert np.allclose(ratio[on_core0], 0.9) and np.allclose(ratio[~on_core0], 1.0)
    gain = measured.currents["I_gain_mem"] / plain.currents["I_gain_mem"]
    assert np.allclose(gain[plain.hw_ids == 3], 1.25)
    assert np.allclose(gain[plain.hw_ids != 3], 1.0)
    assert np.allclose(measured.currents["I_dc"] / plain.currents["I_dc"], 1.1)


@pytest.mark.parametrize("edit, field, fix", [
    (lambda r: r.update(format="v0"), "format", "neurocc-calibration/1"),
    (lambda r: r["constants"].update(C_soma=1e-12), "constants.C_soma", "C_mem"),
    (lambda r: r["constants"].update(C_mem=-1.0), "constants.C_mem", "> 0"),
    (lambda r: r["bias_scale"].update(SOIF_DC_P=1000.0), "bias_scale.SOIF_DC_P", "measured"),
    (lambda r: r["bias_scale"].update(NOT_A_BIAS=1.0), "bias_scale.NOT_A_BIAS", "bias names"),
    (lambda r: r["core_bias_scale"].update({"9.9": {}}), "core_bias_scale.9.9", "chip.core"),
    (lambda r: r["neuron_gain"].update({"x": 1.0}), "neuron_gain.x", "hardware neuron"),
    (lambda r: r.pop("source"), "source", "measured"),
])
def test_a_bad_calibration_names_the_field_and_the_fix(tmp_path, edit, field, fix):
    raw = json.loads(EXAMPLE.read_text())
    edit(raw)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(TargetError) as err:
        load_calibration(path, load_target("dynapse2"))
    assert f"{field}: " in str(err.value) and fix in str(err.value)


def test_cli_compile_and_verify_take_a_calibration(tmp_path, cli):
    code, _, err = cli(["compile", str(TINY), "-o", str(tmp_path), "--calibration",
                        str(EXAMPLE)])
    assert code == 0, err
    code, out, _ = cli(["verify", str(tmp_path), "--instances", "2", "--samples", "2",
                        "--steps", "50", "--json", "--calibration", str(EXAMPLE)])
    assert json.loads(out)["calibration"] == str(EXAMPLE)
    code, _, err = cli(["verify", str(tmp_path), "--calibration", str(tmp_path / "none.json")])
    assert code == 2 and "--calibration" in err


def test_a_core_factor_moves_that_cores_bias_choice(tmp_path):
    """A core measured at half the nominal leak current gets a setting of twice the nominal
    current, so that what it realises is what the neurons ask for; other cores are unchanged."""
    se2 = load_target("dynapse2")
    nominal = compile_model(TINY, se2).compilation.tables.cores
    (chip, core), *others = sorted(nominal)
    raw = {"format": "neurocc-calibration/1", "source": "test",
           "core_bias_scale": {f"{chip}.{core}": {"SOIF_LEAK_N": 0.5}}}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(raw))
    cal = calibrated_target(se2, load_calibration(path, se2))
    calibrated = compile_model(TINY, cal).compilation.tables.cores
    asked = se2.bias_current("SOIF_LEAK_N", *nominal[chip, core].biases["SOIF_LEAK_N"])
    got = cal.for_core(chip, core).bias_current("SOIF_LEAK_N",
                                                *calibrated[chip, core].biases["SOIF_LEAK_N"])
    assert calibrated[chip, core].biases["SOIF_LEAK_N"] != nominal[chip, core].biases["SOIF_LEAK_N"]
    assert got == pytest.approx(asked, rel=0.05)
    assert all(calibrated[k].biases == nominal[k].biases for k in others)
