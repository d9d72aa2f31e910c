"""A digital twin: from an EMVA 1288 calibration (simulated or recorded), a device TOML plus its
measured pixel maps (HDF5) that :meth:`photonics.DeviceConfig.from_toml` and :class:`photonics.OPU`
load, so that the simulator behaves like the calibrated camera.

The camera section takes the calibrated figures: gain 1 / K, quantum efficiency, read noise
(sigma_d at zero exposure; without a dark exposure series, the temporal dark noise at the
series' exposure, which then includes the dark shot noise), the mean dark current, the black
level (the dark level at zero exposure), bit depth, the clip level (a full well below the ADC
top, or a full well above it when the ADC clips), the exposure and pixel pitch. The optics
(laser, modulator, medium) come from a base device; ``medium_path`` makes the medium a
measured transmission matrix (``medium.model = "measured"``), e.g. one retrieved from a real
OPU's probe / intensity pairs; given that recording too (``recording``), the laser power is set
so that the twin's mean signal above dark equals the recorded one on its unclipped frames
(a measured TM's scale is normalised to the device's power model, so the power is what
carries the recorded brightness).

The pixel maps are the measured ones, with their temporal noise taken out of their spread: a
raw map x_i (a per-pixel average or fit) has the spatial variance s^2 + n^2 of the pattern s^2
and of its noise n^2; the twin keeps each pixel's deviation scaled by sqrt(s^2 / (s^2 + n^2)),
with s^2 the standard's noise-corrected estimate, so that the twin's maps have exactly the
calibrated non-uniformity (and the calibrated row / column structure). Maps that must stay
positive (gain, dark current) fall back, if a scaled value would not be, to the rank-preserving
transform onto a gamma law of the same mean and standard deviation. The maps:

* relative gain g_i = 1 + PRNU deviation of the flat image (``fixed_pattern.prnu_map``);
* dark current I_i from the per-pixel slopes of the dark series;
* offset o_i from the spatial dark image minus the dark-current part K t (I_i - <I>), or,
  without a dark series, the whole dark image (then the dark current is taken as uniform).

Round trip: calibrating the twin gives the calibration's figures back within their
uncertainties (tested).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from ..camera import PixelMaps, write_pixel_maps
from ..config import DeviceConfig
from ..errors import ValidationError
from .emva1288 import EMVA1288Result

log = logging.getLogger(__name__)

__all__ = ["twin_pixel_maps", "twin_config", "matched_power", "write_twin"]


def _scaled(raw: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """mean + (raw - <raw>) * sd / sd(raw): the raw pattern with the target mean and spread."""
    dev = raw - raw.mean()
    s = float(dev.std(ddof=1)) if raw.size > 1 else 0.0
    if sd <= 0 or s <= 0:
        return np.full(raw.shape, float(mean))
    return mean + dev * (sd / s)


def _positive(raw: np.ndarray, mean: float, sd: float, what: str) -> np.ndarray:
    """:func:`_scaled`, or the rank-preserving map onto a gamma law when a value would be < 0."""
    x = _scaled(raw, mean, sd)
    if np.all(x > 0) or (sd <= 0 and mean >= 0):
        return x
    from scipy.special import gammaincinv

    k, theta = (mean / sd) ** 2, sd * sd / mean
    ranks = (np.argsort(np.argsort(raw, kind="stable"), kind="stable") + 0.5) / raw.size
    log.info("twin: %s map scaled to sd %.4g would go negative; rank-mapped onto a gamma law instead", what, sd)
    return gammaincinv(k, ranks) * theta


def twin_pixel_maps(result: EMVA1288Result) -> PixelMaps:
    """The twin's pixel maps from a calibration (see the module docstring)."""
    shape = result.image_shape
    n = shape[0] * shape[1]
    k = result.photon_transfer.system_gain_dn_per_e.value
    fp, dc = result.fixed_pattern, result.dark_current
    if fp is not None:
        gain = _positive(1.0 + fp.prnu_map, 1.0, fp.prnu.value, "gain")
    else:
        log.warning("twin: no spatial stacks in the calibration; the twin has no PRNU")
        gain = np.ones(n)
    if dc is not None:
        mu_i = max(dc.dark_current_e_per_s.value, 0.0)
        sd_i = dc.dark_current_sd_e_per_s.value if mu_i > 0 else 0.0
        current = _positive(dc.dark_current_map_e_per_s, mu_i, sd_i, "dark current") if mu_i > 0 else np.zeros(n)
    else:
        current = np.zeros(n)
    if fp is not None:
        raw = fp.dark_map_dn - fp.dark_map_dn.mean() - k * fp.exposure_s * (current - current.mean())
        sd_o2 = fp.dsnu_dn.value**2 - (k * fp.exposure_s * float(current.std(ddof=1))) ** 2 if n > 1 else 0.0
        offset = _scaled(raw, 0.0, math.sqrt(max(sd_o2, 0.0)))
    elif dc is not None:
        offset = _scaled(dc.offset_map_dn, 0.0, dc.offset_sd_dn.value)
    else:
        offset = np.zeros(n)
    return PixelMaps(relative_gain=gain, dark_current_e_per_s=current, offset_dn=offset, image_shape=shape)


