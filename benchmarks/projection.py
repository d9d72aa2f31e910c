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

``--table`` measures instead the cases of issue 20 (binary inputs, square n x n devices with a
dense TM), each projection interleaved round-robin with the float32 GEMM of the same work,
``--repeats`` rounds (default 15), median and quartiles, load average before and after:

* ``ideal`` and ``lab-cmos`` at n = 1024, batch 256, and at n = 4096, batch 512: the noisy
  projection relative to the noiseless one (targets: >= 0.8 at 1024/256, >= 0.9 at 4096/512);
* ``ideal`` at batch 32, 64, 128 for n = 1024 and 2048: the projection relative to the GEMM
  (target >= 0.8 from batch 32 up at n >= 1024).

``--cpu-time`` times the calling thread's CPU time instead of the wall clock: on a machine shared
with other jobs it measures the work rather than the waiting, but it counts all the work only on
one thread (``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1``; the script refuses otherwise).

Results go to ``runs/bench/<date-time>/`` (``projection.json`` or ``projection_table.json``)
unless ``--out-dir`` says otherwise.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# photonics before numpy: the OpenBLAS thread setting it makes must precede OpenBLAS's start
import photonics  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import best_time, check, interleaved_times, load_average, machine, run_as_instrument, write_json  # noqa: E402

from photonics.instrument import finish_process, positive_int, script_parser, warn_no_effect  # noqa: E402

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


#: (n, batch, presets) of the issue-20 table; the ideal/GEMM small-batch cases follow.
TABLE = [(1024, 256, ("ideal", "lab-cmos")), (4096, 512, ("ideal", "lab-cmos"))]
SMALL = [(1024, 32), (1024, 64), (1024, 128), (2048, 32), (2048, 64)]


def _case(n: int, batch: int, presets, repeats: int, seed: int, devices: dict, clock=None) -> dict:
    from photonics import OPU, DeviceConfig

    rng = np.random.default_rng(seed + n + batch)
    x = (rng.random((batch, n)) < 0.5).astype(np.uint8)
    if n not in devices:
        devices.clear()
        ideal = OPU(DeviceConfig.preset("ideal", n_in=n, n_out=n, medium__storage="dense"), seed=seed)
        noisy = OPU(DeviceConfig.preset("lab-cmos", n_in=n, n_out=n, medium__storage="dense"), seed=seed, medium=ideal.medium)
        devices[n] = {"ideal": ideal, "lab-cmos": noisy}
    devs = devices[n]
    w = devs["ideal"].medium._w  # the real matrix (n, 2n) the projection multiplies
    xf = x.astype(np.float32)
    fns = {"gemm": lambda: xf @ w}
    for p in presets:
        fns[p] = (lambda d: (lambda: d.project(x)))(devs[p])
    t = interleaved_times(fns, repeats=repeats, **({"clock": clock} if clock else {}))
    med = {k: v["median_s"] for k, v in t.items()}
    res = {"n": n, "batch": batch, "times": t, "median_ms": {k: 1e3 * v for k, v in med.items()}}
    for p in presets:
        res[f"{p}_vs_gemm"] = med["gemm"] / med[p]
    if "lab-cmos" in presets and "ideal" in presets:
        res["lab-cmos_vs_ideal"] = med["ideal"] / med["lab-cmos"]
    return res


def run_table(repeats: int, seed: int = 0, clock=None) -> dict:
    devices: dict = {}
    cases = []
    for n, b, presets in TABLE:
        cases.append(_case(n, b, presets, repeats, seed, devices, clock))
        print(_line(cases[-1]), flush=True)
    for n, b in SMALL:
        cases.append(_case(n, b, ("ideal",), repeats, seed, devices, clock))
        print(_line(cases[-1]), flush=True)
    checks = []
    for c in cases:
        if "lab-cmos_vs_ideal" in c:
            target = 0.8 if (c["n"], c["batch"]) == (1024, 256) else 0.9
            checks.append(check(f"lab-cmos_vs_ideal (n={c['n']}, batch={c['batch']})", c["lab-cmos_vs_ideal"], target))
        else:
            checks.append(check(f"ideal_vs_gemm (n={c['n']}, batch={c['batch']})", c["ideal_vs_gemm"], 0.8))
    return {"cases": cases, "checks": checks, "repeats": repeats}


