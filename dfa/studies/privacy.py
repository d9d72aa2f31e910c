"""Differential privacy of the optical error projection: what the device noise hides of each error.

In optical DFA every sample's output error e_i goes through the simulated OPU once per step
(:class:`~dfa.mechanism.feedback.OpticalFeedback`). The device returns the linear measurement

    y_i = B_opt q_i + nu_i        [sqrt(DN)],   q_i = Q(e_i / max_j |e_ij|)

with q_i the quantized error the DMD displays (ternary, or bit planes) and nu_i the camera
noise. This module treats that release as a **Gaussian mechanism** and computes the
(epsilon, delta) guarantee it gives each training sample, per step and over training.

Mechanism and sensitivity (replace-one neighbouring data sets)
----------------------------------------------------------------
* **Clipping.** The quantizer normalises every error by its largest entry before it reaches
  the optics, so the displayed pattern is clipped to the l-infinity ball: |q_ij| <= L
  (L = 1 for ternary errors, 2^n_bits - 1 for bit planes), whatever the data. The per-sample
  magnitude a_i that restores the scale (``dfa.mechanism.quantize``) stays on the host and is not part
  of the release.
* **Noise floor.** Per camera pixel k, the temporal noise of one displayed DMD frame in the
  exact linear scheme (two camera frames, reference on and off) is lower-bounded by the floor
  of :mod:`photonics.projection_noise`: read noise (Gaussian, data-independent), dark counts
  (Poisson, data-independent mean) and the shot noise of the *dimmest* intensity any
  admissible (non-blank) DMD frame produces at that pixel (exact by enumeration for n_in <= 16,
  a triangle-inequality bound above); DSNU/PRNU are static maps and ADC rounding and
  saturation deterministic post-processing, so they are not counted (they cannot weaken the
  guarantee).

  Poisson noise is then *modelled* as Gaussian with that variance floor: the usual
  approximation of photon-counting noise at high counts (and the model of Ohana et al., 2021,
  "Photonic Differential Privacy with Direct Feedback Alignment"). It is an approximation, not
  a theorem: Poisson tails differ from Gaussian ones, badly at a few counts.
* **Standardised sensitivity.** With W = D^-1 B_opt (rows divided by the per-pixel noise std;
  the reference normalisation cancels), one step is the Gaussian mechanism with unit noise and
  sensitivity

      mu = 2 L max_{s in {-1, 1}^n} || W s ||_2  +  2 || (Z - Z_hat) / sigma ||_2

  The first term is the exact maximum of ||W (q - q')|| over the clipping box (a convex
  function is maximal at a vertex; q = L s and q' = -L s are both admissible), by enumeration
  for n <= 16 and bounded by 2 L sqrt(n) ||W||_2 above. The second term accounts for the
  reference calibration's measurement error (Z_hat averages ``reference.calibration_frames``
  frames): a pattern with a single sign is measured with one DMD frame instead of two, so
  the calibration offset enters its output once, and whether it does depends on the data.
  It is evaluated for the run's first calibration (reproduced exactly from the device seed).

Privacy accounting
------------------
* One step, one sample: the analytic Gaussian mechanism (Balle & Wang, 2018), exact:
  delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2) (:func:`gaussian_delta`).
* Over training: a classification sample's error is projected once per epoch (the batches
  partition the training set), so it takes part in k = ceil(steps / steps_per_epoch) steps;
  a graph node takes part in every step. The composition of k Gaussian mechanisms with
  sensitivity mu is exactly the Gaussian mechanism with mu sqrt(k) (mu-GDP composition, Dong,
  Roth & Su, 2019): **epsilon_total is exact for the model above** (no subsampling
  amplification is claimed: the batches are shuffled, not Poisson-sampled). The Renyi-DP
  accountant (Mironov, 2017: RDP(alpha) = k alpha mu^2 / 2, epsilon = min_alpha RDP +
  log(1/delta)/(alpha - 1)) is reported too, as a cross-check; it is an upper bound.

What the guarantee does *not* cover (stated in every report)
-------------------------------------------------------------
* Only the feedback channel: the forward pass and the output layer's update use the data
  without noise, so the trained model as a whole is **not** differentially private; the
  figures say how much the optical noise alone hides of each sample's error.
* ``dedupe = true`` displays a repeated frame once and reuses its measurement, noise
  included, for every sample that has it: equal outputs reveal equal patterns, so no
  guarantee is given (report not applicable). Errors that are exactly zero are not projected.
* Drifting media: the sensitivity is evaluated at the start and at the end of training (the
  largest is used); recalibrations after the first are not replayed.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from photonics.errors import ValidationError
from photonics.projection_noise import ProjectionNoise, projection_noise
from photonics.validation import check_int, check_real

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DELTA",
    "RDP_ORDERS",
    "gaussian_delta",
    "gaussian_epsilon",
    "compose_mu",
    "rdp_gaussian",
    "rdp_epsilon",
    "ProjectionNoise",
    "projection_noise",
    "max_sign_norm",
    "PrivacyReport",
    "feedback_privacy",
    "participations",
    "run_privacy",
    "ASSUMPTIONS",
    "json_safe",
]

#: default delta of the reported (epsilon, delta) guarantees
DEFAULT_DELTA = 1e-5
#: Renyi orders of the RDP accountant
RDP_ORDERS = np.concatenate([1.0 + np.geomspace(1e-3, 1.0, 200)[:-1], np.geomspace(2.0, 1e6, 400)])
#: largest n (error dimension) for the exact enumerations (2^n patterns)
EXACT_ENUMERATION_MAX_N = 16

ASSUMPTIONS = (
    "released quantity: the optical measurement y = B_opt q + noise of each sample's displayed error pattern; "
    "the per-sample magnitude kept on the host is not covered",
    "Poisson shot and dark noise modelled as Gaussian; its variance floored at the dimmest admissible pattern "
    "(read noise: exactly Gaussian)",
    "only the feedback channel: the forward pass and the output layer's update see the data without noise, "
    "so the trained model as a whole is not differentially private",
    "no subsampling amplification: each sample's error is projected once per epoch (k steps in total)",
)


# -------------------------------------------------------------------------------------------
# accountant (pure functions of mu = sensitivity / noise std)
# -------------------------------------------------------------------------------------------


def _check_mu(mu) -> float:
    return check_real(mu, "mu", low=0.0, allow_inf=True, error=ValidationError)


def _check_delta(delta) -> float:
    return check_real(delta, "delta", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False, error=ValidationError)


def gaussian_delta(epsilon: float, mu: float) -> float:
    """Smallest delta of the Gaussian mechanism with sensitivity/std ``mu`` at ``epsilon``.

    delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2) (Balle & Wang 2018, Thm 8;
    the privacy profile of mu-GDP). Exact; computed in log space for large eps.
    """
    from scipy.special import log_ndtr, ndtr

    eps = check_real(epsilon, "epsilon", low=0.0, allow_inf=True, error=ValidationError)
    mu = _check_mu(mu)
    if mu == 0.0 or math.isinf(eps):
        return 0.0
    if math.isinf(mu):
        return 1.0
    a = ndtr(-eps / mu + mu / 2.0)
    b = math.exp(eps + log_ndtr(-eps / mu - mu / 2.0))
    return float(max(a - b, 0.0))


def gaussian_epsilon(mu: float, delta: float) -> float:
    """Smallest epsilon >= 0 with ``gaussian_delta(epsilon, mu) <= delta`` (inf for mu = inf)."""
    from scipy.optimize import brentq

    mu = _check_mu(mu)
    delta = _check_delta(delta)
    if math.isinf(mu):
        return math.inf
    if gaussian_delta(0.0, mu) <= delta:
        return 0.0
    hi = max(1.0, mu * mu)
    while gaussian_delta(hi, mu) > delta:
        hi *= 2.0
    return float(brentq(lambda e: gaussian_delta(e, mu) - delta, 0.0, hi, xtol=1e-12, rtol=1e-12, maxiter=500))


def compose_mu(mu: float, k: int) -> float:
    """mu of k adaptively composed Gaussian mechanisms of parameter ``mu``: sqrt(k) mu (exact)."""
    mu = _check_mu(mu)
    k = check_int(k, "k", low=0, error=ValidationError)
    return math.sqrt(k) * mu


def rdp_gaussian(mu: float, orders=RDP_ORDERS) -> np.ndarray:
    """Renyi DP of the Gaussian mechanism at ``orders``: alpha mu^2 / 2 (Mironov 2017)."""
    mu = _check_mu(mu)
    a = np.asarray(orders, dtype=np.float64)
    if a.ndim != 1 or not np.all(a > 1):
        raise ValidationError("orders must be a 1-D array of Renyi orders > 1")
    return a * mu * mu / 2.0


def rdp_epsilon(mu: float, k: int, delta: float, orders=RDP_ORDERS) -> tuple[float, float]:
    """(epsilon, best order) of k composed Gaussian mechanisms through the RDP accountant.

    epsilon = min over alpha of k alpha mu^2 / 2 + log(1/delta) / (alpha - 1) (Mironov 2017,
    Prop. 3), an upper bound of the exact :func:`gaussian_epsilon` of sqrt(k) mu.
    """
    delta = _check_delta(delta)
    k = check_int(k, "k", low=0, error=ValidationError)
    a = np.asarray(orders, dtype=np.float64)
    if math.isinf(_check_mu(mu)):
        return math.inf, float("nan")
    eps = k * rdp_gaussian(mu, a) + math.log(1.0 / delta) / (a - 1.0)
    i = int(np.argmin(eps))
    return float(max(eps[i], 0.0)), float(a[i])


# -------------------------------------------------------------------------------------------
# the device: noise floor and signal at the error projection
# -------------------------------------------------------------------------------------------


def max_sign_norm(w: np.ndarray) -> tuple[float, str]:
    """max over s in {-1, 1}^n of ||W s||_2, exactly (n <= 16) or as the bound sqrt(n) ||W||_2.

    Returns (value, method).
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValidationError(f"W must be 2-D (got shape {w.shape})")
    n = w.shape[1]
    if not np.all(np.isfinite(w)):
        return math.inf, "infinite (no noise on some pixel)"
    if n <= EXACT_ENUMERATION_MAX_N:
        best = 0.0
        # s and -s give the same norm: fix the first sign
        rest = np.array(list(itertools.product((-1.0, 1.0), repeat=n - 1)), dtype=np.float64).reshape(-1, n - 1)
        signs = np.concatenate([np.ones((rest.shape[0], 1)), rest], axis=1)
        for c in range(0, signs.shape[0], 2048):
            ws = w @ signs[c : c + 2048].T
            best = max(best, float(np.sqrt((ws * ws).sum(axis=0)).max()))
        return best, f"exact (all 2^{n - 1} sign patterns)"
    return math.sqrt(n) * float(np.linalg.norm(w, 2)), "bound sqrt(n) ||W||_2"


