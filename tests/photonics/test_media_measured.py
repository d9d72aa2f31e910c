"""MeasuredMedium: TMs from HDF5 files with or without the toolkit's metadata, validated,
normalised, and used like any other medium."""

import math

import h5py
import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.device import save_device
from photonics.errors import ConfigError, FileFormatError, ValidationError
from photonics.medium import DriftingMedium, MeasuredMedium, build_medium, load_transmission_matrix, save_transmission_matrix
from tests.helpers import binary_frames


def cgauss(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)


def test_round_trip_and_normalisation(tmp_path, rng):
    tm = 37.0 * cgauss(rng, (50, 30))  # arbitrary lab units
    path = save_transmission_matrix(tmp_path / "tm.h5", tm, seed=5, attrs={"method": "phase-shifting"})
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves nothing behind
    back, meta = load_transmission_matrix(path)
    assert np.array_equal(back, tm) and meta["dataset"] == "transmission_matrix" and meta["kind"] == "photonics.tm"
    assert meta["seed"] == 5 and meta["method"] == "phase-shifting"
    med = MeasuredMedium.from_file(path, n_in=20)
    assert (med.n_out, med.n_in, med.n_cols) == (50, 20, 30) and med.reference_columns == "file"
    t = med.matrix(cols=slice(0, 30)).astype(np.complex128)
    assert np.allclose(t, tm * med.scale, rtol=1e-6, atol=1e-7)
    assert np.mean(np.abs(t[:, :20]) ** 2) == pytest.approx(1 / 20, rel=1e-6)  # E|T|^2 = 1/n_in
    raw = MeasuredMedium.from_file(path, normalize=False)
    assert raw.scale == 1.0 and np.allclose(raw.matrix(), tm, rtol=1e-6)


def test_foreign_layouts(tmp_path, rng):
    tm = cgauss(rng, (12, 7))
    # plain complex dataset with any name, no attributes at all
    with h5py.File(tmp_path / "plain.h5", "w") as fh:
        fh["T"] = tm
    # compound {real, imag} (MATLAB v7.3 style), inside a group
    comp = np.empty(tm.shape, dtype=[("real", "<f8"), ("imag", "<f8")])
    comp["real"], comp["imag"] = tm.real, tm.imag
    with h5py.File(tmp_path / "compound.h5", "w") as fh:
        fh.create_group("lab")["tm"] = comp
        fh["lab"]["notes"] = np.arange(3)  # a 1-D dataset is not a candidate
    # real (n_out, n_in, 2)
    with h5py.File(tmp_path / "pairs.h5", "w") as fh:
        fh["tm"] = np.stack([tm.real, tm.imag], axis=-1).astype(np.float32)
    for name, ds in (("plain.h5", "T"), ("compound.h5", "lab/tm"), ("pairs.h5", "tm")):
        back, meta = load_transmission_matrix(tmp_path / name)
        assert meta["dataset"] == ds and meta["kind"] is None
        assert np.allclose(back, tm, atol=1e-6), name
    # a real-valued matrix is accepted as such
    with h5py.File(tmp_path / "real.h5", "w") as fh:
        fh["m"] = tm.real
    assert np.allclose(load_transmission_matrix(tmp_path / "real.h5")[0], tm.real)


def test_device_file_loads_as_measured(tmp_path, rng):
    cfg = DeviceConfig.preset("ideal", n_in=32, n_out=64)
    opu = OPU(cfg, seed=3)
    save_device(tmp_path / "dev.h5", opu, include_tm=True)
    med = MeasuredMedium.from_file(tmp_path / "dev.h5")
    assert np.allclose(med.matrix() / med.scale, opu.transmission_matrix, rtol=1e-6, atol=1e-7)
    assert med.meta["config"] == cfg and med.meta["kind"] == "photonics.device"


