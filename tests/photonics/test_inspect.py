"""``photonics inspect``: PNG plots and a JSON of the speckle / TM statistics, for several media."""

import json
import math

import pytest

from photonics.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def run_inspect(tmp_path, *args):
    out = tmp_path / "out"
    rc = main(["inspect", *args, "--out", str(out), "--frames", "8"])
    return rc, out


def test_gaussian_device(tmp_path, capsys):
    rc, out = run_inspect(tmp_path, "lab-cmos", "--n-in", "128", "--n-out", "1024")
    assert rc == 0
    for name in ("speckle.png", "histogram.png", "singular_values.png", "autocorrelation.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert not (out / "memory_effect.png").exists()
    st = json.loads((out / "statistics.json").read_text())
    sp, tm = st["speckle"], st["tm"]
    c = sp["contrast"]
    assert abs(c["value"] - 1) < 5 * c["stderr"] and sp["fully_developed"] is True
    assert abs(sp["grain_size_px"] - 1) < 0.05
    assert st["sizes"] == {"n_frames": 8, "inputs_used": 128, "pixels_used": 1024, "image_shape": [32, 32], "tm_block": [1024, 128]}
    assert tm["mp_ratio"] == 0.125 and tm["mp_ks_statistic"] < 10 / 128
    assert abs(tm["mean_abs2_times_n_in"] - 1) < 5 / math.sqrt(128 * 1024)
    assert st["camera"]["saturated_fraction"] < 0.01 and st["config"]["name"] == "lab-cmos"
    assert sorted(st["files"]) == sorted(["speckle.png", "histogram.png", "autocorrelation.png", "singular_values.png", "ensembles.png", "statistics.json"])
    assert st["ensemble"]["verdict"] == "iid-gaussian" and st["speckle"]["verdict"]["fully_developed"]
    assert "fully developed" in capsys.readouterr().out


def test_speckle_grain_is_reported(tmp_path):
    rc, out = run_inspect(
        tmp_path, "ideal", "--n-in", "64", "--n-out", "4096", "--set", "medium.model=speckle", "--set", "medium.grain_size_px=3", "--json"
    )
    assert rc == 0
    st = json.loads((out / "statistics.json").read_text())
    assert st["medium"]["model"] == "SpeckleMedium"
    assert abs(st["speckle"]["grain_size_px"] / 3 - 1) < 0.1  # 8 images of 64 x 64: a few % spread
    assert st["tm"]["row_correlation"][0] > 0.5  # neighbouring pixels share a grain


def test_multislice_memory_effect_and_slm(tmp_path):
    rc, out = run_inspect(
        tmp_path,
        "ideal",
        "--n-in", "16",
        "--n-out", "64",
        "--set", "modulator=slm",
        "--set", "medium.model=multislice",
        "--set", "medium.thickness_m=0.002",
        "--set", "medium.scattering_mean_free_path_m=0.001",
    )  # fmt: skip
    assert rc == 0
    assert (out / "memory_effect.png").read_bytes()[:8] == PNG
    st = json.loads((out / "statistics.json").read_text())
    me = st["memory_effect"]
    assert me["measured"][0] == pytest.approx(1.0) and me["theory"][0] == pytest.approx(1.0)
    assert abs(me["measured"][1] - me["theory"][1]) < 0.1
    assert st["inputs"] == "uniformly random phases"


def test_large_device_is_inspected_on_a_block(tmp_path):
    rc, out = run_inspect(
        tmp_path, "ideal", "--n-in", "2000", "--n-out", "40000", "--set", "medium.storage=procedural",
        "--max-pixels", "1000", "--max-inputs", "500", "--max-verdict", "256",
    )  # fmt: skip
    assert rc == 0
    st = json.loads((out / "statistics.json").read_text())
    assert st["sizes"]["inputs_used"] == 500 and st["sizes"]["pixels_used"] == 1000
    assert st["sizes"]["image_shape"] == [5, 200]  # 40000 = 200 x 200: whole image rows
    assert st["sizes"]["tm_block"] == [2048, 500] and "camera" not in st  # too big for camera frames
    assert abs(st["speckle"]["contrast"]["value"] - 1) < 5 * st["speckle"]["contrast"]["stderr"]


def test_errors_exit_with_status_2(tmp_path, capsys):
    assert main(["inspect", "no-such-device", "--out", str(tmp_path)]) == 2
    assert "unknown device" in capsys.readouterr().err
    assert main(["inspect", "ideal", "--n-in", "8", "--n-out", "16", "--frames", "0", "--out", str(tmp_path)]) == 2
    assert "frames must be >= 1" in capsys.readouterr().err


def test_mode_basis_fiber_skips_pixel_statistics_and_gets_its_verdict(tmp_path, capsys):
    rc, out = run_inspect(tmp_path, "fiber-grin-modes", "--null-draws", "12")
    assert rc == 0
    st = json.loads((out / "statistics.json").read_text())
    assert st["output_basis"] == "modes"
    assert "mode basis" in st["speckle"]["pixel_grid_skipped"] and st["speckle"]["grain_size_px"] is None
    assert not (out / "speckle.png").exists() and not (out / "autocorrelation.png").exists()
    assert st["ensemble"]["verdict"] == "quasi-unitary" and "NOT an i.i.d. Gaussian" in st["ensemble"]["statement"]
    assert st["speckle"]["fully_developed"] is False  # rows dominated by one mode: not an exponential law
    assert (out / "ensembles.png").read_bytes()[:8] == PNG
    text = capsys.readouterr().out
    assert "grain       skipped" in text and "verdict     NOT an i.i.d. Gaussian" in text


def test_filtered_random_medium_verdict(tmp_path):
    rc, out = run_inspect(tmp_path, "ideal", "--n-in", "96", "--n-out", "128", "--set", "medium.model=filtered-random",
                          "--set", "medium.n_channels=256", "--null-draws", "12")
    assert rc == 0
    st = json.loads((out / "statistics.json").read_text())
    ens = st["ensemble"]
    assert ens["verdict"] == "filtered-unitary"
    fit = next(f for f in ens["fits"] if f["ensemble"] == "filtered-unitary")
    # reference columns take N too: 96 + 48 controlled of 256 channels; the fit sees the 96 x 128 block
    assert abs(fit["parameters"]["alpha"] - 96 / 256) < 0.08
    mp = next(f for f in ens["fits"] if f["ensemble"] == "iid-gaussian")
    assert not mp["fits"] and mp["z"] > 4
