"""Feedback providers: scale convention, optical projection vs the device's ground-truth B,
frame and device-time accounting, state round trips, stored matrices."""

import math

import numpy as np
import pytest
import torch

from dfa.mechanism.feedback import (
    ErrorQuantizer,
    FeedbackConfig,
    GaussianFeedback,
    OpticalFeedback,
    StoredFeedback,
    build_feedback,
    load_feedback_matrix,
    save_feedback_matrix,
    ternarize_error,
)
from photonics import OPU, DeviceConfig
from photonics.errors import ConfigError, FileFormatError, ShapeError, ValidationError


def test_ternarize_error_by_hand():
    e = np.array([[0.1, -0.9, 0.4, 0.0], [0.0, 0.0, 0.0, 0.0], [-0.2, 0.2, 0.05, 0.1]])
    t, a = ternarize_error(e, 0.35)
    # row 0: |e| > 0.315 -> -0.9, 0.4 kept; row 2: |e| > 0.07 -> -0.2, 0.2, 0.1 kept
    assert t.tolist() == [[0, -1, 1, 0], [0, 0, 0, 0], [-1, 1, 0, 1]]
    assert a == pytest.approx([0.65, 0.0, 0.5 / 3])


def test_gaussian_feedback_seeded_scaled_buffer():
    fb = GaussianFeedback(10, 3000, seed=5, scale=2.0)
    b = fb.matrix.numpy().astype(np.float64)
    assert b.shape == (3000, 10) and "matrix" in fb.state_dict()
    # entries ~ N(0, scale^2 / n_in): sample variance within 5 standard errors
    target = 4.0 / 10
    se = target * math.sqrt(2.0 / b.size)
    assert abs(b.var() - target) < 5 * se and abs(b.mean()) < 5 * math.sqrt(target / b.size)
    assert torch.equal(GaussianFeedback(10, 3000, seed=5, scale=2.0).matrix, fb.matrix)
    assert not torch.equal(GaussianFeedback(10, 3000, seed=6, scale=2.0).matrix, fb.matrix)
    e = torch.randn(4, 10, dtype=torch.float64)
    y = fb.project(e)
    assert y.dtype == torch.float64 and torch.allclose(y, e @ fb.matrix.double().T)
    with pytest.raises(ShapeError, match=r"\(batch, n_in=10\)"):
        fb.project(torch.zeros(4, 11))
    with pytest.raises(ValidationError, match="NaN"):
        fb.project(torch.full((2, 10), float("nan")))


def test_gaussian_feedback_ternarized_option():
    fb = GaussianFeedback(6, 50, seed=1, quantizer=ErrorQuantizer("ternary", 0.35))
    e = np.array([[0.1, -0.9, 0.4, 0.0, 0.0, 0.05]])
    t, a = ternarize_error(e, 0.35)
    ref = (a[:, None] * t) @ fb.matrix.numpy().T.astype(np.float64)
    assert np.allclose(fb.project(torch.tensor(e)).numpy(), ref)


@pytest.fixture(scope="module")
def ideal_opu():
    return OPU(DeviceConfig.preset("ideal", n_in=10, n_out=400), seed=11)


def test_optical_feedback_on_ideal_device_is_the_effective_matrix(ideal_opu):
    fb = OpticalFeedback(ideal_opu, quantizer=ErrorQuantizer(threshold=0.35), scale=1.0, n_probes=16, probe_seed=3)
    e = torch.randn(24, 10, generator=torch.Generator().manual_seed(0)) * 0.05
    e[5] = 0.0  # no error: no frames, zero feedback
    y = fb.project(e).numpy().astype(np.float64)
    b = ideal_opu.effective_linear_matrix()  # ground truth of the noiseless OPU.linear
    t, a = ternarize_error(e.numpy(), 0.35)
    ref = a[:, None] * fb.gain * (t @ b.T)
    assert np.max(np.abs(y - ref)) < 1e-5 * np.abs(ref).max()
    assert np.all(y[5] == 0)


def test_optical_probe_gain_matches_the_scale_convention(ideal_opu):
    """g^2 mean(B_opt^2) = scale^2 / n_in, within the spread of the probe estimator."""
    fb = OpticalFeedback(ideal_opu, scale=1.5, n_probes=64, probe_seed=4)
    fb.calibrate()
    b = ideal_opu.effective_linear_matrix()
    # the probe estimator is sum |B p|^2 / (n_out sum |p|^2); its spread, from independent probes
    rng = np.random.default_rng(1)
    p = rng.choice([-1, 0, 1], size=(64, 10), p=[0.25, 0.5, 0.25]).astype(float)
    p = p[p.any(axis=1)]
    ratios = ((p @ b.T) ** 2).sum(1) / (b.shape[0] * (p**2).sum(1))
    rel_se = ratios.std(ddof=1) / ratios.mean() / math.sqrt(len(ratios))
    got = fb.gain**2 * np.mean(b**2)
    assert abs(got / (1.5**2 / 10) - 1) < 5 * rel_se


