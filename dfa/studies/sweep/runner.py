"""Running the points of a sweep: one training run per point, serially or on Dask distributed.

:func:`run_point` is what a worker executes: it trains one method with one configuration
(:func:`dfa.trainer.train.train_method`), computes the privacy report of optical runs
(:func:`dfa.studies.privacy.run_privacy`) and returns the complete record. It never writes files:
the driver (:func:`execute`) appends each record to the store as it arrives, so a worker
killed mid-point loses only that point (Dask reschedules it on another worker) and the
records already written stay untouched.

Execution: ``client=None`` runs the points one after the other in this process; with a
``distributed.Client`` (a LocalCluster of worker processes, or an existing scheduler) they run
as independent tasks, as many at a time as the cluster has task threads. Results do not
depend on where a point runs: the thread counts of torch, numba and BLAS are pinned per point
(``threads``, default 1) and every random stream derives from the point's seed, so a sweep
over 2 workers gives the same numbers as a serial one.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import time
from typing import Callable

from photonics.errors import PhotonicsError
from photonics.instrument import is_interrupt, raise_if_interrupted

log = logging.getLogger(__name__)

__all__ = ["run_point", "execute", "SweepError", "local_cluster_size", "record_differences"]

_DATA_CACHE: dict = {}
#: record fields that legitimately differ between two executions of the same point (and any
#: key ending in ``wall_s``)
VOLATILE_FIELDS = ("wall_s", "host", "pid", "started_at", "finished_at", "worker")


class SweepError(PhotonicsError, RuntimeError):
    """Some points of a sweep failed unexpectedly (the others are in the store)."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _data(cfg):
    import json

    from dfa.zoo.data import load_dataset

    key = json.dumps([cfg.dataset, cfg.dataset_options], sort_keys=True)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one data set per worker at a time
        _DATA_CACHE[key] = load_dataset(cfg.dataset, **cfg.dataset_options)
    return _DATA_CACHE[key]


def _restore_threads(prev: dict) -> None:
    import numba
    import torch

    torch.set_num_threads(prev["torch"])
    numba.set_num_threads(prev["numba"])
    if prev.get("blas"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=prev["blas"], user_api="blas")


def run_point(task: dict) -> dict:
    """Train one point (``Point.task(...)`` payload) and return its record (JSON-able).

    Errors the toolkit raises on purpose (divergence, a device too noisy to calibrate, ...)
    are part of the result: the record gets ``status`` ``"diverged"`` or ``"failed"`` and the
    message. Other exceptions propagate (the point is then not recorded and runs again on the
    next invocation).
    """
    import numpy as np
    import torch

    from dfa.errors import TrainingDivergedError
    from dfa.studies.privacy import json_safe, run_privacy
    from dfa.studies.sweep.store import RECORD_VERSION
    from dfa.trainer.config import TrainConfig
    from dfa.trainer.threads import set_threads
    from dfa.trainer.train import train_method
    from dfa.version import __version__ as dfa_version
    from photonics.version import __version__ as photonics_version

    started = _now()
    prev = set_threads(int(task.get("threads", 1)))
    try:
        cfg = TrainConfig.from_dict(task["config"])
        data = _data(cfg)
        rec = {
            "record_version": RECORD_VERSION,
            "id": task["id"],
            "method": task["method"],
            "seed": task["seed"],
            "config": task["config"],
            "device": task["device"],
            "budget": task["budget"],
            "privacy": None,
            "status": "ok",
            "error": None,
        }
        t0 = time.perf_counter()
        try:
            r = train_method(cfg, task["method"], progress=False, data=data)
        except TrainingDivergedError as exc:
            rec.update(status="diverged", error=str(exc), wall_s=time.perf_counter() - t0)
        except PhotonicsError as exc:
            rec.update(status="failed", error=f"{type(exc).__name__}: {exc}", wall_s=time.perf_counter() - t0)
        else:
            rec.update(
                metrics=r.metrics,
                primary_metric=r.primary_metric,
                steps=r.steps,
                wall_s=r.wall_s,
                optical_frames=r.optical_frames,
                device_time_s=r.device_time_s,
                history=r.history,
                alignment=r.alignment,
                describe=r.describe,
            )
            delta = task.get("privacy_delta")
            if delta is not None:
                try:
                    rep = run_privacy(cfg, r, data, delta=delta)
                except PhotonicsError as exc:  # the run stands; its privacy analysis could not be made
                    rec["privacy"] = {"applicable": False, "reason": f"privacy analysis failed: {type(exc).__name__}: {exc}", "delta": delta}
                else:
                    rec["privacy"] = None if rep is None else rep.to_dict()
        rec.update(
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=started,
            finished_at=_now(),
            threads=int(task.get("threads", 1)),
            versions={"dfa": dfa_version, "photonics": photonics_version, "torch": str(torch.__version__), "numpy": np.__version__},
        )
        return json_safe(rec)
    finally:
        _restore_threads(prev)


def execute(tasks: list[dict], store, *, client=None, runner: Callable[[dict], dict] | None = None, progress: bool = True) -> list[tuple[str, str]]:
    """Run ``tasks`` and append each record to ``store`` as it finishes.

    Returns the (point id, message) of the points that raised an unexpected exception (not
    recorded). ``runner`` replaces :func:`run_point` (it must be picklable for Dask).
    """
    from tqdm.auto import tqdm

    runner = runner or run_point
    errors: list[tuple[str, str]] = []
    bar = tqdm(total=len(tasks), desc="sweep", unit="point", disable=not progress, dynamic_ncols=True)
    try:
        if client is None:
            for t in tasks:
                try:
                    rec = runner(t)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on
                    if is_interrupt(exc):  # an interrupt that surfaced inside a numba kernel: stop, record nothing
                        raise KeyboardInterrupt from exc
                    log.exception("point %s (%s, seed %s) failed", t["id"], t["method"], t["seed"])
                    errors.append((t["id"], f"{type(exc).__name__}: {exc}"))
                else:
                    store.append(rec)
                raise_if_interrupted()  # a Ctrl-C that Python dropped during the point (inside a command)
                bar.update(1)
            return errors
        from distributed import as_completed

        futures = {}
        for t in tasks:
            fut = client.submit(runner, t, pure=False, key=f"dfa-sweep-{t['method']}-{t['id']}-{time.time_ns()}")
            futures[fut] = t
        try:
            for fut in as_completed(list(futures)):
                t = futures[fut]
                try:
                    rec = fut.result()
                except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on
                    log.error("point %s (%s, seed %s) failed: %s", t["id"], t["method"], t["seed"], exc)
                    errors.append((t["id"], f"{type(exc).__name__}: {exc}"))
                else:
                    store.append(rec)
                bar.update(1)
        except BaseException:
            client.cancel(list(futures))
            raise
        return errors
    finally:
        bar.close()


def local_cluster_size(n_points: int, workers: int | None = None) -> int:
    """Workers of the default LocalCluster: the CPUs this process may use, at most one per point."""
    if workers is not None:
        return max(1, int(workers))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_points))


def record_differences(a: dict, b: dict, path: str = "") -> list[str]:
    """Paths where two records differ, ignoring wall times (keys ending in ``wall_s``), hosts and timestamps."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in VOLATILE_FIELDS or str(k).endswith("wall_s"):
                continue
            if k not in a or k not in b:
                out.append(f"{path}{k}")
                continue
            out += record_differences(a[k], b[k], f"{path}{k}.")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [path.rstrip(".")]
        for i, (x, y) in enumerate(zip(a, b)):
            out += record_differences(x, y, f"{path}{i}.")
        return out
    return [] if a == b else [path.rstrip(".")]