def test_errors_name_the_problem(tmp_path):
    bad = np.ones((6, 5), dtype=complex)
    bad[2, 3] = np.nan
    bad[4, 0] = np.inf
    with h5py.File(tmp_path / "nan.h5", "w") as fh:
        fh["tm"] = bad
    with pytest.raises(FileFormatError, match="2 NaN or infinite entries"):
        load_transmission_matrix(tmp_path / "nan.h5")
    with h5py.File(tmp_path / "zero.h5", "w") as fh:
        fh["tm"] = np.zeros((3, 3), complex)
    with pytest.raises(FileFormatError, match="square .* nothing says which axis"):
        load_transmission_matrix(tmp_path / "zero.h5")
    with pytest.raises(FileFormatError, match="all zero"):
        load_transmission_matrix(tmp_path / "zero.h5", input_axis="columns")
    with h5py.File(tmp_path / "vec.h5", "w") as fh:
        fh["v"] = np.ones(5, complex)
        fh["s"] = np.array([b"text"])
    with pytest.raises(FileFormatError, match="no 2-D numeric dataset"):
        load_transmission_matrix(tmp_path / "vec.h5")
    with pytest.raises(FileFormatError, match=r"dataset 'v' has shape \(5,\)"):
        load_transmission_matrix(tmp_path / "vec.h5", dataset="v")
    with pytest.raises(FileFormatError, match="no dataset 'nope'"):
        load_transmission_matrix(tmp_path / "vec.h5", dataset="nope")
    with h5py.File(tmp_path / "two.h5", "w") as fh:
        fh["a"] = np.ones((2, 2), complex)
        fh["b"] = np.ones((2, 2), complex)
    with pytest.raises(FileFormatError, match="several datasets could be.*a, b"):
        load_transmission_matrix(tmp_path / "two.h5")
    comp = np.zeros((2, 2), dtype=[("x", "<f8"), ("y", "<f8")])
    with h5py.File(tmp_path / "comp.h5", "w") as fh:
        fh["tm"] = comp
    with pytest.raises(FileFormatError, match="r/i or real/imag"):
        load_transmission_matrix(tmp_path / "comp.h5", input_axis="rows")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(FileFormatError, match="not a readable HDF5 file"):
        load_transmission_matrix(tmp_path / "junk.h5")
    with pytest.raises(FileNotFoundError):
        load_transmission_matrix(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "future.h5", "w") as fh:
        fh.attrs["kind"] = "photonics.tm"
        fh.attrs["schema"] = 99
        fh["transmission_matrix"] = np.ones((2, 2), complex)
    with pytest.raises(FileFormatError, match="schema version 99"):
        load_transmission_matrix(tmp_path / "future.h5", input_axis="columns")
    with pytest.raises(ValidationError, match="fewer than the 12 needed"):
        MeasuredMedium(np.ones((4, 10), complex), 8, n_cols=12)


def test_in_a_device_with_synthetic_reference(tmp_path, rng):
    tm = cgauss(rng, (128, 48)) * np.linspace(0.5, 1.5, 128)[:, None]
    path = save_transmission_matrix(tmp_path / "lab.h5", tm)
    cfg = DeviceConfig.preset("ideal", n_in=48, n_out=128).replace({"medium.model": "measured", "medium.path": str(path)})
    assert DeviceConfig.from_toml(cfg.to_toml(tmp_path / "dev.toml")) == cfg
    med = build_medium(cfg, 0)
    assert isinstance(med, MeasuredMedium) and med.reference_columns == "gaussian" and med.n_cols == cfg.n_modes_total
    # the synthetic reference columns carry each row's measured power (24 columns per row)
    ref_p = np.mean(np.abs(med.matrix(cols=slice(48, 72))) ** 2, axis=1)
    sig_p = np.mean(np.abs(med.matrix()) ** 2, axis=1)
    assert np.corrcoef(ref_p, sig_p)[0, 1] > 0.5
    opu = OPU(cfg, seed=0)
    assert np.allclose(opu.transmission_matrix, tm * med.scale, rtol=1e-5, atol=1e-6)
    x = binary_frames(rng, 8, 48)
    y = opu.project(x)
    assert np.allclose(y, opu.expected_projection(x), rtol=1e-3, atol=1e-3 * y.max())
    z = opu.linear(x)
    assert np.allclose(z, x @ opu.effective_linear_matrix().T, rtol=1e-3, atol=1e-3 * np.abs(z).max())


def test_config_checks(tmp_path, rng):
    path = save_transmission_matrix(tmp_path / "tm.h5", cgauss(rng, (20, 10)))
    with pytest.raises(ConfigError, match="medium.path is required"):
        DeviceConfig().replace({"medium.model": "measured"})
    with pytest.raises(ConfigError, match="procedural"):
        DeviceConfig().replace({"medium.model": "measured", "medium.path": str(path), "medium.storage": "procedural"})
    cfg = DeviceConfig.preset("ideal", n_in=10, n_out=30).replace({"medium.model": "measured", "medium.path": str(path)})
    with pytest.raises(ConfigError, match="20 rows .* medium.n_out is 30"):
        build_medium(cfg, 0)
    cfg = DeviceConfig.preset("ideal", n_in=8, n_out=20).replace({"medium.model": "measured", "medium.path": str(path)})
    with pytest.raises(ConfigError, match="set medium.n_in=10"):
        build_medium(cfg, 0)


