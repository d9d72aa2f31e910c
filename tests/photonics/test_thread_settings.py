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


def _env_when_numpy_loads(module="photonics", **env):
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    code = _PROBE.replace("{module}", module)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True)
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