def twin_config(result: EMVA1288Result, base: DeviceConfig, *, pixel_maps_path: str | os.PathLike, maps: PixelMaps | None = None,
                medium_path: str | os.PathLike | None = None, name: str = "twin") -> DeviceConfig:
    """The twin's :class:`~photonics.config.DeviceConfig` (see the module docstring).

    Raises
    ------
    ValidationError
        The calibration has no quantum efficiency (no photon counts) or no gain.
    """
    p = result.photon_transfer
    if p.quantum_efficiency is None:
        raise ValidationError("a twin needs the quantum efficiency: calibrate with photon counts (photons, irradiance or power per level)")
    maps = maps if maps is not None else twin_pixel_maps(result)
    k = p.system_gain_dn_per_e.value
    gain_e = 1.0 / k
    dc = result.dark_current
    cam = base.camera
    bits = result.bit_depth if result.bit_depth > 0 else cam.bit_depth
    max_dn = 2**bits - 1
    if dc is not None:
        read = dc.read_noise_e.value
        black = dc.offset_dn.value
    else:
        read = p.temporal_dark_noise_e.value
        black = p.dark_mean_dn.value
        log.warning("twin: no dark exposure series; the read noise includes the dark shot noise at %.4g s", p.exposure_s)
    adc_range_e = (max_dn - black) * gain_e
    full_well = 1.5 * adc_range_e
    if p.clip_level_dn is not None and p.clip_level_dn.value < max_dn - 0.5 and p.clip_saturation_capacity_e is not None:
        dark_e = (dc.dark_current_e_per_s.value * p.level_exposure_s.max()) if dc is not None else 0.0
        full_well = p.clip_saturation_capacity_e.value + max(dark_e, 0.0)
    t_series = [p.exposure_s, float(p.level_exposure_s.max())]
    if dc is not None:
        t_series.append(float(dc.exposure_s.max()))
    if result.fixed_pattern is not None:
        t_series.append(result.fixed_pattern.exposure_s)
    frame_rate = min(cam.frame_rate_hz, 1.0 / max(t_series))
    exposure = p.exposure_s if result.mode == "irradiance" else (result.fixed_pattern.exposure_s if result.fixed_pattern is not None else p.exposure_s)
    n_out = result.image_rows * result.image_cols
    over = {
        "name": name,
        "description": f"Digital twin of {result.source} (EMVA 1288 calibration); optics from {base.name!r}.",
        "medium.n_out": n_out,
        "medium.output_shape": [result.image_rows, result.image_cols],
        "laser.power_w": base.laser.power_w * n_out / base.n_out,
        "camera.quantum_efficiency": float(min(max(p.quantum_efficiency.value, 1e-6), 1.0)),
        "camera.read_noise_e": float(max(read, 0.0)),
        "camera.dark_current_e_per_s": float(maps.dark_current_e_per_s.mean()),
        "camera.dark_current_sd_e_per_s": float(maps.dark_current_e_per_s.std(ddof=1)) if float(maps.dark_current_e_per_s.mean()) > 0 else 0.0,
        "camera.offset_sd_dn": float(maps.offset_dn.std(ddof=1)),
        "camera.prnu": float(min(maps.relative_gain.std(ddof=1) / maps.relative_gain.mean(), 0.5)),
        "camera.gain_e_per_dn": float(gain_e),
        "camera.full_well_e": float(full_well),
        "camera.bit_depth": int(bits),
        "camera.black_level_dn": float(min(max(black, 0.0), max_dn - 1)),
        "camera.exposure_s": float(exposure),
        "camera.frame_rate_hz": float(frame_rate),
        "camera.shot_noise": True,
        "camera.clip_full_well": True,
        "camera.quantize": bool(p.quantized),
        "camera.pixel_maps": str(Path(pixel_maps_path).resolve()),
    }
    if math.isfinite(result.pixel_pitch_m):
        over["camera.pixel_pitch_m"] = float(result.pixel_pitch_m)
    if math.isfinite(result.wavelength_m):
        over["laser.wavelength_m"] = float(result.wavelength_m)
    if medium_path is not None:
        over["medium.model"] = "measured"
        over["medium.path"] = str(Path(medium_path).resolve())
    return base.replace(over)


