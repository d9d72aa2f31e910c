"""The OPU end to end: ideal-device identities, linear schemes, noise, determinism, accounting."""

import numpy as np
import pytest

import photonics.device as device_mod
from photonics import OPU, DeviceConfig
from photonics.encoding import BitPlaneEncoder, SignSplitEncoder, TernaryEncoder
from photonics.errors import DTypeError, ShapeError, ValidationError
from tests.helpers import binary_frames


@pytest.fixture(scope="module")
def ideal():
    return OPU(DeviceConfig.preset("ideal", n_in=96, n_out=160), seed=7)


def test_ideal_project_is_scaled_intensity(ideal, rng):
    x = binary_frames(rng, 12, ideal.n_in)
    y = ideal.project(x)
    assert y.dtype == np.float32 and y.shape == (12, ideal.n_out)
    t = ideal.transmission_matrix.astype(np.complex128)
    expected = ideal.pixel_gain_dn_per_field2() * np.abs(ideal.modulator.alpha * (x @ t.T)) ** 2
    assert np.allclose(y, expected, rtol=2e-6, atol=1e-6 * expected.max())
    assert np.allclose(y, ideal.expected_projection(x), rtol=2e-6, atol=1e-6 * expected.max())
    # a single vector in, a single vector out
    assert ideal.project(x[0]).shape == (ideal.n_out,)


def test_ideal_linear_equals_effective_matrix(ideal, rng):
    x = binary_frames(rng, 20, ideal.n_in)
    b = ideal.effective_linear_matrix()
    y = ideal.linear(x)
    ref = x @ b.T
    assert y.dtype == np.float32
    assert np.max(np.abs(y - ref)) < 1e-5 * np.abs(ref).max()
    # exact linearity for disjoint binary inputs
    x1 = x[0] * binary_frames(rng, 1, ideal.n_in)[0]
    x2 = x[0] - x1
    y1, y2, y12 = ideal.linear(x1), ideal.linear(x2), ideal.linear(x1 + x2)
    assert np.max(np.abs(y1 + y2 - y12)) < 1e-5 * np.abs(y12).max()
    # B looks like a real Gaussian matrix: mean ~ 0, rows of equal scale
    z = b / b.std()
    assert abs(z.mean()) < 5 / np.sqrt(z.size)


def test_linear_with_encoders(ideal, rng):
    b = ideal.effective_linear_matrix()
    x = rng.normal(size=(5, ideal.n_in))
    for enc in (SignSplitEncoder(n_bits=8), BitPlaneEncoder(6)):
        y = ideal.linear(x, encoder=enc)
        q = enc.quantize(x)
        assert np.allclose(y, q @ b.T, rtol=1e-4, atol=1e-4 * np.abs(q @ b.T).max())
    e = rng.normal(size=(4, ideal.n_in))
    t = TernaryEncoder(0.5)
    assert np.allclose(ideal.linear(e, encoder=t), t.quantize(e) @ b.T, rtol=1e-4, atol=1e-4 * np.abs(b).sum(1).max())


def _strong_reference_error(fraction, x):
    cfg = DeviceConfig.preset(
        "ideal", n_in=64, n_out=512, reference__fraction=fraction, reference__scheme="strong-reference", medium__seed=1
    )
    opu = OPU(cfg, seed=2)
    y = opu.linear(x)
    b = opu.effective_linear_matrix()
    t = opu.transmission_matrix.astype(np.complex128)
    # y = B x + G s |alpha T x|^2 / N  (N: the per-pixel normalisation)
    quad = opu.pixel_gain_dn_per_field2() * np.abs(opu.modulator.alpha * (x @ t.T)) ** 2
    norm = opu.reference_calibration.normalisation("strong-reference")
    assert np.allclose(y, x @ b.T + quad / norm, rtol=1e-4, atol=1e-4 * np.abs(y).max())
    return np.median(np.abs(quad / norm)) / np.median(np.abs(x @ b.T))


