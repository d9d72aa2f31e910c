import json
import subprocess
import sys

import numpy as np

from photonics import OPU, DeviceConfig
from photonics.cli import main
from photonics.records import load_frames


def test_info_text_and_json(capsys):
    assert main(["info", "lab-cmos", "--n-in", "128", "--n-out", "256"]) == 0
    out = capsys.readouterr().out
    assert "n_in=128" in out and "n_out=256" in out and "SNR" in out and "TeraOPS" in out
    assert main(["info", "lighton-like", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["dimensions"]["n_in"] == 1_000_000 and d["hardware"]["ops_per_s"] > 1e15


def test_project_matches_python_api(tmp_path, rng):
    x = (rng.random((5, 64)) < 0.5).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    rc = main(["project", "lab-cmos", "--n-in", "64", "--n-out", "100", "--seed", "4",
               "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.h5")])
    assert rc == 0
    y, meta = load_frames(tmp_path / "y.h5")
    ref = OPU(DeviceConfig.preset("lab-cmos", n_in=64, n_out=100), seed=4).project(x)
    assert np.array_equal(y, ref)
    assert meta["unit"] == "DN" and meta["frames_used"] == 5 and meta["config"].n_in == 64
    # real inputs need an encoder; linear mode with a sign split
    xr = rng.normal(size=(3, 64))
    np.savetxt(tmp_path / "x.csv", xr, delimiter=",")
    rc = main(["project", "ideal", "--n-in", "64", "--n-out", "32", "--input", str(tmp_path / "x.csv"),
               "--out", str(tmp_path / "z.h5"), "--mode", "linear", "--encoder", "sign"])
    assert rc == 0
    z, meta = load_frames(tmp_path / "z.h5")
    assert z.shape == (3, 32) and meta["unit"] == "sqrt(DN)"


def test_errors_exit_2_with_message(tmp_path, capsys):
    assert main(["info", "no-such-device"]) == 2
    assert "unknown device" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.full((2, 16), 0.5))
    assert main(["project", "ideal", "--n-in", "16", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.h5")]) == 2
    assert "binary" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()
    assert main(["info", "ideal", "--set", "camera.bit_depth=40"]) == 2
    assert "camera.bit_depth" in capsys.readouterr().err


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "photonics.cli", "info", "ideal"], capture_output=True, text=True)
    assert r.returncode == 0 and "n_in=1,024" in r.stdout
