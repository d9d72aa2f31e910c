"""Every numba kernel against its numpy reference twin (bit for bit); the samplers themselves: test_poisson_sampler.py."""

import numba
import numpy as np
import pytest
from scipy import stats

from photonics import kernels as K
from tests.helpers import ks_critical


def test_mix64_is_a_bijection_sample():
    z = np.arange(1 << 16, dtype=np.uint64)
    assert np.unique(K.mix64_numpy(z)).size == z.size


def test_normal_twin_and_law():
    key = np.uint64(0x1234)
    majors = np.arange(40, dtype=np.uint64)
    a = K.normal_numba(key, majors, 5000)
    b = K.normal_numpy(int(key), majors, 5000)
    assert np.array_equal(a, b)
    z = a.ravel()
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").statistic < ks_critical(n)
    # the tail beyond the ziggurat base (|z| > 3.654) is populated at the Gaussian rate
    p_tail = 2 * stats.norm.sf(K._ZR)
    tail = np.mean(np.abs(z) > K._ZR)
    assert abs(tail - p_tail) < 5 * np.sqrt(p_tail / n)


def test_gaussian_block_twin_and_thread_independence():
    out = np.empty((300, 2 * 17), dtype=np.float32)
    K.gaussian_block_numba(np.uint64(99), 3, 17, 5, 300, 0.25, out)
    ref = K.gaussian_block_numpy(99, 3, 17, 5, 300, 0.25)
    assert np.array_equal(out, ref)
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = np.empty_like(out)
        K.gaussian_block_numba(np.uint64(99), 3, 17, 5, 300, 0.25, one)
    finally:
        numba.set_num_threads(prev)
    assert np.array_equal(one, out)


def test_intensity_twin(rng):
    split = rng.normal(size=(7, 2 * 33)).astype(np.float32)
    c_re = rng.normal(size=33).astype(np.float32)
    c_im = rng.normal(size=33).astype(np.float32)
    out = np.empty((7, 33), dtype=np.float32)
    K.intensity_numba(split, np.float32(0.7), c_re, c_im, np.float32(3.0), out)
    ref = K.intensity_numpy(split, 0.7, c_re, c_im, 3.0)
    assert np.allclose(out, ref, rtol=2e-7, atol=0)


def _camera_inputs(rng, n_frames=6, n_pix=5000):
    power = (rng.exponential(1.0, size=(n_frames, n_pix)) * 1e-12).astype(np.float32)
    power[0, :50] = 1e-6  # saturating pixels
    power[1, :50] = 1e-19  # means below 10 e- (inversion)
    power[2, :30] = np.float32(3e38)  # about the largest float32 power: 6e53 mean electrons
    power[3, :30] = 0.0
    e_per_w = np.full(n_pix, 2.0e15) * (1 + 0.01 * rng.normal(size=n_pix))
    dark = np.abs(rng.normal(2.0, 1.0, size=n_pix))
    offset = 10.0 + rng.normal(0.0, 1.0, size=n_pix)  # black level + offset non-uniformity [DN]
    return power, e_per_w, dark, offset


STAGES = [(True, True, True), (False, False, False), (True, False, True), (False, True, False), (True, False, False), (True, True, False)]


