"""Framework presets (``--from``): each exporter's conventions on real files, the Norse tau
rescaling, explicit flags over presets, the mix-up detector, and the chip-side reset policy."""

import json

import numpy as np
import pytest
from networks import REPO

from neurocc.compiler.errors import NeuroccError
from neurocc.frontend.load import LoadOptions, load_model
from neurocc.frontend.presets import PRESETS, detect_mixup, mixup_notes

ADAPT = REPO / "benchmarks" / "adapt_models"
NORSE_DIGITS = ADAPT / "norse_digits.nir"
SNNTORCH_DIGITS = ADAPT / "snntorch_digits.nir"
EXAMPLES = sorted(REPO.glob("examples/*/model.nir"))


def load(path, **options):
    return load_model(path, LoadOptions(**options))


def hidden(net):
    return next(p for p in net.populations.values() if not p.is_input)


def test_every_preset_states_a_source_for_its_conventions():
    for preset in PRESETS.values():
        assert preset.sources and all(line.strip() for line in preset.sources)
        assert preset.reset in (None, "zero", "subtract")


def test_norse_preset_rescales_dt_scaled_taus_of_a_norse_1_1_export():
    net = load(NORSE_DIGITS, preset="norse")
    assert net.dt == pytest.approx(1e-3)
    for pop in net.populations.values():
        if not pop.is_input:
            np.testing.assert_allclose(pop.params["tau_mem"], 10e-3)  # the default 10 ms
            assert pop.reset == "zero"
    # the file as written: 1e-5 s, read at neurocc's default dt
    assert hidden(load(NORSE_DIGITS)).params["tau_mem"].max() == pytest.approx(1e-5)


def test_norse_preset_keeps_the_seconds_of_an_older_norse_export(shared_models):
    # lif_norse.nir (NIR paper, format 0.1.1) already holds tau in seconds (2.5 ms >= dt)
    net = load(shared_models / "lif_norse.nir", preset="norse")
    assert hidden(net).params["tau_mem"] == pytest.approx([2.5e-3])
    assert net.dt == pytest.approx(1e-3)


def test_norse_inspect_shows_the_10ms_membrane(cli):
    code, out, _ = cli(["inspect", str(NORSE_DIGITS), "--from", "norse", "--json"])
    s = json.loads(out)
    assert code == 0 and s["preset"] == "norse" and s["notes"] == []
    assert s["dt_s"] == pytest.approx(1e-3)
    assert [p["params"]["tau_mem"]["max"] for p in s["populations"] if p["model"] == "LIF"] \
        == pytest.approx([0.01, 0.01])


def test_norse_synaptic_jump_scales_w_in_by_tau_syn_over_dt(tmp_path):
    from networks import write_graph
    path = tmp_path / "cuba.nir"
    # Norse 1.1 LIFCell export at dt = 1 ms: tau_mem 1e-5 (10 ms), tau_syn 5e-6 (5 ms), no w_in
    cuba = {"type": "CubaLIF", "tau_mem": np.full(2, 1e-5), "tau_syn": np.full(2, 5e-6),
            "r": np.ones(2), "v_leak": np.zeros(2), "v_threshold": np.ones(2),
            "v_reset": np.zeros(2), "w_in": np.ones(2)}
    write_graph(path, {"input": {"type": "Input", "shape": np.array([2])},
                       "aff": {"type": "Affine", "weight": np.eye(2), "bias": np.zeros(2)},
                       "cuba": cuba, "output": {"type": "Output", "shape": np.array([2])}},
                [("input", "aff"), ("aff", "cuba"), ("cuba", "output")])
    pop = hidden(load(path, preset="norse"))
    np.testing.assert_allclose(pop.params["tau_syn"], 5e-3)
    np.testing.assert_allclose(pop.scale["w_in"], 5.0)  # tau_syn / dt = 5 ms / 1 ms
    assert hidden(load(path)).scale["w_in"] == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("name, path, dt, reset", [
    ("snntorch", "adapt/snntorch_digits.nir", 1e-4, "subtract"),
    ("snntorch", "shared/braille_noDelay_bias_zero.nir", 1e-4, "subtract"),
    ("sinabs", "shared/cnn_sinabs_nmnist.nir", 1e-4, "subtract"),
    ("rockpool", "shared/lif_rockpool.nir", 1e-3, "subtract"),
])
def test_preset_sets_dt_and_reset_on_a_real_export(shared_models, name, path, dt, reset):
    base = ADAPT if path.startswith("adapt/") else shared_models
    net = load(base / path.split("/", 1)[1], preset=name)
    assert net.dt == pytest.approx(dt)
    assert {p.reset for p in net.populations.values() if not p.is_input} == {reset}
    written = load(base / path.split("/", 1)[1])
    for pop in net.populations.values():  # taus, gains and biases as written
        for key, value in pop.params.items():
            if key not in ("reset", "refractory"):
                np.testing.assert_array_equal(value, written.populations[pop.name].params[key])


