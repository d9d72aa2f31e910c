"""The projection's fused hot path (field -> camera DN in one kernel) against the step-by-step chain.

``OPU.project`` and ``OPU.linear`` read the camera through one fused kernel; the reference is the
public chain ``camera.read(optical_power(x), frame0)``, its DN minus the black level (project) and
the documented float32 formulas (linear).
"""

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from tests.helpers import binary_frames


@pytest.mark.parametrize("preset", ["lab-cmos", "ideal"])
def test_project_equals_camera_read_of_optical_power(preset, rng):
    opu = OPU(DeviceConfig.preset(preset, n_in=64, n_out=300), seed=3)
    ref_dev = OPU(DeviceConfig.preset(preset, n_in=64, n_out=300), seed=3)
    for batch in (5, 400):  # serial and parallel kernels
        x = binary_frames(rng, batch, 64)
        frame0 = opu.frames_used
        y = opu.project(x)
        dn = ref_dev.camera.read(ref_dev.optical_power(x), frame0)
        want = np.subtract(dn, np.float32(opu.config.camera.black_level_dn), dtype=np.float32)
        assert y.dtype == np.float32 and np.array_equal(y, want)
        assert opu.frames_used == frame0 + batch
        r0 = ref_dev.frames_used
        raw = ref_dev.project(x, raw=True)
        assert raw.dtype == dn.dtype and np.array_equal(raw[0], ref_dev.camera.read(ref_dev.optical_power(x), r0))
        assert ref_dev.frames_used == r0 + batch


@pytest.mark.parametrize("scheme", ["exact", "strong-reference"])
def test_linear_equals_its_formula(scheme, rng):
    """linear(x) == (I(x + r) - I(x) - Z) / N (exact) or (I(x + r) - R) / N, float32, from the same frames' DN."""
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=48, n_out=200), seed=5)
    x = binary_frames(rng, 30, 48)
    cal = opu.calibrate_reference()
    state = opu.state_dict()
    y = opu.linear(x, scheme=scheme)
    opu.load_state_dict(state)
    frames = opu.linear(x, scheme=scheme, raw=True)  # (1, frames per input, batch, n_out) DN of the same frames
    on = frames[0, 0].astype(np.float32)
    if scheme == "exact":
        want = (on - frames[0, 1].astype(np.float32) - cal.z_dn.astype(np.float32)) / cal.normalisation(scheme)
    else:
        want = (on - cal.r_dn.astype(np.float32)) / cal.normalisation(scheme)
    assert y.dtype == np.float32 and np.array_equal(y, want)
