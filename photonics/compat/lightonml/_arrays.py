"""numpy <-> torch plumbing of the facade (torch is never imported unless a tensor came in)."""

from __future__ import annotations

import numpy as np

__all__ = ["is_tensor", "to_numpy", "like_input"]


def is_tensor(x) -> bool:
    """True for a torch.Tensor, detected without importing torch."""
    t = type(x)
    return t.__name__ in ("Tensor", "Parameter") and t.__module__.split(".")[0] == "torch"


def to_numpy(x) -> tuple[np.ndarray, bool]:
    """(numpy view or copy of x, whether x was a torch tensor)."""
    if is_tensor(x):
        return x.detach().cpu().numpy(), True
    return np.asarray(x), False


def like_input(y: np.ndarray, was_tensor: bool):
    """``torch.from_numpy(y)`` when the input was a tensor, else y unchanged."""
    if not was_tensor:
        return y
    import torch

    return torch.from_numpy(np.ascontiguousarray(y))
