"""Issue 14: every "Fix:" names CLI flags, and following them gets the command past that error;
inspect and compile agree on what fits; notes say what the chip does not realise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from networks import REPO

TINY = REPO / "examples" / "tiny.ncl"
TINY_INPUTS = REPO / "examples" / "tiny_inputs.npz"


def write_layer(path: Path, neurons: int, fan_in: int = 4, seed: int = 0) -> Path:
    """``.ncl``: 64 inputs -> one LIF population of ``neurons`` (``fan_in`` random inputs each)."""
    rng = np.random.default_rng(seed)
    triples = [f"({i}, {j}, 2.0)," for i in range(neurons)
               for j in rng.choice(64, size=fan_in, replace=False)]
    path.write_text("\n".join([
        "network layer { dt = 1 ms }", "input spikes[64]",
        f"population hidden : LIF[{neurons}] {{", "    tau_mem = 20 ms", "    reset = zero", "}",
        "projection spikes -> hidden {", "    weights = sparse [", *triples, "    ]", "}",
        "output hidden"]) + "\n")
    return path


def edited_tiny(path: Path, old: str, new: str) -> Path:
    text = TINY.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def fix_flags(err: str) -> list[str]:
    """The text after "Fix:", split into words (the flags and their values)."""
    line = " ".join(err.split())
    assert line.startswith("error:") and "Fix:" in line, err
    return line.split("Fix:", 1)[1].split()


def follow(argv: list[str], flag: str, err: str) -> list[str]:
    """``argv`` with ``flag VALUE`` as the hint spells it (replacing an earlier value)."""
    words = fix_flags(err)
    assert flag in words, err
    value = words[words.index(flag) + 1].rstrip(",")
    if flag in argv:
        k = argv.index(flag)
        return argv[:k] + argv[k + 2:] + [flag, value]
    return argv + [flag, value]


def test_cores_hint_chips_works_and_inspect_agrees(cli, tmp_path):
    """SE1 reserves neuron 0 of core 0 of each chip: 1,024 neurons do not fit one chip's 4 cores;
    inspect and compile say so alike (2 chips), and --chips as the hint says compiles it."""
    model = write_layer(tmp_path / "layer.ncl", 1024)
    code, out, _ = cli(["inspect", str(model), "--json"])
    se1 = {t["target"]: t for t in json.loads(out)["targets"]}["dynapse1"]
    assert code == 0 and se1["cores_lower_bound"] == 4 and se1["chips_lower_bound"] == 2
    argv = ["compile", str(model), "-t", "dynapse1", "--chips", "1", "-o", str(tmp_path / "o")]
    code, _, err = cli(argv)
    assert code == 2 and "not enough cores" in err and "--chips 2" in " ".join(err.split())
    code, _, err = cli(follow(argv, "--chips", err))
    assert code == 0, err


def test_inspect_and_compile_agree_at_the_se1_board_limit(cli, tmp_path):
    """The issue's case: 4,096 neurons on a 4-chip SE1 board do not fit (4 reserved slots)."""
    model = write_layer(tmp_path / "layer.ncl", 4096, fan_in=1)
    code, out, _ = cli(["inspect", str(model), "--json"])
    se1 = {t["target"]: t for t in json.loads(out)["targets"]}["dynapse1"]
    assert se1["fits"] is False and se1["cores_lower_bound"] == 17
    code, _, err = cli(["compile", str(model), "-t", "dynapse1", "-o", str(tmp_path / "o")])
    line = " ".join(err.split())
    assert code == 2 and "need 17 cores" in line and "-> 17 core(s)" in line
    assert "short by 1 cores" in line and "--chips 5" in line


def test_discretisation_hint_works(cli, tmp_path):
    model = edited_tiny(tmp_path / "fast.ncl", "tau_mem = 20 ms", "tau_mem = 0.5 ms")
    argv = ["compile", str(model), "-o", str(tmp_path / "o")]
    code, _, err = cli(argv)
    assert code == 2 and "not longer than the step" in err
    code, _, err = cli(follow(argv, "--discretisation", err))
    assert code == 0, err


def test_subtract_reset_hint_works(cli, tmp_path):
    model = edited_tiny(tmp_path / "sub.ncl", "reset = zero", "reset = subtract")
    argv = ["compile", str(model), "-o", str(tmp_path / "o")]
    code, _, err = cli(argv)
    assert code == 2 and "subtractive reset" in err
    code, out, err = cli(follow(argv, "--subtract-reset", err))
    assert code == 0, err
    assert "subtractive reset realised as a reset to zero" in " ".join(out.split())


