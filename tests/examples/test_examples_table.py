"""The README's examples table is what examples/run_all.py makes of the stored results."""

import json
import re
import sys

from networks import REPO

sys.path.insert(0, str(REPO / "examples"))
import run_all  # noqa: E402


def stored() -> dict:
    return json.loads((REPO / "examples" / "results.json").read_text())


def test_readme_table_is_rendered_from_results_json():
    readme = (REPO / "README.md").read_text()
    assert run_all.readme_with_table(readme, stored()) == readme
    block = readme.split(run_all.TABLE_START)[1].split(run_all.TABLE_END)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    # a header plus one row per example and target
    assert len(rows) == 1 + len(run_all.EXAMPLES) * len(run_all.TARGETS)


def test_results_cover_every_example_on_both_targets_with_sane_figures():
    results = stored()
    assert set(results) == {f"{e.name}/{t}" for e in run_all.EXAMPLES for t in run_all.TARGETS}
    for r in results.values():
        assert r["instances"] == 100
        assert 0 <= r["accuracy_p5"] <= r["accuracy_median"] <= r["accuracy_p95"] <= 1
        assert r["spikes_per_inference"] > 0


def test_quick_check_flags_drift_and_changed_float_accuracy():
    results = stored()
    assert run_all.quick_check(results, results) == []
    key = next(iter(results))
    drifted = {**results, key: {**results[key],
                                "accuracy_median": results[key]["accuracy_median"] - 0.2}}
    changed = {**results, key: {**results[key],
                                "float_accuracy": results[key]["float_accuracy"] + 0.01}}
    assert len(run_all.quick_check(drifted, results)) == 1
    assert "float accuracy" in run_all.quick_check(changed, results)[0]


def test_table_renders_missing_energy_figures_honestly():
    r = next(iter(stored().values()))
    row = run_all.table({k: {**r, "energy_per_inference_J": None,
                             "energy_missing_figures": ["E_route"]}
                         for k in stored()})
    assert "n/a (E_route unknown)" in row
    assert re.search(r"\d+(\.\d+)? nJ", run_all.table(
        {k: {**r, "energy_per_inference_J": 2.5e-9} for k in stored()}))
