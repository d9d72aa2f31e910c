"""The camera's samplers: exact in distribution, and three bit-identical twins (numba, numpy, torch).

Distribution tests compare with scipy.stats (the exact Poisson pmf, the normal cdf), never with
numbers the samplers produced; the twins are compared for exact equality over a million draws
(an error that touches 3e-5 of the draws in one twin is missed with probability e^-30).
"""

import math

import numpy as np
import pytest
from numba import njit
from scipy import stats

from photonics import kernels as K
from tests.helpers import ks_critical

#: Significance of each goodness-of-fit test (fixed seeds: the outcome is deterministic; with a
#: correct sampler every p-value is a uniform draw, so the whole file fails by chance < 1e-5).
ALPHA = 1e-7

GRID = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 9.999, 10.0, 15.0, 30.0, 100.0, 300.0, 1.0e3, 3.0e3, 1.0e4, 1.0e5, 1.0e6]


def _draws(lam: float, n: int, key: int = 1234, row0: int = 0) -> np.ndarray:
    """n Poisson(lam) draws: counters 0..n-1 of 97 frame rows (as the camera uses them)."""
    rows = np.arange(n, dtype=np.uint64) % np.uint64(97) + np.uint64(row0)
    km = K.major_keys_numpy(key, rows)
    cnt = np.arange(n, dtype=np.uint64) // np.uint64(97)
    return K.poisson_numba(km, cnt, np.full(n, lam))


def _cells(lam: float, n: int, min_prob: float):
    """Consecutive ranges of k whose exact probability is >= min_prob (tails merged into the ends)."""
    sd = math.sqrt(lam)
    lo = int(max(0, math.floor(lam - 12 * sd - 20)))
    hi = int(math.ceil(lam + 12 * sd + 20))
    ks = np.arange(lo, hi + 1)
    pmf = stats.poisson.pmf(ks, lam)
    pmf[0] += stats.poisson.cdf(lo - 1, lam)
    pmf[-1] += stats.poisson.sf(hi, lam)
    edges, probs, acc, start = [], [], 0.0, lo
    for k, p in zip(ks, pmf):
        acc += p
        if acc >= min_prob:
            edges.append((start, k))
            probs.append(acc)
            acc, start = 0.0, k + 1
    if acc > 0:  # remainder joins the last cell
        edges[-1] = (edges[-1][0], hi)
        probs[-1] += acc
    return edges, np.array(probs)


def _counts(x: np.ndarray, edges) -> np.ndarray:
    bounds = np.array([e[1] for e in edges], dtype=np.float64)
    idx = np.searchsorted(bounds, x, side="left")
    idx = np.minimum(idx, len(edges) - 1)  # beyond the last bound: the merged upper tail
    return np.bincount(idx, minlength=len(edges))


@pytest.mark.parametrize("lam", GRID)
def test_poisson_goodness_of_fit(lam):
    """Chi-square and G test against scipy's exact pmf, cells of >= 1/300 probability (>= 660 expected)."""
    n = 200_000
    x = _draws(lam, n, key=int(lam * 1000) + 7)
    assert np.all(x == np.floor(x)) and x.min() >= 0
    edges, probs = _cells(lam, n, 1.0 / 300.0)
    obs = _counts(x, edges)
    exp = n * probs
    assert obs.sum() == n
    df = len(obs) - 1
    if df == 0:  # lam so small that P(0) > 1 - 1/300: a binomial test of P(X >= 1)
        p1 = stats.poisson.sf(0, lam)
        assert stats.binomtest(int((x >= 1).sum()), n, p1).pvalue > ALPHA
        return
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    g = float(2.0 * np.sum(np.where(obs > 0, obs * np.log(np.maximum(obs, 1) / exp), 0.0)))
    assert stats.chi2.sf(chi2, df) > ALPHA, (lam, chi2, df)
    assert stats.chi2.sf(g, df) > ALPHA, (lam, g, df)


@pytest.mark.parametrize("lam", [2.5, 15.0, 300.0, 5.0e4, 9.0e7])
def test_poisson_tail_probabilities(lam):
    """P(X <= lam - z sd) and P(X >= lam + z sd), z = 3 and 4, within 5 binomial standard errors of scipy's."""
    n = 1_000_000
    x = _draws(lam, n, key=99)
    sd = math.sqrt(lam)
    for z in (3.0, 4.0):
        lo = math.floor(lam - z * sd)
        hi = math.ceil(lam + z * sd)
        for obs, p in (((x <= lo).mean(), stats.poisson.cdf(lo, lam)), ((x >= hi).mean(), stats.poisson.sf(hi - 1, lam))):
            if p == 0.0:
                assert obs == 0.0
                continue
            assert abs(obs - p) <= 5.0 * math.sqrt(p * (1 - p) / n) + 1.0 / n, (lam, z, obs, p)


