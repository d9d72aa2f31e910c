"""Camera noise: samples per second of the simulated read-out vs numpy's generator.

Times, on the same power frames (speckle: exponentially distributed pixel powers),

* ``camera``: :meth:`photonics.camera.Camera.read` (numba, counter-based): per pixel a
  Poisson draw (shot noise), full well, a Gaussian draw (read noise), gain, ADC rounding
  and saturation, PRNU and dark signal;
* ``numpy_chain``: the same chain written with numpy's default generator (PCG64):
  ``rng.poisson`` + ``rng.standard_normal`` + the same arithmetic (single thread);
* ``numpy_poisson`` and ``numpy_normal``: the two draws alone with numpy's generator;

at the lab-cmos operating point (~300 e- per pixel: PTRS branch) and in low light (~3 e-:
inversion branch). Reports samples (pixels read) per second and the ratios. No target was
set for this one; the figures say what the noise model costs.

    python benchmarks/camera_noise.py [--frames 64 --pixels 65536] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import adaptive_time, add_common_arguments, check, finish, machine  # noqa: E402


def run(n_frames: int, n_pix: int, repeats: int, seed: int = 0) -> dict:
    from photonics.camera import Camera
    from photonics.config import DeviceConfig

    cfg = DeviceConfig.preset("lab-cmos", n_in=1024, n_out=n_pix)
    cam = Camera(cfg.camera, cfg.laser.wavelength_m, n_pix, seed)
    c = cfg.camera
    e_per_w = cam.electrons_per_watt()
    dark = cam.dark_electrons()
    rng = np.random.default_rng(seed)
    out = {}
    n = n_frames * n_pix
    for label, mean_e in (("lab_cmos_300e", 300.0), ("low_light_3e", 3.0)):
        p_mean = mean_e / float(np.mean(e_per_w))
        power = (rng.exponential(p_mean, size=(n_frames, n_pix))).astype(np.float32)
        gen = np.random.default_rng(seed + 1)

        def numpy_chain():
            mu = power.astype(np.float64) * e_per_w[None, :] + dark[None, :]
            e = gen.poisson(mu).astype(np.float64)
            np.minimum(e, c.full_well_e, out=e)
            e += c.read_noise_e * gen.standard_normal(e.shape)
            dn = np.clip(np.floor(e / c.gain_e_per_dn + c.black_level_dn + 0.5), 0, c.max_dn)
            return dn.astype(np.uint8)

        mu = power.astype(np.float64) * e_per_w[None, :] + dark[None, :]
        t = {
            "camera": adaptive_time(lambda: cam.read(power, 0), repeats),
            "numpy_chain": adaptive_time(numpy_chain, repeats),
            "numpy_poisson": adaptive_time(lambda: gen.poisson(mu), repeats),
            "numpy_normal": adaptive_time(lambda: gen.standard_normal(mu.shape), repeats),
        }
        out[label] = {
            "mean_e": mean_e,
            "seconds": t,
            "samples": n,
            "camera_samples_per_s": n / t["camera"],
            "numpy_chain_samples_per_s": n / t["numpy_chain"],
            "numpy_poisson_per_s": n / t["numpy_poisson"],
            "numpy_normal_per_s": n / t["numpy_normal"],
            "camera_vs_numpy_chain": t["numpy_chain"] / t["camera"],
        }
    return {"frames": n_frames, "pixels": n_pix, "regimes": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--pixels", type=int, default=65536)
    add_common_arguments(ap)
    a = ap.parse_args(argv)
    if a.quick:
        a.frames, a.pixels, a.repeats = 4, 4096, 1
    print(f"camera read-out, {a.frames} frames x {a.pixels} pixels, on {machine()['cpu']}", flush=True)
    res = run(a.frames, a.pixels, a.repeats)
    res["quick"] = bool(a.quick)
    # informational: the full noisy chain is at least as fast as numpy drawing the same noise
    res["checks"] = [check(f"camera_vs_numpy_chain ({k})", r["camera_vs_numpy_chain"], 1.0) for k, r in res["regimes"].items()]
    lines = []
    for k, r in res["regimes"].items():
        lines.append(
            f"  {k}: camera chain {r['camera_samples_per_s'] / 1e6:.1f} M samples/s | numpy chain {r['numpy_chain_samples_per_s'] / 1e6:.1f} M/s "
            f"-> {r['camera_vs_numpy_chain']:.2f}x | numpy poisson alone {r['numpy_poisson_per_s'] / 1e6:.1f} M/s, normal alone {r['numpy_normal_per_s'] / 1e6:.1f} M/s"
        )
    finish("camera_noise", res, a.out_dir, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
