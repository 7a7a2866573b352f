"""``neurocc report``: terminal, JSON and HTML of compiled SE2 and SE1 folders, checked against
the folder's own files; the HTML in a real headless browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neurocc.compiler import compile_model
from neurocc.compiler.driver import read_compiled
from neurocc.compiler.report.energy import fanouts
from networks import REPO

TINY = REPO / "examples" / "tiny.ncl"
TINY_INPUTS = REPO / "examples" / "tiny_inputs.npz"
CHROMIUM = "/usr/bin/chromium"
#: Plots every page has (core map, solver, memory, traffic, biases, projections).
PLOTS = 6


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Tiny compiled for both targets (never verified: tests that verify use a copy)."""
    root = tmp_path_factory.mktemp("report")
    out = {}
    for target in ("dynapse2", "dynapse1"):
        out[target] = root / target
        compile_model(TINY, target=target).save(out[target])
    return out


@pytest.fixture(scope="module")
def verified(folders, tmp_path_factory) -> Path:
    """A copy of the SE2 folder after `neurocc verify` (4 simulated chips)."""
    from neurocc.compiler.cli import main

    folder = tmp_path_factory.mktemp("verified") / "tiny"
    shutil.copytree(folders["dynapse2"], folder)
    try:
        main(["verify", str(folder), "--inputs", str(TINY_INPUTS), "--instances", "4",
              "--json"])
    except SystemExit as exc:  # exit 1: a failed verdict still writes verify.json
        assert exc.code == 1
    assert (folder / "verify" / "verify.json").is_file()
    return folder


def report_json(cli, folder: Path, *extra: str) -> dict:
    code, out, err = cli(["report", str(folder), "--json", *extra])
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("target", ["dynapse2", "dynapse1"])
def test_json_agrees_with_the_folder(cli, folders, target):
    folder = folders[target]
    data = report_json(cli, folder)
    report = json.loads((folder / "report.json").read_text())
    s = data["summary"]
    for key in ("target", "chips_used", "cores_used", "neurons", "synapses",
                "parameter_classes", "max_cam_per_neuron", "max_sram_per_neuron",
                "routed_events", "solver", "checker_ok", "weight_rel_error"):
        assert s[key] == report[key], key
    assert [(c["chip"], c["core"], c["neurons"]) for c in data["cores"]] == \
        [(c["chip"], c["core"], c["neurons"]) for c in report["cores"]]
    assert [p["weight_rel_error"] for p in data["projections"]] == \
        [p["weight_rel_error"] for p in report["projections"]]
    # histograms come from the configuration and agree with the compile report
    tables = read_compiled(folder).deployment.tables
    cam = data["resources"]["cam_per_neuron"]
    assert sum(cam) == report["neurons"] and len(cam) - 1 == report["max_cam_per_neuron"]
    assert sum(k * n for k, n in enumerate(cam)) == tables.cam_post.size
    sram = data["resources"]["sram_per_neuron"]
    assert sum(k * n for k, n in enumerate(sram)) == int(np.sum(tables.sram_src >= 0))
    assert len(data["traffic"]["labels"]) == report["cores_used"] + 1
    assert data["traffic"]["events_per_step"][0][0] == \
        report["core_traffic_events"][data["cores"][0]["chip"] * 4 + data["cores"][0]["core"]][
            data["cores"][0]["chip"] * 4 + data["cores"][0]["core"]]
    fan = fanouts(tables)[0]
    assert data["energy"]["routed_per_spike"] == pytest.approx(fan.routed_per_spike, rel=1e-5)
    assert data["energy"]["activity"] is None
    assert data["verification"] is None


@pytest.mark.parametrize("target", ["dynapse2", "dynapse1"])
def test_terminal_shows_every_section(cli, folders, target):
    folder = folders[target]
    report = json.loads((folder / "report.json").read_text())
    code, out, err = cli(["report", str(folder)])
    assert code == 0, err
    assert f"{report['network']} -> {target}" in out
    assert f"{report['max_cam_per_neuron']} / {report['cam_per_neuron_limit']}" in out
    for projection in report["projections"]:
        assert projection["name"] in out
    for section in ("Summary", "Cores", "Quantization error per projection", "Energy figures"):
        assert section in out
    assert "Verification on" not in out
    assert f"wrote {folder / 'report.html'}" in out.replace("\n", "")


def test_se1_report_warns_about_its_unconfirmed_static_power(cli, folders):
    code, out, _ = cli(["report", str(folders["dynapse1"])])
    assert code == 0 and "unconfirmed figure(s) P_static" in out.replace("\n", " ")


@pytest.mark.slow
def test_verification_section_appears_after_verify(cli, verified):
    verify = json.loads((verified / "verify" / "verify.json").read_text())
    data = report_json(cli, verified)
    v = data["verification"]
    assert v["summary"] == verify["summary"] and v["plots"] == ["rasters.png", "metrics.png"]
    act = data["energy"]["activity"]
    spikes = verify["summary"]["spikes_per_inference"]["median"]
    assert act["source"] == "verify" and act["spikes"] == pytest.approx(spikes, rel=1e-5)
    code, out, _ = cli(["report", str(verified)])
    assert "Verification on 4 simulated chips" in out
    html = (verified / "report.html").read_text()
    assert len(re.findall(r"<img [^>]*src='data:image/png;base64,", html)) == 2


