"""The benchmark scripts run on their own behave like instruments: options and the output folder
are checked before any work (one line, status 2), file-system errors and interrupts during the
work end with one line (status 2 or 130) and leave nothing half-written or empty behind."""

import errno
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from photonics.errors import ValidationError
from tests.helpers import one_line

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
#: every script, with an integer option it must refuse at 0
SCRIPTS = {
    "camera_noise": "--frames",
    "dask_scaling": "--batch",
    "dfa_step": "--steps",
    "procedural": "--n",
    "projection": "--n-in",
    "projection_grid": "--large-batch",
    "randnla": "--seeds",
    "tm_generation": "--rows",
    "torch_backend": "--threads",
}


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_instr_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _no_work(*args, **kwargs):
    raise AssertionError("the work started although the input was invalid")


def test_every_script_is_covered():
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")}
    assert scripts == set(SCRIPTS)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_bad_integer_option_is_one_line_before_work(name, monkeypatch, capsys):
    mod = _load(name)
    monkeypatch.setattr(mod, "_measure", _no_work)
    option = SCRIPTS[name]
    for bad in ("0", "-3", "x"):
        with pytest.raises(SystemExit) as ex:
            mod.main([option, bad])
        assert ex.value.code == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"{name}.py: error: argument {option}: must be an integer >= 1")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_unusable_out_dir_is_one_line_before_work(name, tmp_path, monkeypatch, capsys):
    mod = _load(name)
    monkeypatch.setattr(mod, "_measure", _no_work)
    a_file = tmp_path / "result.json"
    a_file.write_text("{}")
    for out_dir, says in ((a_file, "is a file"), (a_file / "sub", "is not a folder"), (tmp_path / "missing" / "sub", "does not exist")):
        assert mod.main(["--out-dir", str(out_dir)]) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"{name}.py: error: --out-dir") and says in line
    assert a_file.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_number_lists_and_floats_are_checked(monkeypatch, capsys):
    grid, proc = _load("projection_grid"), _load("procedural")
    for mod in (grid, proc):
        monkeypatch.setattr(mod, "_measure", _no_work)
    for mod, argv, says in (
        (grid, ["--sizes", "1024,abc"], "argument --sizes: must be comma-separated integers >= 1"),
        (grid, ["--batches", "1,0"], "argument --batches: must be comma-separated integers >= 1"),
        (grid, ["--sizes", ","], "argument --sizes: must be comma-separated integers >= 1"),
        (grid, ["--max-gflop", "nan"], "argument --max-gflop: must be a finite number > 0"),
        (proc, ["--block-mb", "-1"], "argument --block-mb: must be a finite number > 0"),
        (proc, ["--block-mb", "inf"], "argument --block-mb: must be a finite number > 0"),
    ):
        with pytest.raises(SystemExit) as ex:
            mod.main(argv)
        assert ex.value.code == 2
        assert says in one_line(capsys.readouterr().err)
    from photonics.instrument import positive_float, positive_int_list

    assert positive_int_list(" 1, 64 ,512") == [1, 64, 512]
    assert positive_float("0.5") == 0.5


def test_options_reach_the_work(tmp_path, monkeypatch):
    seen = {}

    def fake(a, batches, folder):
        seen.update(n=a.n, batches=batches, block_mb=a.block_mb, folder=folder)
        return 0

    proc = _load("procedural")
    monkeypatch.setattr(proc, "_measure", fake)
    assert proc.main(["--n", "64", "--batches", "1,8", "--block-mb", "2.5", "--out-dir", str(tmp_path / "new")]) == 0
    assert seen == {"n": 64, "batches": [1, 8], "block_mb": 2.5, "folder": tmp_path / "new"}


def test_cuda_refused_where_torch_sees_no_gpu(monkeypatch, capsys):
    import torch

    mod = _load("dfa_step")
    monkeypatch.setattr(mod, "_measure", _no_work)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as ex:
        mod.main(["--device", "cuda"])
    assert ex.value.code == 2
    assert "--device: cuda is not available" in one_line(capsys.readouterr().err)


# ---- run_as_instrument, with stand-in work ----------------------------------------------------
@pytest.fixture()
def common(tmp_path, monkeypatch):
    mod = _load("_common")
    monkeypatch.setattr(mod, "RUNS", tmp_path / "runs" / "bench")
    monkeypatch.setattr(mod, "_RUN_DIR", None)
    return mod


def test_default_run_folder_is_created_and_used(common, tmp_path):
    def work(folder):
        common.write_json("x", {"a": 1}, folder)
        return 0

    assert common.run_as_instrument("x.py", None, work) == 0
    (run,) = (tmp_path / "runs" / "bench").iterdir()
    assert json.loads((run / "x.json").read_text()) == {"a": 1}


