"""Cost of one optical-DFA training step relative to a digital-DFA step and a BP step.

For each case (model + data + batch size) the three methods are set up on the same model
and data, and one full training step (zero grads -> gradients -> optimizer step) is timed
for each, in the same process, interleaved, best of ``--repeats`` rounds of ``--steps``
steps. The optical step includes everything a real run pays: moving the error to the CPU,
ternarization, DMD encoding, the simulated exposure of every camera frame (medium, shot and
read noise, ADC) on the lab-cmos preset, decoding and rescaling. Also reported: the share of
the optical step spent inside ``OPU.linear`` and the *modelled* device time per step
(frames / frame rate), which is what the real hardware would take.

Cases: ``digits`` (the default ``dfa train`` model: MLP 64-256-256-10, batch 32, ternary
errors), ``wide`` (MLP 40-1024-1024-10 on MNIST-1D-style data, batch 128, ternary errors) and
``wide-3bit`` (the same with 3-bit-plane errors, the MNIST-1D default). Target: optical <= 1.5x
digital.

    python benchmarks/dfa_step.py [--cases digits wide wide-3bit] [--steps 20 --repeats 5 --threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402

CASES = {
    "digits": dict(dataset="digits", model_options={"hidden": [256, 256]}, batch_size=32, feedback={"encoding": "ternary"}),
    "wide": dict(dataset="mnist1d", model_options={"hidden": [1024, 1024]}, batch_size=128, feedback={"encoding": "ternary"}),
    "wide-3bit": dict(dataset="mnist1d", model_options={"hidden": [1024, 1024]}, batch_size=128,
                      feedback={"encoding": "bitplanes", "n_bits": 3}),
}


def _setup(case: dict, method: str):
    from dfa import make_config
    from dfa.trainer.methods import build_method
    from dfa.trainer.train import _optimizer, build_components

    cfg = make_config(case["dataset"], model_options=case["model_options"], batch_size=case["batch_size"],
                      feedback=case["feedback"], align_every=0)
    _, model, task = build_components(cfg)
    m = build_method(method, model, task, cfg)
    opt = _optimizer(cfg, model)
    batches = list(task.batches(0))
    return m, opt, batches


def _timed_steps(m, opt, batches, n: int, start: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        b = batches[(start + i) % len(batches)]
        opt.zero_grad(set_to_none=True)
        m.compute_gradients(b)
        opt.step()
    return (time.perf_counter() - t0) / n


def run_case(name: str, steps: int, repeats: int) -> dict:
    case = CASES[name]
    setups = {k: _setup(case, k) for k in ("bp", "dfa", "optical-dfa")}
    opt_method = setups["optical-dfa"][0]
    opu = opt_method.provider.opu
    # time spent inside OPU.linear during the optical steps
    inner = {"s": 0.0}
    orig = opu.linear

    def timed_linear(*a, **k):
        t0 = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            inner["s"] += time.perf_counter() - t0

    opu.linear = timed_linear
    for k, (m, opt, b) in setups.items():  # warm-up (numba compilation, calibration, allocations)
        _timed_steps(m, opt, b, 3, 0)
    best = {k: float("inf") for k in setups}
    share = []
    pos = 3
    frames0, time0 = opu.frames_used, opu.device_time_s
    for _ in range(repeats):
        for k, (m, opt, b) in setups.items():
            if k == "optical-dfa":
                inner["s"] = 0.0
            t = _timed_steps(m, opt, b, steps, pos)
            if k == "optical-dfa":
                share.append(inner["s"] / (t * steps))
            best[k] = min(best[k], t)
        pos += steps
    n_opt = repeats * steps
    return {
        "case": {**case, "steps_per_round": steps, "repeats": repeats},
        "seconds_per_step": best,
        "optical_vs_digital": best["optical-dfa"] / best["dfa"],
        "optical_vs_bp": best["optical-dfa"] / best["bp"],
        "digital_vs_bp": best["dfa"] / best["bp"],
        "opu_linear_share_of_optical_step": float(sum(share) / len(share)),
        "optical_frames_per_step": (opu.frames_used - frames0) / n_opt,
        "modelled_device_time_per_step_s": (opu.device_time_s - time0) / n_opt,
        "device": opu.config.name,
        "target_optical_vs_digital": 1.5,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch, numba and BLAS threads (default 1)")
    ap.add_argument("--out-dir", default=None, help="folder for dfa_step.json (default benchmarks/results)")
    a = ap.parse_args(argv)
    import torch

    from dfa.trainer.threads import set_threads

    set_threads(a.threads)
    res = {"cases": {c: run_case(c, a.steps, a.repeats) for c in a.cases}, "threads": a.threads, "machine": machine()}
    res["machine"]["torch"] = str(torch.__version__)
    path = write_json("dfa_step", res, a.out_dir)
    print(f"one training step, best of {a.repeats} x {a.steps} steps, {a.threads} thread(s), on {res['machine']['cpu']}")
    for c, r in res["cases"].items():
        s = r["seconds_per_step"]
        print(
            f"  {c:9s} BP {1e3 * s['bp']:.2f} ms | DFA {1e3 * s['dfa']:.2f} ms | optical DFA {1e3 * s['optical-dfa']:.2f} ms "
            f"-> optical/digital {r['optical_vs_digital']:.2f} (target <= 1.5), optical/BP {r['optical_vs_bp']:.2f}; "
            f"OPU.linear {100 * r['opu_linear_share_of_optical_step']:.0f} % of the optical step; "
            f"{r['optical_frames_per_step']:.0f} frames = {1e3 * r['modelled_device_time_per_step_s']:.0f} ms of device time per step"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