# ---- measured TMs as a first-class input -------------------------------------------------------------
def _fiber_tm():
    from photonics.medium import MultimodeFiberMedium
    from photonics.medium.fiber_modes import solve_fiber_modes

    n = solve_fiber_modes(core_radius_m=12e-6, numerical_aperture=0.2, wavelength_m=1.064e-6).n_modes
    med = MultimodeFiberMedium(n, n, 3, wavelength_m=1.064e-6, core_radius_m=12e-6, numerical_aperture=0.2, basis="modes",
                               deformation_rms=5e-4, mode_dependent_loss_db=3.0)
    return med.matrix().astype(np.complex128)


def test_npy_npz_mat_and_orientation(tmp_path, rng):
    from scipy import io as sio

    tm = 5.0 * cgauss(rng, (40, 24))
    np.save(tmp_path / "t.npy", tm)
    np.savez(tmp_path / "t.npz", other=np.arange(3), tm=tm)
    np.savez(tmp_path / "tt.npz", tm=tm.T, input_axis="rows")
    sio.savemat(tmp_path / "t.mat", {"T": tm, "note": "lab"})
    sio.savemat(tmp_path / "tt.mat", {"T": tm.T, "input_axis": "rows"})
    for name, meta_axis in (("t.npy", "shape"), ("t.npz", "shape"), ("tt.npz", "file"), ("t.mat", "shape"), ("tt.mat", "file")):
        back, meta = load_transmission_matrix(tmp_path / name)
        assert np.allclose(back, tm), name
        assert meta["input_axis_source"] == meta_axis and back.shape == (40, 24)
    # declared on the call: transposes
    back, meta = load_transmission_matrix(tmp_path / "t.npy", input_axis="rows")
    assert back.shape == (24, 40) and meta["input_axis_source"] == "declared"
    # an .npz is not HDF5, and says so only when it is neither
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(FileFormatError, match="not a readable transmission-matrix file"):
        load_transmission_matrix(tmp_path / "junk.npz")


def test_square_tm_needs_a_declared_axis(tmp_path, rng):
    tm = cgauss(rng, (30, 30))
    np.save(tmp_path / "sq.npy", tm)
    with pytest.raises(FileFormatError, match="square .* nothing says which axis"):
        load_transmission_matrix(tmp_path / "sq.npy")
    with pytest.raises(ConfigError, match="medium.input_axis"):
        DeviceConfig.preset("ideal").replace({"medium.model": "measured", "medium.path": str(tmp_path / "sq.npy"),
                                              "medium.n_in": None, "medium.n_out": None})
    cfg = DeviceConfig.preset("ideal").replace({"medium.model": "measured", "medium.path": str(tmp_path / "sq.npy"),
                                                "medium.n_in": None, "medium.n_out": None, "medium.input_axis": "rows"})
    opu = OPU(cfg, seed=0)
    assert np.allclose(opu.medium.absolute_matrix(), tm.T, atol=1e-6)  # rows of the file were the inputs
    # a toolkit file declares its layout
    path = save_transmission_matrix(tmp_path / "sq.h5", tm)
    assert load_transmission_matrix(path)[1]["input_axis_source"] == "file"


def test_sizes_from_the_file_and_absolute_scale(tmp_path, rng):
    tm = 0.02 * cgauss(rng, (96, 40))  # field transmission 0.02 per entry: 4 % of the power per input
    np.save(tmp_path / "lab.npy", tm)
    cfg = DeviceConfig.preset("ideal").replace({"medium.model": "measured", "medium.path": str(tmp_path / "lab.npy"),
                                                "medium.n_in": None, "medium.n_out": None})
    assert (cfg.n_in, cfg.n_out, cfg.medium.input_axis) == (40, 96, "columns")
    opu = OPU(cfg, seed=0)
    d = opu.medium.describe()
    assert d["absolute_mean_abs2"] == pytest.approx(np.mean(np.abs(tm) ** 2))
    assert d["absolute_transmission"] == pytest.approx(np.mean(np.sum(np.abs(tm) ** 2, axis=0)))
    assert d["absolute_transmission"] == pytest.approx(96 * 0.02**2, rel=0.1)
    assert np.allclose(opu.medium.absolute_matrix(), tm, rtol=1e-5, atol=1e-8)
    assert d["scale"] == pytest.approx(1 / math.sqrt(np.mean(np.abs(tm) ** 2) * 40))
    raw = MeasuredMedium(tm, normalize=False)
    assert raw.scale == 1.0 and np.allclose(raw.matrix(), tm, atol=1e-8)


