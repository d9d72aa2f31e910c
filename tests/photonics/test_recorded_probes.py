"""TM retrieval from probe / intensity pairs recorded elsewhere, and the twin built on it.

The recordings are written here with h5py / numpy directly (the layout the module documents), from
a simulated OPU whose transmission matrix is the independent ground truth; the retrieval never sees
the device."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest

from photonics import OPU, cli
from photonics.calibration.recorded_probes import RecordedProbes, read_probe_file, record_probes, retrieve_tm_recorded, split_heldout
from photonics.calibration.tm_retrieval import row_quality
from photonics.config import DeviceConfig
from photonics.errors import FileFormatError, ShapeError, ValidationError
from photonics.medium import load_transmission_matrix

N_IN, SIDE = 16, 16


def _device(power_factor: float = 1.0):
    cfg = DeviceConfig.preset("lab-cmos", n_in=N_IN, n_out=SIDE * SIDE)
    return OPU(cfg.replace({"laser.power_w": cfg.laser.power_w * power_factor}), seed=0)


def _record(opu, path, *, n_probes=160, n_held=64, repeat=True, seed=5, fmt="h5"):
    """What a lab writes: random probes, held-out patterns shown twice, dark frames (images)."""
    rng = np.random.default_rng(seed)
    probes = (rng.random((n_probes, N_IN)) < 0.5).astype(np.uint8)
    held = (rng.random((n_held, N_IN)) < 0.5).astype(np.uint8)
    parts = [probes, held, held] if repeat else [probes, held]
    frames = np.concatenate([opu.acquire(p) for p in parts]).reshape(-1, SIDE, SIDE)
    data = {"patterns": np.concatenate(parts), "frames": frames, "dark_frames": opu.dark_frames(16).reshape(-1, SIDE, SIDE)}
    if fmt == "h5":
        with h5py.File(path, "w") as fh:
            for k, v in data.items():
                fh[k] = v
            fh.attrs["saturation_dn"] = float(opu.config.camera.max_dn)
    else:
        np.savez(path, **data, saturation_dn=float(opu.config.camera.max_dn))
    return path


def _signal(opu, x):
    """Noise-free mean signal above the dark level [DN] (device truth)."""
    return opu.expected_projection(x) - (opu.camera.dark_electrons(None) / opu.config.camera.gain_e_per_dn + opu.camera.offset_map_dn)


def test_recorded_probes_give_the_device_tm_and_a_twin_of_its_brightness(tmp_path, capsys):
    a = _device(1.7)  # brighter than the twin's base device (lab-cmos): the power match must find the factor
    emva = tmp_path / "emva.h5"
    assert cli.main(["calibrate", "lab-cmos", "--n-in", str(N_IN), "--n-out", str(SIDE * SIDE), "--steps", "emva1288",
                     "--write-frames", str(emva), "--out", str(tmp_path / "a"), "--no-plots", "--no-progress"]) == 0
    capsys.readouterr()
    probes = _record(a, tmp_path / "probes.h5")
    out, twin = tmp_path / "b", tmp_path / "twin"
    assert cli.main(["calibrate", "--frames", str(emva), "--probes", str(probes), "--twin", str(twin), "--out", str(out),
                     "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tm_probes"]["probes"] == 160 and summary["tm_probes"]["held_out"] == 64 and summary["tm_probes"]["prnu_divided_out"]
    assert summary["quantities"]["tm_r2_heldout_median"]["estimate"] > 0.98
    assert "system_gain_dn_per_e" in summary["quantities"]  # the EMVA figures are kept beside the TM's
    # the rows are the device's (up to the phase and conjugation DMD probes cannot see)
    t, meta = load_transmission_matrix(out / "measured_tm.h5")
    q = row_quality(t, a.transmission_matrix[:, :N_IN])
    assert t.shape == (SIDE * SIDE, N_IN) and np.median(q) > 0.995 and q.min() > 0.98
    # ... and their norms, with the PRNU divided out, follow the device's rows (sd of the ratio ~0.8 %)
    ratio = np.linalg.norm(t, axis=1) / np.linalg.norm(a.transmission_matrix[:, :N_IN], axis=1)
    assert np.std(ratio) / np.mean(ratio) < 0.03
    # the twin loads that matrix and its power is matched to the recorded brightness
    tw = OPU(DeviceConfig.from_toml(twin / "twin.toml"), seed=0)
    assert tw.config.medium.model == "measured" and tw.n_in == N_IN and tw.n_out == SIDE * SIDE
    x = (np.random.default_rng(9).random((400, N_IN)) < 0.5).astype(np.uint8)
    s_a, s_t = _signal(a, x), _signal(tw, x)
    assert s_t.mean() == pytest.approx(s_a.mean(), rel=0.03)
    # pixel by pixel too: the recorded all-OFF field (leaking mirrors) travels with the matrix;
    # with a modelled leak instead (synthetic reference columns) the per-pixel means scatter by ~8 %
    assert tw.medium.describe()["recorded_constant_field"]
    per_pixel = s_t.mean(axis=0) / s_a.mean(axis=0)
    assert np.std(per_pixel) < 0.03
    corr = [np.corrcoef(s_a[:, i], s_t[:, i])[0, 1] for i in range(s_a.shape[1])]
    assert np.median(corr) > 0.995 and np.min(corr) > 0.98


def test_a_recording_without_repeats_is_retrieved_without_a_noise_model(tmp_path, caplog):
    a = _device()
    rec = read_probe_file(_record(a, tmp_path / "p.npz", repeat=False, fmt="npz"))
    assert rec.image_shape == (SIDE, SIDE) and rec.saturation_dn == a.config.camera.max_dn
    with caplog.at_level(logging.WARNING):
        res = retrieve_tm_recorded(rec)
    assert "no pattern was shown twice" in caplog.text
    assert res.n_probes == 160 and res.n_heldout == 64 and np.all(np.isnan(res.noise_model_dn2))
    assert np.all(np.isnan(res.r2_noise_ceiling)) and np.all(np.isnan(res.row_correlation_estimate))
    assert np.median(row_quality(res.t_est, a.transmission_matrix[:, :N_IN])) > 0.99
    assert res.r2_heldout_median.value > 0.98


def test_held_out_patterns_are_the_repeated_reference_off_ones():
    p = np.array([[0, 1], [1, 1], [0, 1], [1, 0], [0, 1], [1, 0], [1, 1]], dtype=np.uint8)
    ref = np.array([0, 1, 0, 1, 0, 1, 0])
    rec = RecordedProbes(patterns=p, frames=np.ones((7, 4)), dark_frames=np.zeros((1, 4)), reference=ref, image_shape=(2, 2))
    probes, h1, h2 = split_heldout(rec)
    # [0, 1] OFF is shown three times: its first two showings are held out, the third is dropped;
    # [1, 0] is repeated with the reference ON: a probe both times; [1, 1] once OFF, once ON: probes
    assert list(h1) == [0] and list(h2) == [2]
    assert list(probes) == [1, 3, 5, 6]


def test_the_device_retrieval_and_the_recorded_one_agree(tmp_path):
    """record_probes + retrieve_tm_recorded: the same estimator as retrieve_tm, from a file."""
    from photonics.calibration.recorded_probes import write_probe_file

    a = OPU(DeviceConfig.preset("lab-cmos", n_in=24, n_out=64), seed=2)
    rec = read_probe_file(write_probe_file(tmp_path / "r.h5", record_probes(a, reference_probes=0.5, seed=3)))
    assert rec.reference.sum() == 96
    res = retrieve_tm_recorded(rec, n_bootstrap_rows=16)
    q = row_quality(res.t_est, a.transmission_matrix[:, :24])
    assert np.median(q) > 0.995 and res.reference_probe_fraction == pytest.approx(0.5)
    # the bootstrap estimate of the correlation (no truth) agrees with the truth on its rows
    sel = np.isfinite(res.row_correlation_estimate)
    assert sel.sum() == 16
    assert abs(np.median(res.row_correlation_estimate[sel]) - np.median(q[sel])) < 0.005


@pytest.mark.parametrize("edit,exc,match", [
    (lambda d: d.update(patterns=d["patterns"] * 2), ValidationError, "only 0 and 1"),
    (lambda d: d.pop("dark_frames"), FileFormatError, "missing 'dark_frames'"),
    (lambda d: d.update(frames=d["frames"][:-1]), ShapeError, "one camera frame per pattern"),
    (lambda d: d.update(dark_frames=d["dark_frames"][:, :8]), ShapeError, "dark_frames are"),
    (lambda d: d.update(frames=np.where(d["frames"] > 30, np.nan, d["frames"])), ValidationError, "NaN"),
    (lambda d: d.update(dark_frames=d["dark_frames"] + 1e6), ValidationError, "saturated"),
])
def test_bad_recordings_are_refused_naming_the_problem(tmp_path, edit, exc, match):
    src = np.load(_record(_device(), tmp_path / "ok.npz", n_probes=40, n_held=8, fmt="npz"))
    d = {k: src[k] for k in src.files}
    edit(d)
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(exc, match=match):
        read_probe_file(tmp_path / "bad.npz")


@pytest.mark.parametrize("args,match", [
    (["lab-cmos", "--probes", "P"], "not both"),
    (["--probes", "P", "--twin", "T"], "--twin needs the camera's EMVA 1288 frames"),
    (["--probes", "P", "--frames", "P", "--twin-medium", "P", "--twin", "T"], "give one"),
    (["--probes", "missing.h5"], "does not exist"),
])
def test_probe_options_are_checked_before_work(tmp_path, capsys, args, match):
    p = _record(_device(), tmp_path / "p.h5", n_probes=40, n_held=8)
    args = [str(p) if a == "P" else str(tmp_path / a) if a in ("T", "missing.h5") else a for a in args]
    out = tmp_path / "out"
    assert cli.main(["calibrate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_too_few_probes_is_a_clear_error(tmp_path, capsys):
    p = _record(_device(), tmp_path / "p.h5", n_probes=20, n_held=4)
    assert cli.main(["calibrate", "--probes", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "cannot determine 2 (n_in + 1) = 34 real unknowns" in capsys.readouterr().err


def test_options_without_effect_on_recorded_data_are_warned(tmp_path, capsys):
    p = _record(_device(), tmp_path / "p.h5")
    assert cli.main(["calibrate", "--probes", str(p), "--out", str(tmp_path / "o"), "--no-progress", "--no-plots", "--n-in", "8",
                     "--tm-rows", "5", "--wavelength", "5e-7", "--twin-base", "ideal"]) == 0
    err = capsys.readouterr().err
    for opt in ("--n-in", "--tm-rows", "--wavelength", "--twin-base"):
        assert f"warning: {opt} has no effect" in err
    assert "--seed has no effect" not in err  # it seeds the retrieval


def test_recorded_reference_states_are_fitted_as_separate_constants(tmp_path):
    """A weakly coupled fiber's rows are dominated by one mode; a lab that shows the reference
    probes with either half of the reference block ON (states 1 and 2) gets two constants, as the
    device retrieval does. Same probes, states 1/2 against the whole block (state 1 only)."""
    fiber = {"medium.model": "fiber", "medium.core_radius_m": 10e-6, "medium.mode_dependent_loss_db": 3.0,
             "medium.output_basis": "modes", "medium.deformation_rms": 3e-4}
    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=68, n_out=68).replace(fiber), seed=6)
    n_ref = opu.config.n_reference
    first = (np.arange(n_ref) < n_ref // 2).astype(np.uint8)
    rng = np.random.default_rng(1)
    probes = (rng.random((544, 68)) < 0.5).astype(np.uint8)
    held = (rng.random((68, 68)) < 0.5).astype(np.uint8)
    state = np.zeros(544, dtype=np.int64)
    state[1::2] = 1
    state[3::4] = 2
    dark = opu.dark_frames(16)
    bad = {}
    for name, masks in (("halves", {1: first, 2: 1 - first}), ("whole", {1: True, 2: True})):
        y = np.empty((544, 68))
        y[state == 0] = opu.acquire(probes[state == 0])
        for k, m in masks.items():
            y[state == k] = opu.acquire(probes[state == k], reference=m)
        ref = state if name == "halves" else np.minimum(state, 1)
        np.savez(tmp_path / f"{name}.npz", patterns=np.concatenate([probes, held, held]),
                 frames=np.concatenate([y, opu.acquire(held), opu.acquire(held)]), dark_frames=dark,
                 reference=np.concatenate([ref, np.zeros(136, dtype=np.int64)]), saturation_dn=float(opu.config.camera.max_dn))
        res = retrieve_tm_recorded(read_probe_file(tmp_path / f"{name}.npz"), n_bootstrap_rows=0, seed=1)
        assert res.reference_probe_fraction == 0.5 and res.n_heldout == 68
        bad[name] = int(np.sum(row_quality(res.t_est, opu.transmission_matrix[:, :68]) < 0.99))
    assert bad["halves"] <= 2 and bad["whole"] >= bad["halves"] + 3, bad
