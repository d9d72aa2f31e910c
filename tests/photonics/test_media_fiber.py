"""Multimode fiber: guided modes against closed forms, unitarity, coupling regimes, bases."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import jn_zeros, jv, kv

from photonics import OPU, DeviceConfig
from photonics.errors import ConfigError, ValidationError
from photonics.medium import MultimodeFiberMedium
from photonics.medium.fiber_modes import coupling_rates, solve_fiber_modes

LAM = 1.064e-6
NA = 0.2


def radius_for_v(v):
    return v * LAM / (2 * math.pi * NA)


def lp_cutoff_count(v):
    """Guided scalar modes of a step-index fiber from the LP cut-offs (zeros of J_{l-1}), x2 for l >= 1."""
    total = 0
    for ell in range(0, 200):
        zeros = np.concatenate([[0.0], jn_zeros(1, 200)]) if ell == 0 else jn_zeros(ell - 1, 200)
        n = int(np.sum(zeros < v))
        if n == 0:
            break
        total += n * (1 if ell == 0 else 2)
    return total


def step_index_u(v, ell, m):
    """U of LP_lm from U J_{l-1}(U) / J_l(U) = -W K_{l-1}(W) / K_l(W), W^2 = V^2 - U^2 (independent root finder)."""

    def f(u):
        w = np.sqrt(v * v - u * u)
        return u * jv(ell - 1, u) / jv(ell, u) + w * kv(ell - 1, w) / kv(ell, w)

    grid = np.linspace(1e-6, v - 1e-9, 40000)
    with np.errstate(all="ignore"):
        vals = f(grid)
    roots = [brentq(f, grid[i], grid[i + 1]) for i in range(grid.size - 1)
             if np.sign(vals[i]) != np.sign(vals[i + 1]) and abs(vals[i]) < 50 and abs(vals[i + 1]) < 50]
    return roots[m - 1]


def test_graded_index_modes_match_the_parabolic_closed_form():
    # V / 2 = 10.5: groups q = 1..10 are guided (q < V/2), none near its cut-off
    v = 21.0
    modes = solve_fiber_modes("graded-index", core_radius_m=radius_for_v(v), numerical_aperture=NA, wavelength_m=LAM)
    assert modes.v_number == pytest.approx(v, rel=1e-12)
    g = 10
    assert modes.n_modes == g * (g + 1) // 2 == 55  # groups of q modes each
    assert abs(modes.n_modes / (v * v / 8) - 1) < 0.01  # the WKB count V^2/8 per polarisation
    counts = np.bincount(modes.group)[1:]
    assert np.array_equal(counts, np.arange(1, g + 1))
    # U^2 = 2 V q (infinite parabola) for the well-confined groups, well within 1 %
    inner = modes.group <= g - 2
    rel = modes.u2[inner] / (2 * v * modes.group[inner]) - 1
    assert np.max(np.abs(rel)) < 1e-3
    # propagation constants: beta^2 = k^2 n1^2 - U^2 / a^2
    k = 2 * math.pi / LAM
    beta_closed = np.sqrt((k * modes.core_index) ** 2 - 2 * v * modes.group / modes.core_radius_m**2)
    assert np.max(np.abs(modes.beta_per_m / beta_closed - 1)[inner]) < 1e-4  # acceptance: 1 %
    # near-degenerate groups: splitting inside a group << spacing 2V between groups
    for q in range(1, g + 1):
        u = modes.u2[modes.group == q]
        assert u.max() - u.min() < (0.01 if q <= g - 2 else 0.1) * 2 * v


@pytest.mark.parametrize("v", [5.3, 10.5, pytest.param(17.3, marks=pytest.mark.slow)])
def test_step_index_counts_and_constants_match_lp_cutoffs(v):
    modes = solve_fiber_modes("step-index", core_radius_m=radius_for_v(v), numerical_aperture=NA, wavelength_m=LAM)
    assert modes.n_modes == lp_cutoff_count(v)
    for j in range(0, modes.n_modes, max(1, modes.n_modes // 8)):
        u_exact = step_index_u(v, int(modes.l[j]), int(modes.m[j]))
        assert abs(modes.u2[j] / u_exact**2 - 1) < 0.01
    assert modes.l[0] == 0 and modes.m[0] == 1 and modes.group[0] == 1  # LP01 first


def test_mode_fields_are_orthonormal():
    modes = solve_fiber_modes("graded-index", core_radius_m=radius_for_v(12.0), numerical_aperture=NA, wavelength_m=LAM)
    a = modes.core_radius_m
    x = np.linspace(-3 * a, 3 * a, 161)
    xx, yy = np.meshgrid(x, x)
    f = modes.fields(xx, yy).reshape(modes.n_modes, -1)
    gram = f @ f.T * (x[1] - x[0]) ** 2
    assert np.allclose(gram, np.eye(modes.n_modes), atol=2e-3)
    # Parseval: the unitary Fourier transform keeps the norm (polar grid in k)
    k = (np.arange(200) + 0.5) * (5 * modes.k0 * NA / 200)
    phi = (np.arange(48) + 0.5) * (2 * math.pi / 48)
    kk, pp = np.meshgrid(k, phi, indexing="ij")
    s = modes.spectra(kk * np.cos(pp), kk * np.sin(pp))
    norm = np.sum(np.abs(s) ** 2 * kk, axis=(1, 2)) * (k[1] - k[0]) * (phi[1] - phi[0])
    assert np.allclose(norm, 1.0, atol=5e-3)


def fiber(basis="modes", n_in=None, n_out=None, **kw):
    v = 16.5
    n = solve_fiber_modes("graded-index", core_radius_m=radius_for_v(v), numerical_aperture=NA, wavelength_m=LAM).n_modes
    n_in = n if n_in is None else n_in
    n_out = n if n_out is None else n_out
    return MultimodeFiberMedium(n_in, n_out, kw.pop("seed", 1), wavelength_m=LAM, core_radius_m=radius_for_v(v),
                                numerical_aperture=NA, basis=basis, **kw)


def test_lossless_fiber_is_unitary():
    med = fiber(deformation_rms=1e-3, bend_curvature_rms_per_m=5.0, correlation_length_m=3e-4)
    u = med.propagator
    assert np.max(np.abs(u.conj().T @ u - np.eye(u.shape[0]))) < 1e-12
    t = med.matrix().astype(np.complex128)
    gram = t.conj().T @ t / np.mean(np.diag(t.conj().T @ t))
    assert np.max(np.abs(gram - np.eye(t.shape[1]))) < 1e-5  # complex64 storage


def test_weak_and_strong_coupling():
    weak = fiber(deformation_rms=1e-3, correlation_length_m=1e-3)
    strong = fiber(deformation_rms=3e-3, bend_curvature_rms_per_m=30.0, correlation_length_m=1e-4)
    groups = np.bincount(weak.modes.group)
    full_mixing = float(np.sum(groups**2) / weak.modes.n_modes**2)
    assert weak.group_power_fraction() > 0.999  # block-diagonal by degenerate group
    assert abs(strong.group_power_fraction() - full_mixing) < 0.05  # a random unitary spreads power evenly
    p = np.abs(weak.propagator) ** 2
    assert np.all(p[np.ix_(weak.modes.group == 1, weak.modes.group != 1)] < 1e-4)


def test_coupling_follows_coupled_power_theory():
    """Short fiber: the mean power moved from mode j to mode k is h_jk L (first order of the
    coupled power equations), averaged over the disorder (seeds)."""
    length = 0.02
    kw = dict(deformation_rms=3e-4, correlation_length_m=1e-3, length_m=length)
    base = fiber(**kw)
    h = base.rates.copy()
    np.fill_diagonal(h, 0.0)
    pairs = h * length > 1e-5
    assert np.max(np.sum(h, axis=1)) * length < 0.05  # first order holds
    acc = np.zeros_like(h)
    n_seeds = 12
    for s in range(n_seeds):
        acc += np.abs(fiber(seed=100 + s, **kw).propagator.T) ** 2  # [j, k]: power from j into k
    mean = acc / n_seeds
    ratio = mean[pairs].sum() / (h[pairs] * length).sum()
    assert abs(ratio - 1) < 0.15, ratio  # 2nd-order corrections and the finite ensemble


def test_mode_dependent_loss():
    med = fiber(deformation_rms=1e-4, mode_dependent_loss_db=6.0)
    s = np.linalg.svd(med.propagator, compute_uv=False)
    assert 20 * math.log10(s.max() / s.min()) == pytest.approx(6.0, rel=0.01)
    assert s.max() == pytest.approx(1.0, abs=1e-9)


def test_pixel_basis_has_the_rank_of_the_guided_modes():
    n = fiber().modes.n_modes
    med = fiber(basis="pixels", n_in=144, n_out=400, deformation_rms=1e-3, n_cols=216)
    t = med.matrix(cols=slice(0, 216)).astype(np.complex128)
    s = np.linalg.svd(t, compute_uv=False)
    assert np.sum(s > 1e-4 * s[0]) == n  # reference columns included: the light stays in the guided space
    assert np.mean(np.abs(med.matrix().astype(np.complex128)) ** 2) * 144 == pytest.approx(1.0, rel=1e-5)
    assert med.image_shape == (20, 20) and med.output_basis == "pixels"


def test_config_and_errors():
    cfg = DeviceConfig.preset("lab-cmos", n_in=32, n_out=32).replace(
        {"medium.model": "fiber", "medium.output_basis": "modes", "medium.core_radius_m": 5e-6}
    )
    with pytest.raises(ConfigError, match=r"n_in = n_out = its \d+ guided modes"):
        OPU(cfg, seed=0)
    with pytest.raises(ConfigError, match="medium.fiber_profile"):
        DeviceConfig().replace({"medium.model": "fiber", "medium.fiber_profile": "w-profile"})
    with pytest.raises(ConfigError, match="medium.numerical_aperture"):
        DeviceConfig().replace({"medium.numerical_aperture": 2.0})
    with pytest.raises(ValidationError, match="V number"):
        solve_fiber_modes(core_radius_m=1e-3, numerical_aperture=0.5, wavelength_m=LAM)
    with pytest.raises(ValidationError, match="deformation_rms"):
        coupling_rates(fiber().modes, deformation_rms=1.0)


def test_preset_builds_the_105_mode_fiber():
    cfg = DeviceConfig.preset("fiber-grin-modes")
    opu = OPU(cfg, seed=0)
    assert opu.medium.modes.n_modes == 105 and opu.medium.output_basis == "modes"
    assert opu.medium.describe()["modes"]["n_groups"] == 14
