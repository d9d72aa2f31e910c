"""Frames recorded elsewhere: the EMVA 1288 descriptor file with PNG / TIFF images, HDF5 and NPZ
stacks (written here directly with Pillow / h5py / numpy in the layouts a lab would use), their
errors, and ``photonics calibrate --frames``."""

import json
import math

import h5py
import numpy as np
import pytest
from PIL import Image

from photonics.calibration import EMVASeries, analyze_emva1288, read_frames, write_frames
from photonics.cli import main
from photonics.errors import CalibrationError, FileFormatError, ShapeError
from tests.photonics.emva_sensor import Sensor, irradiance_series

H = 6.62607015e-34
C = 299792458.0
K_SIGMA = 4.0


def _sensor(bits: int, seed: int = 0) -> Sensor:
    if bits == 8:
        return Sensor(rows=24, cols=32, bits=8, gain_dn_per_e=0.1, read_noise_e=6.0, dark_current_e_per_s=2000,
                      dark_current_sd_e_per_s=500, black_level_dn=20, offset_sd_dn=0.5, seed=seed)
    return Sensor(rows=24, cols=32, bits=12, gain_dn_per_e=0.5, read_noise_e=3.0, dark_current_e_per_s=500,
                  dark_current_sd_e_per_s=150, black_level_dn=100, offset_sd_dn=1.0, full_well_e=5000, seed=seed)


def _write_descriptor_by_hand(folder, s: Sensor, fmt: str = "png", n_levels: int = 12):
    """A descriptor as the standard's data sets have it: exposure in ns, backslash paths, comments."""
    img = folder / "images"
    img.mkdir(parents=True)
    t = 1e-3
    sat = (s.max_dn - s.black_level_dn) / s.gain_dn_per_e / s.qe if s.bits == 8 else 5000 / s.qe
    photons = np.linspace(sat / n_levels, 1.2 * sat, n_levels)
    lines = ["# a lab's measurement", "v 3.0", f"n {s.bits} {s.cols} {s.rows}"]
    stacks = {}

    def put(tag, frames):
        for k, f in enumerate(frames):
            name = f"{tag}_{k:03d}.{fmt}"
            Image.fromarray(f.astype(np.uint8 if s.bits <= 8 else np.uint16)).save(img / name)
            lines.append(f"i images\\{name}")
        stacks[tag] = frames

    for j, p in enumerate(photons):
        lines.append(f"b {t * 1e9:.1f} {p:.6f}")
        put(f"b{j:02d}", s.frames(p, t, 2))
    for j, td in enumerate((0.5e-3, 1e-3, 2e-3)):
        lines.append(f"d {td * 1e9:.1f}")
        put(f"d{j:02d}", s.frames(0.0, td, 2))
    lines.append(f"b {t * 1e9:.1f} {0.5 * sat:.6f}")
    put("bs", s.frames(0.5 * sat, t, 8))
    lines.append(f"d {t * 1e9:.1f}")
    put("ds", s.frames(0.0, t, 8))
    (folder / "descriptor.txt").write_text("\n".join(lines) + "\n")
    return folder / "descriptor.txt", photons, stacks


@pytest.mark.parametrize("bits,fmt", [(8, "png"), (12, "png"), (12, "tif")])
def test_descriptor_with_images_is_read_exactly(tmp_path, bits, fmt):
    s = _sensor(bits)
    path, photons, stacks = _write_descriptor_by_hand(tmp_path / "m", s, fmt)
    series = read_frames(path)
    assert series.bit_depth == bits and series.image_shape == (24, 32) and series.mode == "irradiance"
    assert np.allclose(series.photons, np.round(photons, 6)) and np.allclose(series.bright_exposure_s, 1e-3)
    assert np.array_equal(series.bright_frames[3], stacks["b03"]) and np.array_equal(series.spatial_dark, stacks["ds"])
    assert np.allclose(series.dark_exposure_s, [0.5e-3, 1e-3, 2e-3])
    res = analyze_emva1288(series)
    k = res.photon_transfer.system_gain_dn_per_e
    assert abs(k.value - s.gain_dn_per_e) <= K_SIGMA * k.uncertainty
    assert res.fixed_pattern is not None and res.dark_current is not None
    # the folder works too, and the exposure unit is an option
    assert read_frames(tmp_path / "m", exposure_unit="ns").n_levels == 12
    assert read_frames(path, exposure_unit="us").bright_exposure_s[0] == pytest.approx(1.0)


