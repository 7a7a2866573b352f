"""`neurocc inspect`: summary content, JSON keys, and one-line errors with exit code 2."""

import json

import pytest
from networks import REPO


def test_inspect_json_braille(shared_models, cli):
    code, out, _ = cli(["inspect", str(shared_models / "braille_noDelay_bias_zero.nir"), "--json"])
    assert code == 0
    s = json.loads(out)
    assert s["total_neurons"] == 45 and s["total_synapses"] == 2166 and s["recurrent"] is True
    assert [(p["name"], p["size"], p["model"]) for p in s["populations"]] == [
        ("input", 12, "input"), ("lif1.lif", 38, "CubaLIF"), ("lif2", 7, "CubaLIF")]
    hidden = s["populations"][1]
    assert hidden["fan_in"]["max"] == 12 + 38  # input fan-in plus the recurrent projection
    needs = {t["target"]: t for t in s["targets"]}
    assert needs["dynapse2"]["max_fan_in"] == 50 and needs["dynapse2"]["fits"] is True


def test_inspect_flags_targets_a_cnn_does_not_fit(shared_models, cli):
    code, out, _ = cli(["inspect", str(shared_models / "cnn_sinabs_nmnist.nir"), "--json"])
    s = json.loads(out)
    assert code == 0 and s["total_neurons"] == 8970
    se2 = {t["target"]: t for t in s["targets"]}["dynapse2"]
    assert se2["cores_lower_bound"] == 36 and se2["fits"] is False
    assert se2["neurons_over_cam"] > 0  # the convolutions have fan-in above 64


def test_inspect_table_names_populations(cli):
    example = REPO / "examples" / "tiny.ncl"
    code, out, _ = cli(["inspect", str(example)])
    assert code == 0
    assert "hidden" in out and "LIF" in out and "recurrent: yes" in out


@pytest.mark.parametrize("name, words", [
    ("not_hdf5_torch_zip.nir", ["zip archive", "torch.save", "Fix:"]),
    ("spyx_shd.nir", ["node 'LIF'", "tau[0] = -201.819", "not positive", "Fix:"]),
])
def test_inspect_bad_files_one_line_exit_2(shared_models, cli, name, words):
    code, out, err = cli(["inspect", str(shared_models / name)])
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.startswith("error:")
    flat = " ".join(err.split())
    for w in words:
        assert w in flat


def test_inspect_missing_file(tmp_path, cli):
    code, _, err = cli(["inspect", str(tmp_path / "nope.nir")])
    assert code == 2 and "file not found" in err
