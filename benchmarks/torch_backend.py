"""Torch backend vs the numpy/numba path: same numbers, time on CPU and (when present) CUDA.

For a batch of binary inputs it runs, from the same device state,

* ``numpy``: ``OPU.project`` (dense TM, numba intensity and camera);
* ``torch_<device>``: ``TorchOPU(opu, device).project`` (torch GEMM; camera on the device
  with the torch port of the counter-based noise, except on CPU where "auto" keeps the numba
  camera), on ``cpu`` and on ``cuda`` if torch sees a GPU;
* ``torch_cpu_torchcamera``: the CPU device with the torch port of the camera;

for the noiseless (ideal) and the noisy (lab-cmos) device, and reports the time, the largest
relative difference (noiseless) and the fraction of identical DN (noisy). CUDA timings
synchronise the device.

    python benchmarks/torch_backend.py [--n 4096 --batch 512] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import adaptive_time, add_common_arguments, check, finish, machine  # noqa: E402


def run(n: int, batch: int, repeats: int, seed: int = 0) -> dict:
    import torch

    from photonics import OPU, DeviceConfig
    from photonics.backends.torch_opu import TorchOPU

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    x = (np.random.default_rng(seed).random((batch, n)) < 0.5).astype(np.uint8)
    out = {"n": n, "batch": batch, "devices": devices, "torch": torch.__version__, "presets": {}}
    for preset in ("ideal", "lab-cmos"):
        opu = OPU(DeviceConfig.preset(preset, n_in=n, n_out=n, medium__storage="dense"), seed=seed)
        state = opu.state_dict()
        ref = opu.project(x)
        t = {"numpy": adaptive_time(lambda: opu.project(x), repeats)}
        entry = {"seconds": t}
        for dev, cam in [(d, "auto") for d in devices] + [("cpu", "torch")]:
            topu = TorchOPU(opu, dev, camera=cam)
            label = dev if cam == "auto" else f"{dev}_torchcamera"
            opu.load_state_dict(state)
            y = topu.project(x).cpu().numpy()
            if dev == "cuda":
                def call():
                    topu.project(x)
                    torch.cuda.synchronize()
            else:
                def call():
                    topu.project(x)
            t[f"torch_{label}"] = adaptive_time(call, repeats)
            if preset == "ideal":
                scale = float(np.abs(ref).max())
                entry[f"max_rel_diff_{label}"] = float(np.abs(y - ref).max() / scale)
            else:
                entry[f"identical_fraction_{label}"] = float(np.mean(y == ref))
            entry[f"speedup_{label}"] = t["numpy"] / t[f"torch_{label}"]
        out["presets"][preset] = entry
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=512)
    add_common_arguments(ap)
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.batch, a.repeats = 256, 32, 1
    print(f"torch backend, batch {a.batch} x {a.n} -> {a.n}, on {machine()['cpu']}", flush=True)
    res = run(a.n, a.batch, a.repeats)
    res["quick"] = bool(a.quick)
    checks = []
    for dev in res["devices"] + ["cpu_torchcamera"]:
        checks.append(check(f"noiseless max relative difference ({dev})", res["presets"]["ideal"][f"max_rel_diff_{dev}"], 1e-5, "<="))
        checks.append(check(f"noisy identical DN fraction ({dev})", res["presets"]["lab-cmos"][f"identical_fraction_{dev}"], 0.999))
    res["checks"] = checks
    lines = []
    for p, e in res["presets"].items():
        parts = " | ".join(f"{k} {v * 1e3:.1f} ms" for k, v in e["seconds"].items())
        lines.append(f"  {p}: {parts}")
    finish("torch_backend", res, a.out_dir, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
