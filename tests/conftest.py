"""Shared fixtures: seeded generators (from the reference generator, not the code under test)
and the --runslow switch for long tests."""

from __future__ import annotations

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    """numpy's own generator with a fixed seed, for test inputs."""
    return np.random.default_rng(20261123)
