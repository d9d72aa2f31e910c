"""Camera read-out: per-stage photon transfer, saturation, dark level, fixed patterns, errors."""

import numpy as np
import pytest

from photonics.camera import Camera
from photonics.config import CameraConfig
from photonics.errors import ShapeError, ValidationError
from photonics.units import photon_energy_j
from tests.helpers import sample_var_se

WL = 532e-9


def _power_for_electrons(cfg: CameraConfig, electrons: float) -> float:
    return electrons * photon_energy_j(WL) / (cfg.quantum_efficiency * cfg.exposure_s)


def _flat(cam: Camera, electrons: float, n_frames=40, frame0=0, exposure_s=None):
    p = _power_for_electrons(cam.config, electrons) * (1.0 if exposure_s is None else cam.config.exposure_s / exposure_s)
    power = np.full((n_frames, cam.n_pixels), p)
    return cam.read(power, frame0, exposure_s).astype(np.float64)


BASE = dict(
    quantum_efficiency=0.5,
    read_noise_e=6.0,
    dark_current_e_per_s=0.0,
    gain_e_per_dn=2.0,
    full_well_e=1e6,
    bit_depth=16,
    black_level_dn=100.0,
    prnu=0.0,
    dsnu_e=0.0,
    exposure_s=1e-3,
    frame_rate_hz=500.0,
)


@pytest.mark.parametrize("mean_e", [20.0, 800.0, 20000.0])
@pytest.mark.parametrize("quantize", [False, True])
def test_photon_transfer_variance(mean_e, quantize):
    """var(DN) = mean_e / G^2 + read^2 / G^2 (+ 1/12 with quantization), G = gain_e_per_dn."""
    cfg = CameraConfig(**BASE, quantize=quantize)
    cam = Camera(cfg, WL, 4000, seed=1)
    dn = _flat(cam, mean_e)
    g = cfg.gain_e_per_dn
    mean_dn = dn.mean() - cfg.black_level_dn
    assert abs(mean_dn - mean_e / g) < 5 * dn.std() / np.sqrt(dn.size)
    expected = mean_e / g**2 + cfg.read_noise_e**2 / g**2 + (1 / 12 if quantize else 0)
    assert abs(dn.var() - expected) < 5 * sample_var_se(dn)


def test_each_stage_can_be_switched_off():
    cfg = CameraConfig(**{**BASE, "read_noise_e": 0.0}, shot_noise=False, quantize=False)
    cam = Camera(cfg, WL, 500, seed=1)
    dn = _flat(cam, 1234.5, n_frames=3)
    assert np.allclose(dn, 1234.5 / cfg.gain_e_per_dn + cfg.black_level_dn, rtol=1e-9)
    # read noise only
    cfg = CameraConfig(**BASE, shot_noise=False, quantize=False)
    dn = _flat(Camera(cfg, WL, 4000, seed=2), 500.0)
    assert abs(dn.var() - (6.0 / 2.0) ** 2) < 5 * sample_var_se(dn)
    # shot noise only
    cfg = CameraConfig(**{**BASE, "read_noise_e": 0.0}, quantize=False)
    dn = _flat(Camera(cfg, WL, 4000, seed=3), 500.0)
    assert abs(dn.var() - 500.0 / 4.0) < 5 * sample_var_se(dn)
    # Poisson: counts are integers of electrons
    assert np.allclose(((dn - cfg.black_level_dn) * cfg.gain_e_per_dn) % 1, 0, atol=1e-6)


def test_saturation_at_full_well_and_at_adc_max():
    # full well below the ADC top: output pinned at full_well / G + black level
    cfg = CameraConfig(**{**BASE, "full_well_e": 5000.0})
    dn = _flat(Camera(cfg, WL, 300, seed=1), 1e6, n_frames=4)
    lo = np.floor(5000.0 / 2.0 + 100.0 - 4 * 3.0)
    assert np.all(dn <= np.ceil(5000.0 / 2.0 + 100.0 + 5 * 3.0)) and np.all(dn >= lo)
    assert abs(dn.mean() - (2500.0 + 100.0)) < 5 * 3.0 / np.sqrt(dn.size) + 0.5
    # 8-bit ADC below the full well: every pixel at 255
    cfg = CameraConfig(**{**BASE, "bit_depth": 8, "black_level_dn": 10.0})
    cam = Camera(cfg, WL, 300, seed=1)
    out = cam.read(np.full((4, 300), _power_for_electrons(cfg, 1e5)), 0)
    assert out.dtype == np.uint8 and np.all(out == 255)
    assert cfg.saturation_e == pytest.approx((255 - 10) * 2.0)


