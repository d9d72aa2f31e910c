"""The dfa consumers of the camera's noise model against simulated frames: the sweep's recorded
noise budget and the optical feedback's photon budget. (Privacy accounting's noise floor is
checked against repeated linear projections in tests/dfa/test_privacy.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from dfa.studies.sweep import plan_sweep, spec_from_dict
from photonics import OPU
from photonics.budget import linear_projection_budget

from .test_sweep_spec import TINY_BASE, _device_of


def test_sweep_budget_matches_the_frames_of_its_device():
    spec = spec_from_dict({"sweep": {"seeds": [0]}, "base": dict(TINY_BASE), "parameters": {"photons_per_pixel": [60.0]}},
                          source="spec.toml")
    dev, point = _device_of(plan_sweep(spec), photons_per_pixel=60.0)
    b = point.budget
    assert b["photons"] == pytest.approx(60.0, rel=1e-9)
    opu = OPU(dev, seed=1)
    repeats = 4000
    frames = opu.expose(np.full((repeats, dev.n_out), b["pixel_power_w"])).astype(np.float64)
    gain = dev.camera.gain_e_per_dn
    var_e2 = frames.var(axis=0, ddof=1).mean() * gain**2
    sd = var_e2 * np.sqrt(2.0 / (repeats - 1)) / np.sqrt(dev.n_out)
    assert abs(var_e2 - b["total_noise_e"] ** 2) < 5 * sd + 0.01 * var_e2
    dark = opu.dark_frames(repeats).astype(np.float64).mean()
    assert (frames.mean() - dark) * gain == pytest.approx(b["signal_e"], rel=0.05)


def test_optical_feedback_reports_the_photon_budget_of_its_device():
    import torch

    from dfa.mechanism.feedback import FeedbackConfig, build_feedback

    fb = build_feedback("optical", 10, 32, seed=0, config=FeedbackConfig(n_probes=4))
    fb.project(torch.randn(3, 10))
    assert fb.describe()["photon_budget"] == linear_projection_budget(fb.optical_device.config)
