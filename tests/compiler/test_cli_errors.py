"""Issue 14, directed cases: every bad command line, compiled folder, input .npz and output path
gets one line on stderr and exit code 2 (usage errors: click's short usage text), unexpected
failures one line and exit code 3, and no file the command read is ever changed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from networks import REPO

TINY = REPO / "examples" / "tiny.ncl"
TINY_INPUTS = REPO / "examples" / "tiny_inputs.npz"
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def one_error(code: int, err: str, expected: int = 2) -> str:
    """The error line, after checking the exit code, one line, no traceback."""
    assert code == expected, err
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    return " ".join(err.split())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """tiny.ncl compiled for DYNAP-SE2 (tests work on copies)."""
    from neurocc.compiler.driver import compile_model
    out = tmp_path_factory.mktemp("compiled") / "tiny"
    compile_model(TINY, "dynapse2").save(out)
    return out


@pytest.fixture
def folder(compiled, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(compiled, copy)
    return copy


# -- class 1: the command line itself -------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["compile"], ["Usage:", "Missing argument"]),
    (["compile", str(TINY), "--bogus"], ["Usage:", "No such option: --bogus"]),
    (["verify", "x", "--instances", "many"], ["Usage:", "Invalid value"]),
    (["verify", "x", "--instances", "0"], ["Usage:", "Invalid value"]),
    (["inspect", str(TINY), "--max-memory", "lots"], ["Usage:", "--max-memory", "'lots'"]),
    (["frobnicate"], ["Usage:", "No such command"]),
])
def test_usage_errors_exit_2_with_the_usage_line(cli, argv, words):
    code, out, err = cli(argv)
    assert code == 2 and "Traceback" not in err and "click" not in err
    for w in words:
        assert w in err


def test_no_arguments_shows_help_and_exits_2(cli):
    code, out, err = cli([])
    assert code == 2 and "Traceback" not in err + out
    assert "compile" in out + err and "Usage" in out + err


def test_an_unexpected_error_is_one_line_exit_3_and_debug_shows_the_traceback(cli, monkeypatch):
    from neurocc.compiler import inspect as inspect_module

    def boom(*_a, **_k):
        raise RuntimeError("boom\nsecond line")
    monkeypatch.setattr(inspect_module, "summarize", boom)
    code, _, err = cli(["inspect", str(TINY)])
    line = one_error(code, err, expected=3)
    assert line.startswith("internal error: RuntimeError: boom second line")
    assert "--debug" in line
    code, _, err = cli(["inspect", str(TINY), "--debug"])
    assert code == 3 and "Traceback" in err and "RuntimeError: boom" in err


def test_library_warnings_stay_off_stderr_unless_debug(cli, monkeypatch, recwarn):
    import warnings

    from neurocc.compiler import inspect as inspect_module
    real = inspect_module.summarize

    def noisy(*args, **kwargs):
        warnings.warn("Glyph 27 missing from font(s) DejaVu Sans.", UserWarning)
        return real(*args, **kwargs)
    monkeypatch.setattr(inspect_module, "summarize", noisy)
    code, _, err = cli(["inspect", str(TINY)])
    assert code == 0 and err == "" and len(recwarn) == 0
    code, _, err = cli(["inspect", str(TINY), "--debug"])
    assert code == 0 and len(recwarn) == 1


def test_ctrl_c_is_one_line_exit_130(cli, monkeypatch):
    from neurocc.compiler import inspect as inspect_module

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt
    monkeypatch.setattr(inspect_module, "summarize", interrupt)
    code, _, err = cli(["inspect", str(TINY)])
    assert one_error(code, err, expected=130) == "interrupted"


# -- class 5: compiled folders --------------------------------------------------------------------
def _report_edit(text: str) -> str:
    data = json.loads(text)
    del data["cores"]
    return json.dumps(data)


def _report_bad_core(text: str) -> str:
    data = json.loads(text)
    data["cores"][0]["chip"] = 99
    return json.dumps(data)


@pytest.mark.parametrize("content, words", [
    ("this is not JSON", ["not valid JSON"]),
    ("", ["not valid JSON"]),
    ("[1, 2]", ["report.json <root> is not an object"]),
    (_report_edit, ["report.json cores is missing"]),
    (_report_bad_core, ["cores[0]", "outside"]),
])
@pytest.mark.parametrize("command", ["report", "verify"])
def test_bad_report_json_is_one_line(cli, folder, content, words, command):
    path = folder / "report.json"
    path.write_text(content(path.read_text()) if callable(content) else content)
    before = tree_digest(folder)
    code, _, err = cli([command, str(folder), "--instances", "1"] if command == "verify"
                       else [command, str(folder)])
    line = one_error(code, err)
    for w in words:
        assert w in line
    if command == "report":
        assert tree_digest(folder) == before


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace('"version": 1', '"version": ' + "9" * 5000, 1), ["cannot be read"]),
    (lambda t: t[:-2] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n", ["too deeply"]),
    (lambda t: t.replace('"chips": 4', f'"chips": {2**40}', 1), ["1099511627776 chips",
                                                                 "at most 64 chips"]),
])
@pytest.mark.parametrize("command", ["report", "verify"])
def test_bad_config_json_is_one_line(cli, folder, edit, words, command):
    path = folder / "config.json"
    path.write_text(edit(path.read_text()))
    code, _, err = cli([command, str(folder)])
    line = one_error(code, err)
    for w in words:
        assert w in line


def test_a_number_beyond_float_range_is_one_line(cli, folder):
    path = folder / "report.json"
    data = json.loads(path.read_text())
    data["solver"]["objective"] = 10**400
    path.write_text(json.dumps(data))
    line = one_error(*cli(["report", str(folder)])[::2])
    assert "solver.objective is not a finite number" in line


@pytest.mark.parametrize("content, words", [
    ("{", ["not valid JSON"]),
    ('{"summary": {}}', ["verify.json passed is missing"]),
    (None, ["summary.agreement.median is not a finite number"]),
])
def test_bad_verify_json_is_one_line(cli, folder, content, words):
    (folder / "verify").mkdir()
    path = folder / "verify" / "verify.json"
    if content is None:
        summary = {name: {"median": 1.0, "p5": 1.0, "p95": 1.0}
                   for name in ("spikes_per_inference", "agreement")}
        summary["agreement"]["median"] = "high"
        content = json.dumps({"passed": True, "reasons": [], "instances": 1, "mismatch": 0.2,
                              "noise": 0.0, "silence": 0.0, "summary": summary, "sweep": [],
                              "reference": {"spikes_per_inference": 3.0}})
    path.write_text(content)
    line = one_error(*cli(["report", str(folder)])[::2])
    for w in words:
        assert w in line
    assert "neurocc verify" in line


def test_verify_refuses_a_network_that_is_not_the_compiled_one(cli, folder):
    path = folder / "network.ncl"
    path.write_text(path.read_text() + "# edited\n")
    line = one_error(*cli(["verify", str(folder), "--instances", "1"])[::2])
    assert "does not belong to config.json" in line and "neurocc compile" in line


def test_verify_refuses_a_config_without_the_network_hash(cli, folder):
    path = folder / "config.json"
    data = json.loads(path.read_text())
    del data["mapping"]["network_sha256"]
    path.write_text(json.dumps(data))
    line = one_error(*cli(["verify", str(folder), "--instances", "1"])[::2])
    assert "records no SHA-256" in line


def test_the_hash_in_config_json_is_that_of_network_ncl(compiled):
    data = json.loads((compiled / "config.json").read_text())
    assert data["mapping"]["network_sha256"] == digest(compiled / "network.ncl")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
@pytest.mark.parametrize("name", ["config.json", "report.json", "network.ncl"])
def test_a_fifo_in_the_folder_is_refused_without_blocking(cli, folder, name):
    (folder / name).unlink()
    os.mkfifo(folder / name)
    line = one_error(*cli(["report", str(folder)])[::2])
    assert "not a regular file" in line


def test_verify_refuses_a_file_where_its_output_folder_goes_before_simulating(cli, folder,
                                                                             monkeypatch):
    from neurocc.runtime import verify as verify_module

    def never(*_a, **_k):
        raise AssertionError("simulated although the outputs cannot be written")
    monkeypatch.setattr(verify_module, "verify_folder", never)
    (folder / "verify").write_text("mine")
    line = one_error(*cli(["verify", str(folder), "--instances", "1"])[::2])
    assert "not a folder" in line and (folder / "verify").read_text() == "mine"


@pytest.mark.skipif(ROOT, reason="root may write into read-only folders")
def test_verify_refuses_a_read_only_output_folder_before_simulating(cli, folder, monkeypatch):
    from neurocc.runtime import verify as verify_module
    monkeypatch.setattr(verify_module, "verify_folder", lambda *a, **k: 1 / 0)
    (folder / "verify").mkdir()
    (folder / "verify").chmod(0o555)
    try:
        line = one_error(*cli(["verify", str(folder), "--instances", "1"])[::2])
    finally:
        (folder / "verify").chmod(0o755)
    assert "not writable" in line


def test_max_memory_bounds_reading_a_folder(cli, folder):
    line = one_error(*cli(["report", str(folder), "--max-memory", "1K"])[::2])
    assert "above the budget of 1.0 KiB" in line and "--max-memory" in line


# -- class 6: input .npz files --------------------------------------------------------------------
def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _spikes() -> np.ndarray:
    return np.load(TINY_INPUTS)["spikes"]


def _huge_header() -> bytes:
    """An .npz whose member declares a (10^6, 10^6, 8) float64 array but holds no data."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6, 8)})
        z.writestr("spikes.npy", header.getvalue())
    return buf.getvalue()


