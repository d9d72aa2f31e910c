"""``photonics calibrate DEVICE --out DIR`` and ``photonics calibrate --frames PATH --out DIR``.

A device (preset or TOML): characterise it as a lab would and write DIR/calibration.h5 (every
result, with the device config and seed), DIR/summary.json (for each quantity: estimate,
uncertainty, unit and, for simulated devices, the ground truth and the relative error), the
EMVA 1288 datasheet DIR/datasheet.html and PNG plots (photon transfer, sensitivity, SNR,
linearity, dark current, spectrograms, histograms, maps, speckle, TM quality, reference, drift).

Recorded frames (``--frames``: an EMVA 1288 descriptor file or its folder, or an HDF5 / NPZ
stack): the EMVA 1288 analysis alone, with the same EMVA outputs (no truth columns).
Recorded probes (``--probes``: DMD patterns and the camera frames read for them, HDF5 / NPZ, see
:mod:`photonics.calibration.recorded_probes`): the TM retrieval of every pixel, written as
DIR/measured_tm.h5 (a measured-medium file), DIR/tm_retrieval.h5 and DIR/tm_quality.png, its
figures in DIR/summary.json; with ``--frames`` too, the camera's PRNU map is divided out of the rows.

Either way ``--twin DIR`` also writes a digital twin (device TOML + measured pixel maps; with
``--probes``, the retrieved TM as its medium) and ``--write-frames PATH`` (devices) the EMVA
frames themselves (descriptor folder, .h5 or .npz), for another implementation of the standard
to check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..io import json_text
from . import add_device_arguments, device_from_args

#: Defaults of the options whose effect depends on the input (a device or recorded data).
DEFAULTS = {"exposure_unit": "ns", "emva_mode": "irradiance", "tm_rows": 64, "tm_probes": 8.0, "drift_max_time": 1e4}


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="characterise a device, or frames recorded on a camera (EMVA 1288 datasheet, maps, speckle, TM, reference, drift, twin)",
    )
    add_device_arguments(p)
    for action in p._actions:  # DEVICE is optional: --frames replaces it
        if action.dest == "device":
            action.nargs = "?"
            action.default = None
            action.help = "preset name or device TOML (omit with --frames / --probes)"
    p.add_argument("--frames", default=None, metavar="PATH",
                   help="calibrate frames recorded on a camera: an EMVA 1288 descriptor file (or its folder), or an .h5/.npz stack")
    p.add_argument("--probes", default=None, metavar="PATH",
                   help="retrieve the TM from DMD patterns and the camera frames recorded for them (.h5/.npz: patterns, frames, dark_frames)")
    p.add_argument("--exposure-unit", default=DEFAULTS["exposure_unit"], choices=("ns", "us", "ms", "s"),
                   help="unit of the exposures in a descriptor file (default ns, as the standard's reference data)")
    p.add_argument("--wavelength", type=float, default=None, help="wavelength of the recorded frames [m], if the file lacks it")
    p.add_argument("--pixel-pitch", type=float, default=None, help="pixel pitch of the recorded camera [m], if the file lacks it")
    p.add_argument("--out", required=True, help="output folder (created if needed; refused if it holds files, unless --force)")
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty --out folder")
    p.add_argument("--steps", default=None, help="comma-separated steps to run (default: all but probe_sweep)")
    p.add_argument("--skip", default="", help="comma-separated steps to skip")
    p.add_argument("--emva-mode", default=DEFAULTS["emva_mode"], choices=("irradiance", "exposure"),
                   help="EMVA 1288 series of a device: varying irradiance at fixed exposure, or varying exposure (default irradiance)")
    p.add_argument("--write-frames", default=None, metavar="PATH",
                   help="also write the device's EMVA 1288 frames: a folder (descriptor + PNG images), or a .h5/.npz file")
    p.add_argument("--twin", default=None, metavar="DIR", help="also write a digital twin (device TOML + pixel maps) into DIR")
    p.add_argument("--twin-base", default=None, metavar="DEVICE",
                   help="device the twin's optics come from (default: the calibrated device; lab-cmos for --frames)")
    p.add_argument("--twin-medium", default=None, metavar="H5", help="measured transmission matrix (HDF5) for the twin's medium")
    p.add_argument("--tm-rows", type=int, default=DEFAULTS["tm_rows"], help="camera pixels whose TM row is retrieved (default 64; 0 = all)")
    p.add_argument("--tm-probes", type=float, default=DEFAULTS["tm_probes"], help="probe frames per input mode for the TM retrieval (default 8)")
    p.add_argument("--probe-sweep", action="store_true", help="also retrieve the TM with 3, 4, 6, 8 probes per mode (slower)")
    p.add_argument("--drift-max-time", type=float, default=DEFAULTS["drift_max_time"], help="longest drift wait [s of device time] (default 1e4)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (the datasheet keeps its table)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    p.set_defaults(func=run)


def _steps(args):
    from ..calibration.report import DEFAULT_STEPS, canonical_steps

    steps = list(DEFAULT_STEPS) if args.steps is None else [s.strip() for s in args.steps.split(",") if s.strip()]
    if args.probe_sweep and "probe_sweep" not in steps:
        steps.append("probe_sweep")
    skip = set(canonical_steps([s.strip() for s in args.skip.split(",") if s.strip()]))
    return [s for s in canonical_steps(steps) if s not in skip]


def _fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:.4g}{' ' + unit if unit else ''}"


def _table(header: str, quantities: dict, with_truth: bool) -> list[str]:
    lines = [header]
    cols = f"{'quantity':38s} {'estimate':>28s}"
    lines.append(cols + (f" {'truth':>12s} {'rel. error':>10s}" if with_truth else ""))
    for name, q in quantities.items():
        est = "-" if q["estimate"] is None else f"{'>= ' if q.get('lower_bound') else ''}{q['estimate']:.4g} +/- {q['uncertainty'] or 0:.2g}"
        line = f"{name:38s} {est + ' ' + q['unit']:>28s}"
        if with_truth:
            rel = q.get("relative_error")
            line += f" {_fmt(q.get('truth')):>12s} {('%+.2f %%' % (100 * rel)) if rel is not None else '-':>10s}"
        lines.append(line)
    return lines


def _check_outputs(args) -> None:
    """Validate the output paths before any work (never overwrite an input or a result unasked)."""
    from ..errors import ValidationError
    from ..instrument import check_output_dir

    if args.frames is not None and not Path(args.frames).exists():  # the input first: nothing to calibrate
        raise FileNotFoundError(f"--frames {args.frames!r} does not exist")
    if args.probes is not None and not Path(args.probes).is_file():
        raise FileNotFoundError(f"--probes {args.probes!r} does not exist")
    check_output_dir(args.out, force=args.force, create=False)
    out = Path(args.out).resolve()
    names = {"calibration.h5", "summary.json", "datasheet.html", "measured_tm.h5", "tm_retrieval.h5"}
    for opt, given in (("--frames", args.frames), ("--probes", args.probes)):
        if given is not None:
            src = Path(given).resolve()
            if src.parent == out and src.name in names:
                raise ValidationError(f"--out {args.out} would overwrite the input {opt} {given}; choose another folder")
    if args.write_frames is not None:
        wf = Path(args.write_frames)
        if wf.exists() and (wf.is_file() or any(wf.iterdir())):
            raise ValidationError(f"--write-frames {args.write_frames} exists and is not empty; choose a new path")
    if args.twin is not None and args.twin_medium is not None and not Path(args.twin_medium).is_file():
        raise FileNotFoundError(f"--twin-medium {args.twin_medium!r} does not exist")


def _ineffective_options(args, recorded: bool) -> list[str]:
    """Options given (away from their defaults) that do nothing in this run."""
    out = []
    if recorded:
        for opt, given in (("--n-in", args.n_in is not None), ("--n-out", args.n_out is not None), ("--set", bool(args.set)),
                           ("--steps", args.steps is not None), ("--skip", bool(args.skip)), ("--probe-sweep", args.probe_sweep),
                           *((f"--{k.replace('_', '-')}", getattr(args, k) != DEFAULTS[k])
                             for k in ("emva_mode", "tm_rows", "tm_probes", "drift_max_time"))):
            if given:
                out.append(f"{opt} has no effect on recorded data (it sets up a simulated device's calibration)")
        if args.seed != 0 and args.probes is None:
            out.append("--seed has no effect on recorded frames (it seeds the TM retrieval of --probes)")
    if args.frames is None:
        for opt, given in (("--exposure-unit", args.exposure_unit != DEFAULTS["exposure_unit"]), ("--wavelength", args.wavelength is not None),
                           ("--pixel-pitch", args.pixel_pitch is not None)):
            if given:
                out.append(f"{opt} has no effect without --frames (it describes recorded EMVA 1288 frames)")
    if args.twin is None:
        for opt, given in (("--twin-base", args.twin_base is not None), ("--twin-medium", args.twin_medium is not None)):
            if given:
                out.append(f"{opt} has no effect without --twin")
    return out


def run(args) -> int:
    from ..errors import ValidationError

    recorded = args.frames is not None or args.probes is not None
    if (args.device is None) == (not recorded):
        raise ValidationError("give a DEVICE (preset or TOML), or recorded data (--frames PATH and/or --probes PATH), not both")
    if args.probes is not None:
        if args.twin is not None and args.frames is None:
            raise ValidationError("--twin needs the camera's EMVA 1288 frames (--frames) besides --probes")
        if args.twin_medium is not None:
            raise ValidationError("--twin-medium and --probes both give the twin's medium; give one")
    if args.tm_rows < 0:
        raise ValidationError(f"--tm-rows must be >= 0 (got {args.tm_rows})")
    if not (args.tm_probes > 0 and args.tm_probes < 1e6):
        raise ValidationError(f"--tm-probes must be in (0, 1e6) probe frames per input mode (got {args.tm_probes:g})")
    if not (args.drift_max_time > 0 and args.drift_max_time < 1e12):
        raise ValidationError(f"--drift-max-time must be in (0, 1e12) s of device time (got {args.drift_max_time:g})")
    for name in ("wavelength", "pixel_pitch"):
        v = getattr(args, name)
        if v is not None and not (v > 0 and v < 1):
            raise ValidationError(f"--{name.replace('_', '-')} must be in (0, 1) m (got {v:g})")
    if args.device is not None:
        _steps(args)  # unknown step names fail here, before any work
    _check_outputs(args)
    for warning in _ineffective_options(args, recorded):
        print(f"photonics calibrate: warning: {warning}", file=sys.stderr)
    if recorded:
        if args.write_frames is not None:
            raise ValidationError("--write-frames is for a simulated device; the frames of --frames are already on disk")
        return _run_recorded(args)
    return _run_device(args)


def _run_recorded(args) -> int:
    """--frames (EMVA 1288) and / or --probes (TM retrieval) of recorded data."""
    from ..calibration.digital_twin import twin_pixel_maps, write_twin
    from ..calibration.emva1288 import analyze_emva1288
    from ..calibration.recorded_frames import read_frames
    from ..calibration.recorded_probes import read_probe_file, retrieve_tm_recorded
    from ..calibration.report import quantity_entries, tm_estimates, write_emva_report, write_recorded_tm
    from ..config import DeviceConfig
    from ..errors import ShapeError
    from ..io import write_json_atomic

    series = result = rec = None
    if args.frames is not None:  # read every input before any work
        series = read_frames(args.frames, exposure_unit=args.exposure_unit, wavelength_m=args.wavelength, pixel_pitch_m=args.pixel_pitch)
    if args.probes is not None:
        rec = read_probe_file(args.probes)
        if series is not None and tuple(rec.image_shape) != tuple(series.image_shape):
            raise ShapeError(f"--probes frames are {rec.image_shape[0]} x {rec.image_shape[1]} images but the --frames images are "
                             f"{series.image_shape[0]} x {series.image_shape[1]}: the same camera region must be recorded")
    base = None
    if args.twin is not None:
        base = DeviceConfig.resolve(args.twin_base or "lab-cmos")
        if rec is not None:
            base = base.resized(n_in=rec.n_in)
    paths: dict = {}
    summary: dict = {}
    if series is not None:
        result = analyze_emva1288(series, progress=not args.no_progress)
        paths.update(write_emva_report(result, args.out, plots=not args.no_plots, title=f"EMVA 1288 datasheet: {args.frames}"))
        summary = json.loads(Path(paths["summary.json"]).read_text())
    tm = None
    if rec is not None:
        tm = retrieve_tm_recorded(rec, seed=args.seed, progress=not args.no_progress)
        gain = twin_pixel_maps(result).relative_gain if result is not None else None
        paths.update(write_recorded_tm(tm, args.out, relative_gain=gain, plots=not args.no_plots, source=str(args.probes)))
        summary.setdefault("source", str(args.probes))
        summary["tm_source"] = str(args.probes)
        summary["tm_probes"] = {"patterns": int(rec.patterns.shape[0]), "probes": int(tm.n_probes), "held_out": int(tm.n_heldout),
                                "n_in": rec.n_in, "image_shape": list(rec.image_shape), "prnu_divided_out": gain is not None}
        summary.setdefault("quantities", {}).update(quantity_entries(tm_estimates(tm), None))
        paths["summary.json"] = write_json_atomic(Path(args.out) / "summary.json", summary)
    if args.twin is not None:
        medium = paths.get("measured_tm.h5", args.twin_medium)
        paths.update({f"twin {k}": v for k, v in write_twin(result, args.twin, base=base, medium_path=medium,
                                                            recording=rec).items()})
    if args.json:
        print(json_text(summary))
        return 0
    parts = []
    if series is not None:
        parts.append(f"EMVA 1288 calibration of {args.frames}: {series.n_levels} levels ({result.mode} series), "
                     f"{series.image_shape[1]} x {series.image_shape[0]} pixels")
    if rec is not None:
        parts.append(f"TM retrieval from {args.probes}: {rec.n_pix} pixels x {rec.n_in} inputs, {tm.n_probes} probes, "
                     f"{tm.n_heldout} held out")
    lines = _table("; ".join(parts), summary["quantities"], False)
    lines.append(f"wrote {', '.join(sorted(Path(p).name for p in paths.values()))} to {args.out}")
    print("\n".join(lines))
    return 0


def _run_device(args) -> int:
    from ..calibration.digital_twin import write_twin
    from ..calibration.emva1288 import acquire_emva1288
    from ..calibration.recorded_frames import write_frames
    from ..calibration.report import calibrate_device, write_report
    from ..device import OPU

    cfg = device_from_args(args)
    steps = _steps(args)
    if (args.write_frames is not None or args.twin is not None) and "emva1288" not in steps:
        from ..errors import ValidationError

        raise ValidationError("--write-frames and --twin need the emva1288 step")
    opu = OPU(cfg, seed=args.seed)
    series = None
    cost = (0, 0.0)
    if args.write_frames is not None:
        frames0, t0 = opu.frames_used, opu.device_time_s
        series = acquire_emva1288(opu, mode=args.emva_mode, progress=not args.no_progress)
        cost = (opu.frames_used - frames0, opu.device_time_s - t0)
        write_frames(series, args.write_frames)
    report = calibrate_device(
        opu,
        steps=steps,
        tm_rows=args.tm_rows or None,
        tm_probes_per_input=args.tm_probes,
        drift_max_time_s=args.drift_max_time,
        seed=args.seed,
        emva_mode=args.emva_mode,
        emva_series=series,
        emva_series_cost=cost,
        progress=not args.no_progress,
    )
    paths = write_report(report, args.out, opu=opu, plots=not args.no_plots)
    if args.twin is not None and report.emva1288 is not None:
        paths.update({f"twin {k}": v for k, v in write_twin(report.emva1288, args.twin, base=args.twin_base or cfg,
                                                            medium_path=args.twin_medium).items()})
    with open(paths["summary.json"]) as fh:
        summary = json.load(fh)
    failed = [s for s, status in summary["steps"].items() if status.startswith("failed")]
    if report.interrupted:  # the finished steps are written; say so and end as an interrupt
        done = [s for s, status in summary["steps"].items() if status == "ok"]
        print(f"photonics calibrate: interrupted; {len(done)} finished step(s) ({', '.join(done) or 'none'}) written to {args.out}",
              file=sys.stderr)
        return 130
    if args.json:
        print(json_text(summary))
        return 1 if failed else 0
    lines = _table(f"calibration of {cfg.name} (seed {args.seed}): {report.frames_used:,} frames, {report.device_time_s:.4g} s of "
                   f"device time, {report.wall_time_s:.1f} s wall", summary["quantities"], True)
    for step, status in summary["steps"].items():
        if status != "ok":
            lines.append(f"step {step}: {status}")
    if args.write_frames is not None:
        lines.append(f"wrote the EMVA 1288 frames to {args.write_frames}")
    lines.append(f"wrote {', '.join(sorted(Path(p).name for p in paths.values()))} to {args.out}")
    print("\n".join(lines))
    if failed:
        print(f"photonics calibrate: error: requested step(s) failed: {', '.join(failed)} (the others are in {args.out})", file=sys.stderr)
        return 1
    return 0
