"""Camera read-out: per-stage photon transfer, saturation, the dark model (dark current and offset
non-uniformity) against its configuration, pixel maps, errors."""

import math

import numpy as np
import pytest

from photonics import DeviceConfig
from photonics.camera import Camera, PixelMaps, clipped_normal_moments, gamma_map, read_pixel_maps, write_pixel_maps
from photonics.config import CameraConfig
from photonics.errors import ConfigError, FileFormatError, ShapeError, ValidationError
from photonics.io import atomic_h5
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
    dark_current_sd_e_per_s=0.0,
    gain_e_per_dn=2.0,
    full_well_e=1e6,
    bit_depth=16,
    black_level_dn=100.0,
    prnu=0.0,
    offset_sd_dn=0.0,
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


# ---- the dark model ---------------------------------------------------------------------------------
DARK = dict(BASE, dark_current_e_per_s=2.0e5, dark_current_sd_e_per_s=6.0e4, offset_sd_dn=1.5, read_noise_e=4.0)


@pytest.mark.parametrize("exposure_s", [2e-4, 7e-4, 1.5e-3])
def test_realised_dark_signal_dsnu_and_temporal_noise_match_the_configuration(exposure_s):
    """On the frames: mean dark signal <I> t, DSNU sqrt((sd(I) t)^2 + (sd(o) G)^2) and the
    temporal dark variance sigma_r^2 + <I> t equal the configured values within 3 sigma
    (sigma: the sampling of N pixel maps and of L frames, from the data)."""
    cfg = CameraConfig(**DARK)
    n, L = 6000, 24
    cam = Camera(cfg, WL, n, seed=7)
    g = cfg.gain_e_per_dn
    y = cam.read(np.zeros((L, n)), 0, exposure_s).astype(np.float64)
    e = (y - cfg.black_level_dn) * g  # electrons above the black level (offsets included)
    pix = e.mean(axis=0)
    temporal = e.var(axis=0, ddof=1)  # per pixel, e-^2 (includes G^2 / 12 of rounding)
    # mean dark signal
    dark = cfg.dark_current_e_per_s * exposure_s
    se = pix.std(ddof=1) / math.sqrt(n)
    assert abs(pix.mean() - dark) < 3 * se, (pix.mean(), dark, se)
    # DSNU (temporal noise of the L-frame average removed)
    s2 = pix.var(ddof=1) - temporal.mean() / L
    dsnu = math.hypot(cfg.dark_current_sd_e_per_s * exposure_s, cfg.offset_sd_dn * g)
    s2_se = sample_var_se(pix)
    assert abs(s2 - dsnu**2) < 3 * s2_se, (math.sqrt(s2), dsnu)
    # temporal dark noise: read^2 + Poisson(<I> t) + rounding
    t_var = cfg.read_noise_e**2 + dark + g * g / 12.0
    assert abs(temporal.mean() - t_var) < 3 * temporal.std(ddof=1) / math.sqrt(n)
    # no clipping artefact: nobody has exactly zero dark electrons when the mean is hundreds
    assert np.mean(cam.dark_electrons(exposure_s) == 0) == 0.0
    assert np.all(cam.dark_current_map_e_per_s >= 0)


def test_dark_current_scales_with_the_exposure_override():
    """The dark signal follows the exposure of the read-out (slope = <I>), the offset does not."""
    cfg = CameraConfig(**DARK)
    n, L = 4000, 16
    cam = Camera(cfg, WL, n, seed=3)
    ts = np.array([1e-4, 5e-4, 1e-3, 1.8e-3])
    means, ses = [], []
    for i, t in enumerate(ts):
        y = cam.read(np.zeros((L, n)), 1000 * i, t).astype(np.float64)
        means.append(y.mean())
        ses.append(y.std() / math.sqrt(y.size))  # the maps are the same pixels at every t: only temporal noise
    slope, icpt = np.polyfit(ts, means, 1)
    # the same pixels at every exposure: the realised map mean sets the slope
    realised = cam.dark_current_map_e_per_s.mean() / cfg.gain_e_per_dn
    assert abs(slope - realised) < 4 * max(ses) / np.std(ts) / math.sqrt(ts.size)
    assert abs(icpt - (cfg.black_level_dn + cam.offset_map_dn.mean())) < 4 * max(ses)
    # and the realised map mean is the configured one within 3 sigma of the pixel sampling
    assert abs(realised * cfg.gain_e_per_dn - cfg.dark_current_e_per_s) < 3 * cfg.dark_current_sd_e_per_s / math.sqrt(n)