def test_stacks_from_hdf5_and_npz_with_irradiance(tmp_path):
    s = _sensor(12, seed=1)
    d = irradiance_series(s, exposure_s=1e-3, sat_photons=5000 / s.qe, dark_exposures=[0.5e-3, 2e-3], n_levels=15, frames=4,
                          spatial_frames=8)
    wl, pitch = 650e-9, 5e-6
    irr = d["photons"] * H * C / wl / (pitch**2 * 1e-3)  # W/m^2 giving those photons in 1 ms on a 5 um pixel
    with h5py.File(tmp_path / "lab.h5", "w") as fh:  # a lab's own file: no photonics envelope
        fh["bright"], fh["dark"] = d["bright_frames"], d["dark_frames"]
        fh["bright_exposure_s"], fh["dark_exposure_s"] = 1e-3, d["dark_exposure_s"]
        fh["irradiance_w_per_m2"] = irr
        fh.attrs.update(wavelength_m=wl, pixel_pitch_m=pitch, bit_depth=12)
    series = read_frames(tmp_path / "lab.h5")
    assert np.allclose(series.photons, d["photons"], rtol=1e-12) and series.spatial_bright is None
    np.savez(tmp_path / "lab.npz", bright=d["bright_frames"], dark=d["dark_frames"], bright_exposure_s=1e-3,
             dark_exposure_s=d["dark_exposure_s"], power_w=irr * pitch**2, wavelength_m=wl, bit_depth=12,
             spatial_bright=d["spatial_bright"], spatial_dark=d["spatial_dark"], spatial_exposure_s=1e-3,
             spatial_photons=d["spatial_photons"])
    series2 = read_frames(tmp_path / "lab.npz")
    assert np.allclose(series2.photons, d["photons"], rtol=1e-12) and series2.spatial_photons == pytest.approx(d["spatial_photons"])
    # without the wavelength only a relative illumination: no QE
    np.savez(tmp_path / "rel.npz", bright=d["bright_frames"], dark=d["dark_frames"], bright_exposure_s=1e-3,
             dark_exposure_s=d["dark_exposure_s"], power_w=irr * pitch**2, bit_depth=12)
    res = analyze_emva1288(read_frames(tmp_path / "rel.npz"))
    assert res.photon_transfer.quantum_efficiency is None and res.photon_transfer.system_gain_dn_per_e.value > 0


def test_writers_round_trip(tmp_path):
    s = _sensor(8, seed=2)
    d = irradiance_series(s, exposure_s=1e-3, sat_photons=4000, dark_exposures=[0.5e-3, 2e-3], n_levels=10, frames=4, spatial_frames=6)
    series = EMVASeries(**d, wavelength_m=532e-9, source="generator")
    for name in ("f.h5", "f.npz"):
        back = read_frames(write_frames(series, tmp_path / name))
        assert np.array_equal(back.bright_frames, series.bright_frames) and np.array_equal(back.photons, series.photons)
        assert back.wavelength_m == 532e-9 and back.source == "generator" and back.bit_depth == 8
    desc = write_frames(series, tmp_path / "desc")
    back = read_frames(desc)
    assert np.array_equal(back.bright_frames, series.bright_frames[:, :2])  # the standard's pair per level
    assert np.array_equal(back.spatial_bright, series.spatial_bright) and np.array_equal(back.photons, series.photons)


