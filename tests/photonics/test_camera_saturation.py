"""More light never reads less, at any power up to the float maximum (numba, numpy and torch read-outs).

Before the fix the numba kernel's ``math.floor`` returned an int64, which overflowed above ~9.2e18
mean electrons: a saturated pixel then read dark (8-12 DN on lab-cmos instead of 255).
"""

import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics import kernels as K

N_PIX = 64
#: optical powers [W] from far below one electron to the largest float64
POWERS = np.concatenate([np.logspace(-20, 300, 161), [1e305, 1e307, np.finfo(np.float64).max]])
CAMERA = dict(e_per_w=2.0e15, dark_e=2.0, offset_dn=10.0, read_noise_e=7.0, full_well_e=10500.0, dn_per_e=1 / 8.0, max_dn=255.0)


def _read(backend: str, power_w: np.ndarray, clip: bool, quantize: bool, shot: bool = True, read: bool = True) -> np.ndarray:
    """Readings (levels, pixels) of the same pixels (same noise counters) at every power level."""
    c = CAMERA
    n_lv = power_w.shape[0]
    p = np.repeat(power_w[:, None], N_PIX, axis=1)
    e_per_w = np.full(N_PIX, c["e_per_w"])
    dark = np.full(N_PIX, c["dark_e"])
    offset = np.full(N_PIX, c["offset_dn"])
    rn = c["read_noise_e"] if read else 0.0
    args = (offset, rn, c["full_well_e"], c["dn_per_e"], c["max_dn"], shot, clip, quantize)
    out = np.empty(p.shape)
    if backend == "numba":
        K.camera_numba(p, e_per_w, dark, *args, np.uint64(1), np.uint64(2), 0, out)
    elif backend == "serial":
        K.camera_serial(p, e_per_w, dark, *args, np.uint64(1), np.uint64(2), 0, out)
    elif backend == "noiseless":
        K.camera_noiseless_numba(p, e_per_w, dark, offset, c["full_well_e"], c["dn_per_e"], c["max_dn"], clip, quantize, out)
    elif backend == "numpy":
        out = K.camera_numpy(p, e_per_w, dark, *args, 1, 2, 0)
    else:
        torch = pytest.importorskip("torch")
        from photonics.backends.torch_kernels import camera_torch

        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))  # noqa: E731
        out = camera_torch(t(p), t(e_per_w), t(dark), t(offset), *args[1:], 1, 2, 0).numpy()
    assert out.shape == (n_lv, N_PIX)
    return out


@pytest.mark.parametrize("backend", ["numba", "serial", "numpy", "torch"])
@pytest.mark.parametrize("clip", [True, False])
def test_more_light_never_reads_less(backend, clip):
    dn = _read(backend, POWERS, clip=clip, quantize=True)
    c = CAMERA
    with np.errstate(over="ignore"):
        mean_e = POWERS * c["e_per_w"] + c["dark_e"]
    assert np.all((dn >= 0) & (dn <= c["max_dn"]))
    # far above saturation (20 sigma of shot + read noise): every pixel reads full scale
    if clip:
        sat = mean_e >= c["full_well_e"] + 20 * math.sqrt(c["full_well_e"])
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            low = (mean_e - 20 * np.sqrt(mean_e + c["read_noise_e"] ** 2)) * c["dn_per_e"] + c["offset_dn"]
        sat = np.isinf(mean_e) | (low >= c["max_dn"] + 1)
    assert sat.sum() > 100
    assert np.all(dn[sat] == c["max_dn"])
    # below: the mean reading never drops by more than 5 standard errors from one power to the next
    m = dn.mean(axis=1)
    se = dn.std(axis=1, ddof=1) / math.sqrt(N_PIX)
    assert np.all(m[1:] >= m[:-1] - 5 * np.sqrt(se[1:] ** 2 + se[:-1] ** 2) - 1e-12)


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("quantize", [True, False])
def test_noiseless_reading_is_monotone(clip, quantize):
    """Without noise the reading of every pixel is a non-decreasing function of the power."""
    for backend in ("noiseless", "numba", "numpy"):
        dn = _read(backend, POWERS, clip=clip, quantize=quantize, shot=False, read=False)
        assert np.all(dn[1:] >= dn[:-1]), backend  # (inf >= inf where the mean overflows to inf)
        assert not np.isnan(dn).any()
        if quantize:
            assert np.all(dn[-40:] == CAMERA["max_dn"])


def test_float32_power_maximum():
    """The largest float32 power (the projection's dtype) reads full scale."""
    p = np.full((3, N_PIX), np.finfo(np.float32).max, dtype=np.float32)
    e_per_w = np.full(N_PIX, 2.0e15)
    out = np.empty(p.shape, dtype=np.uint8)
    K.camera_numba(p, e_per_w, np.zeros(N_PIX), np.full(N_PIX, 10.0), 7.0, 10500.0, 0.125, 255.0, True, True, True,
                   np.uint64(1), np.uint64(2), 0, out)
    assert np.all(out == 255)


def test_saturated_opu_reads_full_scale():
    """The example of the report: 1e6 W on a lab-cmos sensor read 8-12 DN instead of 255."""
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=32, n_out=32))
    assert np.all(opu.expose(np.full((1, 32), 1e6)) == 255)
    levels = np.array([1e-12, 1e-9, 1e-6, 1.0, 1e6, 1e30, 1e300, np.finfo(np.float64).max])
    frames = opu.expose(np.repeat(levels[:, None], 32, axis=1))
    assert np.all(frames[3:] == 255)
    assert np.all(np.diff(frames.astype(np.int64).mean(axis=1)) >= 0)
