"""The digital twin: calibrate device A -> write twin B (TOML + pixel maps) -> load B with
DeviceConfig.from_toml / OPU -> calibrate B: the same EMVA 1288 figures within their
uncertainties; the same from recorded (generated) frames with a column pattern; a measured TM."""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import EMVASeries, analyze_emva1288, emva_quantities, measure_emva1288, write_twin
from photonics.camera import read_pixel_maps
from photonics.errors import ValidationError
from tests.photonics.emva_sensor import Sensor, irradiance_series

K_SIGMA = 4.0
#: figures compared between a calibration and the calibration of its twin
ROUND_TRIP = (
    "system_gain_dn_per_e", "quantum_efficiency", "temporal_dark_noise_e", "read_noise_e", "saturation_capacity_e",
    "clip_saturation_capacity_e", "absolute_sensitivity_threshold_e", "dynamic_range_db", "dark_current_e_per_s",
    "dark_signal_e", "offset_sd_dn", "dsnu_e", "dsnu_pixel_e", "prnu", "prnu_pixel", "dark_offset_dn",
)


def _same(a: dict, b: dict, names) -> None:
    for name in names:
        ma, mb = a[name][0], b[name][0]
        u = math.hypot(ma.uncertainty, mb.uncertainty)
        assert abs(ma.value - mb.value) <= K_SIGMA * u, f"{name}: {ma} (A) vs {mb} (twin), {abs(ma.value - mb.value) / u:.1f} sigma"


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin")
    opu_a = OPU(DeviceConfig.preset("lab-cmos", n_out=4096), seed=3)
    res_a = measure_emva1288(opu_a, n_levels=60)
    paths = write_twin(res_a, out, base=opu_a.config, name="lab-twin")
    cfg_b = DeviceConfig.from_toml(paths["toml"])
    opu_b = OPU(cfg_b, seed=11)
    res_b = measure_emva1288(opu_b, n_levels=60)
    return res_a, paths, cfg_b, opu_b, res_b


def test_twin_loads_and_reproduces_the_calibration(round_trip):
    res_a, paths, cfg_b, opu_b, res_b = round_trip
    qa, qb = emva_quantities(res_a), emva_quantities(res_b)
    _same(qa, qb, ROUND_TRIP)
    # the twin's camera carries the calibrated figures, and its maps are the calibrated non-uniformities
    c = cfg_b.camera
    assert c.gain_e_per_dn == pytest.approx(1 / qa["system_gain_dn_per_e"][0].value)
    assert c.quantum_efficiency == pytest.approx(qa["quantum_efficiency"][0].value)
    assert c.read_noise_e == pytest.approx(qa["read_noise_e"][0].value)
    maps = read_pixel_maps(c.pixel_maps, opu_b.n_out)
    assert np.std(maps.relative_gain, ddof=1) == pytest.approx(qa["prnu"][0].value, rel=1e-9)
    k = qa["system_gain_dn_per_e"][0].value
    t = res_a.fixed_pattern.exposure_s
    dsnu_twin = np.std(maps.dark_current_e_per_s * t + maps.offset_dn / k, ddof=1)
    assert dsnu_twin == pytest.approx(qa["dsnu_e"][0].value, rel=0.02)
    assert np.all(maps.dark_current_e_per_s >= 0) and np.all(maps.relative_gain > 0)
    assert cfg_b.n_out == 4096 and tuple(cfg_b.medium.output_shape) == (64, 64)
    assert np.array_equal(opu_b.camera.prnu_map, maps.relative_gain)


def test_twin_from_recorded_frames_keeps_the_column_pattern(tmp_path):
    s = Sensor(rows=48, cols=64, bits=12, gain_dn_per_e=0.5, read_noise_e=3.0, dark_current_e_per_s=500, dark_current_sd_e_per_s=150,
               black_level_dn=100, offset_sd_dn=1.0, full_well_e=5000, seed=6)
    s.offset = s.offset + np.random.default_rng(7).normal(0, 1.5, s.cols)[None, :]  # column offsets
    d = irradiance_series(s, exposure_s=1e-3, sat_photons=5000 / s.qe, dark_exposures=[0.5e-3, 2e-3, 4e-3], n_levels=60, frames=8,
                          spatial_frames=64)
    res_a = analyze_emva1288(EMVASeries(**d, wavelength_m=550e-9, pixel_pitch_m=3.45e-6, source="generated"))
    paths = write_twin(res_a, tmp_path, base=DeviceConfig.preset("lab-cmos", n_in=64))
    cfg = DeviceConfig.from_toml(paths["toml"])
    assert cfg.camera.bit_depth == 12 and cfg.laser.wavelength_m == 550e-9 and cfg.camera.pixel_pitch_m == 3.45e-6
    assert cfg.camera.full_well_e == pytest.approx(res_a.photon_transfer.clip_saturation_capacity_e.value
                                                    + res_a.dark_current.dark_current_e_per_s.value * 1e-3, rel=1e-9)
    opu = OPU(cfg, seed=1)
    res_b = measure_emva1288(opu, n_levels=60, dark_frames_per_exposure=32, spatial_frames=64)
    qa, qb = emva_quantities(res_a), emva_quantities(res_b)
    _same(qa, qb, ("system_gain_dn_per_e", "quantum_efficiency", "read_noise_e", "clip_saturation_capacity_e", "dsnu_e",
                   "dsnu_col_e", "prnu", "dark_current_e_per_s"))
    assert qb["dsnu_col_e"][0].value > 2.0  # 1.5 DN / 0.5 DN/e- = 3 e- of column pattern, kept by the twin


def test_twin_with_a_measured_medium(tmp_path):
    from photonics.medium import save_transmission_matrix

    s = Sensor(rows=16, cols=16, bits=8, gain_dn_per_e=0.1, read_noise_e=6.0, dark_current_e_per_s=2000, dark_current_sd_e_per_s=500,
               black_level_dn=20, offset_sd_dn=0.5, seed=2)
    d = irradiance_series(s, exposure_s=1e-3, sat_photons=4000, dark_exposures=[0.5e-3, 2e-3], n_levels=20, frames=4, spatial_frames=16)
    res = analyze_emva1288(EMVASeries(**d, wavelength_m=532e-9))
    base = DeviceConfig.preset("lab-cmos", n_in=16)
    rng = np.random.default_rng(0)
    tm = (rng.normal(size=(256, base.n_modes_total)) + 1j * rng.normal(size=(256, base.n_modes_total))) / math.sqrt(2 * 16)
    tm_path = save_transmission_matrix(tmp_path / "tm.h5", tm)
    cfg = DeviceConfig.from_toml(write_twin(res, tmp_path, base=base, medium_path=tm_path)["toml"])
    assert cfg.medium.model == "measured" and cfg.n_out == 256
    y = OPU(cfg, seed=0).project(np.ones((2, 16), dtype=np.uint8))
    assert y.shape == (2, 256)
    # a twin needs photon counts (the QE)
    no_qe = analyze_emva1288(EMVASeries(**{**d, "photons": None}, illumination=d["photons"]))
    with pytest.raises(ValidationError, match="quantum efficiency"):
        write_twin(no_qe, tmp_path / "x", base=base)