def test_strong_reference_error_term(rng):
    x = binary_frames(rng, 10, 64)
    weak, strong = _strong_reference_error(4.0, x), _strong_reference_error(64.0, x)
    # the error relative to the signal scales as |T x| / |u| ~ 1 / sqrt(reference modes)
    assert 0.7 * 0.25 < strong / weak < 1.3 * 0.25
    assert strong < 0.1


def test_noisy_device_linear_tracks_ground_truth(rng):
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=64, n_out=256), seed=3)
    x = binary_frames(rng, 64, 64)
    y = opu.linear(x)
    ref = x @ opu.effective_linear_matrix().T
    assert np.corrcoef(y.ravel(), ref.ravel())[0, 1] > 0.9
    raw = opu.linear(x[:3], raw=True)
    assert raw.shape == (1, 2, 3, 256) and raw.dtype == np.uint8


def test_determinism_and_stream_separation(rng):
    cfg = DeviceConfig.preset("lab-cmos", n_in=50, n_out=80)
    x = binary_frames(rng, 6, 50)
    a, b = OPU(cfg, seed=11), OPU(cfg, seed=11)
    ra, rb = a.project(x, raw=True), b.project(x, raw=True)
    assert np.array_equal(ra, rb)
    assert not np.array_equal(OPU(cfg, seed=12).project(x, raw=True), ra)
    # noise draws do not change the medium
    t0 = a.transmission_matrix.copy()
    a.project(x)
    a.linear(x)
    assert np.array_equal(a.transmission_matrix, t0)
    # pinned medium seed: same T for different device seeds, different noise
    pinned = cfg.replace({"medium.seed": 5})
    p1, p2 = OPU(pinned, seed=1), OPU(pinned, seed=2)
    assert np.array_equal(p1.transmission_matrix, p2.transmission_matrix)
    assert not np.array_equal(p1.project(x, raw=True), p2.project(x, raw=True))


def test_chunking_does_not_change_results(rng, monkeypatch):
    cfg = DeviceConfig.preset("lab-cmos", n_in=40, n_out=64)
    x = binary_frames(rng, 30, 40)
    ref = OPU(cfg, seed=4).linear(x, raw=True)
    monkeypatch.setattr(device_mod, "CHUNK_BYTES", 2000)
    small = OPU(cfg, seed=4)
    assert small._chunk_frames() < 30
    assert np.array_equal(small.linear(x, raw=True), ref)


def test_device_time_accounting(rng):
    cfg = DeviceConfig.preset("lab-cmos", n_in=32, n_out=32)
    opu = OPU(cfg, seed=0)
    x = binary_frames(rng, 7, 32)
    opu.project(x)
    assert opu.frames_used == 7
    assert opu.device_time_s == pytest.approx(7 * cfg.frame_period_s)
    opu.linear(x, encoder=BitPlaneEncoder(4))
    n_cal = 3 * cfg.reference.calibration_frames
    assert opu.frames_used == 7 + n_cal + 2 * 4 * 7
    opu.wait(0.5)
    assert opu.device_time_s == pytest.approx((7 + n_cal + 56) * cfg.frame_period_s + 0.5)
    # strong-reference: one frame per input
    before = opu.frames_used
    opu.linear(x, scheme="strong-reference")
    assert opu.frames_used == before + 7


def test_leaky_dmd_contrast_enters_the_field(rng):
    cfg = DeviceConfig.preset("ideal", n_in=40, n_out=64, dmd__contrast_ratio=25.0)
    opu = OPU(cfg, seed=1)
    x = binary_frames(rng, 5, 40)
    y = opu.project(x)
    t = opu.transmission_matrix.astype(np.complex128)
    a = opu.modulator.amplitude_sqrt_w
    leak = 1 / 5.0
    field = a * ((leak + (1 - leak) * x) @ t.T) + a * leak * opu.medium.column_sum(slice(40, cfg.n_modes_total))
    assert np.allclose(y, opu.pixel_gain_dn_per_field2() * np.abs(field) ** 2, rtol=1e-5)
    # the exact scheme stays exactly linear with leaking mirrors
    b = opu.effective_linear_matrix()
    assert np.allclose(opu.linear(x), x @ b.T, rtol=1e-4, atol=1e-5 * np.abs(x @ b.T).max())