def _flipped() -> bytes:
    data = bytearray(TINY_INPUTS.read_bytes())
    data[len(data) // 3] ^= 0x10
    return bytes(data)


NPZ_CASES = {
    "npy": (lambda: _npy_bytes(_spikes()), "single .npy array"),
    "truncated": (lambda: TINY_INPUTS.read_bytes()[:len(TINY_INPUTS.read_bytes()) // 2],
                  "cannot read the inputs"),
    "bit-flipped": (_flipped, "cannot read the inputs"),
    "huge header": (_huge_header, "above the memory budget"),
    "0-d": (lambda: _npz(spikes=np.array(1)), "has shape ()"),
    "output_classes 2**40": (lambda: _npz(spikes=_spikes(), output_classes=np.array([0, 2**40])),
                             "without a neuron"),
    "empty file": (lambda: b"", "cannot read the inputs"),
    "float spikes": (lambda: _npz(spikes=_spikes() * 0.5), "'spikes' (dtype float64) is not"),
    "NaN spikes": (lambda: _npz(spikes=np.where(_spikes(), np.nan, 0.0)), "'spikes'"),
    "negative spikes": (lambda: _npz(spikes=-_spikes().astype(np.int8)), "'spikes'"),
    "complex spikes": (lambda: _npz(spikes=_spikes().astype(np.complex64)), "'spikes'"),
    "string spikes": (lambda: _npz(spikes=_spikes().astype(str)), "'spikes'"),
}


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(NPZ_CASES))
def test_bad_inputs_npz_is_one_line(cli, folder, tmp_path, case):
    make, words = NPZ_CASES[case]
    path = tmp_path / "in.npz"
    path.write_bytes(make())
    before = digest(path)
    line = one_error(*cli(["verify", str(folder), "--inputs", str(path), "--instances", "1"])[::2])
    assert words in line and "Fix:" in line
    assert digest(path) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_fifo_as_inputs_is_refused_without_blocking(cli, folder, tmp_path):
    os.mkfifo(tmp_path / "in.npz")
    line = one_error(*cli(["verify", str(folder), "--inputs", str(tmp_path / "in.npz")])[::2])
    assert "not a regular file" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
@pytest.mark.parametrize("command", ["report", "compile"])
def test_a_fifo_as_a_json_option_file_is_refused_without_blocking(cli, folder, tmp_path,
                                                                   command):
    """--energy and --calibration files are read through the one JSON reader, which refuses a
    FIFO from os.stat alone (opening it would block)."""
    os.mkfifo(tmp_path / "figures.json")
    argv = (["report", str(folder), "--energy", str(tmp_path / "figures.json")]
            if command == "report" else
            ["compile", str(TINY), "-o", str(tmp_path / "o"), "--calibration",
             str(tmp_path / "figures.json")])
    assert "not a regular file" in one_error(*cli(argv)[::2])


def test_integer_spike_counts_are_accepted(tmp_path):
    from neurocc.frontend.load import load_model
    from neurocc.runtime.verify import load_stimulus
    np.savez(tmp_path / "in.npz", spikes=_spikes().astype(np.int32) * 3)
    stim = load_stimulus(tmp_path / "in.npz", load_model(TINY))
    assert np.array_equal(stim.inputs["spikes"], _spikes().astype(bool))


# -- class 7: outputs -----------------------------------------------------------------------------
def test_compile_never_overwrites_its_model(cli, tmp_path):
    model = tmp_path / "network.ncl"
    shutil.copy(TINY, model)
    for extra in ([], ["--force"]):
        line = one_error(*cli(["compile", str(model), "-o", str(tmp_path), *extra])[::2])
        assert "which this command reads" in line and "-o" in line
    assert digest(model) == digest(TINY) and sorted(os.listdir(tmp_path)) == ["network.ncl"]


def test_compile_never_overwrites_its_inputs(cli, folder):
    inputs = folder / "report.json"
    before = digest(inputs)
    line = one_error(*cli(["compile", str(TINY), "-o", str(folder), "--inputs",
                           str(inputs)])[::2])
    assert "which this command reads" in line and digest(inputs) == before


def test_report_never_writes_html_over_the_folder(cli, folder):
    before = tree_digest(folder)
    for name in ("config.json", "report.json", "network.ncl"):
        line = one_error(*cli(["report", str(folder), "--html", str(folder / name)])[::2])
        assert "which this command reads" in line and "--html" in line
    assert tree_digest(folder) == before


def test_compile_refuses_a_foreign_folder_unless_forced(cli, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    line = one_error(*cli(["compile", str(TINY), "-o", str(tmp_path)])[::2])
    assert "not written by neurocc" in line and "--force" in line
    assert sorted(os.listdir(tmp_path)) == ["thesis.tex"]
    code, _, err = cli(["compile", str(TINY), "-o", str(tmp_path), "--force"])
    assert code == 0, err
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    code, _, err = cli(["compile", str(TINY), "-o", str(tmp_path)])  # now a neurocc folder
    assert code == 0, err


@pytest.mark.parametrize("where", ["under a file", "under /proc"])
def test_unwritable_output_paths_are_one_line(cli, tmp_path, where):
    if where == "under a file":
        (tmp_path / "f").write_text("x")
        outdir = tmp_path / "f" / "out"
    else:
        outdir = Path("/proc/neurocc-test/out")
    line = one_error(*cli(["compile", str(TINY), "-o", str(outdir)])[::2])
    assert "-o" in line


@pytest.mark.skipif(ROOT, reason="root may write into read-only folders")
def test_read_only_output_folder_is_one_line(cli, tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        line = one_error(*cli(["compile", str(TINY), "-o", str(tmp_path / "ro" / "out")])[::2])
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert "-o" in line


def test_writes_are_atomic(tmp_path, monkeypatch):
    from neurocc.compiler import files
    from neurocc.compiler.errors import ConfigError
    path = tmp_path / "config.json"
    path.write_text("old")

    def crash(*_a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(ConfigError, match="No space left"):
        files.write_atomic(path, "new", fix="-o")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["config.json"]
    monkeypatch.undo()
    files.write_atomic(path, "new", fix="-o")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["config.json"]


def test_every_writer_goes_through_the_atomic_helper():
    """No module writes a file by itself (open(..., 'w'), write_text, savefig to a path)."""
    import re
    offenders = []
    for folder in ("compiler", "backends", "runtime"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == "files.py":
                continue
            text = path.read_text()
            for pattern in (r"\.write_text\(", r"\.write_bytes\(", r"open\([^)]*[\"']w",
                            r"savefig\((?!buf)"):
                for m in re.finditer(pattern, text):
                    line = text[:m.start()].count("\n") + 1
                    offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == []


def test_a_failed_compile_leaves_no_output_folder(cli, tmp_path):
    line = one_error(*cli(["compile", str(tmp_path / "missing.ncl"), "-o",
                           str(tmp_path / "new" / "out")])[::2])
    assert "missing.ncl" in line and not (tmp_path / "new").exists()
