"""Packaging as declared: the physics toolkit installs and runs on the oldest supported Python
(3.10) without torch, Dask or scikit-learn, from a wheel built from this checkout."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python310() -> str | None:
    """A Python 3.10 interpreter (pyenv's shims are skipped: they may point nowhere)."""
    cands = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")))
    found = shutil.which("python3.10")
    if found and "shims" not in found:
        cands.append(found)
    for c in reversed(cands):
        if subprocess.run([c, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"], capture_output=True).returncode == 0:
            return c
    return None


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r


def test_declared_python_range_and_extras():
    cfg = (ROOT / "setup.cfg").read_text()
    assert "python_requires = >=3.10" in cfg
    base = cfg.split("install_requires =")[1].split("\n\n")[0]
    for heavy in ("torch", "dask", "scikit-learn"):
        assert heavy not in base, f"{heavy} must be an extra, not a requirement of the physics toolkit"


@pytest.mark.skipif(_python310() is None, reason="no Python 3.10 interpreter on this machine")
def test_physics_toolkit_installs_and_runs_on_python_310(tmp_path):
    py = _python310()
    venv = tmp_path / "venv310"
    _run([py, "-m", "venv", str(venv)])
    vpy = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "runs", "*.egg-info", "__pycache__",
                                                               "docs", "benchmarks", "examples", "tests"))
    _run([vpy, "-m", "pip", "install", "-q", str(src)], env=env, timeout=900, cwd=tmp_path)
    code = "import sys, photonics, photonics.device, photonics.calibration; print(json.dumps(sorted(m for m in ('torch', 'dask', 'sklearn') if m in sys.modules)))"
    r = _run([vpy, "-c", "import json; " + code], env=env, cwd=tmp_path)
    assert json.loads(r.stdout) == []
    r = _run([vpy, "-c", "import importlib.util as u; print([m for m in ('torch', 'dask', 'sklearn') if u.find_spec(m)])"],
             env=env, cwd=tmp_path)
    assert r.stdout.strip() == "[]", "the physics-only install pulled a heavy package"
    r = _run([str(venv / "bin" / "photonics"), "info", "ideal", "--n-in", "64", "--n-out", "64", "--json"], env=env, cwd=tmp_path)
    info = json.loads(r.stdout)
    assert info["dimensions"]["n_in"] == 64 and info["dimensions"]["n_out"] == 64