def test_spyx_preset_counts_steps(shared_models):
    # spyx_shd.nir holds negative taus (learnt beta > 1): refused with or without the preset
    with pytest.raises(NeuroccError, match="not positive"):
        load(shared_models / "spyx_shd.nir", preset="spyx")
    assert PRESETS["spyx"].dt == 1.0 and PRESETS["spyx"].reset == "subtract"


def test_explicit_options_override_the_preset():
    net = load(SNNTORCH_DIGITS, preset="snntorch", dt=2e-4, reset="zero", refractory=1e-3)
    pop = hidden(net)
    assert net.dt == pytest.approx(2e-4) and pop.reset == "zero"
    assert pop.refractory == pytest.approx(1e-3)


def test_explicit_flags_override_the_preset_on_the_cli(cli):
    code, out, _ = cli(["inspect", str(NORSE_DIGITS), "--from", "norse", "--dt", "2e-3",
                        "--reset", "subtract", "--json"])
    s = json.loads(out)
    assert code == 0 and s["dt_s"] == pytest.approx(2e-3)
    assert {p["reset"] for p in s["populations"] if p["model"] == "LIF"} == {"subtract"}
    # tau = dt x true tau with the given dt: 1e-5 / 2e-3 = 5 ms
    assert [p["params"]["tau_mem"]["max"] for p in s["populations"] if p["model"] == "LIF"] \
        == pytest.approx([5e-3, 5e-3])


def test_unknown_preset_is_a_usage_error(cli):
    code, _, err = cli(["inspect", str(NORSE_DIGITS), "--from", "brian2"])
    assert code == 2 and "--from" in err and "snntorch" in err
    with pytest.raises(NeuroccError, match="unknown framework preset 'brian2'"):
        LoadOptions(preset="brian2")


def test_a_preset_on_a_ncl_file_is_refused():
    with pytest.raises(NeuroccError, match="applies to NIR files"):
        load(REPO / "examples" / "tiny.ncl", preset="norse")


def test_detector_names_norse_on_a_norse_export_without_from(cli):
    assert "pass --from norse" in detect_mixup(load(NORSE_DIGITS))
    code, out, _ = cli(["inspect", str(NORSE_DIGITS), "--json"])
    assert code == 0 and len(json.loads(out)["notes"]) == 1
    assert "pass --from norse" in json.loads(out)["notes"][0]


def test_detector_names_snntorch_on_snntorch_exports(shared_models):
    for path in (SNNTORCH_DIGITS, ADAPT / "snntorch_rsynaptic.nir", ADAPT / "snntorch_pertau.nir",
                 shared_models / "braille_noDelay_bias_zero.nir"):
        assert "pass --from snntorch" in detect_mixup(load(path)), path


