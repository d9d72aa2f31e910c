"""MultiSliceMedium against optics: unitary propagation, free-space diffraction of a Gaussian
beam, ballistic fraction exp(-L/l_s), Gaussian statistics for thick slabs and not for thin
ones, and the memory effect against its closed form."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics import statistics as S
from photonics.errors import ConfigError, ValidationError
from photonics.medium import MultiSliceMedium, build_medium
from tests.helpers import binary_frames

LAM = 532e-9
PITCH = 4.8e-6


def slab(L, ls, *, n_in=64, n_out=256, seed=3, **kw):
    return MultiSliceMedium(n_in, n_out, seed, wavelength_m=LAM, pixel_pitch_m=PITCH, thickness_m=L, scattering_mean_free_path_m=ls, **kw)


@pytest.fixture(scope="module")
def thick():
    return slab(12e-3, 2e-3)  # L / l_s = 6: ballistic fraction 0.25 %


@pytest.fixture(scope="module")
def thin():
    return slab(0.2e-3, 2e-3)  # L / l_s = 0.1: 90 % ballistic


def test_geometry_defaults(thick):
    assert thick.oversampling == 4 and thick.grid_size == 256 and thick.n_slices == 24
    assert thick.dx == pytest.approx(PITCH / 4) and thick.correlation_m == pytest.approx(1.5 * PITCH)
    assert thick.phase_variance == pytest.approx(0.25)
    assert thick.band_edge_fraction() < 1e-3  # nothing wraps around the periodic spectrum


def test_propagation_is_unitary(thick, rng):
    n = thick.grid_size
    f = (rng.standard_normal((2, n, n)) + 1j * rng.standard_normal((2, n, n))).astype(np.complex64)
    g = thick.propagate(f).astype(np.complex128)
    f = f.astype(np.complex128)
    assert np.sum(np.abs(g) ** 2, axis=(1, 2)) == pytest.approx(np.sum(np.abs(f) ** 2, axis=(1, 2)), rel=1e-5)
    ip_in = np.vdot(f[0], f[1])
    assert abs(np.vdot(g[0], g[1]) - ip_in) < 1e-5 * np.linalg.norm(f[0]) * np.linalg.norm(f[1])


def test_free_space_diffraction_of_a_gaussian_beam():
    """Without scattering the propagator must spread a Gaussian beam as w(z) = w0 sqrt(1 + (z/z_R)^2)."""
    L = 20e-3
    m = slab(L, 1.0, n_in=1, n_out=16, n_slices=3, grid_size=256)  # phase variance 7e-3 rad^2 per screen
    m._phasors[:] = 1.0  # switch the screens off: pure angular-spectrum propagation
    n, dx = m.grid_size, m.dx
    y = (np.arange(n) - n / 2) * dx
    w0 = 40e-6
    beam = np.exp(-(y[:, None] ** 2 + y[None, :] ** 2) / w0**2)
    out = m.propagate(beam[None].astype(np.complex64))[0]
    i = np.abs(out) ** 2
    r2 = y[:, None] ** 2 + y[None, :] ** 2
    w_meas = math.sqrt(2 * np.sum(i * r2) / np.sum(i))  # second-moment radius: w^2 = 2 <r^2>
    z_r = math.pi * w0**2 / LAM
    assert w_meas == pytest.approx(w0 * math.sqrt(1 + (L / z_r) ** 2), rel=2e-3)
    # a plane wave only picks up the phase (k_z - k) L
    pw = m.plane_waves([[3, -5]])
    kx, ky = 2 * math.pi * -5 / (n * dx), 2 * math.pi * 3 / (n * dx)
    k = 2 * math.pi / LAM
    phase = np.exp(1j * (math.sqrt(k**2 - kx**2 - ky**2) - k) * L)
    assert np.allclose(m.propagate(pw)[0], pw[0] * phase, atol=1e-5 / n)


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_ballistic_fraction_is_exp_minus_thickness_over_mean_free_path(ratio):
    """The coherent part of the exit field carries exp(-L/l_s) of the power (ensemble mean).

    One realisation's screens average exp(i phi) over a finite grid, so the estimate
    fluctuates from screen set to screen set: the spread is taken over independent seeds.
    """
    est = []
    for seed in range(8):
        m = slab(ratio * 1e-3, 1e-3, n_in=1, n_out=64, seed=seed)
        freqs = np.array([[1, -2]])
        pw = m.plane_waves(freqs)
        out = m.propagate(pw).astype(np.complex128)
        # coherent amplitude: projection on the freely propagated plane wave (|E_free|^2 sums to 1)
        kt = 2 * math.pi * freqs[0] / (m.grid_size * m.dx)
        kz = math.sqrt(m.k**2 - np.sum(kt**2))
        free = pw[0].astype(np.complex128) * np.exp(1j * (kz - m.k) * m.thickness_m)
        est.append(abs(np.vdot(free, out[0])) ** 2)
    assert m.ballistic_fraction == pytest.approx(math.exp(-ratio))
    b = np.array(est)
    assert abs(b.mean() - math.exp(-ratio)) < 5 * b.std(ddof=1) / math.sqrt(b.size)


def test_thick_slab_gives_gaussian_statistics(thick, rng):
    t = thick.matrix().astype(np.complex128)
    i = np.abs(t) ** 2
    assert abs(i.mean() * thick.n_in - 1) < 5 * math.sqrt(4 / i.size)  # E|T|^2 = 1/n_in (lossless)
    # contrast per input mode (columns are independent speckle patterns)
    c = i.std(axis=0) / i.mean(axis=0)
    assert abs(c.mean() - 1) < 5 * c.std(ddof=1) / math.sqrt(c.size)
    h = S.intensity_histogram(i / i.mean(axis=0))
    assert h.ks_statistic < 0.03
    sv = S.singular_value_statistics(t)
    # an i.i.d. Gaussian matrix of the same shape, for scale: its KS distance is O(1/n)
    ref = S.singular_value_statistics(rng.standard_normal((256, 64)) + 1j * rng.standard_normal((256, 64)))
    assert sv.ks_statistic < ref.ks_statistic + 0.06
    lo, hi = sv.support
    assert 0.8 * lo < sv.edge_low and sv.edge_high < 1.15 * hi
    cc = S.row_column_correlation(t, 2)
    assert np.all(cc.cols < 1.5 * cc.independent_cols)  # inputs beyond each other's memory range


def test_thin_slab_is_ballistic_not_gaussian(thin, thick):
    t = thin.matrix().astype(np.complex128)
    i = np.abs(t) ** 2
    c = i.std(axis=0) / i.mean(axis=0)
    assert c.mean() < 0.3  # mostly unscattered light: far from contrast 1
    assert S.singular_value_statistics(t).ks_statistic > 0.5
    assert S.row_column_correlation(t, 1).cols[0] > 0.5  # neighbouring inputs: same pattern, tilted
    assert thin.n_slices == 1 and thin.ballistic_fraction == pytest.approx(math.exp(-0.1))


def test_memory_effect_matches_the_markov_prediction():
    m = slab(2e-3, 1e-3, n_in=16, n_out=64, seed=5)
    steps = np.array([0, 1, 2, 3, 4, 6])
    meas, se = m.tilt_correlation(steps, n_pairs=12)
    theory = m.memory_effect_theory(steps)
    assert meas[0] == pytest.approx(1.0) and theory[0] == pytest.approx(1.0)
    assert np.all(np.diff(theory) < 0) and theory[-1] > math.exp(-2.0)  # floor: the ballistic part
    # |C| over a finite grid has a noise floor ~ 1/sqrt(#grains) ~ 0.02: compare where C > 0.1
    ok = theory > 0.1
    assert np.all(np.abs(meas[ok] - theory[ok]) < 5 * se[ok] + 0.02), (meas, theory, se)
    assert m.tilt_angle_rad(1) == pytest.approx(LAM / (m.grid_size * m.dx))
    # a thin screen keeps perfect memory; a thicker slab loses it faster
    thin = slab(0.05e-3, 1e-3, n_in=16, n_out=64)
    assert np.all(thin.tilt_correlation([1, 4], n_pairs=2)[0] > 0.99)
    thicker = slab(4e-3, 1e-3, n_in=16, n_out=64, seed=5)
    assert thicker.memory_effect_theory([1])[0] < 0.5 * theory[1]
    assert thicker.tilt_correlation([1], n_pairs=4)[0][0] < 0.5 * meas[1]


def test_seeded_and_in_a_device(rng):
    a = slab(1e-3, 1e-3, n_in=8, n_out=16)
    b = slab(1e-3, 1e-3, n_in=8, n_out=16)
    c = slab(1e-3, 1e-3, n_in=8, n_out=16, seed=4)
    assert np.array_equal(a.matrix(), b.matrix()) and not np.allclose(a.matrix(), c.matrix())
    cfg = DeviceConfig.preset("ideal", n_in=36, n_out=64).replace(
        {
            "medium.model": "multislice",
            "medium.thickness_m": 6e-3,
            "medium.scattering_mean_free_path_m": 1e-3,
            "camera.pixel_pitch_m": PITCH,
        }
    )
    med = build_medium(cfg, 2)
    assert isinstance(med, MultiSliceMedium) and med.n_cols == cfg.n_modes_total and med.image_shape == (8, 8)
    assert med.wavelength_m == cfg.laser.wavelength_m and med.pixel_pitch_m == PITCH
    opu = OPU(cfg, seed=2)
    x = binary_frames(rng, 5, 36)
    y = opu.project(x)
    assert np.allclose(y, opu.expected_projection(x), rtol=1e-3, atol=1e-3 * y.max())
    z = opu.linear(x)
    assert np.allclose(z, x @ opu.effective_linear_matrix().T, rtol=1e-3, atol=1e-3 * np.abs(z).max())
    assert opu.medium.describe()["ballistic_fraction"] == pytest.approx(math.exp(-6))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="medium.thickness_m is required"):
        DeviceConfig().replace({"medium.model": "multislice", "medium.scattering_mean_free_path_m": 1e-3})
    with pytest.raises(ConfigError, match="medium.scattering_mean_free_path_m"):
        DeviceConfig().replace({"medium.scattering_mean_free_path_m": -1.0})
    with pytest.raises(ConfigError, match="medium.grid_oversampling"):
        DeviceConfig().replace({"medium.grid_oversampling": 0})
    with pytest.raises(ValidationError, match="smaller than the camera window"):
        slab(1e-3, 1e-3, n_in=4, n_out=256, grid_size=32)
    with pytest.raises(ValidationError, match="more than half"):
        slab(1e-3, 1e-3, n_in=400, n_out=4, grid_size=32)
    with pytest.raises(ValidationError, match="thickness_m"):
        slab(0.0, 1e-3, n_in=4, n_out=4)