@pytest.mark.parametrize("blank", ["skip", "measure"])
def test_optical_counts_frames_and_device_time(blank):
    cfg = DeviceConfig.preset("lab-cmos", n_in=10, n_out=64)
    opu = OPU(cfg, seed=1)
    fb = OpticalFeedback(opu, n_probes=8, dedupe=False, blank_frames=blank)
    e = torch.randn(12, 10, generator=torch.Generator().manual_seed(2))
    e[[3, 7]] = 0.0
    e[5] = 0.0
    e[5, 2] = 1.0  # one sign only: its negative frame is blank
    fb.project(e)
    calib = 3 * cfg.reference.calibration_frames  # reference, zero and dark levels
    probes = 2 * 8 * 2 * 2  # 8 probes projected twice, 2 ternary frames each, 2 camera frames per DMD frame (exact)
    t, _ = ternarize_error(e.numpy(), 0.35)
    if blank == "skip":
        shown = int((t > 0).any(axis=1).sum() + (t < 0).any(axis=1).sum())  # all-zero frames are not displayed
        assert 10 <= shown < 20
    else:
        shown = 2 * 10  # both frames of every sample with an error, blank ones included
    expected = calib + probes + 2 * shown
    assert fb.frames_used == expected == opu.frames_used
    assert fb.device_time_s == pytest.approx(expected / cfg.frame_rate_hz)
    before = fb.frames_used
    fb.project(torch.zeros(5, 10))
    assert fb.frames_used == before  # nothing to project, no frame
    d = fb.describe()
    assert d["frames_per_sample"] == 4 and d["device"] == "lab-cmos" and d["frames_used"] == expected
    assert d["dmd_frames_displayed"] == shown and d["dmd_frames_requested"] == 2 * 10


def test_optical_dedupe_displays_each_pattern_once(ideal_opu):
    e = torch.tensor([[0.1, -0.9] + [0.0] * 8, [0.2, -0.8] + [0.0] * 8, [-0.9, 0.5] + [0.0] * 8, [0.05, -0.5] + [0.0] * 8])
    # ternary rows 0, 1, 3 -> (0, -1, 0...): frames (t > 0) = 0 (not shown), (t < 0) = one-hot(1);
    # row 2 -> (-1, 1, 0...): frames one-hot(1), one-hot(0). Distinct nonzero frames: 2 (of 5)
    cfg_ideal = ideal_opu.config
    a = OpticalFeedback(OPU(cfg_ideal, seed=11), n_probes=4, dedupe=True, blank_frames="skip")
    b = OpticalFeedback(OPU(cfg_ideal, seed=11), n_probes=4, dedupe=False, blank_frames="skip")
    a.calibrate()
    b.calibrate()
    f0a, f0b = a.frames_used, b.frames_used
    ya, yb = a.project(e), b.project(e)
    assert a.frames_used - f0a == 2 * 2 and b.frames_used - f0b == 5 * 2
    # measured blank frames: the all-zero frame is one more distinct frame (dedupe), or one per sample that has it
    am = OpticalFeedback(OPU(cfg_ideal, seed=11), n_probes=4, dedupe=True)
    bm = OpticalFeedback(OPU(cfg_ideal, seed=11), n_probes=4, dedupe=False)
    am.calibrate()
    bm.calibrate()
    f0a, f0b = am.frames_used, bm.frames_used
    yam, ybm = am.project(e), bm.project(e)
    assert am.frames_used - f0a == 3 * 2 and bm.frames_used - f0b == 8 * 2
    assert torch.allclose(yam, ya, rtol=1e-5, atol=1e-5 * float(ya.abs().max()))  # noiseless: the blank measures ~0
    assert torch.allclose(ybm, yb, rtol=1e-5, atol=1e-5 * float(yb.abs().max()))
    assert torch.allclose(ya, yb, rtol=1e-5, atol=1e-6 * float(yb.abs().max()))  # noiseless device: same numbers
    cfg = DeviceConfig.preset("lab-cmos", n_in=10, n_out=64)
    noisy = OpticalFeedback(OPU(cfg, seed=2), n_probes=4, dedupe=True, gain_rule="signal")
    y = noisy.project(e).numpy()
    _, mag = ternarize_error(e.numpy(), noisy.quantizer.threshold)
    # duplicates share one measurement (and its noise): equal up to their magnitudes a
    assert np.allclose(y[0] / mag[0], y[1] / mag[1]) and np.allclose(y[0] / mag[0], y[3] / mag[3])