def test_detector_stays_quiet_on_other_exports_and_the_examples(shared_models):
    quiet = [*EXAMPLES, shared_models / "lif_rockpool.nir", shared_models / "lif_norse.nir",
             shared_models / "cnn_sinabs_nmnist.nir", shared_models / "two_lif_neurons.nir"]
    assert len(EXAMPLES) == 3
    for path in quiet:
        assert detect_mixup(load(path)) is None, path


def test_detector_speaks_only_for_nir_files_read_without_a_preset():
    net = load(NORSE_DIGITS)
    assert len(mixup_notes(net, "nir", NORSE_DIGITS)) == 1
    assert mixup_notes(net, "norse", NORSE_DIGITS) == ()
    assert mixup_notes(net, "nir", net) == ()  # a network given as IR
    assert mixup_notes(net, "nir", REPO / "examples" / "tiny.ncl") == ()


def test_detector_note_is_silent_once_a_preset_is_given(cli, tmp_path):
    code, out, _ = cli(["compile", str(NORSE_DIGITS), "--from", "norse", "-o",
                        str(tmp_path / "o")])
    assert code == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert not any("--from" in note for note in report["notes"])


def test_norse_without_from_is_refused_after_the_note(cli, tmp_path):
    code, out, err = cli(["compile", str(NORSE_DIGITS), "--dt", "1e-3", "-o",
                          str(tmp_path / "o")])
    assert code == 2 and "not longer than the step" in err
    assert "pass --from norse" in " ".join(out.split())


def test_snntorch_preset_compiles_the_subtract_reset_with_one_note(cli, tmp_path):
    tol = ["--class-tolerance", "0.2"]  # its per-neuron biases make 17 classes for 16 cores
    code, _, err = cli(["compile", str(SNNTORCH_DIGITS), "--reset", "subtract", *tol, "-o",
                        str(tmp_path / "a")])
    assert code == 2 and "subtractive reset" in err
    code, out, err = cli(["compile", str(SNNTORCH_DIGITS), "--from", "snntorch", *tol, "-o",
                          str(tmp_path / "b")])
    assert code == 0, err
    notes = json.loads((tmp_path / "b" / "report.json").read_text())["notes"]
    reset = [n for n in notes if "subtractive reset" in n]
    assert len(reset) == 1 and "neurocc verify" in reset[0]
    assert "population '1'" in reset[0] and "population '3'" in reset[0]
    assert " ".join(out.split()).count("subtractive reset realised") == 1
    assert not any("--from" in n for n in notes)  # the detector is silent with a preset


def test_explicit_subtract_reset_error_wins_over_the_preset(cli, tmp_path):
    code, _, err = cli(["compile", str(SNNTORCH_DIGITS), "--from", "snntorch",
                        "--subtract-reset", "error", "-o", str(tmp_path / "o")])
    assert code == 2 and "subtractive reset" in err


def test_python_api_applies_the_preset_and_reports_the_detector_note():
    from neurocc.compiler.circuits import CircuitOptions
    from neurocc.compiler.compilation import CompileOptions
    from neurocc.compiler.driver import compile_model
    options = CompileOptions(circuit=CircuitOptions(negative_drive="clip"), class_tolerance=0.2)
    compiled = compile_model(SNNTORCH_DIGITS, load_options=LoadOptions(preset="snntorch"),
                             options=options)
    notes = compiled.report["notes"]
    assert sum("subtractive reset" in n for n in notes) == 1
    with pytest.raises(NeuroccError, match="subtractive reset"):  # the preset "nir" refuses
        compile_model(SNNTORCH_DIGITS, load_options=LoadOptions(reset="subtract"),
                      options=options)
    slow = CompileOptions(circuit=CircuitOptions(negative_drive="clip", time_scale=1000))
    compiled = compile_model(NORSE_DIGITS, load_options=LoadOptions(preset="nir", dt=1e-6),
                             options=slow)  # the flags the issue had to guess
    assert "pass --from norse" in compiled.report["notes"][0]
