"""Randomized SVD with the sketch computed by the simulated OPU.

Halko-Martinsson-Tropp: Y = A Omega (here the rows of A go through the optics as bit planes,
and the OPU's linear projection B gives Omega = B^T), Q = orth(Y), optional power iterations
Q <- orth(A orth(A^T Q)) done digitally, then the SVD of the small Q^T A. The script compares,
on a 300 x 200 matrix with singular values 1 / j^1.5,

* the optical sketch on the noiseless ``ideal`` device and on the noisy ``lab-cmos`` one,
  with 0 and 1 power iterations,
* a digital Gaussian sketch (the textbook reference),

by the error ratio ||A - U S V^T||_F / ||A - A_k||_F (1 = as good as the truncated exact SVD)
and the relative error of the singular values, and prints the frames and device time each
optical run cost. Writes ``randsvd.png`` to --out.

Run:  python examples/randsvd.py [--out examples/output] [--rank 20] [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from photonics.instrument import check_output_dir, finish_process, positive_int, run_script, script_parser, warn_no_effect
from photonics.plotting import new_figure, save_figure
from photonics.randnla import randomized_svd
from photonics.rng import generator


def test_matrix(m: int, n: int, decay: float, seed: int) -> np.ndarray:
    """m x n matrix with random singular vectors and singular values j^-decay."""
    rng = generator(seed, "examples", "randsvd")
    u = np.linalg.qr(rng.standard_normal((m, n)))[0]
    v = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (u * np.arange(1, n + 1, dtype=np.float64) ** -decay) @ v.T


def main(argv=None) -> dict:
    ap = script_parser(Path(__file__).name, __doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "output"), help="folder for the figure (default examples/output)")
    ap.add_argument("--rows", type=positive_int, default=300)
    ap.add_argument("--cols", type=positive_int, default=200)
    ap.add_argument("--rank", type=positive_int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a 120 x 80 matrix, rank 10")
    args = ap.parse_args(argv)
    if args.quick:
        warn_no_effect(argv, ("--rows", "--cols", "--rank"), "with --quick (120 x 80, rank 10)")
        args.rows, args.cols, args.rank = 120, 80, 10
    out = check_output_dir(args.out, option="--out", allow_existing=True, create=False)  # checked before the work
    t0 = time.perf_counter()

    a = test_matrix(args.rows, args.cols, 1.5, args.seed)
    s_exact = np.linalg.svd(a, compute_uv=False)
    k = args.rank
    best = float(np.linalg.norm(s_exact[k:]))
    runs = [
        ("gaussian sketch (digital)", dict(sketch="gaussian", power_iterations=0)),
        ("optical, ideal, q=0", dict(device="ideal", power_iterations=0)),
        ("optical, ideal, q=1", dict(device="ideal", power_iterations=1)),
        ("optical, lab-cmos, q=0", dict(device="lab-cmos", power_iterations=0)),
        ("optical, lab-cmos, q=1", dict(device="lab-cmos", power_iterations=1)),
    ]
    print(f"A: {args.rows} x {args.cols}, singular values j^-1.5, rank k = {k}; optimal error ||A - A_k||_F = {best:.4g}")
    print(f"{'sketch':28s} {'error ratio':>11s} {'max sv error':>12s} {'frames':>7s} {'device time [s]':>15s}")
    results = {}
    for name, kw in runs:
        u, s, vt, rep = randomized_svd(a, k, seed=args.seed, return_report=True, **kw)
        ratio = float(np.linalg.norm(a - (u * s) @ vt) / best)
        sv_err = float(np.max(np.abs(s - s_exact[:k]) / s_exact[:k]))
        results[name] = {"ratio": ratio, "sv_error": sv_err, "s": s, "frames": rep.frames, "device_time_s": rep.device_time_s}
        print(f"{name:28s} {ratio:11.4f} {sv_err:12.2e} {rep.frames:7d} {rep.device_time_s:15.3f}")

    fig, (ax, ax2) = new_figure(1, 2, figsize=(10, 4))
    j = np.arange(1, k + 1)
    ax.semilogy(np.arange(1, min(3 * k, s_exact.size) + 1), s_exact[: 3 * k], "k-", label="exact")
    for name, r in results.items():
        ax.semilogy(j, r["s"], "o", ms=3, label=name)
    ax.set_xlabel("index j")
    ax.set_ylabel("singular value")
    ax.set_title(f"rank-{k} randomized SVD")
    ax.legend(fontsize=7)
    names = list(results)
    ax2.barh(range(len(names)), [results[n]["ratio"] for n in names], color=[f"C{i}" for i in range(len(names))])
    ax2.axvline(1.0, color="k", ls="--")
    ax2.set_yticks(range(len(names)), names, fontsize=8)
    ax2.set_xlabel("||A - U S V^T||_F / ||A - A_k||_F")
    ax2.set_title("error against the optimum (1)")
    out.mkdir(exist_ok=True)  # created once there is something to write
    fig_path = save_figure(fig, out / "randsvd.png")
    print(f"wrote {fig_path}\ndone in {time.perf_counter() - t0:.1f} s")
    return {"optimal_error": best, "runs": {n: {kk: v for kk, v in r.items() if kk != "s"} for n, r in results.items()}, "figures": [str(fig_path)]}


if __name__ == "__main__":
    sys.exit(finish_process(run_script(Path(__file__).name, main)))