# -------------------------------------------------------------------------------------------
# the report
# -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivacyReport:
    """(epsilon, delta) of the optical error projection for one training run.

    ``applicable`` is False (with ``reason``) when no guarantee is given; then the numbers
    that could not be computed are None. Infinite epsilons mean no noise at all.
    """

    applicable: bool
    reason: str
    delta: float
    mechanism: str = "gaussian"
    clip_levels: int | None = None
    n_error: int | None = None
    sensitivity_signal: float | None = None
    sensitivity_method: str = ""
    calibration_offset: float | None = None
    mu_step: float | None = None
    epsilon_step: float | None = None
    participations: int | None = None
    participation_rule: str = ""
    mu_total: float | None = None
    epsilon_total: float | None = None
    epsilon_total_rdp: float | None = None
    rdp_order: float | None = None
    composition: str = "exact Gaussian composition (mu-GDP: mu_total = sqrt(k) mu_step); RDP accountant as an upper-bound cross-check"
    noise: dict = field(default_factory=dict)
    assumptions: tuple = ASSUMPTIONS

    def to_dict(self) -> dict:
        """JSON-able dict (infinite values as the string ``"inf"``)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "PrivacyReport":
        d = {k: _from_json_num(v) for k, v in data.items()}
        d["assumptions"] = tuple(d.get("assumptions", ()))
        return cls(**d)

    def summary(self) -> str:
        """One line: epsilon per step and over training at delta."""
        if not self.applicable:
            return f"not applicable: {self.reason}"
        tot = "n/a" if self.epsilon_total is None else f"{self.epsilon_total:.4g}"
        return (
            f"(eps, delta={self.delta:g}): {self.epsilon_step:.4g} per step (mu {self.mu_step:.4g}), "
            f"{tot} over training ({self.participations} participations per sample; RDP bound "
            f"{'n/a' if self.epsilon_total_rdp is None else f'{self.epsilon_total_rdp:.4g}'})"
        )


def json_safe(obj):
    """``obj`` with numpy scalars as Python numbers, infinities as ``"inf"``/``"-inf"`` and NaN as None."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return None if math.isnan(v) else v
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _from_json_num(v):
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return v