def matched_power(cfg: DeviceConfig, recording) -> DeviceConfig:
    """``cfg`` with the laser power that makes its mean signal above dark equal a recording's.

    The signal of a pixel is linear in the laser power (G_i s |alpha T_i x + c_i|^2, c from the
    same laser), so one factor does it: the ratio of the recorded mean of frames - dark level to
    the twin's noise-free mean (:meth:`~photonics.OPU.expected_projection` minus its dark part)
    over the same patterns, on the frames and pixels the recording did not clip.
    """
    from ..device import OPU

    opu = OPU(cfg, seed=0)
    off = recording.reference == 0
    x = recording.patterns[off]
    y = recording.frames[off]
    if x.shape[0] == 0:
        raise ValidationError(f"{recording.source}: every frame has the reference ON; the power match needs reference-OFF frames")
    ok = np.ones(y.shape, dtype=bool) if recording.saturation_dn is None else (y < recording.saturation_dn)
    recorded = (y - recording.dark_frames.mean(axis=0))[ok].mean()
    dark_part = opu.camera.dark_electrons(None) / cfg.camera.gain_e_per_dn + opu.camera.offset_map_dn
    twin = (opu.expected_projection(x) - dark_part)[ok].mean()
    if not (recorded > 0 and twin > 0):
        raise ValidationError(f"{recording.source}: no signal above the dark level to match the twin's power to "
                              f"(recorded mean {recorded:.4g} DN, twin {twin:.4g} DN)")
    factor = float(recorded / twin)
    log.info("twin: laser power x %.4g to match the recorded mean signal (%.4g DN above dark)", factor, recorded)
    return cfg.replace({"laser.power_w": cfg.laser.power_w * factor})


def write_twin(result: EMVA1288Result, out_dir: str | os.PathLike, *, base: DeviceConfig | str = "lab-cmos",
               medium_path: str | os.PathLike | None = None, recording=None, name: str = "twin") -> dict[str, Path]:
    """Write ``<name>.toml`` and ``<name>_pixel_maps.h5`` into ``out_dir``; returns their paths.

    ``base``: the device (or preset name / TOML) the optics come from. The TOML names the maps
    file relative to its own folder, so the folder can be moved as a whole. ``recording``
    (:class:`~photonics.calibration.recorded_probes.RecordedProbes`, with ``medium_path`` the TM
    retrieved from it): the laser power is matched to its signal (:func:`matched_power`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base_cfg = base if isinstance(base, DeviceConfig) else DeviceConfig.resolve(base)
    maps = twin_pixel_maps(result)
    maps_path = write_pixel_maps(out / f"{name}_pixel_maps.h5", maps, source=f"EMVA 1288 calibration of {result.source}",
                                 attrs={"prnu": float(maps.relative_gain.std(ddof=1)), "offset_sd_dn": float(maps.offset_dn.std(ddof=1))})
    cfg = twin_config(result, base_cfg, pixel_maps_path=maps_path, maps=maps, medium_path=medium_path, name=name)
    if recording is not None:
        if medium_path is None:
            raise ValidationError("a twin matched to a probe recording needs the TM retrieved from it (medium_path)")
        cfg = matched_power(cfg, recording)
    toml_path = cfg.to_toml(out / f"{name}.toml")
    log.info("wrote the digital twin %s (+ %s)", toml_path, maps_path.name)
    return {"toml": toml_path, "pixel_maps": maps_path}
