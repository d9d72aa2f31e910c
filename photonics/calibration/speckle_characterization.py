"""Speckle characterisation from camera frames: contrast, grain size, fully developed or not.

A few random binary inputs (reference OFF) are each recorded ``n_average`` times. Per input,
the frames are averaged and the mean dark frame removed (and, with dark/flat maps, the PRNU
divided out), so the image is the speckle intensity I plus the averaged camera noise n,
whose variance sigma_n^2 / L is measured from the temporal variance of the repeats (frame
pairs). The statistics of :mod:`photonics.statistics` are then corrected for that noise:

    C^2 = (var(I + n) - sigma_n^2 / L) / <I>^2                         (contrast)
    c(d) = acov(d) / (acov(0) - sigma_n^2 / L),  d != 0                 (autocovariance)

The grain size is the FWHM of the noise-corrected intensity autocovariance along the pixel
axes (:func:`photonics.statistics.grain_size`), in the camera image layout
(``medium.output_shape`` or the most square factorisation of n_out).

Whether the speckle is *fully developed* (circular Gaussian field, exponential intensity law)
is decided by :func:`photonics.ensembles.speckle_verdict`, the rule ``photonics inspect`` uses
too: a Kolmogorov-Smirnov test of each image's I / <I> against the exponential law convolved
with the measured residual noise (variance sigma_n^2 / L), with Stephens' critical value for an
estimated mean at the 1 % level and n_eff = samples / correlation area (the earlier rule took
1.36 / sqrt(n_eff), the 5 % critical value, for the expected distance and allowed three times
it, so it passed non-Gaussian media), and the noise-corrected contrast within 4 standard errors
(+ 3 % for PRNU, leaking mirrors and clipping) of 1. A "no" says: this is not an i.i.d.
circular Gaussian medium (and which test failed). Saturated pixels are reported (keep them
rare: choose the exposure first).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from photonics import statistics as sp
from photonics.calibration.maps import FixedPatternMaps
from photonics.calibration.result import CalibrationResult, Measured
from photonics.errors import CalibrationError, ValidationError
from photonics.rng import generator
from photonics.validation import check_int, check_real

log = logging.getLogger(__name__)

__all__ = ["SpeckleCharacterization", "characterize_speckle", "speckle_statistics", "speckle_truth", "SYSTEMATIC_CONTRAST"]

#: Allowed |C - 1| beyond 4 standard errors for PRNU, leaking mirrors and clipping.
SYSTEMATIC_CONTRAST = 0.03


@dataclass(frozen=True)
class SpeckleCharacterization(CalibrationResult):
    """Speckle statistics of a device, from camera frames."""

    KIND = "speckle"
    UNITS = {
        "exposure_s": "s",
        "image_shape": "px (rows, cols)",
        "example_image_dn": "DN above dark",
        "acf": "1",
        "histogram_edges": "I / <I>",
        "histogram_density": "1 / (I / <I>)",
        "histogram_expected": "1 / (I / <I>)",
        "noise_var_dn2": "DN^2",
    }

    exposure_s: float
    density: float
    n_inputs: int
    n_average: int
    image_shape: np.ndarray
    mean_intensity_dn: Measured
    noise_var_dn2: float
    contrast: Measured
    contrast_uncorrected: float
    grain_size_px: Measured
    grain_x_px: float
    grain_y_px: float
    correlation_area_px: float
    ks_statistic: float
    ks_expected: float
    fully_developed: bool
    saturated_fraction: float
    acf: np.ndarray
    max_lag_y: int
    max_lag_x: int
    histogram_edges: np.ndarray
    histogram_density: np.ndarray
    histogram_expected: np.ndarray
    example_image_dn: np.ndarray
    ks_critical: float = float("nan")
    verdict: str = ""

    def autocorrelation(self) -> sp.Autocorrelation:
        """The noise-corrected autocovariance as a :class:`photonics.statistics.Autocorrelation`."""
        return sp.Autocorrelation(acf=self.acf, max_lag_y=self.max_lag_y, max_lag_x=self.max_lag_x, n_images=self.n_inputs)

    def histogram(self) -> sp.IntensityHistogram:
        """The intensity histogram as a :class:`photonics.statistics.IntensityHistogram`."""
        return sp.IntensityHistogram(
            edges=self.histogram_edges,
            density=self.histogram_density,
            expected=self.histogram_expected,
            mean=self.mean_intensity_dn.value,
            contrast=self.contrast.value,
            ks_statistic=self.ks_statistic,
            ks_pvalue=float("nan"),
            n=int(self.n_inputs * int(np.prod(self.image_shape))),
        )


def speckle_statistics(images, noise_var: float = 0.0) -> dict:
    """Noise-corrected contrast, grain size and exponential-law distance of speckle images.

    Parameters
    ----------
    images : array (n, rows, cols)
        Intensity images (dark-subtracted) [any unit].
    noise_var : float
        Variance of the additive, pixel-independent noise left in the images [unit^2].

    Returns
    -------
    dict with ``contrast`` (Measured), ``contrast_uncorrected``, ``grain`` (GrainSize),
    ``grain_se`` (spread of the per-image grain sizes / sqrt(n)), ``autocorrelation``,
    ``histogram`` (IntensityHistogram of the images clipped at 0), ``ks_expected`` (the
    mean KS distance of independent exponential samples, sqrt(pi / 2) ln 2 / sqrt(n_eff)), and
    ``verdict`` (:class:`photonics.ensembles.SpeckleVerdict`, the shared rule).
    """
    st = np.asarray(images, dtype=np.float64)
    if st.ndim != 3:
        raise ValidationError(f"images must be a stack (n, rows, cols) (got shape {st.shape})")
    n, h, w = st.shape
    noise_var = check_real(noise_var, "noise_var", low=0.0, error=ValidationError)
    m = float(st.mean())
    if not m > 0:
        raise CalibrationError(f"no speckle signal: the mean intensity above dark is {m:.3g}")
    v = float(st.var())
    c2 = (v - noise_var) / m**2
    ac = sp.intensity_autocorrelation(np.maximum(st, 0.0) if st.min() < 0 else st)
    # the normalisation by acov(0) includes the noise: rescale the off-zero lags
    var_images = float(np.mean(st.var(axis=(1, 2))))
    factor = var_images / max(var_images - noise_var, 1e-300) if var_images > noise_var else 1.0
    acf = ac.acf * factor
    acf[ac.max_lag_y, ac.max_lag_x] = 1.0
    ac = sp.Autocorrelation(acf=acf, max_lag_y=ac.max_lag_y, max_lag_x=ac.max_lag_x, n_images=n)
    grain = sp.grain_size(autocorrelation=ac)
    area = grain.correlation_area_px if math.isfinite(grain.correlation_area_px) else 1.0
    per = []
    if n >= 2:
        for k in range(n):
            a1 = sp.intensity_autocorrelation(np.maximum(st[k], 0.0))
            f1 = float(st[k].var()) / max(float(st[k].var()) - noise_var, 1e-300)
            acf1 = a1.acf * f1
            acf1[a1.max_lag_y, a1.max_lag_x] = 1.0
            g1 = sp.grain_size(autocorrelation=sp.Autocorrelation(acf1, a1.max_lag_y, a1.max_lag_x, 1)).grain_size_px
            if math.isfinite(g1):
                per.append(g1)
    grain_se = float(np.std(per, ddof=1) / math.sqrt(len(per))) if len(per) >= 2 else float("nan")
    raw = sp.speckle_contrast(np.maximum(st, 0.0), correlation_area_px=max(area, 1.0))
    c = math.sqrt(max(c2, 0.0))
    hist = sp.intensity_histogram(np.maximum(st, 0.0))
    n_eff = st.size / max(area, 1.0)
    from photonics.ensembles import speckle_verdict

    good = st.reshape(n, -1).mean(axis=1) > 0
    verdict = speckle_verdict(
        st[good], correlation_area_px=max(area, 1.0), noise_var=noise_var, contrast=c, contrast_stderr=raw.stderr,
        contrast_tolerance=SYSTEMATIC_CONTRAST,
    )
    return {
        "contrast": Measured(c, raw.stderr, "1"),
        "contrast_uncorrected": math.sqrt(v) / m,
        "grain": grain,
        "grain_se": grain_se,
        "autocorrelation": ac,
        "histogram": hist,
        "ks_expected": math.sqrt(math.pi / 2.0) * math.log(2.0) / math.sqrt(n_eff),
        "verdict": verdict,
    }


def characterize_speckle(
    opu,
    *,
    n_inputs: int = 8,
    n_average: int = 16,
    density: float = 0.5,
    exposure_s: float | None = None,
    maps: FixedPatternMaps | None = None,
    n_dark_frames: int = 32,
    seed: int = 0,
) -> SpeckleCharacterization:
    """Measure speckle contrast, grain size and whether the speckle is fully developed.

    Parameters
    ----------
    opu : photonics.OPU
        The device (uses :meth:`~photonics.OPU.acquire` and :meth:`~photonics.OPU.dark_frames`).
    n_inputs : int
        Random binary inputs (independent speckle patterns), >= 1.
    n_average : int
        Frames averaged per input (even, >= 2); the temporal noise of the repeats is measured.
    density : float
        Fraction of ON mirrors of the inputs.
    exposure_s : float, optional
        Exposure [s] (e.g. from :func:`~photonics.calibration.choose_exposure`).
    maps : FixedPatternMaps, optional
        Dark and PRNU maps; with them the PRNU is divided out (otherwise only the mean dark
        frame is removed).
    seed : int
        Seed of the inputs (stream "calibration", "speckle").
    """
    n_inputs = check_int(n_inputs, "n_inputs", low=1, high=1 << 16, error=ValidationError)
    n_average = check_int(n_average, "n_average", low=2, high=1 << 16, error=ValidationError)
    density = check_real(density, "density", low=0.0, high=1.0, low_inclusive=False, error=ValidationError)
    exposure_s = opu.camera.check_exposure(exposure_s)
    cam = opu.config.camera
    max_dn = float(cam.max_dn) if cam.quantize else math.inf
    shape = tuple(int(v) for v in opu.config.medium.image_shape)
    if maps is not None and maps.dark_map_dn.shape[0] != opu.n_out:
        raise ValidationError(f"maps are for {maps.dark_map_dn.shape[0]} pixels, the device has {opu.n_out}")
    rng = generator(seed, "calibration", "speckle")
    x = (rng.random((n_inputs, opu.n_in)) < density).astype(np.uint8)
    dark = opu.dark_frames(n_dark_frames, exposure_s).astype(np.float64).mean(axis=0)
    frames = opu.acquire(np.repeat(x, n_average, axis=0), exposure_s=exposure_s).astype(np.float64)
    frames = frames.reshape(n_inputs, n_average, opu.n_out)
    sat = float(np.mean(frames >= max_dn))
    gain = (1.0 + maps.prnu_map) if maps is not None else 1.0
    img = (frames - dark) / gain
    mean_img = img.mean(axis=1)
    n_pairs = n_average // 2
    d = img[:, 0 : 2 * n_pairs : 2] - img[:, 1 : 2 * n_pairs : 2]
    noise_var = float(np.mean(0.5 * d * d))  # temporal variance of one frame
    stats = speckle_statistics(mean_img.reshape(n_inputs, *shape), noise_var / n_average)
    c = stats["contrast"]
    grain = stats["grain"]
    sv = stats["verdict"]
    fully = sv.fully_developed
    ac = stats["autocorrelation"]
    h = stats["histogram"]
    m = float(mean_img.mean())
    result = SpeckleCharacterization(
        exposure_s=float(exposure_s),
        density=density,
        n_inputs=n_inputs,
        n_average=n_average,
        image_shape=np.asarray(shape, dtype=np.int64),
        mean_intensity_dn=Measured(m, float(mean_img.std() / math.sqrt(mean_img.size / max(grain.correlation_area_px, 1.0)))
                                   if math.isfinite(grain.correlation_area_px) else float(mean_img.std() / math.sqrt(mean_img.size)), "DN"),
        noise_var_dn2=noise_var,
        contrast=c,
        contrast_uncorrected=stats["contrast_uncorrected"],
        grain_size_px=Measured(grain.grain_size_px, stats["grain_se"], "px"),
        grain_x_px=grain.grain_x_px,
        grain_y_px=grain.grain_y_px,
        correlation_area_px=grain.correlation_area_px,
        ks_statistic=sv.ks_statistic,
        ks_expected=stats["ks_expected"],
        fully_developed=fully,
        ks_critical=sv.ks_critical,
        verdict=sv.statement,
        saturated_fraction=sat,
        acf=ac.acf,
        max_lag_y=int(ac.max_lag_y),
        max_lag_x=int(ac.max_lag_x),
        histogram_edges=h.edges,
        histogram_density=h.density,
        histogram_expected=h.expected,
        example_image_dn=mean_img[0].reshape(shape),
    )
    log.info("speckle: contrast %s, grain %s; %s", c, result.grain_size_px, sv.statement)
    return result


def speckle_truth(opu, result: SpeckleCharacterization, *, seed: int = 0) -> dict:
    """Ground truth for a characterisation: the same statistics on noise-free optical power.

    Uses :meth:`OPU.optical_power` (what the camera is exposed to, no noise) for the same
    inputs, and ``medium.grain_size_px`` as the configured grain (models ``gaussian`` and
    ``speckle``; NaN for others).
    """
    rng = generator(seed, "calibration", "speckle")
    x = (rng.random((result.n_inputs, opu.n_in)) < result.density).astype(np.uint8)
    p = opu.optical_power(x).astype(np.float64)
    shape = tuple(int(v) for v in result.image_shape)
    stats = speckle_statistics(p.reshape(result.n_inputs, *shape), 0.0)
    mc = opu.config.medium
    configured = float(mc.grain_size_px) if mc.model in ("gaussian", "speckle") else float("nan")
    return {
        "contrast": stats["contrast"].value,
        "grain_size_px": stats["grain"].grain_size_px,
        "configured_grain_size_px": configured,
    }
