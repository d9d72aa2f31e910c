"""SpeckleMedium against the physics of a circular camera-plane pupil: mean power per pixel,
Airy intensity autocovariance of the set grain size, fully developed statistics, rank, and the
storage / device plumbing."""

import math

import numpy as np
import pytest
from scipy import optimize, special

from photonics import OPU, DeviceConfig
from photonics import statistics as S
from photonics.errors import ConfigError, ShapeError, ValidationError
from photonics.medium import SpeckleMedium, build_medium
from tests.helpers import binary_frames

SHAPE = (48, 64)


@pytest.fixture(scope="module")
def media():
    return {g: SpeckleMedium(200, SHAPE[0] * SHAPE[1], seed=4, grain_size_px=g, image_shape=SHAPE) for g in (1.0, 2.0, 3.0, 4.0)}


def airy2(r, g):
    """Intensity autocovariance of a circular pupil whose FWHM is g (computed here from J1)."""
    x0 = optimize.brentq(lambda x: (2 * special.j1(x) / x) ** 2 - 0.5, 0.5, 3.0)
    x = np.maximum(2 * x0 * np.asarray(r, float) / g, 1e-12)  # 2 pi f_c r with f_c = x0 / (pi g)
    return (2 * special.j1(x) / x) ** 2


def test_mean_power_per_pixel_is_preserved(media):
    for g, med in media.items():
        p = np.abs(med.matrix().astype(np.complex128)) ** 2 * med.n_in  # E = 1
        per_pixel = p.mean(axis=1).reshape(SHAPE)  # mean over 200 input modes, per camera pixel
        n_eff = p.size / max(1.0, g * g)
        assert abs(p.mean() - 1) < 5 / math.sqrt(n_eff)
        # no vignetting: the border rows/cols of the image get the same power as the centre
        border = np.concatenate([per_pixel[0], per_pixel[-1], per_pixel[:, 0], per_pixel[:, -1]])
        assert abs(border.mean() - 1) < 5 / math.sqrt(border.size * 200 / max(1.0, g))


@pytest.mark.parametrize("g", [1.0, 2.0, 3.0, 4.0])
def test_grain_size_and_airy_autocovariance(media, g):
    med = media[g]
    imgs = (np.abs(med.matrix().astype(np.complex128)) ** 2).T.reshape(-1, *SHAPE)  # one image per input mode
    groups = np.array_split(np.arange(imgs.shape[0]), 8)
    per = np.array([S.grain_size(imgs[i]).grain_size_px for i in groups])
    se = per.std(ddof=1) / math.sqrt(len(per))
    est = S.grain_size(imgs)
    # the FWHM estimator is within 3.5 % of the Airy FWHM (documented), plus sampling spread
    assert abs(est.grain_size_px / g - 1) < 0.035 + 5 * se / g
    # the autocovariance itself: the Airy pattern of the set grain at the first lags (field of
    # 200 independent images; each lag's estimate has sd ~ sqrt(area / n_pixels))
    prof = S.intensity_autocorrelation(imgs, max_lag=6).profile("x")
    sd = math.sqrt(max(1.0, g * g) / imgs.size) * 3
    if g == 1.0:
        assert np.all(np.abs(prof[1:]) < 5 * sd)
    else:
        assert prof[1:5] == pytest.approx(airy2(np.arange(1, 5), g), abs=5 * sd + 0.02)


def test_fully_developed_statistics(media):
    med = media[3.0]
    i = np.abs(med.matrix().astype(np.complex128)) ** 2
    imgs = i.T.reshape(-1, *SHAPE)
    area = S.grain_size(imgs).correlation_area_px
    c = S.speckle_contrast(i, correlation_area_px=area)
    assert abs(c.value - 1) < 5 * c.stderr
    # exponential law: KS with the effective number of independent grains
    h = S.intensity_histogram(i)
    n_eff = i.size / area
    assert h.ks_statistic < math.sqrt(-0.5 * math.log(1e-3 / 2)) / math.sqrt(n_eff)
    # pupil-plane field circular: E[T^2] = 0
    t = med.matrix().astype(np.complex128) * math.sqrt(med.n_in)
    assert abs(np.mean(t**2)) < 5 / math.sqrt(n_eff)


def test_rank_is_the_number_of_pupil_modes(media):
    """The pupil passes ~1 channel per grain: T has rank <= n_pupil < n_out."""
    med = SpeckleMedium(300, SHAPE[0] * SHAPE[1], seed=1, grain_size_px=6.0, image_shape=SHAPE)
    assert med.n_pupil < med.n_in
    t = med.matrix().astype(np.complex128)
    ev = np.linalg.eigvalsh(t.conj().T @ t)[::-1]  # squared singular values, descending
    # float32 storage: the null space sits at ~1e-14 relative (squared), the weakest pupil mode well above
    assert ev[med.n_pupil] < 1e-10 * ev[0] and ev[med.n_pupil - 1] > 1e-10 * ev[0]
    # grain 1 is the i.i.d. model: its eigenvalues follow Marchenko-Pastur
    sv = S.singular_value_statistics(media[1.0].matrix())
    assert sv.ks_statistic < 10 / 200


