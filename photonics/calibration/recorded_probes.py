"""TM retrieval from probe / intensity pairs recorded on a real OPU, and the measured-medium file.

A lab that owns an OPU records camera frames for DMD patterns it chose (random binary probes)
and wants the device's transmission matrix for a digital twin. This module reads such a
recording, runs the same retrieval as :func:`~photonics.calibration.retrieve_tm` (intensity only,
no reference arm: see :mod:`photonics.calibration.tm_retrieval`) and writes the rows as a
measured-medium file that ``medium.model = "measured"`` (and so a twin) loads.

The recording (HDF5 or NPZ; the names are the keys)
---------------------------------------------------
``patterns`` (m, n_in), 0/1
    The DMD patterns shown, signal mirrors only (one row per camera frame).
``frames`` (m, H, W) or (m, n_pix)
    The camera values read for them [DN], dark level included.
``dark_frames`` (k, H, W) or (k, n_pix), k >= 1
    Frames with the laser off at the same exposure [DN]: the per-pixel dark level D_i.
``reference`` (m,), small integers >= 0, optional
    The reference block's state for that frame: 0 OFF, 1 ON, and further values for further
    states (e.g. 1 and 2 for its first and its second half ON alone, as
    ``retrieve_tm(reference_halves=True)`` takes them). Each state is one more constant field,
    fitted as one more column: it breaks the near-conjugation symmetry of rows dominated by one
    input.
``saturation_dn``, optional scalar (HDF5: dataset or root attribute)
    The ADC top: values at or above it are clipped (only bound the intensity from below).
``exposure_s``, optional scalar
    The exposure, recorded in the result.

Patterns shown twice with the reference OFF are the held-out set (never used by the fit): their
two readings give the camera noise model var = v0 + kappa I [DN^2], the noise ceiling of R^2,
the maximum-likelihood polish, the reduced chi^2 of every row and the bootstrap estimate of the
row correlation. A recording with no repeated pattern still works: the last ``n_heldout``
frames are held out for R^2 only, and everything that needs the noise model is skipped (with a
warning). Every other frame is a probe; at least 2 (n_in + 1) of them (8 n_in for a reliable
retrieval).

Model fitted per pixel i (see :mod:`~photonics.calibration.tm_retrieval`):

    y_i(x) - D_i = |t_i . x + c_i|^2                                       [DN]

t_i = sqrt(g_i) alpha T_i e^{i phi_i} is the TM row up to a global phase per row, a complex
conjugation per row (neither changes anything a DMD device computes) and the pixel's scale
sqrt(g_i) (exposure, QE, gain and its PRNU). :func:`write_measured_medium` divides the PRNU out
when a calibration of the same camera gives its relative-gain map; the device then rescales the
matrix to its own power model (``medium.normalize``).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CalibrationError, FileFormatError, ShapeError, ValidationError
from ..validation import check_int
from .recorded_frames import read_stack_items
from .tm_retrieval import TMRetrieval, _retrieve_measured

log = logging.getLogger(__name__)

__all__ = ["PROBES_KIND", "RecordedProbes", "read_probe_file", "write_probe_file", "record_probes", "retrieve_tm_recorded",
           "write_measured_medium"]

#: ``kind`` attribute of the probe recordings this toolkit writes (foreign files need none).
PROBES_KIND = "photonics.probes"


@dataclass(frozen=True)
class RecordedProbes:
    """A recording of DMD patterns and the camera frames read for them (module docstring).

    ``frames`` and ``dark_frames`` are flattened to (m, n_pix) / (k, n_pix) float64 [DN];
    ``image_shape`` keeps the camera's (rows, cols); ``reference`` (m,) int, 0 = OFF.
    """

    patterns: np.ndarray
    frames: np.ndarray
    dark_frames: np.ndarray
    reference: np.ndarray
    image_shape: tuple[int, int]
    saturation_dn: float | None = None
    exposure_s: float = math.nan
    source: str = "array"

    def __post_init__(self):
        p, f, d, r = self.patterns, self.frames, self.dark_frames, self.reference
        where = self.source
        if p.ndim != 2 or p.shape[1] < 1:
            raise ShapeError(f"{where}: patterns must be (m, n_in) (got shape {p.shape})")
        if not np.all((p == 0) | (p == 1)):
            bad = p[(p != 0) & (p != 1)].ravel()[0]
            raise ValidationError(f"{where}: patterns must hold only 0 and 1 (binary DMD frames; found {bad!r})")
        if f.ndim != 2 or f.shape[0] != p.shape[0]:
            raise ShapeError(f"{where}: frames must hold one camera frame per pattern: {p.shape[0]} frames (got shape {f.shape})")
        if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] != f.shape[1]:
            raise ShapeError(f"{where}: dark_frames must be (k >= 1, n_pix = {f.shape[1]}) like the frames (got shape {d.shape})")
        if r.shape != (p.shape[0],):
            raise ShapeError(f"{where}: reference must be ({p.shape[0]},), one state per pattern (got shape {r.shape})")
        if r.dtype.kind not in "biu" or (r.size and (r.min() < 0 or r.max() > 255)):
            raise ValidationError(f"{where}: reference must hold integers 0 (OFF) .. 255, one state of the reference block per pattern")
        if int(np.prod(self.image_shape)) != f.shape[1]:
            raise ShapeError(f"{where}: image shape {self.image_shape} does not hold {f.shape[1]} pixels")
        for name, a in (("frames", f), ("dark_frames", d)):
            if not np.all(np.isfinite(a)):
                raise ValidationError(f"{where}: {name} hold NaN or infinite values")
            if a.min() < 0:
                raise ValidationError(f"{where}: {name} hold negative values ({a.min():g} DN); camera values are >= 0")
        if self.saturation_dn is not None:
            if not (math.isfinite(self.saturation_dn) and self.saturation_dn > 0):
                raise ValidationError(f"{where}: saturation_dn must be a positive number of DN (got {self.saturation_dn!r})")
            if np.mean(d >= self.saturation_dn) > 0.01:
                raise ValidationError(f"{where}: {100 * np.mean(d >= self.saturation_dn):.1f} % of the dark frames' values are saturated "
                                      f"(>= saturation_dn = {self.saturation_dn:g}); dark frames must be read with the laser off")
        if not (math.isnan(self.exposure_s) or (math.isfinite(self.exposure_s) and self.exposure_s > 0)):
            raise ValidationError(f"{where}: exposure_s must be > 0 s (got {self.exposure_s!r})")

    @property
    def n_in(self) -> int:
        return int(self.patterns.shape[1])

    @property
    def n_pix(self) -> int:
        return int(self.frames.shape[1])


def _flatten(a: np.ndarray, name: str, where: str) -> tuple[np.ndarray, tuple[int, int]]:
    if a.ndim == 3:
        return a.reshape(a.shape[0], -1).astype(np.float64), (int(a.shape[1]), int(a.shape[2]))
    if a.ndim == 2:
        return a.astype(np.float64), (1, int(a.shape[1]))
    raise ShapeError(f"{where}: {name} must be (count, H, W) or (count, n_pix) (got shape {a.shape})")


def _scalar(items: dict, key: str, where: str) -> float | None:
    if key not in items:
        return None
    v = np.asarray(items[key])
    if v.size != 1 or v.dtype.kind not in "iuf":
        raise FileFormatError(f"{where}: {key!r} must be a single number (got {v!r})")
    return float(v.ravel()[0])


def read_probe_file(path: str | os.PathLike) -> RecordedProbes:
    """Read a recording of patterns and frames (HDF5 or NPZ, module docstring).

    Raises
    ------
    FileNotFoundError, FileFormatError, ShapeError, ValidationError
        Missing file, unreadable or foreign file, a missing key, inconsistent shapes,
        non-binary patterns, negative or non-finite values, saturated dark frames.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{str(p)!r} does not exist")
    where = str(p)
    items = read_stack_items(p, PROBES_KIND)
    missing = [k for k in ("patterns", "frames", "dark_frames") if k not in items]
    if missing:
        raise FileFormatError(f"{where}: missing {', '.join(repr(k) for k in missing)} (keys: {', '.join(sorted(items)) or 'none'})")
    pat = np.asarray(items["patterns"])
    if pat.dtype.kind not in "biuf":
        raise FileFormatError(f"{where}: 'patterns' must be numbers 0/1 (got dtype {pat.dtype})")
    if pat.ndim == 3:  # DMD frames stored as images
        pat = pat.reshape(pat.shape[0], -1)
    frames, shape = _flatten(np.asarray(items["frames"]), "frames", where)
    dark, dshape = _flatten(np.asarray(items["dark_frames"]), "dark_frames", where)
    if dshape != shape:
        raise ShapeError(f"{where}: dark_frames are {dshape[0]} x {dshape[1]} images but frames are {shape[0]} x {shape[1]}")
    ref = np.asarray(items["reference"]).ravel() if "reference" in items else np.zeros(pat.shape[0], dtype=np.int64)
    if ref.size and (ref.dtype.kind not in "biuf" or not np.all((ref >= 0) & (ref <= 255) & (ref == np.round(ref)))):
        raise ValidationError(f"{where}: 'reference' must hold integers 0 (reference OFF), 1 (ON) and further states up to 255")
    exposure = _scalar(items, "exposure_s", where)
    return RecordedProbes(
        patterns=(pat != 0).astype(np.uint8) if np.all((pat == 0) | (pat == 1)) else pat,
        frames=frames,
        dark_frames=dark,
        reference=ref.astype(np.int64),
        image_shape=shape,
        saturation_dn=_scalar(items, "saturation_dn", where),
        exposure_s=math.nan if exposure is None else exposure,
        source=where,
    )


