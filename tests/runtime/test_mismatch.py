"""Per-instance variations: mismatch statistics, reproducibility, silencing, weight precision."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurocc.runtime import mismatch as mm

SHAPES = {"I_tau_mem": (50,), "I_tau_syn": (50, 3), "I_gain_syn": (400,)}


def factors_of(instances: range, sigma: float, seed: int = 0) -> dict[str, np.ndarray]:
    draw = jax.jit(jax.vmap(lambda k: mm.mismatch_factors(mm.instance_key(seed, k), SHAPES,
                                                          sigma)))
    return {k: np.asarray(v) for k, v in draw(jnp.asarray(list(instances))).items()}


def test_mismatch_sigma_is_realised_for_every_quantity():
    factors = factors_of(range(40), 0.2)
    for name, f in factors.items():
        assert f.shape == (40, *SHAPES[name])
        assert abs(f.mean() - 1.0) < 0.01, name
        assert abs(f.std() - 0.2) < 0.01, name
    # independent per element: neighbouring neurons and instances are uncorrelated
    w = factors["I_gain_syn"]
    assert abs(np.corrcoef(w[:, :-1].ravel(), w[:, 1:].ravel())[0, 1]) < 0.05
    assert abs(np.corrcoef(w[:-1].ravel(), w[1:].ravel())[0, 1]) < 0.05


def test_zero_sigma_gives_the_nominal_values_and_large_sigma_never_negative():
    assert all(np.all(f == 1.0) for f in factors_of(range(3), 0.0).values())
    big = factors_of(range(20), 2.0)
    assert all(np.all(f >= 0) for f in big.values())
    assert any(np.any(f == 0) for f in big.values())


def test_an_instance_draws_the_same_values_alone_or_in_a_group():
    group = factors_of(range(10), 0.2)
    alone = factors_of(range(7, 8), 0.2)
    other_seed = factors_of(range(7, 8), 0.2, seed=1)
    for name in SHAPES:
        np.testing.assert_array_equal(group[name][7], alone[name][0])
        assert not np.allclose(other_seed[name][0], alone[name][0])
        assert not np.allclose(group[name][6], group[name][7])


def test_apply_mismatch_multiplies_the_nominal_values():
    nominal = {"I_tau_mem": jnp.full((50,), 3e-12), "I_dc": jnp.linspace(1e-9, 2e-9, 400)}
    key = mm.instance_key(5, 2)
    varied = mm.apply_mismatch(key, nominal, 0.2)
    factors = mm.mismatch_factors(key, {k: v.shape for k, v in nominal.items()}, 0.2)
    for name, value in nominal.items():
        np.testing.assert_allclose(varied[name], value * factors[name], rtol=1e-6)


def test_synapse_factors_are_normal_and_depend_only_on_key_and_synapse_number():
    key = mm.instance_key(0, 1)
    ids = jnp.arange(20000)
    f = np.asarray(mm.synapse_factors(key, ids, 0.2))
    assert abs(f.mean() - 1.0) < 0.01 and abs(f.std() - 0.2) < 0.01
    assert abs(np.mean(np.abs(f - 1) > 0.4) - 0.0455) < 0.01          # two-sigma tail
    # any layout of the same synapse numbers gets the same factors
    perm = np.random.default_rng(0).permutation(20000)[:600].reshape(20, 30)
    np.testing.assert_array_equal(mm.synapse_factors(key, jnp.asarray(perm), 0.2), f[perm])
    other = np.asarray(mm.synapse_factors(mm.instance_key(0, 2), ids, 0.2))
    assert abs(np.corrcoef(f, other)[0, 1]) < 0.05


def test_unknown_quantities_are_refused():
    with pytest.raises(KeyError, match="I_nope"):
        mm.mismatch_factors(mm.instance_key(0, 0), {"I_nope": (3,)}, 0.2)


def test_alive_mask_silences_exactly_the_fraction_and_grows_monotonically():
    key = mm.instance_key(0, 3)
    masks = {f: np.asarray(mm.alive_mask(key, 40, f)) for f in (0.0, 0.1, 0.25, 0.5, 1.0)}
    for fraction, mask in masks.items():
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert (mask == 0).sum() == round(fraction * 40)
    # raising the fraction only adds neurons to the silenced set
    assert np.all(masks[0.25][masks[0.5] == 1] == 1)
    assert np.all(masks[0.1][masks[0.25] == 1] == 1)
    other = np.asarray(mm.alive_mask(mm.instance_key(0, 4), 40, 0.5))
    assert not np.array_equal(other, masks[0.5])


def test_quantize_weights_rounds_to_levels_of_each_groups_largest_weight():
    w = np.array([8.0, 3.5, 1.0, 3.2, 6.0, 0.5])
    group = np.array([0, 0, 0, 1, 1, 1])
    # 2 bits: 3 steps of the group's largest (8/3 and 6/3 = 2)
    np.testing.assert_allclose(mm.quantize_weights(w, group, 2),
                               [8.0, 8 / 3, 0.0, 4.0, 6.0, 0.0])
    np.testing.assert_allclose(mm.quantize_weights(w, group, 1), [8.0, 0.0, 0.0, 6.0, 6.0, 0.0])
    # many bits: within half a step of the original
    q = mm.quantize_weights(w, group, 12)
    top = np.array([8.0, 8.0, 8.0, 6.0, 6.0, 6.0])
    assert np.all(np.abs(q - w) <= top / (2 * (2 ** 12 - 1)) + 1e-12)
    assert mm.quantize_weights(np.zeros(0), np.zeros(0, int), 3).size == 0