def participations(task_kind: str, steps: int, steps_per_epoch: int) -> tuple[int | None, str]:
    """(k, rule): in how many steps one training sample's error is projected."""
    if task_kind == "classification":
        k = math.ceil(steps / steps_per_epoch) if steps else 0
        return k, "once per epoch (shuffled batches partition the training set): k = ceil(steps / steps_per_epoch)"
    if task_kind == "node-classification":
        return steps, "every step (full-graph batches): k = steps"
    return None, f"not bounded for task {task_kind!r} (samples are drawn at random with replacement)"


def feedback_privacy(
    opu,
    quantizer,
    *,
    participations: int | None,
    participation_rule: str = "",
    delta: float = DEFAULT_DELTA,
    dedupe: bool = False,
    eval_times_s=None,
    blank_frames: str = "skip",
) -> PrivacyReport:
    """The privacy report of the optical error projection on device ``opu``.

    Parameters
    ----------
    opu : photonics.OPU
        A *fresh* device with the run's config and seed (clock at 0): its first reference
        calibration is reproduced to measure the calibration offset.
    quantizer : dfa.mechanism.quantize.ErrorQuantizer
        The error quantizer of the run (sets the clipping L).
    participations : int or None
        Steps in which one sample's error is projected (None: per-step figures only).
    delta : float
        delta of the reported guarantees, in (0, 1).
    dedupe : bool
        The run displayed repeated frames once (then no guarantee is given).
    eval_times_s : sequence of float, optional
        Device times at which the medium is evaluated (drift); default: after the first
        calibration only.
    blank_frames : str
        ``"skip"`` (a one-signed error skips its blank DMD frame, so the reference calibration's
        offset Z - Z_hat enters its output and whether it does depends on the data: the
        sensitivity gains the calibration term) or ``"measure"`` (every frame is displayed, the
        offset cancels in every output: no calibration term); see ``FeedbackConfig.blank_frames``.
    """
    from dfa.mechanism.quantize import ErrorQuantizer

    delta = _check_delta(delta)
    if blank_frames not in ("skip", "measure"):
        raise ValidationError(f"blank_frames must be 'skip' or 'measure' (got {blank_frames!r})")
    if not isinstance(quantizer, ErrorQuantizer):
        raise ValidationError(f"quantizer must be a dfa.mechanism.quantize.ErrorQuantizer (got {type(quantizer).__name__})")
    base = dict(delta=delta, clip_levels=quantizer.levels, n_error=opu.n_in, participations=participations, participation_rule=participation_rule)
    if dedupe:
        return PrivacyReport(
            applicable=False,
            reason="the run used dedupe: a repeated DMD frame is measured once and its noise shared by every sample "
            "that has it, so equal outputs reveal equal patterns (train with feedback.dedupe = false)",
            **base,
        )
    cfg = opu.config
    if cfg.modulator != "dmd" or cfg.reference.scheme != "exact":
        return PrivacyReport(
            applicable=False,
            reason=f"only the binary DMD with the exact linear scheme is analysed (got {cfg.modulator}, {cfg.reference.scheme})",
            **base,
        )
    if opu.frames_used != 0:
        raise ValidationError("feedback_privacy needs a fresh OPU (clock at 0) to reproduce the run's first reference calibration")
    cal = opu.calibrate_reference()
    times = [opu.device_time_s] if eval_times_s is None else [max(float(t), opu.device_time_s) for t in eval_times_s]
    worst = None
    for t in times:
        pn = projection_noise(opu, time_s=t)
        sig, how = max_sign_norm(pn.snr_matrix)
        if worst is None or sig > worst[1]:
            worst = (pn, sig, how)
    pn, sig, how = worst
    # calibration offset: (Z - Z_hat) in electrons over the per-pixel floor
    blank = np.zeros((1, opu.n_in), dtype=np.uint8)
    p_on = opu.optical_power(blank, reference=True, time_s=cal.device_time_s)[0].astype(np.float64)
    p_off = opu.optical_power(blank, reference=False, time_s=cal.device_time_s)[0].astype(np.float64)
    z_true_dn = opu.camera.gain_dn_per_w() * (p_on - p_off)
    with np.errstate(divide="ignore", invalid="ignore"):
        off = (z_true_dn - cal.z_dn) * cfg.camera.gain_e_per_dn / pn.sigma_floor_e
    offset = float(np.sqrt(np.sum(off**2))) if np.all(np.isfinite(off)) else math.inf
    if blank_frames == "measure":  # both frames of every pattern are measured: the offset cancels
        offset = 0.0
    mu = 2.0 * quantizer.levels * sig + 2.0 * offset
    eps_step = gaussian_epsilon(mu, delta)
    if participations is None:
        mu_tot = eps_tot = eps_rdp = order = None
    else:
        mu_tot = compose_mu(mu, participations)
        eps_tot = gaussian_epsilon(mu_tot, delta)
        eps_rdp, order = rdp_epsilon(mu, participations, delta)
    noise = {
        "read_noise_e": pn.read_noise_e,
        "dark_e_median": float(np.median(pn.dark_e)),
        "shot_floor_e_median": float(np.median(pn.shot_floor_e)),
        "sigma_floor_e_median": float(np.median(pn.sigma_floor_e)),
        "sigma_typical_e_median": float(np.median(pn.sigma_typical_e)),
        "floor_over_typical_median": float(np.median(pn.sigma_floor_e / pn.sigma_typical_e)) if np.all(pn.sigma_typical_e > 0) else None,
        "min_intensity_method": pn.min_intensity_method,
        "evaluated_at_s": [float(t) for t in times],
        "calibration_frames": int(cal.n_frames),
    }
    return PrivacyReport(
        applicable=True,
        reason="",
        sensitivity_signal=2.0 * quantizer.levels * sig,
        sensitivity_method=how,
        calibration_offset=2.0 * offset,
        mu_step=mu,
        epsilon_step=eps_step,
        mu_total=mu_tot,
        epsilon_total=eps_tot,
        epsilon_total_rdp=eps_rdp,
        rdp_order=order,
        noise=noise,
        **base,
    )