def test_poisson_moments_above_the_gaussian_switch():
    """Mean and variance at 3e8 e- (the Gaussian branch) and just below the switch (PTRS)."""
    n = 200_000
    for lam in (np.nextafter(K.POISSON_GAUSSIAN_ABOVE, 0), 3.0e8):
        x = _draws(lam, n, key=5)
        assert abs(x.mean() - lam) < 5 * math.sqrt(lam / n)
        assert abs(x.var() / lam - 1.0) < 5 * math.sqrt(2.0 / n)


def _tv_poisson_vs(lam: float, other_pmf) -> float:
    sd = math.sqrt(lam)
    k = np.arange(max(0, int(lam - 14 * sd)), int(lam + 14 * sd) + 1)
    return 0.5 * float(np.abs(stats.poisson.pmf(k, lam) - other_pmf(k)).sum())


def test_gaussian_switch_error_is_below_the_float32_rounding_of_the_power():
    """The documented error of the Gaussian branch (scipy): total variation 0.126/sqrt(mu), 1.3e-5 at
    the switch, while a relative 2^-24 error of the mean (float32 power) moves the law by 2.4e-4."""
    mu = K.POISSON_GAUSSIAN_ABOVE
    sd = math.sqrt(mu)
    tv_gauss = _tv_poisson_vs(mu, lambda k: stats.norm.cdf((k + 0.5 - mu) / sd) - stats.norm.cdf((k - 0.5 - mu) / sd))
    tv_f32 = _tv_poisson_vs(mu, lambda k: stats.poisson.pmf(k, mu * (1 + 2.0**-24)))
    assert tv_gauss == pytest.approx(0.126 / sd, rel=0.02) and tv_gauss < 1.3e-5
    assert tv_f32 > 2.3e-4 > 10 * tv_gauss


def test_poisson_special_means():
    n = 1000
    assert np.all(_draws(0.0, n) == 0)
    assert np.all(_draws(-3.0, n) == 0)
    assert np.all(_draws(np.inf, n) == np.inf)
    x = _draws(1e300, n)  # finite, beyond any integer type: no overflow, no negative value
    assert np.all(np.isfinite(x)) and np.all(np.abs(x / 1e300 - 1.0) < 1e-140)


def _twin_means(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lam = np.exp(rng.uniform(math.log(1e-3), math.log(3e9), n))
    special = [0.0, 1e-300, 5e-324, np.nextafter(10.0, 0), 10.0, np.nextafter(K.POISSON_GAUSSIAN_ABOVE, 0),
               K.POISSON_GAUSSIAN_ABOVE, 1e300, np.inf, 1.0, 255.5, 256.0]
    lam[: len(special) * 50] = np.repeat(special, 50)
    return lam


def test_poisson_twins_bit_identical():
    """numba == numpy on a million draws, log-uniform means 1e-3..3e9 and the branch boundaries."""
    n = 1_000_000
    lam = _twin_means(n, 0)
    km = K.major_keys_numpy(0xABCDEF, np.arange(n, dtype=np.uint64) % np.uint64(211))
    cnt = np.arange(n, dtype=np.uint64)
    a = K.poisson_numba(km, cnt, lam)
    b = K.poisson_numpy(km, cnt, lam)
    assert np.array_equal(a, b)  # zero mismatches


def test_poisson_torch_twin_bit_identical():
    torch = pytest.importorskip("torch")
    from photonics.backends.torch_kernels import poisson_torch

    n = 400_000
    lam = _twin_means(n, 1)
    km = K.major_keys_numpy((1 << 64) - 77, np.arange(n, dtype=np.uint64) % np.uint64(211))  # key with the top bit set
    cnt = np.arange(n, dtype=np.uint64)
    ref = K.poisson_numpy(km, cnt, lam)
    got = poisson_torch(torch.from_numpy(km.view(np.int64)), torch.from_numpy(cnt.view(np.int64)), torch.from_numpy(lam)).numpy()
    assert np.array_equal(got, ref)


def test_normal_exact_law_and_twins():
    n = 1_000_000
    km = K.major_keys_numpy(0x5151, np.arange(n, dtype=np.uint64) % np.uint64(101))
    cnt = np.arange(n, dtype=np.uint64)
    z = K.normal_exact_numba(km, cnt)
    assert np.array_equal(z, K.normal_exact_numpy(km, cnt))
    assert stats.kstest(z, "norm").statistic < ks_critical(n)
    assert abs(z.mean()) < 5 / math.sqrt(n) and abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    for t in (K._ZR, 4.5):  # the ziggurat's tail beyond its base strip, and further out
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(z) > t) - p) < 5 * math.sqrt(p / n) + 1 / n
    # the first ziggurat word decides 99 %: there the value is the medium's ziggurat's, unchanged
    same = z == K._normal_numpy_rows(km, cnt)
    assert same.mean() > 0.98


def test_normal_exact_torch_twin():
    torch = pytest.importorskip("torch")
    from photonics.backends.torch_kernels import normal_exact_torch

    n = 200_000
    km = K.major_keys_numpy(0x77, np.arange(n, dtype=np.uint64) % np.uint64(13))
    cnt = np.arange(n, dtype=np.uint64)
    got = normal_exact_torch(torch.from_numpy(km.view(np.int64)), torch.from_numpy(cnt.view(np.int64))).numpy()
    assert np.array_equal(got, K.normal_exact_numpy(km, cnt))


