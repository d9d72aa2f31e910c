"""Exposure selection: ADC fill and saturated fraction, checked against noise-free ground truth."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import ExposureChoice, choose_exposure
from photonics.calibration.exposure import exposure_from_signal
from photonics.errors import CalibrationError, ValidationError
from tests.helpers import binary_frames

K_SIGMA = 4.0


@pytest.fixture(scope="module")
def opu():
    return OPU(DeviceConfig.preset("lab-cmos", n_in=256, n_out=1024), seed=4)


def _truth(opu, t, density, rng):
    """Noise-free mean fill and saturated fraction at exposure t for random inputs."""
    c = opu.config.camera
    x = binary_frames(rng, 64, opu.n_in, density)
    mu = opu.expected_projection(x, exposure_s=t)  # DN above black level, dark included
    dark = np.mean(opu.camera.dark_electrons(t)) / c.gain_e_per_dn
    fill = float(np.mean(mu - dark) / (c.max_dn - c.black_level_dn - dark))
    sat = float(np.mean(mu + c.black_level_dn >= c.max_dn - 0.5))
    return fill, sat


def test_saturation_limited_choice(opu, rng):
    r = choose_exposure(opu, density=0.5, target_fill=0.5, max_saturated_fraction=1e-3, n_frames=64)
    assert r.limited_by == "saturation"
    # the bound holds on fresh inputs (within the binomial error of the check)
    assert r.saturated_fraction.value <= 1e-3 + K_SIGMA * r.saturated_fraction.uncertainty
    # and it is used: exponential speckle saturates exp(-1/fill) -> fill ~ 1/ln(1000)
    assert abs(r.fill.value - 1 / math.log(1e3)) < 0.15 / math.log(1e3)
    fill_true, sat_true = _truth(opu, r.exposure_s, 0.5, rng)
    assert abs(r.fill.value - fill_true) < 0.05 * fill_true
    assert sat_true < 3e-3


def test_fill_limited_choice(opu, rng):
    r = choose_exposure(opu, density=0.3, target_fill=0.08, max_saturated_fraction=0.05)
    assert r.limited_by == "fill"
    assert abs(r.fill.value - 0.08) <= K_SIGMA * r.fill.uncertainty + 0.004
    fill_true, _ = _truth(opu, r.exposure_s, 0.3, rng)
    assert abs(fill_true - 0.08) < 0.004
    # denser inputs need a shorter exposure for the same fill
    r2 = choose_exposure(opu, density=0.6, target_fill=0.08, max_saturated_fraction=0.05)
    assert r2.exposure_s < r.exposure_s


def test_max_exposure_limited(opu):
    r = choose_exposure(opu, density=0.05, target_fill=0.9, max_saturated_fraction=0.5)
    assert r.limited_by == "max_exposure" and r.exposure_s == pytest.approx(1.0 / opu.config.camera.frame_rate_hz)


def test_pure_rule_and_errors(opu, tmp_path):
    rng = np.random.default_rng(1)
    s = rng.exponential(10.0, 200_000)  # speckle signal, mean 10 DN at 1 ms
    t, lim = exposure_from_signal(s, 1e-3, 200.0, target_fill=0.5, max_saturated_fraction=1e-2, max_exposure_s=1.0)
    assert lim == "saturation" and abs(t - 199.5 * 1e-3 / (10.0 * math.log(100))) < 0.02 * t
    with pytest.raises(CalibrationError, match="no signal"):
        exposure_from_signal(np.zeros(10), 1e-3, 200.0, target_fill=0.5, max_saturated_fraction=1e-2, max_exposure_s=1.0)
    with pytest.raises(ValidationError, match="target_fill"):
        choose_exposure(opu, target_fill=1.5)
    with pytest.raises(ValidationError, match="density"):
        choose_exposure(opu, density=0.0)
    unq = OPU(DeviceConfig.preset("ideal", n_in=16, n_out=64), seed=0)
    with pytest.raises(CalibrationError, match="not digitised"):
        choose_exposure(unq)
    r = choose_exposure(opu, target_fill=0.1)
    back = ExposureChoice.load(r.save(tmp_path / "e.h5"))
    assert back == r