def test_energy_override_changes_the_result_exactly(cli, verified, tmp_path):
    figures = {"E_route": {"value": 3e-10, "unit": "J", "source": "bench"},
               "E_syn": {"value": 7e-11, "unit": "J", "source": "bench"},
               "E_spike": {"value": 1e-10, "unit": "J", "source": "bench"},
               "P_static": {"value": 2e-5, "unit": "W", "source": "bench"}}
    path = tmp_path / "energy.json"
    path.write_text(json.dumps(figures))
    before = report_json(cli, verified)["energy"]
    after = report_json(cli, verified, "--energy", str(path))["energy"]
    assert before["per_spike_J"] is None  # no per-event figures shipped for SE2
    fan = fanouts(read_compiled(verified).deployment.tables)[0]
    assert after["per_spike_J"] == pytest.approx(
        fan.routed_per_spike * 3e-10 + fan.synaptic_per_spike * 7e-11 + 1e-10, rel=1e-5)
    act = after["activity"]
    assert after["terms_J"]["E_syn"] == pytest.approx(act["synaptic_events"] * 7e-11, rel=1e-5)
    assert after["static_W"] == pytest.approx(2e-5 * after["chips"])
    assert after["missing"] == [] and after["unconfirmed"] == []


def test_bad_energy_file_exits_2_with_one_line(cli, folders, tmp_path):
    path = tmp_path / "energy.json"
    path.write_text(json.dumps({"E_syn": {"value": 1e-11, "unit": "W", "source": "x"}}))
    code, out, err = cli(["report", str(folders["dynapse2"]), "--energy", str(path)])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "E_syn.unit" in err


def test_not_a_compiled_folder_exits_2(cli, tmp_path):
    code, _, err = cli(["report", str(tmp_path)])
    assert code == 2 and "config.json is missing" in err


def test_html_is_self_contained_and_byte_identical(cli, folders, tmp_path):
    folder = folders["dynapse2"]
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    assert cli(["report", str(folder), "--html", str(first)])[0] == 0
    assert cli(["report", str(folder), "--html", str(second)])[0] == 0
    text = first.read_text()
    assert first.read_bytes() == second.read_bytes()
    assert text.count("<svg") == PLOTS
    assert "<script" not in text.lower()
    # the only URLs are XML namespace names, which are never fetched
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls


# -- a real browser ------------------------------------------------------------------------------
def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).is_file():
        reason = f"chromium not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("NEUROCC_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         *args], capture_output=True, text=True, timeout=180, check=False)


def console_problems(stderr: str) -> list[str]:
    """Console messages (the page has no script, so any is a problem) and uncaught errors."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_console_detection_catches_a_deliberate_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('deliberate neurocc "
                    "failure');</script></body></html>")
    result = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert any("deliberate neurocc failure" in line for line in console_problems(result.stderr))


def test_html_renders_in_a_browser(cli, verified, tmp_path):
    from PIL import Image

    assert cli(["report", str(verified)])[0] == 0
    page = (verified / "report.html").resolve()
    result = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_problems(result.stderr) == []
    dom = result.stdout
    assert dom.count("<svg") == PLOTS
    assert len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", dom)) == 2
    assert "Energy estimate" in dom and "Verification" in dom
    shot = tmp_path / "page.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri(),
                      tmp_path=tmp_path)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # text and plots, not blank


def test_compile_with_inputs_gives_expected_activity(cli, tmp_path):
    from neurocc.compiler.driver import rates_from_simulation
    from neurocc.frontend.load import load_model
    from neurocc.runtime.verify import load_stimulus

    folder = tmp_path / "with_inputs"
    code, _, err = cli(["compile", str(TINY), "--inputs", str(TINY_INPUTS), "-o", str(folder)])
    assert code == 0, err
    expected = json.loads((folder / "report.json").read_text())["expected_activity"]
    net = load_model(TINY)
    rates = rates_from_simulation(net, dict(load_stimulus(TINY_INPUTS, net).inputs))
    n = net.neurons()
    assert expected["spikes"] == pytest.approx(rates[:n].sum(), rel=1e-5)
    assert expected["input_events"] == pytest.approx(rates[n:].sum(), rel=1e-5)
    act = report_json(cli, folder)["energy"]["activity"]
    assert act["source"] == "compile" and act["window"] == "step"
    assert act["window_s"] == pytest.approx(net.dt)  # time scale 1
    assert act["routed_events"] == expected["routed_events"]


def test_unwritable_html_path_exits_2(cli, folders, tmp_path):
    code, _, err = cli(["report", str(folders["dynapse2"]), "--html",
                        str(tmp_path / "missing" / "r.html")])
    assert code == 2 and "cannot be written" in err and "--html" in err


EXAMPLE_MODELS = sorted((REPO / "examples").glob("*/model.nir"))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["dynapse2", "dynapse1"])
@pytest.mark.parametrize("model", EXAMPLE_MODELS, ids=[m.parent.name for m in EXAMPLE_MODELS])
def test_every_worked_example_reports_in_terminal_json_and_browser(cli, model, target,
                                                                   tmp_path):
    folder = tmp_path / "out"
    assert cli(["compile", str(model), "--target", target, "-o", str(folder)])[0] == 0
    code, _, err = cli(["verify", str(folder), "--inputs", str(model.parent / "test.npz"),
                        "--instances", "4", "--json"])
    assert code in (0, 1), err   # a verdict either way; the report must show it
    code, out, err = cli(["report", str(folder)])
    assert code == 0, err
    assert "Summary" in out and "Verification" in out and "verdict" in out
    data = report_json(cli, folder)
    assert data["summary"]["target"] == target and data["verification"]["instances"] == 4
    page = (folder / "report.html").resolve()
    result = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert result.returncode == 0 and console_problems(result.stderr) == []
    assert result.stdout.count("<svg") == PLOTS and "Verification" in result.stdout
