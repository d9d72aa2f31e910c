"""photonics.speckle statistics against independent references: samples drawn here with
numpy's generator (not with the code under test), closed forms and numerical integration."""

import math

import numpy as np
import pytest
from scipy import integrate, ndimage
from threadpoolctl import threadpool_limits

from photonics import statistics as S
from photonics.errors import DTypeError, ShapeError, ValidationError
from tests.helpers import ks_critical


def cgauss(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)


# ---------------------------------------------------------------------------------------------
# contrast and histogram
# ---------------------------------------------------------------------------------------------


def test_contrast_of_exponential_speckle_and_its_standard_error(rng):
    n = 200_000
    c = S.speckle_contrast(rng.exponential(2.5, n))
    assert c.stderr == pytest.approx(1 / math.sqrt(n), rel=0.05)  # delta method: 1/sqrt(n) for Exp
    assert abs(c.value - 1) < 5 * c.stderr
    # the reported standard error matches the spread of the estimator over independent draws
    vals = [S.speckle_contrast(rng.exponential(1.0, 400)) for _ in range(400)]
    spread = np.std([v.value for v in vals], ddof=1)
    se_mean = np.mean([v.stderr for v in vals])
    # sd of a sample sd over 400 replicates is known to ~ 1/sqrt(2*399) = 3.5 %: 5 sigma
    assert abs(se_mean / spread - 1) < 5 * 0.035 + 0.03


def test_contrast_of_partially_developed_speckle(rng):
    """A coherent background of power fraction B on top of speckle: C = sqrt(1 - B^2)."""
    n = 200_000
    for b in (0.0, 0.3, 0.7):
        field = math.sqrt(b) + math.sqrt(1 - b) * cgauss(rng, n)
        c = S.speckle_contrast(np.abs(field) ** 2)
        assert abs(c.value - math.sqrt(1 - b * b)) < 5 * c.stderr
    assert S.speckle_contrast(np.full(100, 3.0)).value == 0.0


def test_correlation_area_scales_the_standard_error(rng):
    i = rng.exponential(1.0, 10_000)
    a, b = S.speckle_contrast(i), S.speckle_contrast(i, correlation_area_px=9.0)
    assert b.value == a.value and b.stderr == pytest.approx(3 * a.stderr) and b.n_effective == pytest.approx(10_000 / 9)


def test_histogram_follows_exponential_law(rng):
    n = 100_000
    h = S.intensity_histogram(rng.exponential(7.0, n), bins=40, max_normalized=5.0)
    width = np.diff(h.edges)
    p = h.expected * width  # bin probabilities of the law
    # each bin count is binomial: 5 sigma per bin (mean normalisation adds O(1/sqrt(n)) shifts)
    sigma = np.sqrt(p * (1 - p) / n) / width
    assert np.all(np.abs(h.density - h.expected) < 5 * sigma + 0.01 * h.expected)
    assert h.expected == pytest.approx(np.exp(-(h.edges[:-1] + h.edges[1:]) / 2), rel=0.02)
    assert h.ks_statistic < ks_critical(n) and h.ks_pvalue > 1e-3
    assert h.mean == pytest.approx(7.0, rel=5 / math.sqrt(n)) and h.n == n


def test_histogram_rejects_non_speckle(rng):
    h = S.intensity_histogram(rng.uniform(0.5, 1.5, 50_000))
    assert h.ks_statistic > 10 * ks_critical(50_000) and h.ks_pvalue < 1e-10


