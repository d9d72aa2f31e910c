"""Reference calibration for linear projections: |u|^2, error budget of each scheme, strength.

The device recovers a linear projection with a reference field u (a block of DMD modes, see
:class:`~photonics.config.ReferenceConfig`). With Z = <I(r)> - <I(0)> the reference's own
intensity term, R = <I(r)> and D the dark level (all measured, per pixel, in DN),

    exact:            y = (I(x + r) - I(x) - Z) / (2 sqrt(Z))        = B_ex x + noise + dZ / (2 sqrt Z)
    strong-reference: y = (I(x + r) - R) / (2 sqrt(R - D))           = B_sr x + q(x) + noise + dR / (2 sqrt(R - D))

with q(x) = g |alpha T x|^2 / (2 sqrt(R - D)) the quadratic error of the one-frame scheme. The
routine estimates, from measurements only, the relative error rms(y - B x) / rms(B x) of
both schemes from the same raw frames I(x + r), I(x) of random inputs, each input measured
twice:

* noise: var(y_1 - y_2) / 2 (repeated inputs);
* calibration: the standard error of Z (or R) from the per-pixel temporal variance of I(r),
  I(0) over the calibration frames, divided by the normaliser;
* quadratic term Q(x) = g |alpha T x|^2 (strong-reference) and the strong-reference signal
  B_sr x, per pixel and input, with no assumption on the field statistics (the medium may be
  a fiber, a filtered random matrix or anything else). The DMD model gives every mirror the
  field a (l + (1 - l) x_j) (leak l = 1/sqrt(contrast)), so the constant field of the
  leaking mirrors is c_off = kappa (A(1) + u), kappa = l / (1 - l), A(y) = alpha T y the
  signal field of a frame y, u the reference field. With, for a frame y and its complement
  y' = 1 - y, E(y) = I(y + r) - I(y) - Z = 2 g Re(conj(u) A(y)) (measured, the exact
  scheme's numerator) and P(y) = I(y) - D - P(0) = Q(y) + 2 g Re(conj(c_off) A(y)):

      M(y) = P(y) - kappa E(y) = (1 + kappa) Q(y) + kappa Q(1) - kappa Q(y'),
      M(1) = (1 + 2 kappa) Q(1),
      Q(x) = [(1 + kappa) M(x) + kappa M(x') - kappa M(1)] / (1 + 2 kappa),
      2 g Re(conj(c_on) A(x)) = (1 + kappa) E(x) + kappa [Q(1) + Q(x) - Q(x')],

  exact (the last line is B_sr x times the normaliser). The frames I(x), I(x + r),
  I(x'), I(x' + r) (each twice) and I(1), I(1 + r), I(0), I(r), D are taken on a ladder of
  exposures t, t/2, t/4... until each pixel has one where none of its frames clips; each
  pixel uses its longest such exposure, scaled by t / t_b (intensities are linear in the
  exposure); l^2 = P(0) / (I(1 + r) - D) on every pixel (P(0) at t, I(1 + r) scaled). Mean
  squares come from products of the two independent repeats (calibration frames split in
  halves, one per repeat), so the camera noise drops out without a noise model. (An earlier estimate through an additivity test assumed
  circular Gaussian fields, E|A|^4 = 2 (E|A|^2)^2, and came out 22 % low on a fiber.) On
  clipped outputs the strong-reference error is q + c, c the clipping error below: the cross
  term 2 q c (negative: clipping cuts the bright outputs whose q is large) enters the total;
* clipping: outputs whose frames hit the ADC top are measured again at a shorter exposure
  t_b where nothing clips (exposure bracketing, with reference levels measured at t_b); the
  linear outputs scale as sqrt(t), so y(t_b) sqrt(t / t_b) predicts the unclipped value and
  the mean-square difference (minus both noises) times the clipped fraction is the term.

Reference strength: more reference modes make |u| larger, which shrinks the quadratic error
(~ |T x| / |u|) and the relative noise until the camera's full range is taken by |u|^2 and
pixels saturate. :func:`choose_reference_fraction` measures candidate partitions of the DMD
(the simulator equivalent: same seed, medium and camera, only ``reference.fraction``
changes; with ``dmd.shape`` unset the laser power spreads over the extra mirrors) and picks
the one with the smallest estimated error (clipping included), optionally under a bound on
the saturated fraction.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..config import LINEAR_SCHEMES
from ..errors import CalibrationError, ValidationError
from ..rng import generator
from ..validation import check_choice, check_int, check_real
from .result import CalibrationResult, Measured

log = logging.getLogger(__name__)

__all__ = [
    "ReferenceCharacterization",
    "characterize_reference",
    "reference_truth",
    "ReferenceChoice",
    "choose_reference_fraction",
]


@dataclass(frozen=True)
class ReferenceCharacterization(CalibrationResult):
    """Measured reference levels and the estimated linear-projection error of both schemes."""

    KIND = "reference"
    UNITS = {
        "exposure_s": "s",
        "z_dn": "DN",
        "z_se_dn": "DN",
        "r_dn": "DN",
        "dark_dn": "DN",
    }

    scheme: str
    reference_fraction: float
    n_reference_modes: int
    exposure_s: float
    n_calibration_frames: int
    n_inputs: int
    density: float
    z_dn: np.ndarray
    z_se_dn: np.ndarray
    r_dn: np.ndarray
    dark_dn: np.ndarray
    reference_level_median_dn: Measured
    signal_level_mean_dn: Measured
    reference_to_signal: Measured
    weak_pixel_fraction: float
    saturated_fraction: Measured
    noise_exact: Measured
    calibration_exact: Measured
    clipping_exact: Measured
    relative_error_exact: Measured
    noise_strong: Measured
    calibration_strong: Measured
    quadratic_strong: Measured
    clipping_strong: Measured
    relative_error_strong: Measured

    def relative_error(self, scheme: str) -> Measured:
        """Estimated rms(y - B x) / rms(B x) of a scheme."""
        check_choice(scheme, "scheme", LINEAR_SCHEMES, error=ValidationError)
        return self.relative_error_exact if scheme == "exact" else self.relative_error_strong


def _rms_measured(sq: np.ndarray, unit: str = "1") -> Measured:
    """sqrt(mean(sq)) with the standard error from the spread of the squares."""
    sq = np.asarray(sq, dtype=np.float64).ravel()
    m = float(sq.mean())
    v = math.sqrt(max(m, 0.0))
    se_m = float(sq.std(ddof=1) / math.sqrt(sq.size)) if sq.size > 1 else 0.0
    return Measured(v, se_m / (2 * v) if v > 0 else math.sqrt(se_m), unit)


def _ratio(num: Measured, den: Measured) -> Measured:
    if den.value <= 0:
        return Measured(math.inf, math.inf, "1")
    v = num.value / den.value
    return Measured(v, abs(v) * math.hypot(num.relative_uncertainty() if num.value else 0.0, den.relative_uncertainty()), "1")


def _quadrature(*parts: Measured) -> Measured:
    v = math.sqrt(sum(p.value**2 for p in parts))
    u = math.sqrt(sum((p.value * p.uncertainty) ** 2 for p in parts)) / v if v > 0 else 0.0
    return Measured(v, u, parts[0].unit)


def _clipping_errors(opu, x, on, off, y_ex, y_sr, max_dn, exposure_s, n_cal, floor_fraction):
    """rms error from ADC clipping, by exposure bracketing (see :func:`characterize_reference`).

    The outputs that clipped at ``exposure_s`` are measured again at a shorter exposure t_b
    where nothing clips (with their own reference levels); the linear outputs scale as
    sqrt(t), so y(t_b) sqrt(t / t_b) predicts the unclipped value. The mean square of the
    difference over the clipped outputs, minus both noises, times the clipped fraction, is
    the clipping term. ``y_ex``/``y_sr`` are the two repeats of each scheme's output.
    Returns the (exact, strong-reference) rms errors as Measured, the first exact output
    with its clipped entries replaced by the bracketed prediction (for the signal level), and
    the per-output strong-reference clipping error c (0 where unclipped; None if nothing clips).
    """
    from ..device import reference_normalisation

    zero = Measured(0.0, 0.0, "1")
    clip_ex = (on >= max_dn) | (off >= max_dn)
    clip_sr = on >= max_dn
    if not np.any(clip_ex):
        return zero, zero, y_ex[0], None
    t_b = exposure_s
    for _ in range(6):
        t_b /= 4.0
        on_b = [opu.acquire(x, reference=True, exposure_s=t_b).astype(np.float64) for _ in range(2)]
        if not np.any(np.stack(on_b) >= max_dn):
            break
    else:  # pragma: no cover - a 4096x shorter exposure still clipping
        raise CalibrationError("reference outputs still clip at a 4096x shorter exposure; the clipping error cannot be bracketed")
    off_b = [opu.acquire(x, reference=False, exposure_s=t_b).astype(np.float64) for _ in range(2)]
    zeros = np.zeros((n_cal, opu.n_in), dtype=np.uint8)
    i_r = opu.acquire(zeros, reference=True, exposure_s=t_b).astype(np.float64).mean(axis=0)
    i_0 = opu.acquire(zeros, reference=False, exposure_s=t_b).astype(np.float64).mean(axis=0)
    d = opu.dark_frames(n_cal, t_b).astype(np.float64).mean(axis=0)
    scale = math.sqrt(exposure_s / t_b)
    n_ex = reference_normalisation(i_r - i_0, floor_fraction).astype(np.float64)
    n_sr = reference_normalisation(i_r - d, floor_fraction).astype(np.float64)
    yb_ex = [scale * (a - b - (i_r - i_0)) / n_ex for a, b in zip(on_b, off_b)]
    yb_sr = [scale * (a - i_r) / n_sr for a in on_b]
    out = []
    for y, yb, mask in ((y_ex, yb_ex, clip_ex), (y_sr, yb_sr, clip_sr)):
        if not np.any(mask):
            out.append(zero)
            continue
        # noise of each clipped output: its repeat (y[1]) and the bracketing repeats
        noise2 = 0.5 * (y[0] - y[1]) ** 2 + 0.25 * (yb[0] - yb[1]) ** 2
        e2 = ((y[0] - 0.5 * (yb[0] + yb[1])) ** 2 - noise2)[mask]
        frac = float(np.mean(mask))
        ms = float(e2.mean())
        se = float(e2.std(ddof=1) / math.sqrt(e2.size)) if e2.size > 1 else abs(ms)
        v = math.sqrt(max(frac * ms, 0.0))
        out.append(Measured(v, frac * se / (2 * v) if v > 0 else math.sqrt(frac * se), "1"))
    filled = np.where(clip_ex, 0.5 * (yb_ex[0] + yb_ex[1]), y_ex[0])
    c_sr = np.where(clip_sr, y_sr[0] - 0.5 * (yb_sr[0] + yb_sr[1]), 0.0)
    return out[0], out[1], filled, c_sr


def _level_estimates(acq, d_halves, kappa, scale, n_sr):
    """Per-output Q(x) / N_sr and B_sr x (one per repeat) from one exposure level's frames.

    ``acq``: the frame sets of :func:`_quadratic_and_signal` at this level; each quantity
    averaged over calibration frames uses one half of them per repeat, so the two repeats share
    no noise.
    """
    qs, ss = [], []
    for k in range(2):
        h = slice(0, None, 2) if k == 0 else slice(1, None, 2)
        d = d_halves[k]
        i1r, i10 = acq[0][0][h].mean(axis=0), acq[1][0][h].mean(axis=0)
        i0r, i00 = acq[6][0][h].mean(axis=0), acq[7][0][h].mean(axis=0)
        p0 = i00 - d
        z = i0r - i00
        m1 = (i10 - d - p0) - kappa * (i1r - i10 - z)
        q1 = m1 / (1.0 + 2.0 * kappa)
        ex = acq[2][k] - acq[3][k] - z
        ec = acq[4][k] - acq[5][k] - z
        mx = (acq[3][k] - d - p0) - kappa * ex
        mc = (acq[5][k] - d - p0) - kappa * ec
        q = ((1.0 + kappa) * mx + kappa * mc - kappa * m1) / (1.0 + 2.0 * kappa)
        qc = ((1.0 + kappa) * mc + kappa * mx - kappa * m1) / (1.0 + 2.0 * kappa)
        sig = (1.0 + kappa) * ex + kappa * (q1 + q - qc)
        qs.append(q * scale / n_sr)
        ss.append(sig * scale / n_sr)
    return qs, ss


def _quadratic_and_signal(opu, x, cal, n_sr, n_cal, max_dn, exposure_s) -> tuple[Measured, Measured, dict]:
    """rms of the strong-reference quadratic error Q(x) / N_sr and of the signal B_sr x over
    pixels and inputs, free of any assumption on the field statistics (module docstring).

    The frames are taken on a ladder of exposures t, t/2, t/4, ... until every pixel has a
    level where none of its frames clips; each pixel uses its longest such exposure (the best
    signal-to-noise ratio), scaled to t. Returns (quadratic, signal, details); details:
    ``leak`` (l), ``kappa``, ``bracket_exposures_s`` (the ladder), ``pixel_level`` (ladder index
    used per pixel) and ``q_over_n`` (per output Q(x) / N_sr at t, mean of the two repeats).
    """
    n_cal2 = max(2, 2 * ((n_cal + 1) // 2))
    xc = (1 - x).astype(np.uint8)
    ones = np.ones((n_cal2, opu.n_in), dtype=np.uint8)
    zeros = np.zeros((n_cal2, opu.n_in), dtype=np.uint8)
    sets = [(ones, True, 1), (ones, False, 1), (x, True, 2), (x, False, 2), (xc, True, 2), (xc, False, 2),
            (zeros, True, 1), (zeros, False, 1)]
    n_out = opu.n_out
    level = np.full(n_out, -1, dtype=np.int64)
    exposures, acqs, darks = [], [], []
    bright = np.zeros(n_out)  # I(1 + r) - D scaled to t, from each pixel's own level
    t_b = exposure_s
    for _ in range(12):
        acq = [[opu.acquire(f, reference=ref, exposure_s=t_b).astype(np.float64) for _ in range(reps)] for f, ref, reps in sets]
        dark = opu.dark_frames(n_cal2, t_b).astype(np.float64)
        clipped = np.zeros(n_out, dtype=bool)
        for group in acq:
            for a in group:
                clipped |= np.any(a >= max_dn, axis=0)
        new = (level < 0) & ~clipped
        level[new] = len(exposures)
        bright[new] = (acq[0][0].mean(axis=0) - dark.mean(axis=0))[new] * (exposure_s / t_b)
        exposures.append(t_b)
        acqs.append(acq)
        darks.append((dark[0::2].mean(axis=0), dark[1::2].mean(axis=0)))
        if np.all(level >= 0):
            break
        t_b /= 2.0
    else:  # pragma: no cover - 4096x shorter exposure still clipping
        raise CalibrationError("frames still clip at a 4096x shorter exposure; the quadratic term cannot be measured")
    # leak l^2 = P(0) / (I(1 + r) - D), the same on every pixel: ratio of sums over the brighter
    # half of the pixels (P(0) at t from the calibration; dim pixels would add only noise)
    p0_t = cal.r_dn - cal.z_dn - cal.dark_dn
    top = bright >= np.median(bright)
    den = float(np.sum(bright[top]))
    l2 = max(float(np.sum(p0_t[top])), 0.0) / den if den > 0 else 0.0
    leak = math.sqrt(min(l2, 0.25))
    kappa = leak / (1.0 - leak)
    q_levels, s_levels = [], []
    for t_l, acq, d_halves in zip(exposures, acqs, darks):
        qs_l, ss_l = _level_estimates(acq, d_halves, kappa, exposure_s / t_l, n_sr)
        q_levels.append(qs_l)
        s_levels.append(ss_l)
    qs = [np.empty((x.shape[0], n_out)) for _ in range(2)]
    ss = [np.empty((x.shape[0], n_out)) for _ in range(2)]
    for j in range(len(exposures)):
        cols = level == j
        for r in range(2):
            qs[r][:, cols] = q_levels[j][r][:, cols]
            ss[r][:, cols] = s_levels[j][r][:, cols]
    quad = _rms_measured(qs[0] * qs[1])
    signal = _rms_measured(ss[0] * ss[1])
    details = {
        "leak": leak,
        "kappa": kappa,
        "bracket_exposures_s": exposures,
        "pixel_level": level,
        "q_over_n": 0.5 * (qs[0] + qs[1]),
    }
    return quad, signal, details


def characterize_reference(
    opu,
    *,
    n_inputs: int = 64,
    density: float = 0.5,
    n_calibration_frames: int | None = None,
    n_variance_frames: int = 16,
    exposure_s: float | None = None,
    seed: int = 0,
) -> ReferenceCharacterization:
    """Calibrate the device's reference and estimate both schemes' projection error.

    Parameters
    ----------
    opu : photonics.OPU
        The device; :meth:`~photonics.OPU.calibrate_reference` is called (so later
        :meth:`~photonics.OPU.linear` calls use this calibration).
    n_inputs : int
        Random binary inputs (each measured twice, in both reference states).
    density : float
        Fraction of ON mirrors of the inputs.
    n_calibration_frames : int, optional
        Frames averaged for Z, R, D (default ``reference.calibration_frames``).
    n_variance_frames : int
        Extra frames of I(r) and I(0) that give the per-pixel temporal variances behind the
        calibration uncertainty.
    exposure_s : float, optional
        Exposure [s].
    seed : int
        Seed of the inputs (stream "calibration", "reference").
    """
    n_inputs = check_int(n_inputs, "n_inputs", low=2, high=1 << 20, error=ValidationError)
    density = check_real(density, "density", low=0.0, high=1.0, low_inclusive=False, error=ValidationError)
    n_variance_frames = check_int(n_variance_frames, "n_variance_frames", low=2, high=1 << 16, error=ValidationError)
    exposure_s = opu.camera.check_exposure(exposure_s)
    cfg = opu.config
    n_cal = cfg.reference.calibration_frames if n_calibration_frames is None else check_int(
        n_calibration_frames, "n_calibration_frames", low=1, high=1 << 16, error=ValidationError
    )
    cam = cfg.camera
    max_dn = float(cam.max_dn) if cam.quantize else math.inf

    cal = opu.calibrate_reference(n_cal, exposure_s)
    zeros = np.zeros((n_variance_frames, opu.n_in), dtype=np.uint8)
    var_r = opu.acquire(zeros, reference=True, exposure_s=exposure_s).astype(np.float64).var(axis=0, ddof=1)
    var_0 = opu.acquire(zeros, reference=False, exposure_s=exposure_s).astype(np.float64).var(axis=0, ddof=1)
    z_se = np.sqrt((var_r + var_0) / n_cal)
    r_se = np.sqrt(var_r / n_cal)

    rng = generator(seed, "calibration", "reference")
    x = (rng.random((n_inputs, opu.n_in)) < density).astype(np.uint8)
    raw = [opu.linear(x, raw=True, scheme="exact", exposure_s=exposure_s)[0].astype(np.float64) for _ in range(2)]
    on = [r[0] for r in raw]
    off = [r[1] for r in raw]
    n_ex = cal.normalisation("exact").astype(np.float64)
    n_sr = cal.normalisation("strong-reference").astype(np.float64)
    y_ex = [(a - b - cal.z_dn) / n_ex for a, b in zip(on, off)]
    y_sr = [(a - cal.r_dn) / n_sr for a in on]

    noise_ex = _rms_measured(0.5 * (y_ex[0] - y_ex[1]) ** 2)
    noise_sr = _rms_measured(0.5 * (y_sr[0] - y_sr[1]) ** 2)
    calib_ex = _rms_measured((z_se / n_ex) ** 2)
    calib_sr = _rms_measured((r_se / n_sr) ** 2)
    quad, sig_sr, qd = _quadratic_and_signal(opu, x, cal, n_sr, n_cal, max_dn, exposure_s)
    clip_ex, clip_sr, y_fill, c_sr = _clipping_errors(
        opu, x, on[0], off[0], y_ex, y_sr, max_dn, exposure_s, n_cal, cal.min_level_fraction
    )
    # signal level rms(B x) of the exact scheme: its output (clipped entries from the
    # bracketing), minus its noise; the strong-reference signal comes from the leak model
    sig_ex = _rms_measured(y_fill**2 - noise_ex.value**2 - calib_ex.value**2)
    err_ex_abs = _quadrature(noise_ex, calib_ex, clip_ex)
    # on clipped outputs the error is q + c: the cross term 2 q c is part of the total
    cross = float(np.mean(2.0 * qd["q_over_n"] * c_sr)) if c_sr is not None else 0.0
    total_sr2 = noise_sr.value**2 + calib_sr.value**2 + quad.value**2 + clip_sr.value**2 + cross
    err_sr_abs = Measured(math.sqrt(max(total_sr2, 0.0)), _quadrature(noise_sr, calib_sr, quad, clip_sr).uncertainty, "1")

    def rel(m: Measured, s: Measured) -> Measured:
        return _ratio(m, s)

    z_med = float(np.median(cal.z_dn))
    sig_level = np.mean(0.5 * (off[0] + off[1]) - cal.dark_dn)
    sig_level_se = float(np.std(0.5 * (off[0] + off[1]) - cal.dark_dn) / math.sqrt(off[0].size))
    floor = cal.min_level_fraction * z_med
    sat = float(np.mean(np.stack(on) >= max_dn))
    sat_se = math.sqrt(max(sat * (1 - sat), 1.0 / (2 * on[0].size)) / (2 * on[0].size))
    z_med_se = float(1.2533 * np.std(cal.z_dn) / math.sqrt(cal.z_dn.size))
    result = ReferenceCharacterization(
        scheme=cfg.reference.scheme,
        reference_fraction=float(cfg.reference.fraction),
        n_reference_modes=int(cfg.n_reference),
        exposure_s=float(exposure_s),
        n_calibration_frames=int(n_cal),
        n_inputs=int(n_inputs),
        density=density,
        z_dn=np.asarray(cal.z_dn, dtype=np.float64),
        z_se_dn=z_se,
        r_dn=np.asarray(cal.r_dn, dtype=np.float64),
        dark_dn=np.asarray(cal.dark_dn, dtype=np.float64),
        reference_level_median_dn=Measured(z_med, z_med_se, "DN"),
        signal_level_mean_dn=Measured(float(sig_level), sig_level_se, "DN"),
        reference_to_signal=_ratio(Measured(z_med, z_med_se, "DN"), Measured(float(sig_level), sig_level_se, "DN")),
        weak_pixel_fraction=float(np.mean(cal.z_dn <= floor)),
        saturated_fraction=Measured(sat, sat_se, "1"),
        noise_exact=rel(noise_ex, sig_ex),
        calibration_exact=rel(calib_ex, sig_ex),
        clipping_exact=rel(clip_ex, sig_ex),
        relative_error_exact=rel(err_ex_abs, sig_ex),
        noise_strong=rel(noise_sr, sig_sr),
        calibration_strong=rel(calib_sr, sig_sr),
        quadratic_strong=rel(quad, sig_sr),
        clipping_strong=rel(clip_sr, sig_sr),
        relative_error_strong=rel(err_sr_abs, sig_sr),
    )
    log.info(
        "reference: |u|^2 median %.4g DN (%.3g x signal), relative error exact %s, strong-reference %s",
        z_med, result.reference_to_signal.value, result.relative_error_exact, result.relative_error_strong,
    )
    return result


def reference_truth(opu, result: ReferenceCharacterization, *, seed: int = 0, n_inputs: int | None = None) -> dict:
    """Ground-truth relative errors rms(linear(x) - B x) / rms(B x) of both schemes.

    Runs :meth:`OPU.linear` on fresh random inputs (same density) with the device's current
    reference calibration and compares with :meth:`OPU.effective_linear_matrix` (simulated
    devices, small sizes).
    """
    n = result.n_inputs if n_inputs is None else int(n_inputs)
    rng = generator(seed, "calibration", "reference", "truth")
    x = (rng.random((n, opu.n_in)) < result.density).astype(np.uint8)
    out = {}
    for scheme in LINEAR_SCHEMES:
        b = opu.effective_linear_matrix(scheme, exposure_s=result.exposure_s)
        ref = x @ b.T
        y = opu.linear(x, scheme=scheme, exposure_s=result.exposure_s).astype(np.float64)
        out[scheme] = float(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref**2)))
    return out


@dataclass(frozen=True)
class ReferenceChoice(CalibrationResult):
    """Scan of the reference strength (fraction of reference modes) and the chosen one.

    Each candidate is a device of its own (another reference block); ``frames_used`` and
    ``device_time_s`` are what all of them cost together, to be added to a calibration's total.
    """

    KIND = "reference_choice"
    UNITS = {"fractions": "reference modes / n_in", "device_time_s": "s", "frames_used": "frames"}

    scheme: str
    max_saturated_fraction: float
    fractions: np.ndarray
    reference_to_signal: np.ndarray
    saturated_fraction: np.ndarray
    relative_error_exact: np.ndarray
    relative_error_strong: np.ndarray
    chosen_fraction: float
    chosen_relative_error: Measured
    true_relative_error_exact: np.ndarray | None = None
    true_relative_error_strong: np.ndarray | None = None
    frames_used: int = 0
    device_time_s: float = 0.0


def choose_reference_fraction(
    config,
    seed: int = 0,
    *,
    fractions=(0.125, 0.25, 0.5, 1.0, 2.0),
    scheme: str | None = None,
    max_saturated_fraction: float = 1.0,
    n_inputs: int = 32,
    n_calibration_frames: int = 16,
    exposure_s: float | None = None,
    with_truth: bool = False,
) -> ReferenceChoice:
    """Pick the reference strength: the smallest estimated error under a saturation bound.

    Parameters
    ----------
    config : DeviceConfig
        The device; one OPU per candidate ``reference.fraction`` is built with ``seed``
        (same medium, camera and noise streams: a re-partitioned DMD).
    fractions : sequence of float
        Candidate reference fractions (reference modes / n_in).
    scheme : str, optional
        Scheme to optimise (default ``config.reference.scheme``).
    max_saturated_fraction : float
        Largest tolerated fraction of saturated pixels in the I(x + r) frames (default 1: no
        bound; the estimated error already includes the clipping error).
    n_inputs, n_calibration_frames : int
        Inputs and reference-calibration frames per candidate (see :func:`characterize_reference`).
    with_truth : bool
        Also record the ground-truth errors (simulated devices, small sizes).
    """
    from ..device import OPU

    scheme = check_choice(scheme or config.reference.scheme, "scheme", LINEAR_SCHEMES, error=ValidationError)
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size == 0:
        raise ValidationError(f"fractions must be a non-empty sequence of reference fractions (got {fractions!r})")
    max_saturated_fraction = check_real(max_saturated_fraction, "max_saturated_fraction", low=0.0, high=1.0, error=ValidationError)
    rows = []
    truth_ex, truth_sr = [], []
    frames, device_time = 0, 0.0
    for f in fr:
        opu = OPU(config.replace({"reference.fraction": float(f)}), seed=seed)
        c = characterize_reference(opu, n_inputs=n_inputs, n_calibration_frames=n_calibration_frames, exposure_s=exposure_s, seed=seed)
        frames += opu.frames_used
        device_time += opu.device_time_s
        rows.append(c)
        if with_truth:
            t = reference_truth(opu, c, seed=seed)
            truth_ex.append(t["exact"])
            truth_sr.append(t["strong-reference"])
    err = np.array([c.relative_error(scheme).value for c in rows])
    sat = np.array([c.saturated_fraction.value for c in rows])
    ok = sat <= max_saturated_fraction
    if not np.any(ok):
        raise CalibrationError(
            f"every candidate reference fraction saturates more than {max_saturated_fraction:g} of the pixels "
            f"(lowest {sat.min():.3g} at fraction {fr[int(np.argmin(sat))]:g}); shorten the exposure"
        )
    idx = int(np.argmin(np.where(ok, err, np.inf)))
    log.info("reference strength: fraction %g chosen (%s error %.3g)", fr[idx], scheme, err[idx])
    return ReferenceChoice(
        scheme=scheme,
        max_saturated_fraction=max_saturated_fraction,
        fractions=fr,
        reference_to_signal=np.array([c.reference_to_signal.value for c in rows]),
        saturated_fraction=sat,
        relative_error_exact=np.array([c.relative_error_exact.value for c in rows]),
        relative_error_strong=np.array([c.relative_error_strong.value for c in rows]),
        chosen_fraction=float(fr[idx]),
        chosen_relative_error=rows[idx].relative_error(scheme),
        true_relative_error_exact=np.array(truth_ex) if with_truth else None,
        true_relative_error_strong=np.array(truth_sr) if with_truth else None,
        frames_used=int(frames),
        device_time_s=float(device_time),
    )