def test_reference_columns_by_index_or_consistent_with_the_medium(tmp_path, rng):
    fib = _fiber_tm()  # quasi-unitary, N x N
    n = fib.shape[0]
    # by index: the last 10 inputs of the file are the reference
    med = MeasuredMedium(fib, reference_indices=list(range(n - 10, n)))
    assert (med.n_in, med.n_cols, med.reference_columns) == (n - 10, n, "file")
    assert np.allclose(med.absolute_matrix(cols=slice(n - 10, n)), fib[:, n - 10 :], atol=1e-6)
    # synthesised, auto: a fiber is not i.i.d. Gaussian -> superpositions of its own columns (rank n)
    span = MeasuredMedium(fib, n_cols=n + n // 2)
    assert span.reference_columns == "span" and span.verdict.verdict == "quasi-unitary"
    full = span.matrix(cols=slice(0, span.n_cols)).astype(np.complex128)
    assert np.linalg.matrix_rank(full, tol=1e-4 * np.linalg.norm(full, 2)) == n  # no channel the fiber lacks
    # an i.i.d. Gaussian TM gets i.i.d. Gaussian reference columns (new DMD pixels, new speckle)
    g = cgauss(rng, (80, 40))
    gm = MeasuredMedium(g, n_cols=60)
    assert gm.reference_columns == "gaussian"
    assert np.linalg.matrix_rank(gm.matrix(cols=slice(0, 60)).astype(np.complex128)) == 60
    with pytest.raises(ValidationError, match="reference_indices names 10"):
        MeasuredMedium(fib, reference_indices=list(range(10)), n_cols=n + 5)
    with pytest.raises(ValidationError, match="reference_columns='file'"):
        MeasuredMedium(fib, n_cols=n + 3, reference_columns="file")
    # through the config: indices from the file, sizes from the file
    np.save(tmp_path / "fib.npy", fib)
    cfg = DeviceConfig.preset("ideal").replace({
        "medium.model": "measured", "medium.path": str(tmp_path / "fib.npy"), "medium.n_in": None, "medium.n_out": None,
        "medium.input_axis": "columns", "medium.reference_indices": list(range(n - 13, n)), "reference.fraction": 13 / (n - 13),
        "medium.output_basis": "modes",
    })
    opu = OPU(cfg, seed=0)
    assert opu.n_in == n - 13 and opu.medium.reference_columns == "file" and opu.medium.output_basis == "modes"


def test_measured_fiber_drifts_unitarily():
    fib = _fiber_tm()
    d = DriftingMedium(MeasuredMedium(fib), 1.0, seed=2, step_s=0.05)
    assert d.innovation_model == "unitary"
    s0 = np.linalg.svd(d.matrix().astype(np.complex128), compute_uv=False)
    s1 = np.linalg.svd(d.matrix(time_s=2.3).astype(np.complex128), compute_uv=False)
    assert np.allclose(s0, s1, rtol=1e-4)  # the singular values never change


def test_any_absolute_scale_loads_and_the_scale_is_kept(tmp_path):
    """Entries of 1e200 or 1e-200 give the same normalised medium (no overflow to zeros, no
    division by zero) and the absolute scale is reported; a dead input is tolerated, an
    all-zero signal block refused."""
    import warnings

    from photonics.errors import ValidationError
    from photonics.medium import MeasuredMedium

    rng = np.random.default_rng(0)
    t = rng.normal(size=(16, 24)) + 1j * rng.normal(size=(16, 24))
    ref = MeasuredMedium(t, 16, output_basis="pixels")
    rms = float(np.sqrt(np.mean(np.abs(t[:, :16]) ** 2)))
    for factor in (1e200, 1e-200):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow or division warnings either
            med = MeasuredMedium(t * factor, 16)
        assert np.allclose(med.matrix(), ref.matrix(), rtol=1e-5, atol=1e-7)
        assert med.absolute_rms == pytest.approx(rms * factor, rel=1e-12)
        assert np.allclose(med.absolute_matrix(None, slice(0, 16)), t[:, :16] * factor, rtol=1e-5)
    dead = t.copy()
    dead[:, 3] = 0
    assert np.isfinite(MeasuredMedium(dead, 16).matrix()).all()
    zero_signal = t.copy()
    zero_signal[:, :16] = 0
    with pytest.raises(ValidationError, match="signal columns of tm are all zero"):
        MeasuredMedium(zero_signal, 16)
    with pytest.raises(ValidationError, match="too large for the float32"):
        MeasuredMedium(t * 1e200, 16, normalize=False)
