"""Frames recorded on real cameras, in and out: the EMVA 1288 descriptor file with its images, and
HDF5 / NPZ stacks. Everything read becomes an :class:`~photonics.calibration.emva1288.EMVASeries`.

Descriptor file (the standard's format, one command per line, ``#`` comments)::

    v 4.0                      version
    n BITS WIDTH HEIGHT        bit depth and image size (once)
    b EXPOSURE PHOTONS         a bright level: exposure time and mean photons per pixel,
    i images/b_000_1.png         followed by its images (2: a temporal level of the photon
    i images/b_000_2.png         transfer series; more than 2: the bright spatial stack)
    d EXPOSURE                 a dark level at that exposure, followed by its images
    i images/d_000_1.png         (2: temporal; more than 2: the dark spatial stack)

Image paths are relative to the descriptor's folder (``\\`` separators are accepted). The
exposure is in nanoseconds by default (the convention of the standard's reference data sets;
``exposure_unit`` changes it). Images: monochrome PNG or TIFF, 8 or 16 bits per pixel
(values <= 2**BITS - 1), read with Pillow.

HDF5 / NPZ stack (keys are datasets or, for scalars, HDF5 attributes)::

    bright             (n_levels, n_frames, rows, cols)   frames of each level       [DN]
    bright_exposure_s  (n_levels,) or scalar              exposure of each level     [s]
    photons            (n_levels,)   mean photons per pixel          \\
    irradiance_w_per_m2 (n_levels,)  + pixel_pitch_m, wavelength_m     > one of them
    power_w            (n_levels,)   power per pixel [W] (+ wavelength_m)  /
    dark               (n_dark, n_frames, rows, cols)     dark frames                [DN]
    dark_exposure_s    (n_dark,) or scalar                                           [s]
    spatial_bright, spatial_dark (L, rows, cols), spatial_exposure_s, spatial_photons |
    spatial_irradiance_w_per_m2 | spatial_power_w                          (optional)
    bit_depth, wavelength_m, pixel_pitch_m, black_level_dn, source         (optional)

Photons per pixel follow from the irradiance E [W/m^2] as mu_p = E A t / (h c / lambda), A the
pixel area (pitch^2), and from a power per pixel P [W] as mu_p = P t / (h c / lambda); without
the wavelength the series has only a relative illumination (no QE).

:func:`write_frames` writes a series in any of the three formats (the descriptor with 2
images per temporal level, as the standard prescribes, PNG by default).
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, ShapeError, ValidationError
from ..units import photon_energy_j
from .emva1288 import EMVASeries

log = logging.getLogger(__name__)

__all__ = ["read_frames", "read_descriptor", "read_stack", "write_frames", "write_descriptor", "write_stack", "EXPOSURE_UNITS", "FRAMES_KIND"]

#: Exposure units of a descriptor file -> seconds.
EXPOSURE_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
#: HDF5 ``kind`` written by :func:`write_stack` (files of other origins are read too).
FRAMES_KIND = "photonics.emva1288_frames"
_IMAGE_SUFFIXES = (".png", ".tif", ".tiff")


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------
def read_frames(path: str | os.PathLike, *, exposure_unit: str = "ns", wavelength_m: float | None = None,
                pixel_pitch_m: float | None = None) -> EMVASeries:
    """Read recorded frames: a descriptor file (any other suffix), ``.h5`` / ``.hdf5`` or ``.npz``.

    ``exposure_unit`` applies to descriptor files; ``wavelength_m`` and ``pixel_pitch_m``
    complete what a file does not say.

    Raises
    ------
    FileNotFoundError
        The file, or an image it names, does not exist.
    FileFormatError
        A malformed descriptor, an unreadable image or stack, missing keys.
    ShapeError
        Images of mixed shapes, or not the size the descriptor declares.
    CalibrationError
        Saturated (clipped) dark frames, too few levels or frames.
    """
    p = Path(path)
    if p.is_dir():
        cands = sorted(p.glob("*.txt"))
        if len(cands) != 1:
            raise FileFormatError(f"{p}: a folder must hold exactly one descriptor file *.txt (found {len(cands)})")
        p = cands[0]
    if not p.is_file():
        raise FileNotFoundError(f"{str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix in (".h5", ".hdf5", ".npz"):
        return read_stack(p, wavelength_m=wavelength_m, pixel_pitch_m=pixel_pitch_m)
    return read_descriptor(p, exposure_unit=exposure_unit, wavelength_m=wavelength_m, pixel_pitch_m=pixel_pitch_m)


def _read_image(path: Path, where: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{where}: image {str(path)!r} does not exist")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("L", "I;16", "I;16B", "I;16L", "I", "F", "1"):
                raise FileFormatError(f"{where}: image {path.name} has mode {mode!r}; EMVA 1288 needs monochrome 8-16 bit images")
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise FileFormatError(f"{where}: cannot read image {path.name} ({exc})") from None
    if a.ndim != 2:
        raise FileFormatError(f"{where}: image {path.name} is not a single-channel 2-D image (shape {a.shape})")
    if a.dtype.kind == "f":
        if not np.all(a == np.round(a)) or a.min() < 0:
            raise FileFormatError(f"{where}: image {path.name} holds non-integer values; EMVA 1288 images hold ADC codes")
        a = a.astype(np.uint32)
    return a


def _number(text: str, what: str, where: str) -> float:
    try:
        v = float(text.replace(",", "."))
    except ValueError:
        raise FileFormatError(f"{where}: {what} must be a number (got {text!r})") from None
    if not math.isfinite(v):
        raise FileFormatError(f"{where}: {what} must be finite (got {text!r})")
    return v


def read_descriptor(path: str | os.PathLike, *, exposure_unit: str = "ns", wavelength_m: float | None = None,
                    pixel_pitch_m: float | None = None) -> EMVASeries:
    """Read an EMVA 1288 descriptor file and its images (see the module docstring)."""
    path = Path(path)
    if exposure_unit not in EXPOSURE_UNITS:
        raise ValidationError(f"exposure_unit must be one of {', '.join(EXPOSURE_UNITS)} (got {exposure_unit!r})")
    scale = EXPOSURE_UNITS[exposure_unit]
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: not a text descriptor file") from None
    fmt = None
    version = None
    groups: list[dict] = []  # {"kind": "b"/"d", "exposure", "photons", "images": [...], "line"}
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{path.name}, line {no}"
        cmd = parts[0]
        if cmd == "v":
            if len(parts) != 2:
                raise FileFormatError(f"{where}: 'v' takes one value, the version (got {line!r})")
            version = parts[1]
        elif cmd == "n":
            if len(parts) != 4:
                raise FileFormatError(f"{where}: expected 'n BITS WIDTH HEIGHT' (got {line!r})")
            if fmt is not None:
                raise FileFormatError(f"{where}: only one 'n BITS WIDTH HEIGHT' line is allowed")
            try:
                bits, width, height = (int(v) for v in parts[1:])
            except ValueError:
                raise FileFormatError(f"{where}: BITS, WIDTH and HEIGHT must be integers (got {line!r})") from None
            if not (1 <= bits <= 16) or width < 1 or height < 1:
                raise FileFormatError(f"{where}: need 1 <= BITS <= 16 and a positive image size (got {line!r})")
            fmt = (bits, width, height)
        elif cmd == "b":
            if len(parts) != 3:
                raise FileFormatError(f"{where}: expected 'b EXPOSURE PHOTONS' (got {line!r})")
            t = _number(parts[1], "the exposure", where) * scale
            ph = _number(parts[2], "the photon count", where)
            if t <= 0 or ph < 0:
                raise FileFormatError(f"{where}: the exposure must be > 0 and the photon count >= 0 (got {line!r})")
            groups.append({"kind": "d" if ph == 0 else "b", "exposure": t, "photons": ph, "images": [], "where": where})
        elif cmd == "d":
            if len(parts) != 2:
                raise FileFormatError(f"{where}: expected 'd EXPOSURE' (got {line!r})")
            t = _number(parts[1], "the exposure", where) * scale
            if t <= 0:
                raise FileFormatError(f"{where}: the exposure must be > 0 (got {line!r})")
            groups.append({"kind": "d", "exposure": t, "photons": 0.0, "images": [], "where": where})
        elif cmd == "i":
            if len(parts) < 2:
                raise FileFormatError(f"{where}: expected 'i IMAGE_PATH' (got {line!r})")
            if not groups:
                raise FileFormatError(f"{where}: image line before any 'b' or 'd' line")
            name = line[1:].strip().replace("\\", "/")
            groups[-1]["images"].append((path.parent / name, where))
        else:
            raise FileFormatError(f"{where}: unknown command {cmd!r}; a descriptor has lines v, n, b, d and i (and # comments)")
    if fmt is None:
        raise FileFormatError(f"{path}: no 'n BITS WIDTH HEIGHT' line")
    for g in groups:
        if len(g["images"]) < 2:
            raise FileFormatError(f"{g['where']}: each level needs at least 2 images (got {len(g['images'])})")
    bits, width, height = fmt
    top = 2**bits - 1

    def load(g):
        out = []
        for p, where in g["images"]:
            a = _read_image(p, where)
            if a.shape != (height, width):
                raise ShapeError(f"{where}: image {p.name} is {a.shape[1]} x {a.shape[0]} pixels (width x height) but the "
                                 f"descriptor declares {width} x {height}; mixed image shapes")
            if int(a.max()) > top:
                raise FileFormatError(f"{where}: image {p.name} holds {int(a.max())} DN > 2**{bits} - 1 = {top}; wrong bit depth "
                                      "in the 'n' line, or MSB-aligned data (shift it right)")
            out.append(a)
        return np.stack(out)

    temporal_b = [g for g in groups if g["kind"] == "b" and len(g["images"]) == 2]
    temporal_d = [g for g in groups if g["kind"] == "d" and len(g["images"]) == 2]
    spatial_b = [g for g in groups if g["kind"] == "b" and len(g["images"]) > 2]
    spatial_d = [g for g in groups if g["kind"] == "d" and len(g["images"]) > 2]
    if len(temporal_b) < 3:
        raise FileFormatError(f"{path}: a photon transfer series needs at least 3 bright levels with 2 images each (got {len(temporal_b)})")
    if not temporal_d and not spatial_d:
        raise FileFormatError(f"{path}: no dark images ('d EXPOSURE' lines)")
    if len(spatial_b) > 1 or len(spatial_d) > 1:
        raise FileFormatError(f"{path}: at most one bright and one dark spatial stack (more than 2 images) are allowed")
    if len(spatial_b) != len(spatial_d):
        raise FileFormatError(f"{path}: the spatial stacks come in pairs: one bright and one dark (more than 2 images each)")
    if spatial_b and abs(spatial_b[0]["exposure"] - spatial_d[0]["exposure"]) > 1e-9 * spatial_b[0]["exposure"]:
        raise FileFormatError(f"{path}: the bright and dark spatial stacks must have the same exposure")
    dark_groups = temporal_d or spatial_d
    keys = [(g["exposure"], g["photons"]) for g in temporal_b]
    if len(set(keys)) != len(keys):
        raise FileFormatError(f"{path}: two bright levels with the same exposure and photon count")
    texp = [g["exposure"] for g in dark_groups]
    if len(set(texp)) != len(texp):
        raise FileFormatError(f"{path}: two dark levels with the same exposure")
    bright = np.stack([load(g) for g in temporal_b])
    dark = np.stack([load(g)[:2] for g in dark_groups])
    sb = sd = None
    if spatial_b:
        sb, sd = load(spatial_b[0]), load(spatial_d[0])
    log.info("read %s (version %s): %d levels, %d dark exposures, %dx%d, %d bits", path, version, len(temporal_b), len(dark_groups),
             width, height, bits)
    return EMVASeries(
        bright_frames=bright,
        bright_exposure_s=np.array([g["exposure"] for g in temporal_b]),
        dark_frames=dark,
        dark_exposure_s=np.array(texp),
        photons=np.array([g["photons"] for g in temporal_b]),
        spatial_bright=sb,
        spatial_dark=sd,
        spatial_exposure_s=spatial_b[0]["exposure"] if spatial_b else None,
        spatial_photons=spatial_b[0]["photons"] if spatial_b else None,
        bit_depth=bits,
        wavelength_m=wavelength_m,
        pixel_pitch_m=pixel_pitch_m,
        source=str(path),
    )


def read_stack_items(path: Path, expected_kind: str = FRAMES_KIND) -> dict:
    """Keys of an HDF5 (datasets and root attributes) or NPZ file -> numpy values.

    An HDF5 file with a ``kind`` attribute other than ``expected_kind`` is refused."""
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (ValueError, OSError) as exc:
            raise FileFormatError(f"{path}: not a readable NPZ file ({exc})") from None
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    with fh:
        kind = fh.attrs.get("kind")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind is not None and kind != expected_kind:
            raise FileFormatError(f"{path}: is a {kind!r} file, not {expected_kind!r}")
        items = {k: np.asarray(fh[k][()]) for k in fh.keys() if isinstance(fh[k], h5py.Dataset)}
        for k, v in fh.attrs.items():
            if k not in items and k not in ("schema", "kind", "package_version"):
                items[k] = np.asarray(v.decode() if isinstance(v, bytes) else v)
    return items


def read_stack(path: str | os.PathLike, *, wavelength_m: float | None = None, pixel_pitch_m: float | None = None) -> EMVASeries:
    """Read an HDF5 or NPZ stack of EMVA 1288 frames (see the module docstring for the keys)."""
    path = Path(path)
    it = read_stack_items(path)

    def need(key):
        if key not in it:
            raise FileFormatError(f"{path}: missing {key!r} (keys: {', '.join(sorted(it))})")
        return it[key]

    def scalar(key, default=None):
        if key not in it:
            return default
        v = np.asarray(it[key])
        if v.size != 1:
            raise FileFormatError(f"{path}: {key!r} must be a single value (got shape {v.shape})")
        v = v.item()
        return v if isinstance(v, str) else float(v)

    bright = np.asarray(need("bright"))
    dark = np.asarray(need("dark"))
    if bright.ndim != 4 or dark.ndim != 4:
        raise ShapeError(f"{path}: 'bright' and 'dark' must be (levels, frames, rows, cols) (got {bright.shape} and {dark.shape})")
    if bright.shape[2:] != dark.shape[2:]:
        raise ShapeError(f"{path}: mixed image shapes: bright frames are {bright.shape[2:]}, dark frames {dark.shape[2:]}")
    n = bright.shape[0]
    tb = np.broadcast_to(np.asarray(need("bright_exposure_s"), dtype=np.float64), (n,)).copy()
    td = np.broadcast_to(np.asarray(need("dark_exposure_s"), dtype=np.float64), (dark.shape[0],)).copy()
    wl = wavelength_m if wavelength_m is not None else scalar("wavelength_m")
    pitch = pixel_pitch_m if pixel_pitch_m is not None else scalar("pixel_pitch_m")
    e_ph = photon_energy_j(wl) if wl is not None else None

    def illumination(prefix: str, t, count):
        """(photons, relative illumination, power) from whichever key is present."""
        photons = it.get(f"{prefix}photons")
        irr = it.get(f"{prefix}irradiance_w_per_m2")
        power = it.get(f"{prefix}power_w")
        given = [k for k, v in (("photons", photons), ("irradiance_w_per_m2", irr), ("power_w", power)) if v is not None]
        if len(given) > 1:
            raise FileFormatError(f"{path}: give one of {prefix}photons, {prefix}irradiance_w_per_m2, {prefix}power_w (got {', '.join(given)})")
        if photons is not None:
            return np.broadcast_to(np.asarray(photons, dtype=np.float64), count).copy(), None, None
        if irr is not None:
            e = np.broadcast_to(np.asarray(irr, dtype=np.float64), count) * 1.0
            if e_ph is not None and pitch is not None:
                return e * pitch**2 * t / e_ph, None, None
            return None, e * t, None
        if power is not None:
            p = np.broadcast_to(np.asarray(power, dtype=np.float64), count) * 1.0
            return (p * t / e_ph if e_ph is not None else None), (None if e_ph is not None else p * t), p
        return None, None, None

    photons, rel, power = illumination("", tb, (n,))
    kw = {}
    if "spatial_bright" in it or "spatial_dark" in it:
        ts = scalar("spatial_exposure_s")
        if ts is None:
            raise FileFormatError(f"{path}: 'spatial_exposure_s' is required with the spatial stacks")
        sph, _, sp = illumination("spatial_", ts, ())
        kw = dict(spatial_bright=need("spatial_bright"), spatial_dark=need("spatial_dark"), spatial_exposure_s=ts,
                  spatial_photons=None if sph is None else float(sph), spatial_power_w=None if sp is None else float(sp))
    bits = scalar("bit_depth")
    return EMVASeries(
        bright_frames=bright,
        bright_exposure_s=tb,
        dark_frames=dark,
        dark_exposure_s=td,
        photons=photons,
        illumination=rel,
        power_w=power,
        bit_depth=None if bits is None else int(bits),
        wavelength_m=wl,
        pixel_pitch_m=pitch,
        black_level_dn=scalar("black_level_dn"),
        source=str(scalar("source", "") or path),
        **kw,
    )


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------
def write_frames(series: EMVASeries, path: str | os.PathLike, *, image_format: str = "png") -> Path:
    """Write a series: ``.h5`` / ``.hdf5`` / ``.npz`` -> :func:`write_stack`, else a descriptor
    folder (:func:`write_descriptor`; ``path`` is the folder, or the ``.txt`` file in it)."""
    p = Path(path)
    if p.suffix.lower() in (".h5", ".hdf5", ".npz"):
        return write_stack(series, p)
    if p.suffix.lower() == ".txt":
        return write_descriptor(series, p.parent, name=p.name, image_format=image_format)
    return write_descriptor(series, p, image_format=image_format)


def write_stack(series: EMVASeries, path: str | os.PathLike) -> Path:
    """Write every frame of a series to HDF5 (kind :data:`FRAMES_KIND`) or NPZ, atomically."""
    from ..io import atomic_h5, atomic_path

    path = Path(path)
    items = {
        "bright": series.bright_frames,
        "bright_exposure_s": series.bright_exposure_s,
        "dark": series.dark_frames,
        "dark_exposure_s": series.dark_exposure_s,
    }
    if series.photons is not None:
        items["photons"] = series.photons
    elif series.power_w is not None:
        items["power_w"] = series.power_w
    if series.spatial_bright is not None:
        items.update(spatial_bright=series.spatial_bright, spatial_dark=series.spatial_dark, spatial_exposure_s=series.spatial_exposure_s)
        if series.spatial_photons is not None:
            items["spatial_photons"] = series.spatial_photons
        elif series.spatial_power_w is not None:
            items["spatial_power_w"] = series.spatial_power_w
    for k in ("bit_depth", "wavelength_m", "pixel_pitch_m", "black_level_dn"):
        if getattr(series, k) is not None:
            items[k] = getattr(series, k)
    items["source"] = series.source
    if series.photons is None and series.power_w is None:
        if series.mode == "irradiance":
            raise ValidationError("the series has only a relative illumination; store photons or power to write it")
    if path.suffix.lower() == ".npz":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **{k: np.asarray(v) for k, v in items.items()})
        return path
    units = {"bright": "DN", "dark": "DN", "spatial_bright": "DN", "spatial_dark": "DN", "photons": "photons/pixel", "power_w": "W"}
    with atomic_h5(path, FRAMES_KIND) as fh:
        for k, v in items.items():
            a = np.asarray(v)
            if a.ndim == 0:
                fh.attrs[k] = a.item() if a.dtype.kind != "U" else str(a)
            else:
                ds = fh.create_dataset(k, data=a, compression="gzip" if a.ndim >= 3 else None)
                ds.attrs["unit"] = units.get(k, "s" if k.endswith("_s") else "")
    return path


def _encode_image(a: np.ndarray, image_format: str) -> bytes:
    from PIL import Image

    im = Image.fromarray(a.astype(np.uint8) if a.dtype == np.uint8 else a.astype(np.uint16))
    buf = io.BytesIO()
    im.save(buf, format="PNG" if image_format == "png" else "TIFF")
    return buf.getvalue()


def write_descriptor(series: EMVASeries, folder: str | os.PathLike, *, name: str = "EMVA1288_descriptor.txt",
                     image_format: str = "png", exposure_unit: str = "ns") -> Path:
    """Write a series as the standard's descriptor file plus images in ``folder`` (created).

    Each temporal level gets its first 2 frames (the standard's pair), every dark exposure its
    first 2, the spatial stacks all L (> 2) frames. Images are PNG (or TIFF), 8-bit for
    bit depths <= 8, else 16-bit. Returns the descriptor's path.

    Raises
    ------
    ValidationError
        Frames that are not integer ADC codes, no photon counts, a spatial stack of <= 2 frames.
    """
    from ..io import write_bytes_atomic, write_text_atomic

    if image_format not in ("png", "tif"):
        raise ValidationError(f"image_format must be 'png' or 'tif' (got {image_format!r})")
    if exposure_unit not in EXPOSURE_UNITS:
        raise ValidationError(f"exposure_unit must be one of {', '.join(EXPOSURE_UNITS)} (got {exposure_unit!r})")
    if series.photons is None:
        raise ValidationError("a descriptor file needs the photons per pixel of each level (the series has none)")
    if series.bright_frames.dtype.kind not in "iu":
        raise ValidationError("descriptor images hold integer ADC codes; write float frames to .h5 or .npz instead")
    if series.spatial_bright is not None and (series.spatial_bright.shape[0] <= 2 or series.spatial_dark.shape[0] <= 2):
        raise ValidationError("the spatial stacks need more than 2 frames each (2 images mark a temporal level)")
    if series.spatial_bright is not None and not series.spatial_photons:
        raise ValidationError("the bright spatial stack needs its photons per pixel")
    bits = int(series.bit_depth) if series.bit_depth is not None else (8 if series.bright_frames.dtype == np.uint8 else 16)
    dtype = np.uint8 if bits <= 8 else np.uint16
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    scale = EXPOSURE_UNITS[exposure_unit]
    rows, cols = series.image_shape
    lines = ["# EMVA 1288 measurement written by photonics", f"# source: {series.source}", f"# exposure unit: {exposure_unit}",
             "v 4.0", f"n {bits} {cols} {rows}"]

    def images(prefix: str, frames: np.ndarray) -> None:
        for k, f in enumerate(frames):
            rel = f"images/{prefix}_snap_{k:03d}.{image_format}"
            write_bytes_atomic(folder / rel, _encode_image(np.asarray(f).astype(dtype), image_format))
            lines.append(f"i {rel}")

    for j in range(series.n_levels):
        lines.append(f"b {float(series.bright_exposure_s[j] / scale)!r} {float(series.photons[j])!r}")
        images(f"b_{j:03d}", series.bright_frames[j, :2])
    for j in range(series.dark_frames.shape[0]):
        lines.append(f"d {float(series.dark_exposure_s[j] / scale)!r}")
        images(f"d_{j:03d}", series.dark_frames[j, :2])
    if series.spatial_bright is not None:
        lines.append(f"b {float(series.spatial_exposure_s / scale)!r} {float(series.spatial_photons or 0.0)!r}")
        images("bs_000", series.spatial_bright)
        lines.append(f"d {float(series.spatial_exposure_s / scale)!r}")
        images("ds_000", series.spatial_dark)
    return write_text_atomic(folder / name, "\n".join(lines) + "\n")