def test_truth_reports_exactly_what_is_configured():
    cfg = CameraConfig(**DARK)
    cam = Camera(cfg, WL, 100, seed=0)
    tr = cam.truth()
    t = cfg.exposure_s
    assert tr.dark_current_e_per_s == cfg.dark_current_e_per_s and tr.dark_current_sd_e_per_s == cfg.dark_current_sd_e_per_s
    assert tr.offset_sd_dn == cfg.offset_sd_dn and tr.prnu == cfg.prnu and tr.read_noise_e == cfg.read_noise_e
    assert tr.dark_signal_e == cfg.dark_current_e_per_s * t
    assert tr.dsnu_e == math.hypot(cfg.dark_current_sd_e_per_s * t, cfg.offset_sd_dn * cfg.gain_e_per_dn)
    assert tr.dsnu_e_at(2 * t) == math.hypot(cfg.dark_current_sd_e_per_s * 2 * t, cfg.offset_sd_dn * cfg.gain_e_per_dn)
    assert tr.temporal_dark_noise_e == math.sqrt(cfg.read_noise_e**2 + cfg.dark_current_e_per_s * t)
    # lab-cmos as configured (the example)
    lab = Camera(DeviceConfig.preset("lab-cmos").camera, WL, 1024, seed=0).truth()
    assert lab.dark_signal_e == pytest.approx(800.0 * 5e-4) and lab.dsnu_e == pytest.approx(math.hypot(240 * 5e-4, 0.25 * 8.0))


@pytest.mark.parametrize("cv", [0.01, 0.3, 2.0])
def test_gamma_maps_have_the_configured_moments_and_stay_positive(cv):
    n = 20000
    x = gamma_map(12345, n, 3.0, 3.0 * cv)
    assert np.all(x > 0) or cv >= 1  # a gamma with cv >= 1 can underflow to 0, never below
    assert np.all(x >= 0)
    assert abs(x.mean() - 3.0) < 3 * 3.0 * cv / math.sqrt(n)
    assert abs(x.var(ddof=1) - (3.0 * cv) ** 2) < 3 * sample_var_se(x)
    # skewness of a gamma law: 2 cv (distinguishes it from a clipped normal)
    skew = np.mean((x - x.mean()) ** 3) / x.std() ** 3
    assert abs(skew - 2 * cv) < 0.15 * max(1.0, 2 * cv) + 3 * math.sqrt(6.0 / n) * max(1.0, 4 * cv**2)
    # map i does not depend on how many pixels are read
    assert np.array_equal(gamma_map(12345, 100, 3.0, 3.0 * cv), x[:100])


