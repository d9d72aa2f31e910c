"""The recalibration hook behind the ``recalibration_period_s`` sweep parameter: the optical feedback
measures the reference levels again every period of device time; under drift that keeps the
linear projection close to the device's current effective matrix, and every frame is accounted."""

import numpy as np
import pytest
import torch

from dfa.mechanism.feedback import FeedbackConfig, build_feedback
from photonics.errors import ConfigError


def _provider(period, tau=50.0):
    cfg = FeedbackConfig(dedupe=False, n_probes=4, opu_overrides={"medium.decorrelation_time_s": tau}, recalibrate_every_s=period)
    return build_feedback("optical", 10, 32, seed=0, config=cfg)


def _linear_error(opu) -> float:
    """Relative error of a fresh linear measurement against the device's current effective matrix."""
    x = (np.random.default_rng(1).random((64, 10)) < 0.5).astype(np.uint8)
    y = opu.linear(x).astype(np.float64)
    b = opu.effective_linear_matrix()
    return float(np.linalg.norm(y - x @ b.T) / np.linalg.norm(x @ b.T))


def test_recalibration_under_drift_keeps_the_projection_accurate_and_counts_frames():
    e = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    period = 0.2
    fresh, stale = _provider(period), _provider(None)
    elapsed = []  # device time since the last calibration, as the rule sees it before projections 2..20
    for fb in (fresh, stale):
        for i in range(20):
            if fb is fresh and i > 0:
                elapsed.append(fb.opu.device_time_s - fb.opu.reference_calibration.device_time_s)
            fb.project(e)
    assert stale.recalibrations == 0 and fresh.recalibrations > 0
    # replay the rule independently: recalibrate before a projection once `period` has passed. The test
    # must not sit on the rule's edge, where float rounding of frames x frame period would decide
    # (deterministic, but arbitrary): every elapsed time is at least one camera frame away from it
    frame_s = fresh.opu.config.frame_period_s
    assert min(abs(t - period) for t in elapsed) > frame_s, elapsed
    assert fresh.recalibrations == sum(t >= period for t in elapsed)
    # here: the first projection follows the first calibration by the probes only (4 x 8 camera
    # frames at 1 kHz = 0.032 s); every later one follows a batch of 64 errors (>= 128 camera frames)
    # that takes longer than the period, so all 19 later projections recalibrate first
    assert fresh.recalibrations == 19
    cal = fresh.opu.reference_calibration
    assert cal.device_time_s > stale.opu.reference_calibration.device_time_s
    # frame accounting: first calibration + recalibrations (3 x calibration_frames each), the probes
    # (2 repeats x 2 DMD frames x 2 camera frames each), 2 camera frames per displayed DMD frame
    for fb in (fresh, stale):
        n_cal = fb.opu.config.reference.calibration_frames
        expected = 3 * n_cal * (1 + fb.recalibrations) + 8 * fb.n_probes + 2 * fb.frames_displayed
        assert fb.opu.frames_used == expected
        assert fb.describe()["recalibrations"] == fb.recalibrations
    # after ~5 s of device time (the medium's correlation with t = 0 is down to ~0.9; tau = 50 s,
    # held for dt = 0.5 s) the stale reference levels spoil the projection; fresh ones do not
    # (the residual error is the camera noise of these small 32-pixel measurements)
    err_fresh, err_stale = _linear_error(fresh.opu), _linear_error(stale.opu)
    assert err_fresh < 0.5 * err_stale, (err_fresh, err_stale)


def test_recalibration_state_survives_a_checkpoint():
    e = torch.randn(16, 10, generator=torch.Generator().manual_seed(2))
    a = _provider(0.05)
    for _ in range(3):
        a.project(e)
    b = _provider(0.05)
    b.load_state_dict(a.state_dict())
    assert b.recalibrations == a.recalibrations > 0
    assert torch.equal(a.project(e), b.project(e))


def test_recalibration_period_is_validated():
    with pytest.raises(ConfigError, match=r"feedback.recalibrate_every_s must be > 0 s"):
        FeedbackConfig(recalibrate_every_s=0.0)
    with pytest.raises(ConfigError, match="feedback.recalibrate_every_s must be a real number"):
        FeedbackConfig(recalibrate_every_s="1s")