def test_interrupt_keeps_finished_results(common, tmp_path, capsys):
    out = tmp_path / "out"

    def work(folder):
        common.write_json("first", {"done": True}, folder)
        raise KeyboardInterrupt

    assert common.run_as_instrument("x.py", out, work) == 130
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert lines[-1] == "x.py: interrupted"
    assert lines[0] == f"x.py: finished results kept in {out}: first.json"
    assert json.loads((out / "first.json").read_text()) == {"done": True}
    assert sorted(p.name for p in out.iterdir()) == ["first.json"]  # no temporary file


def test_interrupt_before_any_result_leaves_no_empty_folder(common, tmp_path, capsys):
    def work(folder):
        assert folder.is_dir()
        raise KeyboardInterrupt

    assert common.run_as_instrument("x.py", None, work) == 130
    assert one_line(capsys.readouterr().err) == "x.py: interrupted"
    assert list((tmp_path / "runs" / "bench").iterdir()) == []
    # a folder that existed before is left, with what it held
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "old.json").write_text("{}")
    assert common.run_as_instrument("x.py", kept, work) == 130
    assert one_line(capsys.readouterr().err) == "x.py: interrupted"  # old.json is not this run's
    assert (kept / "old.json").read_text() == "{}"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert common.run_as_instrument("x.py", empty, work) == 130
    assert empty.is_dir()  # the user's folder, even empty, is not removed


def test_interrupt_wrapped_by_a_numba_kernel_is_recognised(common, tmp_path, capsys):
    def work(folder):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("<built-in function> returned a result with an exception set")  # noqa: B904

    assert common.run_as_instrument("x.py", tmp_path / "o", work) == 130
    assert capsys.readouterr().err.strip().endswith("x.py: interrupted")


def test_file_system_and_validation_errors_areone_line(common, tmp_path, capsys):
    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system", str(folder / "x.json"))

    assert common.run_as_instrument("x.py", tmp_path / "a", read_only) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("x.py: error: read-only file system (") and line.endswith("x.json)")
    assert not (tmp_path / "a").exists()

    def refused(folder):
        raise ValidationError("n_in must be >= 1 (got 0)")

    assert common.run_as_instrument("x.py", tmp_path / "b", refused) == 2
    assert one_line(capsys.readouterr().err) == "x.py: error: n_in must be >= 1 (got 0)"


def test_a_bug_is_not_hidden(common, tmp_path):
    def bug(folder):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        common.run_as_instrument("x.py", tmp_path / "c", bug)


def test_scripts_share_one_common_module():
    for name in SCRIPTS:
        _load(name)
    assert "_common" in sys.modules and Path(sys.modules["_common"].__file__).parent == BENCH


def test_options_without_effect_are_warned(monkeypatch, caplog):
    tm, proj = _load("tm_generation"), _load("projection")
    monkeypatch.setattr(tm, "_measure", lambda a, folder: 0)
    monkeypatch.setattr(proj, "_measure", lambda a, clock, folder: 0)
    monkeypatch.setattr(tm, "run_as_instrument", lambda script, out_dir, work: work(None))
    monkeypatch.setattr(proj, "run_as_instrument", lambda script, out_dir, work: work(None))
    with caplog.at_level("WARNING"):
        assert tm.main(["--quick", "--rows", "5", "--cols=7"]) == 0
        assert proj.main(["--table", "--batch", "3"]) == 0
        assert proj.main(["--cpu-time"]) == 0
        assert tm.main(["--rows", "5"]) == 0  # without --quick it is used: no warning
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["--rows, --cols: no effect with --quick (64 x 1024, 1 repeat)",
                        "--batch: no effect with --table (its cases are fixed)",
                        "--cpu-time: no effect without --table"]


@pytest.mark.parametrize("name, argv, says", [
    ("camera_noise", ["--frames", "1000000", "--pixels", "1000000"], "--frames 1000000 x --pixels 1000000 needs"),
    ("tm_generation", ["--rows", "1000000", "--cols", "1000000"], "--rows 1000000 x --cols 1000000 needs"),
    ("randnla", ["--m", "1000000", "--n", "1000000"], "--m 1000000 x --n 1000000 needs"),
    ("projection", ["--n-in", "1000000", "--n-out", "1000000", "--batch", "8"], "needs"),
])
def test_a_size_beyond_the_machine_is_one_line_before_allocating(name, argv, says, tmp_path, capsys):
    mod = _load(name)
    out = tmp_path / "out"
    assert mod.main([*argv, "--out-dir", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"{name}.py: error: ") and says in line and "more than this machine has available" in line
    assert not out.exists()  # the folder it created for the results is gone again
