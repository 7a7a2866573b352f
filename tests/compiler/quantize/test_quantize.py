"""Properties of the weight quantizers: budgets, bounds, exactness, baselines, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocc.compiler.errors import CapacityError, InvalidModelError, TargetError
from neurocc.compiler.quantize.common import summary_table
from neurocc.compiler.quantize.base_sum import (base_sum_levels, quantize_base_sum,
                                                uniform_base_sum)
from neurocc.compiler.quantize.count import naive_count, quantize_count
from networks import make_net

FAST = settings(max_examples=60, deadline=None)
#: Slack for comparisons of squared errors summed in different orders.
RTOL = 1e-9


@st.composite
def cores(draw, max_n: int = 90, max_types: int = 3, max_post: int = 6):
    """Synapses of one core: weights of several shapes (ties and zeros included), types, posts."""
    n = draw(st.integers(1, max_n))
    kind = draw(st.sampled_from(["normal", "lognormal", "uniform", "bimodal", "integers"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if kind == "normal":
        w = rng.normal(size=n)
    elif kind == "lognormal":
        w = rng.lognormal(0.0, 1.5, n) * rng.choice([-1, 1], n)
    elif kind == "uniform":
        w = rng.uniform(-2.0, 2.0, n)
    elif kind == "bimodal":
        w = rng.choice([-1, 1], n) * rng.normal(1.0, 0.1, n)
    else:
        w = rng.integers(-5, 6, n).astype(float)
    if draw(st.booleans()):
        w[rng.random(n) < 0.2] = 0.0
    w *= draw(st.sampled_from([1e-3, 1.0, 50.0]))
    types = rng.integers(0, draw(st.integers(1, max_types)), n)
    post = rng.integers(0, draw(st.integers(1, max_post)), n)
    return w, types, post


def fan_in(w: np.ndarray, post: np.ndarray) -> int:
    return int(np.bincount(post, weights=(w != 0)).max())


def sq_err(result, w: np.ndarray) -> float:
    return float(np.sum((result.quantized - w) ** 2))


def cam_used(post: np.ndarray, entries: np.ndarray) -> np.ndarray:
    return np.bincount(post, weights=entries)


# -- base_sum (DYNAP-SE2) -------------------------------------------------------------------------

def check_base_sum_invariants(r, w, types, bits):
    assert r.mask.min() >= 0 and r.mask.max() < 2 ** bits
    assert np.all(r.bases >= 0) and r.bases.shape == (bits,)
    assert all(v > 0 for v in r.type_scales.values())
    if r.type_scales:
        assert r.type_scales[min(r.type_scales)] == 1.0
    scale = np.array([r.type_scales.get(int(t), 0.0) for t in types])
    claimed = np.sign(w) * (r.repeats * (base_sum_levels(r.bases)[r.mask] * scale))
    assert np.array_equal(r.quantized, claimed)
    assert np.all(np.sign(r.quantized) * np.sign(w) >= 0), "a sign flipped"
    assert np.all(r.quantized[w == 0] == 0) and np.all(r.repeats[w == 0] == 0)
    assert np.all((r.mask == 0) == (r.repeats == 0))


@FAST
@given(cores(), st.integers(1, 4), st.booleans(), st.integers(0, 6))
def test_base_sum_respects_budget_bits_and_claims(core, bits, repeats, slack):
    w, types, post = core
    budget = fan_in(w, post) + slack if np.any(w) else 1 + slack
    r = quantize_base_sum(w, types, post, bits=bits, cam_budget=budget, allow_repeats=repeats)
    check_base_sum_invariants(r, w, types, bits)
    assert cam_used(post, r.repeats).max() <= budget
    assert r.stats.cam_max == cam_used(post, r.repeats).max()
    if not repeats:
        assert np.all(r.repeats <= 1)


@FAST
@given(cores(), st.integers(1, 4))
def test_base_sum_masks_are_nearest_levels(core, bits):
    w, types, post = core
    r = quantize_base_sum(w, types, post, bits=bits, cam_budget=fan_in(w, post) + 1)
    levels = base_sum_levels(r.bases)
    present = w != 0
    scale = np.array([r.type_scales.get(int(t), 0.0) for t in types])[present]
    a = np.abs(w[present])
    best = np.min((a[:, None] - scale[:, None] * levels[None, :]) ** 2, axis=1)
    chosen = (a - np.abs(r.quantized[present])) ** 2
    # a level one rounding step (ulp) away from the value is as near as the exact level
    assert np.all(chosen <= best * (1 + RTOL) + (1e-12 * a) ** 2)


@FAST
@given(cores(), st.integers(1, 4))
def test_base_sum_never_worse_than_uniform_levels(core, bits):
    w, types, post = core
    budget = max(fan_in(w, post), 1)
    ours = quantize_base_sum(w, types, post, bits=bits, cam_budget=budget)
    base = uniform_base_sum(w, types, post, bits=bits)
    assert sq_err(ours, w) <= sq_err(base, w) * (1 + RTOL) + 1e-300
    with_repeats = quantize_base_sum(w, types, post, bits=bits, cam_budget=budget + 4,
                                     allow_repeats=True)
    assert sq_err(with_repeats, w) <= sq_err(ours, w) * (1 + RTOL) + 1e-300


@settings(max_examples=30, deadline=None)
@given(cores(max_n=70))
def test_base_sum_error_does_not_grow_with_more_bits(core):
    w, types, post = core
    budget = max(fan_in(w, post), 1)
    errors = [sq_err(quantize_base_sum(w, types, post, bits=k, cam_budget=budget), w)
              for k in (1, 2, 3, 4)]
    # errors within a few rounding steps of the weights' energy are equal
    slack = 1e-12 * float(np.sum(np.asarray(w, dtype=float) ** 2))
    for fewer, more in zip(errors, errors[1:]):
        assert more <= fewer * (1 + RTOL) + slack


@FAST
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_base_sum_recovers_weights_on_a_grid(bits, num_types, seed):
    """Weights built as s_t * (subset sum of bases), with every mask present for every type."""
    rng = np.random.default_rng(seed)
    bases = rng.uniform(0.1, 1.0, bits) * rng.choice([1.0, 3.0], bits)
    scales = np.concatenate([[1.0], rng.uniform(0.2, 5.0, num_types - 1)])
    masks = np.concatenate([np.tile(np.arange(1, 2 ** bits), num_types),
                            rng.integers(1, 2 ** bits, 30)])
    types = np.concatenate([np.repeat(np.arange(num_types), 2 ** bits - 1),
                            rng.integers(0, num_types, 30)])
    w = scales[types] * base_sum_levels(bases)[masks] * rng.choice([-1, 1], masks.size)
    post = rng.integers(0, 8, w.size)
    r = quantize_base_sum(w, types, post, bits=bits, cam_budget=w.size)
    assert r.stats.rel_error < 1e-9


def test_base_sum_recovers_a_uniform_grid_exactly():
    w = np.arange(1, 16, dtype=float) * 0.25
    r = quantize_base_sum(w, np.zeros(15, int), np.arange(15), bits=4)
    assert np.array_equal(r.quantized, w)
    assert r.stats.levels_used == 15


@FAST
@given(cores(), st.integers(1, 4), st.integers(0, 10))
def test_base_sum_is_deterministic(core, bits, seed):
    w, types, post = core
    kwargs = dict(bits=bits, cam_budget=fan_in(w, post) + 3, allow_repeats=True, seed=seed)
    a = quantize_base_sum(w, types, post, **kwargs)
    b = quantize_base_sum(w.copy(), types.copy(), post.copy(), **kwargs)
    assert np.array_equal(a.quantized, b.quantized) and np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.bases, b.bases) and a.type_scales == b.type_scales


def test_base_sum_repeats_reach_weights_above_the_largest_level():
    # 60 weights up to 1 and one of 4, whose neuron has spare CAM: without repeats one of the
    # four levels goes to the outlier, with them it takes 4 entries and the bulk gets 3 levels.
    w = np.concatenate([np.linspace(0.1, 1.0, 60), [4.0]])
    post = np.concatenate([np.arange(60) % 30 + 1, [0]])
    plain = quantize_base_sum(w, np.zeros(61, int), post, bits=2, cam_budget=8)
    rep = quantize_base_sum(w, np.zeros(61, int), post, bits=2, cam_budget=8, allow_repeats=True)
    assert rep.repeats[-1] > 1
    assert cam_used(post, rep.repeats).max() <= 8
    assert sq_err(rep, w) < sq_err(plain, w)


def test_base_sum_stats_match_a_direct_computation():
    rng = np.random.default_rng(3)
    w = rng.normal(size=200)
    w[:20] = 0
    post = rng.integers(0, 10, 200)
    types = (w < 0).astype(int)
    r = quantize_base_sum(w, types, post, bits=2)
    present = w != 0
    err = r.quantized[present] - w[present]
    assert r.stats.synapses == 180
    assert r.stats.mse == pytest.approx(np.mean(err ** 2))
    assert r.stats.rel_error == pytest.approx(np.linalg.norm(err) / np.linalg.norm(w))
    assert r.stats.dropped == int(np.sum(r.quantized[present] == 0))
    assert r.stats.levels_used == len({(t, abs(q)) for t, q in zip(types, r.quantized) if q})
    assert r.stats.levels_used <= 2 * 3  # two types, three non-zero levels each
    assert r.stats.cam_total == int(np.sum(r.quantized != 0))


def test_base_sum_rejects_bad_input_with_a_named_cause():
    with pytest.raises(InvalidModelError, match="weight 1 is nan"):
        quantize_base_sum(np.array([1.0, np.nan]), np.zeros(2, int), np.zeros(2, int))
    with pytest.raises(InvalidModelError, match="lengths 2, 3, 2"):
        quantize_base_sum(np.ones(2), np.zeros(3, int), np.zeros(2, int))
    with pytest.raises(InvalidModelError, match="negative id"):
        quantize_base_sum(np.ones(2), np.array([0, -1]), np.zeros(2, int))
    with pytest.raises(TargetError, match="base weights per core"):
        quantize_base_sum(np.ones(2), np.zeros(2, int), np.zeros(2, int), bits=0)
    with pytest.raises(CapacityError, match="post neuron 7 receives 5 synapses but has 4 CAM"):
        quantize_base_sum(np.ones(5), np.zeros(5, int), np.full(5, 7), cam_budget=4)


def test_base_sum_of_no_synapses_is_all_zero():
    r = quantize_base_sum(np.zeros(4), np.zeros(4, int), np.arange(4))
    assert np.all(r.quantized == 0) and np.all(r.repeats == 0) and r.stats.synapses == 0


# -- count (DYNAP-SE1) ----------------------------------------------------------------------------

def check_count_invariants(r, w, types, post, budget):
    assert r.counts.min() >= 0
    assert cam_used(post, r.counts).max() <= budget
    assert all(q > 0 for q in r.quanta.values())
    quanta = np.array([r.quanta.get(int(t), 0.0) for t in types])
    assert np.array_equal(r.quantized, np.sign(w) * (r.counts * quanta))
    assert np.all(r.counts[w == 0] == 0)
    assert np.all(np.sign(r.quantized) * np.sign(w) >= 0)


@FAST
@given(cores(max_n=120), st.integers(1, 70))
def test_count_respects_budget_and_claims(core, budget):
    """Budgets below the fan-in included: the scheme then drops synapses."""
    w, types, post = core
    r = quantize_count(w, types, post, cam_budget=budget)
    check_count_invariants(r, w, types, post, budget)
    assert r.stats.dropped == int(np.sum((r.counts == 0) & (w != 0)))


@FAST
@given(cores(max_n=80), st.integers(1, 40))
def test_count_counts_are_optimal_for_their_quanta(core, budget):
    """No single exchange (one entry moved, added into slack, or removed) lowers the error: for a
    separable convex integer problem under one sum constraint that is global optimality."""
    w, types, post = core
    r = quantize_count(w, types, post, cam_budget=budget)
    a = np.abs(w)
    q = np.array([r.quanta.get(int(t), 1.0) for t in types])
    n = r.counts

    def err(k):
        return (a - k * q) ** 2

    up = err(n) - err(n + 1)          # gain of one more entry
    down = err(n - 1) - err(n)        # loss of one entry fewer (only where n >= 1)
    tol = 1e-9 * (np.max(a * a) + 1e-300)
    for p in np.unique(post):
        sel = (post == p) & (w != 0)
        if not sel.any():
            continue
        slack = budget - n[sel].sum()
        if slack > 0:
            assert up[sel].max() <= tol
        removable = sel & (n >= 1)
        if removable.any():
            assert down[removable].min() >= -tol
            assert up[sel].max() <= down[removable].min() + tol


@FAST
@given(cores(), st.integers(0, 30))
def test_count_never_worse_than_naive_rounding(core, slack):
    w, types, post = core
    budget = max(fan_in(w, post), 1) + slack
    ours = quantize_count(w, types, post, cam_budget=budget)
    naive = naive_count(w, types, post, cam_budget=budget)
    check_count_invariants(naive, w, types, post, budget)
    assert sq_err(ours, w) <= sq_err(naive, w) * (1 + RTOL) + 1e-300


@FAST
@given(st.integers(1, 3), st.integers(1, 64), st.integers(0, 2 ** 32 - 1))
def test_count_recovers_multiples_of_the_quantum(num_types, budget, seed):
    """Weights n * q_t that fit the budget, each type holding one weight of a single quantum."""
    rng = np.random.default_rng(seed)
    quanta = rng.uniform(0.01, 3.0, num_types)
    n = 40
    types = np.concatenate([np.arange(num_types), rng.integers(0, num_types, n - num_types)])
    post = rng.integers(0, 5, n)
    counts = np.ones(n, int)
    for p in range(5):  # spread the rest of each neuron's budget over its synapses
        idx = np.flatnonzero(post == p)
        if idx.size and budget > idx.size:
            counts[idx] += rng.multinomial(budget - idx.size, np.ones(idx.size) / idx.size)
    counts[:num_types] = 1  # each type's smallest weight is one quantum
    budget = max(budget, int(cam_used(post, counts).max()))
    w = counts * quanta[types] * rng.choice([-1, 1], n)
    r = quantize_count(w, types, post, cam_budget=budget)
    assert r.stats.rel_error < 1e-9


def test_count_is_deterministic_and_handles_fan_in_above_budget():
    rng = np.random.default_rng(7)
    w = rng.lognormal(size=400) * rng.choice([-1, 1], 400)
    post = rng.integers(0, 4, 400)  # about 100 synapses per neuron, budget 64
    types = (w < 0).astype(int) + 2 * (rng.random(400) < 0.3)
    a = quantize_count(w, types, post, cam_budget=64)
    b = quantize_count(w, types, post, cam_budget=64)
    assert np.array_equal(a.quantized, b.quantized) and a.quanta == b.quanta
    assert cam_used(post, a.counts).max() <= 64
    assert a.stats.dropped >= 400 - 4 * 64
    # Dropped synapses are the weak ones: within a neuron and a type (one quantum), every kept
    # weight outweighs every dropped one.
    checked = 0
    for p in range(4):
        for t in np.unique(types):
            sel = (post == p) & (types == t)
            kept, dropped = np.abs(w[sel & (a.counts > 0)]), np.abs(w[sel & (a.counts == 0)])
            if kept.size and dropped.size:
                assert kept.min() >= dropped.max()
                checked += 1
    assert checked > 0


def test_naive_count_refuses_a_fan_in_above_budget():
    with pytest.raises(CapacityError, match="receives 3 synapses but has 2 CAM"):
        naive_count(np.ones(3), np.zeros(3, int), np.zeros(3, int), cam_budget=2)
    with pytest.raises(TargetError, match="CAM budget 0"):
        quantize_count(np.ones(3), np.zeros(3, int), np.zeros(3, int), cam_budget=0)


# -- report ---------------------------------------------------------------------------------------

def test_summary_table_lists_every_core_with_its_figures():
    rng = np.random.default_rng(0)
    w = rng.normal(size=100)
    post = rng.integers(0, 5, 100)
    types = (w < 0).astype(int)
    results = {"layer1/core0": quantize_base_sum(w, types, post, bits=4),
               "layer1/se1": quantize_count(w, types, post, cam_budget=20)}
    lines = summary_table(results).splitlines()
    assert len(lines) == 2 + len(results)
    for line, (name, r) in zip(lines[2:], results.items()):
        fields = line.split()
        assert fields[0] == name
        assert int(fields[1]) == r.stats.synapses == 100
        assert float(fields[2]) == pytest.approx(r.stats.rel_error, abs=1e-4)
        assert [int(x) for x in fields[3:]] == [r.stats.levels_used, r.stats.cam_max,
                                                r.stats.cam_total, r.stats.dropped]


@pytest.mark.parametrize("target", ["dynapse2", "dynapse1"])
@pytest.mark.parametrize("weights", [[1e-300, 1.0, 2.0], [1e300, 1.0, 2.0], [1e308, 1.0, 1.0],
                                     [1e-300, 1e-300, 1e-300], [1e-8, 1e8, 1.0]])
def test_extreme_weight_ranges_compile_or_fail_with_one_clear_error(weights, target):
    """Weights spanning the float range into one neuron never crash the quantizers: currents no
    bias can come near are refused naming the projection, and ones below any level are zero."""
    from neurocc.compiler import compile_model
    from neurocc.compiler.errors import CapacityError
    net = make_net([("h", 1)], [("x", "h", np.array([weights]))], inputs=[("x", 3)])
    try:
        compiled = compile_model(net, target)
    except CapacityError as exc:
        assert max(weights) >= 1e8 and "weight" in str(exc) and "clip or rescale" in str(exc)
        return
    assert max(weights) < 1e300 and compiled.report["checker_ok"]
    kept = compiled.realised.projections["p0_x_h"].weights.toarray()[0]
    assert kept[np.array(weights) < 1e-200].tolist() == [0.0] * sum(w < 1e-200 for w in weights)
