"""The thread-pool settings photonics applies at import, before numpy loads OpenBLAS and numba its OpenMP runtime.

OpenBLAS reads OPENBLAS_THREAD_TIMEOUT and libgomp OMP_WAIT_POLICY once, when they load: the
defaults must be in the environment before the first numpy import that photonics makes, and a
value the user set must win. Checked in a fresh interpreter with an import hook that records the
environment at the moment numpy starts loading.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = r"""
import importlib.abc, json, os, sys
seen = {}
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and not seen:
            seen.update({k: os.environ.get(k) for k in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")})
        return None
sys.meta_path.insert(0, Probe())
import {module}
print(json.dumps(seen))
"""


def _run(code: str, **env) -> subprocess.CompletedProcess:
    """``python -c code`` with neither variable in the environment unless given in ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True)


def _env_when_numpy_loads(module="photonics", **env):
    out = _run(_PROBE.replace("{module}", module), **env)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["photonics", "photonics.cli", "dfa.cli"])
def test_defaults_are_set_before_numpy_loads(module):
    """The library and both commands (the dfa command imports torch, which loads numpy too)."""
    seen = _env_when_numpy_loads(module)
    assert seen == {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("timeout, policy", [("28", "ACTIVE"), ("10", "PASSIVE")])
def test_a_user_setting_wins(timeout, policy):
    seen = _env_when_numpy_loads(OPENBLAS_THREAD_TIMEOUT=timeout, OMP_WAIT_POLICY=policy)
    assert seen == {"OPENBLAS_THREAD_TIMEOUT": timeout, "OMP_WAIT_POLICY": policy}


def test_settings_name_what_was_set_too_late():
    first = _run("import photonics, json; from photonics.thread_defaults import settings; print(json.dumps(settings()))")
    assert json.loads(first.stdout)["set_after_load"] == []
    late = _run("import numpy, photonics, json; from photonics.thread_defaults import settings; print(json.dumps(settings()))")
    seen = json.loads(late.stdout)
    assert seen["set_after_load"] == ["OPENBLAS_THREAD_TIMEOUT"]
    assert seen["environment"] == {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def test_dfa_warns_when_several_threads_meet_pools_started_before_photonics():
    late = "import logging, torch; logging.basicConfig(); import dfa; from dfa.trainer.threads import set_threads; "
    assert "set after numpy/torch had loaded" not in _run(late + "set_threads(1)").stderr
    warned = _run(late + "set_threads(2)").stderr
    assert "OMP_WAIT_POLICY" in warned and "set after numpy/torch had loaded" in warned
    clean = _run("import logging, dfa, torch; logging.basicConfig(); from dfa.trainer.threads import set_threads; set_threads(2)")
    assert "set after" not in clean.stderr
