"""What the scikit-learn and torch ``OPUMap`` adapters share: building and fitting the OPU."""

from __future__ import annotations

import logging

from ....errors import ValidationError
from .._arrays import to_numpy
from ..opu import OPU

log = logging.getLogger(__name__)

__all__ = ["make_opu", "fit_opu"]


def make_opu(n_components, opu, simulated, max_n_features, device, seed) -> OPU:
    """``opu`` resized to ``n_components``, or a new facade OPU on ``device``.

    lightonml requires ``max_n_features`` for a simulated OPU; here, when it is None, the
    OPU is sized to the features of the first fit (see :func:`fit_opu`).
    """
    if opu is None:
        return OPU(n_components=n_components, max_n_features=max_n_features or 1000, device=device, seed=seed)
    if not isinstance(opu, OPU):
        raise ValidationError(f"opu must be a photonics.compat.lightonml.OPU (got {type(opu).__name__})")
    if simulated is False:
        log.debug("simulated=False: the facade OPU is always simulated")
    opu.n_components = n_components
    return opu


def fit_opu(opu: OPU, ndims: int, X, n_features, packed: bool, online: bool, n_2d_features, max_n_features) -> None:
    """``opu.fit1d`` / ``opu.fit2d``; grows or shrinks the OPU to the data when max_n_features is None."""
    if ndims == 2 and n_features is None and packed:
        n_features = n_2d_features
    if max_n_features is None and not opu._external:
        if X is not None and not packed:
            arr = to_numpy(X)[0]
            needed = int(arr.shape[-1]) if ndims == 1 else int(arr.shape[-1] * arr.shape[-2]) if arr.ndim >= 2 else None
        elif n_features is not None:
            needed = int(n_features) if ndims == 1 else int(n_features[0]) * int(n_features[1])
        elif X is not None and to_numpy(X)[0].ndim >= 1:
            needed = 8 * int(to_numpy(X)[0].shape[-1])
        else:
            needed = None  # fit1d / fit2d report what is missing
        if needed:
            opu.max_n_features = needed
    if ndims == 1:
        opu.fit1d(X, n_features=n_features, packed=packed, online=online)
    else:
        opu.fit2d(X, n_features=n_features, packed=packed, online=online)
