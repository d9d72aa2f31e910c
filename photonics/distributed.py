"""Sharded projections on Dask: TM row blocks regenerated on the workers from the seed.

A procedural :class:`~photonics.medium.GaussianMedium` never stores T: entry (i, j) is a pure
function of (seed, i, j). A projection too large for one machine therefore splits into
*row shards*: each Dask task rebuilds the medium from four integers (n_in, n_out, seed,
n_cols), regenerates its rows of T block by block and returns its slice of the field
``x T[rows]^T``. No matrix is ever shipped; only x (scattered once) and the result rows
travel.

:class:`ShardedGaussianMedium` is a drop-in :class:`~photonics.medium.Medium`: pass it to
:class:`photonics.OPU` and ``project``, ``linear``, the reference calibration and the camera
chain all work unchanged, with the heavy part (the TM generation and the GEMM, and the
column sums of the leaking-mirror and reference fields) running on the cluster. Shards are
aligned to the medium's ``block_rows``, so every worker multiplies exactly the blocks the
single-process procedural medium multiplies: the result is bit-for-bit the single-process
one, whatever the number of workers or the shard size.

Cluster: pass a ``distributed.Client``; :func:`local_client` starts a LocalCluster bound to
the loopback interface (the default of the tests and benchmarks; its HTTP endpoints take a free port). Each task can pin the
number of numba threads it uses (``numba_threads``), to avoid oversubscribing the cores when
several workers share a machine.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Iterator

import numpy as np

from .errors import ValidationError
from .medium.base import as_slice
from .medium.gaussian import GaussianMedium
from .validation import check_int

log = logging.getLogger(__name__)

__all__ = ["ShardedGaussianMedium", "sharded_opu", "local_client", "shard_rows"]


def shard_rows(rows: slice, rows_per_task: int, block_rows: int) -> list[slice]:
    """Split ``rows`` into contiguous shards of about ``rows_per_task`` rows.

    Shard boundaries fall on multiples of ``block_rows`` counted from ``rows.start`` (the
    block grid of the single-process projection), so each shard holds whole blocks.
    """
    per = max(block_rows, (int(rows_per_task) // block_rows) * block_rows)
    return [slice(r0, min(r0 + per, rows.stop)) for r0 in range(rows.start, rows.stop, per)]


# --------------------------------------------------------------------------------------------
# worker tasks (module-level functions: picklable, no closures over the client)
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _thread_limits(numba_threads: int | None, blas_threads: int | None = None):
    """Limit numba's threads (and BLAS's, via threadpoolctl when installed) inside a task."""
    with contextlib.ExitStack() as stack:
        if blas_threads is not None:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
                log.warning("threadpoolctl is not installed: blas_threads=%s ignored", blas_threads)
            else:
                stack.enter_context(threadpool_limits(limits=int(blas_threads), user_api="blas"))
        if numba_threads is not None:
            import numba

            prev = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
            stack.callback(numba.set_num_threads, prev)
        yield


def _medium(spec: tuple) -> GaussianMedium:
    n_in, n_out, seed, n_cols, block_rows = spec
    return GaussianMedium(n_in, n_out, seed, n_cols=n_cols, procedural=True, block_rows=block_rows)


def _split_field_task(spec: tuple, x: np.ndarray, cols: tuple, rows: tuple, numba_threads, blas_threads=None) -> np.ndarray:
    """[Re | Im] of x T[rows, cols]^T on a worker (float32, batch x 2 n_rows)."""
    with _thread_limits(numba_threads, blas_threads):
        return _medium(spec).split_field(x, slice(*cols), slice(*rows))


def _column_sum_task(spec: tuple, cols: tuple, rows: tuple, col_step: int, numba_threads, blas_threads=None) -> np.ndarray:
    """sum_j [Re | Im] T[rows, j] over ``cols`` (float64, 2 n_rows), columns in chunks of ``col_step``.

    The chunks are those of the single-process ``GaussianMedium.column_sum`` over the whole
    row range, so the float64 sums are the same numbers.
    """
    med = _medium(spec)
    r = slice(*rows)
    n_rows = r.stop - r.start
    acc = np.zeros(2 * n_rows, dtype=np.float64)
    with _thread_limits(numba_threads, blas_threads):
        for c0 in range(cols[0], cols[1], col_step):
            c1 = min(c0 + col_step, cols[1])
            acc += med.split_block(r, slice(c0, c1)).sum(axis=0, dtype=np.float64)
    return acc


# --------------------------------------------------------------------------------------------
# the sharded medium
# --------------------------------------------------------------------------------------------


class ShardedGaussianMedium(GaussianMedium):
    """A procedural Gaussian medium whose projections run as row-shard tasks on Dask.

    Same numbers as ``GaussianMedium(n_in, n_out, seed, n_cols=..., procedural=True,
    block_rows=...)``; ``matrix`` (ground truth of small blocks) is computed locally.

    Parameters
    ----------
    n_in, n_out, seed, n_cols, block_rows
        As :class:`~photonics.medium.GaussianMedium`.
    client : distributed.Client
        The cluster to run on.
    rows_per_task : int, optional
        Rows of T per task (rounded down to a multiple of ``block_rows``, at least one
        block). Default: n_out split evenly over twice the workers' total threads.
    numba_threads : int, optional
        numba threads per task (default: leave the worker's setting).
    blas_threads : int, optional
        BLAS threads per task, through threadpoolctl (default: leave the worker's setting).
        With several workers per machine, ``numba_threads = blas_threads = 1`` per task
        thread avoids oversubscribing the cores.
    """

    def __init__(self, n_in: int, n_out: int, seed: int, *, client, n_cols: int | None = None, block_rows: int = 0, rows_per_task: int | None = None, numba_threads: int | None = None, blas_threads: int | None = None):
        super().__init__(n_in, n_out, seed, n_cols=n_cols, procedural=True, block_rows=block_rows)
        if client is None or not hasattr(client, "submit"):
            raise ValidationError(f"client must be a distributed.Client (got {type(client).__name__})")
        self.client = client
        if rows_per_task is None:
            try:
                threads = sum(client.nthreads().values())
            except Exception:  # pragma: no cover - a client without nthreads()
                threads = 1
            rows_per_task = max(self.block_rows, math.ceil(self.n_out / max(1, 2 * threads)))
        self.rows_per_task = check_int(rows_per_task, "rows_per_task", low=1, error=ValidationError)
        self.numba_threads = None if numba_threads is None else check_int(numba_threads, "numba_threads", low=1, error=ValidationError)
        self.blas_threads = None if blas_threads is None else check_int(blas_threads, "blas_threads", low=1, error=ValidationError)
        self.tasks_run = 0

    @property
    def spec(self) -> tuple:
        """What a worker needs to rebuild the medium: (n_in, n_out, seed, n_cols, block_rows)."""
        return (self.n_in, self.n_out, self.seed, self.n_cols, self.block_rows)

    def split_field(self, x, cols=None, rows=None, time_s: float = 0.0, *, block_order=None):
        """[Re | Im] of x @ T[rows, cols]^T (float32, batch x 2 n_rows), computed by row shards."""
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        self._check_x(x, cols)
        if block_order is not None:
            return super().split_field(x, cols, rows, time_s, block_order=block_order)
        x = np.ascontiguousarray(x, dtype=np.float32)
        shards = shard_rows(rows, self.rows_per_task, self.block_rows)
        xf = self.client.scatter(x, broadcast=True, hash=False) if len(shards) > 1 else x
        futs = [
            self.client.submit(_split_field_task, self.spec, xf, (cols.start, cols.stop), (s.start, s.stop), self.numba_threads, self.blas_threads, pure=False)
            for s in shards
        ]
        parts = self.client.gather(futs)
        self.tasks_run += len(futs)
        n_rows = rows.stop - rows.start
        out = np.empty((x.shape[0], 2 * n_rows), dtype=np.float32)
        for s, p in zip(shards, parts):
            k = s.stop - s.start
            a, b = s.start - rows.start, s.stop - rows.start
            out[:, a:b] = p[:, :k]
            out[:, n_rows + a : n_rows + b] = p[:, k:]
        return out

    def column_sum(self, cols, rows=None, time_s: float = 0.0) -> np.ndarray:
        """sum_j T[rows, j] over ``cols`` (complex128), computed by row shards."""
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        n_rows = rows.stop - rows.start
        col_step = max(1, (1 << 22) // max(1, n_rows))  # the single-process chunking
        shards = shard_rows(rows, self.rows_per_task, self.block_rows)
        futs = [
            self.client.submit(_column_sum_task, self.spec, (cols.start, cols.stop), (s.start, s.stop), col_step, self.numba_threads, self.blas_threads, pure=False)
            for s in shards
        ]
        parts = self.client.gather(futs)
        self.tasks_run += len(futs)
        acc = np.empty(2 * n_rows, dtype=np.float64)
        for s, p in zip(shards, parts):
            k = s.stop - s.start
            a, b = s.start - rows.start, s.stop - rows.start
            acc[a:b] = p[:k]
            acc[n_rows + a : n_rows + b] = p[k:]
        return acc[:n_rows] + 1j * acc[n_rows:]

    def describe(self) -> dict:
        d = super().describe()
        d.update(storage="procedural (sharded on dask)", rows_per_task=self.rows_per_task)
        return d


def sharded_opu(config, seed: int = 0, *, client, rows_per_task: int | None = None, numba_threads: int | None = None, blas_threads: int | None = None, progress: bool = False):
    """A :class:`photonics.OPU` whose medium is a :class:`ShardedGaussianMedium` on ``client``.

    Its outputs equal ``OPU(config, seed).project(x)`` (same medium seed, same pixel maps,
    same noise): the medium is the procedural version of the one ``config`` describes.
    """
    from .config import DeviceConfig
    from .device import OPU
    from .medium import medium_seed
    from .rng import check_seed

    cfg = config if isinstance(config, DeviceConfig) else DeviceConfig.resolve(config)
    if cfg.medium.model != "gaussian":
        raise ValidationError(f"sharded projections need medium.model = 'gaussian' (got {cfg.medium.model!r})")
    if getattr(cfg, "modulator", "dmd") != "dmd":
        raise ValidationError(f"sharded projections support the binary DMD only (got modulator {cfg.modulator!r})")
    if getattr(cfg.medium, "decorrelation_time_s", None) not in (None, float("inf")):
        raise ValidationError("sharded projections need a static medium (medium.decorrelation_time_s is set: the medium drifts)")
    seed = check_seed(seed)
    med = ShardedGaussianMedium(
        cfg.n_in,
        cfg.n_out,
        medium_seed(cfg, seed),
        client=client,
        n_cols=cfg.n_modes_total,
        block_rows=cfg.medium.block_rows,
        rows_per_task=rows_per_task,
        numba_threads=numba_threads,
        blas_threads=blas_threads,
    )
    return OPU(cfg, seed, medium=med, progress=progress)


@contextlib.contextmanager
def local_client(n_workers: int = 2, *, threads_per_worker: int = 1, processes: bool = False, memory_limit="auto", quiet: bool = True) -> Iterator:
    """A ``distributed.Client`` on a LocalCluster bound to 127.0.0.1; closed on exit.

    Parameters
    ----------
    n_workers : int
        Workers.
    threads_per_worker : int
        Task threads per worker.
    processes : bool
        Worker processes (True: real parallelism for GIL-holding code, slower to start) or
        threads of this process (False).
    memory_limit : str or int
        Per-worker memory limit passed to Dask.
    quiet : bool
        Raise the ``distributed`` loggers to WARNING while the cluster runs (restored on exit).

    Worker processes are started with SIGINT and SIGTERM ignored: an interrupt (Ctrl-C reaches
    the whole process group) is handled by the driver alone, which cancels the tasks and shuts
    the cluster down; the workers do not print their own tracebacks.
    """
    from distributed import Client, LocalCluster

    n_workers = check_int(n_workers, "n_workers", low=1, high=1024, error=ValidationError)
    threads_per_worker = check_int(threads_per_worker, "threads_per_worker", low=1, high=1024, error=ValidationError)
    dlog = logging.getLogger("distributed")
    prev_level = dlog.level
    if quiet:
        dlog.setLevel(logging.WARNING)
    with _children_ignore_interrupts(bool(processes)):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=bool(processes),
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # HTTP endpoints on a free loopback port (8787 may be taken)
            memory_limit=memory_limit,
            silence_logs=logging.ERROR if quiet else logging.WARNING,  # the workers' own log level
        )
    interrupted = False
    try:
        client = Client(cluster)
        try:
            yield client
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            raise
        finally:
            if interrupted:  # shut down without the workers' complaints about lost connections
                for name in ("distributed", "tornado", "asyncio"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
            client.close()
    finally:
        cluster.close()
        if quiet or interrupted:
            dlog.setLevel(prev_level)


@contextlib.contextmanager
def _children_ignore_interrupts(active: bool) -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while child processes are started (they inherit it), then restore."""
    import signal
    import threading

    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
