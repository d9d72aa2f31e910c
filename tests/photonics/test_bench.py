"""`photonics bench` and the benchmark scripts, smoke-run in --quick mode (no timing assertions)."""

import importlib.util
import json
from pathlib import Path

import pytest

from photonics.cli import main
from photonics.commands.bench import SUITE, benchmarks_dir, discover

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_discovery_and_list(capsys):
    found = discover(benchmarks_dir())
    assert set(SUITE) <= set(found)
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for name in SUITE:
        assert name in out


def test_quick_suite_runs_and_records_checks(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["bench", "--quick", "--out-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "== summary" in text and "FAILED" not in text
    res = {}
    for name in SUITE:
        d = json.loads((out / f"{name}.json").read_text())
        assert d["quick"] is True and d["machine"]["cores"] >= 1 and "numpy" in d["machine"]
        for c in d["checks"]:
            assert set(c) == {"name", "value", "target", "op", "met"}
        res[name] = d
    # the correctness parts of the benchmarks hold even at quick sizes
    assert res["procedural"]["same_outputs"] is True
    assert res["tm_generation"]["kernels_identical"] is True
    assert all(res["dask_scaling"]["identical_to_single_process"].values())
    assert res["torch_backend"]["presets"]["lab-cmos"]["identical_fraction_cpu"] >= 0.999
    assert res["torch_backend"]["presets"]["ideal"]["max_rel_diff_cpu"] <= 1e-5
    grid = res["projection_grid"]["points"]
    assert {(p["n"], p["batch"]) for p in grid} == {(256, 1), (256, 64), (512, 1), (512, 64)}
    assert all(p["gemm_gflops"] > 0 and p["noiseless_vs_gemm"] > 0 for p in grid)
    assert (out / "projection_grid.png").stat().st_size > 5000
    assert not list(out.glob("*.tmp"))


def test_bench_errors(tmp_path, capsys):
    assert main(["bench", "no-such-benchmark"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    assert main(["bench", "--dir", str(tmp_path), "--list"]) == 2
    assert "not found" in capsys.readouterr().err


def test_crossover_batch_interpolation():
    proc = _load("procedural")
    # generation 1 s; the rest grows linearly with the batch: 0.5 s at 64, 2 s at 256
    batches = [16, 64, 256, 1024]
    t = [1.0 + 0.5 * b / 64 for b in batches]
    assert proc.crossover_batch(batches, t, 1.0) == pytest.approx(128.0)  # power law: exact
    assert proc.crossover_batch(batches, [1.1] * 4, 1.0) is None
    assert proc.crossover_batch(batches, [5.0] * 4, 1.0) == 16.0
    t2 = [1.0 + 0.01 * (b / 16) ** 2 for b in batches]  # rest ~ b^2: reaches the generation at b = 160
    assert proc.crossover_batch(batches, t2, 1.0) == pytest.approx(160.0)


def test_check_helper():
    common = _load("_common")
    assert common.check("a", 0.95, 0.9)["met"] is True
    assert common.check("a", 0.85, 0.9)["met"] is False
    assert common.check("b", 1e-6, 1e-5, "<=")["met"] is True
    assert common.check("c", float("nan"), 0.0)["met"] is False
