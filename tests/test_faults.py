"""Faults and bad input lose nothing: the commands behave like instruments.

Each test plays a fault a user meets (read-only or full folder, an existing result, the input
as output, Ctrl-C or SIGTERM mid-work) through the real command line, in a subprocess where
signals or permissions matter, and checks the three promises: one line on stderr with the
right exit status, nothing half-written on disk, finished work kept.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from photonics import cli as photonics_cli

BIN = Path(sys.executable).parent


def _cmd(name: str) -> str:
    return str(BIN / name)


def _one_line_error(stderr: str, prog: str) -> None:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(prog) and "Traceback" not in stderr, stderr


def _unwritable_folder(tmp_path: Path) -> Path | None:
    """A folder this process cannot write: a read-only temporary folder, or (as root, who ignores
    permission bits) a kernel file system that refuses files, such as /sys."""
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    for cand in (ro, Path("/sys")):
        try:
            (cand / ".probe").touch()
        except OSError:
            return cand
        (cand / ".probe").unlink()
    return None


@pytest.fixture()
def binary_input(tmp_path):
    x = (np.random.default_rng(0).random((8, 32)) < 0.5).astype(np.uint8)
    p = tmp_path / "x.npy"
    np.save(p, x)
    return p


def _project(args, **kw):
    return subprocess.run([_cmd("photonics"), "project", "ideal", "--n-in", "32", "--n-out", "16", *args],
                          capture_output=True, text=True, timeout=120, **kw)


def test_output_refused_before_work(tmp_path, binary_input):
    out = tmp_path / "y.h5"
    r = _project(["--input", str(binary_input), "--out", str(out)])
    assert r.returncode == 0 and out.is_file()
    before = out.read_bytes()
    r = _project(["--input", str(binary_input), "--out", str(out)])  # existing result
    assert r.returncode == 2 and "exists; pass --force" in r.stderr
    _one_line_error(r.stderr, "photonics project")
    assert out.read_bytes() == before
    r = _project(["--input", str(binary_input), "--out", str(binary_input), "--force"])  # onto its own input
    assert r.returncode == 2 and "is an input" in r.stderr
    assert np.load(binary_input).shape == (8, 32)
    r = _project(["--input", str(binary_input), "--out", str(tmp_path)])  # onto a folder
    assert r.returncode == 2 and "is a folder" in r.stderr
    r = _project(["--input", str(binary_input), "--out", str(tmp_path / "missing" / "y.h5")])
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = _project(["--input", str(binary_input), "--out", str(out), "--force"])
    assert r.returncode == 0


def test_read_only_folder_is_refused_before_work(tmp_path, binary_input):
    ro = _unwritable_folder(tmp_path)
    if ro is None:
        pytest.skip("no unwritable folder can be made here")
    before = sorted(p.name for p in ro.iterdir())
    r = _project(["--input", str(binary_input), "--out", str(ro / "y.h5")])
    assert r.returncode == 2, r.stderr
    assert "cannot write in folder" in r.stderr and "permission denied" in r.stderr
    _one_line_error(r.stderr, "photonics project")
    assert sorted(p.name for p in ro.iterdir()) == before


def test_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, binary_input, monkeypatch, capsys):
    """ENOSPC while the result is written: exit 2, one line, no file and no temporary left."""
    import h5py

    real = h5py.File

    class FullDisk(real):  # the HDF5 library reports the disk full while writing
        def create_dataset(self, *a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(h5py, "File", FullDisk)
    out = tmp_path / "y.h5"
    rc = photonics_cli.main(["project", "ideal", "--n-in", "32", "--n-out", "16", "--input", str(binary_input), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "no space left on the device" in err
    _one_line_error(err, "photonics project")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def _interrupt(cmd: list[str], after_s: float, sig=signal.SIGINT, **kw) -> subprocess.CompletedProcess:
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    time.sleep(after_s)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_projection_exits_130_and_leaves_nothing(tmp_path, sig):
    x = (np.random.default_rng(0).random((12000, 1024)) < 0.5).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.h5"
    r = _interrupt([_cmd("photonics"), "project", "lab-cmos", "--n-in", "1024", "--n-out", "4096", "--mode", "linear",
                    "--input", str(tmp_path / "x.npy"), "--out", str(out)], after_s=3.0, sig=sig)
    assert r.returncode == 130, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "photonics project: interrupted" and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_interrupt_inside_a_numba_kernel_is_an_interrupt():
    """A KeyboardInterrupt that surfaces as numba's SystemError is recognised as an interrupt."""
    from photonics.instrument import is_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("CPUDispatcher(<function camera_numba>) returned a result with an exception set")  # noqa: B904
    except SystemError as exc:
        assert is_interrupt(exc)
    assert not is_interrupt(ValueError("x"))


