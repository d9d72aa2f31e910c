"""Projection throughput over a grid of sizes and batches, against the machine's GEMM.

For each square size n (n_in = n_out = n) and batch B it times, side by side in one process:

* ``gemm``: float32 GEMM of the same real work, X (B x n) @ [Re T^T | Im T^T] (n x 2n);
* ``noiseless``: ``OPU.project`` on the ideal preset (dense TM);
* ``noisy``: ``OPU.project`` with the lab-cmos camera chain (shot, dark, read noise, PRNU,
  DSNU, full well, 8-bit ADC), same medium object;
* ``complex_matmul``: np.abs(X @ T_complex64) ** 2, the baseline of existing simulators;

and reports noiseless / GEMM (target >= 0.9), noisy / noiseless (the cost of the camera chain)
and the speed-up over the complex matmul. Points above ``--max-gflop`` of GEMM work are
skipped to keep the run to a few minutes. Writes ``projection_grid.json`` and
``projection_grid.png``.

    python benchmarks/projection_grid.py [--sizes 1024,4096,16384] [--batches 1,64,512,4096] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

# photonics before numpy: the OpenBLAS thread setting it makes must precede OpenBLAS's start
import photonics  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import adaptive_time, add_common_arguments, check, finish, machine, run_as_instrument  # noqa: E402

from photonics.instrument import finish_process, positive_float, positive_int, positive_int_list, script_parser, warn_no_effect  # noqa: E402


def run(sizes, batches, repeats: int, max_gflop: float, seed: int = 0) -> dict:
    from photonics import OPU, DeviceConfig

    rng = np.random.default_rng(seed)
    points = []
    skipped = []
    for n in sizes:
        ideal = OPU(DeviceConfig.preset("ideal", n_in=n, n_out=n, medium__storage="dense"), seed=seed)
        noisy = OPU(DeviceConfig.preset("lab-cmos", n_in=n, n_out=n, medium__storage="dense"), seed=seed, medium=ideal.medium)
        w = ideal.medium.split_block(slice(0, n), slice(0, n))  # the real matrix (n_in, 2 n_out) the projection multiplies
        t_c = None
        for b in batches:
            flops = 2.0 * b * n * 2 * n
            if flops / 1e9 > max_gflop:
                skipped.append({"n": n, "batch": b, "gflop": flops / 1e9})
                continue
            if t_c is None:
                t_c = (w[:, :n] + 1j * w[:, n:]).astype(np.complex64)
            x = (rng.random((b, n)) < 0.5).astype(np.uint8)
            xf = x.astype(np.float32)
            t = {
                "gemm": adaptive_time(lambda: xf @ w, repeats),
                "noiseless": adaptive_time(lambda: ideal.project(x), repeats),
                "noisy": adaptive_time(lambda: noisy.project(x), repeats),
                "complex_matmul": adaptive_time(lambda: np.abs(xf @ t_c) ** 2, repeats),
            }
            p = {
                "n": n,
                "batch": b,
                "seconds": t,
                "gemm_gflops": flops / t["gemm"] / 1e9,
                "noiseless_vs_gemm": t["gemm"] / t["noiseless"],
                "noisy_vs_gemm": t["gemm"] / t["noisy"],
                "noisy_vs_noiseless": t["noiseless"] / t["noisy"],
                "speedup_vs_complex_matmul": t["complex_matmul"] / t["noiseless"],
            }
            points.append(p)
            print(
                f"  n={n:>6} batch={b:>5}: GEMM {t['gemm'] * 1e3:9.2f} ms ({p['gemm_gflops']:6.1f} GFLOP/s) | "
                f"noiseless {p['noiseless_vs_gemm']:.3f} of GEMM | noisy {p['noisy_vs_gemm']:.3f} of GEMM, "
                f"{p['noisy_vs_noiseless']:.3f} of noiseless | {p['speedup_vs_complex_matmul']:.2f}x complex matmul",
                flush=True,
            )
        ideal = noisy = w = t_c = None  # free the matrices before the next size
    return {"points": points, "skipped": skipped}


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--sizes", type=positive_int_list, default=[1024, 4096, 16384], help="square sizes n (n_in = n_out = n)")
    ap.add_argument("--batches", type=positive_int_list, default=[1, 64, 512, 4096])
    ap.add_argument("--max-gflop", type=positive_float, default=1200.0, help="skip points with more GEMM work than this [GFLOP]")
    ap.add_argument("--large-batch", type=positive_int, default=512, help="checks use the points with batch >= this")
    add_common_arguments(ap)
    a = ap.parse_args(argv)
    sizes, batches = a.sizes, a.batches
    if a.quick:
        warn_no_effect(argv, ("--sizes", "--batches", "--repeats", "--large-batch"), "with --quick (sizes 256,512, batches 1,64, 1 repeat)")
        sizes, batches, a.repeats, a.large_batch = [256, 512], [1, 64], 1, 64
    return run_as_instrument("projection_grid.py", a.out_dir, lambda folder: _measure(a, sizes, batches, folder))


def _measure(a, sizes: list[int], batches: list[int], folder: Path) -> int:
    print(f"projection grid: sizes {sizes}, batches {batches} on {machine()['cpu']}", flush=True)
    res = run(sizes, batches, a.repeats, a.max_gflop)
    res["quick"] = bool(a.quick)
    big = [p for p in res["points"] if p["batch"] >= a.large_batch]
    checks = []
    if big:
        checks.append(check(f"min noiseless_vs_gemm (batch >= {a.large_batch})", min(p["noiseless_vs_gemm"] for p in big), 0.9))
        checks.append(check(f"min speedup_vs_complex_matmul (batch >= {a.large_batch})", min(p["speedup_vs_complex_matmul"] for p in big), 1.6))
        res["noisy_vs_noiseless_large_batch"] = {"min": min(p["noisy_vs_noiseless"] for p in big), "max": max(p["noisy_vs_noiseless"] for p in big)}
    res["checks"] = checks
    out_png = None
    if res["points"]:
        from photonics.plotting.throughput_plots import plot_projection_grid

        out_png = plot_projection_grid(res["points"], folder / "projection_grid.png")
    lines = [f"  skipped (over {a.max_gflop:g} GFLOP): {[(s['n'], s['batch']) for s in res['skipped']]}"] if res["skipped"] else []
    if out_png:
        lines.append(f"  plot: {out_png}")
    finish("projection_grid", res, folder, lines)
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
