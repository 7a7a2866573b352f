"""Unrolled convolution / pooling matrices against an independent convolution (scipy.signal)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocc.compiler.errors import InvalidModelError, UnsupportedError
from neurocc.frontend.nir.unroll import conv_matrix, pool_matrix
from networks import reference_conv


def check_conv(rng, x_shape, weight, padding=0, **kw):
    """Compare on a random input; ``padding`` is an int or one int per axis (symmetric)."""
    x = rng.standard_normal(x_shape)
    pads = padding if np.isscalar(padding) else [(p, p) for p in padding]
    expected = reference_conv(x, weight, pads=pads, **kw)
    matrix, shape = conv_matrix(weight, x_shape, padding=padding, **kw)
    assert shape == expected.shape
    assert matrix.shape == (expected.size, x.size)
    np.testing.assert_allclose(matrix @ x.reshape(-1), expected.reshape(-1), atol=1e-12)
    return matrix


def test_conv2d_stride_padding_matches_scipy():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 2, 5, 5))
    # The N-MNIST first layer: 34x34, kernel 5, stride 2, padding 1 -> 16x16.
    matrix = check_conv(rng, (2, 34, 34), weight, stride=2, padding=1)
    assert matrix.shape == (3 * 16 * 16, 2 * 34 * 34)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    ((1, 2), (2, 0), (1, 1), 1),
    (1, 0, (2, 3), 1),
    (2, 1, 2, 2),
    ((1, 1), [1, 2], 1, 4),
])
def test_conv2d_variants_match_scipy(stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((4, 4 // groups, 3, 2))
    check_conv(rng, (4, 9, 11), weight, stride=stride, padding=padding, dilation=dilation,
               groups=groups)


def test_conv1d_matches_scipy():
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((6, 1, 4))
    check_conv(rng, (3, 20), weight, stride=3, padding=2, dilation=2, groups=3)


def test_same_and_valid_padding():
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((2, 3, 4, 3))  # even kernel: PyTorch pads one more after
    x = rng.standard_normal((3, 7, 6))
    matrix, shape = conv_matrix(weight, x.shape, padding="same", dilation=(1, 2))
    assert shape == (2, 7, 6)
    # total padding d*(k-1): rows 3 -> (1, 2); columns 2*2 = 4 -> (2, 2)
    expected = reference_conv(x, weight, pads=[(1, 2), (2, 2)], dilation=(1, 2))
    np.testing.assert_allclose(matrix @ x.reshape(-1), expected.reshape(-1), atol=1e-12)
    matrix, shape = conv_matrix(weight, x.shape, padding="valid")
    np.testing.assert_allclose(matrix @ x.reshape(-1), reference_conv(x, weight).reshape(-1),
                               atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(4, 9), kernel=st.integers(1, 4),
       stride=st.integers(1, 3), pad=st.integers(0, 2), dil=st.integers(1, 2),
       groups=st.sampled_from([1, 2]))
def test_conv2d_random_cases(seed, size, kernel, stride, pad, dil, groups):
    if dil * (kernel - 1) + 1 > size + 2 * pad:
        return  # kernel does not fit: covered by test_errors
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((2 * groups, 2, kernel, kernel + 1 if kernel < 3 else kernel))
    weight[rng.random(weight.shape) < 0.3] = 0.0
    matrix = check_conv(rng, (2 * groups, size, size + 1), weight, stride=stride, padding=pad,
                        dilation=dil, groups=groups)
    assert not np.any(matrix.data == 0), "zero weights must not become synapses"


def test_sum_and_avg_pool():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 8, 6))
    blocks = x.reshape(3, 4, 2, 3, 2)
    matrix, shape = pool_matrix(x.shape, 2)
    assert shape == (3, 4, 3)
    np.testing.assert_allclose(matrix @ x.reshape(-1), blocks.sum(axis=(2, 4)).reshape(-1))
    matrix, _ = pool_matrix(x.shape, (2, 2), average=True)
    np.testing.assert_allclose(matrix @ x.reshape(-1), blocks.mean(axis=(2, 4)).reshape(-1))
    # Overlapping, padded pooling = depthwise convolution with a kernel of ones.
    matrix, shape = pool_matrix(x.shape, 3, stride=2, padding=1)
    ones = np.zeros((3, 3, 3, 3))
    for c in range(3):
        ones[c, c] = 1.0
    expected = reference_conv(x, ones, stride=2, pads=1)
    assert shape == expected.shape
    np.testing.assert_allclose(matrix @ x.reshape(-1), expected.reshape(-1))


def test_errors():
    weight = np.ones((2, 1, 5, 5))
    with pytest.raises(InvalidModelError, match="does not fit the padded input"):
        conv_matrix(weight, (1, 3, 3))
    with pytest.raises(InvalidModelError, match="expects 2 input channels"):
        conv_matrix(weight, (3, 8, 8), groups=2)
    with pytest.raises(UnsupportedError, match="'same' with stride"):
        conv_matrix(weight, (1, 8, 8), padding="same", stride=2)
    with pytest.raises(InvalidModelError, match="padding 'full'"):
        conv_matrix(weight, (1, 8, 8), padding="full")
    with pytest.raises(InvalidModelError, match="stride \\[1, 2, 3\\] has 3 entries"):
        conv_matrix(weight, (1, 8, 8), stride=[1, 2, 3])