class _DropsAnInterrupt:
    """Freed at once; its finaliser raises KeyboardInterrupt, which Python ignores ("Exception
    ignored in ...") - what happens when Ctrl-C lands in h5py's weakref callback after a long
    Dataset.write."""

    def __del__(self):
        raise KeyboardInterrupt


def test_an_interrupt_python_drops_is_raised_when_the_block_ends(monkeypatch):
    from photonics.instrument import terminate_as_interrupt

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    done = []
    with pytest.raises(KeyboardInterrupt, match="ignoring exceptions"):
        with terminate_as_interrupt():
            _DropsAnInterrupt()
            done.append("went on")  # Python itself does not stop here
    assert done == ["went on"] and seen == []  # recorded, not printed
    assert sys.unraisablehook == seen.append  # the previous hook is back
    with terminate_as_interrupt():  # other unraisable exceptions still reach the previous hook
        class Other:
            def __del__(self):
                raise ValueError("x")

        Other()
    assert [u.exc_type for u in seen] == [ValueError]
    with pytest.raises(KeyboardInterrupt):  # nested blocks: an inner one that fails for another reason
        with terminate_as_interrupt():  # leaves the dropped interrupt to the outer one
            with pytest.raises(ValueError):
                with terminate_as_interrupt():
                    _DropsAnInterrupt()
                    raise ValueError("another failure")
            done.append("outer went on")
    assert done == ["went on", "outer went on"]
    _DropsAnInterrupt()  # outside a command nothing is recorded or raised later
    with terminate_as_interrupt():
        pass
    assert [u.exc_type for u in seen] == [ValueError, KeyboardInterrupt]


def test_a_dropped_interrupt_abandons_an_atomic_write_and_stops_a_loop(tmp_path, monkeypatch):
    from photonics.instrument import progress, terminate_as_interrupt
    from photonics.io import atomic_path

    monkeypatch.setattr(sys, "unraisablehook", lambda u: None)
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with terminate_as_interrupt():
            with atomic_path(tmp_path / "result.json") as tmp:
                tmp.write_text("{}")
                _DropsAnInterrupt()
            reached.append("after the write")
    assert reached == [] and list(tmp_path.iterdir()) == []  # neither the result nor a temporary
    items = []
    with pytest.raises(KeyboardInterrupt):
        with terminate_as_interrupt():
            for i in progress(range(5), enabled=False):
                items.append(i)
                if i == 1:
                    _DropsAnInterrupt()
    assert items == [0, 1]
    bar = progress(total=3, enabled=False)
    with pytest.raises(KeyboardInterrupt):
        with terminate_as_interrupt():
            bar.update()
            _DropsAnInterrupt()
            bar.update()
            reached.append("second update")
    assert reached == []


