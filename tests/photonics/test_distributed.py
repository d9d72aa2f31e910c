"""Sharded projection on a 2-worker Dask LocalCluster (loopback): same numbers as one process."""

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.distributed import ShardedGaussianMedium, local_client, shard_rows, sharded_opu
from photonics.errors import ValidationError
from photonics.medium import GaussianMedium, medium_seed
from tests.helpers import binary_frames


@pytest.fixture(scope="module")
def client():
    with local_client(2, threads_per_worker=1, processes=False) as c:
        yield c


def test_shards_hold_whole_blocks():
    rows = slice(70, 1000)
    shards = shard_rows(rows, 200, 64)
    assert shards[0].start == 70 and shards[-1].stop == 1000
    assert all(a.stop == b.start for a, b in zip(shards, shards[1:]))
    assert all((s.stop - s.start) % 64 == 0 for s in shards[:-1])  # 192-row shards = 3 blocks
    assert shard_rows(slice(0, 10), 1, 64) == [slice(0, 10)]


def test_sharded_device_equals_single_process(client, rng):
    """lab-cmos: leaking mirrors, reference columns, full camera chain; project and linear."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=150, n_out=700, medium__storage="procedural", medium__block_rows=64)
    x = binary_frames(rng, 12, 150)
    sharded = sharded_opu(cfg, 5, client=client, rows_per_task=128)
    single = OPU(cfg, 5)
    dense = OPU(cfg.replace(medium__storage="dense"), 5)
    y = sharded.project(x)
    assert np.array_equal(y, single.project(x)) and np.array_equal(y, dense.project(x))
    z = sharded.linear(x)
    assert np.array_equal(z, single.linear(x)) and np.array_equal(z, dense.linear(x))
    assert sharded.frames_used == single.frames_used
    assert sharded.medium.tasks_run >= 6 * 2  # projections and column sums ran as shard tasks
    assert "sharded" in sharded.medium.describe()["storage"]


def test_any_shard_size_and_row_window_gives_the_same_field(client, rng):
    n_in, n_out, seed = 64, 500, 123
    ref_med = GaussianMedium(n_in, n_out, seed, n_cols=96, procedural=True, block_rows=32)
    x = binary_frames(rng, 7, n_in).astype(np.float32)
    full = ref_med.split_field(x)
    for per in (32, 100, 1000):
        med = ShardedGaussianMedium(n_in, n_out, seed, client=client, n_cols=96, block_rows=32, rows_per_task=per)
        assert np.array_equal(med.split_field(x), full)
        assert np.array_equal(med.split_field(x, rows=slice(45, 410)), ref_med.split_field(x, rows=slice(45, 410)))
        assert np.array_equal(med.column_sum(slice(64, 96)), ref_med.column_sum(slice(64, 96)))
    # the field is x T^T with the ground-truth T
    t = ref_med.matrix()
    assert np.allclose(full[:, :n_out] + 1j * full[:, n_out:], x @ t.T, rtol=1e-5, atol=1e-5)


def test_work_is_spread_over_both_workers(client, rng):
    from distributed import get_task_stream

    med = ShardedGaussianMedium(32, 2048, 9, client=client, block_rows=64, rows_per_task=64, numba_threads=1, blas_threads=1)
    x = binary_frames(rng, 4, 32).astype(np.float32)
    with get_task_stream(client) as ts:
        med.split_field(x)
    workers = {t["worker"] for t in ts.data}
    assert len(workers) == 2
    ref = GaussianMedium(32, 2048, 9, procedural=True, block_rows=64).split_field(x)
    assert np.array_equal(med.split_field(x), ref)  # thread limits change nothing in the numbers


def test_default_shard_size_and_errors(client):
    med = ShardedGaussianMedium(16, 4096, 1, client=client, block_rows=64)
    assert 64 <= med.rows_per_task <= 4096 // 2
    with pytest.raises(ValidationError, match="client"):
        ShardedGaussianMedium(16, 32, 1, client=None)
    with pytest.raises(ValidationError, match="rows_per_task"):
        ShardedGaussianMedium(16, 32, 1, client=client, rows_per_task=0)
    drifting = DeviceConfig.preset("ideal", n_in=16, n_out=32, medium__decorrelation_time_s=1.0)
    with pytest.raises(ValidationError, match="static"):
        sharded_opu(drifting, 0, client=client)
    with pytest.raises(ValidationError, match="n_workers"):
        with local_client(0):
            pass


def test_worker_processes(rng):
    """Real worker processes: the tasks and the medium spec travel by pickle."""
    cfg = DeviceConfig.preset("ideal", n_in=40, n_out=300, medium__storage="procedural", medium__block_rows=32)
    x = binary_frames(rng, 5, 40)
    with local_client(2, processes=True) as c:
        y = sharded_opu(cfg, 8, client=c, rows_per_task=64, numba_threads=1).project(x)
    assert np.array_equal(y, OPU(cfg, 8).project(x))
    assert medium_seed(cfg, 8) == OPU(cfg, 8).medium.seed
