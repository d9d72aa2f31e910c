"""The only place random generators and stream keys are made.

Randomness in the toolkit is always explicit: a ``seed`` (non-negative int) is turned into
named, independent streams. Static disorder (the medium, pixel maps) and per-frame noise use
different stream names, so drawing more noise never changes the transmission matrix.

Two kinds of streams exist:

* :func:`stream_key` gives a 64-bit key for the counter-based generator of
  :mod:`photonics.kernels`: the value for (key, counter) is a pure function of both, so the
  result does not depend on block order, chunking, thread count or process count.
* :func:`generator` gives a :class:`numpy.random.Generator` seeded from the same derivation,
  for sequential draws where counter-based access is not needed (e.g. probe patterns).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .errors import ValidationError
from .validation import check_int

__all__ = ["stream_key", "generator", "check_seed", "derive_seed"]


def check_seed(seed: Any, name: str = "seed") -> int:
    """Return ``seed`` as a Python int in [0, 2**63 - 1] or raise a clear error."""
    return check_int(seed, name, low=0, high=2**63 - 1, error=ValidationError)


def _digest(seed: int, names: tuple[str, ...]) -> bytes:
    h = hashlib.blake2b(digest_size=16, person=b"photonics-rng")
    h.update(str(int(seed)).encode())
    for name in names:
        h.update(b"\x1f")
        h.update(str(name).encode())
    return h.digest()


def stream_key(seed: int, *names: str) -> int:
    """64-bit key of the named stream derived from ``seed`` (a pure function of both).

    Parameters
    ----------
    seed : int
        Master seed, >= 0.
    *names : str
        Stream path, e.g. ``("medium",)`` or ``("camera", "shot")``.

    Returns
    -------
    int
        Key in [0, 2**64).
    """
    seed = check_seed(seed)
    return int.from_bytes(_digest(seed, names)[:8], "little")


def derive_seed(seed: int, *names: str) -> int:
    """A child seed (non-negative, < 2**63) for a named sub-component, e.g. a sweep point."""
    return stream_key(seed, *names) >> 1


def generator(seed: int, *names: str) -> np.random.Generator:
    """A numpy Generator (PCG64) for the named stream of ``seed``."""
    seed = check_seed(seed)
    d = _digest(seed, names)
    entropy = [int.from_bytes(d[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
