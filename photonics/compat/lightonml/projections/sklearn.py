"""``OPUMap``: the facade OPU as a scikit-learn transformer (numpy arrays in and out).

Same constructor and methods as ``lightonml.projections.sklearn.OPUMap``; in addition
``linear`` (use :meth:`OPU.linear_transform`), ``device`` and ``seed`` (keyword only, used
when no ``opu`` is given). ``max_n_features=None`` sizes the OPU to the features of the
first fit (lightonml requires it for a simulated OPU).

Example (random features for a classifier, as lightonml users write it)::

    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import RidgeClassifier
    from photonics.compat.lightonml.encoding.base import BinaryThresholdEncoder
    from photonics.compat.lightonml.projections.sklearn import OPUMap

    clf = make_pipeline(BinaryThresholdEncoder(), OPUMap(n_components=2000), RidgeClassifier())
    clf.fit(X_train, y_train).score(X_test, y_test)
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ....errors import ValidationError
from ..verbosity import set_verbose_level
from ._common import fit_opu, make_opu

log = logging.getLogger(__name__)

__all__ = ["OPUMap"]


class OPUMap(BaseEstimator, TransformerMixin):
    """Adapter of the facade :class:`~photonics.compat.lightonml.OPU` to scikit-learn.

    Parameters
    ----------
    n_components : int
        Output dimension.
    opu : OPU, optional
        The facade OPU to use (its n_components is set to ``n_components``); default: a new
        one on ``device``.
    ndims : {1, 2}
        Inputs are 1-D vectors (``fit1d``) or 2-D arrays (``fit2d``).
    n_2d_features : tuple, optional
        (h, w) of packed 2-D inputs.
    packed : bool
        Inputs are bit-packed uint8.
    simulated : bool
        Accepted for compatibility (always simulated).
    max_n_features : int, optional
        Input modes of the OPU built here; None: the features of the first fit.
    verbose_level : int
        Deprecated; if >= 0, calls ``set_verbose_level``.
    linear : bool
        Extension: transform with :meth:`OPU.linear_transform` instead of ``transform``.
    device : str, path or DeviceConfig
        Keyword only: device of the OPU built here (preset, TOML, config).
    seed : int
        Keyword only: its seed.
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
        if verbose_level >= 0:
            set_verbose_level(verbose_level)
        self.verbose_level = verbose_level
        if ndims not in (1, 2):
            raise ValidationError(f"ndims must be 1 or 2 (got {ndims!r})")
        self.device = device
        self.seed = seed
        self.opu = make_opu(n_components, opu, simulated, max_n_features, device, seed)
        self.ndims = ndims
        self.n_2d_features = n_2d_features
        self.packed = packed
        self.simulated = simulated
        self.max_n_features = max_n_features
        self.linear = linear
        self.fitted = False

    @property
    def n_components(self) -> int:
        """Output dimension (that of the OPU)."""
        return self.opu.n_components

    @n_components.setter
    def n_components(self, value: int) -> None:
        self.opu.n_components = value

    def fit(self, X=None, y=None, n_features=None, packed=False, online=False):
        """Configure the OPU for X's feature shape (or ``n_features``); returns self."""
        fit_opu(self.opu, self.ndims, X, n_features, bool(packed or self.packed), online, self.n_2d_features, self.max_n_features)
        self.fitted = True
        return self

    def transform(self, X, y=None) -> np.ndarray:
        """Random features (n_samples, n_components) float32 (plain ndarray)."""
        if not self.fitted:
            log.info("OPUMap was not fitted: fitting on the input with default parameters")
            self.fit(X)
        out = self.opu.linear_transform(X) if self.linear else self.opu.transform(X)
        return np.array(out)

    def open(self) -> None:
        self.opu.open()

    def close(self) -> None:
        self.opu.close()

    def __enter__(self) -> "OPUMap":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
