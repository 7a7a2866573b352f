"""Bias assignment: nearest table current, error bounds, exact reproduction, clear range errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocc.backends.target import load_target
from neurocc.compiler.biasgen import assign_bias, assign_roles, bias_table, report_rows
from neurocc.compiler.errors import TargetError

TARGETS = {name: load_target(name) for name in ("dynapse1", "dynapse2")}
CASES = [("dynapse1", "IF_TAU1_N"), ("dynapse1", "IF_DC_P"), ("dynapse2", "SOIF_LEAK_N"),
         ("dynapse2", "DEAM_ETAU_P"), ("dynapse2", "SYAM_W0_P")]


def _all_settings(target, name):
    coarse, fine = np.meshgrid(np.arange(target.generator.coarse_max + 1),
                               np.arange(target.generator.fine_max + 1), indexing="ij")
    return coarse.ravel(), fine.ravel(), np.ravel(target.bias_current(name, coarse, fine))


@pytest.mark.parametrize("target_name,name", CASES)
def test_every_table_current_is_reproduced_exactly(target_name, name):
    target = TARGETS[target_name]
    _, _, currents = _all_settings(target, name)
    wanted = currents[currents > 0]
    choice = assign_bias(target, name, wanted)
    assert np.array_equal(choice.realised, wanted)
    assert np.all(choice.rel_error == 0)
    assert np.array_equal(target.bias_current(name, choice.coarse, choice.fine), wanted)


@pytest.mark.parametrize("target_name,name", CASES)
@settings(max_examples=150, deadline=None)
@given(u=st.floats(0.0, 1.0))
def test_error_is_within_half_the_local_step_and_nothing_is_closer(target_name, name, u):
    target = TARGETS[target_name]
    table = bias_table(target, name)
    x = float(np.exp(np.log(table.lowest) + u * (np.log(table.highest) - np.log(table.lowest))))
    x = min(max(x, table.lowest), table.highest)
    choice = assign_bias(target, name, x)
    _, _, currents = _all_settings(target, name)
    # Optimal: no setting of the whole table is closer (brute force).
    assert abs(float(choice.realised) - x) <= np.min(np.abs(currents - x)) * (1 + 1e-12)
    # Bounded by half the local relative step, hence by half the table's worst step.
    distinct = np.unique(currents[currents > 0])
    k = max(int(np.searchsorted(distinct, x, side="right")) - 1, 0)
    k = min(k, distinct.size - 2)
    local = (distinct[k + 1] - distinct[k]) / distinct[k]
    assert float(choice.rel_error) <= local / 2 + 1e-12
    assert float(choice.rel_error) <= table.worst_step(table.lowest, table.highest) / 2 + 1e-12
    assert target.bias_current(name, int(choice.coarse), int(choice.fine)) == choice.realised


def test_worst_step_above_a_picoampere_is_small():
    # Where the compiler's currents live (>= 1 pA) both generators resolve a few percent.
    se1 = bias_table(TARGETS["dynapse1"], "IF_TAU1_N")
    se2 = bias_table(TARGETS["dynapse2"], "SOIF_LEAK_N")
    assert se1.worst_step(1e-11, se1.highest) < 0.04
    assert se2.worst_step(1e-11, se2.highest) < 0.04
    assert se1.worst_step(se1.lowest, se1.highest) == pytest.approx(1.0)  # fine 1 -> 2


def test_equal_currents_resolve_to_the_largest_fine_value():
    se1 = TARGETS["dynapse1"]
    # base[1] * 1 / 255 == base[0] * 7 / 255 (1.05e-10 = 7 * 1.5e-11).
    choice = assign_bias(se1, "IF_DC_P", 1.05e-10 / 255)
    assert (int(choice.coarse), int(choice.fine)) == (0, 7)


def test_vectorised_shape_is_kept():
    se2 = TARGETS["dynapse2"]
    requests = np.geomspace(1e-11, 1e-7, 12).reshape(3, 4)
    choice = assign_bias(se2, "SOIF_GAIN_N", requests)
    assert choice.realised.shape == choice.coarse.shape == choice.rel_error.shape == (3, 4)
    rows = report_rows({"SOIF_GAIN_N": choice}, label="class 0")
    assert len(rows) == 12 and rows[5]["where"] == "class 0[1, 1]"
    assert rows[5]["requested_A"] == requests[1, 1] and rows[5]["role"] == "I_gain_mem"


def test_out_of_range_names_the_bias_role_where_and_range():
    se2 = TARGETS["dynapse2"]
    lo, hi = se2.bias_range("SOIF_LEAK_N")
    with pytest.raises(TargetError) as info:
        assign_bias(se2, "SOIF_LEAK_N", [1e-9, 2 * hi, 3 * hi], where="population 'h'")
    text = str(info.value)
    for part in ("population 'h'", "SOIF_LEAK_N (I_tau_mem)", "above the representable range",
                 f"{hi:.4g}", "index [1]", "2 requests out of range", "--time-scale"):
        assert part in text, text
    with pytest.raises(TargetError, match="below the representable range"):
        assign_bias(se2, "SOIF_LEAK_N", lo / 2)
    with pytest.raises(TargetError, match="not a valid current"):
        assign_bias(se2, "SOIF_LEAK_N", float("nan"))


def test_zero_only_where_the_generator_outputs_zero():
    choice = assign_bias(TARGETS["dynapse1"], "IF_DC_P", 0.0)
    assert float(choice.realised) == 0.0 and int(choice.fine) == 0 and float(choice.rel_error) == 0
    with pytest.raises(TargetError, match="below the representable range"):
        assign_bias(TARGETS["dynapse2"], "SOIF_DC_P", 0.0)


def test_assign_roles_skips_fixed_circuits():
    currents = {"I_tau_mem": 1e-10, "I_spkthr": 1e-7, "I_dc": 2e-9}
    se1 = assign_roles(TARGETS["dynapse1"], currents)
    assert set(se1) == {"I_tau_mem", "I_dc"}  # SE1's spike threshold is hard-wired
    se2 = assign_roles(TARGETS["dynapse2"], currents)
    assert set(se2) == set(currents) and se2["I_spkthr"].name == "SOIF_SPKTHR_P"
    for role, choice in se2.items():
        assert float(choice.rel_error) < 0.02, role
