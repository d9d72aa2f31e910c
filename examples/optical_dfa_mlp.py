"""Train an MLP with Direct Feedback Alignment whose random feedback runs through the optics.

Three learning rules train the same MLP (same initial weights, same batches) on
scikit-learn's 8x8 digits:

* ``bp``: backpropagation;
* ``dfa``: DFA with a digital Gaussian feedback matrix B (each hidden layer l receives B_l e);
* ``optical-dfa``: DFA whose projection B e is measured on a simulated OPU (``lab-cmos``:
  ternarized error -> DMD frames -> reference-based linear projection -> noisy 8-bit camera),
  with its camera frames and device time accounted.

Writes ``dfa_training.png`` (test accuracy per epoch, and the angle between the DFA and BP
updates of the first hidden layer) to --out and prints the side-by-side table.

Run:  python examples/optical_dfa_mlp.py [--out examples/output] [--epochs 10] [--quick]
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

from dfa import make_config, train_method
from photonics.instrument import check_output_dir, finish_process, positive_int, run_script, script_parser, warn_no_effect
from photonics.plotting import new_figure, save_figure


def main(argv=None) -> dict:
    ap = script_parser(Path(__file__).name, __doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "output"), help="folder for the figure (default examples/output)")
    ap.add_argument("--epochs", type=positive_int, default=10)
    ap.add_argument("--hidden", type=positive_int, nargs="+", default=[256, 256], help="hidden layer widths")
    ap.add_argument("--device", default="lab-cmos", help="optical device preset or TOML (default lab-cmos)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs of a smaller MLP")
    args = ap.parse_args(argv)
    if args.quick:
        warn_no_effect(argv, ("--epochs", "--hidden"), "with --quick (2 epochs, MLP 64-64)")
        args.epochs, args.hidden = 2, [64, 64]
    logging.basicConfig(level=logging.WARNING)
    out = check_output_dir(args.out, option="--out", allow_existing=True, create=False)  # checked before the work
    t0 = time.perf_counter()

    config = make_config(
        "digits",
        epochs=args.epochs,
        seed=args.seed,
        model_options={"hidden": list(args.hidden)},
        methods=("bp", "dfa", "optical-dfa"),
        feedback={"opu": args.device},
    )
    results = {}
    for method in config.methods:
        results[method] = train_method(config, method, progress=False)

    print(f"{'method':12s} {'test accuracy':>14s} {'steps':>6s} {'frames':>8s} {'device time [s]':>16s} {'wall [s]':>9s}")
    for name, r in results.items():
        print(f"{name:12s} {r.metrics['accuracy']:14.3f} {r.steps:6d} {r.optical_frames:8d} {r.device_time_s:16.3f} {r.wall_s:9.1f}")

    fig, (ax, ax2) = new_figure(1, 2, figsize=(10, 4))
    for name, r in results.items():
        ax.plot(r.history["epoch"], r.history["test_accuracy"], "o-", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"MLP {args.hidden} on digits")
    ax.legend()
    for name, r in results.items():
        al = r.alignment
        if al.get("step"):
            angles = np.asarray(al["angle_deg"], dtype=float)
            ax2.plot(al["step"], angles[:, 0], label=f"{name}, {al['segments'][0]}")
    ax2.set_xlabel("step")
    ax2.set_ylabel("angle to the BP update [deg]")
    ax2.set_title("alignment of the first hidden layer")
    ax2.legend(fontsize=8)
    out.mkdir(exist_ok=True)  # created once there is something to write
    fig_path = save_figure(fig, out / "dfa_training.png")
    print(f"wrote {fig_path}\ndone in {time.perf_counter() - t0:.1f} s")
    return {"accuracy": {k: r.metrics["accuracy"] for k, r in results.items()}, "frames": results["optical-dfa"].optical_frames, "figures": [str(fig_path)]}


if __name__ == "__main__":
    sys.exit(finish_process(run_script(Path(__file__).name, main)))
