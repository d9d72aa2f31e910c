"""Which random-matrix ensemble a transmission matrix belongs to, and whether speckle is fully
developed: laws, fits and calibrated tests that do not assume the answer.

Singular-value ensembles (eigenvalues x of T^H T, or T T^H for the smaller side, divided by
their mean, so the TM's scale does not matter)
----------------------------------------------------------------------------------------------
* ``iid-gaussian``: Marchenko-Pastur law of ratio q = min / max of the shape (no free
  parameter): an i.i.d. circular Gaussian TM (:func:`photonics.statistics.marchenko_pastur_pdf`).
* ``filtered-unitary``: the Wachter law of a block of a Haar unitary (the filtered random matrix
  of a lossless medium with incomplete channel control, Goetschy & Stone 2013), with
  alpha = M_small / N, beta = M_large / N (beta / alpha fixed by the shape, alpha fitted):

      rho(lambda) = sqrt((lambda - l-)(l+ - lambda)) / (2 pi alpha lambda (1 - lambda)),
      l+- = (sqrt(alpha (1 - beta)) +- sqrt(beta (1 - alpha)))^2,

  plus a fraction max(0, (alpha + beta - 1) / alpha) of eigenvalues at 1 (open channels),
  mean beta. alpha -> 0 is Marchenko-Pastur; alpha = beta = 1/2 the bimodal law
  1 / (pi sqrt(lambda (1 - lambda))) of a chaotic cavity.
* ``bimodal``: the DMPK law of a diffusive slab with full channel control,
  rho(T) = c / (T sqrt(1 - T)) on [T_min, 1] (T_min fitted, c = 1 / (2 artanh sqrt(1 - T_min)),
  mean ~ l / L).
* ``quasi-unitary``: not a law but a description, tested last: the singular values are
  concentrated (10th percentile of x >= 0.25 and x_90 / x_10 <= 4) although none of the laws
  fits: a multimode fiber (unitary up to mode-dependent loss and coupling optics), or a
  filtered random matrix seeing nearly all channels.

Rank: a TM whose numerical rank r is below min(shape) (a fiber in the pixel basis has rank N,
the number of guided modes; a speckle medium with grains one channel per grain) is tested on
its r nonzero eigenvalues, against Marchenko-Pastur of ratio r / n_in or r / n_out (the better),
reported as ``rank_limited``.

Calibrated test: the distance of the data to each law is the Kolmogorov-Smirnov distance D of
the normalised eigenvalues (the law's parameter fitted by minimising D). Eigenvalues of random
matrices are strongly correlated, so D has no textbook null distribution; it is calibrated by
Monte Carlo: ``n_null`` matrices of the same shape are drawn from the fitted ensemble and pass
through the same processing (equalisation, normalisation), giving null distances D_k. The
ensemble fits when D <= mean(D_k) + ``z_max`` sd(D_k) (z_max = 4: a false rejection rate well
below 1 %); the empirical p-value (1 + #{D_k >= D}) / (n_null + 1) is reported too. Ensembles
are calibrated in the order of preference (below) until one fits; the later ones get their
distance only (``tested = False``). The null of
the filtered-unitary law is drawn at the fitted alpha without refitting (slightly
conservative); the bimodal null draws independent eigenvalues (no level repulsion: a
conservative, wider null). Preference when several fit: iid-gaussian, filtered-unitary,
bimodal, then the quasi-unitary description.

Equalisation (default on): rows and columns are divided by their rms (a few alternating
passes; an rms below a tenth of the median counts as that tenth, so dark pixels are not blown
up) before the spectrum, so a pixel envelope (illumination, a fiber core on the camera) or
unequal input coupling does not masquerade as a different ensemble; the null matrices are
equalised the same way.

Speckle
-------
Fully developed speckle (a circular Gaussian field) has an exponential intensity law. The test
is a Kolmogorov-Smirnov test of I / <I> (each image divided by its own mean) against
exp(-x), or, when additive noise of known variance s^2 remains (averaged camera frames),
against the exponential convolved with that Gaussian noise (the exponentially modified
Gaussian). The mean is estimated, so the critical value is Stephens' (1974) for the exponential
with estimated scale: (D - 0.2 / n)(sqrt(n) + 0.26 + 0.5 / sqrt(n)) <= 1.308 at the 1 % level
(not 1.36 / sqrt(n), the 5 % value for a fully specified law), with n the effective number of
independent samples, pixels / correlation area (neighbouring pixels share a grain). The
contrast must also be within 4 standard errors (+ ``contrast_tolerance``) of 1.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from photonics.errors import ShapeError, ValidationError
from photonics.statistics import marchenko_pastur_cdf
from photonics.validation import as_float_array, check_int, check_real

log = logging.getLogger(__name__)

__all__ = [
    "ENSEMBLES",
    "filtered_unitary_support",
    "filtered_unitary_pdf",
    "filtered_unitary_cdf",
    "bimodal_pdf",
    "bimodal_cdf",
    "EnsembleFit",
    "EnsembleVerdict",
    "ensemble_verdict",
    "equalize",
    "normalized_eigenvalues",
    "SpeckleVerdict",
    "speckle_verdict",
    "stephens_exponential_critical",
    "ks_distance",
]

ENSEMBLES = ("iid-gaussian", "filtered-unitary", "bimodal", "quasi-unitary")
#: A filtered unitary seeing at least this fraction of the channels on its larger side
#: (beta = M_large / N) is an isometry up to a few closed channels: called quasi-unitary.
UNITARY_ALPHA_FRACTION = 0.9
#: Largest robust condition number sqrt(x_95 / x_5) of a quasi-unitary TM.
QUASI_UNITARY_CONDITION = 10.0
#: Stephens (1974): exponential law with estimated scale, modified-statistic critical values.
_STEPHENS_EXP = {0.10: 0.990, 0.05: 1.094, 0.025: 1.190, 0.01: 1.308}


# ----------------------------------------------------------------------------------------------
# laws
# ----------------------------------------------------------------------------------------------
def _check_ab(alpha, beta) -> tuple[float, float]:
    a = check_real(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False, error=ValidationError)
    b = check_real(beta, "beta", low=a, high=1.0, error=ValidationError)
    return a, b


def filtered_unitary_support(alpha: float, beta: float) -> tuple[float, float]:
    """Support (l-, l+) of the continuous part of the Wachter law (alpha <= beta <= 1)."""
    a, b = _check_ab(alpha, beta)
    s1, s2 = math.sqrt(a * (1 - b)), math.sqrt(b * (1 - a))
    return ((s1 - s2) ** 2, (s1 + s2) ** 2)


def filtered_unitary_pdf(lam, alpha: float, beta: float) -> np.ndarray:
    """Continuous part of the density of the eigenvalues of T^H T, T an M_out x M_in block of an
    N x N Haar unitary, alpha = M_in / N <= beta = M_out / N (module docstring); the atom at 1
    (mass max(0, (alpha + beta - 1) / alpha)) is not included."""
    a, b = _check_ab(alpha, beta)
    lo, hi = filtered_unitary_support(a, b)
    lam = np.asarray(lam, dtype=np.float64)
    inside = (lam > lo) & (lam < hi)
    ls = np.where(inside, lam, 0.5)
    return np.where(inside, np.sqrt(np.clip((ls - lo) * (hi - ls), 0, None)) / (2 * math.pi * a * ls * (1 - ls)), 0.0)


def filtered_unitary_cdf(lam, alpha: float, beta: float, n_grid: int = 2049) -> np.ndarray:
    """CDF of the Wachter law including its atom at 1 (numerical, substitution
    lambda = l- + (l+ - l-) sin^2 t, which removes the square-root edges)."""
    a, b = _check_ab(alpha, beta)
    lo, hi = filtered_unitary_support(a, b)
    atom = max(0.0, (a + b - 1.0) / a)
    t = np.linspace(0.0, math.pi / 2, n_grid)
    lt = lo + (hi - lo) * np.sin(t) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        integ = (hi - lo) ** 2 * np.sin(2 * t) ** 2 / (4 * math.pi * a * lt * (1 - lt))
    # finite limits where l- = 0 or l+ = 1 (0/0 at the end points)
    if not np.isfinite(integ[0]):
        integ[0] = integ[1] if n_grid > 1 else 0.0
    if not np.isfinite(integ[-1]):
        integ[-1] = integ[-2]
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (integ[1:] + integ[:-1]) * np.diff(t))])
    cum *= (1.0 - atom) / cum[-1] if cum[-1] > 0 else 0.0
    lam = np.asarray(lam, dtype=np.float64)
    out = np.interp(lam, lt, cum, left=0.0, right=1.0 - atom)
    return np.where(lam >= 1.0, 1.0, out)


def _check_tmin(t_min) -> float:
    return check_real(t_min, "t_min", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False, error=ValidationError)


def _two_artanh(t):
    """2 artanh(sqrt(1 - t)) = log((1 + sqrt(1 - t))^2 / t), stable for tiny t."""
    t = np.asarray(t, dtype=np.float64)
    return np.log((1.0 + np.sqrt(np.clip(1.0 - t, 0.0, 1.0))) ** 2 / t)


def bimodal_pdf(t, t_min: float) -> np.ndarray:
    """DMPK bimodal density c / (T sqrt(1 - T)) on [t_min, 1), c = 1 / (2 artanh sqrt(1 - t_min))."""
    tm = _check_tmin(t_min)
    c = 1.0 / float(_two_artanh(tm))
    t = np.asarray(t, dtype=np.float64)
    inside = (t >= tm) & (t < 1.0)
    ts = np.where(inside, t, 0.5)
    return np.where(inside, c / (ts * np.sqrt(1.0 - ts)), 0.0)


def bimodal_cdf(t, t_min: float) -> np.ndarray:
    """CDF of the DMPK bimodal law (closed form)."""
    tm = _check_tmin(t_min)
    big = float(_two_artanh(tm))
    t = np.clip(np.asarray(t, dtype=np.float64), tm, 1.0)
    return np.where(t >= 1.0, 1.0, (big - _two_artanh(t)) / big)


def _bimodal_mean(t_min: float) -> float:
    """Mean 2 c sqrt(1 - t_min) of the DMPK law."""
    return 2.0 * math.sqrt(1.0 - t_min) / float(_two_artanh(t_min))


def ks_distance(sorted_x: np.ndarray, cdf_values: np.ndarray) -> float:
    """sup |F_emp - F| for sorted samples and the law's CDF at them."""
    n = sorted_x.size
    k = np.arange(1, n + 1)
    return float(max(np.max(k / n - cdf_values), np.max(cdf_values - (k - 1) / n)))


