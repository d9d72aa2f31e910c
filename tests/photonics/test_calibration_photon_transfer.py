"""EMVA 1288 on the simulated lab-cmos camera (the device path) against its configuration and
pixel maps, the photon-transfer API on flat pixel vectors, and bad inputs.

The EMVA saturation point's truth (the level of the largest expected temporal variance) is
computed here with the independent model of ``emva_sensor`` fed with the camera's own maps.
"""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import (
    EMVA1288Result,
    PhotonTransferResult,
    analyze_photon_transfer,
    emva_quantities,
    measure_emva1288,
    measure_photon_transfer,
)
from photonics.calibration.photon_transfer import find_saturation_power, pair_temporal_variance
from photonics.errors import CalibrationError, ShapeError, ValidationError
from photonics.units import photon_energy_j
from tests.photonics.emva_sensor import Sensor

K_SIGMA = 4.0


def independent_sensor(opu) -> Sensor:
    """The emva_sensor model carrying this device's camera parameters and pixel maps."""
    c = opu.config.camera
    s = Sensor(rows=1, cols=opu.n_out, bits=c.bit_depth, gain_dn_per_e=1 / c.gain_e_per_dn, qe=c.quantum_efficiency,
               read_noise_e=c.read_noise_e, dark_current_e_per_s=0.0, dark_current_sd_e_per_s=0.0, black_level_dn=c.black_level_dn,
               offset_sd_dn=0.0, prnu=0.0, full_well_e=c.full_well_e)
    cam = opu.camera
    s.gain, s.current, s.offset = cam.prnu_map[None], cam.dark_current_map_e_per_s[None], cam.offset_map_dn[None]
    return s


@pytest.fixture(scope="module")
def lab():
    """lab-cmos camera (8-bit, 8 e-/DN, 7 e- read noise, 800 e-/s dark current) on 64 x 64 pixels, seed 3."""
    opu = OPU(DeviceConfig.preset("lab-cmos", n_out=4096), seed=3)
    return opu, measure_emva1288(opu)


def lab_truths(opu, res) -> dict:
    c = opu.config.camera
    cam = opu.camera
    p = res.photon_transfer
    k = 1 / c.gain_e_per_dn
    s = independent_sensor(opu)
    e_ph = photon_energy_j(opu.config.laser.wavelength_m)
    var = [s.expected_variance_dn2(pw * t / e_ph, t) for pw, t in zip(p.power_w, p.level_exposure_s)]
    j = int(np.argmax(var))
    t_s = res.fixed_pattern.exposure_s
    return {
        "system_gain_dn_per_e": k,
        "quantum_efficiency": c.quantum_efficiency * float(np.mean(cam.prnu_map)),
        "read_noise_e": c.read_noise_e,
        "temporal_dark_noise_e": math.sqrt(c.read_noise_e**2 + float(np.mean(cam.dark_current_map_e_per_s)) * p.dark_noise_exposure_s),
        "saturation_capacity_e": float(p.photons[j] * c.quantum_efficiency * np.mean(cam.prnu_map)),
        "clip_saturation_capacity_e": (c.max_dn - c.black_level_dn - float(np.mean(cam.offset_map_dn))) * c.gain_e_per_dn
        - float(np.mean(cam.dark_current_map_e_per_s)) * p.exposure_s,
        "dark_current_e_per_s": float(np.mean(cam.dark_current_map_e_per_s)),
        "dsnu_e": float(np.std(cam.dark_current_map_e_per_s * t_s + cam.offset_map_dn * c.gain_e_per_dn, ddof=1)),
        "prnu": float(np.std(cam.prnu_map, ddof=1) / np.mean(cam.prnu_map)),
    }


ACCEPTANCE = {"system_gain_dn_per_e": 0.01, "temporal_dark_noise_e": 0.03, "read_noise_e": 0.03, "saturation_capacity_e": 0.02,
              "clip_saturation_capacity_e": 0.02, "dark_current_e_per_s": 0.10, "dsnu_e": 0.05, "prnu": 0.05, "quantum_efficiency": 0.02}


def test_acceptance_on_lab_cmos(lab):
    opu, res = lab
    q = {k: m for k, (m, _) in emva_quantities(res).items()}
    tr = lab_truths(opu, res)
    for key, tol in ACCEPTANCE.items():
        m, t = q[key], tr[key]
        assert abs(m.value - t) <= tol * abs(t), f"{key}: {m} vs {t:.5g} ({100 * (m.value - t) / t:+.2f} %, tolerance {100 * tol:g} %)"
        assert abs(m.value - t) <= K_SIGMA * m.uncertainty, f"{key}: {m} vs {t:.5g}: {abs(m.value - t) / m.uncertainty:.1f} sigma"
    # the pixel maps realise the configuration (the camera's own figures, within the map sampling)
    c = opu.config.camera
    assert abs(tr["dark_current_e_per_s"] - c.dark_current_e_per_s) < 3 * c.dark_current_sd_e_per_s / math.sqrt(opu.n_out)


