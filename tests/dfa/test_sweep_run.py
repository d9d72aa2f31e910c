"""Running sweeps: records and plots, resume after a kill (nothing written is lost), failures,
the CLI, and a 2-worker Dask LocalCluster giving the same numbers as a serial run (also when a
worker dies mid-point)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfa.cli import main
from dfa.studies.sweep import SweepError, SweepStore, record_differences, replot, run_point, run_sweep

REPO = Path(__file__).resolve().parents[2]

SPEC = """
[sweep]
name = "tiny"
seeds = [0, 1]
privacy_delta = 1e-6

[base]
dataset = "digits"
methods = ["dfa", "optical-dfa"]
epochs = 1
max_steps = 2
batch_size = 16
align_every = 0

[base.model_options]
hidden = [8]

[base.feedback]
dedupe = false
n_probes = 4

[parameters]
read_noise_e = [1.0, 7.0]
photons_per_pixel = [30.0, 300.0]
"""
N_POINTS = 2 * (1 + 4)  # seeds x (shared digital DFA + 4 optical combinations)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("spec") / "tiny.toml"
    p.write_text(SPEC)
    return p


@pytest.fixture(scope="module")
def serial(spec_path, tmp_path_factory):
    """The reference: the tiny sweep run serially in this process."""
    out = tmp_path_factory.mktemp("serial")
    outcome = run_sweep(spec_path, out, serial=True, progress=False)
    return out, outcome


def _assert_same(records_a: dict, records_b: dict):
    assert set(records_a) == set(records_b)
    for pid in records_a:
        diff = record_differences(records_a[pid], records_b[pid])
        assert not diff, (pid, diff[:5])


def test_serial_sweep_writes_records_summary_and_plots(serial):
    out, outcome = serial
    assert outcome.ran == N_POINTS and outcome.skipped == 0 and len(outcome.records) == N_POINTS
    recs = SweepStore(out).records()
    assert set(recs) == {p.id for p in outcome.plan.points}
    for r in recs.values():
        assert r["status"] == "ok" and r["steps"] == 2 and 0 <= r["metrics"]["accuracy"] <= 1
        assert len(r["history"]["step"]) == len(r["history"]["test_accuracy"]) >= 2
        if r["method"] == "optical-dfa":
            assert r["optical_frames"] > 0 and r["device_time_s"] > 0 and r["budget"]["photons"] > 0
            assert r["privacy"]["applicable"] and r["privacy"]["delta"] == 1e-6 and r["privacy"]["participations"] == 1
            assert r["device"]["camera"]["read_noise_e"] in (1.0, 7.0)
        else:
            assert r["optical_frames"] == 0 and r["privacy"] is None and r["device"] is None
    s = outcome.summary
    assert s["n_done"] == s["n_points"] == N_POINTS and s["methods"]["dfa"]["reference"] and not s["methods"]["optical-dfa"]["reference"]
    names = sorted(p.name for p in outcome.plots)
    assert names == sorted(["metric_vs_read_noise_e.png", "metric_vs_photons_per_pixel.png", "privacy_vs_read_noise_e.png",
                            "privacy_vs_photons_per_pixel.png", "map_read_noise_e_photons_per_pixel.png"])
    assert all(p.stat().st_size > 10_000 and p.read_bytes()[:4] == b"\x89PNG" for p in outcome.plots)
    assert json.loads((out / "summary.json").read_text())["n_done"] == N_POINTS


def test_rerun_skips_finished_points(serial, spec_path):
    out, first = serial
    calls = []

    def counting(task):
        calls.append(task["id"])
        return run_point(task)

    before = SweepStore(out).results_path.read_bytes()
    again = run_sweep(spec_path, out, serial=True, progress=False, plots=False, runner=counting)
    assert calls == [] and again.ran == 0 and again.skipped == N_POINTS
    assert SweepStore(out).results_path.read_bytes() == before
    _assert_same(first.records, again.records)


def test_killed_sweep_loses_nothing_and_resumes(serial, spec_path, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dfa.cli", "sweep", str(spec_path), "--out", str(out), "--serial", "--no-progress", "--no-plots"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)  # no cleanup, no flush: as a crash or an OOM kill
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stderr.close()
    done = SweepStore(out).records()
    assert 2 <= len(done) < N_POINTS
    _assert_same(done, {k: v for k, v in serial[1].records.items() if k in done})  # what was written is complete and right
    calls = []

    def counting(task):
        calls.append(task["id"])
        return run_point(task)

    resumed = run_sweep(spec_path, out, serial=True, progress=False, plots=False, runner=counting)
    assert sorted(calls) == sorted(set(serial[1].records) - set(done))  # only the missing points ran
    assert resumed.skipped == len(done) and resumed.ran == N_POINTS - len(done)
    _assert_same(resumed.records, serial[1].records)


def test_failed_points_are_recorded_and_retried_on_request(spec_path, tmp_path):
    out = tmp_path / "failing"

    def flaky(task):
        if task["method"] == "optical-dfa" and task["seed"] == 1:
            raise RuntimeError("worker lost its GPU")  # unexpected: not recorded, the sweep goes on
        if task["method"] == "optical-dfa":
            return {"record_version": 1, "id": task["id"], "method": task["method"], "seed": task["seed"], "status": "failed",
                    "error": "ValidationError: too noisy"}  # as run_point records a device too noisy to calibrate
        return run_point(task)

    with pytest.raises(SweepError, match=r"4 run\(s\) failed with an unexpected error .*worker lost its GPU.*rerun the same command"):
        run_sweep(spec_path, out, serial=True, progress=False, plots=False, runner=flaky)
    recs = SweepStore(out).records()
    assert len(recs) == N_POINTS - 4 and sum(r["status"] == "failed" for r in recs.values()) == 4
    calls = []

    def counting(task):
        calls.append((task["method"], task["seed"]))
        return run_point(task)

    run_sweep(spec_path, out, serial=True, progress=False, plots=False, runner=counting)
    assert sorted(calls) == [("optical-dfa", 1)] * 4  # failed points stay failed; the lost ones run
    calls.clear()
    outcome = run_sweep(spec_path, out, serial=True, progress=False, plots=False, runner=counting, retry_failed=True)
    assert sorted(calls) == [("optical-dfa", 0)] * 4
    assert all(r["status"] == "ok" for r in outcome.records.values())


def test_cli_run_plot_dry_run_and_errors(serial, spec_path, tmp_path, capsys):
    out, _ = serial
    assert main(["sweep", "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "read_noise_e" in text and "optical-dfa accuracy [%]" in text and f"{N_POINTS}/{N_POINTS} runs done" in text
    assert main(["sweep", str(spec_path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"-> {N_POINTS} runs (8 optical)" in text and "photons/pixel 300" in text
    assert main(["sweep", str(spec_path), "--out", str(out), "--serial", "--no-progress", "--no-plots"]) == 0
    assert "(10 runs; 0 run now, 10 reused)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.replace("read_noise_e = [1.0, 7.0]", "read_noise = [1.0, 7.0]"))
    assert main(["sweep", str(bad), "--serial"]) == 2
    assert "unknown sweep parameter 'read_noise' (did you mean 'read_noise_e'?)" in capsys.readouterr().err
    assert main(["sweep", "--plot", str(tmp_path / "nothing")]) == 2
    assert main(["sweep", str(spec_path), "--serial", "--workers", "2"]) == 2
    assert main(["sweep"]) == 2


def test_replot_ignores_records_of_other_specs(serial, tmp_path):
    out, outcome = serial
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("results.jsonl", "sweep.json"):
        (copy / name).write_bytes((out / name).read_bytes())
    foreign = {"record_version": 1, "id": "ffffffffffffffff", "status": "ok", "metrics": {"accuracy": 1.0}}
    SweepStore(copy).append(foreign)
    summary, paths = replot(copy)
    assert summary["n_done"] == N_POINTS and len(paths) == 5


# ---- Dask ------------------------------------------------------------------------------------------

_MARKER_ENV = "DFA_SWEEP_TEST_KILL_MARKER"


def kill_worker_once(task):
    """Runner of the worker-kill test: the first point any worker starts kills that worker process."""
    marker = os.environ.get(_MARKER_ENV)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os._exit(1)  # the worker dies mid-point, without cleanup
    return run_point(task)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from photonics.distributed import local_client

    marker = tmp_path_factory.mktemp("marker") / "killed"
    with pytest.MonkeyPatch.context() as mp:  # spawned worker processes inherit the environment
        mp.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        mp.setenv(_MARKER_ENV, str(marker))
        with local_client(2, processes=True) as client:
            client.wait_for_workers(2, timeout=120)
            yield client, marker


def test_two_workers_give_the_same_numbers_as_serial(serial, spec_path, cluster, tmp_path, capsys):
    client, marker = cluster
    marker.touch()  # no kill in this test
    client.wait_for_workers(2, timeout=120)  # a worker killed by another test is back
    out = tmp_path / "dask"
    # through the command line and the scheduler's address, as `dfa sweep --scheduler ADDRESS`
    assert main(["sweep", str(spec_path), "--out", str(out), "--scheduler", client.scheduler.address, "--no-progress", "--no-plots"]) == 0
    assert f"({N_POINTS} runs; {N_POINTS} run now, 0 reused)" in capsys.readouterr().out
    records = SweepStore(out).records()
    assert len({r["pid"] for r in records.values()}) == 2  # both workers ran points
    _assert_same(records, serial[1].records)


def test_a_worker_killed_mid_point_loses_nothing(serial, spec_path, cluster, tmp_path):
    client, marker = cluster
    if marker.exists():
        marker.unlink()
    client.wait_for_workers(2, timeout=120)
    outcome = run_sweep(spec_path, tmp_path / "dask-kill", client=client, progress=False, plots=False, runner=kill_worker_once)
    assert marker.exists()  # a worker did die
    lines = (tmp_path / "dask-kill" / "results.jsonl").read_text().splitlines()
    assert len(lines) == N_POINTS  # every point written exactly once
    _assert_same(outcome.records, serial[1].records)


def test_privacy_plot_keeps_the_other_parameter_apart(tmp_path, monkeypatch):
    """'worst seed' means the worst over seeds only: each value of the other swept parameter is its own line."""
    import photonics.plotting as plotting
    from dfa.studies.sweep_plots import plot_privacy_vs

    groups = []
    for rn in (1.0, 10.0):
        for ph in (10.0, 100.0):
            eps = 1.0 / rn * ph  # differs with the other parameter
            groups.append({"method": "optical-dfa", "assignment": {"read_noise_e": rn, "photons_per_pixel": ph},
                           "epsilon_step": [eps / 10, eps / 20], "epsilon_total_max": eps, "epsilon_step_max": eps / 10})
    summary = {"groups": groups, "parameters": ["read_noise_e", "photons_per_pixel"], "privacy_delta": 1e-5}
    captured = {}
    real_save = plotting.save_figure

    def capture(fig, path, dpi=120):
        captured["lines"] = [(ln.get_label(), list(ln.get_ydata())) for ln in fig.axes[0].get_lines()]
        return real_save(fig, path, dpi)

    monkeypatch.setattr(plotting, "save_figure", capture)
    assert plot_privacy_vs(summary, "photons_per_pixel", tmp_path / "p.png").is_file()
    total = {label: ys for label, ys in captured["lines"] if "over training" in label}
    assert len(total) == 2  # one line per read noise
    assert total["optical-dfa: epsilon over training (worst seed; read_noise_e=1.0)"] == [10.0, 100.0]
    assert total["optical-dfa: epsilon over training (worst seed; read_noise_e=10.0)"] == [1.0, 10.0]
