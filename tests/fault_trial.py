"""The fault trial: bad inputs and faults through the commands and the Python API, tallied.

Not a pytest module (the fault classes are tested in ``tests/test_faults*.py``); this script
plays a broad list of cases a new user meets and classifies what happens:

* ``clear``: the promised behaviour (one line naming the problem and exit 2; 130 on an
  interrupt; a ``photonics.errors`` exception, a ValueError or TypeError, from the API);
* ``traceback``: a traceback or an unexpected exception type;
* ``silent``: no error where the input is invalid (exit 0, or a result returned);
* ``data loss``: an input or an existing result modified or removed, or a partial file left;
* ``hang``: no answer within the time limit.

Run it from the repository root (about two minutes on 2 cores)::

    python tests/fault_trial.py [--json OUT.json] [-v]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script: tests/photonics must not shadow the photonics package

import numpy as np  # noqa: E402

BIN = Path(sys.executable).parent
TIMEOUT_S = 120


@dataclass
class Outcome:
    case: str
    kind: str  # clear | traceback | silent | data loss | hang
    detail: str = ""


@dataclass
class Trial:
    root: Path
    verbose: bool = False
    outcomes: list = field(default_factory=list)

    def record(self, case: str, kind: str, detail: str = "") -> None:
        self.outcomes.append(Outcome(case, kind, detail))
        if self.verbose or kind != "clear":
            print(f"[{kind:>9}] {case}" + (f": {detail[:160]}" if detail else ""), flush=True)

    # ---- command-line cases -----------------------------------------------------------------
    def cli(self, case: str, argv: list[str], *, expect: int = 2, watch: list[Path] = (), no_new_files_in: Path | None = None,
            input_text: str | None = None) -> None:
        snap = {p: _digest(p) for p in watch}
        before = set(_listing(no_new_files_in)) if no_new_files_in else set()
        t0 = time.perf_counter()
        try:
            r = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=TIMEOUT_S,
                               cwd=self.root, input=input_text)
        except subprocess.TimeoutExpired:
            self.record(case, "hang", f"no answer in {TIMEOUT_S} s")
            return
        lost = [str(p) for p, d in snap.items() if _digest(p) != d]
        if no_new_files_in is not None:
            extra = set(_listing(no_new_files_in)) - before
            lost += [f"left {x}" for x in sorted(extra)]
        err_lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip() and not ln.startswith(("WARNING", "INFO"))]
        if lost:
            self.record(case, "data loss", "; ".join(lost))
        elif "Traceback" in r.stderr:
            self.record(case, "traceback", r.stderr.strip().splitlines()[-1])
        elif r.returncode == expect and (expect == 0 or len(err_lines) >= 1):
            ok = expect == 0 or len(err_lines) == 1 or (expect == 130 and err_lines[-1].endswith("interrupted"))
            self.record(case, "clear" if ok else "traceback", "" if ok else f"{len(err_lines)} lines on stderr")
        elif r.returncode == 0:
            self.record(case, "silent", f"exit 0 ({time.perf_counter() - t0:.1f} s)")
        else:
            self.record(case, "traceback", f"exit {r.returncode}: {r.stderr.strip()[-200:]}")

    # ---- API cases ----------------------------------------------------------------------------
    def api(self, case: str, fn, *, expect_error: bool = True) -> None:
        from photonics.errors import PhotonicsError

        try:
            out = fn()
        except (PhotonicsError, ValueError, TypeError, FileNotFoundError) as exc:
            if expect_error and str(exc).strip():
                self.record(case, "clear")
            else:
                self.record(case, "traceback" if expect_error else "traceback", f"{type(exc).__name__}: {exc}")
            return
        except MemoryError as exc:
            self.record(case, "traceback", f"MemoryError {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - classified
            self.record(case, "traceback", f"{type(exc).__name__}: {exc}")
            return
        if expect_error:
            self.record(case, "silent", f"returned {type(out).__name__}")
        else:
            self.record(case, "clear")


def _digest(p: Path) -> str | None:
    p = Path(p)
    if not p.exists():
        return None
    if p.is_dir():
        return hashlib.sha256("\n".join(sorted(_listing(p))).encode()).hexdigest()
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _listing(d: Path | None) -> list[str]:
    if d is None or not Path(d).is_dir():
        return []
    return [str(q.relative_to(d)) for q in Path(d).rglob("*")]


def photonics_cases(t: Trial, w: Path) -> None:
    x = (np.random.default_rng(0).random((4, 32)) < 0.5).astype(np.uint8)
    np.save(w / "x.npy", x)
    np.save(w / "xr.npy", np.random.default_rng(0).normal(size=(4, 32)))
    np.save(w / "xnan.npy", np.full((4, 32), np.nan))
    np.save(w / "xc.npy", x.astype(np.complex64))
    np.save(w / "xbig.npy", np.full((2, 32), 1e39))
    np.save(w / "x3d.npy", np.zeros((2, 2, 32), dtype=np.uint8))
    (w / "bad.npy").write_bytes(b"not a numpy file")
    (w / "bad.h5").write_bytes(b"not hdf5")
    (w / "empty.npz").write_bytes(b"")
    (w / "bad.toml").write_text("[camera\nread_noise_e = ")
    (w / "unknown.toml").write_text("[camera]\nnoise = 3\n")
    (w / "existing.h5").write_bytes(b"an existing result")
    dev = ["ideal", "--n-in", "32", "--n-out", "16"]
    ro = Path("/sys")
    for name, argv in {
        "info: unknown preset": ["photonics", "info", "no-such-device"],
        "info: n-in 0": ["photonics", "info", "ideal", "--n-in", "0"],
        "info: n-in negative": ["photonics", "info", "ideal", "--n-in", "-5"],
        "info: n-out 1e12": ["photonics", "info", "ideal", "--n-out", "1000000000000"],
        "info: --set unknown key": ["photonics", "info", "ideal", "--set", "camera.noise=3"],
        "info: --set without =": ["photonics", "info", "ideal", "--set", "camera.read_noise_e"],
        "info: --set negative read noise": ["photonics", "info", "ideal", "--set", "camera.read_noise_e=-1"],
        "info: --set NaN exposure": ["photonics", "info", "ideal", "--set", "camera.exposure_s=NaN"],
        "info: --set string for number": ["photonics", "info", "ideal", "--set", "camera.read_noise_e=abc"],
        "info: --set exposure > frame period": ["photonics", "info", "ideal", "--set", "camera.exposure_s=1"],
        "info: --set bit depth 0": ["photonics", "info", "ideal", "--set", "camera.bit_depth=0"],
        "info: --set bit depth 17": ["photonics", "info", "ideal", "--set", "camera.bit_depth=17"],
        "info: --set laser 1e300 W": ["photonics", "info", "ideal", "--set", "laser.power_w=1e300"],
        "info: --set contrast 1": ["photonics", "info", "ideal", "--set", "dmd.contrast_ratio=1.0"],
        "info: --set wavelength 1 m": ["photonics", "info", "ideal", "--set", "laser.wavelength_m=1"],
        "info: --set unknown section": ["photonics", "info", "ideal", "--set", "lens.focal_m=1"],
        "info: --set medium model unknown": ["photonics", "info", "ideal", "--set", "medium.model=glass"],
        "info: --set output_shape mismatch": ["photonics", "info", "ideal", "--set", "medium.output_shape=[3,5]"],
        "info: --density 2": ["photonics", "info", "ideal", "--density", "2"],
        "info: malformed TOML": ["photonics", "info", str(w / "bad.toml")],
        "info: TOML with unknown key": ["photonics", "info", str(w / "unknown.toml")],
        "info: missing TOML": ["photonics", "info", str(w / "missing.toml")],
        "info: seed negative": ["photonics", "info", "ideal", "--seed", "-1"],
        "project: missing input": ["photonics", "project", *dev, "--input", str(w / "missing.npy"), "--out", str(w / "o1.h5")],
        "project: corrupt npy": ["photonics", "project", *dev, "--input", str(w / "bad.npy"), "--out", str(w / "o2.h5")],
        "project: corrupt h5": ["photonics", "project", *dev, "--input", str(w / "bad.h5"), "--out", str(w / "o3.h5")],
        "project: empty npz": ["photonics", "project", *dev, "--input", str(w / "empty.npz"), "--out", str(w / "o4.h5")],
        "project: unknown suffix": ["photonics", "project", *dev, "--input", str(w / "bad.toml"), "--out", str(w / "o5.h5")],
        "project: real input without encoder": ["photonics", "project", *dev, "--input", str(w / "xr.npy"), "--out", str(w / "o6.h5")],
        "project: NaN input with encoder": ["photonics", "project", *dev, "--input", str(w / "xnan.npy"), "--out", str(w / "o7.h5"),
                                            "--encoder", "sign"],
        "project: complex input": ["photonics", "project", *dev, "--input", str(w / "xc.npy"), "--out", str(w / "o8.h5")],
        "project: input beyond float32": ["photonics", "project", *dev, "--input", str(w / "xbig.npy"), "--out", str(w / "o9.h5"),
                                          "--encoder", "sign"],
        "project: 3-D input": ["photonics", "project", *dev, "--input", str(w / "x3d.npy"), "--out", str(w / "o10.h5")],
        "project: wrong width": ["photonics", "project", "ideal", "--n-in", "16", "--n-out", "16", "--input", str(w / "x.npy"),
                                 "--out", str(w / "o11.h5")],
        "project: bits 0": ["photonics", "project", *dev, "--input", str(w / "xr.npy"), "--out", str(w / "o12.h5"), "--encoder",
                            "bitplane", "--bits", "0"],
        "project: bits 64": ["photonics", "project", *dev, "--input", str(w / "xr.npy"), "--out", str(w / "o13.h5"), "--encoder",
                             "bitplane", "--bits", "64"],
        "project: threshold NaN": ["photonics", "project", *dev, "--input", str(w / "xr.npy"), "--out", str(w / "o14.h5"),
                                   "--encoder", "threshold", "--threshold", "nan"],
        "project: out in missing folder": ["photonics", "project", *dev, "--input", str(w / "x.npy"), "--out", str(w / "no" / "o.h5")],
        "project: out in read-only folder": ["photonics", "project", *dev, "--input", str(w / "x.npy"), "--out", str(ro / "o.h5")],
        "project: out is a folder": ["photonics", "project", *dev, "--input", str(w / "x.npy"), "--out", str(w)],
        "project: linear on ideal with strong ref": ["photonics", "project", *dev, "--input", str(w / "x.npy"), "--out",
                                                     str(w / "o15.h5"), "--mode", "linear", "--set", "reference.scheme=weak"],
    }.items():
        t.cli(name, argv, no_new_files_in=w)
    t.cli("project: out onto an existing result", ["photonics", "project", *dev, "--input", str(w / "x.npy"), "--out",
                                                   str(w / "existing.h5")], watch=[w / "existing.h5"])
    t.cli("project: out onto its own input (--force)", ["photonics", "project", *dev, "--input", str(w / "x.npy"), "--out",
                                                        str(w / "x.npy"), "--force"], watch=[w / "x.npy"])
    cal = w / "cal"
    cal.mkdir()
    rng = np.random.default_rng(0)
    pat = (rng.random((12, 8)) < 0.5).astype(np.uint8)
    np.savez(w / "probes_few.npz", patterns=pat, frames=rng.random((12, 4, 4)) * 100, dark_frames=np.ones((2, 4, 4)))
    np.savez(w / "probes_bad.npz", patterns=pat * 3, frames=rng.random((12, 4, 4)) * 100, dark_frames=np.ones((2, 4, 4)))
    (cal / "summary.json").write_text("{}")
    for name, argv in {
        "inspect: unknown device": ["photonics", "inspect", "nope", "--out", str(w / "i1")],
        "inspect: out is a file": ["photonics", "inspect", *dev, "--out", str(w / "x.npy")],
        "inspect: out read-only": ["photonics", "inspect", *dev, "--out", str(ro / "i")],
        "calibrate: unknown step": ["photonics", "calibrate", *dev, "--out", str(w / "c1"), "--steps", "nonsense"],
        "calibrate: out read-only": ["photonics", "calibrate", *dev, "--out", str(ro / "c")],
        "calibrate: frames missing": ["photonics", "calibrate", "--frames", str(w / "missing"), "--out", str(w / "c2")],
        "calibrate: frames corrupt": ["photonics", "calibrate", "--frames", str(w / "bad.h5"), "--out", str(w / "c3")],
        "calibrate: probes missing": ["photonics", "calibrate", "--probes", str(w / "missing.h5"), "--out", str(w / "c4")],
        "calibrate: probes corrupt": ["photonics", "calibrate", "--probes", str(w / "bad.h5"), "--out", str(w / "c5")],
        "calibrate: probes not a recording": ["photonics", "calibrate", "--probes", str(w / "x.npy"), "--out", str(w / "c6")],
        "calibrate: probes non-binary patterns": ["photonics", "calibrate", "--probes", str(w / "probes_bad.npz"), "--out",
                                                  str(w / "c7")],
        "calibrate: probes too few": ["photonics", "calibrate", "--probes", str(w / "probes_few.npz"), "--out", str(w / "c8")],
        "calibrate: probes with a device": ["photonics", "calibrate", *dev, "--probes", str(w / "probes_few.npz"), "--out",
                                            str(w / "c9")],
        "randnla: missing input": ["photonics", "randnla", "svd", "--input", str(w / "missing.npy"), "--rank", "2", "--out",
                                   str(w / "r.h5")],
        "randnla: rank 0": ["photonics", "randnla", "svd", "--input", str(w / "xr.npy"), "--rank", "0", "--out", str(w / "r.h5")],
        "bench: unknown benchmark": ["photonics", "bench", "nope"],
        "bench: out-dir is a file": ["photonics", "bench", "--quick", "projection", "--out-dir", str(w / "x.npy")],
        "scaling: out read-only": ["photonics", "scaling", "--out", str(ro / "s")],
    }.items():
        t.cli(name, argv, no_new_files_in=w if "read-only" not in name else None)
    t.cli("calibrate: onto an existing result folder", ["photonics", "calibrate", *dev, "--out", str(cal)], watch=[cal])
    # the benchmark scripts run on their own (outside `photonics bench`) and the examples
    bench, examples = str(t.root / "benchmarks"), str(t.root / "examples")
    for name, argv in {
        "benchmark script: --frames 0": ["python", f"{bench}/camera_noise.py", "--frames", "0", "--out-dir", str(w / "b1")],
        "benchmark script: --repeats -1": ["python", f"{bench}/tm_generation.py", "--repeats", "-1", "--out-dir", str(w / "b2")],
        "benchmark script: --batch not a number": ["python", f"{bench}/projection.py", "--batch", "x", "--out-dir", str(w / "b3")],
        "benchmark script: --sizes not a list": ["python", f"{bench}/projection_grid.py", "--sizes", "1,a", "--out-dir", str(w / "b4")],
        "benchmark script: --block-mb NaN": ["python", f"{bench}/procedural.py", "--block-mb", "nan", "--out-dir", str(w / "b5")],
        "benchmark script: --steps 0": ["python", f"{bench}/dfa_step.py", "--steps", "0", "--out-dir", str(w / "b6")],
        "benchmark script: out-dir is a file": ["python", f"{bench}/camera_noise.py", "--quick", "--out-dir", str(w / "x.npy")],
        "benchmark script: out-dir in a missing folder": ["python", f"{bench}/randnla.py", "--quick", "--out-dir", str(w / "no" / "b")],
        "benchmark script: out-dir read-only": ["python", f"{bench}/torch_backend.py", "--quick", "--out-dir", str(ro / "b")],
        "example: --epochs 0": ["python", f"{examples}/optical_dfa_mlp.py", "--epochs", "0", "--out", str(w / "e1")],
        "example: --photons NaN": ["python", f"{examples}/noise_sweep.py", "--photons", "nan", "--out", str(w / "e2")],
        "example: out is a file": ["python", f"{examples}/randsvd.py", "--quick", "--out", str(w / "x.npy")],
        "example: out read-only": ["python", f"{examples}/randsvd.py", "--quick", "--out", str(ro / "e")],
        "example: unknown device": ["python", f"{examples}/calibrate_photon_transfer.py", "--device", "nope", "--out", str(w / "e3")],
        "example: rank above the matrix": ["python", f"{examples}/randsvd.py", "--rank", "500", "--out", str(w / "e4")],
    }.items():
        t.cli(name, argv, no_new_files_in=w if "read-only" not in name else None)


def api_cases(t: Trial, w: Path) -> None:
    from photonics import OPU, DeviceConfig
    from photonics import encoding as E

    opu = OPU(DeviceConfig.preset("lab-cmos", n_in=16, n_out=32), seed=0)
    x = (np.random.default_rng(0).random((3, 16)) < 0.5).astype(np.uint8)
    cases = {
        "OPU: config not a config": lambda: OPU(42),
        "OPU: seed negative": lambda: OPU("ideal", seed=-1),
        "OPU: seed float": lambda: OPU("ideal", seed=1.5),
        "OPU: n_out 1e9 (memory)": lambda: OPU(DeviceConfig.preset("lab-cmos", n_in=8, n_out=10**9)),
        "OPU: n_in 1e9 (memory)": lambda: OPU(DeviceConfig.preset("lab-cmos", n_in=10**9, n_out=8)).project(np.ones((1, 10**9), np.uint8)),
        "project: non-binary frames": lambda: opu.project(x * 2),
        "project: NaN frames": lambda: opu.project(np.full((2, 16), np.nan)),
        "project: wrong width": lambda: opu.project(np.ones((2, 15), np.uint8)),
        "project: 3-D": lambda: opu.project(np.ones((2, 2, 16), np.uint8)),
        "project: string": lambda: opu.project("frames"),
        "acquire: reference mask of 2s": lambda: opu.acquire(x, reference=np.full(opu.config.n_reference, 2)),
        "acquire: reference mask too long": lambda: opu.acquire(x, reference=np.ones(opu.config.n_reference + 1)),
        "acquire: reference as a string": lambda: opu.acquire(x, reference="on"),
        "project: exposure negative": lambda: opu.project(x, exposure_s=-1e-3),
        "project: exposure NaN": lambda: opu.project(x, exposure_s=float("nan")),
        "project: exposure > frame period": lambda: opu.project(x, exposure_s=10.0),
        "linear: unknown scheme": lambda: opu.linear(x, scheme="weak"),
        "linear: encoder not an encoder": lambda: opu.linear(x, encoder="sign"),
        "expose: negative power": lambda: opu.expose(np.full((1, 32), -1.0)),
        "expose: NaN power": lambda: opu.expose(np.full((1, 32), np.nan)),
        "expose: inf power": lambda: opu.expose(np.full((1, 32), np.inf)),
        "expose: wrong width": lambda: opu.expose(np.ones((1, 31))),
        "dark_frames: 0": lambda: opu.dark_frames(0),
        "dark_frames: -1": lambda: opu.dark_frames(-1),
        "dark_frames: 1e12": lambda: opu.dark_frames(10**12),
        "dark_frames: float": lambda: opu.dark_frames(2.5),
        "wait: negative": lambda: opu.wait(-1.0),
        "wait: NaN": lambda: opu.wait(float("nan")),
        "load_state_dict: NaN idle": lambda: opu.load_state_dict({**opu.state_dict(), "idle_s": float("nan")}),
        "load_state_dict: negative frames": lambda: opu.load_state_dict({**opu.state_dict(), "frames": -3}),
        "load_state_dict: not a dict": lambda: opu.load_state_dict([1, 2]),
        "calibrate_reference: n_frames 0": lambda: opu.calibrate_reference(0),
        "config: read noise negative": lambda: DeviceConfig.preset("ideal", camera__read_noise_e=-1),
        "config: gain 0": lambda: DeviceConfig.preset("ideal", camera__gain_e_per_dn=0),
        "config: QE 2": lambda: DeviceConfig.preset("ideal", camera__quantum_efficiency=2),
        "config: exposure 0": lambda: DeviceConfig.preset("ideal", camera__exposure_s=0),
        "config: black level above ADC": lambda: DeviceConfig.preset("ideal", camera__black_level_dn=70000),
        "config: macropixel 0": lambda: DeviceConfig.preset("ideal", dmd__macropixel=0),
        "config: fill factor 0": lambda: DeviceConfig.preset("ideal", dmd__fill_factor=0),
        "config: transmission 2": lambda: DeviceConfig.preset("ideal", medium__transmission=2),
        "config: reference fraction 0": lambda: DeviceConfig.preset("ideal", reference__fraction=0),
        "config: laser 1e300 W": lambda: DeviceConfig.preset("ideal", laser__power_w=1e300),
        "config: contrast 1": lambda: DeviceConfig.preset("ideal", dmd__contrast_ratio=1.0),
        "config: unknown override": lambda: DeviceConfig.preset("ideal", camera__noise=1),
        "config: from_toml missing": lambda: DeviceConfig.from_toml(w / "missing.toml"),
        "config: from_json invalid": lambda: DeviceConfig.from_json("{"),
        "encoder: bits 0": lambda: E.BitPlaneEncoder(0),
        "encoder: x_max < x_min": lambda: E.BitPlaneEncoder(8, x_min=1, x_max=0),
        "encoder: integers out of range": lambda: E.BitPlaneEncoder(4).encode(np.array([[20]])),
        "encoder: x beyond float32": lambda: E.SignSplitEncoder(n_bits=8).encode(np.array([[1e39, 1.0]])),
        "encoder: NaN": lambda: E.SignSplitEncoder(n_bits=8).encode(np.array([[np.nan, 1.0]])),
        "encoder: decode wrong frames": lambda: E.TernaryEncoder(0.5).decode(np.zeros((3, 1, 4))),
        "ternarize: threshold NaN": lambda: E.ternarize(np.ones(3), float("nan")),
    }
    for name, fn in cases.items():
        t.api(name, fn)
    # saturation is monotone: more light never reads less
    big = opu.expose(np.full((1, 32), 1e6))
    t.record("expose: 1e6 W saturates", "clear" if int(big.min()) == opu.config.camera.max_dn else "silent",
             f"min DN {int(big.min())}")

    from photonics.io import write_json_atomic
    from photonics.records import load_frames, save_frames

    (w / "bad.h5").write_bytes(b"not hdf5")
    t.api("load_frames: not HDF5", lambda: load_frames(w / "bad.h5"))
    t.api("load_frames: missing", lambda: load_frames(w / "missing.h5"))
    t.api("save_frames: object array", lambda: save_frames(w / "f.h5", np.array([object()])))
    t.api("write_json: non-serialisable", lambda: write_json_atomic(w / "j.json", {"a": object()}))
    from photonics.medium import load_transmission_matrix

    t.api("measured TM: missing", lambda: load_transmission_matrix(w / "missing.h5"))
    t.api("measured TM: corrupt", lambda: load_transmission_matrix(w / "bad.h5"))


def dfa_cases(t: Trial, w: Path) -> None:
    run = w / "run"
    base = ["dfa", "train", "--max-steps", "2", "--no-plots", "--no-progress", "--model-option", "hidden=[8]"]
    for name, argv in {
        "train: unknown dataset": [*base, "--dataset", "nope", "--out", str(w / "t1")],
        "train: misspelled method": [*base, "--methods", "bp,dfa,optikal-dfa", "--out", str(w / "t2")],
        "train: unknown device preset": [*base, "--opu", "lab-cmoss", "--out", str(w / "t3")],
        "train: unknown --opu-set key": [*base, "--opu-set", "camera.noise=2", "--out", str(w / "t4")],
        "train: lr 0": [*base, "--lr", "0", "--out", str(w / "t5")],
        "train: epochs -1": [*base, "--epochs", "-1", "--out", str(w / "t6")],
        "train: batch size huge hidden": ["dfa", "train", "--max-steps", "1", "--model-option", "hidden=[1000000000]", "--out",
                                          str(w / "t7")],
        "train: unknown model option": [*base, "--model-option", "widths=[8]", "--out", str(w / "t8")],
        "train: bad config file": [*base, "--config", str(w / "missing.toml"), "--out", str(w / "t9")],
        "train: resume a missing run": [*base, "--resume", str(w / "nope")],
        "train: out read-only": [*base, "--out", "/sys/run"],
        "train: opu power scale 1e30": [*base, "--opu-power-scale", "1e30", "--out", str(w / "t10")],
        "sweep: missing spec": ["dfa", "sweep", str(w / "missing.toml")],
        "sweep: huge range": ["dfa", "sweep", str(w / "huge.toml"), "--dry-run"],
        "sweep: misspelled parameter": ["dfa", "sweep", str(w / "typo.toml"), "--dry-run"],
        "privacy: missing run": ["dfa", "privacy", str(w / "nope")],
    }.items():
        t.cli(name, argv, no_new_files_in=w)
    run.mkdir()
    (run / "results.json").write_text("{}")
    t.cli("train: out onto an existing run without --resume", [*base, "--out", str(run)], watch=[run])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the outcomes here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case, not only the failures")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        w = Path(d)
        (w / "huge.toml").write_text('[sweep]\nseeds = [0]\n[base]\ndataset = "digits"\nmethods = ["dfa"]\n'
                                     '[parameters]\nread_noise_e = { range = [0, 1000000000000, 1] }\n')
        (w / "typo.toml").write_text('[sweep]\nseeds = [0]\n[base]\ndataset = "digits"\nmethods = ["dfa"]\n'
                                     '[parameters]\nphoton_per_pixel = [1, 2]\n')
        t = Trial(Path.cwd(), verbose=args.verbose)
        photonics_cases(t, w)
        api_cases(t, w)
        dfa_cases(t, w)
        shutil.rmtree(w, ignore_errors=True)
    kinds = ["clear", "traceback", "silent", "data loss", "hang"]
    tally = {k: sum(o.kind == k for o in t.outcomes) for k in kinds}
    print(f"\n{len(t.outcomes)} cases: " + ", ".join(f"{v} {k}" for k, v in tally.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"tally": tally, "outcomes": [o.__dict__ for o in t.outcomes]}, indent=2))
    return 0 if tally["clear"] == len(t.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
