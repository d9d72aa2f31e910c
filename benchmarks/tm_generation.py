"""Transmission-matrix generation: numba counter-based Gaussians vs numpy's default generator.

Times the generation of one TM block of ``rows x cols`` complex entries (2 rows cols float32
normals, split layout) by

* ``numba``: :func:`photonics.kernels.gaussian_block_numba` (what the procedural medium uses);
* ``numba_fast``: :func:`photonics.kernels.gaussian_block_fast_numba` (same numbers, the
  ziggurat's accept path inlined);
* ``numpy_f32`` / ``numpy_f64``: ``np.random.default_rng().standard_normal(size, dtype)`` of
  the same count (PCG64 + ziggurat, one thread);

with all numba threads and with one thread (numpy's generator is single-threaded; the
counter-based one parallelises because each entry is a pure function of its coordinates).
Target: numba generation >= 2x numpy's (float32), with all threads.

    python benchmarks/tm_generation.py [--rows 1024 --cols 8192] [--quick]
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


def run(rows: int, cols: int, repeats: int, seed: int = 0) -> dict:
    import numba

    from photonics import kernels as K
    from photonics.rng import stream_key

    key = np.uint64(stream_key(seed, "benchmark", "tm"))
    out = np.empty((cols, 2 * rows), dtype=np.float32)
    n = out.size
    gen = np.random.default_rng(seed)
    same = np.empty_like(out)
    K.gaussian_block_numba(key, 0, rows, 0, cols, 0.5, out)
    K.gaussian_block_fast_numba(key, 0, rows, 0, cols, 0.5, same)
    identical = bool(np.array_equal(out, same))
    threads_all = numba.get_num_threads()
    res = {"rows": rows, "cols": cols, "normals": n, "kernels_identical": identical, "numba_threads": threads_all}
    t = {
        "numpy_f32": adaptive_time(lambda: gen.standard_normal(n, dtype=np.float32), repeats),
        "numpy_f64": adaptive_time(lambda: gen.standard_normal(n), repeats),
        "numba": adaptive_time(lambda: K.gaussian_block_numba(key, 0, rows, 0, cols, 0.5, out), repeats),
        "numba_fast": adaptive_time(lambda: K.gaussian_block_fast_numba(key, 0, rows, 0, cols, 0.5, out), repeats),
    }
    try:
        numba.set_num_threads(1)
        t["numba_1thread"] = adaptive_time(lambda: K.gaussian_block_numba(key, 0, rows, 0, cols, 0.5, out), repeats)
        t["numba_fast_1thread"] = adaptive_time(lambda: K.gaussian_block_fast_numba(key, 0, rows, 0, cols, 0.5, out), repeats)
    finally:
        numba.set_num_threads(threads_all)
    res["seconds"] = t
    res["normals_per_s"] = {k: n / v for k, v in t.items()}
    base = t["numpy_f32"]
    res["vs_numpy_f32"] = {k: base / v for k, v in t.items() if k.startswith("numba")}
    return res


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--rows", type=positive_int, default=1024)
    ap.add_argument("--cols", type=positive_int, default=8192)
    add_common_arguments(ap)
    a = ap.parse_args(argv)
    if a.quick:
        warn_no_effect(argv, ("--rows", "--cols", "--repeats"), "with --quick (64 x 1024, 1 repeat)")
        a.rows, a.cols, a.repeats = 64, 1024, 1
    return run_as_instrument("tm_generation.py", a.out_dir, lambda folder: _measure(a, folder))


def _measure(a, folder: Path) -> int:
    from photonics.validation import check_allocation

    # peak: two float32 copies of the complex block and numpy's float64 normals of the same count
    check_allocation(48.0 * a.rows * a.cols, f"--rows {a.rows} x --cols {a.cols}", "lower --rows or --cols")
    print(f"TM generation, {a.rows} x {a.cols} complex entries, on {machine()['cpu']}", flush=True)
    res = run(a.rows, a.cols, a.repeats)
    res["quick"] = bool(a.quick)
    v = res["vs_numpy_f32"]
    res["checks"] = [
        check("numba_fast vs numpy float32 (all threads)", v["numba_fast"], 2.0),
        check("numba (medium's kernel) vs numpy float32 (all threads)", v["numba"], 2.0),
        check("fast kernel == medium's kernel (bit-identical)", float(res["kernels_identical"]), 1.0),
    ]
    lines = [f"  {k:<20} {res['seconds'][k] * 1e3:9.2f} ms  {res['normals_per_s'][k] / 1e6:8.1f} M normals/s" for k in res["seconds"]]
    lines += [f"  {k} / numpy float32: {x:.2f}x" for k, x in v.items()]
    finish("tm_generation", res, folder, lines)
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
