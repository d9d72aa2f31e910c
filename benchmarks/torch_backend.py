"""Torch backend vs the numpy/numba path: same numbers, time on CPU and (when present) CUDA.

For a batch of binary inputs it runs, from the same device state,

* ``numpy``: ``OPU.project`` (dense TM, numba intensity and camera);
* ``torch_<device>``: ``TorchOPU(opu, device).project`` with the device's defaults (on ``cuda``,
  if torch sees a GPU: torch GEMM and the torch port of the counter-based camera noise; on
  ``cpu``: the medium's numpy GEMM and the numba camera, bit-identical to numpy);
* ``torch_cpu_torchcamera``: the CPU device running the device-side chain (torch GEMM, torch
  camera), i.e. the code a GPU runs;

for the noiseless (ideal) and the noisy (lab-cmos) device, and reports the time, the largest
relative difference (noiseless) and the fraction of identical DN (noisy). CUDA timings
synchronise the device.

Then the optical DFA feedback (:class:`dfa.mechanism.feedback.OpticalFeedback`) with the numpy
backend and the torch backend (``cpu``, and ``cuda`` when present), for a classifier's error
(batch 128 x 10 classes -> 2048 feedback values, ternary) and a language model's (2048 tokens x 96
characters -> 256, stochastic 1-bit planes): median time per projection over interleaved repeats,
and whether the outputs are bit-identical to numpy's (CPU) or the fraction of equal values (CUDA).

Thread pools: ``--threads`` (default 1) sizes torch's, numba's and numpy's BLAS pools; on a small or
shared machine pools that spin while another library computes slow small calls down many times.

    python benchmarks/torch_backend.py [--n 4096 --batch 512] [--quick] [--threads 1]
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
            topu = TorchOPU(opu, dev, camera=cam, gemm="auto" if cam == "auto" else "torch")
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


FEEDBACK_CASES = {
    # name: (n_in, n_out, batch, feedback settings)
    "classifier": (10, 2048, 128, {"encoding": "ternary"}),
    "language-model": (96, 256, 2048, {"encoding": "bitplanes", "n_bits": 1, "rounding": "stochastic", "opu_power_scale": 10.0,
                                       "opu_overrides": {"camera.bit_depth": 12, "camera.gain_e_per_dn": 2.5, "reference.fraction": 0.125}}),
}


def run_feedback(repeats: int, quick: bool = False) -> dict:
    """Optical DFA feedback: numpy backend vs torch backend (cpu, cuda), same seeds, interleaved repeats."""
    import statistics
    import time

    import torch

    from dfa.mechanism.feedback import FeedbackConfig, build_feedback

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out = {}
    for name, (n_in, n_out, batch, over) in FEEDBACK_CASES.items():
        if quick:
            n_out, batch = min(n_out, 128), min(batch, 64)
        g = torch.Generator().manual_seed(0)
        errors = []
        for _ in range(4):
            e = torch.softmax(2.0 * torch.randn(batch, n_in, generator=g), dim=1)
            e[torch.arange(batch), torch.randint(0, n_in, (batch,), generator=g)] -= 1.0
            errors.append(e)
        providers = {"numpy": ("cpu", build_feedback("optical", n_in, n_out, seed=0, config=FeedbackConfig(**over, backend="numpy")))}
        for dev in devices:
            providers[f"torch_{dev}"] = (dev, build_feedback("optical", n_in, n_out, seed=0, config=FeedbackConfig(**over, backend="torch")))
        outputs = {k: [] for k in providers}
        for k, (dev, fb) in providers.items():  # same call sequence: the same frames and noise
            for e in errors:
                outputs[k].append(fb.project(e.to(dev)).cpu().numpy())
        samples = {k: [] for k in providers}
        for _ in range(max(1, repeats)):
            for k, (dev, fb) in providers.items():
                e = errors[0].to(dev)
                t0 = time.perf_counter()
                fb.project(e)
                if dev == "cuda":
                    torch.cuda.synchronize()
                samples[k].append(time.perf_counter() - t0)
        entry = {"n_in": n_in, "n_out": n_out, "batch": batch, "median_s": {k: statistics.median(v) for k, v in samples.items()}}
        for k in providers:
            if k == "numpy":
                continue
            ref, got = np.concatenate(outputs["numpy"]), np.concatenate(outputs[k])
            entry[f"bit_identical_{k}"] = bool(np.array_equal(ref.view(np.uint32), got.view(np.uint32)))
            entry[f"equal_fraction_{k}"] = float(np.mean(ref == got))
            entry[f"speedup_{k}"] = entry["median_s"]["numpy"] / entry["median_s"][k]
        out[name] = entry
    return {"devices": devices, "cases": out}


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--n", type=positive_int, default=4096)
    ap.add_argument("--batch", type=positive_int, default=512)
    add_common_arguments(ap)
    ap.add_argument("--threads", type=positive_int, default=1, help="torch, numba and BLAS threads (default 1)")
    a = ap.parse_args(argv)
    if a.quick:
        warn_no_effect(argv, ("--n", "--batch", "--repeats"), "with --quick (n 256, batch 32, 1 repeat)")
        a.n, a.batch, a.repeats = 256, 32, 1
    return run_as_instrument("torch_backend.py", a.out_dir, lambda folder: _measure(a, folder))


def _measure(a, folder: Path) -> int:
    try:
        from dfa.trainer.threads import set_threads
    except ImportError:  # the physics toolkit alone: torch's and numba's pools
        import numba
        import torch

        torch.set_num_threads(a.threads)
        numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    else:
        set_threads(a.threads)
    print(f"torch backend, batch {a.batch} x {a.n} -> {a.n}, on {machine()['cpu']}", flush=True)
    res = run(a.n, a.batch, a.repeats)
    res["quick"] = bool(a.quick)
    res["threads"] = a.threads
    res["dfa_feedback"] = run_feedback(max(5, 5 * a.repeats), a.quick)
    checks = []
    for name, entry in res["dfa_feedback"]["cases"].items():
        checks.append(check(f"DFA feedback {name}: torch backend on cpu bit-identical to numpy", float(entry["bit_identical_torch_cpu"]), 1.0))
    for dev in res["devices"] + ["cpu_torchcamera"]:
        checks.append(check(f"noiseless max relative difference ({dev})", res["presets"]["ideal"][f"max_rel_diff_{dev}"], 1e-5, "<="))
        checks.append(check(f"noisy identical DN fraction ({dev})", res["presets"]["lab-cmos"][f"identical_fraction_{dev}"], 0.999))
    res["checks"] = checks
    lines = []
    for p, e in res["presets"].items():
        parts = " | ".join(f"{k} {v * 1e3:.1f} ms" for k, v in e["seconds"].items())
        lines.append(f"  {p}: {parts}")
    for name, e in res["dfa_feedback"]["cases"].items():
        parts = " | ".join(f"{k} {v * 1e3:.2f} ms" for k, v in e["median_s"].items())
        lines.append(f"  DFA feedback {name} ({e['batch']} x {e['n_in']} -> {e['n_out']}): {parts}")
    finish("torch_backend", res, folder, lines)
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
