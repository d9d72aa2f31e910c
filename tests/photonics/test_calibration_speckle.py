"""Speckle characterisation from camera frames against the medium's ground truth."""

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import SpeckleCharacterization, characterize_speckle, choose_exposure
from photonics.calibration.speckle_characterization import speckle_statistics, speckle_truth
from photonics.errors import CalibrationError, ValidationError

K_SIGMA = 4.0


def test_gaussian_medium_is_fully_developed_with_one_pixel_grains():
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=128), seed=1)
    r = characterize_speckle(opu, n_inputs=8, n_average=16)
    truth = speckle_truth(opu, r)
    assert r.fully_developed
    assert abs(r.contrast.value - 1.0) <= K_SIGMA * r.contrast.uncertainty + 0.01
    assert abs(r.contrast.value - truth["contrast"]) <= K_SIGMA * r.contrast.uncertainty
    # uncorrelated pixels: the FWHM of the autocovariance is one pixel
    assert abs(r.grain_size_px.value - 1.0) < 0.05 and truth["configured_grain_size_px"] == 1.0
    assert tuple(r.image_shape) == (32, 32)


@pytest.mark.parametrize("grain", [2.5, 4.0])
def test_speckle_medium_grain_size(grain):
    cfg = DeviceConfig.preset("lab-cmos", n_in=128, n_out=4096, medium__model="speckle", medium__grain_size_px=grain)
    opu = OPU(cfg, seed=2)
    r = characterize_speckle(opu, n_inputs=6, n_average=8, seed=3)
    truth = speckle_truth(opu, r, seed=3)
    # against the noise-free optical power of the same inputs (the camera noise is removed)...
    assert abs(r.grain_size_px.value - truth["grain_size_px"]) <= K_SIGMA * r.grain_size_px.uncertainty + 0.02 * grain
    # ...and against the configured grain (the FWHM estimator is within 3.5 % of the Airy law)
    assert abs(r.grain_size_px.value / grain - 1) < 0.08
    assert r.correlation_area_px > 0.5 * grain**2
    assert r.fully_developed


@pytest.mark.parametrize("thickness_m, developed", [(0.2e-3, False), (12e-3, True)])
def test_thin_slab_is_not_fully_developed(thickness_m, developed):
    """Multi-slice media: a thin slab (L / l_s = 0.1, mostly ballistic light) images the DMD
    pattern instead of a speckle; a thick one (L / l_s = 6) gives fully developed speckle."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=64, n_out=256).replace(
        {"medium.model": "multislice", "medium.thickness_m": thickness_m, "medium.scattering_mean_free_path_m": 2e-3}
    )
    opu = OPU(cfg, seed=4)
    exposure = choose_exposure(opu).exposure_s
    r = characterize_speckle(opu, n_inputs=8, n_average=16, exposure_s=exposure)
    truth = speckle_truth(opu, r)
    assert r.fully_developed is developed
    assert abs(r.contrast.value - truth["contrast"]) <= K_SIGMA * r.contrast.uncertainty + 0.02
    if not developed:
        assert r.contrast.value > 1.5 and r.ks_statistic > 2 * r.ks_expected


def test_noise_correction():
    """Additive noise raises the raw contrast and narrows the autocovariance; both are undone."""
    cfg = DeviceConfig.preset("ideal", n_in=64, n_out=4096, medium__model="speckle", medium__grain_size_px=3.0)
    opu = OPU(cfg, seed=5)
    x = (np.random.default_rng(0).random((4, 64)) < 0.5).astype(np.uint8)
    clean = opu.optical_power(x).astype(np.float64).reshape(4, 64, 64)
    clean /= clean.mean()
    noisy = clean + np.random.default_rng(1).normal(0, 0.5, clean.shape)
    a = speckle_statistics(clean)
    b = speckle_statistics(noisy, noise_var=0.25)
    c = speckle_statistics(noisy)
    assert c["contrast_uncorrected"] > a["contrast"].value + 0.05
    assert abs(b["contrast"].value - a["contrast"].value) < 0.03
    assert abs(b["grain"].grain_size_px - a["grain"].grain_size_px) < 0.1
    assert c["grain"].grain_size_px < a["grain"].grain_size_px - 0.2


def test_roundtrip_and_bad_inputs(tmp_path):
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=32, n_out=256), seed=1)
    r = characterize_speckle(opu, n_inputs=2, n_average=4)
    back = SpeckleCharacterization.load(r.save(tmp_path / "s.h5"))
    assert back.grain_size_px == r.grain_size_px and np.array_equal(back.acf, r.acf)
    assert back.histogram().contrast == r.contrast.value
    with pytest.raises(ValidationError, match="n_average"):
        characterize_speckle(opu, n_average=1)
    with pytest.raises(ValidationError, match="stack"):
        speckle_statistics(np.ones((16, 16)))
    with pytest.raises(CalibrationError, match="no speckle signal"):
        speckle_statistics(np.zeros((2, 8, 8)) - 1.0)
