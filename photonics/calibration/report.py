"""Run every calibration on a device and write the report: HDF5, summary.json and plots.

:func:`calibrate_device` runs, in order, each step as a lab would (later steps use earlier
results): EMVA 1288 (photon transfer, dark current, saturation, linearity, SNR, DSNU/PRNU and
the dark/flat maps) -> exposure choice -> speckle -> TM retrieval -> reference (linear mode)
-> reference strength scan -> drift. A step that cannot run on the device (e.g. no shot
noise, a phase SLM instead of a DMD) is recorded as failed with its message and the others
go on. :func:`write_report` writes ``calibration.h5``, ``summary.json``, the PNG plots and the
EMVA 1288 datasheet ``datasheet.html``; :func:`write_emva_report` writes the same for an
:class:`~photonics.calibration.emva1288.EMVA1288Result` alone (recorded frames).

What the routines know about the device is what a lab knows: the DMD patterns sent, the
exposure, the bit depth, the camera's black-level register, the laser wavelength and the
power of the calibrated flat field. Everything else (gain, noise, QE, full well, T, the
speckle grain, the drift) is measured. Ground truth is read only by :func:`device_truth`,
to report the comparison in ``summary.json``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from photonics.calibration.speckle_characterization import SpeckleCharacterization, characterize_speckle, speckle_truth

from ..camera import reading_statistics
from ..errors import PhotonicsError, ValidationError
from ..instrument import is_interrupt
from .dark_current import DarkCurrentResult
from .drift import DriftResult, drift_truth, measure_drift, recalibration_interval
from .emva1288 import EMVA1288Result, analyze_emva1288, emva_quantities, measure_emva1288
from .exposure import ExposureChoice, choose_exposure
from .maps import FixedPatternMaps
from .photon_transfer import PhotonTransferResult
from .reference import (
    ReferenceCharacterization,
    ReferenceChoice,
    characterize_reference,
    choose_reference_fraction,
    reference_truth,
)
from .result import CalibrationResult, Measured, relative_error
from .tm_retrieval import ProbeSweep, TMRetrieval, probe_sweep, retrieve_tm, tm_quality

log = logging.getLogger(__name__)

__all__ = [
    "STEPS",
    "CalibrationReport",
    "calibrate_device",
    "device_truth",
    "emva_truth",
    "summary_dict",
    "emva_summary_dict",
    "write_report",
    "write_emva_report",
]

#: Steps of a full calibration, in the order they run.
STEPS = ("emva1288", "exposure", "speckle", "tm", "reference", "reference_choice", "drift", "probe_sweep")
#: Steps run by default (the probe-count sweep is opt-in: it repeats the TM retrieval).
DEFAULT_STEPS = STEPS[:-1]
#: Step names of earlier releases, now parts of the EMVA 1288 step.
STEP_ALIASES = {"photon_transfer": "emva1288", "fixed_pattern": "emva1288"}


def canonical_steps(steps) -> list[str]:
    """``steps`` with aliases resolved, checked against :data:`STEPS`, in the canonical order."""
    names = {STEP_ALIASES.get(s, s) for s in steps}
    unknown = sorted(names - set(STEPS))
    if unknown:
        raise ValidationError(
            f"unknown calibration step(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(STEPS + tuple(STEP_ALIASES))}"
        )
    return [s for s in STEPS if s in names]


@dataclass(frozen=True)
class CalibrationReport(CalibrationResult):
    """Every calibration result of one device, with what failed and what it cost."""

    KIND = "report"
    UNITS = {"device_time_s": "s", "wall_time_s": "s"}
    # step_wall_s: wall time of each step [s]; step_device_time_s: device time each step cost [s];
    # step_end_time_s: the device clock at the end of each step [s] (when it was measured: a
    # drifting medium moves on afterwards); frames_used and device_time_s include the devices the
    # reference-strength scan builds; interrupted: the run stopped early (the steps that finished
    # are in the report, the others are not)

    device: str
    seed: int
    steps: str
    frames_used: int
    device_time_s: float
    wall_time_s: float
    step_wall_s: dict = field(default_factory=dict)
    step_device_time_s: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    step_end_time_s: dict = field(default_factory=dict)
    interrupted: bool = False
    emva1288: EMVA1288Result | None = None
    exposure: ExposureChoice | None = None
    speckle: SpeckleCharacterization | None = None
    tm: TMRetrieval | None = None
    reference: ReferenceCharacterization | None = None
    reference_choice: ReferenceChoice | None = None
    drift: DriftResult | None = None
    probe_sweep: ProbeSweep | None = None

    @property
    def photon_transfer(self) -> PhotonTransferResult | None:
        """The photon-transfer part of the EMVA 1288 step."""
        return self.emva1288.photon_transfer if self.emva1288 is not None else None

    @property
    def fixed_pattern(self) -> FixedPatternMaps | None:
        """The spatial part (DSNU/PRNU, maps) of the EMVA 1288 step."""
        return self.emva1288.fixed_pattern if self.emva1288 is not None else None

    @property
    def dark_current(self) -> DarkCurrentResult | None:
        """The dark-current part of the EMVA 1288 step."""
        return self.emva1288.dark_current if self.emva1288 is not None else None


def calibrate_device(
    opu,
    *,
    steps=DEFAULT_STEPS,
    tm_rows: int | None = 64,
    tm_probes_per_input: float = 8.0,
    tm_bootstrap_rows: int = 12,
    reference_fractions=(0.125, 0.25, 0.5, 1.0, 2.0),
    probe_sweep_factors=(3.0, 4.0, 6.0, 8.0),
    drift_max_time_s: float = 1e4,
    seed: int = 0,
    emva_mode: str = "irradiance",
    emva_series=None,
    emva_series_cost: tuple[int, float] = (0, 0.0),
    progress: bool = False,
) -> CalibrationReport:
    """Characterise a device from measurements only (see the module docstring).

    Parameters
    ----------
    opu : photonics.OPU
        The device; its clock and frame counter advance.
    steps : sequence of str
        Steps to run (subset of :data:`STEPS`, run in the canonical order; ``photon_transfer``
        and ``fixed_pattern`` are aliases of ``emva1288``).
    tm_rows : int or None
        Camera pixels whose TM row is retrieved (a seeded random subset; None: all).
    tm_probes_per_input : float
        Probe frames per input mode for the TM retrieval.
    tm_bootstrap_rows : int
        Rows of the parametric bootstrap that estimates the TM quality.
    reference_fractions : sequence of float
        Candidate reference fractions for the reference-strength scan.
    probe_sweep_factors : sequence of float
        Probes per input mode for the (opt-in) ``probe_sweep`` step.
    drift_max_time_s : float
        Longest wait of the drift measurement [s of device time].
    seed : int
        Seed of every random pattern the routines send.
    emva_mode : str
        ``"irradiance"`` or ``"exposure"``: how the EMVA 1288 series varies the illumination.
    emva_series : EMVASeries, optional
        Frames already taken on this device (:func:`~photonics.calibration.emva1288.acquire_emva1288`,
        e.g. to write them to disk too): the EMVA 1288 step analyses them instead of acquiring.
    emva_series_cost : (int, float)
        Frames and device time [s] that ``emva_series`` cost when taken before this call: counted
        in the EMVA 1288 step and the totals.
    progress : bool
        Show a progress bar over the steps.
    """
    todo = canonical_steps(steps)
    cfg = opu.config
    res: dict[str, Any] = {}
    failures: dict[str, str] = {}
    t_start = time.perf_counter()
    frames0 = opu.frames_used
    t0 = opu.device_time_s

    def exposure_for_signal():
        return res["exposure"].exposure_s if "exposure" in res else None

    step_wall: dict[str, float] = {}
    step_time: dict[str, float] = {}
    step_end: dict[str, float] = {}
    extra_frames, extra_time = 0, 0.0  # of the devices the reference-strength scan builds
    interrupted = False
    t_step, clock_before = time.perf_counter(), opu.device_time_s
    bar = tqdm(todo, desc="calibrate", unit="step", disable=not progress)
    try:
        for step in bar:
            bar.set_postfix_str(step)
            t_step = time.perf_counter()
            clock_before = opu.device_time_s
            try:
                if step == "emva1288":
                    res[step] = analyze_emva1288(emva_series) if emva_series is not None else measure_emva1288(opu, mode=emva_mode)
                elif step == "exposure":
                    res[step] = choose_exposure(opu, seed=seed)
                elif step == "speckle":
                    maps = res["emva1288"].fixed_pattern if "emva1288" in res else None
                    res[step] = characterize_speckle(opu, exposure_s=exposure_for_signal(), maps=maps, seed=seed)
                elif step == "tm":
                    res[step] = retrieve_tm(
                        opu,
                        probes_per_input=tm_probes_per_input,
                        rows=tm_rows,
                        exposure_s=exposure_for_signal(),
                        n_bootstrap_rows=tm_bootstrap_rows,
                        seed=seed,
                    )
                elif step == "reference":
                    res[step] = characterize_reference(opu, seed=seed)
                elif step == "reference_choice":
                    res[step] = choose_reference_fraction(cfg, opu.seed, fractions=reference_fractions, with_truth=False)
                elif step == "drift":
                    sp = res.get("speckle")
                    area = sp.correlation_area_px if sp is not None and math.isfinite(sp.correlation_area_px) else 1.0
                    res[step] = measure_drift(
                        opu, exposure_s=exposure_for_signal(), max_time_s=drift_max_time_s, correlation_area_px=max(area, 1.0), seed=seed
                    )
                elif step == "probe_sweep":
                    res[step] = probe_sweep(
                        opu, probe_sweep_factors, rows=min(tm_rows or opu.n_out, 64), seed=seed, with_truth=False,
                        exposure_s=exposure_for_signal(), n_bootstrap_rows=0,
                    )
            except KeyboardInterrupt:
                interrupted = True
            except (PhotonicsError, ValueError) as exc:
                failures[step] = f"{type(exc).__name__}: {exc}"
                log.warning("calibration step %s failed: %s", step, exc)
            except Exception as exc:
                if not is_interrupt(exc):  # an interrupt inside a numba kernel arrives wrapped
                    raise
                interrupted = True
            if interrupted:
                failures[step] = "interrupted"
                log.warning("calibration interrupted during step %s; the %d finished step(s) are kept", step, len(res))
                break
            step_wall[step] = time.perf_counter() - t_step
            log.info("calibration step %s %s in %.1f s", step, "failed" if step in failures else "done", step_wall[step])
            step_time[step] = opu.device_time_s - clock_before
            step_end[step] = opu.device_time_s
            if step == "reference_choice":
                extra_frames, extra_time = extra_frames + res[step].frames_used, extra_time + res[step].device_time_s
                step_time[step] += res[step].device_time_s
            if step == "emva1288" and emva_series is not None:
                extra_frames, extra_time = extra_frames + int(emva_series_cost[0]), extra_time + float(emva_series_cost[1])
                step_time[step] += float(emva_series_cost[1])
    except KeyboardInterrupt:  # between two steps (bookkeeping, progress bar): the same as within one
        interrupted = True
        for s in todo:
            if s in res and s not in failures:  # finished: record what its bookkeeping had not yet
                step_wall.setdefault(s, time.perf_counter() - t_step)
                step_time.setdefault(s, opu.device_time_s - clock_before)
                step_end.setdefault(s, opu.device_time_s)
            elif s not in res and s not in failures:
                failures[s] = "interrupted"
                log.warning("calibration interrupted before step %s; the %d finished step(s) are kept", s, len(res))
                break
    bar.close()
    return CalibrationReport(
        device=cfg.name,
        seed=int(opu.seed),
        steps=",".join(todo),
        frames_used=int(opu.frames_used - frames0) + int(extra_frames),
        device_time_s=float(opu.device_time_s - t0) + float(extra_time),
        wall_time_s=float(time.perf_counter() - t_start),
        step_wall_s=step_wall,
        step_device_time_s=step_time,
        failures=failures,
        step_end_time_s=step_end,
        interrupted=interrupted,
        **res,
    )


# ----------------------------------------------------------------------------------------------
# ground truth (simulated devices only)
# ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _evaluated_at(opu, time_s: float | None):
    """Ground-truth evaluation with the device clock set to ``time_s`` (restored on exit).

    The clock is frames x frame period + idle time: the idle time is moved, and when ``time_s``
    lies before the frames already taken the frame counter is set back too (for truth
    comparisons only, which read noise-free quantities). On exit the frame counter is the
    original plus the frames taken meanwhile (fresh noise), with the clock where it was.
    """
    if time_s is None or opu.medium.is_static:
        yield opu
        return
    period = opu.config.frame_period_s
    state = opu.state_dict()
    moved = dict(state)
    frames = min(int(state["frames"]), max(int(math.floor(float(time_s) / period)), 0))
    moved["frames"] = frames
    moved["idle_s"] = max(float(time_s) - frames * period, 0.0)
    opu.load_state_dict(moved)
    try:
        yield opu
    finally:  # back to the original clock; the frame counter keeps counting (fresh noise)
        now = opu.state_dict()
        taken = int(now["frames"]) - frames
        now["frames"] = int(state["frames"]) + taken
        now["idle_s"] = max(state["idle_s"] - taken * period, 0.0)
        opu.load_state_dict(now)


def emva_truth(camera, result: EMVA1288Result) -> dict[str, float | None]:
    """Ground truth of the EMVA 1288 figures of ``result`` for a simulated ``camera`` (configured values).

    Everything comes from the camera's configuration (:meth:`~photonics.camera.Camera.truth`)
    at the exposures of the measurement, and from its noise model: the temporal dark noise at
    the exposure sigma_d was taken at, the dark signal and the DSNU at their exposures, and
    the EMVA saturation point as the level of the series whose *expected* temporal variance
    (:meth:`~photonics.camera.Camera.expected_moments`, pixel maps and clipping included) is
    the largest. The configured model has no row or column pattern: those parts are 0.
    """
    tr = camera.truth()
    c = camera.config
    p = result.photon_transfer
    k = tr.system_gain_dn_per_e
    dark = reading_statistics(c, 0.0, tr.dark_signal_e_at(p.dark_noise_exposure_s))
    out: dict[str, float | None] = {
        "system_gain_dn_per_e": k,
        "quantum_efficiency": tr.quantum_efficiency,
        "responsivity_dn_per_photon": tr.quantum_efficiency * k,
        "read_noise_e": tr.read_noise_e,
        "read_noise_dn": tr.read_noise_dn,
        "temporal_dark_noise_e": math.sqrt(dark.temporal_var_e2),
        "dark_signal_e": tr.dark_signal_e_at(p.exposure_s),
        "linearity_error_pct": 0.0,
        "dark_current_e_per_s": tr.dark_current_e_per_s,
        "dark_current_var_e_per_s": tr.dark_current_e_per_s,
        "dark_current_sd_e_per_s": tr.dark_current_sd_e_per_s,
        "offset_sd_dn": tr.offset_sd_dn,
        "dark_offset_dn": tr.black_level_dn,
    }
    mu_min = 0.5 + math.sqrt(0.25 + dark.total_var_e2)
    out["absolute_sensitivity_threshold_e"] = mu_min
    out["absolute_sensitivity_threshold_photons"] = mu_min / tr.quantum_efficiency
    if math.isfinite(tr.saturation_capacity_e):
        out["clip_saturation_capacity_e"] = tr.saturation_capacity_e - tr.dark_signal_e_at(float(p.level_exposure_s.max()))
    if p.saturation_index >= 0 and p.power_w is not None and c.shot_noise:
        var = np.array([float(np.mean(camera.expected_moments(pw, t)[1])) for pw, t in zip(p.power_w, p.level_exposure_s)])
        j = int(np.argmax(var))
        sat = float(p.power_w[j] * np.mean(camera.electrons_per_watt(p.level_exposure_s[j])))
        out["saturation_capacity_e"] = sat
        out["saturation_capacity_photons"] = sat / tr.quantum_efficiency
        out["snr_max"] = math.sqrt(sat)
        out["snr_max_db"] = 10 * math.log10(sat)
        out["dynamic_range_db"] = 20 * math.log10(sat / mu_min)
        out["dynamic_range_bits"] = math.log2(sat / mu_min)
    m = result.fixed_pattern
    if m is not None:
        dsnu = tr.dsnu_e_at(m.exposure_s)
        out.update({"dsnu_e": dsnu, "dsnu_col_e": 0.0, "dsnu_row_e": 0.0, "dsnu_pixel_e": dsnu, "dsnu_dn": dsnu * k,
                    "prnu": tr.prnu, "prnu_col": 0.0, "prnu_row": 0.0, "prnu_pixel": tr.prnu})
    return out


def device_truth(opu, report: CalibrationReport) -> dict[str, float | None]:
    """Ground-truth values of the summary quantities (simulated devices; None where unknown).

    The camera's figures are what is configured (:func:`emva_truth`); the medium and the
    noise-free optical power are read at the device time each step ended (a drifting medium
    has moved on since). Values that need dense matrices are skipped (None) for devices too
    large for them.
    """
    cam = opu.camera
    c = opu.config.camera
    tr = cam.truth()
    dark = reading_statistics(c, 0.0, tr.dark_signal_e)  # the camera's noise model of a dark reading
    out: dict[str, float | None] = {  # the configured camera at its configured exposure
        "system_gain_dn_per_e": tr.system_gain_dn_per_e,
        "quantum_efficiency": tr.quantum_efficiency,
        "read_noise_e": tr.read_noise_e,
        "read_noise_dn": tr.read_noise_dn,
        "temporal_dark_noise_e": math.sqrt(dark.temporal_var_e2),
        "dark_signal_e": tr.dark_signal_e,
        "dark_current_e_per_s": tr.dark_current_e_per_s,
        "dark_current_sd_e_per_s": tr.dark_current_sd_e_per_s,
        "offset_sd_dn": tr.offset_sd_dn,
        "dsnu_e": tr.dsnu_e,
        "prnu": tr.prnu,
        "linearity_error_pct": 0.0,
    }
    if report.emva1288 is not None:  # the same at the exposures the EMVA 1288 step used
        out.update(emva_truth(cam, report.emva1288))
    small = opu.n_out * opu.config.n_modes_total * 8 <= 2 * 1024**3
    when = report.step_end_time_s or report.step_device_time_s  # reports of older versions kept the clock there
    if report.exposure is not None and small:
        ex = report.exposure
        from ..rng import generator

        x = (generator(report.seed, "calibration", "truth", "exposure").random((32, opu.n_in)) < ex.density).astype(np.uint8)
        with _evaluated_at(opu, when.get("exposure")):
            mu = opu.expected_projection(x, exposure_s=ex.exposure_s)  # DN above the black level, dark included
        dark = np.mean(cam.dark_electrons(ex.exposure_s)) / c.gain_e_per_dn
        out["exposure_fill"] = float(np.mean(mu - dark) / (c.max_dn - c.black_level_dn - dark))
        out["exposure_saturated_fraction"] = float(np.mean(mu + c.black_level_dn >= c.max_dn - 0.5))
    if report.speckle is not None:
        with _evaluated_at(opu, when.get("speckle")):
            st = speckle_truth(opu, report.speckle, seed=report.seed)
        out["speckle_contrast"] = st["contrast"]
        out["grain_size_px"] = st["grain_size_px"]
    if report.tm is not None and small:
        quality = tm_quality(report.tm, opu)
        out["tm_row_correlation_median"] = quality["median"]
        out["tm_tail_fraction"] = float(np.mean(np.asarray(quality["quality"]) < 0.99))
    if report.reference is not None and small:
        with _evaluated_at(opu, when.get("reference")):
            c_on, c_off = opu.constant_field(True), opu.constant_field(False)
            g = opu.pixel_gain_dn_per_field2(report.reference.exposure_s)
            out["reference_level_median_dn"] = float(np.median(g * (np.abs(c_on) ** 2 - np.abs(c_off) ** 2)))
            rt = reference_truth(opu, report.reference, seed=report.seed)
        out["reference_relative_error_exact"] = rt["exact"]
        out["reference_relative_error_strong"] = rt["strong-reference"]
    if report.drift is not None:
        tau = drift_truth(opu)
        out["decorrelation_time_s"] = tau if math.isfinite(tau) else None
        out["recalibration_interval_s"] = recalibration_interval(tau, report.drift.tolerance) if math.isfinite(tau) else None
    return out


# ----------------------------------------------------------------------------------------------
# summary and files
# ----------------------------------------------------------------------------------------------
def tm_estimates(t: TMRetrieval) -> dict[str, tuple[Measured, str]]:
    """Summary quantities of a TM retrieval (a device's or a recording's): name -> (Measured, description)."""
    est = {
        "tm_row_correlation_median": (t.tm_row_correlation_median, "median TM row correlation (bootstrap estimate; up to phase and conjugation)"),
        "tm_r2_heldout_median": (t.r2_heldout_median, "median R^2 of predicted held-out intensities"),
    }
    if t.tail_fraction_estimate is not None:
        est["tm_tail_fraction"] = (t.tail_fraction_estimate, "fraction of TM rows below correlation 0.99 (bootstrap estimate)")
    est["tm_flagged_fraction"] = (Measured(t.flagged_fraction, 0.0, "1"), "fraction of TM rows flagged (misfit or low bootstrap correlation)")
    return est


def _estimates(report: CalibrationReport) -> dict[str, tuple[Measured, str]]:
    """Summary quantities: name -> (Measured, description)."""
    est: dict[str, tuple[Measured, str]] = {}

    def put(name, m, desc):
        if m is not None:
            est[name] = (m, desc)

    if report.emva1288 is not None:
        est.update(emva_quantities(report.emva1288))
    e = report.exposure
    if e is not None:
        put("exposure_s", Measured(e.exposure_s, 0.0, "s"), f"chosen exposure (limited by {e.limited_by})")
        put("exposure_fill", e.fill, "measured mean ADC fill at the chosen exposure")
        put("exposure_saturated_fraction", e.saturated_fraction, "measured saturated fraction at the chosen exposure")
    s = report.speckle
    if s is not None:
        put("speckle_contrast", s.contrast, "speckle contrast sd(I)/<I> (camera noise removed)")
        put("grain_size_px", s.grain_size_px, "speckle grain size: FWHM of the intensity autocovariance")
        put("speckle_ks_statistic", Measured(s.ks_statistic, 0.0, "1"),
            f"KS distance of I/<I> to the exponential law (critical value {s.ks_critical:.3g}; verdict: {s.verdict or 'n/a'})")
    if report.tm is not None:
        est.update(tm_estimates(report.tm))
    r = report.reference
    if r is not None:
        put("reference_level_median_dn", r.reference_level_median_dn, "median |u|^2 = Z of the reference")
        put("reference_to_signal", r.reference_to_signal, "median |u|^2 / mean |T x|^2")
        put("reference_relative_error_exact", r.relative_error_exact, "estimated relative linear-projection error, exact scheme")
        put("reference_relative_error_strong", r.relative_error_strong, "estimated relative linear-projection error, strong-reference scheme")
    rc = report.reference_choice
    if rc is not None:
        put("reference_fraction_chosen", Measured(rc.chosen_fraction, 0.0, "1"), f"reference strength chosen for the {rc.scheme} scheme")
    d = report.drift
    if d is not None:
        put("decorrelation_time_s", d.decorrelation_time_s, "medium decorrelation time tau (speckle correlation exp(-2t/tau))")
        put(
            "recalibration_interval_s",
            Measured(d.recalibration_interval_s, d.recalibration_interval_s * d.decorrelation_time_s.relative_uncertainty()
                     if d.decorrelation_time_s.value > 0 and not d.decorrelation_time_s.lower_bound else 0.0, "s",
                     lower_bound=d.decorrelation_time_s.lower_bound),
            f"recalibrate every (TM change <= {d.tolerance:g})",
        )
    return est


def _finite(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def quantity_entries(estimates: dict[str, tuple[Measured, str]], truth: dict | None) -> dict:
    """name -> {estimate, uncertainty, unit, description[, truth, relative_error, note]} (JSON-able)."""
    truth = truth or {}
    q = {}
    for name, (m, desc) in estimates.items():
        entry: dict[str, Any] = {
            "estimate": _finite(m.value),
            "uncertainty": _finite(m.uncertainty),
            "unit": m.unit,
            "description": desc,
        }
        if m.lower_bound:
            entry["lower_bound"] = True
        if name in truth:
            tv = truth[name]
            entry["truth"] = _finite(tv)
            entry["relative_error"] = _finite(relative_error(m.value, tv)) if tv is not None else None
            if tv is None:
                entry["note"] = "ground truth is infinite or undefined (e.g. a static medium, no saturation)"
            elif tv == 0:
                entry["note"] = "ground truth is 0: compare the estimate with its uncertainty"
        if not math.isfinite(m.value):
            entry["note"] = "not measurable with these data"
        q[name] = entry
    return q


def emva_summary_dict(result: EMVA1288Result, truth: dict | None = None) -> dict:
    """JSON-able summary of an EMVA 1288 result alone (recorded frames): source, operating point, quantities."""
    p = result.photon_transfer
    return {
        "source": result.source,
        "standard": "EMVA 1288 Release 4.0 (linear)",
        "mode": result.mode,
        "image_shape": [result.image_rows, result.image_cols],
        "bit_depth": result.bit_depth if result.bit_depth > 0 else None,
        "wavelength_m": _finite(result.wavelength_m),
        "levels": int(p.illumination.size),
        "frames_per_level": int(p.frames_per_level),
        "quantities": quantity_entries(emva_quantities(result), truth),
    }


def summary_dict(report: CalibrationReport, truth: dict | None = None) -> dict:
    """JSON-able summary: for each quantity the estimate, uncertainty, unit, ground truth and
    relative error (non-finite numbers become null; see ``note``)."""
    q = quantity_entries(_estimates(report), truth)
    def status(s: str) -> str:
        if s in report.failures:
            return "interrupted" if report.failures[s] == "interrupted" else "failed: " + report.failures[s]
        return "ok" if s in report.step_wall_s else "not run"

    steps = {s: status(s) for s in report.steps.split(",") if s}
    return {
        "device": report.device,
        "seed": report.seed,
        "frames_used": report.frames_used,
        "device_time_s": report.device_time_s,
        "wall_time_s": report.wall_time_s,
        "step_wall_s": {k: float(v) for k, v in report.step_wall_s.items()},
        "step_device_time_s": {k: float(v) for k, v in report.step_device_time_s.items()},
        "step_end_time_s": {k: float(v) for k, v in report.step_end_time_s.items()},
        "interrupted": bool(report.interrupted),
        "steps": steps,
        "quantities": q,
        **_verdicts_and_rows(report),
    }


def _verdicts_and_rows(report: CalibrationReport) -> dict:
    """The speckle verdict and the per-row TM retrieval quality (a median alone hides a tail)."""
    out: dict = {}
    s = report.speckle
    if s is not None:
        out["verdicts"] = {"speckle": s.verdict or None, "speckle_fully_developed": bool(s.fully_developed)}
    t = report.tm
    if t is not None:
        def finite(a):
            return None if a is None else [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=np.float64)]

        out["tm_rows"] = {
            "rows": [int(r) for r in np.asarray(t.rows)],
            "row_correlation_estimate": finite(t.row_correlation_estimate),
            "chi2_reduced": finite(t.chi2_reduced),
            "flagged": None if t.row_flagged is None else [bool(v) for v in np.asarray(t.row_flagged)],
            "reference_probe_fraction": float(t.reference_probe_fraction),
        }
    return out


def write_report(report: CalibrationReport, out_dir: str | os.PathLike, *, opu=None, truth: dict | None = None, plots: bool = True) -> dict[str, Path]:
    """Write ``calibration.h5``, ``summary.json``, the PNG plots and ``datasheet.html`` into ``out_dir``.

    With ``opu`` given (a simulated device) the summary and the datasheet carry the ground
    truth (computed by :func:`device_truth` unless ``truth`` is passed). Returns the written
    paths by name.
    """
    from ..io import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if truth is None and opu is not None:
        truth = device_truth(opu, report)
    paths: dict[str, Path] = {}
    paths["calibration.h5"] = report.save(out / "calibration.h5", config=opu.config if opu is not None else None, seed=report.seed)
    summary = summary_dict(report, truth)
    paths["summary.json"] = write_json_atomic(out / "summary.json", summary)
    if report.emva1288 is not None:
        paths.update(_write_emva_outputs(report.emva1288, out, truth, plots, title=f"EMVA 1288 datasheet: {report.device} (seed {report.seed})"))
    if plots:
        paths.update(_write_plots(report, out, opu, truth))
    return paths


def write_emva_report(result: EMVA1288Result, out_dir: str | os.PathLike, *, truth: dict | None = None, plots: bool = True,
                      config=None, seed: int | None = None, title: str | None = None) -> dict[str, Path]:
    """Write an EMVA 1288 result alone: ``calibration.h5``, ``summary.json``, ``datasheet.html`` and the PNG plots.

    The outputs of :func:`write_report` for recorded frames (no device, no truth columns
    unless ``truth`` is given).
    """
    from ..io import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"calibration.h5": result.save(out / "calibration.h5", config=config, seed=seed)}
    paths["summary.json"] = write_json_atomic(out / "summary.json", emva_summary_dict(result, truth))
    paths.update(_write_emva_outputs(result, out, truth, plots, title=title))
    return paths


def write_recorded_tm(tm: TMRetrieval, out_dir: str | os.PathLike, *, relative_gain=None, plots: bool = True,
                      source: str = "recorded probes") -> dict[str, Path]:
    """Write a recording's TM retrieval: ``measured_tm.h5`` (the measured-medium file a device or
    twin loads), ``tm_retrieval.h5`` (every per-row result) and ``tm_quality.png``."""
    from .recorded_probes import write_measured_medium

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"measured_tm.h5": write_measured_medium(out / "measured_tm.h5", tm, relative_gain=relative_gain, source=source),
             "tm_retrieval.h5": tm.save(out / "tm_retrieval.h5")}
    if plots:
        from ..plotting import calibration_plots as pc

        paths["tm_quality.png"] = pc.plot_tm_quality(tm, out / "tm_quality.png", None)
    return paths


def _write_emva_outputs(result: EMVA1288Result, out: Path, truth, plots: bool, title: str | None = None) -> dict[str, Path]:
    """The EMVA PNG plots (each rendered once) and the datasheet that embeds them."""
    from ..io import write_bytes_atomic
    from ..plotting.emva1288_plots import DATASHEET_PLOTS
    from .datasheet import write_datasheet

    paths: dict[str, Path] = {}
    pngs: dict[str, bytes] = {}
    if plots:
        for fname, _, fn in DATASHEET_PLOTS:
            png = fn(result)
            if png is not None:
                pngs[fname] = png
                paths[fname] = write_bytes_atomic(out / fname, png)
    paths["datasheet.html"] = write_datasheet(result, out / "datasheet.html", truth=truth, title=title, plots=plots, pngs=pngs)
    return paths


def _write_plots(report: CalibrationReport, out: Path, opu, truth) -> dict[str, Path]:
    from ..plotting import calibration_plots as pc

    paths: dict[str, Path] = {}
    if report.speckle is not None:
        from ..plotting import speckle_plots as ps

        s = report.speckle
        paths["speckle_image.png"] = ps.plot_speckle_image(s.example_image_dn, out / "speckle_image.png", title="speckle (dark-subtracted, averaged)", unit="DN")
        paths["speckle_histogram.png"] = ps.plot_intensity_histogram(s.histogram(), out / "speckle_histogram.png")
        from photonics.statistics import GrainSize

        grain = GrainSize(s.grain_size_px.value, s.grain_x_px, s.grain_y_px, s.correlation_area_px)
        paths["speckle_autocorrelation.png"] = ps.plot_autocorrelation(s.autocorrelation(), out / "speckle_autocorrelation.png", grain)
    if report.tm is not None:
        quality = None
        if opu is not None and opu.n_out * opu.config.n_modes_total * 8 <= 2 * 1024**3:
            quality = tm_quality(report.tm, opu)["quality"]
        paths["tm_quality.png"] = pc.plot_tm_quality(report.tm, out / "tm_quality.png", quality)
    if report.reference is not None:
        paths["reference.png"] = pc.plot_reference(report.reference, out / "reference.png", report.reference_choice)
    if report.drift is not None:
        paths["drift.png"] = pc.plot_drift(report.drift, out / "drift.png")
    return paths
