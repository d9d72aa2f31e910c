"""`photonics calibrate` as an instrument: options checked before work, a failed requested step
ends non-zero, an interrupt keeps the steps that finished."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photonics import cli

PHOTONICS = str(Path(sys.executable).parent / "photonics")
DEV = ["lab-cmos", "--n-in", "32", "--n-out", "64"]


@pytest.mark.parametrize("args,match", [
    (["--steps", "emva1288,nonsense"], "unknown calibration step"),
    (["--tm-probes", "0"], "--tm-probes must be in"),
    (["--drift-max-time", "-1"], "--drift-max-time must be in"),
])
def test_bad_options_fail_before_work(tmp_path, capsys, args, match):
    out = tmp_path / "cal"
    assert cli.main(["calibrate", *DEV, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_existing_result_is_not_overwritten_unasked(tmp_path, capsys):
    out = tmp_path / "cal"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    assert cli.main(["calibrate", *DEV, "--out", str(out), "--steps", "emva1288"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == "{}"


def test_a_failed_requested_step_exits_non_zero_and_keeps_the_others(tmp_path, capsys, monkeypatch):
    import photonics.calibration.report as report
    from photonics.errors import CalibrationError

    def broken(*a, **k):
        raise CalibrationError("no reference signal")

    monkeypatch.setattr(report, "characterize_reference", broken)
    out = tmp_path / "cal"
    rc = cli.main(["calibrate", *DEV, "--out", str(out), "--steps", "emva1288,reference", "--no-plots"])
    err = capsys.readouterr().err
    assert rc == 1 and "requested step(s) failed: reference" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == {"emva1288": "ok", "reference": "failed: CalibrationError: no reference signal"}


def test_an_interrupt_keeps_the_finished_steps(tmp_path):
    out = tmp_path / "cal"
    p = subprocess.Popen([PHOTONICS, "-v", "calibrate", *DEV, "--out", str(out), "--steps", "emva1288,tm,drift", "--no-plots",
                          "--no-progress", "--tm-rows", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 240
    for line in p.stderr:  # wait until the first step has finished, then interrupt
        lines.append(line)
        if "calibration step emva1288 done" in line or time.time() > deadline:
            break
    p.send_signal(signal.SIGINT)
    _, rest = p.communicate(timeout=240)
    err = "".join(lines) + rest
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted; 1 finished step(s) (emva1288) written to" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["steps"]["emva1288"] == "ok"
    assert summary["steps"]["tm"] == "interrupted" and summary["steps"]["drift"] == "not run"
    assert summary["quantities"]["system_gain_dn_per_e"]["estimate"] is not None


def test_frames_written_to_disk_are_counted_like_frames_analysed(tmp_path):
    """--write-frames takes the EMVA frames before the calibration: they still count (frames, device time)."""
    args = ["calibrate", *DEV, "--steps", "emva1288", "--no-plots", "--no-progress"]
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "b"), "--write-frames", str(tmp_path / "f.h5")]) == 0
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert a["frames_used"] > 1000 and b["frames_used"] == a["frames_used"]
    assert b["device_time_s"] == a["device_time_s"] and b["step_device_time_s"] == a["step_device_time_s"]


def test_an_interrupt_between_two_steps_keeps_the_finished_one(monkeypatch):
    """Ctrl-C right after a step's end (outside any step): the step is kept, the next one is 'interrupted'."""
    from photonics import OPU
    from photonics.calibration import report as rep
    from photonics.config import DeviceConfig

    real_info = rep.log.info

    def info(msg, *a):
        real_info(msg, *a)
        if msg.startswith("calibration step %s %s") and a[0] == "emva1288":
            raise KeyboardInterrupt

    monkeypatch.setattr(rep.log, "info", info)
    r = rep.calibrate_device(OPU(DeviceConfig.preset("lab-cmos", n_in=16, n_out=64), seed=0), steps=("emva1288", "tm", "drift"))
    s = rep.summary_dict(r)
    assert r.interrupted and s["steps"] == {"emva1288": "ok", "tm": "interrupted", "drift": "not run"}
    assert r.step_device_time_s["emva1288"] > 0 and r.emva1288 is not None
