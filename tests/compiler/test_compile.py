"""The whole compile: pipeline, report, files, determinism, round trips, capacity errors."""

import hashlib
import re
import json

import numpy as np
import pytest

from neurocc.backends import emitter_for
from neurocc.compiler import CircuitOptions, CompileOptions, compile_model
from neurocc.compiler.driver import read_compiled
from neurocc.compiler.errors import CapacityError
from neurocc.compiler.ir import networks_equal
from neurocc.compiler.pipeline import PIPELINE, pass_name
from neurocc.frontend.load import LoadOptions, load_model
from networks import REPO

TINY = REPO / "examples" / "tiny.ncl"
STABLE_KEYS = {"target", "chips_used", "cores_used", "routed_events", "checker_ok",
               "max_cam_per_neuron", "max_sram_per_neuron", "weight_rel_error",
               "bias_rel_error_max"}
CLIP = CompileOptions(circuit=CircuitOptions(negative_drive="clip"))


@pytest.fixture(scope="module", params=["dynapse1", "dynapse2"])
def tiny(request):
    return compile_model(TINY, request.param)


def test_pipeline_reads_as_a_list_of_passes():
    assert [pass_name(p) for p in PIPELINE] == [
        "canonicalise", "prune", "capacity", "circuits", "classes", "placement", "quantize",
        "routing", "checker", "realise"]
    # a pass is named as the module that holds it
    assert all(p.__name__.endswith("." + pass_name(p)) and callable(p.run) for p in PIPELINE)


def test_report_has_stable_keys_and_respects_limits(tiny):
    r = tiny.report
    assert STABLE_KEYS <= set(r)
    assert r["checker_ok"] is True
    assert r["target"] == tiny.compilation.target.name
    assert 1 <= r["max_cam_per_neuron"] <= r["cam_per_neuron_limit"]
    assert 1 <= r["max_sram_per_neuron"] <= r["sram_per_neuron_limit"]
    # hidden (16 LIF) and out (2 LIF) differ in tau: two classes, so at least two cores
    assert r["parameter_classes"] == 2 and r["cores_used"] == 2 and r["chips_used"] == 1
    assert 0 <= r["weight_rel_error"] < 0.05
    assert r["bias_rel_error_max"] <= 0.05 + 0.04  # class tolerance plus generator rounding
    assert sum(p["synapses"] for p in r["projections"]) == 64
    tables = tiny.compilation.tables
    assert sum(c["neurons"] for c in r["cores"]) == 18
    assert sum(c["cam_total"] for c in r["cores"]) == tables.cam_post.size
    assert max(c["cam_max"] for c in r["cores"]) == r["max_cam_per_neuron"]
    assert sum(p["cam_entries"] for p in r["projections"]) == tables.cam_post.size


