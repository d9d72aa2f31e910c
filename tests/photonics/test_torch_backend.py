"""Torch backend: the counter-based generator's torch twin, and TorchOPU == OPU (same numbers)."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photonics import OPU, DeviceConfig  # noqa: E402
from photonics import kernels as K  # noqa: E402
from photonics.backends.torch_kernels import (  # noqa: E402
    camera_torch,
    gaussian_block_torch,
    major_keys_torch,
    mix64_torch,
    normal_torch,
    poisson_torch,
)
from photonics.backends.torch_opu import TorchOPU  # noqa: E402
from photonics.errors import DTypeError, ShapeError, ValidationError  # noqa: E402
from tests.helpers import binary_frames  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


def _t(a: np.ndarray):
    """uint64 numpy -> int64 torch with the same bits."""
    return torch.from_numpy(np.ascontiguousarray(a).view(np.int64))


def test_photonics_never_imports_torch():
    code = "import sys, photonics, photonics.backends.torch_opu, photonics.backends.torch_kernels, photonics.distributed, photonics.scaling; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_mix64_and_normal_twins():
    z = np.arange(1 << 16, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    assert np.array_equal(mix64_torch(_t(z)).numpy().view(np.uint64), K.mix64_numpy(z))
    majors = np.arange(40, dtype=np.uint64)
    ref = K.normal_numpy(0x1234, majors, 5000)  # 200k variates: ~2400 ziggurat rejections, ~12 tail draws
    km = major_keys_torch(0x1234, _t(majors))
    assert np.array_equal(km.numpy().view(np.uint64), K.major_keys_numpy(0x1234, majors))
    got = normal_torch(km[:, None], torch.arange(5000)[None, :]).numpy()
    assert np.array_equal(got, ref)
    # a key with the top bit set (negative as int64)
    big = (1 << 64) - 12345
    assert np.array_equal(normal_torch(major_keys_torch(big, torch.arange(3))[:, None], torch.arange(50)[None, :]).numpy(),
                          K.normal_numpy(big, np.arange(3, dtype=np.uint64), 50))


@pytest.mark.parametrize("lam", [0.0, 0.3, 4.0, 9.99, 10.0, 47.0, 1.0e3, 2.5e5, 3.0e7])
def test_poisson_twin(lam):
    n = 20_000
    km = K.major_keys_numpy(777, np.arange(n, dtype=np.uint64) % 13)
    cnt = np.arange(n, dtype=np.uint64)
    ref = K.poisson_numpy(km, cnt, np.full(n, lam))
    got = poisson_torch(_t(km), _t(cnt), torch.full((n,), lam, dtype=torch.float64)).numpy()
    # identical except where exp/log/lgamma differ by an ulp at an accept/reject boundary
    assert np.mean(got == ref) >= 1 - 1e-4


def test_gaussian_block_and_camera_twins(rng):
    ref = K.gaussian_block_numpy(99, 3, 17, 5, 300, 0.25)
    assert np.array_equal(gaussian_block_torch(99, 3, 17, 5, 300, 0.25).numpy(), ref)
    n_frames, n_pix = 5, 3000
    power = (rng.exponential(1.0, size=(n_frames, n_pix)) * 1e-12).astype(np.float32)
    power[0, :40] = 1e-6  # saturating
    e_per_w = np.full(n_pix, 2.0e15) * (1 + 0.01 * rng.normal(size=n_pix))
    dark = np.abs(rng.normal(2.0, 1.0, size=n_pix))
    offset = 10.0 + rng.normal(0.0, 1.0, size=n_pix)
    for shot, clip, quant in [(True, True, True), (False, False, False), (True, False, True)]:
        args = (7.0, 3000.0, 1 / 8.0, 255.0, shot, clip, quant)
        ref = K.camera_numpy(power, e_per_w, dark, offset, *args, 11, 12, 1000)
        got = camera_torch(torch.from_numpy(power), torch.from_numpy(e_per_w), torch.from_numpy(dark), torch.from_numpy(offset), *args,
                           11, 12, 1000).numpy()
        assert np.mean(np.isclose(got, ref, rtol=1e-12, atol=1e-9)) >= 1 - 1e-4
        if quant:
            assert got.max() <= 255 and got.min() >= 0


@pytest.mark.parametrize("camera", ["torch", "numpy"])
@pytest.mark.parametrize("device", DEVICES)
def test_torch_opu_equals_numpy_opu_noisy(device, camera, rng):
    """Full camera chain (shot, dark, read, PRNU/DSNU, leak, 8-bit ADC): same DN from the same state."""
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=200, n_out=300), seed=7)
    x = binary_frames(rng, 40, 200)
    state = opu.state_dict()
    ref = opu.project(x)
    raw_ref = opu.project(x, raw=True)
    after = opu.frames_used
    opu.load_state_dict(state)
    t = TorchOPU(opu, device, camera=camera)
    assert t.camera_backend == camera
    y = t.project(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.device.type == torch.device(device).type
    assert np.mean(y.cpu().numpy() == ref) >= 0.999
    raw = t.project(torch.from_numpy(x).to(device), raw=True)
    assert raw.dtype == torch.uint8 and np.mean(raw.cpu().numpy() == raw_ref[0]) >= 0.999
    assert opu.frames_used == after  # the torch frames counted on the wrapped device


@pytest.mark.parametrize("camera", ["torch", "numpy"])
def test_deep_adc_frames(camera, rng):
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=32, n_out=50, camera__bit_depth=12, laser__power_w=2.3e-8), seed=4)
    x = binary_frames(rng, 6, 32)
    state = opu.state_dict()
    ref = opu.project(x, raw=True)[0]
    opu.load_state_dict(state)
    raw = TorchOPU(opu, camera=camera).project(x, raw=True)
    assert raw.dtype == torch.int32 and ref.dtype == np.uint16
    assert np.mean(raw.numpy() == ref) >= 0.999 and ref.max() > 255


@pytest.mark.parametrize("device", DEVICES)
def test_torch_opu_noiseless_and_linear(device, rng):
    opu = OPU(DeviceConfig.preset("ideal", n_in=128, n_out=96), seed=2)
    x = binary_frames(rng, 16, 128)
    t = TorchOPU(opu, device)
    ref = opu.project(x)
    y = t.project(x).cpu().numpy()
    assert np.allclose(y, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    p = t.power(x).cpu().numpy()
    assert np.allclose(p, opu.optical_power(x), rtol=1e-5, atol=1e-6 * p.max())
    # linear projection through the reference (the calibration is the wrapped OPU's)
    noisy = OPU(DeviceConfig.preset("lab-cmos", n_in=64, n_out=80), seed=3)
    xs = binary_frames(rng, 12, 64)
    state = noisy.state_dict()
    z_ref = noisy.linear(xs)
    noisy.load_state_dict(state)
    z = TorchOPU(noisy, device, camera="torch").linear(xs).cpu().numpy()
    assert np.mean(np.isclose(z, z_ref, rtol=1e-5, atol=1e-5)) >= 0.999
    single = TorchOPU(noisy, device).linear(xs[0], scheme="strong-reference")
    assert tuple(single.shape) == (80,)


@pytest.mark.parametrize("generate", ["numpy", "torch"])
def test_procedural_medium_on_the_device(generate, rng):
    cfg = DeviceConfig.preset("lab-cmos", n_in=96, n_out=700, medium__storage="procedural", medium__block_rows=256)
    opu = OPU(cfg, seed=11)
    x = binary_frames(rng, 9, 96)
    state = opu.state_dict()
    ref = opu.project(x)
    opu.load_state_dict(state)
    t = TorchOPU(opu, "cpu", generate=generate, camera="torch", gemm="torch")
    assert "procedural" in repr(t)
    assert np.mean(t.project(x).numpy() == ref) >= 0.999


def test_errors(rng):
    opu = OPU(DeviceConfig.preset("ideal", n_in=16, n_out=8), seed=0)
    t = TorchOPU(opu)
    with pytest.raises(ShapeError, match="n_in=16"):
        t.project(np.zeros((2, 15)))
    with pytest.raises(ValidationError, match="binary"):
        t.project(np.full((2, 16), 0.5))
    with pytest.raises(ValidationError, match="binary"):
        t.project(torch.full((16,), float("nan")))
    with pytest.raises(DTypeError, match="complex"):
        t.project(torch.zeros(16, dtype=torch.complex64))
    with pytest.raises(DTypeError, match="numeric"):
        t.project(np.array([["a"] * 16]))
    with pytest.raises(ValidationError, match="device"):
        TorchOPU(opu, device="no-such-device")
    with pytest.raises(ValidationError, match="photonics.OPU"):
        TorchOPU("ideal")
    with pytest.raises(ValidationError, match="generate"):
        TorchOPU(opu, generate="gpu")
    with pytest.raises(ValidationError, match="camera"):
        TorchOPU(opu, camera="cuda")
    with pytest.raises(ValidationError, match="gemm"):
        TorchOPU(opu, gemm="cublas")
    assert TorchOPU(opu).gemm == "numpy" and TorchOPU(opu, gemm="torch").gemm == "torch"
    assert TorchOPU(opu).camera_backend == "numpy"  # auto on a CPU device
    drifting = OPU(DeviceConfig.preset("ideal", n_in=16, n_out=8, medium__decorrelation_time_s=1.0), seed=0)
    with pytest.raises(ValidationError, match="static"):
        TorchOPU(drifting)
    with pytest.raises(ValidationError, match="exposure_s"):
        t.project(np.zeros(16), exposure_s=-1.0)


@pytest.mark.parametrize("scheme,storage", [("exact", "dense"), ("strong-reference", "dense"), ("exact", "procedural")])
def test_linear_frames_on_cpu_equal_opu_linear_bit_for_bit(scheme, storage, rng):
    """Default CPU TorchOPU (the medium's numpy GEMM, the numba camera): OPU.linear's bits, the same clock,
    whether the frames come in one chunk or several; the field is computed once for both exposures."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=24, n_out=70, reference__scheme=scheme, medium__storage=storage, medium__block_rows=32)
    opu = OPU(cfg, seed=6)
    x = binary_frames(rng, 13, 24)
    opu.calibrate_reference()
    state = opu.state_dict()
    ref = opu.linear(x)
    after = opu.frames_used
    opu.load_state_dict(state)
    t = TorchOPU(opu, "cpu")
    t._chunk = lambda: 5  # several chunks: frame indices must not depend on chunking
    y = t.linear_frames(torch.from_numpy(x).to(torch.float32))
    assert y.dtype == torch.float32 and np.array_equal(y.numpy().view(np.uint32), ref.view(np.uint32))
    assert opu.frames_used == after
    opu.load_state_dict(state)
    assert np.array_equal(TorchOPU(opu, "cpu").linear(x).numpy(), ref)  # the public method, same path


def test_linear_frames_with_the_device_side_chain_on_cpu(rng):
    """gemm/camera/generate = torch (what a CUDA device runs), on the CPU: OPU.linear's numbers within the
    documented float32 rounding of the GEMM (a DN flips where it crosses a rounding boundary)."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=40, n_out=90)
    opu = OPU(cfg, seed=8)
    x = binary_frames(rng, 30, 40)
    opu.calibrate_reference()
    state = opu.state_dict()
    ref = opu.linear(x)
    opu.load_state_dict(state)
    y = TorchOPU(opu, "cpu", gemm="torch", camera="torch").linear_frames(torch.from_numpy(x).float()).numpy()
    assert np.mean(y == ref) >= 0.999
