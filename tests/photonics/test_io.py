import os

import h5py
import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.device import load_device, save_device
from photonics.errors import FileFormatError, ValidationError
from photonics.io import atomic_h5
from photonics.records import load_frames, load_result, save_frames, save_result


def _listing(d):
    return sorted(os.listdir(d))


def test_device_round_trip(tmp_path):
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=30, n_out=40), seed=9)
    p = save_device(tmp_path / "dev.h5", opu, include_tm=True)
    with h5py.File(p, "r") as fh:
        assert fh.attrs["schema"] == 1 and fh.attrs["kind"] == "photonics.device"
        assert "unit" in fh["transmission_matrix"].attrs
        assert fh["transmission_matrix"].dtype == np.complex64
    again = load_device(p)
    assert again.config == opu.config and again.seed == 9
    assert np.array_equal(again.transmission_matrix, opu.transmission_matrix)
    save_device(tmp_path / "light.h5", opu)
    assert load_device(tmp_path / "light.h5").config == opu.config


def test_mismatched_and_corrupt_files(tmp_path):
    opu = OPU(DeviceConfig.preset("ideal", n_in=10, n_out=12), seed=1)
    p = save_device(tmp_path / "dev.h5", opu, include_tm=True)
    with h5py.File(p, "a") as fh:
        fh["transmission_matrix"][0, 0] = 5.0 + 0j
    with pytest.raises(FileFormatError, match="does not match"):
        load_device(p)
    # wrong shape for the config
    with atomic_h5(tmp_path / "shape.h5", "photonics.device", config=opu.config, seed=1) as fh:
        fh.create_dataset("transmission_matrix", data=np.zeros((3, 3), np.complex64))
    with pytest.raises(FileFormatError, match="shape"):
        load_device(tmp_path / "shape.h5")
    # another kind of file
    save_frames(tmp_path / "frames.h5", np.zeros((2, 3)))
    with pytest.raises(FileFormatError, match="expected 'photonics.device'"):
        load_device(tmp_path / "frames.h5")
    # not HDF5 at all / truncated
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(100))
    with pytest.raises(FileFormatError, match="not a readable HDF5"):
        load_device(tmp_path / "junk.h5")
    raw = p.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(FileFormatError):
        load_device(tmp_path / "trunc.h5")
    # foreign HDF5 without our attributes
    with h5py.File(tmp_path / "foreign.h5", "w") as fh:
        fh["x"] = 1
    with pytest.raises(FileFormatError, match="not written by photonics"):
        load_device(tmp_path / "foreign.h5")
    # unknown schema version
    with h5py.File(p, "a") as fh:
        fh.attrs["schema"] = 99
    with pytest.raises(FileFormatError, match="schema version 99"):
        load_device(p)
    with pytest.raises(FileNotFoundError):
        load_device(tmp_path / "missing.h5")


def test_nothing_written_on_failed_save(tmp_path):
    before = _listing(tmp_path)
    with pytest.raises(RuntimeError):
        with atomic_h5(tmp_path / "x.h5", "photonics.frames") as fh:
            fh["a"] = np.arange(3)
            raise RuntimeError("crash mid-write")
    assert _listing(tmp_path) == before
    with pytest.raises(ValidationError):
        save_frames(tmp_path / "y.h5", np.array([object()]))
    assert _listing(tmp_path) == before
    # an existing file survives a failed overwrite untouched
    good = save_frames(tmp_path / "z.h5", np.arange(4))
    with pytest.raises(RuntimeError):
        with atomic_h5(good, "photonics.frames") as fh:
            raise RuntimeError("crash")
    assert np.array_equal(load_frames(good)[0], np.arange(4))


def test_frames_and_results_round_trip(tmp_path):
    cfg = DeviceConfig.preset("lab-cmos", n_in=8, n_out=8)
    frames = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    save_frames(tmp_path / "f.h5", frames, config=cfg, seed=3, unit="DN", attrs={"mode": "project"})
    arr, meta = load_frames(tmp_path / "f.h5")
    assert np.array_equal(arr, frames) and arr.dtype == np.uint8
    assert meta["unit"] == "DN" and meta["config"] == cfg and meta["seed"] == 3 and meta["mode"] == "project"
    save_result(
        tmp_path / "r.h5",
        "photonics.result",
        {"gain": 0.125, "curve": np.arange(5.0), "sub": {"a": 1.0, "b": np.ones(2)}},
        config=cfg,
        units={"gain": "DN/e-", "curve": "DN"},
    )
    r = load_result(tmp_path / "r.h5", "photonics.result")
    assert r["gain"] == 0.125 and np.array_equal(r["curve"], np.arange(5.0)) and r["sub"]["a"] == 1.0
    assert r["config"] == cfg
