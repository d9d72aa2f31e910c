"""Every script in examples/ runs and produces what it promises.

The scripts are executed as files (``runpy``: their module code and their ``main(argv)``,
the entry point ``python examples/X.py`` calls), in this process to share the imports, with
``--quick`` where the full run takes more than a few seconds (each script's default run is
also under a minute on 2 cores: see examples/README.md). One script also runs as a
subprocess, exactly as a user starts it. The checks are on the science the scripts print,
not only on the files: measured camera parameters against the simulator's truth, optical
features against their baselines, the SVD error against the optimum.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.helpers import one_line

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
K_SIGMA = 4.0


def run_example(name: str, *args: str) -> dict:
    module = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"examples_{name}")
    return module["main"](list(args))


def assert_png(paths) -> None:
    assert paths
    for p in map(Path, paths):
        assert p.is_file() and p.suffix == ".png"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_every_example_is_tested():
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))
    tested = sorted(["calibrate_photon_transfer", "random_features_classification", "optical_dfa_mlp", "noise_sweep", "randsvd"])
    assert scripts == tested


def test_calibrate_photon_transfer(tmp_path):
    res = run_example("calibrate_photon_transfer", "--out", str(tmp_path))
    assert_png(res["figures"])
    assert (tmp_path / "photon_transfer.h5").is_file()
    for name in ("system gain K [DN/e-]", "read noise [e-]", "quantum efficiency"):
        value, sigma, truth = res["summary"][name]
        assert abs(value - truth) < K_SIGMA * sigma, name


def test_random_features_classification(tmp_path):
    res = run_example("random_features_classification", "--out", str(tmp_path), "--quick")
    assert_png(res["figures"])
    n_test = 397
    sd = np.sqrt(0.1 / n_test)  # binomial sd of an accuracy near 0.9
    for device, accs in res["optical"].items():
        assert len(accs) == 2
        assert accs[-1] - res["linear"] > 2 * np.sqrt(2) * sd, device  # features beat the pixels
        assert accs[-1] <= res["kernel"] + K_SIGMA * np.sqrt(2) * sd  # and approach the kernel


def test_optical_dfa_mlp(tmp_path):
    res = run_example("optical_dfa_mlp", "--out", str(tmp_path), "--quick")
    assert_png(res["figures"])
    assert set(res["accuracy"]) == {"bp", "dfa", "optical-dfa"}
    assert res["accuracy"]["bp"] > 0.5  # 2 epochs of a small MLP: far above chance (0.1)
    assert res["frames"] > 0


def test_randsvd(tmp_path):
    res = run_example("randsvd", "--out", str(tmp_path), "--quick")
    assert_png(res["figures"])
    runs = res["runs"]
    # one power iteration makes the optical result as good as the exact truncated SVD
    for name in ("optical, ideal, q=1", "optical, lab-cmos, q=1"):
        assert 1.0 <= runs[name]["ratio"] < 1.05, name
    assert runs["optical, lab-cmos, q=0"]["frames"] > 0 and runs["gaussian sketch (digital)"]["frames"] == 0


def test_noise_sweep_runs_and_resumes(tmp_path):
    res = run_example("noise_sweep", "--out", str(tmp_path), "--quick")
    assert_png(res["figures"])
    assert res["ran"] == 4 and res["skipped"] == 0  # bp and dfa do not depend on the photons: 1 run each
    assert [p for p, _, _ in sorted(res["curves"]["optical-dfa"])] == [10.0, 1000.0]
    again = run_example("noise_sweep", "--out", str(tmp_path), "--quick")
    assert again["ran"] == 0 and again["skipped"] == 4
    assert again["curves"] == res["curves"]


def test_an_example_runs_from_the_shell(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "calibrate_photon_transfer.py"), "--out", str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "system gain" in proc.stdout and (tmp_path / "photon_transfer.png").is_file()


#: every example, with a size option it must refuse at 0 and an argument the library refuses
BAD_INPUT = {
    "calibrate_photon_transfer": ("--pixels", ["--levels", "2"], "n_levels must be >= 3"),
    "noise_sweep": ("--epochs", ["--device", "nope"], "unknown device 'nope'"),
    "optical_dfa_mlp": ("--epochs", ["--seed", "-1"], "seed must be >= 0"),
    "random_features_classification": ("--components", ["--devices", "nope"], "unknown device 'nope'"),
    "randsvd": ("--rank", ["--rank", "500"], "k must be <= min(m, n)"),
}


def test_every_example_refuses_bad_input_withone_line(tmp_path, capsys):
    """As the scripts run from the shell (``run_script(name, main)``): a bad size is refused by
    the parser, an unusable --out and an input the library refuses by the work, each with one
    line and status 2 and no folder left behind."""
    from photonics.instrument import run_script

    assert set(BAD_INPUT) == {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for name, (size_option, refused, says) in BAD_INPUT.items():
        main = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"examples_{name}")["main"]
        script = f"{name}.py"
        try:
            main([size_option, "0", "--out", str(tmp_path / "o1")])
        except SystemExit as ex:
            assert ex.code == 2
        else:
            raise AssertionError(f"{name}: {size_option} 0 accepted")
        assert one_line(capsys.readouterr().err).startswith(f"{script}: error: argument {size_option}: must be an integer >= 1")
        assert run_script(script, lambda: main(["--quick", "--out", str(a_file)])) == 2
        assert one_line(capsys.readouterr().err) == f"{script}: error: --out {str(a_file)!r} is a file; give a folder"
        assert run_script(script, lambda: main([*refused, "--out", str(tmp_path / "o2")])) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"{script}: error: ") and says in line, line
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"], name  # nothing created
