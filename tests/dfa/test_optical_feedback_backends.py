"""The optical feedback on the training device (issue 20, item 4).

``backend = "torch"`` runs quantisation, encoding, deduplication, projection, camera and decoding
on the error's torch device through :class:`photonics.backends.torch_opu.TorchOPU`. On a CPU
device it returns the numpy backend's bits (the same random streams: probes, rounding draws,
camera noise), a checkpoint resumes bit for bit across backends, and the device-side chain (torch
GEMM, torch camera: what a CUDA run uses) touches no host path of the OPU during a step. No GPU
was available where these tests were written: the CUDA case is skipped without one.
"""

import numpy as np
import pytest
import torch

from dfa.mechanism.feedback import FeedbackConfig, OpticalFeedback, build_feedback
from photonics import OPU, DeviceConfig
from photonics.backends.torch_opu import TorchOPU
from photonics.errors import ValidationError

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _errors(n, n_in, seed):
    g = torch.Generator().manual_seed(seed)
    e = torch.softmax(2.0 * torch.randn(n, n_in, generator=g), dim=1)
    e[torch.arange(n), torch.randint(0, n_in, (n,), generator=g)] -= 1.0
    return e


def test_backend_choice():
    cfg = FeedbackConfig(opu="lab-cmos")
    fb = build_feedback("optical", 10, 32, seed=0, config=cfg)
    assert fb.backend == "auto" and fb.backend_for("cpu") == "numpy" and fb.backend_for(torch.device("cuda")) == "torch"
    drift = build_feedback("optical", 10, 32, seed=0, config=FeedbackConfig(opu_overrides={"medium.decorrelation_time_s": 5.0}))
    assert drift.backend_for("cuda") == "numpy"  # TorchOPU needs a static medium: auto keeps the host path
    with pytest.raises(ValidationError, match="static medium"):
        build_feedback("optical", 10, 32, seed=0, config=FeedbackConfig(backend="torch", opu_overrides={"medium.decorrelation_time_s": 5.0}))
    assert build_feedback("optical", 10, 32, seed=0, config=FeedbackConfig(backend="torch")).backend_for("cpu") == "torch"


def test_checkpoint_resumes_bit_for_bit_across_backends():
    cfg = FeedbackConfig(opu="lab-cmos", encoding="bitplanes", n_bits=1, rounding="stochastic")
    a = build_feedback("optical", 12, 40, seed=3, config=FeedbackConfig(**{**cfg.to_dict(), "backend": "numpy"}))
    a.project(_errors(16, 12, 0))
    state = a.state_dict()
    y_cont = a.project(_errors(16, 12, 1))
    b = build_feedback("optical", 12, 40, seed=3, config=FeedbackConfig(**{**cfg.to_dict(), "backend": "torch"}))
    b.load_state_dict(state)
    y_res = b.project(_errors(16, 12, 1))
    assert torch.equal(y_cont, y_res) and a.frames_used == b.frames_used


def test_device_side_chain_runs_without_the_hosts_opu(monkeypatch):
    """Torch GEMM + torch camera (a CUDA run's chain, here on the CPU): after the calibrations, a projection
    calls neither OPU.linear nor the host camera, and agrees with numpy within the GEMM's float32 rounding."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=10, n_out=48)
    ref = OpticalFeedback(OPU(cfg, seed=1), backend="numpy")
    dev = OpticalFeedback(OPU(cfg, seed=1), backend="torch")
    dev._torch_opus["cpu"] = TorchOPU(dev.opu, "cpu", gemm="torch", camera="torch", generate="torch")
    e0, e1 = _errors(32, 10, 0), _errors(32, 10, 1)
    ref.project(e0)
    dev.project(e0)  # probes and reference calibration (host, once)

    def host(*a, **k):
        raise AssertionError("a host path of the OPU was used during a device-side step")

    monkeypatch.setattr(dev.opu, "linear", host)
    monkeypatch.setattr(dev.opu.camera, "read", host)
    monkeypatch.setattr(dev.opu.camera, "_read", host)
    y_ref, y = ref.project(e1).numpy(), dev.project(e1).numpy()
    assert ref.opu.frames_used == dev.opu.frames_used
    assert np.mean(np.isclose(y, y_ref, rtol=1e-5, atol=1e-6 * np.abs(y_ref).max())) >= 0.999


@CUDA
def test_cuda_backend_agrees_with_numpy():
    cfg = DeviceConfig.preset("lab-cmos", n_in=10, n_out=64)
    ref = OpticalFeedback(OPU(cfg, seed=2), backend="numpy")
    gpu = OpticalFeedback(OPU(cfg, seed=2), backend="auto")
    for i in range(3):
        e = _errors(64, 10, i)
        y_ref = ref.project(e).numpy()
        y = gpu.project(e.cuda())
        assert y.is_cuda and y.dtype == e.dtype
        y = y.cpu().numpy()
        assert np.mean(np.isclose(y, y_ref, rtol=1e-5, atol=1e-6 * np.abs(y_ref).max())) >= 0.999
    assert ref.opu.frames_used == gpu.opu.frames_used


#: the optical-DFA block proposed for the large-model configs (data/configs/chars-gpt-1b.toml)
LARGE_MODEL_OPTICAL = {
    "encoding": "bitplanes",
    "n_bits": 1,
    "rounding": "stochastic",
    "opu": "lab-cmos",
    "opu_power_scale": 10.0,
    "backend": "auto",
    "opu_overrides": {"camera.bit_depth": 12, "camera.gain_e_per_dn": 2.5, "reference.fraction": 0.125},
}


def test_tiny_gpt_trains_with_optical_dfa_on_both_backends():
    """The large-model optical-DFA settings on a tiny GPT: a few steps run, count frames, and the torch
    backend (the GPU path, here on the CPU) gives the numpy backend's trajectory bit for bit."""
    from dfa import make_config
    from dfa.trainer.train import train_method

    res = {}
    for backend in ("numpy", "torch"):
        cfg = make_config("chars", model="gpt", methods=("optical-dfa",), epochs=1, steps_per_epoch=3, batch_size=2,
                          model_options={"d_model": 16, "n_layers": 1, "n_heads": 2, "context": 8}, align_every=0,
                          feedback={**LARGE_MODEL_OPTICAL, "backend": backend}, checkpoint_every=1000)
        res[backend] = train_method(cfg, "optical-dfa", progress=False)
    a, b = res["numpy"], res["torch"]
    assert a.steps == b.steps == 3 and a.optical_frames == b.optical_frames > 0
    assert np.isfinite(a.metrics["loss"]) and a.metrics == b.metrics
    np.testing.assert_array_equal(a.history["train_loss"], b.history["train_loss"])  # NaN (no step yet) equals NaN here