#: frame shapes: wider than a block (cut into blocks, the last partial), and narrow frames that the
#: kernels group into tasks of several frames (the last task partial)
SHAPES = [(6, 5000), (13, 300)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("shot,clip,quant", STAGES)
def test_camera_twin_bit_identical(rng, shot, clip, quant, shape):
    """camera_numba, its serial variant and camera_numpy: the same bits (no tolerance)."""
    power, e_per_w, dark, offset = _camera_inputs(rng, *shape)
    args = (offset, 7.0, 3000.0, 1 / 8.0, 255.0, shot, clip, quant, np.uint64(11), np.uint64(12), 1000)
    out = np.empty(power.shape, dtype=np.float64)
    K.camera_numba(power, e_per_w, dark, *args, out)
    ser = np.empty(power.shape, dtype=np.float64)
    K.camera_serial(power, e_per_w, dark, *args, ser)
    ref = K.camera_numpy(power, e_per_w, dark, *args[:-3], 11, 12, 1000)
    assert np.array_equal(out, ref) and np.array_equal(ser, ref)
    if quant:
        assert out.max() <= 255 and out.min() >= 0
        assert np.all(out[2, :30] == 255)  # the brightest pixels read full scale


def test_camera_twin_large_batch():
    """A million pixel samples at the lab-cmos operating point (speckle, ~300 e-): zero mismatches."""
    rng = np.random.default_rng(2)
    n_frames, n_pix = 64, 16384
    e_per_w = np.full(n_pix, 1.0e15) * (1 + 0.01 * rng.normal(size=n_pix))
    power = rng.exponential(300.0 / 1.0e15, size=(n_frames, n_pix)).astype(np.float32)
    dark = np.full(n_pix, 0.025)
    offset = np.full(n_pix, 10.0)
    args = (offset, 7.0, 10500.0, 1 / 8.0, 255.0, True, True, True, np.uint64(5), np.uint64(6), 77)
    out = np.empty(power.shape, dtype=np.uint8)
    K.camera_numba(power, e_per_w, dark, *args, out)
    ref = K.camera_numpy(power, e_per_w, dark, *args[:-3], 5, 6, 77)
    assert np.array_equal(out, ref)


@pytest.mark.parametrize("shape", [(5, 3000), (9, 250)])
@pytest.mark.parametrize("sub", [None, 10.0])
def test_camera_field_kernels_equal_intensity_then_camera(rng, sub, shape):
    """The fused kernels (split field -> DN) give intensity_numba followed by camera_numba, bit for bit."""
    n_frames, n_pix = shape
    split = (rng.normal(size=(n_frames, 2 * n_pix)) * 3e-7).astype(np.float32)
    c_re = (rng.normal(size=n_pix) * 1e-7).astype(np.float32)
    c_im = (rng.normal(size=n_pix) * 1e-7).astype(np.float32)
    alpha, scale = np.float32(0.7), np.float32(3.0)
    e_per_w = np.full(n_pix, 2.0e15)
    dark = np.full(n_pix, 1.5)
    offset = np.full(n_pix, 10.0)
    power = np.empty((n_frames, n_pix), dtype=np.float32)
    K.intensity_numba(split, alpha, c_re, c_im, scale, power)
    for noisy in (True, False):
        cam = (offset, 7.0 if noisy else 0.0, 3000.0, 1 / 8.0, 255.0, noisy, True, True, np.uint64(3), np.uint64(4), 9)
        dn = np.empty((n_frames, n_pix), dtype=np.uint8)
        K.camera_numba(power, e_per_w, dark, *cam, dn)
        want = dn if sub is None else np.subtract(dn, np.float32(sub), dtype=np.float32)
        out = np.empty((n_frames, n_pix), dtype=want.dtype)
        if noisy:
            K.camera_field_numba(split, alpha, c_re, c_im, scale, e_per_w, dark, *cam, sub, out)
        else:
            K.camera_field_noiseless_numba(split, alpha, c_re, c_im, scale, e_per_w, dark, offset, 3000.0, 1 / 8.0, 255.0, True,
                                           True, sub, out)
        assert np.array_equal(out, want)
        ref = K.camera_field_numpy(split, alpha, c_re, c_im, scale, e_per_w, dark, *cam[:-3], 3, 4, 9, sub)
        assert np.array_equal(out.astype(np.float64), np.asarray(ref, dtype=np.float64))



@pytest.mark.parametrize("shape", [(4, 2 * K._CAMERA_BLOCK + 452), (11, 200)])  # blocks, the last partial; grouped frames
@pytest.mark.parametrize("shot,read_noise_e", [(True, 7.0), (True, 0.0), (False, 7.0), (False, 0.0)])
def test_camera_field_difference_kernel_equals_two_readouts(rng, shot, read_noise_e, shape):
    """The exact scheme's fused kernel: two camera_field_numba read-outs (ON frames from frame_on0,
    OFF frames from frame_off0), then (on - off - level) / norm in float32, bit for bit; the serial
    variant and the numpy twin agree."""
    n_frames, n_pix = shape
    split = (rng.normal(size=(n_frames, 2 * n_pix)) * 3e-7).astype(np.float32)
    on_re, on_im, off_re, off_im = ((rng.normal(size=n_pix) * s).astype(np.float32) for s in (4e-7, 4e-7, 1e-8, 1e-8))
    alpha, scale = np.float32(0.7), np.float32(3.0)
    e_per_w = np.full(n_pix, 2.0e15)
    dark = np.full(n_pix, 1.5)
    offset = rng.uniform(9.0, 11.0, size=n_pix)
    level = rng.uniform(20.0, 40.0, size=n_pix).astype(np.float32)
    norm = rng.uniform(8.0, 12.0, size=n_pix).astype(np.float32)
    cam = (offset, read_noise_e, 3000.0, 1 / 8.0, 255.0, shot, True, True, np.uint64(3), np.uint64(4))
    on = np.empty((n_frames, n_pix), dtype=np.float32)
    off = np.empty((n_frames, n_pix), dtype=np.float32)
    K.camera_field_numba(split, alpha, on_re, on_im, scale, e_per_w, dark, *cam, 20, 0.0, on)
    K.camera_field_numba(split, alpha, off_re, off_im, scale, e_per_w, dark, *cam, 24, 0.0, off)
    if not shot and read_noise_e == 0.0:  # a noiseless camera: the dedicated noiseless kernel's read-outs
        for c_re_, c_im_, got in ((on_re, on_im, on), (off_re, off_im, off)):
            ref = np.empty_like(got)
            K.camera_field_noiseless_numba(split, alpha, c_re_, c_im_, scale, e_per_w, dark, offset, 3000.0, 1 / 8.0, 255.0, True, True,
                                           0.0, ref)
            assert np.array_equal(got, ref)
    want = ((on - off) - level) / norm
    assert want.dtype == np.float32
    args = (split, alpha, on_re, on_im, off_re, off_im, scale, e_per_w, dark, *cam, 20, 24, level, norm)
    for kern in (K.camera_field_difference_numba, K.camera_field_difference_serial):
        out = np.empty((n_frames, n_pix), dtype=np.float32)
        kern(*args, out)
        assert np.array_equal(out, want)
    assert np.array_equal(K.camera_field_difference_numpy(*args), want)
    if shot or read_noise_e > 0.0:  # the OFF frames' own clock: reading them at the ON frames' indices changes the numbers
        out = np.empty((n_frames, n_pix), dtype=np.float32)
        K.camera_field_difference_numba(*args[:-4], 20, 20, level, norm, out)
        assert not np.array_equal(out, want)

def test_camera_noiseless_twin(rng):
    power = (rng.exponential(1.0, size=(4, 3000)) * 1e-12).astype(np.float32)
    power[0, :20] = 1e-6
    e_per_w = np.full(3000, 2.0e15) * (1 + 0.01 * rng.normal(size=3000))
    dark = np.abs(rng.normal(2.0, 1.0, size=3000))
    for clip, quant in [(True, True), (False, False), (True, False), (False, True)]:
        out = np.empty((4, 3000), dtype=np.float64)
        offset = np.full(3000, 10.0)
        K.camera_noiseless_numba(power, e_per_w, dark, offset, 3000.0, 1 / 8.0, 255.0, clip, quant, out)
        ref = K.camera_numpy(power, e_per_w, dark, offset, 0.0, 3000.0, 1 / 8.0, 255.0, False, clip, quant, 1, 2, 0)
        assert np.allclose(out, ref, rtol=1e-12, atol=1e-9)


def test_serial_variants_give_the_same_numbers(rng):
    power = (rng.exponential(1.0, size=(3, 700)) * 1e-12).astype(np.float32)
    e_per_w = np.full(700, 2.0e15)
    dark = np.full(700, 1.5)
    args = (np.full(700, 10.0), 7.0, 3000.0, 1 / 8.0, 255.0, True, True, True, np.uint64(3), np.uint64(4), 50)
    a = np.empty((3, 700))
    b = np.empty((3, 700))
    K.camera_numba(power, e_per_w, dark, *args, a)
    K.camera_serial(power, e_per_w, dark, *args, b)
    assert np.array_equal(a, b)
    split = rng.normal(size=(3, 20)).astype(np.float32)
    c = rng.normal(size=10).astype(np.float32)
    o1, o2 = np.empty((3, 10), np.float32), np.empty((3, 10), np.float32)
    K.intensity_numba(split, np.float32(2.0), c, c, np.float32(1.5), o1)
    K.intensity_serial(split, np.float32(2.0), c, c, np.float32(1.5), o2)
    assert np.array_equal(o1, o2)


def test_every_cached_kernel_has_its_own_disk_cache_entry():
    """Numba's disk cache keys a function by module, qualified name and first line, not by its
    compile flags: a parallel kernel and a serial variant jitted from one Python function shared
    one entry, and the parallel kernel ran the serial code it found there (half speed on 2 cores)."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import dfa
    import photonics

    owners = {}
    for pkg in (photonics, dfa):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            try:
                mod = importlib.import_module(info.name)
            except ImportError:  # optional back-ends (none expected here)
                continue
            for obj in vars(mod).values():
                if isinstance(obj, CPUDispatcher) and obj._cache.__class__.__name__ == "FunctionCache":
                    owners.setdefault(obj._cache._cache_file._index_name, set()).add(id(obj))
    assert len(owners) > 20
    shared = {k: len(v) for k, v in owners.items() if len(v) > 1}
    assert not shared, f"dispatchers sharing a disk-cache entry: {shared}"
    assert K.camera_field_numba._cache._cache_file._index_name != K.camera_field_serial._cache._cache_file._index_name