def test_optical_output_follows_device_and_dtype(ideal_opu):
    fb = OpticalFeedback(ideal_opu, n_probes=4)
    e = torch.randn(3, 10, dtype=torch.float64)
    y = fb.project(e)
    assert y.dtype == torch.float64 and y.device == e.device and y.shape == (3, 400)


def test_optical_per_projection_rescale(ideal_opu):
    fb = OpticalFeedback(ideal_opu, rescale="per-projection", scale=2.0)
    e = torch.randn(6, 10, generator=torch.Generator().manual_seed(3))
    y = fb.project(e).numpy().astype(np.float64)
    t, a = ternarize_error(e.numpy(), fb.quantizer.threshold)
    # each row has the rms a * scale * |t| / sqrt(n_in) and the direction of B_opt t
    target = a * 2.0 * np.sqrt((t**2).sum(1) / 10)
    assert np.allclose(np.sqrt(np.mean(y**2, axis=1)), target, rtol=1e-5)
    ref = t @ ideal_opu.effective_linear_matrix().T
    cos = (y * ref).sum(1) / np.linalg.norm(y, axis=1) / np.linalg.norm(ref, axis=1)
    assert np.allclose(cos, 1.0, atol=1e-6)


def test_optical_state_resumes_noise_stream_exactly():
    cfg = DeviceConfig.preset("lab-cmos", n_in=10, n_out=48)
    e1 = torch.randn(8, 10, generator=torch.Generator().manual_seed(4))
    e2 = torch.randn(8, 10, generator=torch.Generator().manual_seed(5))
    a = OpticalFeedback(OPU(cfg, seed=9), n_probes=4)
    a.project(e1)
    state = a.state_dict()
    y_cont = a.project(e2)
    b = OpticalFeedback(OPU(cfg, seed=9), n_probes=4)
    b.load_state_dict(state)
    y_res = b.project(e2)
    assert torch.equal(y_cont, y_res) and b.frames_used == a.frames_used
    # the noise is real: projecting the same error again differs (lab-cmos has shot/read noise)
    assert not torch.equal(a.project(e2), y_cont)
    other = OpticalFeedback(OPU(cfg, seed=10), n_probes=4)
    with pytest.raises(FileFormatError, match="another device"):
        other.load_state_dict(state)


def test_stored_feedback_roundtrip_and_errors(tmp_path, rng):
    m = rng.normal(size=(30, 7)) * 3.0
    p = save_feedback_matrix(tmp_path / "b.h5", m, description="test matrix")
    got, meta = load_feedback_matrix(p)
    assert np.allclose(got, m, rtol=1e-6) and meta["description"] == "test matrix"
    fb = StoredFeedback.from_file(p, scale=1.0)
    b = fb.matrix.numpy().astype(np.float64)
    assert np.mean(b**2) == pytest.approx(1.0 / 7, rel=1e-5)
    assert np.allclose(b / np.linalg.norm(b), m / np.linalg.norm(m), atol=1e-6)  # same direction
    raw = StoredFeedback(m, normalize=False)
    assert np.allclose(raw.matrix.numpy(), m, rtol=1e-6)
    cfg = FeedbackConfig(stored_path=str(p))
    assert build_feedback("stored", 7, 30, seed=0, config=cfg).n_out == 30
    with pytest.raises(ShapeError, match="30 x 7.*needs 40 x 7"):
        build_feedback("stored", 7, 40, seed=0, config=cfg)
    with pytest.raises(ConfigError, match="stored_path"):
        build_feedback("stored", 7, 30, seed=0, config=FeedbackConfig())
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(FileFormatError):
        StoredFeedback.from_file(tmp_path / "junk.h5")
    with pytest.raises(ShapeError):
        save_feedback_matrix(tmp_path / "v.h5", np.ones(5))
    with pytest.raises(ValidationError, match="NaN"):
        StoredFeedback(np.full((3, 2), np.nan))


