import numpy as np
import pytest

from photonics.encoding import (
    BinaryThresholdEncoder,
    BitPlaneEncoder,
    SignSplitEncoder,
    TernaryEncoder,
    macropixelate,
    pool_macropixels,
    ternarize,
)
from photonics.errors import DTypeError, ShapeError, ValidationError


def _is_binary(f):
    return f.dtype == np.uint8 and set(np.unique(f)) <= {0, 1}


def test_binary_threshold(rng):
    x = rng.normal(size=(5, 11))
    enc = BinaryThresholdEncoder(0.3)
    f = enc.encode(x)
    assert f.shape == (1, 5, 11) and _is_binary(f)
    assert np.array_equal(f[0], (x > 0.3).astype(np.uint8))
    assert np.array_equal(enc.quantize(x), (x > 0.3).astype(np.float32))


def test_bitplane_integers_exact(rng):
    x = rng.integers(0, 256, size=(7, 13))
    enc = BitPlaneEncoder(8)
    f = enc.encode(x)
    assert f.shape == (8, 7, 13) and _is_binary(f)
    assert np.array_equal(enc.decode(f.astype(np.float32)), x.astype(np.float32))
    with pytest.raises(ValidationError, match="n_bits=4"):
        BitPlaneEncoder(4).encode(np.array([[16]]))


@pytest.mark.parametrize("n_bits", [1, 4, 8, 12])
def test_bitplane_floats_within_half_step(rng, n_bits):
    x = rng.uniform(-3.0, 5.0, size=(6, 40))
    enc = BitPlaneEncoder(n_bits)
    q = enc.quantize(x)
    step = (x.max() - x.min()) / (2**n_bits - 1)
    assert np.max(np.abs(q - x)) <= 0.5 * step * (1 + 1e-6) + 1e-6


def test_sign_split_and_ternary(rng):
    x = rng.normal(size=(4, 30))
    enc = SignSplitEncoder(n_bits=10)
    f = enc.encode(x)
    assert f.shape == (20, 4, 30) and _is_binary(f)
    step = np.abs(x).max() / (2**10 - 1)
    assert np.max(np.abs(enc.quantize(x) - x)) <= 0.5 * step + 1e-6
    t = TernaryEncoder(0.5)
    ft = t.encode(x)
    assert ft.shape == (2, 4, 30) and not np.any(ft[0] & ft[1])
    assert np.array_equal(t.quantize(x), ternarize(x, 0.5).astype(np.float32))
    assert set(np.unique(ternarize(x, 0.5))) <= {-1, 0, 1}


def test_linear_decoding_through_a_linear_device(rng):
    """decode(B frames) = B Q(x): what OPU.linear relies on."""
    b = rng.normal(size=(9, 25))
    x = rng.normal(size=(3, 25))
    for enc in (BitPlaneEncoder(8), SignSplitEncoder(n_bits=6), TernaryEncoder(0.2)):
        f = enc.encode(x).astype(np.float64)
        y = np.einsum("fbn,on->fbo", f, b)
        q = enc.decode(f.astype(np.float32))
        assert np.allclose(enc.decode(y), q @ b.T, rtol=1e-5, atol=1e-4)


def test_macropixels_round_trip(rng):
    img = (rng.random((2, 6, 8)) < 0.5).astype(np.uint8)
    m = macropixelate(img, 4)
    assert m.shape == (2, 24, 32)
    assert np.array_equal(pool_macropixels(m, 4), img.astype(np.float32))
    with pytest.raises(ShapeError):
        pool_macropixels(m, 5)


def test_bad_inputs():
    with pytest.raises(ValidationError, match="NaN"):
        BitPlaneEncoder().encode(np.array([[1.0, np.nan]]))
    with pytest.raises(ShapeError, match="1-D"):
        BinaryThresholdEncoder().encode(np.zeros((2, 2, 2)))
    with pytest.raises(DTypeError):
        BinaryThresholdEncoder().encode(np.array([["a"]]))
    with pytest.raises(ValidationError, match="x_max"):
        BitPlaneEncoder(8, x_min=1.0, x_max=0.0)
    with pytest.raises(ValidationError, match="n_bits"):
        BitPlaneEncoder(0)
    with pytest.raises(ValidationError, match="threshold"):
        TernaryEncoder(-1.0)
    with pytest.raises(ShapeError, match="n_frames"):
        BitPlaneEncoder(8).decode(np.zeros((3, 1, 1)))
    with pytest.raises(ValidationError, match="before encode"):
        SignSplitEncoder().decode(np.zeros((2, 1, 1)))