def test_maps_are_static_and_noise_is_per_frame():
    cfg = CameraConfig(**{**BASE, "prnu": 0.05, "offset_sd_dn": 1.0, "dark_current_e_per_s": 100.0, "dark_current_sd_e_per_s": 30.0})
    a, b = Camera(cfg, WL, 1000, seed=9), Camera(cfg, WL, 1000, seed=9)
    for name in ("prnu_map", "dark_current_map_e_per_s", "offset_map_dn"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        # the map of pixel i does not depend on how many pixels are read
        assert np.array_equal(getattr(Camera(cfg, WL, 400, seed=9), name), getattr(a, name)[:400])
    p = np.full((2, 1000), _power_for_electrons(cfg, 1000.0))
    r1, r2 = a.read(p, 0), a.read(p, 2)
    assert not np.array_equal(r1, r2)  # different frames, different noise
    assert np.array_equal(a.read(p, 0), r1)  # same frame index, same noise
    assert abs(a.prnu_map.std() - 0.05) < 5 * 0.05 / np.sqrt(2 * 1000)
    assert np.all(a.prnu_map > 0)


def test_kernel_parameters_carry_the_maps():
    cfg = CameraConfig(**DARK)
    cam = Camera(cfg, WL, 50, seed=2)
    k = cam.kernel_parameters(1e-3)
    assert np.allclose(k.dark_e, cam.dark_current_map_e_per_s * 1e-3)
    assert np.allclose(k.offset_dn, cfg.black_level_dn + cam.offset_map_dn)
    st = cam.reading_statistics(0.0, 1e-3)
    assert np.allclose(st.mean_dn, (cam.dark_current_map_e_per_s * 1e-3) / cfg.gain_e_per_dn + cfg.black_level_dn + cam.offset_map_dn)


def test_expected_moments_beyond_saturation_match_a_direct_simulation():
    """min(Z, c) moments (closed form) against samples; and the camera's clipped variance curve."""
    rng = np.random.default_rng(0)
    for m, v, c in ((10.0, 4.0, 11.0), (0.0, 1.0, -1.0), (5.0, 0.0, 3.0), (2.0, 9.0, np.inf)):
        z = np.minimum(m + math.sqrt(v) * rng.standard_normal(400_000), c)
        e1, var = clipped_normal_moments(m, v, c)
        assert abs(e1 - z.mean()) < 5 * z.std() / math.sqrt(z.size) + 1e-12
        assert abs(var - z.var()) < 5 * sample_var_se(z) + 1e-12
    cfg = CameraConfig(**{**BASE, "bit_depth": 8, "black_level_dn": 10.0, "gain_e_per_dn": 8.0})
    cam = Camera(cfg, WL, 3000, seed=1)
    for frac in (0.5, 0.97, 1.02):
        e_top = (255 - 10) * 8.0 * frac
        dn = _flat(cam, e_top, n_frames=60)
        m, v = cam.expected_moments(_power_for_electrons(cfg, e_top))
        assert abs(dn.mean() - m.mean()) < 0.02 * max(m.mean() - 10, 1)
        assert abs(dn.var(axis=0).mean() - v.mean()) < 0.08 * v.mean() + 0.05


def test_numba_equals_numpy_twin_through_the_camera(rng):
    cfg = CameraConfig(**{**BASE, "bit_depth": 10, "black_level_dn": 5.0, "prnu": 0.02, "offset_sd_dn": 0.5,
                          "dark_current_e_per_s": 1e4, "dark_current_sd_e_per_s": 3e3})
    cam = Camera(cfg, WL, 3000, seed=5)
    power = rng.exponential(_power_for_electrons(cfg, 300.0), size=(5, 3000))
    a = cam.read(power, 17)
    b = cam.read(power, 17, use_numba=False)
    assert a.dtype == b.dtype == np.uint16
    assert np.mean(a == b) >= 1 - 1e-4


# ---- measured pixel maps ------------------------------------------------------------------------------
def test_pixel_maps_file_round_trip_and_camera_uses_it(tmp_path):
    rng = np.random.default_rng(1)
    maps = PixelMaps(1 + 0.02 * rng.standard_normal(48), rng.gamma(4.0, 25.0, 48), rng.normal(0, 0.7, 48), image_shape=(6, 8))
    path = write_pixel_maps(tmp_path / "maps.h5", maps, source="test")
    back = read_pixel_maps(path, 48)
    assert back.image_shape == (6, 8) and np.array_equal(back.offset_dn, maps.offset_dn)
    cfg = CameraConfig(**{**BASE, "pixel_maps": str(path)})
    cam = Camera(cfg, WL, 48, seed=0)
    assert np.array_equal(cam.prnu_map, maps.relative_gain) and np.array_equal(cam.dark_current_map_e_per_s, maps.dark_current_e_per_s)
    assert np.array_equal(cam.kernel_parameters().offset_dn, cfg.black_level_dn + maps.offset_dn)
    with pytest.raises(ShapeError, match="48 pixels but the camera reads 50"):
        Camera(cfg, WL, 50, seed=0)
    with pytest.raises(ValidationError, match="dark_current_e_per_s must be >= 0"):
        PixelMaps(np.ones(4), -np.ones(4), np.zeros(4))
    with pytest.raises(ValidationError, match="relative_gain must be > 0"):
        PixelMaps(np.zeros(4), np.ones(4), np.zeros(4))
    with atomic_h5(tmp_path / "other.h5", "photonics.device") as fh:
        fh.create_dataset("x", data=np.zeros(3))
    with pytest.raises(FileFormatError, match="expected 'photonics.pixel_maps'"):
        read_pixel_maps(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        Camera(CameraConfig(**{**BASE, "pixel_maps": str(tmp_path / "missing.h5")}), WL, 48, seed=0)


def test_old_dsnu_key_and_bad_dark_values_are_clear_config_errors(tmp_path):
    toml = (DeviceConfig.preset("lab-cmos").to_toml(tmp_path / "new.toml")).read_text()
    old = toml.replace("offset_sd_dn = 0.25", "dsnu_e = 2.0")
    (tmp_path / "old.toml").write_text(old)
    with pytest.raises(ConfigError, match="dsnu_e .* replaced .*dark_current_sd_e_per_s.*offset_sd_dn"):
        DeviceConfig.from_toml(tmp_path / "old.toml")
    with pytest.raises(ConfigError, match="needs a mean dark current"):
        CameraConfig(**{**BASE, "dark_current_sd_e_per_s": 5.0})
    with pytest.raises(ConfigError, match="camera.offset_sd_dn"):
        CameraConfig(**{**BASE, "offset_sd_dn": -1.0})
    with pytest.raises(ConfigError, match="camera.pixel_maps"):
        CameraConfig(**{**BASE, "pixel_maps": ""})


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
