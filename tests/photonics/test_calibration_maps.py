"""Dark and flat maps (DSNU, PRNU) against the camera's ground-truth pixel maps; correction."""

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import FixedPatternMaps, analyze_fixed_pattern, measure_fixed_pattern, measure_photon_transfer
from photonics.calibration.maps import spatial_nonuniformity
from photonics.errors import CalibrationError, ShapeError

K_SIGMA = 4.0


@pytest.fixture(scope="module")
def measured():
    cfg = DeviceConfig.preset("lab-cmos", n_in=32, camera__prnu=0.02, camera__dsnu_e=4.0)
    opu = OPU(cfg, seed=5)
    ptc = measure_photon_transfer(opu, black_level_dn=cfg.camera.black_level_dn)
    maps = measure_fixed_pattern(opu, photon_transfer=ptc, n_frames=128)
    return opu, ptc, maps


def test_summary_numbers_match_truth(measured):
    opu, _, maps = measured
    cam = opu.camera
    dsnu_true = np.std(cam.dark_electrons(maps.exposure_s), ddof=1)
    prnu_true = np.std(cam.prnu_map, ddof=1)
    # K's 0.5 % uncertainty is in dsnu_e's; the temporal-noise correction keeps both unbiased
    assert abs(maps.dsnu_e.value - dsnu_true) <= K_SIGMA * maps.dsnu_e.uncertainty
    assert abs(maps.prnu.value - prnu_true) <= K_SIGMA * maps.prnu.uncertainty
    assert maps.prnu.unit == "1" and maps.dsnu_e.unit == "e-"
    # flat field at ~50 % of saturation, as EMVA prescribes
    ptc = measured[1]
    sat_signal = ptc.saturation_dn.value - ptc.dark_mean_dn.value
    assert abs(maps.flat_signal_dn.value / sat_signal - 0.5) < 0.05


def test_maps_follow_the_true_pixel_maps(measured):
    opu, _, maps = measured
    cam = opu.camera
    # per-pixel agreement limited by the maps' temporal noise: predicted correlation from the
    # spatial signal and the averaged temporal noise (sigma^2 / L)
    for est, true, noise_var in (
        (maps.prnu_map, cam.prnu_map - 1.0, maps.flat_temporal_var_dn2.value / maps.n_frames / maps.flat_signal_dn.value**2),
        (maps.dark_map_dn, cam.dark_electrons(maps.exposure_s), maps.dark_temporal_var_dn2.value / maps.n_frames),
    ):
        r = np.corrcoef(est, true)[0, 1]
        signal_var = np.var(est) - noise_var
        expected = np.sqrt(signal_var / np.var(est))
        assert abs(r - expected) < 0.05, (r, expected)
        assert r > 0.8


def test_correction_removes_fixed_patterns(measured):
    opu, _, maps = measured
    # later frames at another level and exposure-equal dark frames
    flat = opu.expose(np.full((64, opu.n_out), 0.6 * maps.flat_power_w), exposure_s=maps.exposure_s)
    dark = opu.dark_frames(64, maps.exposure_s)
    before, _ = spatial_nonuniformity(flat, dark)
    after, _ = spatial_nonuniformity(maps.correct(flat), maps.correct(dark))
    assert before.value > 0.015  # PRNU 2 %
    # what remains is the maps' own noise: ~ sigma_flat / sqrt(L) / signal
    floor = np.sqrt(maps.flat_temporal_var_dn2.value / maps.n_frames) / maps.flat_signal_dn.value
    assert after.value < 0.35 * before.value
    assert after.value < 1.5 * floor + K_SIGMA * after.uncertainty


def test_roundtrip_and_bad_inputs(measured, tmp_path):
    opu, _, maps = measured
    back = FixedPatternMaps.load(maps.save(tmp_path / "maps.h5"))
    assert np.array_equal(back.prnu_map, maps.prnu_map) and back.dsnu_e == maps.dsnu_e
    with pytest.raises(ShapeError, match="n_pixels=1024"):
        maps.correct(np.zeros((3, 10)))
    flat = opu.expose(np.full((4, opu.n_out), maps.flat_power_w))
    dark = opu.dark_frames(4)
    with pytest.raises(CalibrationError, match="too few frames"):
        analyze_fixed_pattern(flat[:1], dark, exposure_s=maps.exposure_s, flat_power_w=1e-12)
    with pytest.raises(ShapeError, match="pixels"):
        analyze_fixed_pattern(flat, dark[:, :100], exposure_s=maps.exposure_s, flat_power_w=1e-12)
    with pytest.raises(CalibrationError, match="not brighter"):
        analyze_fixed_pattern(dark, dark, exposure_s=maps.exposure_s, flat_power_w=0.0)
