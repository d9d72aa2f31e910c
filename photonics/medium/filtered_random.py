"""A quasi-unitary random medium: the filtered random matrix (incomplete channel control).

A lossless multiple-scattering medium couples N channels by a unitary matrix; an experiment
controls only M_in of them (the DMD) and sees only M_out (the camera). Modelling the medium as
a Haar-random unitary U on N channels (Goetschy & Stone's filtered random matrix, PRL 111,
063901, 2013), the measured TM is the block

    T = sqrt(1 - a) P_out U P_in        (M_out x M_in, P the channel selections),

with a uniform absorption a (the fraction of the power lost inside the medium). The
eigenvalues lambda of T^H T / (1 - a) (transmission eigenvalues of the controlled channels)
follow, for large sizes, the Wachter law of two free projections of traces
alpha = M_in / N, beta = M_out / N (:func:`photonics.ensembles.filtered_unitary_pdf`):

* alpha, beta -> 0 (few controlled channels): lambda / beta is Marchenko-Pastur of ratio
  M_in / M_out, the i.i.d. Gaussian TM;
* alpha = beta = 1/2: the bimodal law 1 / (pi sqrt(lambda (1 - lambda))) of open and closed
  channels (a chaotic cavity);
* alpha + beta > 1: a fraction (alpha + beta - 1) / alpha of fully open channels (lambda = 1);
* M_in = M_out = N: T is unitary.

A uniform absorption only scales T; non-uniform absorption of a diffusive slab acts like more
uncontrolled channels (raise N). Only the N x n_cols isometry U P_in is ever formed (QR of an
N x n_cols complex Gaussian matrix with the phases of R's diagonal removed, the Haar measure;
its first n_in columns do not depend on how many reference columns follow), in O(N n_cols^2).
The reference columns are further columns of the same unitary: light the medium can carry.
The TM is scaled to mean |T_ij|^2 = 1/n_in like every medium; the physical transmission is
kept (:attr:`FilteredRandomMedium.transmission_scale`, :meth:`describe`).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..errors import ValidationError
from ..rng import generator
from ..validation import check_int, check_real
from .blas_threads import single_blas_thread
from .dense import DenseMedium, check_dense_size, split_layout

log = logging.getLogger(__name__)

__all__ = ["FilteredRandomMedium", "haar_isometry"]


def haar_isometry(n_rows: int, n_cols: int, rng: np.random.Generator) -> np.ndarray:
    """An n_rows x n_cols (n_cols <= n_rows) matrix with orthonormal columns, Haar-distributed.

    The first n_cols columns of a Haar unitary: Q of the QR decomposition of a complex Gaussian
    matrix, each column multiplied by the phase of R's diagonal entry (Mezzadri 2007), complex128.
    Gram-Schmidt order: column k depends only on the first k Gaussian columns.
    """
    # drawn column by column, so the first k columns do not depend on how many follow
    z = rng.standard_normal((n_cols, 2, n_rows))
    g = ((z[:, 0] + 1j * z[:, 1]) * math.sqrt(0.5)).T
    with single_blas_thread():
        q, r = np.linalg.qr(g)
    d = np.diag(r)
    return q * (d / np.abs(d))[None, :]


class FilteredRandomMedium(DenseMedium):
    """Filtered Haar unitary: M_in = n_in controlled inputs, M_out = n_out seen outputs of N channels.

    Parameters
    ----------
    n_in, n_out : int
        Controlled inputs and observed outputs.
    seed : int
        Seed of the unitary.
    n_channels : int
        N >= max(n_cols, n_out).
    absorption : float
        Uniform fraction a of the power absorbed, in [0, 1).
    n_cols : int, optional
        Signal + reference columns (default n_in).
    """

    output_basis = "pixels"

    def __init__(self, n_in: int, n_out: int, seed: int, *, n_channels: int, absorption: float = 0.0, n_cols: int | None = None):
        n_in = check_int(n_in, "n_in", low=1, error=ValidationError)
        n_out = check_int(n_out, "n_out", low=1, error=ValidationError)
        n_cols = n_in if n_cols is None else check_int(n_cols, "n_cols", low=n_in, error=ValidationError)
        need = max(n_cols, n_out)
        self.n_channels = check_int(n_channels, "n_channels", low=need, high=1 << 22, error=ValidationError)
        self.absorption = check_real(absorption, "absorption", low=0.0, high=1.0, high_inclusive=False, error=ValidationError)
        check_dense_size(self.n_channels, n_cols, "FilteredRandomMedium (the N x n_cols isometry)")
        self.seed = int(seed)
        rng = generator(self.seed, "medium", "filtered-random")
        q = haar_isometry(self.n_channels, n_cols, rng)
        #: T_physical = transmission_scale * T (T normalised to mean |T_ij|^2 = 1/n_in)
        self.transmission_scale = math.sqrt((1.0 - self.absorption) * n_in / self.n_channels)
        self.scale = 1.0 / self.transmission_scale
        self._state = q * math.sqrt(self.n_channels / n_in)  # (N, n_cols): rows 0:n_out are seen
        self.n_in, self.n_out, self.n_cols = n_in, n_out, n_cols
        self._set_split(split_layout(self._state[:n_out]), n_in)
        log.info("filtered random matrix: %d x %d of a %d-channel Haar unitary (M_in/N = %.3g)", n_out, n_in, self.n_channels, n_in / self.n_channels)

    @property
    def alpha(self) -> float:
        """M_in / N."""
        return self.n_in / self.n_channels

    @property
    def beta(self) -> float:
        """M_out / N."""
        return self.n_out / self.n_channels

    def unitary_factors(self) -> tuple[np.ndarray | None, np.ndarray]:
        """(A, Q) with T = A Q: A selects the n_out seen channels (given as None: the first
        n_out rows of Q), Q = U P_in (N x n_cols, scaled) is where a unitary drift acts."""
        return None, self._state

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            seed=self.seed,
            n_channels=self.n_channels,
            controlled_fraction=self.alpha,
            observed_fraction=self.beta,
            absorption=self.absorption,
            transmission_scale=self.transmission_scale,
        )
        return d