def test_dark_frames_at_configured_level():
    cfg = CameraConfig(**{**BASE, "dark_current_e_per_s": 2.0e5, "dsnu_e": 3.0})
    cam = Camera(cfg, WL, 5000, seed=4)
    dn = cam.read(np.zeros((30, 5000)), 0).astype(np.float64)
    dark_mean_e = cfg.dark_current_e_per_s * cfg.exposure_s  # 200 e-
    # the DSNU map (mean 0, sd 3 e-) shifts the pixel average by ~3/sqrt(5000) e-
    tol = 5 * dn.std() / np.sqrt(dn.size) + 5 * cfg.dsnu_e / cfg.gain_e_per_dn / np.sqrt(5000)
    assert abs(dn.mean() - (dark_mean_e / 2.0 + 100.0)) < tol
    # per-pixel dark offsets follow the DSNU map
    per_pixel = dn.mean(axis=0)
    assert np.corrcoef(per_pixel, cam.dsnu_map_e)[0, 1] > 0.3


def test_fixed_patterns_are_static_and_noise_is_per_frame():
    cfg = CameraConfig(**{**BASE, "prnu": 0.05, "dsnu_e": 2.0})
    a, b = Camera(cfg, WL, 1000, seed=9), Camera(cfg, WL, 1000, seed=9)
    assert np.array_equal(a.prnu_map, b.prnu_map) and np.array_equal(a.dsnu_map_e, b.dsnu_map_e)
    # the map of pixel i does not depend on how many pixels are read
    c = Camera(cfg, WL, 400, seed=9)
    assert np.array_equal(c.prnu_map, a.prnu_map[:400])
    p = np.full((2, 1000), _power_for_electrons(cfg, 1000.0))
    r1, r2 = a.read(p, 0), a.read(p, 2)
    assert not np.array_equal(r1, r2)  # different frames, different noise
    assert np.array_equal(a.read(p, 0), r1)  # same frame index, same noise
    assert abs(a.prnu_map.std() - 0.05) < 5 * 0.05 / np.sqrt(2 * 1000)


def test_exposure_override_is_linear():
    cfg = CameraConfig(**{**BASE, "read_noise_e": 0.0}, shot_noise=False, quantize=False)
    cam = Camera(cfg, WL, 10, seed=1)
    p = np.full((1, 10), _power_for_electrons(cfg, 400.0))
    full = cam.read(p, 0) - 100.0
    half = cam.read(p, 0, exposure_s=cfg.exposure_s / 2) - 100.0
    assert np.allclose(half, full / 2, rtol=1e-6)


def test_numba_equals_numpy_twin_through_the_camera(rng):
    cfg = CameraConfig(**{**BASE, "bit_depth": 10, "black_level_dn": 5.0, "prnu": 0.02, "dsnu_e": 1.0})
    cam = Camera(cfg, WL, 3000, seed=5)
    power = rng.exponential(_power_for_electrons(cfg, 300.0), size=(5, 3000))
    a = cam.read(power, 17)
    b = cam.read(power, 17, use_numba=False)
    assert a.dtype == b.dtype == np.uint16
    assert np.mean(a == b) >= 1 - 1e-4


def test_bad_inputs():
    cam = Camera(CameraConfig(**BASE), WL, 10, seed=0)
    with pytest.raises(ValidationError, match="exposure_s"):
        cam.read(np.zeros((1, 10)), 0, exposure_s=-1e-3)
    with pytest.raises(ValidationError, match="exposure_s"):
        cam.read(np.zeros((1, 10)), 0, exposure_s=1.0)  # longer than the frame period
    with pytest.raises(ShapeError, match="power_w"):
        cam.read(np.zeros((1, 11)), 0)
    with pytest.raises(ValidationError, match="NaN"):
        cam.read(np.full((1, 10), np.nan), 0)
    with pytest.raises(ValidationError, match="NaN"):
        cam.read(np.full((1, 10), np.nan, dtype=np.float16), 0)
    with pytest.raises(ValidationError, match=">= 0 W"):
        cam.read(np.full((1, 10), -1.0), 0)