# ----------------------------------------------------------------------------------------------
# spectra
# ----------------------------------------------------------------------------------------------
def equalize(tm: np.ndarray, n_pass: int = 3, floor: float = 0.1) -> np.ndarray:
    """Divide rows and columns by their rms, alternating ``n_pass`` times.

    An rms below ``floor`` x the median is divided by that floor instead: dark rows (camera
    pixels outside a fiber core, nearly no light) are not blown up into noise.
    """
    t = np.array(tm, dtype=np.complex128)
    for _ in range(n_pass):
        for axis in (1, 0):
            r = np.sqrt(np.mean(np.abs(t) ** 2, axis=axis, keepdims=True))
            lo = floor * float(np.median(r))
            t /= np.maximum(r, lo) if lo > 0 else np.where(r > 0, r, 1.0)
    return t


def _eigs(t: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending, >= 0) of the smaller Gram matrix, BLAS on one thread."""
    from photonics.medium.blas_threads import single_blas_thread

    gram = t.conj().T @ t if t.shape[1] <= t.shape[0] else t @ t.conj().T
    with single_blas_thread():
        ev = np.linalg.eigvalsh(gram)
    return np.clip(ev, 0.0, None)


def normalized_eigenvalues(tm, *, equalized: bool = True, rank_tol: float = 1e-5) -> tuple[np.ndarray, int]:
    """Nonzero eigenvalues of the smaller Gram matrix divided by their mean (sorted), and the rank.

    The numerical rank counts singular values above ``rank_tol`` x the largest (float32
    storage resolves ~1e-7).
    """
    t = as_float_array(tm, "tm", dtype=np.float64, allow_complex=True)
    if t.ndim != 2 or min(t.shape) < 2:
        raise ShapeError(f"tm must be a 2-D matrix with both sizes >= 2 (got shape {t.shape})")
    if not np.any(t):
        raise ValidationError("tm is all zero")
    if equalized:
        t = equalize(t)
    ev = _eigs(np.asarray(t, dtype=np.complex128))
    s = np.sqrt(ev)
    rank = int(np.count_nonzero(s > rank_tol * s.max()))
    x = np.sort(ev[ev.size - rank :])
    return x / x.mean(), rank


# ----------------------------------------------------------------------------------------------
# random draws for the null distributions
# ----------------------------------------------------------------------------------------------
def _cgauss(rng, shape) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * math.sqrt(0.5)


def _draw_iid(rng, shape, rank: int | None) -> np.ndarray:
    n_out, n_in = shape
    if rank is None or rank >= min(shape):
        return _cgauss(rng, shape)
    return _cgauss(rng, (n_out, rank)) @ _cgauss(rng, (rank, n_in))


def _wishart_bartlett(rng, m: int, dof: int) -> np.ndarray:
    """Complex Wishart W = L L^H of m x m with ``dof`` degrees of freedom (Bartlett), cost O(m^2) draws."""
    lo = np.zeros((m, m), dtype=np.complex128)
    lo[np.tril_indices(m, -1)] = _cgauss(rng, m * (m - 1) // 2)
    lo[np.diag_indices(m)] = np.sqrt(rng.chisquare(2 * (dof - np.arange(m))) / 2.0)
    return lo @ lo.conj().T


def _draw_filtered(rng, shape, alpha: float) -> np.ndarray:
    """A block (shape) of an N x N Haar unitary, N = min(shape) / alpha, in O(min^2 max) work:
    with G = [G1; G2] Gaussian (N x m), T = G1 (G1^H G1 + W2)^(-1/2), W2 = G2^H G2 Wishart."""
    n_out, n_in = shape
    m_small = min(shape)
    n_ch = max(max(shape), int(round(m_small / alpha)))
    transpose = n_in > n_out  # work with the input side as the small one
    rows, cols = (n_in, n_out) if transpose else (n_out, n_in)
    g1 = _cgauss(rng, (rows, cols))
    dof = n_ch - rows
    w = g1.conj().T @ g1
    if dof >= cols:
        w = w + _wishart_bartlett(rng, cols, dof)
    elif dof > 0:
        g2 = _cgauss(rng, (dof, cols))
        w = w + g2.conj().T @ g2
    lam, vec = np.linalg.eigh(w)
    inv_sqrt = (vec / np.sqrt(np.clip(lam, 1e-300, None))) @ vec.conj().T
    t = g1 @ inv_sqrt
    return t.T if transpose else t


def _haar(rng, n: int) -> np.ndarray:
    q, r = np.linalg.qr(_cgauss(rng, (n, n)))
    d = np.diag(r)
    return q * (d / np.abs(d))[None, :]


def _draw_cavity_chain(rng, n: int, n_cavities: int) -> np.ndarray:
    """Transmission block (n x n) of a chain of ``n_cavities`` chaotic cavities in series, each a
    2n x 2n Haar scattering matrix [[r, t'], [t, r']]; composing A then B:
    t = t_B (1 - r'_A r_B)^-1 t_A, r' = r'_B + t_B (1 - r'_A r_B)^-1 r'_A t'_B.
    Its transmission eigenvalues tend to the DMPK bimodal law for long chains (level
    repulsion included)."""
    eye = np.eye(n)
    s = _haar(rng, 2 * n)
    t, rp = s[n:, :n], s[n:, n:]
    for _ in range(n_cavities - 1):
        s = _haar(rng, 2 * n)
        r_b, tp_b, t_b, rp_b = s[:n, :n], s[:n, n:], s[n:, :n], s[n:, n:]
        m = t_b @ np.linalg.inv(eye - rp @ r_b)
        t, rp = m @ t, rp_b + m @ rp @ tp_b
    return t


# ----------------------------------------------------------------------------------------------
# fits
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnsembleFit:
    """Distance of a TM's spectrum to one ensemble, with its Monte-Carlo calibration.

    Attributes
    ----------
    ensemble : str
    parameters : dict
        Fitted or fixed parameters of the law (q; alpha, beta; t_min).
    ks_distance : float
        KS distance D of the normalised eigenvalues to the law.
    null_mean, null_sd : float
        Mean and sd of D over the null draws.
    z : float
        (D - null_mean) / null_sd.
    p_value : float
        Empirical (1 + #{D_k >= D}) / (n_null + 1).
    fits : bool
        z <= z_max.
    tested : bool
        False when an ensemble earlier in the order of preference already fitted (then only
        the distance is computed; null statistics are NaN).
    """

    ensemble: str
    parameters: dict
    ks_distance: float
    null_mean: float
    null_sd: float
    z: float
    p_value: float
    fits: bool
    tested: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EnsembleVerdict:
    """Which ensemble fits a TM (see the module docstring).

    Attributes
    ----------
    verdict : str
        One of :data:`ENSEMBLES`, or ``"none"``.
    statement : str
        One sentence for people.
    shape : (int, int)
    rank : int
        Numerical rank.
    rank_limited : bool
        rank < min(shape).
    equalized : bool
    fits : list of EnsembleFit
    spread : dict
        x_10, x_50, x_90 percentiles of the normalised eigenvalues and the singular-value
        condition number (of the nonzero part).
    n_null : int
    z_max : float
    """

    verdict: str
    statement: str
    shape: tuple[int, int]
    rank: int
    rank_limited: bool
    equalized: bool
    fits: list = field(default_factory=list)
    spread: dict = field(default_factory=dict)
    n_null: int = 0
    z_max: float = 4.0

    def fit(self, ensemble: str) -> EnsembleFit | None:
        """The fit of one ensemble, if it was tested."""
        for f in self.fits:
            if f.ensemble == ensemble:
                return f
        return None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


_NULL_CACHE: dict = {}
_CACHE_MAX = 256


def _null_distances(kind, shape, rank, param, cdf, n_null, seed, equalized) -> np.ndarray:
    """KS distances of ``n_null`` draws of an ensemble to its law (cached per setting)."""
    key = (kind, tuple(shape), rank, None if param is None else round(float(param), 4), n_null, seed, equalized)
    if key in _NULL_CACHE:
        return _NULL_CACHE[key]
    from photonics.medium.blas_threads import single_blas_thread
    from photonics.rng import generator

    rng = generator(seed, "ensembles", kind, f"{shape[0]}x{shape[1]}", str(rank), "" if param is None else f"{float(param):.4f}")
    out = np.empty(n_null)
    with single_blas_thread():
        _fill_null(out, kind, shape, rank, param, cdf, rng, equalized)
    if len(_NULL_CACHE) >= _CACHE_MAX:
        _NULL_CACHE.clear()
    _NULL_CACHE[key] = out
    return out


def _fill_null(out, kind, shape, rank, param, cdf, rng, equalized) -> None:
    for k in range(out.size):
        if kind == "iid-gaussian":
            t = _draw_iid(rng, shape, rank)
        elif kind == "filtered-unitary":
            t = _draw_filtered(rng, shape, param)
        else:  # bimodal: a chain of chaotic cavities of the fitted mean transmission ~ 1 / (K + 1)
            k_cav = max(2, int(round(1.0 / _bimodal_mean(param) - 1.0)))
            t = _draw_cavity_chain(rng, shape[0], k_cav)
        x, _ = normalized_eigenvalues(t, equalized=equalized)
        out[k] = ks_distance(x, cdf(x))


def _round_param(v: float) -> float:
    """A fitted parameter rounded to 2 significant digits: the null of a nearby law (cached)."""
    if v <= 0:
        return v
    e = math.floor(math.log10(v)) - 1
    return float(round(v / 10**e) * 10**e)


def _mp_law(q: float):
    return lambda x: marchenko_pastur_cdf(x, q)


def _filtered_law(alpha: float, ratio: float):
    beta = alpha * ratio
    return lambda x: filtered_unitary_cdf(x * beta, alpha, beta)


def _bimodal_law(t_min: float):
    mean = _bimodal_mean(t_min)
    return lambda x: bimodal_cdf(x * mean, t_min)


def _golden(f, lo, hi, n_iter=28):
    """Minimise a unimodal-ish f on [lo, hi] (golden section after a coarse scan)."""
    grid = np.linspace(lo, hi, 17)
    vals = [f(g) for g in grid]
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    gr = (math.sqrt(5) - 1) / 2
    c, d = b - gr * (b - a), a + gr * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(n_iter):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - gr * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + gr * (b - a)
            fd = f(d)
    best = c if fc < fd else d
    fb = min(fc, fd)
    return (grid[i], vals[i]) if vals[i] < fb else (best, fb)


def _make_fit(kind, params, d, null, z_max) -> EnsembleFit:
    mean, sd = float(null.mean()), float(null.std(ddof=1)) if null.size > 1 else 0.0
    sd = max(sd, 1e-12)
    z = (d - mean) / sd
    p = float((1 + np.count_nonzero(null >= d)) / (null.size + 1))
    return EnsembleFit(kind, params, float(d), mean, sd, float(z), p, bool(z <= z_max))


def ensemble_verdict(
    tm,
    *,
    equalized: bool = True,
    n_null: int = 24,
    z_max: float = 4.0,
    seed: int = 0,
    rank_tol: float = 1e-5,
) -> EnsembleVerdict:
    """Compare a TM with the ensembles of the module docstring and say which fits.

    Parameters
    ----------
    tm : array (n_out, n_in), complex or real
        The TM (any scale; a block of a larger TM is judged as the block it is).
    equalized : bool
        Equalise row and column powers first (data and null draws alike).
    n_null : int
        Monte-Carlo draws per ensemble for the null distribution of the KS distance (>= 4).
    z_max : float
        Acceptance threshold in null standard deviations.
    seed : int
        Seed of the null draws (they are cached per shape, rank and parameter).
    rank_tol : float
        Relative singular-value threshold of the numerical rank.
    """
    n_null = check_int(n_null, "n_null", low=4, high=10_000, error=ValidationError)
    z_max = check_real(z_max, "z_max", low=0.0, error=ValidationError)
    t = as_float_array(tm, "tm", dtype=np.float64, allow_complex=True)
    x, rank = normalized_eigenvalues(t, equalized=equalized, rank_tol=rank_tol)
    shape = (int(t.shape[0]), int(t.shape[1]))
    small, big = min(shape), max(shape)
    limited = rank < small
    # candidates in order of preference: (name, parameters, D, null thunk)
    cands: list = []
    if not limited:
        q = small / big
        law = _mp_law(q)
        cands.append(("iid-gaussian", {"q": q}, ks_distance(x, law(x)),
                      lambda law=law: _null_distances("iid-gaussian", shape, None, None, law, n_null, seed, equalized)))
    elif rank >= 2:
        best = None
        for other in sorted({shape[1], shape[0]}):
            if other <= rank:
                continue
            q = rank / other
            law = _mp_law(q)
            d = ks_distance(x, law(x))
            if best is None or d < best[0]:
                best = (d, q, other)
        if best is not None:
            d, q, other = best
            law = _mp_law(q)
            cands.append(("iid-gaussian", {"q": q, "rank": rank}, d,
                          lambda law=law, sub=(rank, other): _null_distances("iid-gaussian", sub, None, None, law, n_null, seed, equalized)))
    if not limited:
        ratio = big / small
        a_max = 1.0 / ratio

        def dist(a):
            law = _filtered_law(a, ratio)
            return ks_distance(x, law(x))

        a_fit, d = _golden(dist, 0.02 * a_max, a_max)
        a_fit = float(a_fit)
        a_null = _round_param(a_fit)
        cands.append(("filtered-unitary", {"alpha": a_fit, "beta": a_fit * ratio, "n_channels": small / a_fit}, d,
                      lambda: _null_distances("filtered-unitary", shape, None, a_null, _filtered_law(a_null, ratio), n_null, seed, equalized)))
    if not limited and shape[0] == shape[1] and rank >= 4:  # DMPK: full channel control

        def dist_b(lt):
            law = _bimodal_law(math.exp(lt))
            return ks_distance(x, law(x))

        # t_min = 4 exp(-2 L / l) ~ 4 exp(-2 / <T>): from L / l = 2 (<T> ~ 0.5) to L / l = 40
        lt_fit, d = _golden(dist_b, math.log(4.0) - 80.0, math.log(4.0) - 4.0)
        t_min = float(math.exp(lt_fit))
        t_null = _round_param(t_min)
        cands.append(("bimodal", {"t_min": t_min, "mean_transmission": _bimodal_mean(t_min)}, d,
                      lambda: _null_distances("bimodal", shape, rank, t_null, _bimodal_law(t_null), n_null, seed, equalized)))
    # calibrate in order until one fits; later ones keep their distance, untested
    fits: list[EnsembleFit] = []
    found = False
    for name, params, d, null_fn in cands:
        if found:
            fits.append(EnsembleFit(name, params, float(d), math.nan, math.nan, math.nan, math.nan, False, tested=False))
            continue
        f = _make_fit(name, params, d, null_fn(), z_max)
        fits.append(f)
        found = f.fits
    # -- verdict ----------------------------------------------------------------------------------
    x5, x50, x95 = (float(v) for v in np.percentile(x, [5, 50, 95]))
    spread = {
        "x5": x5,
        "x50": x50,
        "x95": x95,
        "condition_number": float(math.sqrt(x[-1] / x[0])) if x[0] > 0 else math.inf,
        "condition_number_robust": float(math.sqrt(x95 / x5)) if x5 > 0 else math.inf,
    }
    by = {f.ensemble: f for f in fits}
    verdict = "none"
    if "iid-gaussian" in by and by["iid-gaussian"].fits:
        verdict = "iid-gaussian"
    elif "filtered-unitary" in by and by["filtered-unitary"].fits:
        f = by["filtered-unitary"]
        verdict = "quasi-unitary" if f.parameters["beta"] >= UNITARY_ALPHA_FRACTION else "filtered-unitary"
    elif "bimodal" in by and by["bimodal"].fits:
        verdict = "bimodal"
    elif spread["condition_number_robust"] <= QUASI_UNITARY_CONDITION:
        verdict = "quasi-unitary"
    statement = _statement(verdict, fits, spread, rank, shape, limited)
    return EnsembleVerdict(
        verdict=verdict,
        statement=statement,
        shape=shape,
        rank=rank,
        rank_limited=limited,
        equalized=bool(equalized),
        fits=fits,
        spread=spread,
        n_null=n_null,
        z_max=z_max,
    )


def _statement(verdict, fits, spread, rank, shape, limited) -> str:
    rk = f" (rank {rank} < {min(shape)}: {rank} channels carry the light)" if limited else ""
    if verdict == "iid-gaussian":
        return "i.i.d. circular Gaussian medium: the singular values follow Marchenko-Pastur" + rk
    if verdict == "filtered-unitary":
        f = next(f for f in fits if f.ensemble == "filtered-unitary")
        return (
            f"NOT an i.i.d. Gaussian medium: a filtered random matrix (quasi-unitary scattering with incomplete channel control, "
            f"M/N = {f.parameters['alpha']:.3g} of ~{f.parameters['n_channels']:.0f} channels)" + rk
        )
    if verdict == "bimodal":
        return "NOT an i.i.d. Gaussian medium: bimodal (DMPK) transmission eigenvalues of a diffusive slab" + rk
    if verdict == "quasi-unitary" and any(f.ensemble == "filtered-unitary" and f.fits for f in fits):
        return "NOT an i.i.d. Gaussian medium: quasi-unitary (a filtered unitary seeing nearly all its channels: an isometry)" + rk
    if verdict == "quasi-unitary":
        return (
            f"NOT an i.i.d. Gaussian medium: quasi-unitary (singular values concentrated, condition number "
            f"{spread['condition_number']:.3g}; no random-matrix law fits: a multimode fiber or similar)" + rk
        )
    return "NOT an i.i.d. Gaussian medium, and none of the tested ensembles fits" + rk


# ----------------------------------------------------------------------------------------------
# speckle
# ----------------------------------------------------------------------------------------------
def stephens_exponential_critical(level: float = 0.01) -> float:
    """Critical value of Stephens' modified KS statistic for the exponential with estimated mean."""
    if level not in _STEPHENS_EXP:
        raise ValidationError(f"level must be one of {sorted(_STEPHENS_EXP)} (got {level!r})")
    return _STEPHENS_EXP[level]


def _emg_cdf(y: np.ndarray, s: float) -> np.ndarray:
    """CDF of X + N, X ~ Exp(1), N ~ N(0, s^2) (exponentially modified Gaussian)."""
    from scipy.special import log_ndtr, ndtr

    if s <= 0:
        return np.where(y > 0, -np.expm1(-np.clip(y, 0, None)), 0.0)
    a = ndtr(y / s)
    b = np.exp(-y + 0.5 * s * s + log_ndtr(y / s - s))
    return np.clip(a - b, 0.0, 1.0)


@dataclass(frozen=True)
class SpeckleVerdict:
    """Calibrated test of fully developed speckle (see the module docstring).

    Attributes
    ----------
    fully_developed : bool
    ks_statistic : float
        KS distance of I / <I> (per image) to the exponential (noise-convolved if noise given).
    ks_critical : float
        Critical distance at ``level`` for n_effective samples.
    level : float
    n_effective : float
        Samples / correlation area.
    contrast, contrast_stderr : float
    contrast_ok : bool
    statement : str
    """

    fully_developed: bool
    ks_statistic: float
    ks_critical: float
    level: float
    n_effective: float
    contrast: float
    contrast_stderr: float
    contrast_ok: bool
    statement: str

    def to_dict(self) -> dict:
        return asdict(self)


def speckle_verdict(
    images,
    *,
    correlation_area_px: float = 1.0,
    noise_var: float = 0.0,
    contrast: float | None = None,
    contrast_stderr: float | None = None,
    level: float = 0.01,
    contrast_tolerance: float = 0.0,
) -> SpeckleVerdict:
    """Is the speckle fully developed (exponential intensity law)? The one rule of inspect and calibration.

    Parameters
    ----------
    images : array (n_images, n_pixels) or (n_images, rows, cols)
        Intensities (dark-subtracted; may be slightly negative from noise).
    correlation_area_px : float
        Pixels per independent grain (>= 1).
    noise_var : float
        Variance of additive pixel-independent noise left in the images [unit^2].
    contrast, contrast_stderr : float, optional
        Noise-corrected contrast and its standard error (default: computed from the images,
        corrected by noise_var, with stderr 1 / sqrt(n_effective)).
    level : float
        Test level (0.10, 0.05, 0.025 or 0.01).
    contrast_tolerance : float
        Extra allowed |C - 1| for known systematic effects.
    """
    st = as_float_array(images, "images", dtype=np.float64)
    if st.ndim < 2 or st.shape[0] < 1:
        raise ShapeError(f"images must be (n_images, pixels...) (got shape {st.shape})")
    st = st.reshape(st.shape[0], -1)
    area = check_real(correlation_area_px, "correlation_area_px", low=1.0, error=ValidationError)
    noise_var = check_real(noise_var, "noise_var", low=0.0, error=ValidationError)
    crit_mod = stephens_exponential_critical(level)
    means = st.mean(axis=1, keepdims=True)
    if np.any(means <= 0):
        raise ValidationError("every image needs a positive mean intensity")
    x = np.sort((st / means).ravel())
    s_rel = math.sqrt(noise_var) / float(np.mean(means))
    cdf = _emg_cdf(x, s_rel)
    d = ks_distance(x, cdf)
    n_eff = x.size / area
    crit = crit_mod / (math.sqrt(n_eff) + 0.26 + 0.5 / math.sqrt(n_eff)) + 0.2 / n_eff
    if contrast is None:
        v = float(np.var(st / means)) - s_rel**2
        contrast = math.sqrt(max(v, 0.0))
    if contrast_stderr is None:
        contrast_stderr = 1.0 / math.sqrt(n_eff)
    c_ok = abs(contrast - 1.0) <= 4.0 * contrast_stderr + contrast_tolerance
    ks_ok = d <= crit
    fully = bool(ks_ok and c_ok)
    if fully:
        text = f"fully developed speckle (KS {d:.3g} <= {crit:.3g} at {level:g}; contrast {contrast:.3f}): consistent with an i.i.d. circular Gaussian medium"
    else:
        why = []
        if not ks_ok:
            why.append(f"intensity law not exponential: KS {d:.3g} > {crit:.3g} at level {level:g} (n_eff {n_eff:.0f})")
        if not c_ok:
            why.append(f"contrast {contrast:.3f} +/- {contrast_stderr:.3f} != 1")
        text = "NOT fully developed speckle, so NOT an i.i.d. circular Gaussian medium: " + "; ".join(why)
    return SpeckleVerdict(
        fully_developed=fully,
        ks_statistic=float(d),
        ks_critical=float(crit),
        level=float(level),
        n_effective=float(n_eff),
        contrast=float(contrast),
        contrast_stderr=float(contrast_stderr),
        contrast_ok=bool(c_ok),
        statement=text,
    )
