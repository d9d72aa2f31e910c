"""Run every calibration on a device and write the report: HDF5, summary.json and plots.

:func:`calibrate_device` runs, in order, each step as a lab would (later steps use earlier
results): photon transfer -> dark/flat maps -> exposure choice -> speckle -> TM retrieval ->
reference (linear mode) -> reference strength scan -> drift. A step that cannot run on the
device (e.g. no shot noise, a phase SLM instead of a DMD) is recorded as failed with its
message and the others go on.

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

from ..camera import reading_statistics
from ..errors import PhotonicsError, ValidationError
from .drift import DriftResult, drift_truth, measure_drift, recalibration_interval
from .exposure import ExposureChoice, choose_exposure
from .maps import FixedPatternMaps, measure_fixed_pattern
from .photon_transfer import PhotonTransferResult, measure_photon_transfer
from .reference import (
    ReferenceCharacterization,
    ReferenceChoice,
    characterize_reference,
    choose_reference_fraction,
    reference_truth,
)
from .result import CalibrationResult, Measured, relative_error
from photonics.calibration.speckle_characterization import SpeckleCharacterization, characterize_speckle, speckle_truth
from .tm_retrieval import ProbeSweep, TMRetrieval, probe_sweep, retrieve_tm, tm_quality

log = logging.getLogger(__name__)

__all__ = [
    "STEPS",
    "CalibrationReport",
    "calibrate_device",
    "device_truth",
    "summary_dict",
    "write_report",
]

#: Steps of a full calibration, in the order they run.
STEPS = ("photon_transfer", "fixed_pattern", "exposure", "speckle", "tm", "reference", "reference_choice", "drift", "probe_sweep")
#: Steps run by default (the probe-count sweep is opt-in: it repeats the TM retrieval).
DEFAULT_STEPS = STEPS[:-1]


@dataclass(frozen=True)
class CalibrationReport(CalibrationResult):
    """Every calibration result of one device, with what failed and what it cost."""

    KIND = "report"
    UNITS = {"device_time_s": "s", "wall_time_s": "s"}
    # step_wall_s: wall time of each step [s]; step_device_time_s: device clock at the end of
    # each step [s] (when it was measured: a drifting medium moves on afterwards)

    device: str
    seed: int
    steps: str
    frames_used: int
    device_time_s: float
    wall_time_s: float
    step_wall_s: dict = field(default_factory=dict)
    step_device_time_s: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    photon_transfer: PhotonTransferResult | None = None
    fixed_pattern: FixedPatternMaps | None = None
    exposure: ExposureChoice | None = None
    speckle: SpeckleCharacterization | None = None
    tm: TMRetrieval | None = None
    reference: ReferenceCharacterization | None = None
    reference_choice: ReferenceChoice | None = None
    drift: DriftResult | None = None
    probe_sweep: ProbeSweep | None = None


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
    progress: bool = False,
) -> CalibrationReport:
    """Characterise a device from measurements only (see the module docstring).

    Parameters
    ----------
    opu : photonics.OPU
        The device; its clock and frame counter advance.
    steps : sequence of str
        Steps to run (subset of :data:`STEPS`, run in the canonical order).
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
    progress : bool
        Show a progress bar over the steps.
    """
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise ValidationError(f"unknown calibration step(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(STEPS)}")
    todo = [s for s in STEPS if s in set(steps)]
    cfg = opu.config
    black = float(cfg.camera.black_level_dn)  # the camera's offset register: a setting the lab chooses
    wavelength = float(cfg.laser.wavelength_m)  # the laser line: known
    res: dict[str, Any] = {}
    failures: dict[str, str] = {}
    t_start = time.perf_counter()
    frames0 = opu.frames_used
    t0 = opu.device_time_s

    def exposure_for_signal():
        return res["exposure"].exposure_s if "exposure" in res else None

    step_wall: dict[str, float] = {}
    step_time: dict[str, float] = {}
    bar = tqdm(todo, desc="calibrate", unit="step", disable=not progress)
    for step in bar:
        bar.set_postfix_str(step)
        t_step = time.perf_counter()
        try:
            if step == "photon_transfer":
                res[step] = measure_photon_transfer(opu, black_level_dn=black, wavelength_m=wavelength, progress=False)
            elif step == "fixed_pattern":
                res[step] = measure_fixed_pattern(opu, photon_transfer=res.get("photon_transfer"))
            elif step == "exposure":
                res[step] = choose_exposure(opu, seed=seed)
            elif step == "speckle":
                res[step] = characterize_speckle(opu, exposure_s=exposure_for_signal(), maps=res.get("fixed_pattern"), seed=seed)
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
        except (PhotonicsError, ValueError) as exc:
            failures[step] = f"{type(exc).__name__}: {exc}"
            log.warning("calibration step %s failed: %s", step, exc)
        step_wall[step] = time.perf_counter() - t_step
        step_time[step] = opu.device_time_s
    bar.close()
    return CalibrationReport(
        device=cfg.name,
        seed=int(opu.seed),
        steps=",".join(todo),
        frames_used=int(opu.frames_used - frames0),
        device_time_s=float(opu.device_time_s - t0),
        wall_time_s=float(time.perf_counter() - t_start),
        step_wall_s=step_wall,
        step_device_time_s=step_time,
        failures=failures,
        **res,
    )


# ----------------------------------------------------------------------------------------------
# ground truth (simulated devices only)
# ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _evaluated_at(opu, time_s: float | None):
    """Ground-truth evaluation with the device clock set to ``time_s`` (restored on exit).

    The frame counter is left as it is, so any frame taken meanwhile draws fresh noise; only
    the clock (hence the state of a drifting medium) is moved. For truth comparisons only.
    """
    if time_s is None or opu.medium.is_static:
        yield opu
        return
    state = opu.state_dict()
    moved = dict(state)
    moved["idle_s"] = float(time_s) - state["frames"] * opu.config.frame_period_s
    opu.load_state_dict(moved)
    try:
        yield opu
    finally:  # back to the original clock; the frame counter keeps counting (fresh noise)
        now = opu.state_dict()
        now["idle_s"] = state["idle_s"] - (now["frames"] - state["frames"]) * opu.config.frame_period_s
        opu.load_state_dict(now)


def device_truth(opu, report: CalibrationReport) -> dict[str, float | None]:
    """Ground-truth values of the summary quantities (simulated devices; None where unknown).

    Reads the camera's :meth:`~photonics.camera.Camera.truth`, its pixel maps, the medium
    and the noise-free optical power, each at the device time its step ended (a drifting
    medium has moved on since). Values that need dense matrices are skipped (None) for
    devices too large for them.
    """
    cam = opu.camera
    tr = cam.truth()
    c = opu.config.camera
    dark = reading_statistics(c, 0.0, tr.dark_signal_e)  # the camera's noise model of a dark reading
    out: dict[str, float | None] = {
        "system_gain_dn_per_e": tr.system_gain_dn_per_e,
        "read_noise_e": tr.read_noise_e,
        "read_noise_dn": tr.read_noise_dn,
        "temporal_dark_noise_e": math.sqrt(dark.temporal_var_e2),
        "dark_signal_e": tr.dark_signal_e,
        "saturation_capacity_e": tr.saturation_capacity_e if math.isfinite(tr.saturation_capacity_e) else None,
        "quantum_efficiency": tr.quantum_efficiency,
        "linearity_error_pct": 0.0,
        "dsnu_e": float(np.std(cam.dark_electrons(), ddof=1)),
        "prnu": float(np.std(cam.prnu_map, ddof=1)),
    }
    mu_min = math.sqrt(dark.total_var_e2 + 0.25) + 0.5
    out["absolute_sensitivity_threshold_e"] = mu_min
    if out["saturation_capacity_e"] is not None:
        out["dynamic_range_db"] = 20.0 * math.log10(tr.saturation_capacity_e / mu_min)
        out["snr_max"] = math.sqrt(tr.saturation_capacity_e)
    small = opu.n_out * opu.config.n_modes_total * 8 <= 2 * 1024**3
    when = report.step_device_time_s
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
        out["tm_row_correlation_median"] = tm_quality(report.tm, opu)["median"]
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
def _estimates(report: CalibrationReport) -> dict[str, tuple[Measured, str]]:
    """Summary quantities: name -> (Measured, description)."""
    est: dict[str, tuple[Measured, str]] = {}

    def put(name, m, desc):
        if m is not None:
            est[name] = (m, desc)

    p = report.photon_transfer
    if p is not None:
        put("system_gain_dn_per_e", p.system_gain_dn_per_e, "overall system gain K (EMVA 1288 photon transfer)")
        put("read_noise_e", p.read_noise_e, "read noise (temporal dark noise without the dark-current shot noise)")
        put("read_noise_dn", p.read_noise_dn, "read noise in DN")
        put("temporal_dark_noise_e", p.temporal_dark_noise_e, "EMVA temporal dark noise sigma_d")
        put("dark_signal_e", p.dark_signal_e, "mean dark signal above the black level")
        put("saturation_capacity_e", p.saturation_capacity_e, "electrons at which the output saturates")
        put("quantum_efficiency", p.quantum_efficiency, "quantum efficiency (calibrated flat-field power)")
        put("linearity_error_pct", p.linearity_error_pct, "EMVA linearity error (5-95 % of saturation)")
        put("absolute_sensitivity_threshold_e", p.absolute_sensitivity_threshold_e, "signal at SNR = 1")
        put("dynamic_range_db", p.dynamic_range_db, "dynamic range 20 log10(saturation / threshold)")
        put("snr_max", p.snr_max, "SNR at saturation")
    m = report.fixed_pattern
    if m is not None:
        put("dsnu_e" if m.dsnu_e is not None else "dsnu_dn", m.dsnu_e if m.dsnu_e is not None else m.dsnu_dn, "dark signal non-uniformity (EMVA DSNU)")
        put("prnu", m.prnu, "photo-response non-uniformity (relative, EMVA PRNU)")
    e = report.exposure
    if e is not None:
        put("exposure_s", Measured(e.exposure_s, 0.0, "s"), f"chosen exposure (limited by {e.limited_by})")
        put("exposure_fill", e.fill, "measured mean ADC fill at the chosen exposure")
        put("exposure_saturated_fraction", e.saturated_fraction, "measured saturated fraction at the chosen exposure")
    s = report.speckle
    if s is not None:
        put("speckle_contrast", s.contrast, "speckle contrast sd(I)/<I> (camera noise removed)")
        put("grain_size_px", s.grain_size_px, "speckle grain size: FWHM of the intensity autocovariance")
    t = report.tm
    if t is not None:
        put("tm_row_correlation_median", t.tm_row_correlation_median, "median TM row correlation (bootstrap estimate; up to phase and conjugation)")
        put("tm_r2_heldout_median", t.r2_heldout_median, "median R^2 of predicted held-out intensities")
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


def summary_dict(report: CalibrationReport, truth: dict | None = None) -> dict:
    """JSON-able summary: for each quantity the estimate, uncertainty, unit, ground truth and
    relative error (non-finite numbers become null; see ``note``)."""
    truth = truth or {}
    q = {}
    for name, (m, desc) in _estimates(report).items():
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
    steps = {s: ("failed: " + report.failures[s]) if s in report.failures else "ok" for s in report.steps.split(",") if s}
    return {
        "device": report.device,
        "seed": report.seed,
        "frames_used": report.frames_used,
        "device_time_s": report.device_time_s,
        "wall_time_s": report.wall_time_s,
        "step_wall_s": {k: float(v) for k, v in report.step_wall_s.items()},
        "step_device_time_s": {k: float(v) for k, v in report.step_device_time_s.items()},
        "steps": steps,
        "quantities": q,
    }


def write_report(report: CalibrationReport, out_dir: str | os.PathLike, *, opu=None, truth: dict | None = None, plots: bool = True) -> dict[str, Path]:
    """Write ``calibration.h5``, ``summary.json`` and the PNG plots into ``out_dir``.

    With ``opu`` given (a simulated device) the summary carries the ground truth (computed
    by :func:`device_truth` unless ``truth`` is passed). Returns the written paths by name.
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
    if plots:
        paths.update(_write_plots(report, out, opu, truth))
    return paths


def _write_plots(report: CalibrationReport, out: Path, opu, truth) -> dict[str, Path]:
    from ..plotting import calibration_plots as pc

    paths: dict[str, Path] = {}
    shape = tuple(opu.config.medium.image_shape) if opu is not None else None
    if report.photon_transfer is not None:
        paths["photon_transfer.png"] = pc.plot_photon_transfer(report.photon_transfer, out / "photon_transfer.png")
        paths["snr.png"] = pc.plot_snr(report.photon_transfer, out / "snr.png")
    if report.fixed_pattern is not None:
        paths["maps.png"] = pc.plot_maps(report.fixed_pattern, out / "maps.png", shape)
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
