import math

import pytest

from photonics import CameraConfig, ConfigError, DeviceConfig, DMDConfig, LaserConfig, MediumConfig, preset_names
from photonics.errors import FileFormatError


def test_presets_ship_and_load():
    assert {"ideal", "lab-cmos", "lighton-like"} <= set(preset_names())
    ideal = DeviceConfig.preset("ideal")
    assert ideal.camera.shot_noise is False and ideal.camera.read_noise_e == 0 and math.isinf(ideal.dmd.contrast_ratio)
    lab = DeviceConfig.preset("lab-cmos")
    assert lab.camera.bit_depth == 8 and lab.camera.read_noise_e > 0 and lab.camera.shot_noise
    big = DeviceConfig.preset("lighton-like")
    assert big.n_in >= 10**6 and big.n_out >= 10**6 and big.frame_rate_hz >= 1000


def test_preset_overrides_and_per_pixel_budget():
    base = DeviceConfig.preset("lab-cmos")
    cfg = DeviceConfig.preset("lab-cmos", n_in=100, n_out=4 * base.n_out, camera__read_noise_e=2.0)
    assert (cfg.n_in, cfg.n_out, cfg.camera.read_noise_e) == (100, 4 * base.n_out, 2.0)
    # the preset keeps the photon budget per pixel when the pixel count changes
    assert cfg.mean_pixel_power_w() == pytest.approx(base.mean_pixel_power_w(), rel=1e-12)
    pinned = DeviceConfig.preset("lab-cmos", n_out=4 * base.n_out, laser__power_w=base.laser.power_w)
    assert pinned.mean_pixel_power_w() == pytest.approx(base.mean_pixel_power_w() / 4, rel=1e-12)


def test_toml_round_trip(tmp_path):
    cfg = DeviceConfig.preset("lab-cmos", n_in=77, n_out=99)
    path = cfg.to_toml(tmp_path / "dev.toml")
    again = DeviceConfig.from_toml(path)
    assert again == cfg
    assert DeviceConfig.from_json(cfg.to_json()) == cfg
    ideal = DeviceConfig.preset("ideal")
    assert DeviceConfig.from_json(ideal.to_json()) == ideal  # inf contrast survives JSON
    assert DeviceConfig.from_toml(ideal.to_toml(tmp_path / "i.toml")) == ideal


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"exposure_s": -1e-3}, "camera.exposure_s"),
        ({"exposure_s": 0.0}, "camera.exposure_s"),
        ({"bit_depth": 17}, "camera.bit_depth"),
        ({"bit_depth": 0}, "camera.bit_depth"),
        ({"quantum_efficiency": 1.5}, "camera.quantum_efficiency"),
        ({"read_noise_e": float("nan")}, "camera.read_noise_e"),
        ({"gain_e_per_dn": 0}, "camera.gain_e_per_dn"),
        ({"exposure_s": 0.1, "frame_rate_hz": 100.0}, "1/camera.frame_rate_hz"),
        ({"black_level_dn": 300.0}, "camera.black_level_dn"),
        ({"shot_noise": "yes"}, "camera.shot_noise"),
        ({"bit_depth": 8.0}, "camera.bit_depth"),
    ],
)
def test_camera_validation_names_parameter(kwargs, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        CameraConfig(**kwargs)


def test_other_validation():
    with pytest.raises(ConfigError, match="laser.power_w"):
        LaserConfig(power_w=-1)
    with pytest.raises(ConfigError, match="laser.wavelength_m"):
        LaserConfig(wavelength_m=5.0)
    with pytest.raises(ConfigError, match="dmd.contrast_ratio"):
        DMDConfig(contrast_ratio=0.5)
    with pytest.raises(ConfigError, match="dmd.fill_factor"):
        DMDConfig(fill_factor=0)
    with pytest.raises(ConfigError, match="medium.n_in"):
        MediumConfig(n_in=0)
    with pytest.raises(ConfigError, match="medium.model"):
        MediumConfig(model="marble")
    with pytest.raises(ConfigError, match="dmd.shape"):
        DeviceConfig(dmd=DMDConfig(shape=(10, 10)), medium=MediumConfig(n_in=100, n_out=10))
    # ValueError is still caught by generic handlers
    with pytest.raises(ValueError):
        CameraConfig(bit_depth=99)


def test_replace_and_unknown_keys(tmp_path):
    cfg = DeviceConfig()
    c2 = cfg.replace({"camera.read_noise_e": 1.5}, n_out=12)
    assert c2.camera.read_noise_e == 1.5 and c2.n_out == 12 and cfg.camera.read_noise_e != 1.5
    with pytest.raises(ConfigError, match="read_nois"):
        cfg.replace({"camera.read_nois": 1})
    with pytest.raises(ConfigError, match="unknown config section"):
        cfg.replace({"lens.f_m": 1})
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\nexposur_s = 1\n")
    with pytest.raises(ConfigError, match="exposur_s"):
        DeviceConfig.from_toml(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[camera\n")
    with pytest.raises(FileFormatError, match="not valid TOML"):
        DeviceConfig.from_toml(broken)
    with pytest.raises(ConfigError, match="unknown preset"):
        DeviceConfig.preset("nonexistent")


def test_frozen():
    cfg = DeviceConfig()
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.camera.read_noise_e = 3.0  # type: ignore[misc]


def test_power_model_energy_bookkeeping():
    """Mean pixel power x n_out = transmission x power of the ON modes (energy conservation)."""
    cfg = DeviceConfig.preset("ideal", n_in=200, n_out=300)
    p_modes = cfg.mode_power_w * 0.25 * cfg.n_in
    assert cfg.mean_pixel_power_w(0.25) * cfg.n_out == pytest.approx(cfg.medium.transmission * p_modes, rel=1e-12)
    assert cfg.mode_power_w * cfg.n_modes_total == pytest.approx(cfg.laser.power_w * cfg.dmd.fill_factor, rel=1e-12)


def test_files_a_toml_names_are_relative_to_its_folder(tmp_path):
    """A device folder (TOML + the files it names) can be moved as a whole."""
    import shutil

    import numpy as np

    tm = np.random.default_rng(0).normal(size=(8, 12)) + 0j
    (tmp_path / "a").mkdir()
    np.save(tmp_path / "a" / "tm.npy", tm)
    cfg = DeviceConfig.preset("ideal", n_in=8, n_out=8, medium__model="measured", medium__path=str(tmp_path / "a" / "tm.npy"),
                              medium__input_axis="columns")
    cfg.to_toml(tmp_path / "a" / "dev.toml")
    assert 'path = "tm.npy"' in (tmp_path / "a" / "dev.toml").read_text()
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = DeviceConfig.from_toml(tmp_path / "b" / "dev.toml")
    assert moved.medium.path == str((tmp_path / "b" / "tm.npy").resolve())
    outside = cfg.replace({"medium.path": "/elsewhere/tm.npy"})
    outside.to_toml(tmp_path / "c.toml")
    assert DeviceConfig.from_toml(tmp_path / "c.toml").medium.path == "/elsewhere/tm.npy"
