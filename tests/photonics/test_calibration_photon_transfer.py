"""Photon transfer (EMVA 1288) against the simulated camera's ground truth, and bad inputs."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import PhotonTransferResult, analyze_photon_transfer, measure_photon_transfer
from photonics.calibration.photon_transfer import find_saturation_power, pair_temporal_variance
from photonics.errors import CalibrationError, ShapeError, ValidationError

K_SIGMA = 4.0


@pytest.fixture(scope="module")
def lab():
    """lab-cmos at its default settings (8-bit, 8 e-/DN, 7 e- read noise), seed 3."""
    opu = OPU(DeviceConfig.preset("lab-cmos"), seed=3)
    cfg = opu.config
    ptc = measure_photon_transfer(opu, black_level_dn=cfg.camera.black_level_dn, wavelength_m=cfg.laser.wavelength_m)
    return opu, ptc


def _close(m, truth, rel_tol):
    """Within the acceptance tolerance AND within K_SIGMA standard errors (+1e-12)."""
    err = abs(m.value - truth)
    return err <= rel_tol * abs(truth) and err <= K_SIGMA * m.uncertainty + 1e-12 * abs(truth)


def test_acceptance_gain_read_noise_saturation(lab):
    opu, ptc = lab
    tr = opu.camera.truth()
    # issue acceptance: K within 2 %, read noise within 10 %, saturation capacity within 5 %
    assert _close(ptc.system_gain_dn_per_e, tr.system_gain_dn_per_e, 0.02), (ptc.system_gain_dn_per_e, tr.system_gain_dn_per_e)
    assert _close(ptc.read_noise_e, tr.read_noise_e, 0.10), (ptc.read_noise_e, tr.read_noise_e)
    assert _close(ptc.saturation_capacity_e, tr.saturation_capacity_e, 0.05), (ptc.saturation_capacity_e, tr.saturation_capacity_e)
    # the estimates are much better than the acceptance: uncertainties are sub-percent
    assert ptc.system_gain_dn_per_e.relative_uncertainty() < 0.01
    assert ptc.read_noise_dn.unit == "DN" and abs(ptc.read_noise_dn.value - tr.read_noise_dn) < 0.05 * tr.read_noise_dn


def test_dark_signal_qe_and_dark_noise(lab):
    opu, ptc = lab
    tr = opu.camera.truth()
    assert abs(ptc.dark_signal_e.value - tr.dark_signal_e) <= K_SIGMA * ptc.dark_signal_e.uncertainty
    assert _close(ptc.quantum_efficiency, tr.quantum_efficiency, 0.02)
    # EMVA temporal dark noise includes the dark-current shot noise
    sigma_d = math.sqrt(tr.read_noise_e**2 + tr.dark_signal_e)
    assert abs(ptc.temporal_dark_noise_e.value - sigma_d) <= K_SIGMA * ptc.temporal_dark_noise_e.uncertainty
    # dark variance = K^2 sigma_d^2 + 1/12 DN^2 (quantisation matters at 8 bits: it is not in sigma_d)
    expected = tr.system_gain_dn_per_e**2 * sigma_d**2 + 1.0 / 12.0
    assert abs(ptc.dark_var_dn2.value - expected) <= K_SIGMA * ptc.dark_var_dn2.uncertainty
    assert not ptc.quantization_limited


def test_linearity_snr_dynamic_range(lab):
    opu, ptc = lab
    tr = opu.camera.truth()
    # the simulated camera is linear: the linearity error is consistent with zero (< 4 sigma, < 0.3 %)
    assert 0 <= ptc.linearity_error_pct.value < max(K_SIGMA * ptc.linearity_error_pct.uncertainty, 0.3)
    # measured SNR at each fitted level agrees with the model within its noise
    fit = ptc.used_in_fit
    model = ptc.snr_model(ptc.signal_e[fit])
    rel_se = 0.5 * ptc.temporal_var_se_dn2[fit] / ptc.temporal_var_dn2[fit]
    assert np.all(np.abs(ptc.snr[fit] / model - 1) < K_SIGMA * rel_se + 0.01)
    # dynamic range against the truth: saturation over the SNR = 1 threshold
    dark_e2 = tr.read_noise_e**2 + tr.dark_signal_e + (1 / 12) / tr.system_gain_dn_per_e**2
    dr_true = 20 * math.log10(tr.saturation_capacity_e / (math.sqrt(dark_e2 + 0.25) + 0.5))
    assert abs(ptc.dynamic_range_db.value - dr_true) <= K_SIGMA * ptc.dynamic_range_db.uncertainty + 0.05
    assert abs(ptc.snr_max.value - math.sqrt(tr.saturation_capacity_e)) < 0.03 * math.sqrt(tr.saturation_capacity_e)
    # the series goes beyond saturation: top levels clip, the fitted ones never do
    assert ptc.saturated_fraction[-1] > 0.99 and np.all(ptc.saturated_fraction[fit] == 0)


def test_full_well_limited_camera():
    """A 12-bit camera whose full well (not the ADC) limits saturation."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=64, n_out=1024, camera__bit_depth=12, camera__gain_e_per_dn=2.0,
                              camera__full_well_e=5000.0, camera__read_noise_e=3.0, camera__black_level_dn=50.0)
    opu = OPU(cfg, seed=1)
    ptc = measure_photon_transfer(opu, black_level_dn=50.0)
    tr = opu.camera.truth()
    assert tr.saturation_capacity_e == 5000.0
    assert _close(ptc.saturation_capacity_e, 5000.0 - tr.dark_signal_e, 0.05)
    assert _close(ptc.system_gain_dn_per_e, 0.5, 0.02)
    assert _close(ptc.read_noise_e, 3.0, 0.10)