def write_probe_file(path: str | os.PathLike, rec: RecordedProbes) -> Path:
    """Write a recording as HDF5 (kind ``photonics.probes``), atomically; images keep their shape."""
    from ..io import atomic_h5

    h, w = rec.image_shape
    with atomic_h5(path, PROBES_KIND) as fh:
        fh.create_dataset("patterns", data=rec.patterns.astype(np.uint8), compression="gzip", compression_opts=1)
        fh.create_dataset("frames", data=rec.frames.reshape(-1, h, w), compression="gzip", compression_opts=1)
        fh.create_dataset("dark_frames", data=rec.dark_frames.reshape(-1, h, w), compression="gzip", compression_opts=1)
        fh.create_dataset("reference", data=rec.reference.astype(np.uint8))
        if rec.saturation_dn is not None:
            fh.attrs["saturation_dn"] = float(rec.saturation_dn)
        if not math.isnan(rec.exposure_s):
            fh.attrs["exposure_s"] = float(rec.exposure_s)
    return Path(path)


def record_probes(opu, *, n_probes: int | None = None, probes_per_input: float = 8.0, n_heldout: int = 64, n_dark_frames: int = 32,
                  reference_probes: float = 0.0, exposure_s: float | None = None, seed: int = 0) -> RecordedProbes:
    """Record what a lab would on a (simulated) OPU: random probes, held-out patterns shown twice
    (reference OFF) and dark frames, in the order probes, held-out, held-out again.

    ``reference_probes``: fraction of the probes shown with the reference block ON.
    """
    n_in = opu.n_in
    n_probes = int(math.ceil(probes_per_input * n_in)) if n_probes is None else check_int(n_probes, "n_probes", low=1, error=ValidationError)
    n_heldout = check_int(n_heldout, "n_heldout", low=2, error=ValidationError)
    if not 0.0 <= reference_probes <= 0.5:
        raise ValidationError(f"reference_probes must be in [0, 0.5] (got {reference_probes!r})")
    if reference_probes > 0 and opu.config.n_reference == 0:
        raise ValidationError("reference_probes > 0 needs reference modes (reference.fraction > 0)")
    from ..rng import generator

    exposure_s = opu.camera.check_exposure(exposure_s)
    rng = generator(seed, "calibration", "recorded_probes")
    probes = (rng.random((n_probes, n_in)) < 0.5).astype(np.uint8)
    held = (rng.random((n_heldout, n_in)) < 0.5).astype(np.uint8)
    ref = np.zeros(n_probes, dtype=np.int64)
    k = int(round(reference_probes * n_probes))
    if k:
        ref[np.linspace(0, n_probes - 1, k).round().astype(int)] = 1
    y = np.empty((n_probes, opu.n_out))
    for state in (0, 1):
        if np.any(ref == state):
            y[ref == state] = opu.acquire(probes[ref == state], reference=bool(state), exposure_s=exposure_s)
    h1 = opu.acquire(held, exposure_s=exposure_s)
    h2 = opu.acquire(held, exposure_s=exposure_s)
    dark = opu.dark_frames(n_dark_frames, exposure_s)
    cam = opu.config.camera
    return RecordedProbes(
        patterns=np.concatenate([probes, held, held]),
        frames=np.concatenate([y, h1, h2]).astype(np.float64),
        dark_frames=np.asarray(dark, dtype=np.float64).reshape(n_dark_frames, -1),
        reference=np.concatenate([ref, np.zeros(2 * n_heldout, dtype=np.int64)]),
        image_shape=tuple(int(v) for v in opu.config.medium.image_shape),
        saturation_dn=float(cam.max_dn) if cam.quantize else None,
        exposure_s=float(exposure_s),
        source=f"record_probes({opu.config.name}, seed={seed})",
    )