def test_dark_signal_linearity_snr_dynamic_range(lab):
    opu, res = lab
    p = res.photon_transfer
    c = opu.config.camera
    # dark signal = dark current x exposure; EMVA temporal dark noise includes the dark-current shot noise
    dark = float(np.mean(opu.camera.dark_current_map_e_per_s)) * p.exposure_s
    assert abs(p.dark_signal_e.value - dark) <= K_SIGMA * p.dark_signal_e.uncertainty
    k = 1 / c.gain_e_per_dn
    expected = k**2 * (c.read_noise_e**2 + dark) + 1.0 / 12.0
    assert abs(p.dark_var_dn2.value - expected) <= K_SIGMA * p.dark_var_dn2.uncertainty
    assert not p.quantization_limited
    # the simulated camera is linear: the linearity error is consistent with zero
    assert 0 <= p.linearity_error_pct.value < max(K_SIGMA * p.linearity_error_pct.uncertainty, 0.3)
    # measured SNR at each fitted level agrees with the model within its noise
    fit = p.used_in_fit
    model = p.snr_model(p.signal_e[fit])
    rel_se = 0.5 * p.temporal_var_se_dn2[fit] / p.temporal_var_dn2[fit]
    assert np.all(np.abs(p.snr[fit] / model - 1) < K_SIGMA * rel_se + 0.01)
    # threshold, SNR_max and dynamic range from the measured figures (closed forms of the standard)
    mu_min = 0.5 + math.sqrt(0.25 + p.dark_var_dn2.value / p.system_gain_dn_per_e.value**2)
    assert p.absolute_sensitivity_threshold_e.value == pytest.approx(mu_min)
    assert p.snr_max.value == pytest.approx(math.sqrt(p.saturation_capacity_e.value))
    assert p.dynamic_range_db.value == pytest.approx(20 * math.log10(p.saturation_capacity_e.value / mu_min))
    assert p.saturated_fraction[-1] > 0.99 and np.all(p.saturated_fraction[fit] == 0)
    assert abs(p.clip_level_dn.value - c.max_dn) < 0.01  # the ADC clips: the plateau is the top code


def test_exposure_series_on_lab_cmos():
    opu = OPU(DeviceConfig.preset("lab-cmos", n_out=4096), seed=4)
    res = measure_emva1288(opu, mode="exposure", n_levels=60, spatial=False)
    p = res.photon_transfer
    c = opu.config.camera
    assert res.mode == "exposure" and p.dark_noise_exposure_s == 0.0
    for m, t, tol in ((p.system_gain_dn_per_e, 1 / c.gain_e_per_dn, 0.01), (p.temporal_dark_noise_e, c.read_noise_e, 0.03),
                      (res.dark_current.dark_current_e_per_s, float(np.mean(opu.camera.dark_current_map_e_per_s)), 0.10),
                      (p.quantum_efficiency, c.quantum_efficiency * float(np.mean(opu.camera.prnu_map)), 0.02)):
        assert abs(m.value - t) <= min(tol * t, K_SIGMA * m.uncertainty), (m, t)


def test_save_load_roundtrip(lab, tmp_path):
    opu, res = lab
    back = EMVA1288Result.load(res.save(tmp_path / "emva.h5", config=opu.config, seed=opu.seed))
    assert back.photon_transfer.system_gain_dn_per_e == res.photon_transfer.system_gain_dn_per_e
    assert back.dark_current.dark_current_e_per_s == res.dark_current.dark_current_e_per_s
    assert np.array_equal(back.fixed_pattern.prnu_hist_counts, res.fixed_pattern.prnu_hist_counts)
    ptc = res.photon_transfer
    back = PhotonTransferResult.load(ptc.save(tmp_path / "ptc.h5"))
    assert back.saturation_capacity_e == ptc.saturation_capacity_e and back.clip_saturation_capacity_e == ptc.clip_saturation_capacity_e
    assert np.array_equal(back.mean_dn, ptc.mean_dn) and np.array_equal(back.used_in_fit, ptc.used_in_fit)


def test_measure_photon_transfer_is_the_same_analysis():
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=16), seed=1)
    ptc = measure_photon_transfer(opu, n_levels=30, wavelength_m=532e-9)
    assert abs(ptc.system_gain_dn_per_e.value - 0.125) <= min(0.02 * 0.125, K_SIGMA * ptc.system_gain_dn_per_e.uncertainty)
    assert ptc.read_noise_e is not None and abs(ptc.read_noise_e.value - 7.0) <= K_SIGMA * ptc.read_noise_e.uncertainty
    assert ptc.quantum_efficiency is not None
    assert measure_photon_transfer(opu, n_levels=10).quantum_efficiency is None  # no wavelength: no photon counts


def test_pair_difference_cancels_fixed_patterns():
    rng = np.random.default_rng(0)
    fixed = rng.normal(0, 50.0, 4096)  # a huge fixed pattern
    frames = 100 + fixed + rng.normal(0, 2.0, (8, 4096))
    var, se, n = pair_temporal_variance(frames)
    assert n == 4 and abs(var - 4.0) < 5 * se
    assert frames.var(axis=1).mean() > 500  # the spatial variance the pairs removed


# ---- flat pixel vectors (the photon-transfer API) and bad inputs -------------------------------------------
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
    # the series stops at the saturation power: the variance maximum is seen, no plateau beyond it
    assert r.saturation_capacity_e is not None and r.clip_saturation_capacity_e is None
    assert r.read_noise_e is None  # one dark exposure: the read noise cannot be told from the dark shot noise


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
        measure_photon_transfer(OPU(cfg, seed=0), n_levels=10)