def _line(c: dict) -> str:
    m = c["median_ms"]
    parts = [f"n={c['n']:>5} batch={c['batch']:>4}: GEMM {m['gemm']:8.2f} ms"]
    for p in ("ideal", "lab-cmos"):
        if p in m:
            parts.append(f"{p} {m[p]:8.2f} ms ({c[p + '_vs_gemm']:.3f} of GEMM)")
    if "lab-cmos_vs_ideal" in c:
        parts.append(f"lab-cmos/ideal {c['lab-cmos_vs_ideal']:.3f}")
    return "  " + " | ".join(parts)


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--n-in", type=positive_int, default=8192)
    ap.add_argument("--n-out", type=positive_int, default=8192)
    ap.add_argument("--batch", type=positive_int, default=1024)
    ap.add_argument("--repeats", type=positive_int, default=None, help="timed repeats (default 3; 15 with --table)")
    ap.add_argument("--out-dir", default=None, help="folder for the JSON result (default runs/bench/<date-time>)")
    ap.add_argument("--quick", action="store_true", help="512 x 512, batch 64, 1 repeat (smoke test)")
    ap.add_argument("--table", action="store_true", help="the cases of issue 20 (see the module docstring)")
    ap.add_argument("--cpu-time", action="store_true", help="with --table: CPU time of the calling thread (one BLAS and numba thread)")
    a = ap.parse_args(argv)
    clock = None
    if a.cpu_time:
        if not a.table:
            warn_no_effect(argv, ("--cpu-time",), "without --table")
        else:
            import time

            import numba
            from threadpoolctl import threadpool_info

            blas = [p.get("num_threads") for p in threadpool_info() if p.get("user_api") == "blas"]
            if numba.get_num_threads() != 1 or any(t != 1 for t in blas):
                ap.error("--cpu-time needs one thread: run with OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1")
            clock = time.thread_time
    if a.table:
        warn_no_effect(argv, ("--n-in", "--n-out", "--batch"), "with --table (its cases are fixed)")
    elif a.quick:
        warn_no_effect(argv, ("--n-in", "--n-out", "--batch", "--repeats"), "with --quick (512 x 512, batch 64, 1 repeat)")
    return run_as_instrument("projection.py", a.out_dir, lambda folder: _measure(a, clock, folder))


def _measure(a, clock, folder: Path) -> int:
    if a.table:
        repeats = a.repeats or (2 if a.quick else 15)
        before = load_average()
        print(f"issue-20 table: median of {repeats} interleaved calls ({'CPU time, 1 thread' if clock else 'wall time'}); "
              f"load average {before} (shared machine: compare ratios)", flush=True)
        res = run_table(repeats, clock=clock)
        res.update(machine=machine(), load_average_before=before, load_average_after=load_average(), quick=bool(a.quick),
                   clock="thread_time" if clock else "perf_counter")
        path = write_json("projection_table", res, folder)
        for c in res["checks"]:
            print(f"  check {c['name']}: {c['value']:.3f} (target >= {c['target']:g}) -> {'met' if c['met'] else 'NOT met'}")
        print(f"  load average after {res['load_average_after']}\n  -> {path}")
        return 0
    a.repeats = a.repeats or 3
    if a.quick:
        a.n_in, a.n_out, a.batch, a.repeats = 512, 512, 64, 1
    res = run(a.n_in, a.n_out, a.batch, a.repeats)
    res["quick"] = bool(a.quick)
    path = write_json("projection", res, folder)
    s = res["seconds"]
    print(f"projection {a.batch} x {a.n_in} -> {a.n_out} on {res['machine']['cpu']} ({res['machine']['cores']} cores)")
    print(f"  float32 GEMM (same real work)   {s['gemm']:.3f} s  ({res['gemm_gflops']:.0f} GFLOP/s)")
    print(f"  OPU.project noiseless           {s['noiseless']:.3f} s  -> {res['noiseless_vs_gemm']:.3f} of GEMM (target >= 0.9)")
    print(f"  OPU.project full camera noise   {s['noisy']:.3f} s  -> {res['noisy_vs_gemm']:.3f} of GEMM (target >= 0.75)")
    print(f"  np.abs(X @ T_complex64)**2      {s['complex_matmul']:.3f} s  -> ours is {res['speedup_vs_complex_matmul']:.2f}x faster (target >= 1.6x)")
    print(f"  -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