def split_heldout(rec: RecordedProbes, n_heldout: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Indices (probes, held-out first reading, held-out second reading or None).

    Held out: the patterns shown at least twice with the reference OFF (first two showings;
    further showings are dropped). With none, the last ``n_heldout`` frames (default
    max(64, m // 9)) are held out, read once.
    """
    m = rec.patterns.shape[0]
    off = rec.reference == 0
    key = np.concatenate([rec.patterns.astype(np.uint8), rec.reference[:, None].astype(np.uint8)], axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    repeated_off = (counts[inverse] >= 2) & off
    if np.any(repeated_off):
        groups = np.unique(inverse[repeated_off])
        order = np.argsort(inverse, kind="stable")  # the showings of each pattern, in recording order
        start = np.searchsorted(inverse[order], groups)
        h1, h2 = order[start], order[start + 1]
        dropped = int(np.count_nonzero(repeated_off)) - 2 * groups.size
        if dropped:
            log.info("%s: %d further showings of held-out patterns are not used", rec.source, dropped)
        probes = np.flatnonzero(~repeated_off)
        return probes, h1, h2
    n_h = max(64, m // 9) if n_heldout is None else check_int(n_heldout, "n_heldout", low=2, high=m - 1, error=ValidationError)
    if n_h >= m:
        raise CalibrationError(f"{rec.source}: {m} frames cannot give {n_h} held-out frames and probes")
    log.warning("%s: no pattern was shown twice: the last %d frames are held out for R^2 only; without repeated frames there is "
                "no camera noise model (no noise ceiling, no maximum-likelihood polish, no chi^2, no bootstrap)", rec.source, n_h)
    return np.arange(m - n_h), np.arange(m - n_h, m), None


def retrieve_tm_recorded(rec: RecordedProbes, *, n_heldout: int | None = None, rank: int = 3, max_iter: int = 300,
                         n_bootstrap_rows: int = 32, multistart: int = 6, seed: int = 0, progress: bool = False) -> TMRetrieval:
    """Retrieve the TM row of every camera pixel of a recording (module docstring).

    Returns the same :class:`~photonics.calibration.TMRetrieval` as a simulated device's
    retrieval (rows = all pixels, row-major image order; no device time).

    Raises
    ------
    CalibrationError
        Fewer than 2 (n_in + 1) probes.
    """
    probes_i, h1_i, h2_i = split_heldout(rec, n_heldout)
    n_in = rec.n_in
    if probes_i.size < 2 * (n_in + 1):
        raise CalibrationError(
            f"{rec.source}: {probes_i.size} probe frames (besides the held-out ones) cannot determine 2 (n_in + 1) = "
            f"{2 * (n_in + 1)} real unknowns per pixel; record ~8 n_in = {8 * n_in}"
        )
    if probes_i.size < 4 * n_in:
        log.warning("%s: %d probes for %d inputs; the retrieval is reliable from ~8 per input (%d)", rec.source, probes_i.size, n_in, 8 * n_in)
    probes = rec.patterns[probes_i]
    y = rec.frames[probes_i]
    dark = rec.dark_frames.mean(axis=0)
    held = rec.patterns[h1_i]
    y_h1 = rec.frames[h1_i]
    y_h2 = rec.frames[h2_i] if h2_i is not None else None
    ref = rec.reference[probes_i]
    # one constant per reference state: 0 (OFF) stays 0, the others numbered 1.. in order
    groups = np.searchsorted(np.unique(np.concatenate([[0], ref])), ref).astype(np.int64) if np.any(ref) else None
    return _retrieve_measured(
        probes, y, np.broadcast_to(dark, y.shape), dark, held, y_h1, y_h2, y_h1, y_h2, dark,
        groups=groups, probe_scale=np.ones(probes.shape[0]), max_dn=rec.saturation_dn, rows_idx=np.arange(rec.n_pix),
        exposure_s=rec.exposure_s, rank=rank, max_iter=max_iter, n_bootstrap_rows=n_bootstrap_rows, multistart=multistart,
        seed=seed, progress=progress, t_start=0.0, t_end=0.0,
    )


def write_measured_medium(path: str | os.PathLike, result: TMRetrieval, *, relative_gain=None, source: str = "recorded probes") -> Path:
    """Write the retrieved rows as a measured-medium file (``medium.model = "measured"`` loads it).

    ``relative_gain``: the camera's PRNU map (mean 1, one value per pixel, e.g. from an EMVA 1288
    calibration of the same camera): row i is divided by its square root, so a device that
    applies that map does not apply it twice. Rows follow ``result.rows`` (all pixels for a
    recording); columns are the n_in signal inputs (a device with reference modes draws its
    reference columns, see :class:`~photonics.medium.MeasuredMedium`). The retrieved all-OFF
    field c_i (same scale and phase convention as row i) is stored beside them (dataset
    ``constant_field``): a device loading the file reproduces the recorded constant field instead
    of modelling the OFF mirrors' leak.
    """
    from ..medium.measured import save_transmission_matrix

    t = np.asarray(result.t_est, dtype=np.complex128)
    c = np.asarray(result.c_est, dtype=np.complex128)
    if relative_gain is not None:
        g = np.asarray(relative_gain, dtype=np.float64).ravel()
        if g.size <= int(result.rows.max()):
            raise ShapeError(f"relative_gain has {g.size} pixels; the retrieval has rows up to pixel {int(result.rows.max())}")
        g = g[result.rows]
        if not np.all(np.isfinite(g) & (g > 0)):
            raise ValidationError("relative_gain must be positive and finite on every retrieved pixel")
        t = t / np.sqrt(g)[:, None]
        c = c / np.sqrt(g)
    attrs = {
        "measured_by": "phase retrieval from recorded probe / intensity pairs (intensity only, DMD probes)",
        "source": str(source),
        "unit_before_normalization": "sqrt(DN) per ON mirror" + (" / sqrt(relative gain)" if relative_gain is not None else ""),
        "ambiguity": "each row up to a global phase and a complex conjugation (invisible to DMD inputs)",
        "n_probes": int(result.n_probes),
        "r2_heldout_median": float(result.r2_heldout_median.value),
        "flagged_fraction": float(result.flagged_fraction),
        "prnu_divided_out": relative_gain is not None,
    }
    # the all-OFF field (leaking mirrors, stray light) is measured too: stored beside the rows
    # (same units), a device loading the file uses it instead of modelling the leak
    return save_transmission_matrix(path, t, attrs=attrs, constant_field=c)
