"""`neurocc verify` and the verification behind it, on the shipped example compiled for both chips."""

import json
import sys

import numpy as np
import pytest

from neurocc.compiler import compile_model
from neurocc.compiler.driver import read_compiled
from neurocc.compiler.errors import SimulationError
from neurocc.frontend.load import load_model
from neurocc.runtime.verify import Stimulus, VerifyOptions, load_stimulus, verify_folder
from networks import REPO

EXAMPLES = REPO / "examples"
TINY = EXAMPLES / "tiny.ncl"
sys.path.insert(0, str(EXAMPLES))
from make_tiny_inputs import two_class_inputs  # noqa: E402


def two_class_stimulus(samples: int = 8, steps: int = 300, seed: int = 0) -> Stimulus:
    spikes, labels = two_class_inputs(samples, steps, seed)
    return Stimulus({"spikes": spikes}, labels)


@pytest.fixture(scope="module", params=["dynapse1", "dynapse2"])
def folder(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    compile_model(TINY, request.param).save(out)
    return read_compiled(out)


def test_without_mismatch_the_circuit_tracks_the_reference(folder):
    """Consistency: nominal chip (no mismatch, no noise) vs the float reference, same inputs.

    Tolerance: per-output spike counts within 2 spikes or 10% (of ~20 per sample) and count
    correlation >= 0.99 (the DPI's
    multiplicative membrane near reset and the bias generator's few-% rounding are the documented
    approximations; see docs/circuit_mapping.md)."""
    v, ref = verify_folder(folder, two_class_stimulus(), VerifyOptions(instances=1, mismatch=0.0))
    r = v.reference_outputs.sum(axis=1)
    c = v.compiled_outputs[0].sum(axis=1)
    assert r.sum() > 100  # the example is active
    assert np.all(np.abs(c - r) <= np.maximum(2, 0.1 * r))
    assert v.summary["count_correlation"]["median"] >= 0.99
    assert v.summary["agreement"]["median"] == 1.0 and ref["accuracy"] == 1.0


def test_each_simulated_chip_is_reproducible_from_its_seed(folder):
    stim = two_class_stimulus(samples=4, steps=200)
    many, _ = verify_folder(folder, stim, VerifyOptions(instances=6, mismatch=0.2, seed=3))
    again, _ = verify_folder(folder, stim, VerifyOptions(instances=6, mismatch=0.2, seed=3))
    other, _ = verify_folder(folder, stim, VerifyOptions(instances=6, mismatch=0.2, seed=4))
    assert np.array_equal(many.compiled_outputs, again.compiled_outputs)
    assert not np.array_equal(many.compiled_outputs, other.compiled_outputs)
    # chips differ from each other under mismatch
    assert len({c.tobytes() for c in many.compiled_outputs}) > 1


def test_cli_verify_json_and_exit_codes(tmp_path, cli):
    compile_model(TINY, "dynapse2").save(tmp_path)
    stim = two_class_stimulus(samples=6, steps=200)
    np.savez(tmp_path / "in.npz", spikes=stim.inputs["spikes"], labels=stim.labels)
    code, out, _ = cli(["verify", str(tmp_path), "--inputs", str(tmp_path / "in.npz"),
                        "--instances", "8", "--json"])
    s = json.loads(out)
    assert code == 0 and s["passed"] is True and s["instances"] == 8
    assert {"count_correlation", "rate_error", "agreement", "van_rossum",
            "spikes_per_inference", "accuracy"} <= set(s["summary"])
    assert s["reference"]["accuracy"] == 1.0
    assert s["steps"] == 200  # the stimulus length, which the energy estimate needs
    assert s["input_events_per_inference"] == pytest.approx(stim.inputs["spikes"].sum() / 6)
    for name in ("rasters.png", "metrics.png", "verify.json"):
        assert (tmp_path / "verify" / name).stat().st_size > 1000 or name == "verify.json"
    # an unreachable threshold fails the verdict with a non-zero exit code and says why
    code, out, _ = cli(["verify", str(tmp_path), "--inputs", str(tmp_path / "in.npz"),
                        "--instances", "4", "--min-correlation", "1.01", "--json"])
    assert code == 1 and "correlation" in json.loads(out)["reasons"][0]


def test_cli_verify_on_a_folder_that_is_not_compiled(tmp_path, cli):
    code, _, err = cli(["verify", str(tmp_path)])
    assert code == 2 and "config.json is missing" in err


def test_population_readout_maps_output_neurons_to_classes(tmp_path):
    """``output_classes`` decides the class of each output neuron, for the reference's accuracy
    and the chips' accuracy alike: swapping the map and the labels together changes nothing,
    swapping only the map makes every answer wrong."""
    compile_model(TINY, "dynapse2").save(tmp_path)
    folder = read_compiled(tmp_path)
    stim = two_class_stimulus(samples=4, steps=200)
    options = VerifyOptions(instances=1, mismatch=0.0)
    swapped = np.array([1, 0])
    v, ref = verify_folder(folder, Stimulus(stim.inputs, 1 - stim.labels, swapped), options)
    assert ref["accuracy"] == 1.0 and v.summary["accuracy"]["median"] == 1.0
    assert v.summary["agreement"]["median"] == 1.0
    v, ref = verify_folder(folder, Stimulus(stim.inputs, stim.labels, swapped), options)
    assert ref["accuracy"] == 0.0 and v.summary["accuracy"]["median"] == 0.0


@pytest.mark.parametrize("classes, message", [
    (np.array([0, 0, 1]), "expected 2 non-negative integers"),
    (np.array([0.5, 1.0]), "expected 2 non-negative integers"),
    (np.array([-1, 0]), "expected 2 non-negative integers"),
    (np.array([0, 2]), r"leaves classes \[1\] without a neuron"),
])
def test_load_stimulus_rejects_a_bad_output_class_map(tmp_path, classes, message):
    stim = two_class_stimulus(samples=2, steps=20)
    np.savez(tmp_path / "in.npz", spikes=stim.inputs["spikes"], labels=stim.labels,
             output_classes=classes)
    with pytest.raises(SimulationError, match=message) as exc:
        load_stimulus(tmp_path / "in.npz", load_model(TINY))
    assert "output_classes" in exc.value.fix


def test_load_stimulus_reads_the_map_and_checks_labels_against_its_classes(tmp_path):
    net = load_model(TINY)
    stim = two_class_stimulus(samples=2, steps=20)
    np.savez(tmp_path / "ok.npz", spikes=stim.inputs["spikes"], labels=np.zeros(2, int),
             output_classes=np.array([0.0, 0.0]))
    loaded = load_stimulus(tmp_path / "ok.npz", net)
    assert loaded.output_classes.tolist() == [0, 0] and loaded.output_classes.dtype == np.int64
    # one class left: label 1 names no class of the readout
    np.savez(tmp_path / "bad.npz", spikes=stim.inputs["spikes"], labels=np.array([0, 1]),
             output_classes=np.array([0, 0]))
    with pytest.raises(SimulationError, match=r"integers in 0\.\.0"):
        load_stimulus(tmp_path / "bad.npz", net)
