"""``photonics calibrate DEVICE --out DIR``: characterise a device as a lab would.

Writes DIR/calibration.h5 (every result, with the device config and seed), DIR/summary.json
(for each quantity: estimate, uncertainty, unit and, for simulated devices, the ground truth
and the relative error) and PNG plots (photon transfer, SNR, maps, speckle, TM quality,
reference, drift).
"""

from __future__ import annotations

import json

from . import add_device_arguments, device_from_args


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="characterise a device from measurements (EMVA photon transfer, maps, speckle, TM, reference, drift)")
    add_device_arguments(p)
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--steps", default=None, help="comma-separated steps to run (default: all but probe_sweep)")
    p.add_argument("--skip", default="", help="comma-separated steps to skip")
    p.add_argument("--tm-rows", type=int, default=64, help="camera pixels whose TM row is retrieved (default 64; 0 = all)")
    p.add_argument("--tm-probes", type=float, default=8.0, help="probe frames per input mode for the TM retrieval (default 8)")
    p.add_argument("--probe-sweep", action="store_true", help="also retrieve the TM with 3, 4, 6, 8 probes per mode (slower)")
    p.add_argument("--drift-max-time", type=float, default=1e4, help="longest drift wait [s of device time] (default 1e4)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    p.set_defaults(func=run)


def _steps(args):
    from ..calibration.report import DEFAULT_STEPS, STEPS
    from ..errors import ValidationError

    steps = list(DEFAULT_STEPS) if args.steps is None else [s.strip() for s in args.steps.split(",") if s.strip()]
    if args.probe_sweep and "probe_sweep" not in steps:
        steps.append("probe_sweep")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = sorted((set(steps) | skip) - set(STEPS))
    if unknown:
        raise ValidationError(f"unknown step(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(STEPS)}")
    return [s for s in steps if s not in skip]


def _fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:.4g}{' ' + unit if unit else ''}"


def run(args) -> int:
    from ..calibration.report import calibrate_device, write_report
    from ..device import OPU
    from ..errors import ValidationError

    cfg = device_from_args(args)
    steps = _steps(args)
    if args.tm_rows < 0:
        raise ValidationError(f"--tm-rows must be >= 0 (got {args.tm_rows})")
    opu = OPU(cfg, seed=args.seed)
    report = calibrate_device(
        opu,
        steps=steps,
        tm_rows=args.tm_rows or None,
        tm_probes_per_input=args.tm_probes,
        drift_max_time_s=args.drift_max_time,
        seed=args.seed,
        progress=not args.no_progress,
    )
    paths = write_report(report, args.out, opu=opu, plots=not args.no_plots)
    with open(paths["summary.json"]) as fh:
        summary = json.load(fh)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lines = [f"calibration of {cfg.name} (seed {args.seed}): {report.frames_used:,} frames, {report.device_time_s:.4g} s of device time, "
             f"{report.wall_time_s:.1f} s wall"]
    lines.append(f"{'quantity':36s} {'estimate':>24s} {'truth':>12s} {'rel. error':>10s}")
    for name, q in summary["quantities"].items():
        est = "-" if q["estimate"] is None else f"{'>= ' if q.get('lower_bound') else ''}{q['estimate']:.4g} +/- {q['uncertainty'] or 0:.2g}"
        rel = q.get("relative_error")
        lines.append(f"{name:36s} {est + ' ' + q['unit']:>24s} {_fmt(q.get('truth')):>12s} {('%+.2f %%' % (100 * rel)) if rel is not None else '-':>10s}")
    for step, status in summary["steps"].items():
        if status != "ok":
            lines.append(f"step {step}: {status}")
    lines.append(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {args.out}")
    print("\n".join(lines))
    return 0
