"""``dfa sweep``: noise-impact studies, one training run per parameter combination x seed x method.

    dfa sweep data/sweeps/photons_digits.toml --out runs/photons      # run (or resume) a sweep
    dfa sweep --plot runs/photons                                     # redraw plots from the store
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="sweep device/training parameters (Dask), crash-safe results store, plots, privacy",
        description="Train one run per parameter combination x seed x method of a sweep spec (TOML; example: "
        "data/sweeps/photons_digits.toml), on a local Dask cluster by default, streaming each finished run into "
        "DIR/results.jsonl. Rerunning the same command skips finished runs. Prints the table and writes "
        "DIR/plots/*.png.",
    )
    p.add_argument("spec", nargs="?", metavar="SPEC.toml", help="the sweep spec")
    p.add_argument("--out", metavar="DIR", help="store folder (default runs/sweeps/<spec name>)")
    p.add_argument("--plot", metavar="DIR", help="only rebuild the summary and the plots of the store DIR")
    g = p.add_argument_group("execution")
    g.add_argument("--workers", type=int, help="worker processes of the local Dask cluster (default: available CPUs)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    g.add_argument("--serial", action="store_true", help="no Dask: run the points one after the other in this process")
    g.add_argument("--retry-failed", action="store_true", help="run again the points recorded as diverged or failed")
    g.add_argument("--dry-run", action="store_true", help="validate the spec and print the plan; train nothing")
    g.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from dfa.studies.sweep import format_summary, load_spec, plan_sweep, replot, run_sweep
    from photonics.errors import ConfigError
    from photonics.instrument import show_progress

    if args.plot:
        if args.spec:
            raise ConfigError("--plot DIR redraws an existing store; do not give a spec with it")
        summary, paths = replot(args.plot)
        print(format_summary(summary))
        for q in paths:
            print(f"plot: {q}")
        return 0
    if not args.spec:
        raise ConfigError("give a sweep spec (e.g. data/sweeps/photons_digits.toml) or --plot DIR")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {args.workers})")
    if sum(bool(x) for x in (args.serial, args.scheduler, args.workers is not None)) > 1:
        raise ConfigError("choose one of --serial, --scheduler ADDRESS and --workers N")
    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    if args.dry_run:
        plan = plan_sweep(spec)
        print(f"sweep {spec.name}: parameters {', '.join(f'{n} ({len(v)} values)' for n, v in spec.parameters) or 'none'}, "
              f"mode {spec.mode}, seeds {list(spec.seeds)}")
        print(f"{len(plan.cells)} cells -> {len(plan.points)} runs ({sum(p.optical for p in plan.points)} optical)")
        for pt in plan.points:
            extra = ""
            if pt.budget:
                extra = f"  photons/pixel {pt.budget['photons']:.4g}, snr {pt.budget['snr']:.3g}"
            print(f"  {pt.id}  {pt.method:<12} seed {pt.seed}{extra}")
        return 0
    try:
        outcome = run_sweep(
            spec,
            out,
            scheduler=args.scheduler,
            workers=args.workers,
            serial=args.serial,
            retry_failed=args.retry_failed,
            progress=show_progress(not args.no_progress),
            plots=not args.no_plots,
            announce=lambda msg: print(f"dfa sweep: {msg}", file=sys.stderr),
        )
    except KeyboardInterrupt:
        print(f"\ndfa sweep: interrupted; finished runs are in {out}; rerun the same command to continue", file=sys.stderr)
        return 130
    print(format_summary(outcome.summary))
    print(f"store: {out}/results.jsonl ({len(outcome.records)} runs; {outcome.ran} run now, {outcome.skipped} reused)")
    for q in outcome.plots:
        print(f"plot: {q}")
    return 0
