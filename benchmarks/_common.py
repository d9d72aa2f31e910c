"""Shared helpers of the benchmark scripts: timing, machine description, JSON output."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"
#: Default output of a benchmark run: a new folder ``runs/bench/<date-time>`` at the repository
#: root (ignored by git). The checked-in reference results in ``RESULTS`` change only on purpose
#: (``--out-dir benchmarks/results`` or ``photonics bench --update-reference``).
RUNS = Path(__file__).resolve().parent.parent / "runs" / "bench"
_RUN_DIR: Path | None = None
#: Environment variables that change how thread pools behave (recorded with every result).
_THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "MKL_NUM_THREADS")


def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls after ``warmup`` calls [s]."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_dir() -> Path:
    """This process's run folder ``runs/bench/<date-time>`` (the same for every result it writes)."""
    global _RUN_DIR
    if _RUN_DIR is None:
        _RUN_DIR = RUNS / time.strftime("%Y%m%d-%H%M%S")
    return _RUN_DIR


def load_average() -> list | None:
    """The 1, 5 and 15 minute load averages (None where the platform has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def interleaved_times(fns: dict, repeats: int = 15, warmup: int = 2, clock: Callable[[], float] = time.perf_counter) -> dict:
    """Times of several callables measured in turn, round-robin, ``repeats`` times each.

    Interleaving puts every candidate under the same background load (the machine may be
    shared); compare them through ratios of medians. ``clock`` is the wall clock by default;
    ``time.thread_time`` measures the CPU time of the calling thread instead, which other jobs
    on a shared machine disturb much less (it counts all the work only when BLAS and numba run
    on one thread, in the calling thread). Returns, per name, the median, the quartiles, the
    minimum and maximum and the raw samples [s].
    """
    import numpy as np

    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = clock()
            fn()
            samples[k].append(clock() - t0)
    out = {}
    for k, v in samples.items():
        a = np.asarray(v)
        out[k] = {
            "median_s": float(np.median(a)),
            "q25_s": float(np.quantile(a, 0.25)),
            "q75_s": float(np.quantile(a, 0.75)),
            "min_s": float(a.min()),
            "max_s": float(a.max()),
            "samples_s": [float(t) for t in a],
        }
    return out


def machine() -> dict:
    """What the numbers were measured on."""
    import numba
    import numpy as np

    from photonics.thread_defaults import settings as thread_settings

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "load_average_1_5_15min": load_average(),
        "env": {k: os.environ[k] for k in _THREAD_ENV if k in os.environ},
        # the thread settings of `import photonics`, and those it made too late to take effect
        "photonics_thread_defaults": thread_settings(),
    }


class MachineProbe:
    """Two fixed pieces of work timed between the rounds of a benchmark, to see the machine's state.

    On a shared machine (a virtual CPU whose core is shared with other tenants) the speed of
    integer- and table-heavy code can change by more than the load average shows: on the
    2-core AMD EPYC of the figures in docs/, the counter-based Poisson sampler ran up to 1.8x
    slower for minutes at a time while a float32 GEMM slowed by about 10 %. The camera
    kernels are of the first kind and a training step of the second, so such periods move an
    optical / digital ratio. The probe times, each call, the exact Poisson sampler on a fixed
    set of ``n`` means (``photonics.kernels.poisson_numba``, the camera's arithmetic) and a
    float32 GEMM of ``gemm_n`` cubed; both are best of ``repeats`` [s].
    """

    def __init__(self, n: int = 8192, gemm_n: int = 192, repeats: int = 3):
        import numpy as np

        from photonics import kernels

        rng = np.random.default_rng(20)
        # speckle-like means: exponential intensities, 1 to a few thousand electrons
        self._lam = rng.exponential(300.0, n)
        self._key = np.full(n, 0x5EED, dtype=np.uint64)
        self._cnt = np.arange(n, dtype=np.int64)
        self._a = rng.standard_normal((gemm_n, gemm_n)).astype(np.float32)
        self._poisson = kernels.poisson_numba
        self._repeats = repeats
        self._poisson(self._key, self._cnt, self._lam)  # compile / load

    def __call__(self) -> tuple[float, float]:
        """(sampler seconds, GEMM seconds), best of the repeats."""
        a = self._a
        tp = best_time(lambda: self._poisson(self._key, self._cnt, self._lam), repeats=self._repeats, warmup=0)
        tg = best_time(lambda: a @ a, repeats=self._repeats, warmup=0)
        return tp, tg


def checked_out_dir(out_dir: str | os.PathLike | None) -> Path:
    """The output folder, checked (and created) before the work: ``out_dir`` or this process's
    run folder (:func:`run_dir`, its parent ``runs/bench`` created as needed). An existing
    folder is allowed (the reference results are updated with ``--out-dir benchmarks/results``);
    a file, a missing parent or an unwritable location raise a one-line error."""
    from photonics.instrument import check_output_dir

    if not out_dir:
        run_dir().parent.mkdir(parents=True, exist_ok=True)
    return check_output_dir(out_dir or run_dir(), option="--out-dir", allow_existing=True)


def run_as_instrument(script: str, out_dir: str | os.PathLike | None, work: Callable[[Path], int | None]) -> int:
    """Run a benchmark's ``work(folder)`` the way the suite's commands run; returns the exit status.

    The options are checked by the parser (:func:`photonics.instrument.script_parser`), the
    output folder before the work (:func:`checked_out_dir`), all within
    :func:`photonics.instrument.run_script`: an unusable folder, an invalid size the library
    refuses or a file-system error (read-only folder, full disk) end with one line
    ``<script>: error: ...`` on stderr and status 2; Ctrl-C or SIGTERM (also when it surfaces
    inside a numba kernel) with one line ``<script>: interrupted`` and status 130, after a line
    naming the results this run already wrote, if any. Results are written atomically, so
    nothing is left half-written; a run folder this call created and left empty is removed.
    """
    from photonics.instrument import run_script

    folder = Path(out_dir) if out_dir else run_dir()
    existed = folder.exists() if out_dir else False

    def stamps() -> dict:  # what this run writes: new or replaced files (atomic writes replace the inode)
        out = {}
        for p in folder.iterdir() if folder.is_dir() else ():
            if p.is_file():
                st = p.stat()
                out[p.name] = (st.st_ino, st.st_mtime_ns)
        return out

    before: dict = {}

    def checked_work():
        checked_out_dir(out_dir)  # before the work
        before.update(stamps())
        return work(folder)

    def tidy() -> None:  # an interrupted or failed run leaves no empty folder of its own
        if not existed:
            try:
                folder.rmdir()
            except OSError:
                pass

    def kept() -> str:
        written = sorted(name for name, stamp in stamps().items() if before.get(name) != stamp)
        return f"{script}: finished results kept in {folder}: {', '.join(written)}" if written else ""

    return run_script(script, checked_work, cleanup=tidy, kept=kept)


def write_json(name: str, data: dict, out_dir: str | os.PathLike | None = None) -> Path:
    """Write ``data`` to ``<out_dir>/<name>.json`` atomically (default: this process's run folder, :func:`run_dir`)."""
    d = Path(out_dir) if out_dir else run_dir()
    d.mkdir(parents=True, exist_ok=True)
    from photonics.io import write_json_atomic

    return write_json_atomic(d / f"{name}.json", data)


# --------------------------------------------------------------------------------------------
# conventions of the benchmark suite run by ``photonics bench``
# --------------------------------------------------------------------------------------------
#: Scripts that call add_common_arguments() take --quick / --out-dir / --repeats and are
#: discovered by ``photonics bench``; each writes ``<name>.json`` with a ``checks`` list.


def add_common_arguments(ap) -> None:
    """--quick (small sizes, for smoke tests), --out-dir, --repeats."""
    from photonics.instrument import positive_int

    ap.add_argument("--quick", action="store_true", help="small sizes: checks that the script runs, figures are not meaningful")
    ap.add_argument("--out-dir", default=None, help="folder for the JSON result (default runs/bench/<date-time>; "
                    "benchmarks/results holds the checked-in reference results)")
    ap.add_argument("--repeats", type=positive_int, default=3, help="timed repeats per measurement (best is kept)")


def check(name: str, value: float, target: float, op: str = ">=") -> dict:
    """A target check recorded in the JSON and summarised by ``photonics bench``."""
    import math

    ok = (value >= target) if op == ">=" else (value <= target)
    return {"name": name, "value": float(value), "target": float(target), "op": op, "met": bool(ok and not math.isnan(value))}


def adaptive_time(fn: Callable[[], object], repeats: int = 3, long_s: float = 2.0) -> float:
    """Best wall time [s] of ``repeats`` calls after one warm-up call (1 call if the warm-up took > ``long_s``)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    return best_time(fn, repeats=1 if first > long_s else max(1, repeats), warmup=0)


def finish(name: str, res: dict, out_dir, lines: list[str]) -> Path:
    """Attach the machine, write ``<name>.json``, print the lines and the checks."""
    res.setdefault("machine", machine())
    path = write_json(name, res, out_dir)
    for line in lines:
        print(line)
    for c in res.get("checks", []):
        status = "met" if c["met"] else "NOT met"
        print(f"  check {c['name']}: {c['value']:.4g} (target {c['op']} {c['target']:g}) -> {status}")
    print(f"  -> {path}")
    return path