def test_bad_inputs(ideal):
    n = ideal.n_in
    with pytest.raises(ValidationError, match=r"x must be binary DMD frames.*0\.5"):
        ideal.project(np.full((2, n), 0.5))
    with pytest.raises(ValidationError, match="binary"):
        ideal.project(np.full((2, n), 2, dtype=np.uint8))
    with pytest.raises(ValidationError):
        ideal.project(np.full((1, n), np.nan))
    with pytest.raises(ShapeError, match=f"n_in={n}"):
        ideal.project(np.zeros((2, n + 1), np.uint8))
    with pytest.raises(ShapeError):
        ideal.project(np.zeros((2, 2, n), np.uint8))
    with pytest.raises(ShapeError, match=r"got shape \(\)"):
        ideal.project(np.uint8(1))
    for bad in (-1, 2.5, True, "3"):  # the frame clock's seam validates what is not an exact int >= 0
        with pytest.raises(ValidationError, match="n"):
            ideal.reserve_frames(bad)
    with pytest.raises(DTypeError):
        ideal.project(np.zeros((1, n), dtype=np.complex64))
    with pytest.raises(ValidationError, match="exposure_s"):
        ideal.project(np.zeros((1, n), np.uint8), exposure_s=-1.0)
    with pytest.raises(ValidationError, match="scheme"):
        ideal.linear(np.zeros((1, n), np.uint8), scheme="magic")
    with pytest.raises(ValidationError, match="encoder"):
        ideal.project(np.zeros((1, n)), encoder="bits")
    with pytest.raises(ValidationError, match="seed"):
        OPU(DeviceConfig.preset("ideal", n_in=4, n_out=4), seed=-1)
    with pytest.raises(ValidationError, match="GiB"):
        OPU(DeviceConfig.preset("lighton-like"), seed=0).transmission_matrix


def test_expose_flat_field_accounts_frames():
    cfg = DeviceConfig.preset("lab-cmos", n_in=16, n_out=500)
    opu = OPU(cfg, seed=1)
    p = np.full((20, 500), 2e-13)
    dn = opu.expose(p)
    assert dn.shape == (20, 500) and dn.dtype == np.uint8 and opu.frames_used == 20
    expected = opu.camera.expected_dn(p[0])
    assert abs(dn.mean() - expected.mean()) < 5 * dn.std() / np.sqrt(dn.size) + 0.01
    assert opu.expose(p[0]).shape == (500,) and opu.frames_used == 21
    with pytest.raises(ValidationError, match=">= 0 W"):
        opu.expose(-p)
    with pytest.raises(ShapeError):
        opu.expose(np.zeros((2, 3)))


def test_state_dict_resumes_noise_stream_exactly(rng):
    cfg = DeviceConfig.preset("lab-cmos", n_in=24, n_out=40)
    x = binary_frames(rng, 8, 24)
    a = OPU(cfg, seed=3)
    a.linear(x[:4])
    state = a.state_dict()
    cont = a.linear(x[4:], raw=True)
    b = OPU(cfg, seed=3)
    b.load_state_dict(state)
    assert b.frames_used == state["frames"] and b.device_time_s == pytest.approx(a.device_time_s - 2 * 4 * cfg.frame_period_s)
    assert np.array_equal(b.linear(x[4:], raw=True), cont)
    with pytest.raises(ValidationError, match="state"):
        b.load_state_dict({"frames": 1})


