"""The Gaussian TM against its physics: moments, circularity, speckle statistics, MP law,
and procedural == dense, whichever the block order or thread count."""

import tracemalloc

import numba
import numpy as np
import pytest
from scipy import integrate, stats

from photonics.errors import ShapeError, ValidationError
from photonics.medium import GaussianMedium
from tests.helpers import binary_frames, ks_critical


@pytest.fixture(scope="module")
def med():
    return GaussianMedium(256, 1024, seed=3)


def test_second_moment_and_circularity(med):
    t = med.matrix().astype(np.complex128) * np.sqrt(med.n_in)  # ~ CN(0, 1)
    n = t.size
    # |t|^2 ~ Exp(1): mean 1, sd 1
    assert abs(np.mean(np.abs(t) ** 2) - 1) < 5 / np.sqrt(n)
    # circularity: E[t^2] = 0 with Re and Im of t^2 of variance 1/2 each... (E|t^2|^2 = 2)
    m2 = np.mean(t**2)
    assert abs(m2.real) < 5 * np.sqrt(1 / n) and abs(m2.imag) < 5 * np.sqrt(1 / n)
    # Re and Im independent and of equal variance
    assert abs(np.mean(t.real * t.imag)) < 5 * np.sqrt(0.25 / n)
    assert abs(np.var(t.real) - 0.5) < 5 * np.sqrt(0.5 / n)


def test_speckle_contrast_and_exponential_law(med, rng):
    x = binary_frames(rng, 1, med.n_in)[0]
    k = int(x.sum())
    field = med.field(x[None].astype(np.float32))[0].astype(np.complex128)
    inten = np.abs(field) ** 2
    n = inten.size
    # contrast of fully developed speckle: sd/mean = 1, and the estimator's sd is 1/sqrt(n)
    contrast = inten.std() / inten.mean()
    assert abs(contrast - 1) < 5 / np.sqrt(n)
    # exponential law with the known mean k / n_in
    assert stats.kstest(inten / (k / med.n_in), "expon").statistic < ks_critical(n)


def _mp_cdf(q):
    lo, hi = (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2

    def pdf(x):
        return np.sqrt(max((hi - x) * (x - lo), 0.0)) / (2 * np.pi * q * x)

    return lo, hi, lambda x: integrate.quad(pdf, lo, min(max(x, lo), hi))[0]


def test_marchenko_pastur(med):
    t = med.matrix().astype(np.complex128)
    q = med.n_in / med.n_out
    ev = np.linalg.eigvalsh(t.conj().T @ t) * med.n_in / med.n_out
    lo, hi, cdf = _mp_cdf(q)
    # Tracy-Widom edge fluctuations are O(n^-2/3): a 5 % margin on the support is generous
    assert ev.min() > lo * 0.95 - 1e-3 and ev.max() < hi * 1.05
    # eigenvalue counts follow the MP law; fluctuations of the empirical CDF are O(1/n)
    grid = np.linspace(lo, hi, 25)[1:-1]
    emp = np.array([np.mean(ev <= g) for g in grid])
    theo = np.array([cdf(g) for g in grid])
    assert np.max(np.abs(emp - theo)) < 10 / med.n_in


def test_procedural_equals_dense(rng):
    dense = GaussianMedium(300, 700, seed=11, n_cols=350)
    proc = GaussianMedium(300, 700, seed=11, n_cols=350, procedural=True, block_rows=64)
    assert np.array_equal(dense.matrix(), proc.matrix())
    assert np.array_equal(dense.matrix(cols=slice(300, 350)), proc.matrix(cols=slice(300, 350)))
    x = binary_frames(rng, 9, 300).astype(np.float32)
    a, b = dense.split_field(x), proc.split_field(x)
    assert np.allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())
    assert np.allclose(dense.column_sum(slice(300, 350)), proc.column_sum(slice(300, 350)), rtol=1e-6, atol=1e-9)


def test_block_order_and_thread_count_independence(rng):
    proc = GaussianMedium(200, 500, seed=5, procedural=True, block_rows=64)
    x = binary_frames(rng, 4, 200).astype(np.float32)
    ref = proc.split_field(x)
    n_blocks = -(-500 // 64)
    rev = proc.split_field(x, block_order=list(reversed(range(n_blocks))))
    assert np.array_equal(ref, rev)
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = proc.split_field(x)
    finally:
        numba.set_num_threads(prev)
    assert np.array_equal(ref, one)


def test_procedural_handles_a_matrix_that_cannot_fit(rng):
    """200,000 x 200,000 complex64 is 320 GB; a block of rows is projected without it."""
    n = 200_000
    proc = GaussianMedium(n, n, seed=1, procedural=True, block_rows=32)
    x = binary_frames(rng, 2, n, density=0.01).astype(np.float32)
    rows = slice(123_456, 123_456 + 64)
    tracemalloc.start()
    split = proc.split_field(x, rows=rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert split.shape == (2, 128)
    assert peak < 200 * 2**20  # a 32-row block is 51 MB; the full matrix would be 320 GB
    blk = proc.matrix(rows=rows).astype(np.complex128)
    ref = x.astype(np.float64) @ blk.T
    field = split[:, :64] + 1j * split[:, 64:]
    assert np.allclose(field, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.slow
def test_procedural_full_projection_200k(rng):
    n = 200_000
    proc = GaussianMedium(n, n, seed=1, procedural=True, block_rows=256)
    x = binary_frames(rng, 2, n, density=0.01).astype(np.float32)
    split = proc.split_field(x)
    inten = split[:, :n] ** 2 + split[:, n:] ** 2
    k = x.sum(axis=1)
    # speckle statistics of the whole 200k-pixel output: mean k/n_in, contrast 1
    for b in range(2):
        m = inten[b].mean()
        assert abs(m / (k[b] / n) - 1) < 5 / np.sqrt(n)
        assert abs(inten[b].std() / m - 1) < 5 / np.sqrt(n)


def test_bad_arguments():
    med = GaussianMedium(10, 20, seed=0)
    with pytest.raises(ShapeError, match=r"\(batch, 10\)"):
        med.split_field(np.zeros((2, 11), np.float32))
    with pytest.raises(ValidationError, match="step 1"):
        med.matrix(rows=slice(0, 10, 2))
    with pytest.raises(ValidationError, match="selects nothing"):
        med.matrix(rows=slice(5, 5))
