"""Drift: decorrelation time from repeated probes against DriftingMedium, and the recalibration rule."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import DriftResult, fit_decorrelation, measure_drift, recalibration_interval
from photonics.calibration.drift import drift_truth
from photonics.errors import CalibrationError, ValidationError

K_SIGMA = 4.0


@pytest.mark.parametrize("tau_s, seed", [(0.5, 1), (20.0, 2)])
def test_decorrelation_time_matches_the_medium(tau_s, seed):
    cfg = DeviceConfig.preset("lab-cmos", n_in=32, n_out=1024, medium__decorrelation_time_s=tau_s)
    opu = OPU(cfg, seed=seed)
    r = measure_drift(opu, n_probes=4, n_points=16)
    tau = r.decorrelation_time_s
    assert drift_truth(opu) == tau_s and not tau.lower_bound
    assert abs(tau.value - tau_s) <= K_SIGMA * tau.uncertainty
    assert tau.relative_uncertainty() < 0.1
    # the measurement decayed through the interesting range and was normalised by the repeat
    assert r.correlation.min() < 0.2 and r.repeat_correlation > 0.9
    # rule: dt_max = -tau ln(1 - eps^2 / 2) with the measured tau
    assert r.recalibration_interval_s == pytest.approx(-tau.value * math.log1p(-(r.tolerance**2) / 2))
    assert r.linear_recalibration_interval_s == pytest.approx(r.recalibration_interval_s / 2)


def test_static_medium_gives_a_lower_bound(tmp_path):
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=32, n_out=512), seed=0)
    r = measure_drift(opu, max_time_s=100.0)
    tau = r.decorrelation_time_s
    assert tau.lower_bound and tau.value > 100.0 and drift_truth(opu) == math.inf
    assert np.all(np.abs(r.correlation - 1) < 0.05)
    assert not r.recalibration_due(0.0, 1.0)
    back = DriftResult.load(r.save(tmp_path / "drift.h5"))
    assert back.decorrelation_time_s == tau and np.array_equal(back.times_s, r.times_s)


def test_recalibration_rule():
    # the TM moves by sqrt(2 (1 - exp(-dt / tau))): at dt_max it equals the tolerance
    tau, eps = 3.0, 0.1
    dt = recalibration_interval(tau, eps)
    assert math.sqrt(2 * (1 - math.exp(-dt / tau))) == pytest.approx(eps)
    assert recalibration_interval(math.inf, eps) == math.inf
    with pytest.raises(ValidationError, match="tolerance"):
        recalibration_interval(1.0, 0.0)
    with pytest.raises(ValidationError, match="decorrelation_time_s"):
        recalibration_interval(-1.0, 0.1)
    r = DriftResult(
        exposure_s=1e-3, n_probes=1, repeat_correlation=1.0, times_s=np.zeros(1), correlation=np.ones(1),
        correlation_se=np.zeros(1), bracket_times_s=np.zeros(1), bracket_correlation=np.ones(1),
        decorrelation_time_s=None, tolerance=eps, recalibration_interval_s=dt, linear_recalibration_interval_s=dt / 2,
        recalibration_interval_frames=dt * 1e3, chi2_reduced=1.0,
    )
    assert r.recalibration_due(10.0, 10.0 + dt) and not r.recalibration_due(10.0, 10.0 + 0.9 * dt)
    assert r.recalibration_due(10.0, 10.0 + 0.6 * dt, linear=True)


def test_fit_on_synthetic_data_and_errors():
    t = np.linspace(0.1, 3.0, 20)
    g = np.exp(-2 * t / 1.7)
    tau, se, chi2 = fit_decorrelation(t, g, np.full(20, 1e-3))
    assert tau == pytest.approx(1.7, rel=1e-6) and chi2 < 1e-6
    with pytest.raises(CalibrationError, match="too few drift points"):
        fit_decorrelation(t, np.zeros(20), np.full(20, 1e-3))
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=16, n_out=64), seed=0)
    with pytest.raises(ValidationError, match="n_points"):
        measure_drift(opu, n_points=2)
    with pytest.raises(ValidationError, match="max_time_s"):
        measure_drift(opu, start_s=1.0, max_time_s=0.5)
