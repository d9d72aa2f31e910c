"""Camera noise: pixel samples per second of the simulated read-out, against numpy's own Poisson sampler.

Times, on the same power frames (speckle: exponentially distributed pixel powers), interleaved
round-robin in one process (``--repeats`` rounds, median and quartiles kept):

* ``camera``: the read-out kernel :func:`photonics.kernels.camera_numba` with the sensor's
  :meth:`~photonics.camera.Camera.kernel_parameters` (what ``Camera.read`` runs after checking
  its input; counter-based, exact samplers): per pixel a Poisson draw (shot noise), full well,
  a normal draw (read noise), gain, offset, ADC rounding and saturation, with the sensor's PRNU
  and dark signal; on all numba threads and on one; ``camera_read``: ``Camera.read`` itself
  (input checks included);
* ``numpy_poisson``: numpy's default generator (PCG64) drawing the same Poisson variates
  alone, ``rng.poisson(mu)`` (single thread): the reference;
* ``numpy_chain``: the same chain written with numpy (``rng.poisson`` + ``rng.standard_normal``
  + the same arithmetic);

at the lab-cmos operating point (~300 e- per pixel: PTRS branch) and in low light (~3 e-:
inversion branch). Reports samples (pixels read) per second, their ratios to numpy's Poisson
sampler, and the load average before and after (the figures are ratios measured side by side:
on a shared machine the absolute rates move with the load). Target (issue 20): the camera chain
reads >= 1e8 samples/s at the lab-cmos point on a 2-core machine.

    python benchmarks/camera_noise.py [--frames 64 --pixels 65536 --repeats 9] [--out-dir DIR] [--quick]
    NUMBA_NUM_THREADS=1 python benchmarks/camera_noise.py --cpu-time

``--cpu-time`` measures the CPU time of the calling thread instead of the wall clock (with one
numba thread, where it counts all the work): on a machine shared with other jobs it measures the
work rather than the waiting.

Results go to ``runs/bench/<date-time>/camera_noise.json`` unless ``--out-dir`` says otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

# photonics before numpy: the OpenBLAS thread setting it makes must precede OpenBLAS's start
import photonics  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import add_common_arguments, check, finish, interleaved_times, load_average, machine, run_as_instrument  # noqa: E402

from photonics.instrument import finish_process, positive_int, script_parser, warn_no_effect  # noqa: E402

TARGET_SAMPLES_PER_S = 1.0e8


def run(n_frames: int, n_pix: int, repeats: int, seed: int = 0, clock=None) -> dict:
    import numba

    from photonics import kernels
    from photonics.camera import Camera
    from photonics.config import DeviceConfig

    cfg = DeviceConfig.preset("lab-cmos", n_in=1024, n_out=n_pix)
    cam = Camera(cfg.camera, cfg.laser.wavelength_m, n_pix, seed)
    c = cfg.camera
    k = cam.kernel_parameters()
    e_per_w, dark = k.e_per_w, k.dark_e
    rng = np.random.default_rng(seed)
    threads = numba.get_num_threads()
    out = {}
    n = n_frames * n_pix
    for label, mean_e in (("lab_cmos_300e", 300.0), ("low_light_3e", 3.0)):
        p_mean = mean_e / float(np.mean(e_per_w))
        power = rng.exponential(p_mean, size=(n_frames, n_pix)).astype(np.float32)
        mu = power.astype(np.float64) * e_per_w[None, :] + dark[None, :]
        gen = np.random.default_rng(seed + 1)

        def numpy_chain():
            m = power.astype(np.float64) * e_per_w[None, :] + dark[None, :]
            e = gen.poisson(m).astype(np.float64)
            np.minimum(e, c.full_well_e, out=e)
            e += c.read_noise_e * gen.standard_normal(e.shape)
            dn = np.clip(np.floor(e * k.dn_per_e + k.offset_dn[None, :] + 0.5), 0, c.max_dn)
            return dn.astype(np.uint8)

        dn = np.empty(power.shape, dtype=k.output_dtype)

        def camera():
            kernels.camera_numba(power, *k.kernel_args(0), dn)

        def camera_one_thread():
            numba.set_num_threads(1)
            try:
                camera()
            finally:
                numba.set_num_threads(threads)

        t = interleaved_times(
            {
                "camera": camera,
                "camera_1_thread": camera_one_thread,
                "camera_read": lambda: cam.read(power, 0),
                "numpy_poisson": lambda: gen.poisson(mu),
                "numpy_chain": numpy_chain,
            },
            repeats=repeats,
            **({"clock": clock} if clock else {}),
        )
        med = {name: v["median_s"] for name, v in t.items()}
        out[label] = {
            "mean_e": mean_e,
            "samples": n,
            "times": t,
            "camera_samples_per_s": n / med["camera"],
            "camera_1_thread_samples_per_s": n / med["camera_1_thread"],
            "camera_read_samples_per_s": n / med["camera_read"],
            "numpy_poisson_samples_per_s": n / med["numpy_poisson"],
            "numpy_chain_samples_per_s": n / med["numpy_chain"],
            "camera_vs_numpy_poisson": med["numpy_poisson"] / med["camera"],
            "camera_1_thread_vs_numpy_poisson": med["numpy_poisson"] / med["camera_1_thread"],
            "camera_vs_numpy_chain": med["numpy_chain"] / med["camera"],
            # the quartiles of the camera's rate (spread of the repeats)
            "camera_samples_per_s_q25_q75": [n / t["camera"]["q75_s"], n / t["camera"]["q25_s"]],
        }
    return {"frames": n_frames, "pixels": n_pix, "repeats": repeats, "numba_threads": threads, "regimes": out}


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--frames", type=positive_int, default=64)
    ap.add_argument("--pixels", type=positive_int, default=65536)
    ap.add_argument("--cpu-time", action="store_true", help="CPU time of the calling thread (needs NUMBA_NUM_THREADS=1)")
    add_common_arguments(ap)
    ap.set_defaults(repeats=9)
    a = ap.parse_args(argv)
    if a.quick:
        warn_no_effect(argv, ("--frames", "--pixels", "--repeats"), "with --quick (4 frames of 4096 pixels, 1 repeat)")
        a.frames, a.pixels, a.repeats = 4, 4096, 1
    clock = None
    if a.cpu_time:
        import time

        import numba

        if numba.get_num_threads() != 1:
            ap.error("--cpu-time needs one numba thread: run with NUMBA_NUM_THREADS=1")
        clock = time.thread_time
    return run_as_instrument("camera_noise.py", a.out_dir, lambda folder: _measure(a, clock, folder))


def _measure(a, clock, folder: Path) -> int:
    from photonics.validation import check_allocation

    # peak: the powers (float32), the means and the numpy chain's temporaries (float64), the outputs
    check_allocation(48.0 * a.frames * a.pixels, f"--frames {a.frames} x --pixels {a.pixels}", "lower --frames or --pixels")
    print(f"camera read-out, {a.frames} frames x {a.pixels} pixels, on {machine()['cpu']}"
          f" ({'CPU time, 1 thread' if clock else 'wall time'})", flush=True)
    load_before = load_average()
    res = run(a.frames, a.pixels, a.repeats, clock=clock)
    res["clock"] = "thread_time" if clock else "perf_counter"
    res["load_average_before"] = load_before
    res["load_average_after"] = load_average()
    res["quick"] = bool(a.quick)
    lab = res["regimes"]["lab_cmos_300e"]
    res["checks"] = [
        check("camera samples/s (lab_cmos_300e)", lab["camera_samples_per_s"], TARGET_SAMPLES_PER_S),
        check("camera_vs_numpy_poisson (lab_cmos_300e)", lab["camera_vs_numpy_poisson"], 1.0),
        check("camera_vs_numpy_poisson (low_light_3e)", res["regimes"]["low_light_3e"]["camera_vs_numpy_poisson"], 1.0),
    ]
    lines = [f"  load average before {load_before}, after {res['load_average_after']} (shared machine: compare ratios)"]
    for name, r in res["regimes"].items():
        lines.append(
            f"  {name}: camera {r['camera_samples_per_s'] / 1e6:.1f} M samples/s ({r['camera_1_thread_samples_per_s'] / 1e6:.1f} on 1 thread)"
            f" | numpy poisson {r['numpy_poisson_samples_per_s'] / 1e6:.1f} M/s -> {r['camera_vs_numpy_poisson']:.2f}x"
            f" ({r['camera_1_thread_vs_numpy_poisson']:.2f}x on 1 thread) | Camera.read {r['camera_read_samples_per_s'] / 1e6:.1f} M/s"
            f" | numpy chain {r['numpy_chain_samples_per_s'] / 1e6:.1f} M/s"
        )
    finish("camera_noise", res, folder, lines)
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
