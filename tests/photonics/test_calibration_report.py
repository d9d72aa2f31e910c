"""`photonics calibrate` and calibrate_device: files, summary keys, ground-truth comparisons."""

import json
import math

import numpy as np
import pytest

from photonics import OPU, DeviceConfig
from photonics.calibration import CalibrationReport, Measured, calibrate_device, summary_dict, write_report
from photonics.calibration.result import CalibrationResult, relative_error
from photonics.cli import main
from photonics.errors import ValidationError

REQUIRED_KEYS = (
    "system_gain_dn_per_e",
    "read_noise_e",
    "dark_signal_e",
    "saturation_capacity_e",
    "clip_saturation_capacity_e",
    "dark_current_e_per_s",
    "dsnu_e",
    "prnu",
    "quantum_efficiency",
    "grain_size_px",
    "tm_row_correlation_median",
    "decorrelation_time_s",
)
PLOTS = ("photon_transfer.png", "sensitivity.png", "snr.png", "linearity.png", "dark_current.png", "spectrograms.png", "histograms.png",
         "maps.png", "tm_quality.png", "drift.png", "reference.png", "speckle_histogram.png")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal")
    rc = main(
        ["calibrate", "lab-cmos", "--n-in", "64", "--n-out", "1024", "--seed", "3", "--out", str(out), "--tm-rows", "32",
         "--set", "medium.model=speckle", "--set", "medium.grain_size_px=2.0", "--set", "medium.decorrelation_time_s=200.0",
         "--drift-max-time", "1000", "--no-progress"]
    )
    return rc, out


def test_cli_writes_everything(cli_run, capsys):
    rc, out = cli_run
    assert rc == 0
    for name in ("calibration.h5", "summary.json", "datasheet.html") + PLOTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    html = (out / "datasheet.html").read_text()
    assert html.count("data:image/png;base64,") == 8 and "<th>truth</th>" in html
    summary = json.loads((out / "summary.json").read_text())
    q = summary["quantities"]
    for key in REQUIRED_KEYS:
        e = q[key]
        assert {"estimate", "uncertainty", "unit", "truth", "relative_error"} <= set(e), key
        assert e["estimate"] is not None and e["truth"] is not None, key
    assert all(v == "ok" for v in summary["steps"].values()), summary["steps"]
    assert q["system_gain_dn_per_e"]["unit"] == "DN/e-" and q["decorrelation_time_s"]["unit"] == "s"
    # a verdict and the per-row retrieval quality, not only a median
    assert summary["verdicts"]["speckle"] and isinstance(summary["verdicts"]["speckle_fully_developed"], bool)
    rows = summary["tm_rows"]
    assert len(rows["rows"]) == 32 and len(rows["chi2_reduced"]) == 32 and len(rows["flagged"]) == 32
    assert 0 <= q["tm_flagged_fraction"]["estimate"] <= 1 and q["tm_tail_fraction"]["truth"] is not None
    assert q["speckle_ks_statistic"]["estimate"] > 0
    # per-step device time adds up to the total (the reference scan's devices included)
    assert sum(summary["step_device_time_s"].values()) == pytest.approx(summary["device_time_s"], rel=1e-9)
    assert summary["step_end_time_s"] and summary["interrupted"] is False


def test_summary_estimates_agree_with_truth(cli_run):
    _, out = cli_run
    q = json.loads((out / "summary.json").read_text())["quantities"]
    assert abs(q["system_gain_dn_per_e"]["relative_error"]) < 0.01
    assert abs(q["read_noise_e"]["relative_error"]) < 0.03
    assert abs(q["saturation_capacity_e"]["relative_error"]) < 0.02
    assert abs(q["clip_saturation_capacity_e"]["relative_error"]) < 0.02
    assert abs(q["dark_current_e_per_s"]["relative_error"]) < 0.10
    assert abs(q["grain_size_px"]["estimate"] - 2.0) < 0.2
    assert abs(q["decorrelation_time_s"]["relative_error"]) < 0.2
    assert q["tm_row_correlation_median"]["estimate"] > 0.95
    # every quantity with a finite truth and uncertainty is within 5 sigma or 5 % of it (the
    # reference figures have their own tests in test_calibration_reference.py: under drift their
    # truth depends on when it is evaluated)
    for name, e in q.items():
        if e.get("truth") not in (None, 0) and e["uncertainty"] and not name.startswith("reference_"):
            ok = abs(e["estimate"] - e["truth"]) <= 5 * e["uncertainty"] or abs(e["relative_error"]) < 0.05
            assert ok, (name, e)


