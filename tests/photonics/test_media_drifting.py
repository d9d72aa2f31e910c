"""DriftingMedium: corr(T(0), T(t)) = exp(-t/tau), stationarity, determinism whatever the
query order, preserved speckle grain, and drift seen through the device clock."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics import statistics as S
from photonics.errors import ConfigError, ValidationError
from photonics.medium import DriftingMedium, GaussianMedium, MeasuredMedium, SpeckleMedium, build_medium
from tests.helpers import binary_frames

TAU = 2.0
DT = 0.25


def row_correlations(t0, t):
    """Per-row complex correlation Re<t0_i, t_i> / (|t0_i||t_i|): independent estimates, one per row."""
    num = np.real(np.sum(np.conj(t0) * t, axis=1))
    return num / (np.linalg.norm(t0, axis=1) * np.linalg.norm(t, axis=1))


@pytest.fixture(scope="module")
def drift():
    return DriftingMedium(GaussianMedium(128, 400, seed=2, n_cols=160), TAU, seed=7, step_s=DT)


def test_correlation_decays_as_exp_minus_t_over_tau(drift):
    t0 = drift.matrix(time_s=0.0).astype(np.complex128)
    for t in (0.5, 1.0, 2.0, 4.0):
        r = row_correlations(t0, drift.matrix(time_s=t).astype(np.complex128))
        est, se = r.mean(), r.std(ddof=1) / math.sqrt(r.size)
        assert abs(est - math.exp(-t / TAU)) < 5 * se + 1e-9, (t, est, se)
        assert drift.correlation(t) == pytest.approx(math.exp(-t / TAU))
    # the whole matrix, reference columns included, has the same law
    full0 = drift.matrix(cols=slice(0, 160)).astype(np.complex128)
    full1 = drift.matrix(cols=slice(0, 160), time_s=1.0).astype(np.complex128)
    r = row_correlations(full0, full1)
    assert abs(r.mean() - math.exp(-0.5)) < 5 * r.std(ddof=1) / math.sqrt(r.size)


def test_second_moments_are_stationary(drift):
    for t in (0.0, 1.0, 6.0):
        p = np.abs(drift.matrix(time_s=t).astype(np.complex128)) ** 2 * 128
        assert abs(p.mean() - 1) < 5 / math.sqrt(p.size)
        m2 = np.mean((drift.matrix(time_s=t).astype(np.complex128) * math.sqrt(128)) ** 2)
        assert abs(m2) < 5 * math.sqrt(2 / p.size)  # still circular


def test_sample_and_hold_on_the_time_grid(drift):
    a = drift.matrix(time_s=1.0)
    assert np.array_equal(a, drift.matrix(time_s=1.0 + 0.4 * DT))
    assert not np.array_equal(a, drift.matrix(time_s=1.0 + DT))
    assert drift.time_resolution_s == DT and drift.is_static is False
    assert drift.step_index(1.0) == 4


def test_deterministic_whatever_the_query_order():
    def fresh():
        return DriftingMedium(GaussianMedium(16, 40, seed=3, n_cols=20), TAU, seed=11, step_s=0.1)

    jump = fresh().matrix(time_s=1.23)
    walk = fresh()
    for t in np.arange(0, 1.25, 0.05):
        walk.matrix(time_s=float(t))
    back = fresh()
    back.matrix(time_s=3.0)
    back.matrix(time_s=0.5)  # going back in time restarts from T(0)
    assert np.array_equal(jump, walk.matrix(time_s=1.23))
    assert np.array_equal(jump, back.matrix(time_s=1.23))
    other = DriftingMedium(GaussianMedium(16, 40, seed=3, n_cols=20), TAU, seed=12, step_s=0.1).matrix(time_s=1.23)
    assert not np.allclose(jump, other)
    assert np.array_equal(fresh().matrix(time_s=0.0), GaussianMedium(16, 40, seed=3, n_cols=20).matrix())


def test_field_and_column_sum_follow_the_state(drift, rng):
    x = binary_frames(rng, 3, 128).astype(np.float32)
    t = drift.matrix(time_s=0.7).astype(np.complex128)
    s = drift.split_field(x, time_s=0.7)
    assert np.allclose(s[:, :400] + 1j * s[:, 400:], x @ t.T, atol=1e-5)
    ref = drift.matrix(cols=slice(128, 160), time_s=0.7).astype(np.complex128).sum(axis=1)
    assert np.allclose(drift.column_sum(slice(128, 160), time_s=0.7), ref, atol=1e-5)
    rows = drift.split_field(x, rows=slice(10, 20), time_s=0.7)
    assert np.allclose(rows, np.concatenate([s[:, 10:20], s[:, 410:420]], axis=1), atol=1e-6)


def test_speckle_grain_survives_the_drift():
    shape = (32, 48)
    base = SpeckleMedium(120, shape[0] * shape[1], 5, grain_size_px=3.0, image_shape=shape)
    d = DriftingMedium(base, 1.0, seed=1, step_s=0.5)
    assert d.innovation_model == "realization"
    late = np.abs(d.matrix(time_s=5.0).astype(np.complex128)) ** 2  # exp(-5): nothing of T(0) left
    g = S.grain_size(late.T.reshape(-1, *shape)).grain_size_px
    assert abs(g / 3.0 - 1) < 0.05
    early = d.matrix(time_s=0.0).astype(np.complex128)
    # columns (input modes) are independent speckle patterns; rows (pixels in a grain) are not
    r = row_correlations(early.T, d.matrix(time_s=1.0).astype(np.complex128).T)
    assert abs(r.mean() - math.exp(-1.0)) < 5 * r.std(ddof=1) / math.sqrt(r.size)


def test_measured_base_keeps_its_row_power_profile(rng):
    envelope = np.linspace(0.2, 2.0, 60)[:, None]
    tm = envelope * (rng.standard_normal((60, 300)) + 1j * rng.standard_normal((60, 300)))
    d = DriftingMedium(MeasuredMedium(tm, 300), 1.0, seed=3, step_s=0.1)
    assert d.innovation_model == "gaussian-row-power"
    p0 = np.mean(np.abs(d.matrix(time_s=0.0)) ** 2, axis=1)
    p5 = np.mean(np.abs(d.matrix(time_s=8.0)) ** 2, axis=1)
    # each row's mean over 300 exponential powers: relative sd 1/sqrt(300) per estimate
    assert np.all(np.abs(p5 / p0 - 1) < 5 * math.sqrt(2 / 300))


def test_device_drifts_with_its_clock(rng):
    cfg = DeviceConfig.preset("ideal", n_in=96, n_out=512).replace(
        {"medium.decorrelation_time_s": 0.05, "medium.drift_step_s": 0.001}
    )
    opu = OPU(cfg, seed=4)
    assert isinstance(opu.medium, DriftingMedium)
    assert opu._chunk_frames() <= round(0.001 / cfg.frame_period_s)
    x = binary_frames(rng, 1, 96)
    y0 = opu.project(x)[0].astype(np.float64)
    t0 = opu.transmission_matrix.astype(np.complex128)
    opu.wait(0.05 - opu.device_time_s)  # to t = tau
    y1 = opu.project(x)[0].astype(np.float64)
    t1 = opu.transmission_matrix.astype(np.complex128)
    k = opu.medium.step_index(opu.device_time_s)
    rho = math.exp(-k * 0.001 / 0.05)
    # speckle intensities of the same input decorrelate as |field correlation|^2 = rho^2
    c = np.corrcoef(y0, y1)[0, 1]
    assert abs(c - rho**2) < 5 * (1 - rho**4) / math.sqrt(512) + 0.05
    r = row_correlations(t0, t1)
    assert abs(r.mean() - rho) < 5 * r.std(ddof=1) / math.sqrt(r.size)
    # a noiseless device still projects exactly through the matrix of the moment
    assert np.allclose(opu.project(x), opu.expected_projection(x), rtol=1e-3, atol=1e-3 * y1.max())


def test_reference_calibration_goes_stale(rng):
    # tau = 20 s: the few ms of frames of one linear() call stay within one drift step (2 s)
    cfg = DeviceConfig.preset("ideal", n_in=64, n_out=256).replace(
        {"medium.decorrelation_time_s": 20.0, "medium.drift_step_s": 2.0}
    )
    opu = OPU(cfg, seed=1)
    x = binary_frames(rng, 32, 64)

    def err():
        z = opu.linear(x).astype(np.float64)
        b = x @ opu.effective_linear_matrix().T  # ground truth at the current time
        return np.linalg.norm(z - b) / np.linalg.norm(b)

    opu.calibrate_reference()
    fresh = err()
    opu.wait(40.0)
    stale = err()
    assert fresh < 1e-3 and stale > 0.3  # the reference field has drifted away from its calibration
    opu.calibrate_reference()
    assert err() < 1e-3


def test_bad_arguments_and_config():
    base = GaussianMedium(4, 8, 0)
    with pytest.raises(ValidationError, match="decorrelation_time_s"):
        DriftingMedium(base, 0.0, 1)
    with pytest.raises(ValidationError, match="step_s"):
        DriftingMedium(base, 1.0, 1, step_s=-1.0)
    d = DriftingMedium(base, 1.0, 1)
    assert d.step_s == pytest.approx(0.01)
    with pytest.raises(ValidationError, match="time_s"):
        d.matrix(time_s=-1.0)
    with pytest.raises(ValidationError, match="static"):
        DriftingMedium(d, 1.0, 2)
    with pytest.raises(ConfigError, match="medium.decorrelation_time_s"):
        DeviceConfig().replace({"medium.decorrelation_time_s": -2.0})
    with pytest.raises(ConfigError, match="needs medium.decorrelation_time_s"):
        DeviceConfig().replace({"medium.drift_step_s": 0.1})
    cfg = DeviceConfig.preset("ideal", n_in=8, n_out=16).replace({"medium.decorrelation_time_s": 3.0})
    assert isinstance(build_medium(cfg, 0), DriftingMedium)


# ---- drift that keeps the medium's class -------------------------------------------------------------
def _cond(t, rank=None):
    s = np.linalg.svd(np.asarray(t, dtype=np.complex128), compute_uv=False)
    s = s[:rank] if rank else s
    return s[0] / s[-1]


def _fiber(basis, n_in=None, n_out=None, **kw):
    from photonics.medium import MultimodeFiberMedium
    from photonics.medium.fiber_modes import solve_fiber_modes

    a = 10e-6
    n = solve_fiber_modes(core_radius_m=a, numerical_aperture=0.2, wavelength_m=1.064e-6).n_modes
    return MultimodeFiberMedium(n_in or n, n_out or n, 2, wavelength_m=1.064e-6, core_radius_m=a, numerical_aperture=0.2,
                                basis=basis, **kw), n


@pytest.mark.parametrize("case", ["filtered", "fiber-weak", pytest.param("fiber-strong-pixels", marks=pytest.mark.slow), "measured-fiber"])
def test_unitary_media_stay_quasi_unitary_while_they_drift(case):
    """Acceptance: condition number within 1.5x of the static medium's at every correlation down
    to 0.1 (Gaussian innovations would take a fiber to Marchenko-Pastur: 6.7 -> 188 -> 842)."""
    from photonics.medium import FilteredRandomMedium

    rank = None
    if case == "filtered":
        base = FilteredRandomMedium(64, 128, 1, n_channels=256)
    elif case == "fiber-weak":
        base, _ = _fiber("modes", deformation_rms=5e-4, mode_dependent_loss_db=10.0)
    elif case == "fiber-strong-pixels":
        base, rank = _fiber("pixels", 100, 256, deformation_rms=3e-3, bend_curvature_rms_per_m=30.0,
                            correlation_length_m=1e-4, mode_dependent_loss_db=10.0)
    else:
        fib, _ = _fiber("modes", deformation_rms=5e-4, mode_dependent_loss_db=10.0)
        base = MeasuredMedium(fib.matrix().astype(np.complex128) * 3.7)
    d = DriftingMedium(base, TAU, seed=5, step_s=TAU / 25)
    assert d.innovation_model == "unitary"
    t0 = d.matrix().astype(np.complex128)
    c0 = _cond(t0, rank)
    for t in TAU * np.array([0.1, 0.5, 1.0, 1.6, 2.3]):  # correlation 0.90 .. 0.10
        tt = d.matrix(time_s=float(t)).astype(np.complex128)
        assert _cond(tt, rank) / c0 < 1.5 and c0 / _cond(tt, rank) < 1.5, (case, t)
    # the decorrelation: E[T_k] = exp(-t/tau) T_0. The walk acts on the medium's N internal
    # channels (68 fiber modes...), so one realisation's correlation scatters by ~1/sqrt(N)
    tt = d.matrix(time_s=TAU).astype(np.complex128)
    corr = np.real(np.vdot(t0, tt)) / (np.linalg.norm(t0) * np.linalg.norm(tt))
    n_channels = d._q0.shape[0]
    assert abs(corr - math.exp(-1.0)) < 1.5 / math.sqrt(n_channels), (case, corr)
    # deterministic whatever the query order
    again = DriftingMedium(base, TAU, seed=5, step_s=TAU / 25)
    again.matrix(time_s=3.0)
    assert np.array_equal(again.matrix(time_s=TAU), d.matrix(time_s=TAU))


def test_gaussian_drift_of_a_fiber_turns_it_into_marchenko_pastur():
    base, _ = _fiber("modes", deformation_rms=5e-4, mode_dependent_loss_db=3.0)
    d = DriftingMedium(base, TAU, seed=5, step_s=TAU / 50, model="gaussian")
    assert d.innovation_model == "gaussian-row-power"
    assert _cond(d.matrix(time_s=2.3 * TAU)) > 10 * _cond(d.matrix())


def test_unitary_walk_step_is_unitary_with_mean_c():
    from photonics.medium.drifting import unitary_walk_step

    rng = np.random.default_rng(0)
    n = 9
    acc = np.zeros((n, n), dtype=complex)
    for k in range(4000):
        q = np.eye(n, dtype=complex)
        unitary_walk_step(q, 0.8, rng, groups=np.array([0, 0, 0, 1, 1, 2, 2, 2, 2]))
        assert np.allclose(q.conj().T @ q, np.eye(n), atol=1e-12)
        assert np.all(q[np.ix_([0, 1, 2], [3, 4, 5, 6, 7, 8])] == 0)  # pairs stay within a group
        acc += q
    mean = acc / 4000
    assert np.allclose(mean, 0.8 * np.eye(n), atol=5 * 0.6 / math.sqrt(4000))  # E[W] = c I


def test_drift_model_config():
    cfg = DeviceConfig.preset("ideal", n_in=32, n_out=64).replace(
        {"medium.model": "filtered-random", "medium.decorrelation_time_s": 1.0}
    )
    assert build_medium(cfg, 0).innovation_model == "unitary"
    assert build_medium(cfg.replace({"medium.drift_model": "gaussian"}), 0).innovation_model == "gaussian-row-power"
    with pytest.raises(ConfigError, match="unitary drift needs"):
        build_medium(DeviceConfig.preset("ideal", n_in=8, n_out=16).replace(
            {"medium.decorrelation_time_s": 1.0, "medium.drift_model": "unitary"}), 0)
    with pytest.raises(ConfigError, match="medium.drift_model"):
        DeviceConfig().replace({"medium.drift_model": "brownian"})