def run_privacy(config, result, data=None, *, delta: float = DEFAULT_DELTA) -> PrivacyReport | None:
    """The privacy report of a finished optical run; None for methods without optical feedback.

    Parameters
    ----------
    config : dfa.trainer.config.TrainConfig
    result : dfa.trainer.result.MethodResult
        The run (its ``describe["feedback"]`` names the device seed and the sizes).
    data : dfa.zoo.data object, optional
        The data set (loaded from ``config`` if not given): sets the participation count.
    delta : float
    """
    from photonics import OPU

    fb = (result.describe or {}).get("feedback") or {}
    if fb.get("kind") != "optical":
        return None
    if data is None:
        from dfa.zoo.data import load_dataset

        data = load_dataset(config.dataset, **config.dataset_options)
    n_in, n_out = int(fb["n_in"]), int(fb["n_out"])
    opu = OPU(config.feedback.device_config(n_in, n_out), seed=int(fb["device_seed"]))
    task_kind = getattr(data, "task", "")
    if task_kind == "classification":
        spe = math.ceil(len(data.y_train) / config.batch_size)
    else:
        spe = 1
    k, rule = participations(task_kind, int(result.steps), spe)
    times = None
    if opu.config.medium.drifts:
        times = [0.0, float(result.device_time_s)]
    return feedback_privacy(
        opu,
        config.feedback.quantizer(),
        participations=k,
        participation_rule=rule,
        delta=delta,
        dedupe=bool(fb.get("dedupe", config.feedback.dedupe)),
        eval_times_s=times,
        blank_frames=config.feedback.blank_frames,
    )
