"""Procedural vs dense transmission matrix: throughput against batch, and the crossover.

A procedural medium regenerates all 2 n_in n_out Gaussian numbers of T on every projection
(per call, whatever the batch), then multiplies block by block; a dense one multiplies a
stored matrix. Generation costs a fixed time t_gen per call, the GEMM grows with the batch,
so procedural / dense -> 1 at large batch. This script times, side by side,

* ``dense``: ``OPU.project`` (ideal preset) with the TM in memory;
* ``procedural``: the same device with ``medium.storage = "procedural"`` and the preset's
  ``medium.block_rows`` (256: sized for n_in ~ 1e6), the medium's generator kernel
  ``kernels.gaussian_block_numba``;
* ``procedural_big_blocks``: the same with ``medium.block_rows`` raised so that one block
  holds ~``--block-mb`` MB (a configuration change only: fewer, larger GEMMs and fewer
  hand-overs between numba's and BLAS's thread pools);
* ``procedural_fast``: big blocks and ``kernels.gaussian_block_fast_numba`` (same numbers,
  the ziggurat's accept path inlined), through a GaussianMedium subclass: what the medium
  would do with a one-line change of its generator;
* ``generation``: generating the whole TM block by block without multiplying (both kernels);

checks that dense and procedural give the same outputs, and reports procedural / dense per
batch (target >= 0.5 at batch >= 512) and the *crossover batch*: the smallest batch at which
generation stops dominating, i.e. where the rest of the procedural projection (GEMM, |.|^2,
camera) takes at least as long as the generation (power-law interpolation between batches;
measured on the big-block variants), and the same crossover from rates, generation time /
dense projection time per sample at the largest batch (robust to fixed per-call overheads).

    python benchmarks/procedural.py [--n 4096] [--batches 1,16,64,128,256,512,1024,2048,4096] [--block-mb 128] [--quick]

On a machine with few cores, numba's OpenMP threads and OpenBLAS's threads spin while they
wait and slow each other down when a projection alternates between them (one hand-over per
block); ``OMP_WAIT_POLICY=PASSIVE`` set before Python starts removes most of that cost. The
environment is recorded in the JSON (``machine.env``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

# photonics before numpy: the OpenBLAS thread setting it makes must precede OpenBLAS's start
import photonics  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import adaptive_time, add_common_arguments, check, finish, machine, run_as_instrument  # noqa: E402

from photonics.instrument import finish_process, positive_float, positive_int, positive_int_list, script_parser, warn_no_effect  # noqa: E402


def _fast_medium_class():
    from photonics import kernels
    from photonics.medium import GaussianMedium

    class FastGaussianMedium(GaussianMedium):
        """GaussianMedium generating its blocks with ``gaussian_block_fast_numba`` (same numbers)."""

        def _generate(self, rows, cols):
            n_rows = rows.stop - rows.start
            n_cols = cols.stop - cols.start
            out = np.empty((n_cols, 2 * n_rows), dtype=np.float32)
            kernels.gaussian_block_fast_numba(self.key, rows.start, n_rows, cols.start, n_cols, self.sigma, out)
            return out

    return FastGaussianMedium


def crossover_batch(batches, t_proc, t_gen) -> float | None:
    """Smallest batch where the rest of the projection, t_proc(b) - t_gen, reaches t_gen.

    Between the two bracketing batches the ratio rest / t_gen is interpolated as a power
    law (linear in log-log, exact when the rest grows as a power of the batch). Returns None
    if the ratio never reaches 1.
    """
    r = [(tp - t_gen) / t_gen for tp in t_proc]  # rest / generation
    for i, (b, v) in enumerate(zip(batches, r)):
        if v >= 1.0:
            if i == 0:
                return float(b)
            b0, v0 = batches[i - 1], r[i - 1]
            if v0 <= 0.0:  # timing noise made the rest negative: interpolate linearly in log b
                f = (1.0 - v0) / (v - v0)
            else:
                f = (0.0 - math.log(v0)) / (math.log(v) - math.log(v0)) if v != v0 else 1.0
            return float(math.exp(math.log(b0) + f * (math.log(b) - math.log(b0))))
    return None


def run(n: int, batches, repeats: int, block_mb: float = 128.0, seed: int = 0) -> dict:
    from photonics import OPU, DeviceConfig
    from photonics.medium import medium_seed

    cfg_d = DeviceConfig.preset("ideal", n_in=n, n_out=n, medium__storage="dense")
    cfg_p = cfg_d.replace(medium__storage="procedural")
    big_rows = int(min(n, max(cfg_p.medium.block_rows, block_mb * 2**20 // (8 * n))))
    cfg_b = cfg_p.replace(medium__block_rows=big_rows)
    dense = OPU(cfg_d, seed=seed)
    proc = OPU(cfg_p, seed=seed)
    big = OPU(cfg_b, seed=seed)
    Fast = _fast_medium_class()
    fmed = Fast(n, n, medium_seed(cfg_b, seed), n_cols=cfg_b.n_modes_total, procedural=True, block_rows=big_rows)
    fast = OPU(cfg_b, seed=seed, medium=fmed)
    devices = {"dense": dense, "procedural": proc, "procedural_big_blocks": big, "procedural_fast": fast}

    rng = np.random.default_rng(seed)
    x0 = (rng.random((8, n)) < 0.5).astype(np.uint8)
    y0 = dense.project(x0)
    same = all(bool(np.array_equal(y0, d.project(x0))) for d in devices.values())

    def gen(medium):
        br = medium.block_rows
        for r0 in range(0, n, br):
            medium._generate(slice(r0, min(r0 + br, n)), slice(0, n))

    t_gen = adaptive_time(lambda: gen(big.medium), repeats)
    t_gen_fast = adaptive_time(lambda: gen(fmed), repeats)
    rows = []
    for b in batches:
        x = (rng.random((b, n)) < 0.5).astype(np.uint8)
        t = {k: adaptive_time(lambda d=d: d.project(x), repeats) for k, d in devices.items()}
        row = {"batch": b, "seconds": t}
        for k in devices:
            if k != "dense":
                row[f"{k}_vs_dense"] = t["dense"] / t[k]
        rows.append(row)
        print(
            f"  batch={b:>5}: dense {t['dense'] * 1e3:8.1f} ms | procedural {t['procedural'] * 1e3:8.1f} ms "
            f"({row['procedural_vs_dense']:.3f}) | big blocks {t['procedural_big_blocks'] * 1e3:8.1f} ms "
            f"({row['procedural_big_blocks_vs_dense']:.3f}) | + fast kernel {t['procedural_fast'] * 1e3:8.1f} ms "
            f"({row['procedural_fast_vs_dense']:.3f})",
            flush=True,
        )
    bs = [r["batch"] for r in rows]
    # the same crossover from rates: generation time = dense time per sample x batch
    per_sample = rows[-1]["seconds"]["dense"] / rows[-1]["batch"]
    return {
        "crossover_batch_from_rates": t_gen / per_sample,
        "crossover_batch_from_rates_fast": t_gen_fast / per_sample,
        "n": n,
        "block_rows": cfg_p.medium.block_rows,
        "big_block_rows": big_rows,
        "same_outputs": same,
        "generation_s": t_gen,
        "generation_fast_s": t_gen_fast,
        "normals_per_s": 2.0 * n * n / t_gen,
        "normals_per_s_fast": 2.0 * n * n / t_gen_fast,
        "rows": rows,
        "crossover_batch": crossover_batch(bs, [r["seconds"]["procedural_big_blocks"] for r in rows], t_gen),
        "crossover_batch_fast": crossover_batch(bs, [r["seconds"]["procedural_fast"] for r in rows], t_gen_fast),
    }


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--n", type=positive_int, default=4096, help="n_in = n_out")
    ap.add_argument("--batches", type=positive_int_list, default=[1, 16, 64, 128, 256, 512, 1024, 2048, 4096])
    ap.add_argument("--large-batch", type=positive_int, default=512, help="the target applies to batches >= this")
    ap.add_argument("--block-mb", type=positive_float, default=128.0, help="block size of the big-block variants [MB]")
    add_common_arguments(ap)
    a = ap.parse_args(argv)
    batches = a.batches
    if a.quick:
        warn_no_effect(argv, ("--n", "--batches", "--repeats", "--large-batch"), "with --quick (n 512, batches 1,64,512, 1 repeat)")
        a.n, batches, a.repeats, a.large_batch = 512, [1, 64, 512], 1, 512
    return run_as_instrument("procedural.py", a.out_dir, lambda folder: _measure(a, batches, folder))


def _measure(a, batches: list[int], folder: Path) -> int:
    print(f"procedural vs dense, n_in = n_out = {a.n}, on {machine()['cpu']}", flush=True)
    res = run(a.n, batches, a.repeats, a.block_mb)
    res["quick"] = bool(a.quick)
    big = [r for r in res["rows"] if r["batch"] >= a.large_batch]
    res["checks"] = [check("dense and procedural outputs identical", float(res["same_outputs"]), 1.0)]
    if big:
        for k in ("procedural", "procedural_big_blocks", "procedural_fast"):
            res["checks"].append(check(f"min {k}_vs_dense (batch >= {a.large_batch})", min(r[f"{k}_vs_dense"] for r in big), 0.5))

    def fmt(b):
        return "not reached" if b is None else f"{b:.0f}"

    lines = [
        f"  generation of the whole TM: {res['generation_s']:.3f} s ({res['normals_per_s'] / 1e6:.0f} M normals/s), "
        f"fast kernel {res['generation_fast_s']:.3f} s ({res['normals_per_s_fast'] / 1e6:.0f} M normals/s)",
        f"  crossover batch (generation no longer dominates; big blocks of {res['big_block_rows']} rows): "
        f"{fmt(res['crossover_batch'])}, fast kernel {fmt(res['crossover_batch_fast'])} (measured); "
        f"{res['crossover_batch_from_rates']:.0f}, fast kernel {res['crossover_batch_from_rates_fast']:.0f} "
        "(generation time / dense time per sample at the largest batch)",
    ]
    finish("procedural", res, folder, lines)
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