def test_report_h5_roundtrip(cli_run):
    _, out = cli_run
    rep = CalibrationReport.load(out / "calibration.h5")
    assert rep.device == "lab-cmos" and rep.seed == 3 and rep.failures == {}
    assert rep.photon_transfer.system_gain_dn_per_e.unit == "DN/e-" and rep.fixed_pattern.image_shape == (32, 32)
    assert rep.tm.t_est.shape == (32, 64) and rep.speckle.grain_size_px.unit == "px"
    assert set(rep.steps.split(",")) >= {"emva1288", "tm", "drift"}


def test_failing_steps_are_recorded(tmp_path):
    """The noiseless ideal camera has no shot noise and no ADC: those steps fail with a reason."""
    opu = OPU(DeviceConfig.preset("ideal", n_in=32, n_out=64), seed=0)
    rep = calibrate_device(opu, steps=("photon_transfer", "exposure", "tm"), tm_rows=16, tm_bootstrap_rows=4)
    assert rep.steps.split(",")[0] == "emva1288"  # photon_transfer / fixed_pattern: aliases of the EMVA 1288 step
    assert "no photon transfer" in rep.failures["emva1288"]
    assert "not digitised" in rep.failures["exposure"]
    assert rep.tm is not None and "tm" not in rep.failures
    paths = write_report(rep, tmp_path, opu=opu)
    s = json.loads(paths["summary.json"].read_text())
    assert s["steps"]["emva1288"].startswith("failed: CalibrationError")
    assert s["quantities"]["tm_row_correlation_median"]["truth"] > 0.999
    with pytest.raises(ValidationError, match="unknown calibration step"):
        calibrate_device(opu, steps=("photon_transfer", "nonsense"))


def test_cli_errors(tmp_path, capsys):
    assert main(["calibrate", "lab-cmos", "--out", str(tmp_path), "--steps", "bogus"]) == 2
    assert "unknown calibration step" in capsys.readouterr().err
    assert main(["calibrate", "lab-cmos", "--out", str(tmp_path), "--tm-rows", "-1"]) == 2


def test_measured_and_results_basics(tmp_path):
    m = Measured(2.0, 0.1, "e-")
    assert f"{m}" == "2 +/- 0.1 e-" and m.relative_uncertainty() == pytest.approx(0.05) and float(m) == 2.0
    assert f"{Measured(5.0, 0.0, 's', lower_bound=True)}".startswith(">= 5")
    with pytest.raises(ValidationError, match="uncertainty"):
        Measured(1.0, -1.0, "e-")
    with pytest.raises(ValidationError, match="value"):
        Measured("x", 1.0, "e-")
    assert relative_error(1.1, 1.0) == pytest.approx(0.1) and relative_error(1.0, None) is None
    assert relative_error(1.0, math.inf) is None and relative_error(1.0, 0.0) is None
    # summary JSON never holds NaN/inf
    rep = CalibrationReport(device="d", seed=0, steps="", frames_used=0, device_time_s=0.0, wall_time_s=0.0)
    assert summary_dict(rep)["quantities"] == {}
    from photonics.errors import FileFormatError
    from photonics.io import atomic_h5

    with atomic_h5(tmp_path / "x.h5", "photonics.calibration.report") as fh:
        fh.create_group("result").attrs["result_type"] = "Nope"
    with pytest.raises(FileFormatError, match="unknown result type|holds"):
        CalibrationReport.load(tmp_path / "x.h5")
    assert issubclass(CalibrationReport, CalibrationResult)
    assert np.isfinite(0.0)


def test_device_frames_written_and_recalibrated_give_the_same_figures(tmp_path, capsys):
    """The simulated path and the recorded-frames path are one analysis: the frames a device
    wrote (all of them, .h5), read back, give the same figures; minus the truth columns."""
    args = ["calibrate", "lab-cmos", "--n-in", "16", "--seed", "2", "--steps", "emva1288", "--no-plots", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "dev"), "--write-frames", str(tmp_path / "frames.h5")]) == 0
    assert main(["calibrate", "--frames", str(tmp_path / "frames.h5"), "--out", str(tmp_path / "rec"), "--no-plots", "--no-progress"]) == 0
    dev = json.loads((tmp_path / "dev" / "summary.json").read_text())["quantities"]
    rec = json.loads((tmp_path / "rec" / "summary.json").read_text())["quantities"]
    assert set(rec) == set(dev) - {"exposure_s"}
    for name, e in rec.items():
        assert e["estimate"] == pytest.approx(dev[name]["estimate"], rel=1e-12, abs=1e-300), name
        assert "truth" not in e and "truth" in dev[name]
    assert (tmp_path / "rec" / "datasheet.html").is_file()
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path / "dev2"), "--write-frames", str(tmp_path / "frames.h5")]) == 2
    assert "exists" in capsys.readouterr().err
