"""The camera's one noise model, and every physics consumer of it, against simulated frames.

The reference is what the simulator's camera actually produces: the temporal mean and
variance of repeated frames under a known illumination (``OPU.expose``, ``OPU.acquire``). The
noise model (:func:`photonics.camera.reading_statistics`) and the figures built on it (the
noise budget, the linear-projection photon budget, the calibration truth) must agree with them
within the estimators' spread. (The dfa consumers, privacy accounting and sweeps, are tested
the same way in tests/dfa/test_noise_consumers.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.budget import linear_projection_budget, noise_budget
from photonics.camera import reading_statistics

N_OUT = 4096
REPEATS = 120


def _temporal(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel temporal mean and (unbiased) variance of a frame stack (repeats, n_pixels) [DN, DN^2]."""
    f = frames.astype(np.float64)
    return f.mean(axis=0), f.var(axis=0, ddof=1)


def _mean_var_tolerance(var_per_pixel: np.ndarray, repeats: int, k: float = 5.0) -> float:
    """k sigma of the pixel average of unbiased variance estimates of ``repeats`` Gaussian samples."""
    return k * float(np.mean(var_per_pixel)) * np.sqrt(2.0 / (repeats - 1)) / np.sqrt(var_per_pixel.size)


@pytest.fixture(scope="module")
def opu():
    return OPU(DeviceConfig.preset("lab-cmos", n_in=64, n_out=N_OUT), seed=3)


@pytest.mark.parametrize("signal_e", [0.0, 40.0, 400.0, 1500.0])
def test_reading_statistics_match_simulated_frames(opu, signal_e):
    cam = opu.camera
    e_per_w = float(np.mean(cam.electrons_per_watt()))
    power = np.full(N_OUT, signal_e / e_per_w)
    mean_dn, var_dn2 = _temporal(opu.expose(np.tile(power, (REPEATS, 1))))
    st = cam.reading_statistics(power)
    # mean reading: per pixel, within 5 sigma of the per-pixel mean estimates, averaged
    assert abs(np.mean(mean_dn) - np.mean(st.mean_dn)) < 5 * np.sqrt(np.mean(var_dn2) / REPEATS / N_OUT) + 0.02
    # variance: shot (signal + dark) + read + quantization, in DN^2
    assert abs(np.mean(var_dn2) - np.mean(st.total_var_dn2)) < _mean_var_tolerance(var_dn2, REPEATS)
    # each stage matters: leaving one out misses the simulated variance
    for missing in ("shot_var_e2", "read_var_e2", "quantization_var_e2"):
        part = np.mean(np.broadcast_to(getattr(st, missing), (N_OUT,))) / cam.config.gain_e_per_dn**2
        if part > 4 * _mean_var_tolerance(var_dn2, REPEATS):
            assert abs(np.mean(var_dn2) - (np.mean(st.total_var_dn2) - part)) > _mean_var_tolerance(var_dn2, REPEATS)


def test_reading_statistics_of_a_config_are_those_of_a_mean_pixel():
    c = DeviceConfig.preset("lab-cmos").camera
    st = reading_statistics(c, 100.0)
    assert st.dark_e == pytest.approx(c.dark_current_e_per_s * c.exposure_s)
    assert st.total_var_e2 == pytest.approx(100.0 + st.dark_e + c.read_noise_e**2 + c.gain_e_per_dn**2 / 12)
    assert reading_statistics(c.__class__(**{**c.to_dict(), "shot_noise": False}), 100.0).shot_var_e2 == 0.0


def test_noise_budget_matches_simulated_frames(opu):
    """noise_budget's signal and total noise equal the frames' at its mean pixel power."""
    cfg = opu.config
    b = noise_budget(cfg)
    gain = cfg.camera.gain_e_per_dn
    frames = opu.expose(np.full((REPEATS, N_OUT), b["pixel_power_w"]))
    mean_dn, var_dn2 = _temporal(frames)
    dark = opu.dark_frames(REPEATS).astype(np.float64).mean()
    assert (np.mean(mean_dn) - dark) * gain == pytest.approx(b["signal_e"], rel=0.02)
    tol_e2 = _mean_var_tolerance(var_dn2, REPEATS) * gain**2 + 0.01 * b["total_noise_e"] ** 2
    assert abs(np.mean(var_dn2) * gain**2 - b["total_noise_e"] ** 2) < tol_e2


def test_linear_projection_budget_matches_simulated_frames():
    """Electrons of one ON mode and of the reference block, against frames that show them."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=64, n_out=N_OUT, laser__power_w=0.3 * 2.3e-9)  # dim: no saturation
    opu = OPU(cfg, seed=5)
    lb = linear_projection_budget(cfg)
    gain = cfg.camera.gain_e_per_dn
    assert lb["reference_saturated_fraction"] < 1e-4
    none = np.zeros((REPEATS, cfg.n_in), dtype=np.uint8)
    base = opu.acquire(none).astype(np.float64)
    ref = opu.acquire(none, reference=True).astype(np.float64)
    diff_ref = (ref - base).mean(axis=0) * gain  # per pixel, electrons of the reference alone
    sem = diff_ref.std(ddof=1) / np.sqrt(N_OUT)  # speckle spread dominates the per-pixel values
    assert abs(diff_ref.mean() - lb["reference_electrons"]) < 5 * sem
    one = np.repeat(np.eye(cfg.n_in, dtype=np.uint8), 4, axis=0)  # each mode ON alone, 4 repeats
    diff_one = (opu.acquire(one).astype(np.float64) - base.mean(axis=0)) * gain
    sem1 = diff_one.std(ddof=1) / np.sqrt(diff_one.size)
    assert abs(diff_one.mean() - lb["electrons_per_mode"]) < 5 * sem1


def test_calibration_truth_of_the_dark_noise_matches_dark_frames(opu):
    from photonics.calibration.report import CalibrationReport, device_truth

    report = CalibrationReport(device="lab-cmos", seed=0, steps="", frames_used=0, device_time_s=0.0, wall_time_s=0.0)
    truth = device_truth(opu, report)
    _, var_dn2 = _temporal(opu.dark_frames(REPEATS))
    gain = opu.config.camera.gain_e_per_dn
    quant = gain**2 / 12.0
    measured_e2 = np.mean(var_dn2) * gain**2 - quant
    assert abs(measured_e2 - truth["temporal_dark_noise_e"] ** 2) < _mean_var_tolerance(var_dn2, REPEATS) * gain**2