@njit
def _log_all(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = K._log_pos(x[i])
    return out


@njit
def _exp_all(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = K._exp_neg(x[i])
    return out


def test_bit_exact_log_and_exp():
    """The samplers' ln and exp: identical bits in numba, numpy (and torch), within 2 ulp of libm."""
    rng = np.random.default_rng(3)
    x = np.exp(rng.uniform(-700.0, 700.0, 200_000))
    x[:6] = [1.0, np.nextafter(1.0, 2), np.nextafter(1.0, 0), 2.0, math.sqrt(2.0), 2.2250738585072014e-308]
    y = -rng.uniform(0.0, 708.0, 200_000)
    y[:3] = [0.0, -1e-300, -0.5 * math.log(2.0)]
    lx, ey = _log_all(x), _exp_all(y)
    assert np.array_equal(lx, K.log_numpy(x)) and np.array_equal(ey, K.exp_numpy(y))
    ref_l = np.array([math.log(v) for v in x])
    ref_e = np.array([math.exp(v) for v in y])
    assert np.all(np.abs(lx - ref_l) <= 2 * np.spacing(np.abs(ref_l)) + 1e-300)
    assert np.all(np.abs(ey - ref_e) <= 2 * np.spacing(ref_e))
    try:
        import torch

        from photonics.backends.torch_kernels import exp_torch, log_torch
    except ImportError:
        return
    assert np.array_equal(log_torch(torch.from_numpy(x)).numpy(), lx)
    assert np.array_equal(exp_torch(torch.from_numpy(y)).numpy(), ey)


@pytest.mark.parametrize("read_noise_e", [0.0, 1e-300])
@pytest.mark.parametrize("n_pix", [2 * K._CAMERA_BLOCK + 904, 300, 1])  # whole blocks and a partial one; grouped frames
def test_camera_block_pipeline_equals_the_scalar_sampler(n_pix, read_noise_e):
    """The vectorised passes of camera_numba regroup lanes only: each pixel gets poisson_numba's value.

    Without read noise the kernel runs stage by stage; with it (1e-300 e-, removed by the ADC's
    rounding) it runs the fused chain, whose later passes take the open lanes of several frames
    together when frames are narrow."""
    rng = np.random.default_rng(8)
    n_frames = 7
    mean = np.exp(rng.uniform(math.log(1e-2), math.log(3e8), (n_frames, n_pix)))
    mean[0, :40] = 0.0
    mean[1, :40] = np.inf
    ones = np.ones(n_pix)
    zeros = np.zeros(n_pix)
    out = np.empty((n_frames, n_pix))
    # identity chain: no full well, 1 DN per electron, no offset; rounding and a huge full scale with read noise
    quantize = read_noise_e > 0.0
    K.camera_numba(mean, ones, zeros, zeros, read_noise_e, 1e300, 1.0, 1e300, True, False, quantize, np.uint64(21), np.uint64(22), 30,
                   out)
    km = K.major_keys_numpy(21, np.arange(30, 30 + n_frames, dtype=np.uint64))
    ref = K.poisson_numba(np.repeat(km, n_pix), np.tile(np.arange(n_pix, dtype=np.uint64), n_frames), mean.ravel())
    if quantize:
        ref = np.minimum(ref, 1e300)
    assert np.array_equal(out.ravel(), ref)


@pytest.mark.parametrize("shot,clip,quant", [(True, True, True), (True, False, False), (False, False, True)])
def test_camera_torch_twin_bit_identical(shot, clip, quant):
    """camera_torch == camera_numpy == camera_numba, bit for bit, with every branch of the samplers in use."""
    torch = pytest.importorskip("torch")
    from photonics.backends.torch_kernels import camera_torch

    rng = np.random.default_rng(11)
    n_frames, n_pix = 6, 4000
    e_per_w = np.full(n_pix, 1.0e15) * (1 + 0.01 * rng.normal(size=n_pix))
    power = (np.exp(rng.uniform(math.log(1e-3), math.log(1e9), (n_frames, n_pix))) / 1.0e15).astype(np.float32)
    power[0, :20] = np.float32(3e38)
    dark = np.full(n_pix, 0.5)
    offset = 10.0 + rng.normal(0.0, 1.0, n_pix)
    args = (7.0, 10500.0, 1 / 8.0, 255.0, shot, clip, quant)
    ref = K.camera_numpy(power, e_per_w, dark, offset, *args, 41, 42, 123)
    out = np.empty(power.shape)
    K.camera_numba(power, e_per_w, dark, offset, *args, np.uint64(41), np.uint64(42), 123, out)
    t = torch.from_numpy
    got = camera_torch(t(power), t(e_per_w), t(dark), t(offset), *args, 41, 42, 123).numpy()
    assert np.array_equal(got, ref) and np.array_equal(out, ref)
