"""A noise sweep: optical-DFA test accuracy against the photons each camera pixel receives.

Shot noise is set by the light: the sweep lowers the laser power of the ``lab-cmos`` device
(7 e- read noise, 8-bit ADC) so that a camera pixel receives a given mean number of photons
per frame (for a half-ON input frame, ``photonics.budget.noise_budget``), and trains the same
MLP on scikit-learn's digits with optical DFA at each level, with BP and digital DFA as
references. It uses issue 7's sweep machinery (:func:`dfa.studies.sweep.run_sweep`): each run
streams into ``<out>/noise_sweep/results.jsonl`` as it finishes, and running the script
again resumes (finished runs are skipped). The same study from the shell, at full size:
``dfa sweep data/sweeps/photons_digits.toml``.

Writes ``noise_sweep.png`` (accuracy vs photons per pixel, mean and seed spread) to --out,
and the sweep's own plots to ``<out>/noise_sweep/plots``.

Run:  python examples/noise_sweep.py [--out examples/output] [--workers N] [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from dfa.studies.sweep import format_summary, run_sweep, spec_from_dict
from photonics.instrument import check_output_dir, finish_process, positive_float, positive_int, run_script, script_parser, warn_no_effect
from photonics.plotting import new_figure, save_figure


def make_spec(photons, seeds, epochs: int, hidden: list[int], device: str):
    """The sweep spec (what ``dfa sweep SPEC.toml`` reads), as a dict."""
    return spec_from_dict(
        {
            "sweep": {"name": "noise_sweep", "seeds": list(seeds), "metric": "accuracy", "privacy_delta": False},
            "base": {
                "dataset": "digits",
                "methods": ["bp", "dfa", "optical-dfa"],
                "epochs": epochs,
                "align_every": 0,
                "model_options": {"hidden": list(hidden)},
                "feedback": {"opu": device},
            },
            "parameters": {"photons_per_pixel": list(photons)},
        }
    )


def main(argv=None) -> dict:
    ap = script_parser(Path(__file__).name, __doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "output"), help="folder for the figure and the store (default examples/output)")
    ap.add_argument("--photons", type=positive_float, nargs="+", default=[1, 3, 10, 30, 100, 1000], help="mean photons per pixel per frame")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=positive_int, default=10)
    ap.add_argument("--hidden", type=positive_int, nargs="+", default=[128, 128])
    ap.add_argument("--device", default="lab-cmos", help="optical device preset or TOML")
    ap.add_argument("--workers", type=int, default=0, help="Dask worker processes (0: run serially in this process)")
    ap.add_argument("--quick", action="store_true", help="2 levels, 2 epochs of a small MLP (a smoke run)")
    args = ap.parse_args(argv)
    if args.workers < 0:
        ap.error(f"argument --workers: must be an integer >= 0 (got {args.workers})")
    if args.quick:
        warn_no_effect(argv, ("--photons", "--epochs", "--hidden"), "with --quick (10 and 1000 photons, 2 epochs, MLP 64-64)")
        args.photons, args.epochs, args.hidden = [10, 1000], 2, [64, 64]
    out = check_output_dir(args.out, option="--out", allow_existing=True, create=False)  # checked before the work
    t0 = time.perf_counter()

    spec = make_spec(args.photons, args.seeds, args.epochs, args.hidden, args.device)
    # the sweep's store creates the folders once the spec is checked
    outcome = run_sweep(spec, out / "noise_sweep", serial=args.workers == 0, workers=args.workers or None, progress=False, announce=print)
    summary = outcome.summary
    print(format_summary(summary))

    curves: dict[str, list] = {}
    for g in summary["groups"]:
        curves.setdefault(g["method"], []).append((g["assignment"]["photons_per_pixel"], g["mean"], g["sd"] or 0.0))
    fig, ax = new_figure(figsize=(6.4, 4.4))
    for i, (method, pts) in enumerate(sorted(curves.items())):
        pts.sort()
        x, m, s = (np.array(v, dtype=float) for v in zip(*pts))
        if summary["methods"][method]["reference"]:
            ax.axhline(m.mean(), color=f"C{i}", ls="--", label=f"{method} (no optics)")
        else:
            ax.semilogx(x, m, "o-", color=f"C{i}", label=method)
            ax.fill_between(x, m - s, m + s, color=f"C{i}", alpha=0.2)
    ax.set_xlabel("mean photons per camera pixel per frame")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"digits, MLP {args.hidden}, {args.epochs} epochs, {len(args.seeds)} seed(s)")
    ax.legend(fontsize=8)
    fig_path = save_figure(fig, out / "noise_sweep.png")
    print(f"ran {outcome.ran} runs, skipped {outcome.skipped} already stored; wrote {fig_path}\ndone in {time.perf_counter() - t0:.1f} s")
    return {"curves": curves, "ran": outcome.ran, "skipped": outcome.skipped, "figures": [str(fig_path)] + [str(p) for p in outcome.plots]}


if __name__ == "__main__":
    sys.exit(finish_process(run_script(Path(__file__).name, main)))