def test_expected_projection_is_the_mean_of_project_with_every_pixel_map():
    """With PRNU, dark-current and offset maps on, the mean of many noisy projections equals
    expected_projection pixel by pixel (within 5 standard errors)."""
    import numpy as np

    from photonics import OPU, DeviceConfig

    cfg = DeviceConfig.preset("lab-cmos", n_in=16, n_out=64, camera__offset_sd_dn=2.0, camera__quantize=False)
    opu = OPU(cfg, seed=2)
    x = (np.random.default_rng(0).random((1, 16)) < 0.5).astype(np.uint8)
    reps = 400
    y = opu.project(np.repeat(x, reps, axis=0)).astype(np.float64)
    expected = opu.expected_projection(x)[0]
    se = y.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(y.mean(axis=0) - expected) < 5 * se + 1e-6)
    assert np.std(opu.camera.offset_map_dn) > 1.0  # the offsets matter here


def test_a_reference_mask_switches_single_mirrors_of_the_block():
    """The field of a partial reference, from the medium's columns and the DMD amplitudes (written
    here from the model: c = beta sum_signal T + sum_r a_r T_r, a_r = ON or OFF amplitude)."""
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=16, n_out=32), seed=4)
    cfg, dmd = opu.config, opu.modulator
    t = opu.medium.matrix(None, slice(0, cfg.n_modes_total)).astype(np.complex128)
    n_ref = cfg.n_reference
    assert n_ref >= 2
    mask = np.zeros(n_ref, dtype=np.uint8)
    mask[::2] = 1
    amp = np.where(mask == 1, dmd.reference_amplitude(True), dmd.reference_amplitude(False))
    expect = dmd.beta * t[:, :cfg.n_in].sum(axis=1) + t[:, cfg.n_in:] @ amp
    np.testing.assert_allclose(opu.constant_field(mask), expect, rtol=1e-6, atol=1e-12 * np.abs(expect).max())
    # the whole block and none of it are the two plain states
    np.testing.assert_array_equal(opu.constant_field(np.ones(n_ref, dtype=np.uint8)), opu.constant_field(True))
    np.testing.assert_array_equal(opu.constant_field(np.zeros(n_ref, dtype=np.uint8)), opu.constant_field(False))
    # the camera sees it: noise-free power with the mask = s |alpha T x + c|^2
    x = (np.random.default_rng(0).random((3, cfg.n_in)) < 0.5).astype(np.uint8)
    p = opu.optical_power(x, reference=mask).astype(np.float64)
    e = dmd.alpha * (x @ t[:, :cfg.n_in].T) + expect
    np.testing.assert_allclose(p, opu.power_scale * np.abs(e) ** 2, rtol=1e-4)
    assert opu.acquire(x, reference=mask).shape == (3, cfg.n_out)
    assert opu.reference_state(1) is True and opu.reference_state(0) is False
    for bad in (np.ones(n_ref + 1), np.full(n_ref, 2), np.ones((2, n_ref)), 2, "on"):
        with pytest.raises(ValidationError, match="reference must be True, False or a 0/1 mask"):
            opu.acquire(x, reference=bad)


@pytest.mark.parametrize("preset", ["lab-cmos", "ideal"])
@pytest.mark.parametrize("chunk_bytes", [None, 3000])
def test_exact_linear_shares_the_field_but_not_the_numbers(rng, monkeypatch, chunk_bytes, preset):
    """On a static medium linear() computes each frame's field once for both exposures; the result,
    the frame clock and the noise draws are those of the two separate passes (raw=True: all
    reference-ON frames, then all OFF frames), chunked or not."""
    if chunk_bytes is not None:
        monkeypatch.setattr(device_mod, "CHUNK_BYTES", chunk_bytes)
    cfg = DeviceConfig.preset(preset, n_in=40, n_out=64)
    x = binary_frames(rng, 25, 40)
    a, b = OPU(cfg, seed=8), OPU(cfg, seed=8)
    if chunk_bytes is not None:
        assert a._chunk_frames() < 25
    y = a.linear(x)
    raw = b.linear(x, raw=True)  # (1, 2, 25, n_out): ON, then OFF
    level, norm = b._linear_constants(b.reference_calibration, "exact")
    on, off = raw[0, 0].astype(np.float32), raw[0, 1].astype(np.float32)
    assert np.array_equal(y, ((on - off) - level) / norm)
    assert a.frames_used == b.frames_used and a.device_time_s == b.device_time_s
    # the next frames draw the same noise on both (the clock is where the two passes leave it)
    assert np.array_equal(a.project(x[:3], raw=True), b.project(x[:3], raw=True))