def test_hop_range_hint_works(cli, tmp_path):
    argv = ["compile", str(TINY), "--chips", "100", "-o", str(tmp_path / "o")]
    code, _, err = cli(argv)
    assert code == 2 and "at most 64 chips" in err
    code, _, err = cli(follow(argv, "--chips", err))
    assert code == 0, err


def test_max_memory_hint_works(cli, tmp_path):
    from neurocc.compiler.driver import compile_model
    out = tmp_path / "o"
    compile_model(TINY, "dynapse2").save(out)
    argv = ["verify", str(out), "--inputs", str(TINY_INPUTS), "--instances", "1",
            "--max-memory", "1K"]
    code, _, err = cli(argv)
    assert code == 2 and "--max-memory" in fix_flags(err)
    code, _, err = cli(argv[:-2] + ["--max-memory", "16M"])
    assert code in (0, 1) and err == ""  # past the error: a verdict


def test_force_hint_works(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["compile", str(TINY), "-o", str(tmp_path)]
    code, _, err = cli(argv)
    assert code == 2 and "--force" in fix_flags(err)
    code, _, err = cli(argv + ["--force"])
    assert code == 0 and (tmp_path / "notes.txt").read_text() == "mine"


def test_no_fix_names_a_python_object():
    """Fix texts name CLI flags, not ``CircuitOptions(...)``, ``chips=9`` or ``sram_usable=``."""
    bad = re.compile(r"fix=[^\n]*(CircuitOptions|\bchips=|sram_usable=|time_scale\b|"
                     r"reset='|class tolerance\b)")
    offenders = [f"{p.relative_to(REPO)}:{text[:m.start()].count(chr(10)) + 1}"
                 for folder in ("compiler", "backends", "runtime")
                 for p in (REPO / folder).rglob("*.py")
                 for text in [p.read_text()] for m in bad.finditer(text)]
    assert offenders == []


def test_a_delay_the_chip_cannot_realise_gets_one_note(tmp_path):
    from neurocc.compiler.driver import compile_model
    model = edited_tiny(tmp_path / "delayed.ncl", "hidden -> hidden delay 1 {",
                        "hidden -> hidden delay 1000 {")
    notes = compile_model(model, "dynapse2").report["notes"]
    delay_notes = [n for n in notes if "delay" in n]
    assert len(delay_notes) == 1 and "(1000 steps)" in delay_notes[0]
    assert "no synaptic delay" in delay_notes[0]
    assert not [n for n in compile_model(TINY, "dynapse2").report["notes"] if "delay" in n]


def test_keys_running_out_spread_the_placement(monkeypatch):
    """When a full core runs out of keys, the compile places again at half the fill and says
    so; with the classes out of room the error names --chips."""
    from neurocc.compiler import routing
    from neurocc.compiler.driver import compile_model
    from neurocc.compiler.errors import KeyCapacityError

    real = routing.route
    calls = []

    def route(net, placement, *args):
        calls.append(int(np.bincount(placement.core_of).max()))
        if len(calls) == 1:
            raise KeyCapacityError("no key is free", fix="pass more chips with --chips")
        return real(net, placement, *args)
    monkeypatch.setattr(routing, "route", route)
    report = compile_model(TINY, "dynapse2").report
    assert len(calls) == 2 and calls[1] <= 128
    assert any("at most 128 per core" in n for n in report["notes"])

    def never(*_a):
        raise KeyCapacityError("no key is free", fix="pass more chips with --chips")
    monkeypatch.setattr(routing, "route", never)
    with pytest.raises(KeyCapacityError) as exc:
        compile_model(TINY, "dynapse2", chips=1)
    assert "--chips 2" in exc.value.fix


def test_compile_output_unchanged_for_unchanged_inputs():
    """Same input, same options: byte-identical files (the network hash included)."""
    from neurocc.compiler.driver import compile_model
    a = compile_model(TINY, "dynapse1").files
    b = compile_model(TINY, "dynapse1").files
    assert a == b and '"network_sha256"' in a["config.json"]


def test_pulse_width_hint_works(cli, tmp_path):
    """A weight too strong for the synaptic gain bias: the hint's longer pulse realises it."""
    model = tmp_path / "strong.ncl"
    model.write_text("network strong { dt = 1 ms }\ninput x[2]\n"
                     "population h : LIF[1] {\n    tau_mem = 20 ms\n    reset = zero\n}\n"
                     "projection x -> h {\n    weights = sparse [ (0, 0, 3000.0), (0, 1, 1.0) ]\n}\n")
    argv = ["compile", str(model), "-o", str(tmp_path / "out")]
    code, _, err = cli(argv)
    assert code == 2 and "--pulse-width" in fix_flags(err)
    code, _, err = cli(follow(argv, "--pulse-width", err))
    assert code == 0, err
