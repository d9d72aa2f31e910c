"""``OPUMap``: the facade OPU as a ``torch.nn.Module`` (imports torch; load it only for torch).

Same constructor and methods as ``lightonml.projections.torch.OPUMap``, plus ``linear``,
``device`` and ``seed`` as in :mod:`photonics.compat.lightonml.projections.sklearn`.
``forward`` returns a float32 tensor detached from the graph: the optics has no gradient
(lightonml's hardware returns uint8; see the facade's documented differences).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from ....errors import ValidationError
from ..verbosity import get_verbose_level, set_verbose_level
from ._common import fit_opu, make_opu

log = logging.getLogger(__name__)

__all__ = ["OPUMap"]


class OPUMap(nn.Module):
    """Adapter of the facade :class:`~photonics.compat.lightonml.OPU` to PyTorch.

    Parameters
    ----------
    n_components, opu, ndims, n_2d_features, packed, simulated, max_n_features, verbose_level, linear
        As in :class:`photonics.compat.lightonml.projections.sklearn.OPUMap`.
    device : str, path or DeviceConfig
        Keyword only: the optical device preset / TOML / config (not a torch device: the
        simulated optics computes on the CPU; outputs are moved to the input's torch device).
    seed : int
        Keyword only.

    Attributes
    ----------
    fitted : bool
    online : bool
        Set by ``fit(..., online=True)``: forward transforms the batch one vector at a time.
    """

    def __init__(
        self,
        n_components,
        opu=None,
        ndims=1,
        n_2d_features=None,
        packed=False,
        simulated=False,
        max_n_features=None,
        verbose_level=-1,
        linear=False,
        *,
        device="lab-cmos",
        seed=0,
    ):
        super().__init__()
        if verbose_level >= 0:
            set_verbose_level(verbose_level)
        self.verbose_level = get_verbose_level()
        if ndims not in (1, 2):
            raise ValidationError(f"ndims must be 1 or 2 (got {ndims!r})")
        self.opu = make_opu(n_components, opu, simulated, max_n_features, device, seed)
        self.ndims = ndims
        self.n_2d_features = n_2d_features
        self.packed = packed
        self.simulated = simulated
        self.max_n_features = max_n_features
        self.linear = linear
        self.fitted = False
        self.online = False

    @property
    def n_components(self) -> int:
        return self.opu.n_components

    @n_components.setter
    def n_components(self, value: int) -> None:
        self.opu.n_components = value

    def fit(self, X=None, y=None, n_features=None, packed=False, online=False) -> None:
        """Configure the OPU for X's feature shape (or ``n_features``)."""
        self.reset_parameters(X, y, n_features, packed, online)

    def reset_parameters(self, input, y, n_features, packed, online) -> None:
        """lightonml's name for :meth:`fit`."""
        if online:
            self.online = True
        fit_opu(self.opu, self.ndims, input, n_features, bool(packed or self.packed), self.online, self.n_2d_features, self.max_n_features)
        self.fitted = True

    def _one(self, x) -> torch.Tensor:
        out = self.opu.linear_transform(x) if self.linear else self.opu.transform(x)
        if not isinstance(out, torch.Tensor):
            out = torch.from_numpy(np.ascontiguousarray(np.asarray(out, dtype=np.float32)))
        return out

    def forward(self, input) -> torch.Tensor:
        """Random projection of a batch: float32 tensor (..., n_components), detached."""
        if not self.fitted:
            log.info("OPUMap was not fitted: fitting on the first batch with default parameters")
            self.fit(input)
        if self.online:
            out = torch.stack([self._one(input[i]) for i in range(len(input))])
        else:
            out = self._one(input)
        if isinstance(input, torch.Tensor):
            out = out.to(input.device)
        return out.detach()

    def extra_repr(self) -> str:
        return f"out_features={self.n_components}, n_dims={self.ndims}, packed={self.packed}, simulated={self.simulated}, linear={self.linear}"

    def open(self) -> None:
        self.opu.open()

    def close(self) -> None:
        self.opu.close()

    def __enter__(self) -> "OPUMap":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
