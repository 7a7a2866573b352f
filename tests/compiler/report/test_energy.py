"""Energy estimate: fan-outs from hand-built tables, the arithmetic, and the figure files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurocc.backends.target import (ENERGY_FIGURES, EnergyFigure, load_energy_figures,
                                     load_target, shipped_targets)
from neurocc.compiler.report.energy import (Fanout, activity_from_report, activity_from_verify,
                                     estimate, expected_activity, fanouts)
from neurocc.compiler.errors import TargetError
from neurocc.compiler.tables import RoutingTables


def hand_tables() -> RoutingTables:
    """Neurons A (hw 0) and B (hw 5), one input channel; 4 neurons per core, 4 cores.

    A sends key 7 to cores 0+1 and key 3 to core 2; B sends key 9 to core 0; the input sends
    key 11 to core 0. Core 0: neuron 1 listens to key 7 twice, neuron 2 to keys 9 and 11;
    core 1: neuron 5 to key 7; core 2: neuron 8 to key 3; core 3: neuron 12 to key 7 (never
    sent there). So A: 2 SRAM entries, 4 synaptic events; B: 1 and 1; the input: 1 and 1.
    """
    ints = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    return RoutingTables(
        target="hand", chips=1, cores_per_chip=4, neurons_per_core=4, syn_types=("AMPA",),
        populations=[("p", 2)], input_populations=[("in", 1)], neuron_hw=ints(0, 5),
        cam_post=ints(1, 1, 2, 2, 5, 8, 12), cam_key=ints(7, 7, 9, 11, 7, 3, 7),
        cam_type=ints(0, 0, 0, 0, 0, 0, 0), cam_code=ints(1, 1, 1, 1, 1, 1, 1),
        sram_src=ints(0, 0, 5, -1), sram_key=ints(7, 3, 9, 11), sram_chip=ints(0, 0, 0, 0),
        sram_cores=ints(0b0011, 0b0100, 0b0001, 0b0001))


def figures(**values: float | None) -> dict[str, EnergyFigure]:
    return {name: EnergyFigure(values.get(name), unit, "test")
            for name, unit in ENERGY_FIGURES.items()}


def test_fanout_counts_sram_entries_and_matching_cam_entries():
    fan = fanouts(hand_tables())[0]
    assert fan == Fanout(routed_per_spike=(2 + 1) / 2, synaptic_per_spike=(4 + 1) / 2)


def test_input_fanout_and_input_events_in_the_verify_activity():
    tables = hand_tables()
    neurons, inputs = fanouts(tables)
    assert inputs == Fanout(1.0, 1.0)
    verify = {"summary": {"spikes_per_inference": {"median": 10.0}}, "steps": 100,
              "input_events_per_inference": 4.0}
    act = activity_from_verify(verify, neurons, 1e-3, inputs)
    assert act.routed_events == pytest.approx(10 * 1.5 + 4 * 1.0)
    assert act.synaptic_events == pytest.approx(10 * 2.5 + 4 * 1.0)
    assert "4 input events" in act.basis
    # an older verify.json without the input count: neurons only, and the basis says so
    del verify["input_events_per_inference"]
    old = activity_from_verify(verify, neurons, 1e-3, inputs)
    assert old.routed_events == pytest.approx(15.0) and "not counted" in old.basis


def test_expected_activity_weights_each_source_by_its_rate():
    act = expected_activity(hand_tables(), np.array([0.2, 0.4, 0.5]))
    assert act["spikes"] == pytest.approx(0.6)
    assert act["input_events"] == pytest.approx(0.5)
    assert act["routed_events"] == pytest.approx(0.2 * 2 + 0.4 * 1 + 0.5 * 1)
    assert act["synaptic_events"] == pytest.approx(0.2 * 4 + 0.4 * 1 + 0.5 * 1)


def test_estimate_per_inference_and_per_second():
    verify = {"summary": {"spikes_per_inference": {"median": 10.0}}, "instances": 5,
              "steps": 100}
    fan = Fanout(1.5, 2.5)
    act = activity_from_verify(verify, fan, dt_chip=1e-3)
    e = estimate(figures(E_route=1e-9, E_syn=2e-9, E_spike=0.5e-9, P_static=1e-3), fan,
                 chips=2, activity=act)
    dynamic = 15 * 1e-9 + 25 * 2e-9 + 10 * 0.5e-9
    assert e["per_spike_J"] == pytest.approx(1.5e-9 + 2.5 * 2e-9 + 0.5e-9)
    assert e["terms_J"]["P_static"] == pytest.approx(2e-3 * 0.1)
    assert e["per_inference_J"] == pytest.approx(dynamic + 2e-3 * 0.1)
    assert e["per_second_W"] == pytest.approx(dynamic / 0.1 + 2e-3)
    assert e["missing"] == [] and e["unconfirmed"] == []


def test_missing_spike_figure_drops_its_term_other_missing_figures_leave_no_total():
    fan = Fanout(1.0, 3.0)
    act = activity_from_report({"spikes": 2.0, "routed_events": 2.0, "synaptic_events": 6.0},
                               dt_chip=1e-3)
    e = estimate(figures(E_route=1e-9, E_syn=1e-9, P_static=1e-6), fan, chips=1, activity=act)
    assert e["missing"] == ["E_spike"]
    assert e["per_second_W"] == pytest.approx((2e-9 + 6e-9) / 1e-3 + 1e-6)
    assert e["per_inference_J"] is None  # a step is not an inference
    e = estimate(figures(E_route=1e-9, P_static=1e-6), fan, chips=1, activity=act)
    assert e["terms_J"]["E_syn"] is None and e["terms_J"]["E_route"] == pytest.approx(2e-9)
    assert e["per_second_W"] is None and e["per_spike_J"] is None


def test_unconfirmed_figures_with_a_value_are_listed():
    figs = figures(E_route=1e-9, E_syn=1e-9, P_static=1e-6)
    figs["P_static"] = EnergyFigure(1e-6, "W", "unconfirmed: quoted second hand")
    figs["E_spike"] = EnergyFigure(None, "J", "unconfirmed: nothing read")
    e = estimate(figs, Fanout(1.0, 1.0), chips=1, activity=None)
    assert e["unconfirmed"] == ["P_static"]
    assert e["figures"]["P_static"]["confirmed"] is False
    assert e["figures"]["E_route"]["confirmed"] is True


def test_duration_unknown_without_steps_keeps_static_out():
    verify = {"summary": {"spikes_per_inference": {"median": 4.0}}}
    act = activity_from_verify(verify, Fanout(1.0, 1.0), dt_chip=1e-3)
    e = estimate(figures(E_route=1.0, E_syn=1.0, P_static=1.0), Fanout(1.0, 1.0), 1, act)
    assert act.seconds is None and "duration unknown" in act.basis
    assert e["terms_J"]["E_route"] == 4.0 and e["terms_J"]["P_static"] is None
    assert e["per_inference_J"] is None and e["per_second_W"] is None


@pytest.mark.parametrize("name", shipped_targets())
def test_shipped_targets_have_every_figure_with_a_source(name):
    energy = load_target(name).energy
    assert set(energy) == set(ENERGY_FIGURES)
    for fig_name, fig in energy.items():
        assert fig.unit == ENERGY_FIGURES[fig_name] and fig.source.strip()
        # a figure without a value cannot be confirmed; nothing here was read from a paper
        assert not fig.confirmed


def write(tmp_path: Path, obj) -> Path:
    path = tmp_path / "energy.json"
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_override_file_reads_the_figures_it_names(tmp_path):
    path = write(tmp_path, {"note": "bench", "E_syn": {"value": 2, "unit": "J", "source": "s"}})
    assert load_energy_figures(path) == {"E_syn": EnergyFigure(2.0, "J", "s")}


@pytest.mark.parametrize("content, field", [
    ({"E_sin": {"value": 1, "unit": "J", "source": "s"}}, "unknown figure"),
    ({"E_syn": {"value": 1, "unit": "W", "source": "s"}}, "E_syn.unit"),
    ({"E_syn": {"value": -1, "unit": "J", "source": "s"}}, "E_syn.value"),
    ('{"E_syn": {"value": NaN, "unit": "J", "source": "s"}}', "NaN is not a valid JSON number"),
    ({"E_syn": {"value": "1e-9", "unit": "J", "source": "s"}}, "E_syn.value"),
    ({"E_syn": {"unit": "J", "source": "s"}}, "E_syn.value"),
    ({"E_syn": {"value": 1, "unit": "J", "source": " "}}, "E_syn.source"),
    ([1, 2], "expected an object"),
    ("{not json", "not valid JSON"),
])
def test_bad_override_file_is_one_clear_error(tmp_path, content, field):
    path = write(tmp_path, content)
    with pytest.raises(TargetError) as exc:
        load_energy_figures(path)
    assert field in str(exc.value) and str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_target_file_energy_block_is_validated(tmp_path):
    raw = json.loads((Path(load_target("dynapse2").path)).read_text())
    raw["energy"]["P_static"]["unit"] = "J"
    target_dir = tmp_path / "t"
    target_dir.mkdir()
    src = Path(load_target("dynapse2").path).parent
    (target_dir / "biasgen.json").write_text((src / "biasgen.json").read_text())
    (target_dir / "target.json").write_text(json.dumps(raw))
    with pytest.raises(TargetError, match="energy.P_static.unit"):
        load_target(target_dir / "target.json")
    del raw["energy"]
    (target_dir / "target.json").write_text(json.dumps(raw))
    energy = load_target(target_dir / "target.json").energy
    assert all(f.value is None and f.unit == ENERGY_FIGURES[n] for n, f in energy.items())
