"""PhaseSLM (gray levels, fill factor, crosstalk) inside a device, and the four-step
phase-shifting TM measurement against the ground truth."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration.phase_shifting import (
    PhaseShiftingTM,
    hadamard_patterns,
    measure_tm_phase_shifting,
    phase_shifting_quality,
)
from photonics.config import SLMConfig
from photonics.errors import CalibrationError, ConfigError, DTypeError, ShapeError, ValidationError
from photonics.slm import PhaseSLM


def slm_config(preset="ideal", n_in=48, n_out=128, **slm):
    over = {"modulator": "slm", **{f"slm.{k}": v for k, v in slm.items()}}
    return DeviceConfig.preset(preset, n_in=n_in, n_out=n_out).replace(over)


def gray_frames(rng, n, n_in, levels=256):
    return rng.integers(0, levels, size=(n, n_in))


# ---------------------------------------------------------------------------------------------
# the modulator
# ---------------------------------------------------------------------------------------------


def test_ideal_slm_is_pure_phase(rng):
    cfg = slm_config(fill_factor=1.0)
    slm = PhaseSLM(cfg)
    g = gray_frames(rng, 5, 48)
    a = slm.mode_amplitudes(g)
    amp = math.sqrt(cfg.mode_power_w)
    assert a.shape == (5, cfg.n_modes_total)
    assert np.allclose(a[:, :48], amp * np.exp(2j * np.pi * g / 256), rtol=1e-12)
    assert np.allclose(a[:, 48:], amp)  # the reference modes stay at phase 0
    assert cfg.mode_power_w == pytest.approx(cfg.laser.power_w / cfg.n_modes_total)
    assert slm.phase_of(64) == pytest.approx(math.pi / 2) and slm.gray_for_phase(-math.pi / 2) == 192


def test_fill_factor_adds_unmodulated_light(rng):
    cfg = slm_config(fill_factor=0.8)
    a = PhaseSLM(cfg).mode_amplitudes(np.full((1, 48), 128))  # phase pi
    amp = math.sqrt(cfg.mode_power_w)
    assert np.allclose(a[0, :48], amp * (0.8 * -1 + 0.2))
    assert np.allclose(a[0, 48:], amp)


def reference_blur(img, sigma):
    """Separable Gaussian blur with edge padding (independent of scipy), truncated at 4 sigma."""
    r = int(4 * sigma + 0.5)
    x = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    p = np.pad(img, ((0, 0), (r, r), (r, r)), mode="edge")
    rows = sum(k[i] * p[:, i : i + img.shape[1], :] for i in range(2 * r + 1))
    return sum(k[i] * rows[:, :, i : i + img.shape[2]] for i in range(2 * r + 1))


def test_crosstalk_blurs_the_phase_map(rng):
    cfg = slm_config(n_in=30, macropixel=3, crosstalk_px=0.8, fill_factor=0.9)
    slm = PhaseSLM(cfg)
    rows, cols = slm.layout
    assert rows * cols >= cfg.n_modes_total and cols == math.ceil(math.sqrt(cfg.n_modes_total))
    g = gray_frames(rng, 3, 30)
    phase = np.zeros((3, rows * cols))
    phase[:, :30] = 2 * np.pi * g / 256
    img = np.kron(phase.reshape(3, rows, cols), np.ones((3, 3)))
    m = np.exp(1j * reference_blur(img, 0.8)).reshape(3, rows, 3, cols, 3).mean(axis=(2, 4)).reshape(3, -1)
    expected = math.sqrt(cfg.mode_power_w) * (0.9 * m[:, : cfg.n_modes_total] + 0.1)
    assert np.allclose(slm.mode_amplitudes(g), expected, atol=1e-9 * math.sqrt(cfg.mode_power_w))
    # a uniform pattern is untouched inside the signal area, whatever the blur
    flat = PhaseSLM(slm_config(n_in=36, macropixel=4, crosstalk_px=2.0, fill_factor=1.0)).mode_amplitudes(np.full((1, 36), 64))
    assert abs(flat[0, 0] / abs(flat[0, 0]) - 1j) < 1e-9


def test_frames_are_validated():
    slm = PhaseSLM(slm_config(gray_levels=16))
    with pytest.raises(ValidationError, match=r"gray levels in \[0, 15\]"):
        slm.check_frames(np.full((1, 48), 16))
    with pytest.raises(ValidationError, match="integer gray levels"):
        slm.check_frames(np.full((1, 48), 1.5))
    with pytest.raises(ValidationError, match="NaN"):
        slm.check_frames(np.full((1, 48), np.nan))
    with pytest.raises(ShapeError, match="n_in=48"):
        slm.check_frames(np.zeros((1, 47)))
    with pytest.raises(DTypeError, match="gray levels"):
        slm.check_frames(np.zeros((1, 48), complex))
    assert slm.check_frames(np.full((2, 48), 15.0)).dtype == np.uint8


def test_config_section_and_round_trip(tmp_path):
    cfg = slm_config(gray_levels=1024, crosstalk_px=0.5, frame_rate_hz=60.0)
    assert DeviceConfig.from_toml(cfg.to_toml(tmp_path / "slm.toml")) == cfg
    assert DeviceConfig.from_json(cfg.to_json()) == cfg
    assert cfg.frame_rate_hz == 60.0 and cfg.modulator_config is cfg.slm
    assert PhaseSLM(cfg).frame_dtype == np.uint16
    with pytest.raises(ConfigError, match="modulator"):
        DeviceConfig(modulator="lcd")
    with pytest.raises(ConfigError, match="slm.gray_levels"):
        SLMConfig(gray_levels=1)
    with pytest.raises(ConfigError, match="slm.crosstalk_px"):
        SLMConfig(crosstalk_px=-0.1)
    with pytest.raises(ConfigError, match="slm.fill_factor"):
        SLMConfig(fill_factor=0.0)
    with pytest.raises(ConfigError, match="slm.shape"):
        slm_config().replace({"slm.shape": [4, 4]})


def test_device_projects_through_all_modes(rng):
    cfg = slm_config(fill_factor=0.95)
    opu = OPU(cfg, seed=2)
    g = gray_frames(rng, 6, 48)
    y = opu.project(g)
    t = opu.medium.matrix(None, slice(0, cfg.n_modes_total)).astype(np.complex128)
    amp = math.sqrt(cfg.mode_power_w)
    a = np.concatenate([amp * (0.95 * np.exp(2j * np.pi * g / 256) + 0.05), np.full((6, cfg.n_reference), amp)], axis=1)
    expected = opu.pixel_gain_dn_per_field2() * np.abs(a @ t.T) ** 2
    assert np.allclose(y, expected, rtol=1e-4, atol=1e-4 * expected.max())
    assert np.allclose(opu.expected_projection(g), expected, rtol=1e-9)
    # mean pixel power over random phases: the config's budget formula
    p = opu.optical_power(gray_frames(rng, 400, 48))
    per_frame = p.mean(axis=1)
    assert abs(per_frame.mean() / cfg.mean_pixel_power_w() - 1) < 5 * per_frame.std(ddof=1) / math.sqrt(400) / cfg.mean_pixel_power_w() + 0.02
    assert opu.device_time_s == pytest.approx(6 / cfg.frame_rate_hz)


def test_dmd_only_operations_refuse_an_slm(rng):
    opu = OPU(slm_config(), seed=0)
    g = gray_frames(rng, 2, 48)
    for call in (lambda: opu.linear(g), opu.calibrate_reference, opu.effective_linear_matrix, opu.reference_field, lambda: opu.acquire(g, reference=True)):
        with pytest.raises(ValidationError, match="phase SLM"):
            call()


# ---------------------------------------------------------------------------------------------
# four-step phase shifting
# ---------------------------------------------------------------------------------------------


def test_hadamard_patterns():
    p = hadamard_patterns(48)
    assert p.shape == (64, 48) and set(np.unique(p)) == {-1, 1}
    assert np.array_equal(p.T.astype(int) @ p.astype(int), 64 * np.eye(48, dtype=int))
    assert hadamard_patterns(1).shape == (1, 1)


def test_measured_tm_is_the_true_tm_times_the_reference_per_pixel():
    """Noiseless device: T_obs[i, j] = g_i A ff conj(u_i) T[i, j] exactly (u: static reference field)."""
    cfg = slm_config(fill_factor=0.9, macropixel=2)
    opu = OPU(cfg, seed=5)
    res = measure_tm_phase_shifting(opu)
    assert res.frames_used == 4 * 64 and res.n_patterns == 64 and res.saturated_fraction == 0
    t_full = opu.medium.matrix(None, slice(0, cfg.n_modes_total)).astype(np.complex128)
    t = t_full[:, :48]
    amp = math.sqrt(cfg.mode_power_w)
    u = amp * t_full[:, 48:].sum(axis=1) + amp * 0.1 * t.sum(axis=1)  # reference + gap light
    g = opu.pixel_gain_dn_per_field2()
    r = g * amp * 0.9 * np.conj(u)
    assert np.allclose(res.t_obs, r[:, None] * t, rtol=1e-4, atol=1e-5 * np.abs(res.t_obs).max())
    q = phase_shifting_quality(res, opu.transmission_matrix)
    assert q["median_residual"] < 1e-5 and q["median_correlation"] > 1 - 1e-9
    assert np.allclose(q["row_factor"], r, rtol=1e-4)
    assert res.relative_noise.value < 1e-5


def test_noise_estimate_and_averaging():
    cfg = slm_config("lab-cmos", n_in=64, n_out=256, macropixel=4)
    exposure = cfg.camera.exposure_s / 4  # every SLM mode reflects: a quarter of the DMD exposure
    errs, est = [], []
    for n_avg in (1, 4):
        opu = OPU(cfg, seed=1)
        res = measure_tm_phase_shifting(opu, exposure_s=exposure, n_average=n_avg)
        assert res.saturated_fraction < 1e-3 and res.frames_used == 4 * 64 * n_avg
        q = phase_shifting_quality(res, opu.transmission_matrix)
        t = opu.transmission_matrix.astype(np.complex128)
        resid = np.linalg.norm(res.t_obs - q["row_factor"][:, None] * t) / np.linalg.norm(res.t_obs)
        errs.append(resid)
        est.append(res.relative_noise)
        # the phase-closure estimate (no ground truth) predicts the actual error
        assert abs(resid / res.relative_noise.value - 1) < 0.1
    # shot + read noise average down as 1/sqrt(n); ADC rounding does not quite (dither only)
    assert 0.45 < errs[1] / errs[0] < 0.6


def test_crosstalk_degrades_the_measurement():
    res = []
    for xt in (0.0, 0.5, 1.0):
        opu = OPU(slm_config(n_in=64, n_out=128, macropixel=4, crosstalk_px=xt), seed=3)
        r = measure_tm_phase_shifting(opu)
        res.append(phase_shifting_quality(r, opu.transmission_matrix)["median_residual"])
    assert res[0] < 1e-5 < 0.05 < res[1] < res[2]


def test_result_round_trip(tmp_path):
    opu = OPU(slm_config(n_in=16, n_out=32), seed=0)
    res = measure_tm_phase_shifting(opu, chunk_patterns=5)
    path = res.save(tmp_path / "ps.h5", config=opu.config, seed=0)
    back = PhaseShiftingTM.load(path)
    assert np.array_equal(back.t_obs, res.t_obs) and back.relative_noise == res.relative_noise
    assert back.n_patterns == 16 and back.phase_steps_rad.tolist() == pytest.approx([0, math.pi / 2, math.pi, 3 * math.pi / 2])


def test_refuses_a_dmd_or_odd_gray_levels():
    with pytest.raises(CalibrationError, match="phase-only SLM"):
        measure_tm_phase_shifting(OPU(DeviceConfig.preset("ideal", n_in=8, n_out=16), seed=0))
    with pytest.raises(CalibrationError, match="multiple of 4"):
        measure_tm_phase_shifting(OPU(slm_config(n_in=8, n_out=16, gray_levels=30), seed=0))
    with pytest.raises(ValidationError, match="n_average"):
        measure_tm_phase_shifting(OPU(slm_config(n_in=8, n_out=16), seed=0), n_average=0)