def test_procedural_equals_dense_and_reference_columns(rng):
    kw = dict(grain_size_px=2.5, image_shape=(20, 30), n_cols=130)
    dense = SpeckleMedium(100, 600, 9, **kw)
    proc = SpeckleMedium(100, 600, 9, procedural=True, block_rows=64, **kw)
    assert np.allclose(dense.matrix(), proc.matrix(), atol=1e-6 * np.abs(dense.matrix()).max())
    assert np.allclose(dense.matrix(rows=slice(40, 90), cols=slice(100, 130)), proc.matrix(rows=slice(40, 90), cols=slice(100, 130)), atol=1e-6)
    x = binary_frames(rng, 5, 100).astype(np.float32)
    a, b = dense.split_field(x), proc.split_field(x)
    assert np.allclose(a, b, atol=1e-5 * np.abs(a).max())
    assert np.allclose(dense.split_field(x, rows=slice(10, 50)), np.concatenate([a[:, 10:50], a[:, 610:650]], axis=1), atol=1e-5)
    ref = dense.matrix(cols=slice(100, 130)).astype(np.complex128).sum(axis=1)
    assert np.allclose(dense.column_sum(slice(100, 130)), ref, atol=1e-5)
    assert np.allclose(proc.column_sum(slice(100, 130)), ref, atol=1e-5)
    # the field through T equals the explicit matrix product
    t = dense.matrix().astype(np.complex128)
    e = a[:, :600] + 1j * a[:, 600:]
    assert np.allclose(e, x @ t.T, atol=1e-4 * np.abs(e).max())


def test_seeds_and_realizations():
    a = SpeckleMedium(50, 400, 1, grain_size_px=2.0)
    b = SpeckleMedium(50, 400, 1, grain_size_px=2.0)
    c = a.realization(2)
    assert np.array_equal(a.matrix(), b.matrix())
    corr = abs(np.vdot(a.matrix(), c.matrix())) / (np.linalg.norm(a.matrix()) * np.linalg.norm(c.matrix()))
    assert corr < 5 / math.sqrt(400 * 50 / 4)
    assert c.grain_size_px == 2.0 and c.image_shape == a.image_shape == (20, 20)


def test_in_a_device_and_from_config(rng):
    cfg = DeviceConfig.preset("ideal", n_in=64, n_out=24 * 32).replace(
        {"medium.model": "speckle", "medium.grain_size_px": 3.0, "medium.output_shape": [24, 32]}
    )
    med = build_medium(cfg, 0)
    assert isinstance(med, SpeckleMedium) and med.image_shape == (24, 32) and med.n_cols == cfg.n_modes_total
    opu = OPU(cfg, seed=0)
    x = binary_frames(rng, 6, 64)
    y = opu.project(x)
    assert np.allclose(y, opu.expected_projection(x), rtol=1e-3, atol=1e-3 * y.max())
    z = opu.linear(x)
    assert np.allclose(z, x @ opu.effective_linear_matrix().T, rtol=1e-3, atol=1e-3 * np.abs(z).max())
    proc = OPU(cfg.replace({"medium.storage": "procedural"}), seed=0)
    assert np.allclose(proc.project(x), y, rtol=1e-4, atol=1e-4 * y.max())


def test_bad_arguments():
    with pytest.raises(ValidationError, match="grain_size_px must be >= 1"):
        SpeckleMedium(10, 100, 0, grain_size_px=0.5)
    with pytest.raises(ShapeError, match="image_shape"):
        SpeckleMedium(10, 100, 0, grain_size_px=2.0, image_shape=(9, 10))
    with pytest.raises(ConfigError, match="medium.output_shape"):
        DeviceConfig().replace({"medium.output_shape": [10, 10]})  # n_out is 1024
    with pytest.raises(ConfigError, match="medium.grain_size_px"):
        DeviceConfig().replace({"medium.grain_size_px": 0.0})


def test_medium_config_fields_round_trip(tmp_path):
    cfg = DeviceConfig.preset("lab-cmos", n_in=64, n_out=600).replace(
        {
            "medium.model": "speckle",
            "medium.output_shape": [20, 30],
            "medium.grain_size_px": 2.5,
            "medium.thickness_m": 1e-3,
            "medium.scattering_mean_free_path_m": 2e-4,
            "medium.n_slices": 8,
            "medium.grid_size": 64,
            "medium.decorrelation_time_s": 0.5,
            "medium.drift_step_s": 0.01,
        }
    )
    assert cfg.medium.output_shape == (20, 30) and cfg.medium.image_shape == (20, 30) and cfg.medium.drifts
    assert DeviceConfig.from_toml(cfg.to_toml(tmp_path / "m.toml")) == cfg
    assert DeviceConfig.from_json(cfg.to_json()) == cfg
    assert DeviceConfig.preset("lab-cmos", n_out=1000).medium.image_shape == (25, 40)  # most square factorisation
