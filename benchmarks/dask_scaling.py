"""Sharded projection on Dask: scaling from 1 to 2 local workers.

Projects a batch through a procedural TM split into row shards that Dask workers regenerate
from the seed (:mod:`photonics.distributed`), on a LocalCluster bound to 127.0.0.1 with
1 and then 2 worker processes (one task thread, one numba thread and one BLAS thread each),
and compares with the single-process procedural projection in this process (numba and BLAS
threads = 1, and = all). Cluster
start-up is excluded (one warm-up projection per cluster); the result of every sharded run is
checked against the single-process one (bit-identical).

    python benchmarks/dask_scaling.py [--n-in 4096 --n-out 16384 --batch 256] [--quick]

``--quick`` uses thread workers (no process start-up) and small sizes.
"""

from __future__ import annotations

import sys
from pathlib import Path

# photonics before numpy: the OpenBLAS thread setting it makes must precede OpenBLAS's start
import photonics  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import adaptive_time, add_common_arguments, check, finish, machine, run_as_instrument  # noqa: E402

from photonics.instrument import finish_process, positive_int, script_parser, warn_no_effect  # noqa: E402


def run(n_in: int, n_out: int, batch: int, repeats: int, processes: bool, workers=(1, 2), seed: int = 0) -> dict:
    import numba

    from photonics import DeviceConfig
    from photonics.distributed import local_client, sharded_opu
    from photonics.medium import GaussianMedium, medium_seed

    cfg = DeviceConfig.preset("ideal", n_in=n_in, n_out=n_out, medium__storage="procedural")
    ms = medium_seed(cfg, seed)
    x = (np.random.default_rng(seed).random((batch, n_in)) < 0.5).astype(np.float32)
    single = GaussianMedium(n_in, n_out, ms, n_cols=cfg.n_modes_total, procedural=True, block_rows=cfg.medium.block_rows)
    ref = single.split_field(x)
    from threadpoolctl import threadpool_limits

    t = {}
    all_threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        with threadpool_limits(limits=1, user_api="blas"):
            t["single_process_1thread"] = adaptive_time(lambda: single.split_field(x), repeats)
    finally:
        numba.set_num_threads(all_threads)
    t[f"single_process_{all_threads}threads"] = adaptive_time(lambda: single.split_field(x), repeats)
    identical = {}
    for w in workers:
        with local_client(w, threads_per_worker=1, processes=processes) as client:
            opu = sharded_opu(cfg, seed, client=client, rows_per_task=max(cfg.medium.block_rows, n_out // (4 * w)), numba_threads=1, blas_threads=1)
            med = opu.medium
            y = med.split_field(x)  # warm-up (imports and numba cache loads on the workers)
            identical[w] = bool(np.array_equal(y, ref))
            t[f"dask_{w}workers"] = adaptive_time(lambda: med.split_field(x), repeats)
    res = {
        "n_in": n_in,
        "n_out": n_out,
        "batch": batch,
        "processes": processes,
        "seconds": t,
        "identical_to_single_process": identical,
        "gemm_equivalent_gflops": {k: 2.0 * batch * n_in * 2 * n_out / v / 1e9 for k, v in t.items()},
    }
    if 1 in workers and 2 in workers:
        res["speedup_2_vs_1_workers"] = t["dask_1workers"] / t["dask_2workers"]
    res["dask_1worker_vs_single_1thread"] = t["single_process_1thread"] / t["dask_1workers"] if 1 in workers else None
    return res


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--n-in", type=positive_int, default=4096)
    ap.add_argument("--n-out", type=positive_int, default=16384)
    ap.add_argument("--batch", type=positive_int, default=256)
    ap.add_argument("--threads", action="store_true", help="thread workers instead of processes")
    add_common_arguments(ap)
    a = ap.parse_args(argv)
    processes = not a.threads
    if a.quick:
        warn_no_effect(argv, ("--n-in", "--n-out", "--batch", "--repeats"), "with --quick (256 -> 1024, batch 16, 1 repeat, thread workers)")
        a.n_in, a.n_out, a.batch, a.repeats, processes = 256, 1024, 16, 1, False
    return run_as_instrument("dask_scaling.py", a.out_dir, lambda folder: _measure(a, processes, folder))


def _measure(a, processes: bool, folder: Path) -> int:
    print(f"sharded projection {a.batch} x {a.n_in} -> {a.n_out} on Dask ({'processes' if processes else 'threads'}), {machine()['cpu']}", flush=True)
    res = run(a.n_in, a.n_out, a.batch, a.repeats, processes)
    res["quick"] = bool(a.quick)
    res["checks"] = [check(f"sharded == single process ({w} workers)", float(ok), 1.0) for w, ok in res["identical_to_single_process"].items()]
    lines = [f"  {k:<28} {v:8.3f} s  ({res['gemm_equivalent_gflops'][k]:6.1f} GFLOP/s GEMM-equivalent)" for k, v in res["seconds"].items()]
    if "speedup_2_vs_1_workers" in res:
        lines.append(f"  2 workers / 1 worker speed-up: {res['speedup_2_vs_1_workers']:.2f}x")
    finish("dask_scaling", res, folder, lines)
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
