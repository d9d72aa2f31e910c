"""Spatial non-uniformity (EMVA 1288 R4.0): the row / column / pixel split, spectrograms,
histograms, maps and their correction; against constructed patterns and the camera's maps."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import FixedPatternMaps, analyze_fixed_pattern, measure_fixed_pattern, measure_photon_transfer
from photonics.calibration.maps import highpass_deviation, spatial_nonuniformity, spatial_variances, spectrogram
from photonics.errors import CalibrationError, ShapeError

K_SIGMA = 4.0


def test_split_is_unbiased_for_independent_row_column_pixel_patterns():
    """Monte Carlo over images c_n + r_m + p_mn (+ temporal noise / L): the mean of each estimate
    is the configured variance (the exact solve of the expectations; small images, where the
    finite-size terms matter)."""
    rng = np.random.default_rng(3)
    m, n, L = 12, 20, 4
    sc, sr, sp, st = 0.7, 1.1, 1.5, 2.0
    est = []
    for _ in range(3000):
        img = rng.normal(0, sc, n)[None, :] + rng.normal(0, sr, m)[:, None] + rng.normal(0, sp, (m, n))
        img = img + rng.normal(0, st / math.sqrt(L), (m, n))  # the average of L frames keeps sigma^2 / L
        v = spatial_variances(img, st**2, L)
        est.append((v.total, v.col, v.row, v.pixel))
    est = np.array(est)
    mean, se = est.mean(axis=0), est.std(axis=0, ddof=1) / math.sqrt(len(est))
    total = (m * (n - 1) * sc**2 + n * (m - 1) * sr**2 + (m * n - 1) * sp**2) / (m * n - 1)
    for got, s, want in zip(mean, se, (total, sc**2, sr**2, sp**2)):
        assert abs(got - want) < K_SIGMA * s, (got, want, s)


def test_spectrograms_show_columns_horizontally_and_rows_vertically():
    rng = np.random.default_rng(0)
    m, n = 64, 128
    white = rng.normal(0, 2.0, (m, n))
    f, amp = spectrogram(white, axis=1)
    assert f[0] == 0 and f[-1] == pytest.approx(0.5) and f.size == n // 2 + 1
    # Parseval: the mean power over the full spectrum is the variance
    full = np.abs(np.fft.fft(white - white.mean(), axis=1)) ** 2 / n
    assert np.mean(full) == pytest.approx(white.var(), rel=1e-12)
    assert abs(np.mean(amp[1:-1] ** 2) - 4.0) < 0.1 * 4.0
    cols = np.tile(rng.normal(0, 1.0, n), (m, 1))
    _, h = spectrogram(cols, axis=1)
    _, v = spectrogram(cols, axis=0)
    assert np.mean(h[1:] ** 2) > 0.5 and np.max(v[1:]) < 1e-9  # (the DC bin of v holds the column variance)


def test_highpass_removes_shading_and_histograms_count_every_pixel():
    y, x = np.mgrid[0:40, 0:50]
    shading = 3.0 + 0.2 * x - 0.1 * y
    assert np.allclose(highpass_deviation(shading), 0.0, atol=1e-12)
    rng = np.random.default_rng(1)
    flat = rng.normal(100.0, 1.0, (20, 400))
    dark = rng.normal(10.0, 0.5, (20, 400))
    maps = analyze_fixed_pattern(flat, dark, exposure_s=1e-3, image_shape=(16, 25))
    assert maps.image_shape == (16, 25)
    assert maps.dsnu_hist_counts.sum() == (16 - 4) * (25 - 4) and maps.prnu_hist_counts.sum() == (16 - 4) * (25 - 4)
    assert maps.dsnu_accumulated_pct[0] == pytest.approx(100.0) and np.all(np.diff(maps.dsnu_accumulated_pct) <= 0)
    assert maps.dsnu_hist_unit == "DN" and maps.dsnu_e is None


@pytest.fixture(scope="module")
def measured():
    cfg = DeviceConfig.preset("lab-cmos", n_in=32, camera__prnu=0.02, camera__offset_sd_dn=0.5)
    opu = OPU(cfg, seed=5)
    ptc = measure_photon_transfer(opu, n_levels=30, wavelength_m=cfg.laser.wavelength_m)
    maps = measure_fixed_pattern(opu, photon_transfer=ptc, n_frames=128)
    return opu, ptc, maps


def test_summary_numbers_match_the_camera_maps(measured):
    opu, ptc, maps = measured
    cam = opu.camera
    g = opu.config.camera.gain_e_per_dn
    dsnu_true = np.std(cam.dark_electrons(maps.exposure_s) + cam.offset_map_dn * g, ddof=1)
    prnu_true = np.std(cam.prnu_map, ddof=1) / np.mean(cam.prnu_map)
    assert abs(maps.dsnu_e.value - dsnu_true) <= K_SIGMA * maps.dsnu_e.uncertainty
    assert abs(maps.prnu.value - prnu_true) <= K_SIGMA * maps.prnu.uncertainty
    assert maps.prnu.unit == "1" and maps.dsnu_e.unit == "e-" and maps.image_shape == tuple(opu.config.medium.image_shape)
    # the camera has no row or column pattern: those parts are consistent with 0
    for part in (maps.dsnu_col_e, maps.dsnu_row_e, maps.prnu_col, maps.prnu_row):
        assert part.value <= K_SIGMA * part.uncertainty
    # flat field at ~50 % of saturation, as EMVA prescribes
    sat_signal = ptc.saturation_dn.value - ptc.dark_mean_dn.value
    assert abs(maps.flat_signal_dn.value / sat_signal - 0.5) < 0.05


def test_maps_follow_the_true_pixel_maps(measured):
    opu, _, maps = measured
    cam = opu.camera
    g = opu.config.camera.gain_e_per_dn
    # per-pixel agreement limited by the maps' temporal noise: predicted correlation from the
    # spatial signal and the averaged temporal noise (sigma^2 / L)
    for est, true, noise_var in (
        (maps.prnu_map, cam.prnu_map - 1.0, maps.flat_temporal_var_dn2.value / maps.n_frames / maps.flat_signal_dn.value**2),
        (maps.dark_map_dn, cam.dark_electrons(maps.exposure_s) / g + cam.offset_map_dn, maps.dark_temporal_var_dn2.value / maps.n_frames),
    ):
        r = np.corrcoef(est, true)[0, 1]
        expected = np.sqrt((np.var(est) - noise_var) / np.var(est))
        assert abs(r - expected) < 0.05, (r, expected)
        assert r > 0.8


def test_correction_removes_fixed_patterns(measured):
    opu, _, maps = measured
    flat = opu.expose(np.full((64, opu.n_out), 0.6 * maps.flat_power_w), exposure_s=maps.exposure_s)
    dark = opu.dark_frames(64, maps.exposure_s)
    before, _ = spatial_nonuniformity(flat, dark)
    after, _ = spatial_nonuniformity(maps.correct(flat), maps.correct(dark))
    assert before.value > 0.015  # PRNU 2 %
    floor = np.sqrt(maps.flat_temporal_var_dn2.value / maps.n_frames) / maps.flat_signal_dn.value
    assert after.value < 0.35 * before.value
    assert after.value < 1.5 * floor + K_SIGMA * after.uncertainty


def test_roundtrip_and_bad_inputs(measured, tmp_path):
    opu, _, maps = measured
    back = FixedPatternMaps.load(maps.save(tmp_path / "maps.h5"))
    assert np.array_equal(back.prnu_map, maps.prnu_map) and back.dsnu_e == maps.dsnu_e and back.image_shape == maps.image_shape
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
    with pytest.raises(ShapeError, match="image_shape"):
        analyze_fixed_pattern(flat, dark, exposure_s=maps.exposure_s, image_shape=(10, 10))