def test_build_feedback_registry_and_config_checks():
    fb = build_feedback("gaussian", 4, 9, seed=1)
    assert isinstance(fb, GaussianFeedback) and (fb.n_in, fb.n_out) == (4, 9)
    with pytest.raises(ConfigError, match="unknown feedback kind 'laser'"):
        build_feedback("laser", 4, 9, seed=1)
    with pytest.raises(ConfigError, match="feedback.threshold must be < 1"):
        FeedbackConfig(threshold=1.0)
    with pytest.raises(ConfigError, match="feedback.rescale"):
        FeedbackConfig(rescale="auto")
    with pytest.raises(ConfigError, match="feedback.backend must be one of"):
        FeedbackConfig(backend="cuda")
    with pytest.raises(ConfigError, match="feedback.blank_frames"):
        FeedbackConfig(blank_frames="zero")
    with pytest.raises(ConfigError, match="feedback.gain_rule"):
        FeedbackConfig(gain_rule="mmse")
    with pytest.raises(ConfigError, match="feedback.min_signal_fraction"):
        FeedbackConfig(min_signal_fraction=1.5)
    cfg = FeedbackConfig(backend="numpy", blank_frames="skip", gain_rule="signal", min_signal_fraction=0.0)
    assert FeedbackConfig.from_dict(cfg.to_dict()) == cfg
    opt = build_feedback("optical", 10, 20, seed=3, config=FeedbackConfig(opu="ideal", opu_overrides={"camera.exposure_s": 2e-6}))
    assert opt.opu.config.camera.exposure_s == 2e-6 and (opt.opu.n_in, opt.opu.n_out) == (10, 20)


def test_bitplane_quantizer_by_hand():
    qz = ErrorQuantizer("bitplanes", n_bits=3)
    e = np.array([[0.1, -0.9, 0.4, 0.0], [0.0, 0.0, 0.0, 0.0]])
    q, s = qz(e)
    assert q.tolist() == [[1, -7, 3, 0], [0, 0, 0, 0]] and s == pytest.approx([0.9 / 7, 0.0])
    assert qz.levels == 7 and qz.dmd_frames_per_sample == 6
    # the encoder displays q exactly: decode(encode(q)) through an identity device
    enc = qz.encoder()
    frames = enc.encode(q)
    assert frames.shape == (6, 2, 4) and set(np.unique(frames)) <= {0, 1}
    assert np.array_equal(enc.decode(frames.astype(np.float32)), q.astype(np.float32))
    with pytest.raises(ValidationError, match="n_bits must be <= 8"):
        ErrorQuantizer("bitplanes", n_bits=9)
    with pytest.raises(ValidationError, match="encoding must be one of"):
        ErrorQuantizer("analog")


def test_optical_bitplanes_on_ideal_device(ideal_opu):
    qz = ErrorQuantizer("bitplanes", n_bits=4)
    opu = OPU(ideal_opu.config, seed=11)
    fb = OpticalFeedback(opu, quantizer=qz, n_probes=8, dedupe=False, blank_frames="skip")
    fb.calibrate()
    f0 = fb.frames_used
    e = torch.randn(7, 10, generator=torch.Generator().manual_seed(8)) * 0.01
    y = fb.project(e).numpy().astype(np.float64)
    q, s = qz(e.numpy())
    ref = s[:, None] * fb.gain * (q @ opu.effective_linear_matrix().T)
    assert np.max(np.abs(y - ref)) < 1e-5 * np.abs(ref).max()
    frames = qz.encoder().encode(q)
    assert fb.frames_used - f0 == 2 * int(frames.reshape(-1, 10).any(axis=1).sum())  # nonzero planes x exact scheme
    assert fb.frames_requested == 7 * 2 * 4  # samples x sign x bit planes
    # 4-bit copy of the error: much closer to B e than the ternary one
    b = opu.effective_linear_matrix() * fb.gain
    exact = e.numpy().astype(np.float64) @ b.T
    t, a = ternarize_error(e.numpy(), 0.35)
    tern = a[:, None] * (t @ b.T)
    assert np.linalg.norm(y - exact) < 0.5 * np.linalg.norm(tern - exact)


def test_stored_feedback_normalises_any_scale_and_refuses_float32_overflow():
    """Entries of 1e200 or 1e-200 normalise like any other matrix (no zeros, no inf); unnormalised
    entries beyond float32 are refused instead of becoming inf."""
    import numpy as np
    import pytest
    import torch

    from dfa.mechanism.feedback import StoredFeedback
    from photonics.errors import ValidationError

    base = np.random.default_rng(0).normal(size=(64, 4))
    ref = StoredFeedback(base).matrix
    for factor in (1e200, 1e-200):
        m = StoredFeedback(base * factor).matrix
        assert torch.isfinite(m).all() and torch.allclose(m, ref, rtol=1e-6)
        # the convention: mean square entry scale^2 / n_in
        assert float((m.double() ** 2).mean()) == pytest.approx(1.0 / 4, rel=1e-6)
    with pytest.raises(ValidationError, match="beyond float32"):
        StoredFeedback(base * 1e200, normalize=False)
