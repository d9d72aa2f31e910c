"""`dfa train` behaves like an instrument: everything checked before work, no run replaced or
mixed silently, a run interrupted in its first method can be resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photonics.io import folder_lock

DFA = str(Path(sys.executable).parent / "dfa")
FAST = ["--max-steps", "2", "--no-plots", "--no-progress", "--model-option", "hidden=[8]", "--batch-size", "16"]


def _train(*args, timeout=300):
    return subprocess.run([DFA, "train", *FAST, *args], capture_output=True, text=True, timeout=timeout)


def _one_line(stderr: str) -> str:
    """The one error line (a status line announcing the run may precede it)."""
    errors = [ln for ln in stderr.strip().splitlines() if "error:" in ln]
    assert len(errors) == 1 and "Traceback" not in stderr and stderr.strip().splitlines()[-1] == errors[0], stderr
    return errors[0]


@pytest.mark.parametrize(
    "args,match",
    [
        (["--methods", "bp,dfa,optikal-dfa"], "did you mean 'optical-dfa'"),
        (["--opu", "lab-cmoss"], "did you mean 'lab-cmos'"),
        (["--opu-set", "camera.noise=2"], "unknown config key 'camera.noise'"),
        (["--model", "mlpp"], "did you mean 'mlp'"),
        (["--opu-power-scale", "1e30"], "laser.power_w must be <= 1000 W"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path, args, match):
    out = tmp_path / "run"
    t0 = time.perf_counter()
    r = _train("--out", str(out), *args)
    assert r.returncode == 2 and match in _one_line(r.stderr), r.stderr
    assert not out.exists()  # no run folder for a failed start
    assert time.perf_counter() - t0 < 60  # nothing was trained (BP alone takes longer at real sizes)


def test_an_option_without_effect_is_warned_about(tmp_path):
    r = _train("--out", str(tmp_path / "run"), "--methods", "bp,optical-dfa", "--encoding", "bitplanes", "--threshold", "0.5",
               "--dataset", "digits", "--batch-size", "5000")
    assert r.returncode == 0, r.stderr
    assert "warning: feedback.threshold has no effect with feedback.encoding 'bitplanes'" in r.stderr
    # scikit-learn's digits: 1797 samples, 1438 of them for training (the split of dfa.zoo.data)
    assert "warning: batch_size 5000 is larger than the 1438 training samples of digits: every epoch is one batch of 1438" in r.stderr


def test_an_existing_run_is_not_replaced_unasked_and_a_folder_is_never_shared(tmp_path):
    out = tmp_path / "run"
    assert _train("--out", str(out), "--methods", "bp,dfa").returncode == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    r = _train("--out", str(out), "--methods", "bp")
    assert r.returncode == 2 and "--force" in _one_line(r.stderr)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"} == before
    r = _train("--out", str(out), "--methods", "bp", "--force")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["bp.pt"]  # the old run's dfa.pt is gone
    assert json.loads((out / "config.json").read_text())["methods"] == ["bp"]
    with folder_lock(out, "a test"):  # another run holds the folder
        r = subprocess.run([DFA, "train", "--resume", str(out), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "another dfa train run is writing" in _one_line(r.stderr)


def test_a_run_interrupted_in_its_first_method_resumes(tmp_path):
    out = tmp_path / "run"
    cmd = [DFA, "train", "--no-plots", "--no-progress", "--model-option", "hidden=[64]", "--methods", "dfa,bp", "--epochs", "400",
           "--checkpoint-every", "5", "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "checkpoints").glob("*.pt")):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "dfa train --resume" in err
    assert (out / "config.json").is_file()  # written before the first step
    r = subprocess.run([DFA, "train", "--resume", str(out), "--max-steps", "12", "--no-progress"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["dfa"]["steps"] >= 12 and res["bp"]["steps"] == 12  # dfa continued from its checkpoint, bp ran
