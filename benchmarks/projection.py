"""Projection throughput, measured side by side in one process.

For a batch of binary inputs (default 1024 x 8192 -> 8192 outputs) it times

* ``gemm``: a plain float32 GEMM of the same real work, X (B x n_in) @ [Re T^T | Im T^T]
  (n_in x 2 n_out): the machine's limit for this projection;
* ``noiseless``: ``OPU.project`` on the ideal device (DMD -> medium -> |.|^2 -> camera
  stage with every noise switched off);
* ``noisy``: ``OPU.project`` with the full camera chain (shot, dark, read noise, PRNU/DSNU,
  full well, 8-bit ADC) of the lab-cmos preset;
* ``complex_matmul``: the straightforward baseline of existing simulators,
  np.abs(X @ T) ** 2 with T complex64 (n_in x n_out);

and reports each as throughput relative to the GEMM (targets: noiseless >= 0.9, noisy >=
0.75) and the speed-up over the complex-matmul baseline (target >= 1.6x).

    python benchmarks/projection.py [--n-in 8192 --n-out 8192 --batch 1024 --repeats 3] [--quick]

``--quick`` runs 512 x 512 with a batch of 64 (a smoke test; the ratios are not meaningful).
The grid over sizes and batches is ``benchmarks/projection_grid.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, check, machine, write_json  # noqa: E402

log = logging.getLogger("benchmarks.projection")


def run(n_in: int, n_out: int, batch: int, repeats: int, seed: int = 0) -> dict:
    from photonics import OPU, DeviceConfig

    rng = np.random.default_rng(seed)
    x = (rng.random((batch, n_in)) < 0.5).astype(np.uint8)
    ideal = OPU(DeviceConfig.preset("ideal", n_in=n_in, n_out=n_out, medium__storage="dense"), seed=seed)
    noisy = OPU(DeviceConfig.preset("lab-cmos", n_in=n_in, n_out=n_out, medium__storage="dense"), seed=seed)
    w = ideal.medium._w  # the same real matrix (n_in, 2 n_out) the projection multiplies
    xf = x.astype(np.float32)
    t_c = (w[:, :n_out] + 1j * w[:, n_out:]).astype(np.complex64)  # T^T, complex64

    times = {
        "gemm": best_time(lambda: xf @ w, repeats),
        "noiseless": best_time(lambda: ideal.project(x), repeats),
        "noisy": best_time(lambda: noisy.project(x), repeats),
        "complex_matmul": best_time(lambda: np.abs(xf @ t_c) ** 2, repeats),
    }
    flops = 2.0 * batch * n_in * 2 * n_out  # real multiply-adds of the GEMM-equivalent work
    res = {
        "sizes": {"n_in": n_in, "n_out": n_out, "batch": batch},
        "seconds": times,
        "gemm_gflops": flops / times["gemm"] / 1e9,
        "noiseless_vs_gemm": times["gemm"] / times["noiseless"],
        "noisy_vs_gemm": times["gemm"] / times["noisy"],
        "speedup_vs_complex_matmul": times["complex_matmul"] / times["noiseless"],
        "targets": {"noiseless_vs_gemm": 0.9, "noisy_vs_gemm": 0.75, "speedup_vs_complex_matmul": 1.6},
        "machine": machine(),
    }
    res["checks"] = [
        check("noiseless_vs_gemm", res["noiseless_vs_gemm"], 0.9),
        check("noisy_vs_gemm", res["noisy_vs_gemm"], 0.75),
        check("speedup_vs_complex_matmul", res["speedup_vs_complex_matmul"], 1.6),
    ]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-in", type=int, default=8192)
    ap.add_argument("--n-out", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out-dir", default=None, help="folder for projection.json (default benchmarks/results)")
    ap.add_argument("--quick", action="store_true", help="512 x 512, batch 64, 1 repeat (smoke test)")
    a = ap.parse_args(argv)
    if a.quick:
        a.n_in, a.n_out, a.batch, a.repeats = 512, 512, 64, 1
    res = run(a.n_in, a.n_out, a.batch, a.repeats)
    res["quick"] = bool(a.quick)
    path = write_json("projection", res, a.out_dir)
    s = res["seconds"]
    print(f"projection {a.batch} x {a.n_in} -> {a.n_out} on {res['machine']['cpu']} ({res['machine']['cores']} cores)")
    print(f"  float32 GEMM (same real work)   {s['gemm']:.3f} s  ({res['gemm_gflops']:.0f} GFLOP/s)")
    print(f"  OPU.project noiseless           {s['noiseless']:.3f} s  -> {res['noiseless_vs_gemm']:.3f} of GEMM (target >= 0.9)")
    print(f"  OPU.project full camera noise   {s['noisy']:.3f} s  -> {res['noisy_vs_gemm']:.3f} of GEMM (target >= 0.75)")
    print(f"  np.abs(X @ T_complex64)**2      {s['complex_matmul']:.3f} s  -> ours is {res['speedup_vs_complex_matmul']:.2f}x faster (target >= 1.6x)")
    print(f"  -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