# ---------------------------------------------------------------------------------------------
# Marchenko-Pastur
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 1.0])
def test_mp_density_and_cdf_against_quadrature(q):
    lo, hi = S.marchenko_pastur_support(q)
    assert (lo, hi) == pytest.approx(((1 - math.sqrt(q)) ** 2, (1 + math.sqrt(q)) ** 2))

    def pdf(x):
        return math.sqrt(max((hi - x) * (x - lo), 0.0)) / (2 * math.pi * q * x)

    total = integrate.quad(pdf, lo, hi, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    mean = integrate.quad(lambda x: x * pdf(x), lo, hi, limit=200)[0]
    assert mean == pytest.approx(1.0, abs=1e-6)  # unit-mean normalisation
    xs = np.linspace(lo, hi, 9)[1:-1]
    assert S.marchenko_pastur_pdf(xs, q) == pytest.approx([pdf(x) for x in xs], rel=1e-12)
    ref = [integrate.quad(pdf, lo, x, limit=200)[0] for x in xs]
    assert S.marchenko_pastur_cdf(xs, q) == pytest.approx(ref, abs=2e-6)
    assert S.marchenko_pastur_cdf([lo - 1, hi + 1], q) == pytest.approx([0.0, 1.0])
    assert S.marchenko_pastur_pdf([lo - 0.01, hi + 0.01], q).tolist() == [0.0, 0.0]


def test_singular_values_of_iid_matrix_follow_mp(rng):
    t = cgauss(rng, (800, 200)) * 3.7  # any scale
    sv = S.singular_value_statistics(t)
    assert sv.ratio == 0.25 and (sv.n_out, sv.n_in) == (800, 200)
    assert np.mean(sv.eigenvalues) == pytest.approx(1.0, rel=1e-9)
    with threadpool_limits(limits=1, user_api="blas"):  # LAPACK under CPU contention: one thread
        ref = np.linalg.svd(t, compute_uv=False)
    assert sv.singular_values == pytest.approx(ref, rel=1e-7)
    # empirical CDF fluctuations of MP eigenvalues are O(1/n) (rigidity): a generous 10/n
    assert sv.ks_statistic < 10 / 200
    assert sv.support[0] * 0.9 < sv.edge_low and sv.edge_high < sv.support[1] * 1.1
    assert sv.effective_rank == pytest.approx(200 / 1.25, rel=0.05)
    # a wide matrix is handled by transposition
    assert S.singular_value_statistics(t.T).ks_statistic == pytest.approx(sv.ks_statistic)


def test_low_rank_matrix_is_far_from_mp(rng):
    t = cgauss(rng, (400, 20)) @ cgauss(rng, (20, 100))
    sv = S.singular_value_statistics(t)
    assert sv.ks_statistic > 0.5 and sv.effective_rank < 20


# ---------------------------------------------------------------------------------------------
# autocorrelation and grain size
# ---------------------------------------------------------------------------------------------


def gaussian_speckle(rng, n, h, w, a):
    """Speckle with a Gaussian field correlation: white field blurred by a Gaussian of sd a (periodic).

    mu(r) = exp(-r^2 / (4 a^2)) -> intensity autocovariance exp(-r^2 / (2 a^2)), FWHM 2 a sqrt(2 ln 2).
    """
    f = cgauss(rng, (n, h, w))
    blur = ndimage.gaussian_filter(f.real, (0, a, a), mode="wrap") + 1j * ndimage.gaussian_filter(f.imag, (0, a, a), mode="wrap")
    return np.abs(blur) ** 2


def test_grain_size_of_uncorrelated_pixels_is_one(rng):
    imgs = rng.exponential(1.0, (20, 64, 64))
    g = S.grain_size(imgs)
    assert abs(g.grain_x_px - 1) < 0.03 and abs(g.grain_y_px - 1) < 0.03
    assert g.correlation_area_px == pytest.approx(1.0, abs=0.1)
    ac = S.intensity_autocorrelation(imgs, max_lag=5)
    assert ac.acf.shape == (11, 11) and ac.acf[5, 5] == 1.0
    off = np.delete(ac.acf.ravel(), 60)
    assert np.max(np.abs(off)) < 5 / math.sqrt(imgs.size)  # lag sample covariances ~ 1/sqrt(N)


@pytest.mark.parametrize("a", [1.0, 2.0, 3.5])
def test_grain_size_recovers_a_known_gaussian_correlation(rng, a):
    n = 8
    imgs = gaussian_speckle(rng, n, 96, 96, a)
    expected = 2 * a * math.sqrt(2 * math.log(2))
    per = [S.grain_size(imgs[i]).grain_size_px for i in range(n)]
    se = np.std(per, ddof=1) / math.sqrt(n)
    g = S.grain_size(imgs)
    # the estimator interpolates log c in lag^2: exact for a Gaussian peak, up to the sampling spread
    assert abs(g.grain_size_px - expected) < 5 * se + 0.01 * expected
    assert abs(g.grain_x_px - g.grain_y_px) < 0.05 * expected
    # the measured autocovariance itself follows exp(-r^2 / (2 a^2)) at the first lags
    prof = S.intensity_autocorrelation(imgs, max_lag=4).profile("x")
    assert prof[:3] == pytest.approx(np.exp(-np.arange(3) ** 2 / (2 * a * a)), abs=0.03)


def test_flat_pixels_and_image_shape(rng):
    imgs = gaussian_speckle(rng, 3, 24, 40, 2.0)
    flat = imgs.reshape(3, -1)
    a = S.grain_size(imgs)
    b = S.grain_size(flat, image_shape=(24, 40))
    assert a == b
    with pytest.raises(ShapeError, match="image"):
        S.grain_size(flat, image_shape=(25, 40))
    with pytest.raises(ShapeError, match="image_shape"):
        S.intensity_autocorrelation(flat[0])  # flat pixels need the image shape
    assert S.as_images(imgs[0]).shape == (1, 24, 40)


# ---------------------------------------------------------------------------------------------
# row / column correlation
# ---------------------------------------------------------------------------------------------


def test_row_column_correlation(rng):
    t = cgauss(rng, (300, 200))
    c = S.row_column_correlation(t, max_lag=3)
    assert c.lags.tolist() == [1, 2, 3]
    # |rho| of independent vectors: Rayleigh of mean sqrt(pi/(4m)), sd sqrt((4-pi)/(4m)); mean over ~300 pairs
    for vals, m, n_pairs in ((c.rows, 200, 300), (c.cols, 300, 200)):
        sd = math.sqrt((4 - math.pi) / (4 * m)) / math.sqrt(n_pairs)
        assert np.all(np.abs(vals - math.sqrt(math.pi / (4 * m))) < 5 * sd)
    assert c.independent_rows == pytest.approx(math.sqrt(math.pi / 800))
    # neighbouring rows that share most of their field correlate
    t2 = t.copy()
    for i in range(1, t.shape[0]):  # AR(1) along the rows: corr(row i, row i+k) = 0.9^k
        t2[i] = 0.9 * t2[i - 1] + math.sqrt(1 - 0.81) * t[i]
    c2 = S.row_column_correlation(t2, 2)
    assert c2.rows == pytest.approx([0.9, 0.81], abs=0.03)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValidationError, match="intensity contains 1 NaN"):
        S.speckle_contrast(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValidationError, match=r"intensity must be >= 0"):
        S.intensity_histogram(np.array([1.0, -1.0]))
    with pytest.raises(ValidationError, match="all zero"):
        S.speckle_contrast(np.zeros(10))
    with pytest.raises(DTypeError, match="intensity"):
        S.speckle_contrast(np.array(["a", "b"]))
    with pytest.raises(ShapeError, match="at least 2"):
        S.speckle_contrast(np.array([1.0]))
    with pytest.raises(ShapeError, match="2-D matrix"):
        S.singular_value_statistics(np.ones(5))
    with pytest.raises(ValidationError, match="ratio"):
        S.marchenko_pastur_pdf(1.0, 1.5)
    with pytest.raises(ValidationError, match="bins"):
        S.intensity_histogram(np.ones(10), bins=1)
    with pytest.raises(ValidationError, match="correlation_area_px"):
        S.speckle_contrast(np.ones(10), correlation_area_px=0.5)
    with pytest.raises(ValidationError, match="images or an autocorrelation"):
        S.grain_size()