def test_pair_difference_cancels_fixed_patterns():
    rng = np.random.default_rng(0)
    fixed = rng.normal(0, 50.0, 4096)  # a huge fixed pattern
    frames = 100 + fixed + rng.normal(0, 2.0, (8, 4096))
    var, se, n = pair_temporal_variance(frames)
    assert n == 4 and abs(var - 4.0) < 5 * se
    assert frames.var(axis=1).mean() > 500  # the spatial variance the pairs removed


def test_save_load_roundtrip(lab, tmp_path):
    opu, ptc = lab
    path = ptc.save(tmp_path / "ptc.h5", config=opu.config, seed=opu.seed)
    back = PhotonTransferResult.load(path)
    assert back.system_gain_dn_per_e == ptc.system_gain_dn_per_e
    assert back.saturation_capacity_e == ptc.saturation_capacity_e
    assert np.array_equal(back.mean_dn, ptc.mean_dn) and np.array_equal(back.used_in_fit, ptc.used_in_fit)
    assert back.black_level_dn == ptc.black_level_dn


# ---- bad inputs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def series():
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=16, n_out=512), seed=2)
    p_sat, _ = find_saturation_power(opu)
    powers = np.linspace(0.1, 1.0, 8) * p_sat
    frames = np.stack([opu.expose(np.full((4, 512), p)) for p in powers])
    dark = opu.dark_frames(4)
    return frames, dark, powers, opu


def test_small_series_works(series):
    frames, dark, powers, opu = series
    r = analyze_photon_transfer(frames, dark, powers, opu.config.camera.exposure_s, max_dn=255)
    assert abs(r.system_gain_dn_per_e.value - 0.125) < 5 * r.system_gain_dn_per_e.uncertainty
    assert r.saturation_capacity_e is None  # the series stops at saturation: no plateau seen


def test_too_few_frames(series):
    frames, dark, powers, opu = series
    with pytest.raises(CalibrationError, match="too few frames"):
        analyze_photon_transfer(frames[:, :1], dark, powers, 5e-4)
    with pytest.raises(CalibrationError, match="too few frames"):
        analyze_photon_transfer(frames, dark[:1], powers, 5e-4)
    with pytest.raises(CalibrationError, match="too few illumination levels"):
        analyze_photon_transfer(frames[:2], dark, powers[:2], 5e-4)


def test_saturated_series(series):
    frames, dark, powers, opu = series
    sat = np.stack([opu.expose(np.full((4, 512), p)) for p in powers[-1] * np.array([2.0, 3.0, 4.0, 5.0])])
    with pytest.raises(CalibrationError, match="saturated series"):
        analyze_photon_transfer(sat, dark, powers[-1] * np.array([2.0, 3.0, 4.0, 5.0]), 5e-4, max_dn=255)


def test_mismatched_shapes_and_values(series):
    frames, dark, powers, opu = series
    with pytest.raises(ShapeError, match="dark_frames have 256 pixels"):
        analyze_photon_transfer(frames, dark[:, :256], powers, 5e-4)
    with pytest.raises(ShapeError, match="one entry per level"):
        analyze_photon_transfer(frames, dark, powers[:-1], 5e-4)
    with pytest.raises(ShapeError, match="n_levels, n_frames, n_pixels"):
        analyze_photon_transfer(frames[0], dark, powers, 5e-4)
    with pytest.raises(ValidationError, match="power_w must be > 0"):
        analyze_photon_transfer(frames, dark, np.r_[0.0, powers[1:]], 5e-4)
    bad = frames.astype(np.float64)
    bad[2, 1, 7] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        analyze_photon_transfer(bad, dark, powers, 5e-4)
    with pytest.raises(ValidationError, match="exposure_s"):
        analyze_photon_transfer(frames, dark, powers, -1.0)


def test_no_shot_noise_is_a_clear_error():
    cfg = DeviceConfig.preset("lab-cmos", n_in=16, n_out=512, camera__shot_noise=False)
    with pytest.raises(CalibrationError, match="no photon transfer"):
        measure_photon_transfer(OPU(cfg, seed=0))
