"""The lightonml-compatible facade, exercised the way lightonml users use it.

Ground truth comes from the simulated device itself (``expected_projection``,
``effective_linear_matrix``: noise-free physics computed independently of the facade's
plumbing) and from numpy reference computations; statistical checks use fixed seeds and
k-sigma tolerances from the estimators' spread.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from photonics import OPU as PhotonicsOPU
from photonics import DeviceConfig
from photonics.compat import install_lightonml, lightonml_installed, uninstall_lightonml
from photonics.compat.lightonml import OPU, ContextArray, OutputRescaling
from photonics.compat.lightonml.encoding.base import (
    BinaryThresholdEncoder,
    ConcatenatedBitPlanEncoder,
    ConcatenatingBitPlanDecoder,
    MultiThresholdEncoder,
    NoDecoding,
    SeparatedBitPlanDecoder,
    SeparatedBitPlanEncoder,
    SequentialBaseTwoEncoder,
)
from photonics.errors import DTypeError, PhotonicsError, ShapeError, ValidationError
from tests.helpers import binary_frames, ks_critical, sample_var_se

K_SIGMA = 4.0


def _ideal(n_components=300, max_n_features=64, seed=0, **kw):
    return OPU(n_components=n_components, max_n_features=max_n_features, device="ideal", seed=seed, **kw)


def _pad(frames, n_in):
    out = np.zeros((frames.shape[0], n_in), dtype=np.uint8)
    out[:, : frames.shape[1]] = frames
    return out


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(7).permutation(len(d.target))
    tr, te = order[:1400], order[1400:]
    return d.data[tr], d.target[tr], d.data[te], d.target[te]


# ---- encoders --------------------------------------------------------------------------------
def test_binary_threshold_encoder_auto_median_and_fixed(rng):
    x = rng.standard_normal((50, 6)) + np.arange(6)
    enc = BinaryThresholdEncoder()  # 'auto': per-feature median
    out = enc.fit_transform(x)
    assert out.dtype == np.uint8 and out.shape == x.shape
    np.testing.assert_array_equal(enc.threshold_enc, np.median(x, axis=0))
    np.testing.assert_array_equal(out, (x > np.median(x, axis=0)).astype(np.uint8))
    lower = BinaryThresholdEncoder(threshold_enc=2.0, greater_is_one=False).fit_transform(x)
    np.testing.assert_array_equal(lower, (x < 2.0).astype(np.uint8))
    with pytest.raises(ValidationError, match="call fit"):
        BinaryThresholdEncoder().transform(x)
    with pytest.raises(ValidationError, match="threshold_enc"):
        BinaryThresholdEncoder(threshold_enc="median")
    with pytest.warns(RuntimeWarning, match="outside the data range"):
        BinaryThresholdEncoder(threshold_enc=100.0).fit(x)
    with pytest.raises(ValidationError, match="NaN"):
        BinaryThresholdEncoder(0.0).transform(np.array([[np.nan, 1.0]]))


def test_multi_threshold_encoder_is_a_thermometer_code(rng):
    x = rng.random((40, 5)) * 10
    enc = MultiThresholdEncoder(n_bins=4).fit(x)
    np.testing.assert_allclose(enc.thresholds, np.linspace(x.min(), x.max(), 5)[1:-1])
    out = enc.transform(x)
    assert out.shape == (40, 5 * 3) and out.dtype == np.uint8
    level = out.reshape(40, 3, 5).sum(axis=1)  # blocks side by side, one per threshold
    np.testing.assert_array_equal(level, np.searchsorted(enc.thresholds, x, side="left"))
    q = MultiThresholdEncoder("quantiles", n_bins=4, columnwise=True).fit(x)
    assert q.thresholds.shape == (5, 3)
    np.testing.assert_allclose(q.thresholds[2], np.quantile(x[:, 2], [0.25, 0.5, 0.75], method="midpoint"))
    given = MultiThresholdEncoder(np.array([2.0, 5.0]))
    assert given.n_bins == 3
    np.testing.assert_array_equal(given.transform(np.array([[1.0, 3.0, 6.0]])), [[0, 1, 1, 0, 0, 1]])
    with pytest.raises(ShapeError):
        MultiThresholdEncoder(np.array([1.0, 2.0]), columnwise=True)


def test_sequential_base_two_encoder_sums_to_the_level():
    enc = SequentialBaseTwoEncoder(n_gray_levels=8).fit(np.array([[0.0], [7.0]]))
    np.testing.assert_array_equal(enc.transform(np.array([[5.0]])), [[1, 1, 1, 1, 0, 0, 1]])  # 5 = 101b
    x = np.arange(8, dtype=float).reshape(4, 2)
    out = enc.transform(x)
    assert out.shape == (4, 2 * 7)
    np.testing.assert_array_equal(out.reshape(4, 2, 7).sum(axis=2), x.astype(int))
    with pytest.raises(ValidationError, match="power of 2"):
        SequentialBaseTwoEncoder(12)


@pytest.mark.parametrize("precision", [1, 4, 6, 10])
def test_separated_bit_planes_round_trip_is_the_quantisation(rng, precision):
    x = rng.standard_normal((7, 9))
    if precision > 6:
        with pytest.warns(UserWarning, match="rarely"):
            enc = SeparatedBitPlanEncoder(precision)
    else:
        enc = SeparatedBitPlanEncoder(precision)
    frames = enc.transform(x)
    assert frames.dtype == np.uint8 and frames.shape == (2 * 7 * precision, 9)
    assert set(np.unique(frames)) <= {0, 1}
    back = SeparatedBitPlanDecoder(**enc.get_params()).transform(frames.astype(np.float32))
    # each half is rounded to 1/2 step of its peak / (2^p - 1)
    step = np.where(x >= 0, x.max(), -x.min()) / (2**precision - 1)
    assert np.all(np.abs(back - x) <= 0.5 * step * (1 + 1e-5) + 1e-6)
    # a linear device: decoding the projections of the planes = projecting the quantised x
    B = rng.standard_normal((5, 9))
    y = SeparatedBitPlanDecoder(**enc.get_params()).transform(frames @ B.T)
    np.testing.assert_allclose(y, back.astype(np.float64) @ B.T, rtol=1e-5, atol=1e-4)


def test_separated_bit_planes_integers_exact_and_one_side(rng):
    x = rng.integers(0, 50, size=(6, 4)).astype(np.uint8)  # 6 bits: exact
    enc = SeparatedBitPlanEncoder(6)
    frames = enc.transform(x)
    assert frames.shape == (6 * 6, 4)  # unsigned: positive side only
    np.testing.assert_array_equal(SeparatedBitPlanDecoder(**enc.get_params()).transform(frames), x.astype(np.float32))
    neg = -rng.random((3, 4))
    fr = enc.transform(neg)
    assert fr.shape == (3 * 6, 4)
    assert enc.get_params()["magnitude_p"] == 0
    back = SeparatedBitPlanDecoder(**enc.get_params()).transform(fr)
    assert np.all(back <= 0) and np.max(np.abs(back - neg)) <= 0.5 * np.abs(neg).max() / 63 + 1e-6
    with pytest.raises(ShapeError, match="multiple"):
        SeparatedBitPlanDecoder(6, 1.0, 1.0).transform(np.zeros((13, 2)))
    with pytest.raises(ValidationError, match="precision"):
        SeparatedBitPlanEncoder(n_bits=8)


def test_concatenated_bit_planes(rng):
    x = rng.integers(0, 256, size=(5, 3)).astype(np.uint8)
    out = ConcatenatedBitPlanEncoder(n_bits=8).transform(x)
    assert out.shape == (5, 24)
    value = (out.reshape(5, 3, 8) * (2 ** np.arange(7, -1, -1))).sum(axis=2)  # MSB first
    np.testing.assert_array_equal(value, x)
    top = ConcatenatedBitPlanEncoder(n_bits=3, starting_bit=0).transform(x)
    np.testing.assert_array_equal((top.reshape(5, 3, 3) * [4, 2, 1]).sum(axis=2), x >> 5)
    with pytest.raises(ValidationError, match="bit width"):
        ConcatenatedBitPlanEncoder(n_bits=8, starting_bit=2).transform(x)
    with pytest.raises(DTypeError):
        ConcatenatedBitPlanEncoder().transform(x.astype(np.float32))
    dec = ConcatenatingBitPlanDecoder(n_bits=2, decoding_decay=0.5).transform(np.ones((4, 3)))
    np.testing.assert_array_equal(dec, [[1, 1, 1, 0.5, 0.5, 0.5]] * 2)


def test_encoders_keep_torch_tensors():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    out = BinaryThresholdEncoder(0.0).transform(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.uint8
    enc = SeparatedBitPlanEncoder(3)
    fr = enc.transform(x)
    assert isinstance(fr, torch.Tensor)
    back = SeparatedBitPlanDecoder(**enc.get_params()).transform(fr)
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32


# ---- the OPU: shapes, dtypes, ground truth -----------------------------------------------------
def test_transform_shapes_and_context(rng):
    opu = _ideal(n_components=50, max_n_features=40)
    x = binary_frames(rng, 6, 40)
    opu.fit1d(x)
    y = opu.transform(x)
    assert isinstance(y, ContextArray) and y.dtype == np.float32 and y.shape == (6, 50)
    assert y.context.frames == 6 and y.context.n_ones == int(round(x.sum(axis=1).mean()))
    assert y.context.input_roi_shape == (1, 40) and y.context.output_roi_shape == (1, 50)
    assert opu.transform(x[0]).shape == (50,)
    assert opu.transform(x[:1]).shape == (1, 50)
    assert opu.transform(x.reshape(2, 3, 40)).shape == (2, 3, 50)
    assert opu.transform(x.astype(bool)).shape == (6, 50)
    opu.fit2d(n_features=(5, 8))
    assert opu.transform(x.reshape(6, 5, 8)).shape == (6, 50)
    assert opu.transform(x[0].reshape(5, 8)).shape == (50,)
    assert opu.transform(x.reshape(2, 3, 5, 8)).shape == (2, 3, 50)
    y2d = opu.transform(x.reshape(6, 5, 8))  # 2-D features are flattened row-major
    assert y2d.context.fmt_type.name == "macro_2d"
    np.testing.assert_allclose(y2d, y, rtol=1e-6)
    packed = np.packbits(x, axis=-1)  # 2-D features given bit-packed, one row per image
    opu.fit2d(packed, n_features=(5, 8), packed=True)
    np.testing.assert_allclose(opu.transform(packed), y, rtol=1e-6)
    np.testing.assert_allclose(opu.fit_transform1d(x), y, rtol=1e-6)


def test_transform_is_the_devices_intensity_projection(rng):
    opu = _ideal(n_components=200, max_n_features=48)
    x = binary_frames(rng, 5, 30)
    y = opu.fit_transform1d(x)
    truth = opu.device.expected_projection(_pad(x, 48))[:, :200]
    np.testing.assert_allclose(y, truth, rtol=2e-5)
    # bit-packed input gives the same frames
    opu.fit1d(np.packbits(x, axis=-1), n_features=30, packed=True)
    np.testing.assert_allclose(opu.transform(np.packbits(x, axis=-1)), truth, rtol=2e-5)


def test_ideal_speckle_intensities_are_exponential_with_the_physical_mean(rng):
    # |T x|^2 over pixels for one binary x: T_i x ~ CN(0, |x|_0 / n_in) exactly, so the
    # intensity is exponential with mean g alpha^2 |x|_0 / n_in (g: DN per |field|^2)
    n_in, n_out = 64, 4000
    opu = _ideal(n_components=n_out, max_n_features=n_in, seed=11)
    x = binary_frames(rng, 1, n_in)[0]
    opu.fit1d(n_features=n_in)
    y = np.asarray(opu.transform(x), dtype=np.float64)
    dev = opu.device
    mean = float(dev.pixel_gain_dn_per_field2()[0]) * dev.modulator.alpha**2 * x.sum() / n_in
    u = np.sort(1.0 - np.exp(-y / mean))
    ks = np.max(np.abs(u - (np.arange(1, n_out + 1) - 0.5) / n_out))
    assert ks < ks_critical(n_out)


def test_bit_plane_transform_combines_the_planes(rng):
    opu = _ideal(n_components=120, max_n_features=20)
    x = rng.standard_normal((4, 20))
    opu.fit1d(n_features=20)
    y = opu.transform(x, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder)
    assert y.shape == (4, 120) and y.dtype == np.float32
    enc = SeparatedBitPlanEncoder()
    frames = enc.transform(x)
    per_frame = opu.device.expected_projection(_pad(frames, 20))[:, :120]
    truth = SeparatedBitPlanDecoder(**enc.get_params()).transform(per_frame)
    np.testing.assert_allclose(y, truth, rtol=1e-4, atol=1e-3 * np.abs(truth).max())
    # instances work as well as classes; a decoder instance is used as given
    y2 = opu.transform(x, SeparatedBitPlanEncoder(6), SeparatedBitPlanDecoder(**enc.get_params()))
    np.testing.assert_allclose(y2, y, rtol=1e-5)
    assert opu.transform(binary_frames(rng, 3, 20), decoder_cls=NoDecoding).shape == (3, 120)


def test_linear_transform_is_the_effective_linear_matrix(rng):
    opu = _ideal(n_components=150, max_n_features=32, rescale="none")
    x = rng.standard_normal((5, 32))
    opu.fit1d(n_features=32)
    z = opu.linear_transform(x, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder)
    enc = SeparatedBitPlanEncoder()
    frames = enc.transform(x)
    q = SeparatedBitPlanDecoder(**enc.get_params()).transform(frames.astype(np.float32))
    B = opu.device.effective_linear_matrix()[:150, :32]
    truth = q.astype(np.float64) @ B.T
    np.testing.assert_allclose(z, truth, rtol=1e-4, atol=1e-4 * np.abs(truth).max())
    # rescaling divides by the measured sigma_B: variance and norm conventions
    sd = opu.linear_stdev().value
    opu.rescale = OutputRescaling.variance
    np.testing.assert_allclose(opu.linear_transform(x, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder), truth / (sd * np.sqrt(32)), rtol=1e-4, atol=1e-4)
    opu.rescale = "norm"
    np.testing.assert_allclose(opu.linear_transform(x, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder), truth / (sd * np.sqrt(150)), rtol=1e-4, atol=1e-4)


def test_linear_stdev_is_unbiased_by_camera_noise():
    # lab-cmos at half its laser power (no saturation: clipping would lower the response),
    # with shot, read and dark noise: sigma_B from repeated probe pairs matches the
    # ground-truth rms of B within k standard errors
    opu = OPU(n_components=2000, max_n_features=128, device="lab-cmos", config_override={"laser": {"power_w": 1.2e-9}}, seed=3)
    opu.fit1d(n_features=128)
    st = opu.linear_stdev()
    B = opu.device.effective_linear_matrix()[:2000, :128]
    truth = float(np.sqrt(np.mean(B**2)))
    assert abs(st.value - truth) < K_SIGMA * st.standard_error
    assert st.frames == 3 * 32 + 4 * 16 * 2  # reference calibration + 4 K linear inputs of 2 frames


def test_variance_rescaled_output_has_unit_variance_per_unit_input(rng):
    opu = OPU(n_components=2000, max_n_features=128, device="lab-cmos", config_override={"laser.power_w": 1.2e-9}, seed=4)
    opu.fit1d(n_features=128)
    x = rng.standard_normal((16, 128))
    z1 = np.asarray(opu.linear_transform(x, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder), dtype=np.float64)
    z2 = np.asarray(opu.linear_transform(x, SeparatedBitPlanEncoder, SeparatedBitPlanDecoder), dtype=np.float64)
    noise_var = np.var(z1 - z2) / 2.0  # independent noise of two acquisitions
    assert noise_var > 0  # a noisy device
    enc = SeparatedBitPlanEncoder()
    frames = enc.transform(x)
    q = SeparatedBitPlanDecoder(**enc.get_params()).transform(frames.astype(np.float32)).astype(np.float64)
    target = np.mean(np.sum(q**2, axis=1)) / 128  # E (B~ q)_i^2 = |q|^2 / n_features
    st = opu.linear_stdev()
    se = np.hypot(sample_var_se(z1.ravel()), 2 * st.standard_error / st.value * target)
    assert abs(np.var(z1) - noise_var - target) < K_SIGMA * se


def test_random_sketch_preserves_inner_products(rng):
    # norm rescaling: Z = X R^T with R_ij of variance 1 / n_components, so
    # <z_a, z_b> = <x_a, x_b> + error of sd sqrt((|x_a|^2 |x_b|^2 + <x_a, x_b>^2) / m)
    m, n = 1500, 48
    opu = _ideal(n_components=m, max_n_features=n, seed=5, rescale=OutputRescaling.norm)
    opu.fit1d(n_features=n)
    x = rng.standard_normal((12, n))
    with pytest.warns(UserWarning, match="rarely"):
        enc = SeparatedBitPlanEncoder(8)
    z = np.asarray(opu.linear_transform(x, enc, SeparatedBitPlanDecoder), dtype=np.float64)
    gx, gz = x @ x.T, z @ z.T
    nx = np.sqrt(np.diag(gx))
    sd = np.sqrt((np.outer(nx**2, nx**2) + gx**2) / m)
    e = (gz - gx) / sd
    iu = np.triu_indices(12)
    assert np.max(np.abs(e[iu])) < K_SIGMA
    assert abs(np.mean(e[iu])) < K_SIGMA / np.sqrt(iu[0].size) * 3  # no systematic bias


# ---- accounting, determinism, device choice ----------------------------------------------------
def test_frames_and_device_time_are_accounted(rng):
    opu = OPU(n_components=64, max_n_features=32, device="lab-cmos", seed=1)
    period = opu.config.frame_period_s
    opu.fit1d(n_features=32)
    y = opu.transform(binary_frames(rng, 10, 32))
    assert opu.frames_used == 10 and y.context.frames == 10
    assert opu.device_time_s == pytest.approx(10 * period)
    z = opu.linear_transform(binary_frames(rng, 3, 32))  # calibration 3 x 32 + probes 4 x 16 x 2 + 3 x 2
    assert z.context.frames == 96 + 128 + 6
    assert opu.frames_used == 10 + 96 + 128 + 6
    opu.n_components = 80  # a new device: counters keep adding up
    opu.transform(binary_frames(rng, 4, 32))
    assert opu.frames_used == 244 and opu.device.frames_used == 4
    assert opu.device_time_s == pytest.approx(244 * period)


def test_same_seed_same_outputs_different_seed_different(rng):
    x = binary_frames(rng, 8, 40)

    def run(seed):
        opu = OPU(n_components=100, max_n_features=40, device="lab-cmos", seed=seed)
        opu.fit1d(x)
        return np.asarray(opu.transform(x)), np.asarray(opu.linear_transform(x))

    a, b, c = run(9), run(9), run(10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_noise_makes_repeated_transforms_differ_on_a_noisy_device_only(rng):
    x = binary_frames(rng, 4, 40)
    noisy = OPU(n_components=100, max_n_features=40, seed=2)  # default device: lab-cmos
    noisy.fit1d(x)
    assert noisy.config.name == "lab-cmos"
    assert not np.array_equal(noisy.transform(x), noisy.transform(x))
    ideal = _ideal(n_components=100, max_n_features=40)
    ideal.fit1d(x)
    np.testing.assert_array_equal(ideal.transform(x), ideal.transform(x))


def test_device_from_toml_override_and_existing_device(tmp_path, rng):
    path = DeviceConfig.preset("lab-cmos").replace({"camera.read_noise_e": 2.0}).to_toml(tmp_path / "dev.toml")
    opu = OPU(n_components=30, max_n_features=16, config_file=str(path), config_override={"camera": {"bit_depth": 12}})
    assert opu.config.camera.read_noise_e == 2.0 and opu.config.camera.bit_depth == 12
    assert (opu.config.n_in, opu.config.n_out) == (16, 30)
    dev = PhotonicsOPU(DeviceConfig.preset("ideal", n_in=64, n_out=100), seed=3)
    ext = OPU(n_components=40, opu_device=dev, max_n_features=20)
    x = binary_frames(rng, 3, 20)
    ext.fit1d(x)
    truth = dev.expected_projection(_pad(x, 64))[:, :40]  # an output ROI of the device
    np.testing.assert_allclose(ext.transform(x), truth, rtol=2e-5)
    assert ext.max_n_components == 100
    with pytest.raises(ShapeError, match="opu_device"):
        ext.n_components = 101
    with pytest.raises(ValidationError, match="conflicting"):
        OPU(opu_device=dev, simulated=True)


def test_pickle_resumes_the_device_exactly(rng):
    x = binary_frames(rng, 5, 24)
    opu = OPU(n_components=60, max_n_features=24, seed=6)
    opu.fit1d(x)
    opu.transform(x)
    clone = pickle.loads(pickle.dumps(opu))
    np.testing.assert_array_equal(clone.transform(x), opu.transform(x))
    assert clone.frames_used == opu.frames_used


# ---- errors --------------------------------------------------------------------------------------
def test_clear_errors(rng):
    opu = _ideal(n_components=20, max_n_features=16)
    x = binary_frames(rng, 2, 16)
    with pytest.raises(ValidationError, match="fit1d or fit2d"):
        opu.transform(x)
    opu.fit1d(x)
    with pytest.raises(ValidationError, match="binary"):
        opu.transform(x * 0.5)
    with pytest.raises(ShapeError, match=r"\(16,\)"):
        opu.transform(binary_frames(rng, 2, 15))
    with pytest.raises(ShapeError, match="max_n_features"):
        opu.fit1d(n_features=17)
    with pytest.raises(ValidationError, match="not modelled"):
        opu.fit1d(x, input_roi=((0, 0), (1, 16)))
    with pytest.raises(ValidationError, match="rescale"):
        opu.rescale = "median"
    with pytest.raises(ValidationError, match="n_components"):
        OPU(n_components=0, device="ideal")
    with pytest.raises(ValidationError, match="deprecated"):
        opu.transform1d(x)
    with pytest.raises(DTypeError, match="uint8"):
        opu.fit1d(n_features=16, packed=True)
        opu.transform(np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ValidationError, match="closed"):
        opu.fit1d(x)
        opu.close()
        opu.transform(x)
    assert issubclass(ValidationError, PhotonicsError) and issubclass(ValidationError, ValueError)


def test_open_close_and_context_manager(rng):
    opu = _ideal(n_components=10, max_n_features=8, open_at_init=False)
    assert not opu.active
    x = binary_frames(rng, 2, 8)
    opu.fit1d(x)
    with opu:
        assert opu.transform(x).shape == (2, 10)
    assert not opu.active
    opu.open()
    with opu:
        pass
    assert opu.active  # was open before the block: stays open


def test_tensor_in_tensor_out(rng):
    torch = pytest.importorskip("torch")
    opu = _ideal(n_components=30, max_n_features=12)
    x = torch.from_numpy(binary_frames(rng, 3, 12))
    opu.fit1d(x)
    y = opu.transform(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and tuple(y.shape) == (3, 30)
    np.testing.assert_allclose(y.numpy(), opu.transform(x.numpy()), rtol=1e-6)


# ---- as lightonml users do: kernel ridge random features, sklearn, torch, import alias --------
def test_random_features_classifier_matches_the_kernel_it_approximates(digits):
    # phi(x) = g |T x|^2 estimates the kernel k(x, y) = |x|^2 |y|^2 + (x.y)^2 (binary x);
    # ridge on 2000 optical features ~ kernel ridge with that kernel, and both beat a linear
    # model of the same binary pixels
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import RidgeClassifier

    xtr, ytr, xte, yte = digits
    enc = BinaryThresholdEncoder(threshold_enc=7.5)
    btr, bte = enc.fit_transform(xtr), enc.transform(xte)
    opu = OPU(n_components=2000, max_n_features=64, device="lab-cmos", seed=0)
    opu.fit1d(n_features=64)
    ftr, fte = np.asarray(opu.transform(btr), dtype=np.float64), np.asarray(opu.transform(bte), dtype=np.float64)
    scale = ftr.mean()
    acc_rf = RidgeClassifier(alpha=100.0).fit(ftr / scale, ytr).score(fte / scale, yte)

    def kern(a, b):
        a, b = a.astype(np.float64), b.astype(np.float64)
        return np.outer(a.sum(1), b.sum(1)) + (a @ b.T) ** 2

    kr = KernelRidge(alpha=10.0, kernel="precomputed").fit(kern(btr, btr), np.eye(10)[ytr])
    acc_k = float(np.mean(kr.predict(kern(bte, btr)).argmax(1) == yte))
    acc_lin = RidgeClassifier(alpha=1.0).fit(btr, ytr).score(bte, yte)
    n = len(yte)
    sd = lambda p: np.sqrt(p * (1 - p) / n)  # noqa: E731
    assert abs(acc_rf - acc_k) < K_SIGMA * np.hypot(sd(acc_rf), sd(acc_k))
    assert acc_rf - acc_lin > 2.0 * np.hypot(sd(acc_rf), sd(acc_lin))


def test_kernel_estimate_from_optical_features(rng):
    # E_T[phi_i(x) phi_i(y)] = g^2 (|x|^2 |y|^2 + (x.y)^2) / n_in^2 for binary x, y
    n_in, m = 64, 6000
    opu = _ideal(n_components=m, max_n_features=n_in, seed=8)
    x = binary_frames(rng, 6, n_in)
    opu.fit1d(x)
    phi = np.asarray(opu.transform(x), dtype=np.float64)
    g = float(opu.device.pixel_gain_dn_per_field2()[0]) * opu.device.modulator.alpha**2
    xf = x.astype(np.float64)
    expect = g**2 * (np.outer(xf.sum(1), xf.sum(1)) + (xf @ xf.T) ** 2) / n_in**2
    prod = phi[:, None, :] * phi[None, :, :]
    est, se = prod.mean(axis=2), prod.std(axis=2, ddof=1) / np.sqrt(m)
    assert np.max(np.abs(est - expect) / se) < K_SIGMA


def test_sklearn_opumap_pipeline_and_clone(digits):
    from sklearn.base import clone
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from photonics.compat.lightonml.projections.sklearn import OPUMap

    xtr, ytr, xte, yte = digits
    pipe = make_pipeline(BinaryThresholdEncoder(threshold_enc=7.5), OPUMap(n_components=500, device="ideal", seed=1), StandardScaler(), RidgeClassifier(alpha=10.0))
    pipe.fit(xtr[:600], ytr[:600])
    opumap = pipe[1]
    assert opumap.fitted and opumap.opu.max_n_features == 64  # sized to the data
    assert pipe.score(xte, yte) > 0.85
    feats = opumap.transform(BinaryThresholdEncoder(7.5).transform(xte[:3]))
    assert type(feats) is np.ndarray and feats.shape == (3, 500) and feats.dtype == np.float32
    twin = clone(opumap)
    assert twin.n_components == 500 and twin.get_params()["device"] == "ideal"
    lin = OPUMap(n_components=50, device="ideal", linear=True)
    z = lin.fit_transform(BinaryThresholdEncoder(7.5).transform(xte[:4]))
    assert z.shape == (4, 50)


def test_torch_opumap_as_a_fixed_feature_layer(digits):
    torch = pytest.importorskip("torch")
    from photonics.compat.lightonml.projections.torch import OPUMap

    xtr, ytr, xte, yte = digits
    btr = torch.from_numpy(BinaryThresholdEncoder(7.5).transform(xtr))
    bte = torch.from_numpy(BinaryThresholdEncoder(7.5).transform(xte))
    opumap = OPUMap(n_components=400, device="ideal", seed=2)
    opumap.fit(btr)
    with torch.no_grad():
        ftr, fte = opumap(btr), opumap(bte)
    assert ftr.dtype == torch.float32 and not ftr.requires_grad and tuple(ftr.shape) == (len(ytr), 400)
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    torch.manual_seed(0)
    head = torch.nn.Linear(400, 10)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    yt = torch.from_numpy(ytr)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head((ftr - mu) / sd), yt)
        loss.backward()
        opt.step()
    acc = (head((fte - mu) / sd).argmax(1).numpy() == yte).mean()
    assert acc > 0.85
    assert opumap.opu.frames_used == len(ytr) + len(yte)
    online = OPUMap(n_components=20, device="ideal")
    online.fit(bte[:3], online=True)
    assert tuple(online(bte[:3]).shape) == (3, 20)


def test_import_lightonml_alias_runs_unchanged_code(rng):
    assert "lightonml" not in sys.modules
    install_lightonml()
    try:
        assert lightonml_installed()
        from lightonml import OPU as AliasOPU
        from lightonml.encoding.base import SeparatedBitPlanDecoder as D
        from lightonml.encoding.base import SeparatedBitPlanEncoder as E

        assert AliasOPU is OPU
        opu = AliasOPU(n_components=40, max_n_features=10, simulated=True, device="ideal")
        opu.fit1d(n_features=10)
        assert opu.linear_transform(rng.standard_normal((2, 10)), E, D).shape == (2, 40)
    finally:
        uninstall_lightonml()
    assert not lightonml_installed() and "lightonml" not in sys.modules


def test_the_facade_imports_neither_torch_nor_sklearn_nor_dfa():
    code = (
        "import sys, photonics.compat, photonics.compat.lightonml, photonics.compat.lightonml.encoding.base; "
        "print(sorted(m for m in ('torch', 'sklearn', 'dfa', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
