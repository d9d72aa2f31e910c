"""Every numba kernel against its numpy reference twin, and the samplers' statistics."""

import numba
import numpy as np
import pytest
from scipy import stats

from photonics import kernels as K
from tests.helpers import ks_critical, sample_var_se


def test_mix64_is_a_bijection_sample():
    z = np.arange(1 << 16, dtype=np.uint64)
    assert np.unique(K.mix64_numpy(z)).size == z.size


def test_normal_twin_and_law():
    key = np.uint64(0x1234)
    majors = np.arange(40, dtype=np.uint64)
    a = K.normal_numba(key, majors, 5000)
    b = K.normal_numpy(int(key), majors, 5000)
    assert np.array_equal(a, b)
    z = a.ravel()
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").statistic < ks_critical(n)
    # the tail beyond the ziggurat base (|z| > 3.654) is populated at the Gaussian rate
    p_tail = 2 * stats.norm.sf(K._ZR)
    tail = np.mean(np.abs(z) > K._ZR)
    assert abs(tail - p_tail) < 5 * np.sqrt(p_tail / n)


def test_gaussian_block_twin_and_thread_independence():
    out = np.empty((300, 2 * 17), dtype=np.float32)
    K.gaussian_block_numba(np.uint64(99), 3, 17, 5, 300, 0.25, out)
    ref = K.gaussian_block_numpy(99, 3, 17, 5, 300, 0.25)
    assert np.array_equal(out, ref)
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = np.empty_like(out)
        K.gaussian_block_numba(np.uint64(99), 3, 17, 5, 300, 0.25, one)
    finally:
        numba.set_num_threads(prev)
    assert np.array_equal(one, out)


def test_intensity_twin(rng):
    split = rng.normal(size=(7, 2 * 33)).astype(np.float32)
    c_re = rng.normal(size=33).astype(np.float32)
    c_im = rng.normal(size=33).astype(np.float32)
    out = np.empty((7, 33), dtype=np.float32)
    K.intensity_numba(split, np.float32(0.7), c_re, c_im, np.float32(3.0), out)
    ref = K.intensity_numpy(split, 0.7, c_re, c_im, 3.0)
    assert np.allclose(out, ref, rtol=2e-7, atol=0)


@pytest.mark.parametrize("lam", [0.0, 0.3, 4.0, 9.99, 10.0, 47.0, 1.0e3, 2.5e5, 3.0e7])
def test_poisson_twin_and_moments(lam):
    n = 60_000
    km = K.major_keys_numpy(777, np.arange(n, dtype=np.uint64) % 13)
    cnt = np.arange(n, dtype=np.uint64)
    lams = np.full(n, lam)
    a = K.poisson_numba(km, cnt, lams)
    b = K.poisson_numpy(km, cnt, lams)
    # bit-identical except where libm and numpy's exp/log/lgamma differ by an ulp at an
    # accept/reject boundary (probability ~1e-15 per draw)
    assert np.mean(a == b) >= 1 - 1e-4
    assert np.all(a >= 0) and np.all(a == np.floor(a))
    if lam == 0:
        assert np.all(a == 0)
        return
    assert abs(a.mean() - lam) < 5 * np.sqrt(lam / n)
    assert abs(a.var() - lam) < 5 * sample_var_se(a)


def test_poisson_small_mean_pmf():
    """Inversion branch against the exact pmf (chi-square on the first cells)."""
    n, lam = 200_000, 2.5
    km = K.major_keys_numpy(5, np.zeros(n, dtype=np.uint64))
    a = K.poisson_numba(km, np.arange(n, dtype=np.uint64), np.full(n, lam))
    ks = np.arange(8)
    obs = np.array([(a == k).sum() for k in ks] + [(a >= 8).sum()])
    exp = n * np.append(stats.poisson.pmf(ks, lam), stats.poisson.sf(7, lam))
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert chi2 < stats.chi2.ppf(1 - 1e-4, df=len(obs) - 1)


def test_camera_twin(rng):
    n_frames, n_pix = 6, 5000
    power = (rng.exponential(1.0, size=(n_frames, n_pix)) * 1e-12).astype(np.float32)
    power[0, :50] = 1e-6  # saturating pixels
    e_per_w = np.full(n_pix, 2.0e15) * (1 + 0.01 * rng.normal(size=n_pix))
    dark = np.abs(rng.normal(2.0, 1.0, size=n_pix))
    offset = 10.0 + rng.normal(0.0, 1.0, size=n_pix)  # black level + offset non-uniformity [DN]
    for shot, clip, quant in [(True, True, True), (False, False, False), (True, False, True), (False, True, False)]:
        args = (offset, 7.0, 3000.0, 1 / 8.0, 255.0, shot, clip, quant, np.uint64(11), np.uint64(12), 1000)
        out = np.empty((n_frames, n_pix), dtype=np.float64)
        K.camera_numba(power, e_per_w, dark, *args, out)
        ref = K.camera_numpy(power, e_per_w, dark, *args[:-3], 11, 12, 1000)
        same = np.isclose(out, ref, rtol=1e-12, atol=1e-9)
        assert np.mean(same) >= 1 - 1e-4
        if quant:
            assert out.max() <= 255 and out.min() >= 0


def test_camera_noiseless_twin(rng):
    power = (rng.exponential(1.0, size=(4, 3000)) * 1e-12).astype(np.float32)
    power[0, :20] = 1e-6
    e_per_w = np.full(3000, 2.0e15) * (1 + 0.01 * rng.normal(size=3000))
    dark = np.abs(rng.normal(2.0, 1.0, size=3000))
    for clip, quant in [(True, True), (False, False), (True, False), (False, True)]:
        out = np.empty((4, 3000), dtype=np.float64)
        offset = np.full(3000, 10.0)
        K.camera_noiseless_numba(power, e_per_w, dark, offset, 3000.0, 1 / 8.0, 255.0, clip, quant, out)
        ref = K.camera_numpy(power, e_per_w, dark, offset, 0.0, 3000.0, 1 / 8.0, 255.0, False, clip, quant, 1, 2, 0)
        assert np.allclose(out, ref, rtol=1e-12, atol=1e-9)


def test_serial_variants_give_the_same_numbers(rng):
    power = (rng.exponential(1.0, size=(3, 700)) * 1e-12).astype(np.float32)
    e_per_w = np.full(700, 2.0e15)
    dark = np.full(700, 1.5)
    args = (np.full(700, 10.0), 7.0, 3000.0, 1 / 8.0, 255.0, True, True, True, np.uint64(3), np.uint64(4), 50)
    a = np.empty((3, 700))
    b = np.empty((3, 700))
    K.camera_numba(power, e_per_w, dark, *args, a)
    K.camera_serial(power, e_per_w, dark, *args, b)
    assert np.array_equal(a, b)
    split = rng.normal(size=(3, 20)).astype(np.float32)
    c = rng.normal(size=10).astype(np.float32)
    o1, o2 = np.empty((3, 10), np.float32), np.empty((3, 10), np.float32)
    K.intensity_numba(split, np.float32(2.0), c, c, np.float32(1.5), o1)
    K.intensity_serial(split, np.float32(2.0), c, c, np.float32(1.5), o2)
    assert np.array_equal(o1, o2)