@pytest.mark.parametrize("over", [{}, {"reference__scheme": "strong-reference"}, {"medium__decorrelation_time_s": 0.5}],
                         ids=["exact-static", "strong-reference", "exact-drifting"])
def test_linear_frames_is_linear_without_the_checks(rng, over):
    """OPU.linear_frames (uint8 frames made by the caller, no validation) gives linear()'s numbers and
    leaves the clock where linear() does, for every scheme and a drifting medium, at the default and
    at another exposure (a new reference calibration)."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=12, n_out=40, **over)
    a, b = OPU(cfg, seed=5), OPU(cfg, seed=5)
    x = binary_frames(rng, 9, 12)
    for t in (None, 2.0e-4, None):
        y = a.linear_frames(np.ascontiguousarray(x, dtype=np.uint8), exposure_s=t)
        assert y.dtype == np.float32 and np.array_equal(y, b.linear(x, exposure_s=t))
        assert a.frames_used == b.frames_used and a.device_time_s == b.device_time_s
    slm = OPU(DeviceConfig.preset("lab-cmos", n_in=12, n_out=40, modulator="slm"), seed=5)
    with pytest.raises(ValidationError, match="linear_frames needs the binary DMD"):
        slm.linear_frames(np.zeros((2, 12), dtype=np.uint8))


def test_exact_linear_keeps_the_kernel_arguments_of_16_exposures_at_most(rng):
    """The fused exact-scheme kernel's cached arguments (per-pixel maps) stay bounded in an exposure sweep,
    and every result, before and after its plan was evicted and rebuilt, is the formula applied to the
    raw exposures of a twin device."""
    cfg = DeviceConfig.preset("lab-cmos", n_in=12, n_out=40)
    a, b = OPU(cfg, seed=3), OPU(cfg, seed=3)
    x = binary_frames(rng, 5, 12)
    exposures = [1e-4 * (1 + i / 10) for i in range(20)]
    for t in exposures + exposures[:3]:  # the first three come back after their plans were evicted
        y = a.linear(x, exposure_s=t)
        raw = b.linear(x, raw=True, exposure_s=t)
        level, norm = b._linear_constants(b.reference_calibration, "exact")
        on, off = raw[0, 0].astype(np.float32), raw[0, 1].astype(np.float32)
        assert np.array_equal(y, ((on - off) - level) / norm)
        assert len(a._difference_plans) <= 16
    assert exposures[0] in a._difference_plans and len(a._difference_plans) < 16  # rebuilt after a clear


def test_a_new_exposure_gets_a_new_reference_calibration(rng):
    """Noiseless device, exact scheme: y = (I(x + r) - I(x) - Z) / (2 sqrt Z) with every intensity
    and Z proportional to the exposure t, so y scales as sqrt(t) when Z is measured again at the
    new exposure (a calibration kept from the old one would shift and scale y differently)."""
    cfg = DeviceConfig.preset("ideal", n_in=16, n_out=64)
    x = binary_frames(rng, 6, 16)
    for call in ("linear", "linear_frames"):
        opu = OPU(cfg, seed=3)
        t1 = opu.config.camera.exposure_s
        t2 = t1 / 4.0
        frames = np.ascontiguousarray(x, dtype=np.uint8)
        y1 = getattr(opu, call)(frames)
        assert opu.reference_calibration.exposure_s == t1
        y2 = getattr(opu, call)(frames, exposure_s=t2)
        assert opu.reference_calibration.exposure_s == t2
        np.testing.assert_allclose(y2, y1 * np.sqrt(t2 / t1), rtol=1e-4, atol=1e-4 * np.abs(y1).max())