def test_a_dropped_interrupt_stops_a_projection_and_a_training_before_their_next_chunk_or_step(monkeypatch):
    from dfa import make_config
    from dfa.trainer.train import Trainer
    from photonics import OPU
    from photonics.instrument import terminate_as_interrupt

    monkeypatch.setattr(sys, "unraisablehook", lambda u: None)
    opu = OPU("lab-cmos", seed=0)
    monkeypatch.setattr(opu, "_chunk_frames", lambda: 2)
    real_read, chunks = opu._read_field, []

    def read_field(*a, **k):
        chunks.append(1)
        _DropsAnInterrupt()
        return real_read(*a, **k)

    monkeypatch.setattr(opu, "_read_field", read_field)
    x = (np.random.default_rng(0).random((6, opu.n_in)) < 0.5).astype(np.uint8)
    with pytest.raises(KeyboardInterrupt):
        with terminate_as_interrupt():
            opu.project(x)
    assert len(chunks) == 1  # the second of three chunks never started

    cfg = make_config("digits", model_options={"hidden": [8]}, batch_size=16, epochs=1, align_every=0)
    steps = []

    def on_step(step, model):
        steps.append(step)
        if step == 2:
            _DropsAnInterrupt()

    trainer = Trainer(cfg, "bp", progress=False, on_step=on_step)
    with pytest.raises(KeyboardInterrupt):
        with terminate_as_interrupt():
            trainer.run()
    assert steps == [1, 2] and trainer.state.step == 2


def test_an_interrupt_after_the_command_ends_the_process_quietly_with_its_status():
    """Ctrl-C while the interpreter tears down (atexit callbacks, e.g. torch's) after the command
    returned: no "Exception ignored ... KeyboardInterrupt" traceback, the command's status, and
    its output flushed (the console entry points end with finish_process)."""
    code = ("import atexit, os, signal, sys, time\n"
            "from photonics.instrument import finish_process\n"
            "print('the result')\n"
            "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(30)))\n"
            "sys.exit(finish_process(3))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (3, "the result\n", "")


def test_the_console_commands_end_with_finish_process(monkeypatch):
    import configparser

    import dfa.cli
    import photonics.cli

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    scripts = dict(line.split(" = ") for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines())
    assert scripts == {"photonics": "photonics.cli:console_main", "dfa": "dfa.cli:console_main"}
    for mod in (photonics.cli, dfa.cli):
        seen = []
        monkeypatch.setattr(mod, "main", lambda: 7)
        monkeypatch.setattr(mod, "finish_process", lambda status: seen.append(status) or status)
        assert mod.console_main() == 7 and seen == [7]


def test_serial_sweep_stops_on_an_interrupt_and_records_nothing_false(tmp_path, monkeypatch):
    """A point interrupted inside its run is not recorded as failed, and the sweep stops."""
    from dfa.studies.sweep.runner import execute

    class Store:
        def __init__(self):
            self.records = []

        def append(self, rec):
            self.records.append(rec)

    def runner(task):
        if task["id"] == "b":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise SystemError("CPUDispatcher(...) returned a result with an exception set")  # noqa: B904
        return {"id": task["id"]}

    store = Store()
    tasks = [{"id": k, "method": "dfa", "seed": 0} for k in ("a", "b", "c")]
    with pytest.raises(KeyboardInterrupt):
        execute(tasks, store, runner=runner, progress=False)
    assert store.records == [{"id": "a"}]

    def runner_dropping(task):  # an interrupt Python dropped while point a ran: a is kept, b never starts
        if task["id"] == "a":
            _DropsAnInterrupt()
        return {"id": task["id"]}

    from photonics.instrument import terminate_as_interrupt

    store = Store()
    monkeypatch.setattr(sys, "unraisablehook", lambda u: None)
    with pytest.raises(KeyboardInterrupt):
        with terminate_as_interrupt():
            execute(tasks, store, runner=runner_dropping, progress=False)
    assert store.records == [{"id": "a"}]


def test_json_outputs_are_standard(tmp_path):
    r = subprocess.run([_cmd("photonics"), "info", "ideal", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


@pytest.mark.parametrize("size", [{"n_in": 8, "n_out": 10**9}, {"n_in": 10**9, "n_out": 8}])
def test_an_absurd_device_is_refused_before_allocating(size):
    from photonics import OPU, DeviceConfig
    from photonics.errors import ValidationError

    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="needs .* of memory, more than this machine has available"):
        OPU(DeviceConfig.preset("lab-cmos", **size))
    assert time.perf_counter() - t0 < 5  # refused, not attempted
