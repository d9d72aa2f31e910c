"""Checkpoints: everything needed to resume a method's training bit for bit.

A checkpoint (``torch.save`` of plain containers and tensors, loadable with
``weights_only=True``) holds: the training config and seed, the method name, the model and
optimizer states, the method state (feedback matrix, optical device clock, noise-stream
position and reference calibration, probe gain) and the trainer position (epoch, batch,
step) with the history so far. Files are written to a temporary name and renamed into
place, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from photonics.errors import FileFormatError
from photonics.io import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

CHECKPOINT_FORMAT = "dfa.checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED = ("config", "seed", "method", "model", "optimizer", "method_state", "trainer")


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` (see module doc) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint, checking its format, version and contents."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds on corrupt files
        raise FileFormatError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(f"{path}: not a dfa checkpoint")
    if data.get("version") != CHECKPOINT_VERSION:
        raise FileFormatError(f"{path}: checkpoint version {data.get('version')} is not supported (this version reads {CHECKPOINT_VERSION})")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise FileFormatError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data
