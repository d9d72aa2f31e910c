"""Shared helpers of the benchmark scripts: timing, machine description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"
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


def machine() -> dict:
    """What the numbers were measured on."""
    import numba
    import numpy as np

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
        "env": {k: os.environ[k] for k in _THREAD_ENV if k in os.environ},
    }


def write_json(name: str, data: dict, out_dir: str | os.PathLike | None = None) -> Path:
    """Write ``data`` to ``<out_dir or benchmarks/results>/<name>.json`` atomically."""
    d = Path(out_dir) if out_dir else RESULTS
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
    ap.add_argument("--quick", action="store_true", help="small sizes: checks that the script runs, figures are not meaningful")
    ap.add_argument("--out-dir", default=None, help="folder for the JSON result (default benchmarks/results)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (best is kept)")


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