def test_same_input_same_bytes(tmp_path):
    a = compile_model(TINY, "dynapse2").save(tmp_path / "a")
    b = compile_model(TINY, "dynapse2").save(tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_config_round_trips_to_the_realised_network(tiny, tmp_path):
    tiny.save(tmp_path)
    folder = read_compiled(tmp_path)
    # IR -> config -> IR equals the quantized IR computed inside the compiler
    assert networks_equal(folder.realised(), tiny.realised, rtol=1e-9, atol=1e-12)
    # config -> file -> config is byte-identical
    emitter = emitter_for(folder.target)
    text = (tmp_path / "config.json").read_text()
    again = emitter.config.dumps(folder.deployment.tables, folder.target, folder.deployment.meta)
    assert again == text
    assert folder.report == json.loads((tmp_path / "report.json").read_text())


def test_realised_weights_track_the_trained_ones(tiny):
    """Weights read back from the chip's currents stay close to the trained ones (leaky form)."""
    src, real = tiny.network, tiny.realised
    for name, proj in src.projections.items():
        w = proj.weights.toarray()
        r = real.projections[name].weights.toarray()
        assert np.array_equal(np.sign(w), np.sign(r)), name
        assert np.linalg.norm(r - w) / np.linalg.norm(w) < 0.1, name


def test_braille_compiles_on_both_targets(shared_models):
    path = shared_models / "braille_noDelay_bias_zero.nir"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for target in ("dynapse1", "dynapse2"):
        c = compile_model(path, target, load_options=LoadOptions(refractory=1e-4), options=CLIP)
        r = c.report
        assert r["checker_ok"] and r["neurons"] == 45 and r["synapses"] == 2166
        assert r["max_cam_per_neuron"] <= 64
        # 29 hidden neurons have a negative constant drive: clipped, and said so
        assert any("negative" in note for note in r["notes"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # the input is untouched


def test_in_memory_nir_graph_compiles_like_the_file(tmp_path):
    from neurocc.frontend.nir.writer import network_to_nir, write_nir
    net = load_model(TINY)
    graph = network_to_nir(net)
    write_nir(net, tmp_path / "tiny.nir")
    opts = LoadOptions(dt=net.dt)
    from_graph = compile_model(graph, "dynapse2", load_options=opts)
    from_file = compile_model(tmp_path / "tiny.nir", "dynapse2", load_options=opts)
    # the configs differ only in the hash of network.ncl, which names the network (the graph
    # has no name of its own)
    def unhashed(c):
        return re.sub(r'"network_sha256": "[0-9a-f]{64}"', "", c.files["config.json"])
    assert unhashed(from_graph) == unhashed(from_file)
    assert from_graph.files["network.ncl"].splitlines()[1:] == \
        from_file.files["network.ncl"].splitlines()[1:]


def test_cnn_does_not_fit_one_board_and_says_why(shared_models):
    with pytest.raises(CapacityError) as exc:
        compile_model(shared_models / "cnn_sinabs_nmnist.nir", "dynapse2", options=CLIP)
    text = str(exc.value)
    # 8,970 neurons need 36 cores at the least; one board has 16: the core bound speaks first
    assert "not enough cores" in text and "short by 20 cores" in text
    assert "--chips 9" in text and "Fix:" in text


def test_cam_overflow_names_population_and_excess(tmp_path):
    import scipy.sparse as sp
    from neurocc.compiler.ir import Network, Projection, make_population
    net = Network(dt=1e-3, name="wide")
    net.add_population(make_population("in", "input", 100))
    net.add_population(make_population("hid", "LIF", 4, tau_mem=0.02))
    net.add_projection(Projection("in->hid", "in", "hid", sp.csr_array(np.ones((4, 100)))))
    net.outputs.append("hid")
    with pytest.raises(CapacityError) as exc:
        compile_model(net, "dynapse2")
    text = str(exc.value)
    assert "CAM overflow: 4 neurons" in text and "hid" in text and "36 over" in text


@pytest.mark.parametrize("name, neurons", [("lif_norse.nir", 1), ("lif_rockpool.nir", 1),
                                           ("two_lif_neurons.nir", 2)])
@pytest.mark.parametrize("target", ["dynapse1", "dynapse2"])
def test_small_shared_models_compile_and_check(shared_models, name, neurons, target):
    r = compile_model(shared_models / name, target, options=CLIP).report
    assert r["checker_ok"] and r["neurons"] == neurons and r["cores_used"] >= 1


def test_cli_compile_writes_files_and_summary(tmp_path, cli):
    code, out, _ = cli(["compile", str(TINY), "-t", "dynapse1", "-o", str(tmp_path)])
    assert code == 0
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "report.json", "network.ncl",
                                                     "caer.txt", "cortexcontrol.txt"}
    assert "independent check" in out and "passed" in out
    assert json.loads((tmp_path / "report.json").read_text())["target"] == "dynapse1"


def test_cli_capacity_error_keeps_bracketed_details(shared_models, tmp_path, cli):
    code, out, err = cli(["compile", str(shared_models / "cnn_sinabs_nmnist.nir"), "-o",
                              str(tmp_path)])
    flat = " ".join(err.split())
    assert code == 2 and out == "" and "Traceback" not in err
    assert "[population '1' (4096)" in flat and "short by 20 cores" in flat
    assert not any(tmp_path.iterdir())  # nothing written on failure


def test_cli_compile_rates_from_user_inputs(tmp_path, cli):
    """--inputs takes the same labelled .npz as verify; measured rates change the objective."""
    code, _, _ = cli(["compile", str(TINY), "-o", str(tmp_path / "u")])
    uniform = json.loads((tmp_path / "u" / "report.json").read_text())["routed_events"]
    code, _, _ = cli(["compile", str(TINY), "-o", str(tmp_path / "m"), "--inputs",
                      str(TINY.parent / "tiny_inputs.npz")])
    measured = json.loads((tmp_path / "m" / "report.json").read_text())["routed_events"]
    assert code == 0 and 0 < measured < uniform  # inputs spike far below one event per step


def test_a_network_without_neurons_is_one_clear_error():
    from neurocc.compiler.errors import InvalidModelError
    from neurocc.compiler.ir import Network, make_population
    net = Network(name="inputs-only")
    net.add_population(make_population("x", "input", 3))
    with pytest.raises(InvalidModelError, match="no neuron population.*Fix: compile a model"):
        compile_model(net, "dynapse2")