def test_malformed_descriptors_and_images_are_clear_errors(tmp_path):
    s = _sensor(8, seed=3)
    path, _, _ = _write_descriptor_by_hand(tmp_path / "m", s)
    text = path.read_text()

    def expect(new_text, err, match):
        bad = tmp_path / "m" / "bad.txt"
        bad.write_text(new_text)
        with pytest.raises(err, match=match):
            read_frames(bad)

    expect(text.replace("v 3.0", "x 3.0"), FileFormatError, r"line 2: unknown command 'x'")
    expect(text.replace(f"n 8 {s.cols} {s.rows}", "n 8 32"), FileFormatError, "expected 'n BITS WIDTH HEIGHT'")
    expect(text.replace("b 1000000.0", "b 1e6x", 1), FileFormatError, "the exposure must be a number")
    expect(text.replace("i images\\b00_001.png\n", ""), FileFormatError, "at least 2 images")
    expect(text.replace("b00_001.png", "nothere.png"), FileNotFoundError, "nothere.png")
    expect(text.replace(f"n 8 {s.cols} {s.rows}", f"n 8 {s.cols} {s.rows + 1}"), ShapeError, "mixed image shapes")
    expect(text.replace(f"n 8 {s.cols} {s.rows}", f"n 6 {s.cols} {s.rows}"), FileFormatError, "wrong bit depth")
    # an image of another size among the others
    Image.fromarray(np.zeros((24, 31), np.uint8)).save(tmp_path / "m" / "images" / "b01_000.png")
    with pytest.raises(ShapeError, match="b01_000.png is 31 x 24"):
        read_frames(path)
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "m" / "images" / "b01_000.png")
    with pytest.raises(FileFormatError, match="monochrome"):
        read_frames(path)


def test_saturated_darks_in_a_file_are_refused(tmp_path):
    s = Sensor(rows=24, cols=32, bits=8, gain_dn_per_e=0.1, read_noise_e=6.0, dark_current_e_per_s=50, dark_current_sd_e_per_s=0,
               black_level_dn=0, offset_sd_dn=0.0, seed=4)
    d = irradiance_series(s, exposure_s=1e-3, sat_photons=4000, n_levels=8, frames=2, spatial_frames=4)
    np.savez(tmp_path / "clip.npz", bright=d["bright_frames"], dark=d["dark_frames"], bright_exposure_s=1e-3,
             dark_exposure_s=d["dark_exposure_s"], photons=d["photons"], bit_depth=8)
    with pytest.raises(CalibrationError, match="saturated dark frames"):
        analyze_emva1288(read_frames(tmp_path / "clip.npz"))
    np.savez(tmp_path / "mixed.npz", bright=d["bright_frames"], dark=d["dark_frames"][:, :, :, :30], bright_exposure_s=1e-3,
             dark_exposure_s=d["dark_exposure_s"], photons=d["photons"])
    with pytest.raises(ShapeError, match="mixed image shapes"):
        read_frames(tmp_path / "mixed.npz")
    np.savez(tmp_path / "nokey.npz", bright=d["bright_frames"])
    with pytest.raises(FileFormatError, match="missing 'dark'"):
        read_frames(tmp_path / "nokey.npz")


def test_cli_calibrates_recorded_frames(tmp_path, capsys):
    s = _sensor(8, seed=5)
    path, _, _ = _write_descriptor_by_hand(tmp_path / "m", s, n_levels=20)
    out = tmp_path / "out"
    assert main(["calibrate", "--frames", str(path), "--out", str(out), "--no-progress", "--twin", str(tmp_path / "twin")]) == 0
    text = capsys.readouterr().out
    assert "system_gain_dn_per_e" in text and "truth" not in text
    summary = json.loads((out / "summary.json").read_text())
    q = summary["quantities"]
    assert {"system_gain_dn_per_e", "saturation_capacity_e", "dsnu_e", "prnu", "dark_current_e_per_s"} <= set(q)
    assert all("truth" not in e for e in q.values()) and summary["image_shape"] == [24, 32]
    html = (out / "datasheet.html").read_text()
    assert html.count("data:image/png;base64,") >= 6 and "system_gain_dn_per_e" in html
    assert (tmp_path / "twin" / "twin.toml").is_file() and (tmp_path / "twin" / "twin_pixel_maps.h5").is_file()
    # errors: one line, exit 2
    assert main(["calibrate", "--frames", str(tmp_path / "none.txt"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["calibrate", "lab-cmos", "--frames", str(path), "--out", str(out)]) == 2
    assert "not both" in capsys.readouterr().err
    assert math.isfinite(q["system_gain_dn_per_e"]["estimate"])
