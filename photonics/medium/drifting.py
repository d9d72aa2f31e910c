"""A medium that drifts with device time: an Ornstein-Uhlenbeck walk of the whole TM.

On a fixed time grid t_k = k dt the TM evolves as

    T_{k+1} = sqrt(1 - eps) T_k + sqrt(eps) G_{k+1},     eps = 1 - exp(-2 dt / tau)

with G_k independent innovations of the same statistics as T_0 (the wrapped medium) and
tau = ``decorrelation_time_s``. The second moments of T_k stay those of T_0
((1 - eps) + eps = 1) and

    corr(T_0, T_k) = (1 - eps)^(k/2) = exp(-t_k / tau):

the correlation between the matrix at 0 and at t decays as exp(-t/tau) on the grid; T is held
constant within a step (sample and hold), so between grid points the correlation is
exp(-floor(t/dt) dt / tau), never off by more than a factor exp(-dt/tau).

Determinism and cost (the design choice)
----------------------------------------
* Innovation k is a pure function of (seed, k): for models that can draw an independent
  copy of themselves (``realization(seed)``: Gaussian, speckle) G_k is that copy seeded
  ``derive_seed(seed, "drift", k)``, so the grain and every other spatial statistic of the
  model are preserved while it drifts; otherwise (multislice, measured TMs) G_k is i.i.d.
  circular Gaussian from the counter-based generator keyed by (seed, "drift", k), with each
  row's mean power taken from T_0 (the camera-plane intensity envelope is kept).
* T_k is computed by stepping forward from T_0 in float64, one step per grid point, the same
  operations in the same order whatever the query history, so the result for a time is the
  same bit for bit whether reached in one jump, step by step, or after going back in time.
* The device clock only moves forward: the state at the latest queried step is cached and
  the next acquisition chunk (the device chunks acquisitions by ``time_resolution_s`` = dt)
  costs one innovation per elapsed step. Going back in time restarts from T_0 (the front
  state is kept). Cost is therefore one dense matrix draw per step of elapsed device time:
  choose dt (``medium.drift_step_s``, default tau / 100) to match the time scale studied.

The wrapper is dense (T_k is a matrix in memory), for sizes up to the dense limit.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .. import kernels
from ..errors import ValidationError
from ..rng import derive_seed, stream_key
from ..validation import check_real
from .base import Medium, as_slice
from .dense import check_dense_size, split_layout
from .gaussian import GaussianMedium

log = logging.getLogger(__name__)

__all__ = ["DriftingMedium"]

#: Log a message when one query has to step through more than this many grid points.
_MANY_STEPS = 1000


class DriftingMedium(Medium):
    """Wraps any medium; its TM decorrelates with device time as exp(-t / tau).

    Parameters
    ----------
    base : Medium
        The medium at t = 0 (T_0) and the model of the innovations.
    decorrelation_time_s : float
        tau [s] of device time, > 0.
    seed : int
        Seed of the innovations (independent of the base medium's own seed).
    step_s : float, optional
        Grid step dt [s]; default tau / 100.

    Attributes
    ----------
    time_resolution_s : float
        dt: the device splits acquisitions into chunks of at most dt of device time.
    innovation_model : str
        ``"realization"`` (independent copies of the base model), ``"gaussian"`` (i.i.d.
        CN(0, 1/n_in), for a Gaussian base) or ``"gaussian-row-power"``.
    """

    is_static = False

    def __init__(self, base: Medium, decorrelation_time_s: float, seed: int, *, step_s: float | None = None):
        if not isinstance(base, Medium):
            raise ValidationError(f"base must be a photonics.medium.Medium (got {type(base).__name__})")
        if not base.is_static:
            raise ValidationError("base must be a static medium (wrap a medium in DriftingMedium once)")
        self.base = base
        self.n_in, self.n_out, self.n_cols = base.n_in, base.n_out, base.n_cols
        check_dense_size(self.n_out, self.n_cols, "DriftingMedium")
        self.tau_s = check_real(decorrelation_time_s, "decorrelation_time_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
        dt = self.tau_s / 100.0 if step_s is None else step_s
        self.step_s = check_real(dt, "step_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
        self.time_resolution_s = self.step_s
        self.seed = int(seed)
        self.a = math.exp(-self.step_s / self.tau_s)  # sqrt(1 - eps)
        self.eps = -math.expm1(-2.0 * self.step_s / self.tau_s)
        self.b = math.sqrt(self.eps)
        if hasattr(base, "realization"):
            self.innovation_model = "realization"
        elif isinstance(base, GaussianMedium):
            self.innovation_model = "gaussian"
        else:
            self.innovation_model = "gaussian-row-power"
        self._t0: np.ndarray | None = None
        self._row_sigma: np.ndarray | None = None
        self._states: dict[int, np.ndarray] = {}
        self._front = 0
        self._split_cache: tuple[int, np.ndarray] | None = None

    # -- time grid and state ------------------------------------------------------------------------
    def step_index(self, time_s: float) -> int:
        """Grid index k = floor(t / dt) of device time ``time_s`` (>= 0)."""
        t = float(time_s)
        if not (math.isfinite(t) and t >= 0):
            raise ValidationError(f"time_s must be a finite time >= 0 s (got {time_s!r})")
        return int(math.floor(t / self.step_s + 1e-9))

    def correlation(self, time_s: float) -> float:
        """Model correlation corr(T(0), T(t)) = exp(-floor(t/dt) dt / tau)."""
        return math.exp(-self.step_index(time_s) * self.step_s / self.tau_s)

    def _initial(self) -> np.ndarray:
        if self._t0 is None:
            self._t0 = self.base.matrix(None, slice(0, self.n_cols)).astype(np.complex128)
        return self._t0

    def innovation(self, k: int) -> np.ndarray:
        """G_k (n_out x n_cols, complex128): a pure function of (seed, k), k >= 1."""
        if self.innovation_model == "realization":
            med = self.base.realization(derive_seed(self.seed, "drift", str(k)))
            return med.matrix(None, slice(0, self.n_cols)).astype(np.complex128)
        key = np.uint64(stream_key(self.seed, "drift", str(k)))
        out = np.empty((self.n_cols, 2 * self.n_out), dtype=np.float32)
        kernels.gaussian_block_numba(key, 0, self.n_out, 0, self.n_cols, math.sqrt(0.5), out)
        g = (out[:, : self.n_out].astype(np.float64) + 1j * out[:, self.n_out :]).T
        if self.innovation_model == "gaussian":
            sigma = np.full(self.n_out, 1.0 / math.sqrt(self.n_in))
        else:
            if self._row_sigma is None:
                self._row_sigma = np.sqrt(np.mean(np.abs(self._initial()) ** 2, axis=1))
            sigma = self._row_sigma
        return g * sigma[:, None]

    def state(self, k: int) -> np.ndarray:
        """T_k (n_out x n_cols, complex128), stepped forward from the nearest cached state."""
        if k == 0:
            return self._initial()
        if k in self._states:
            return self._states[k]
        start = max((j for j in self._states if j < k), default=0)
        t = (self._initial() if start == 0 else self._states[start]).copy()
        if k - start > _MANY_STEPS:
            log.info("drifting medium: stepping %d grid points (dt = %g s) to reach t = %g s", k - start, self.step_s, k * self.step_s)
        for j in range(start + 1, k + 1):
            t *= self.a
            t += self.b * self.innovation(j)
        # keep the front (latest step) and this one
        self._front = max(self._front, k)
        keep = {self._front, k}
        self._states = {j: s for j, s in self._states.items() if j in keep}
        self._states[k] = t
        return t

    def _split(self, k: int) -> np.ndarray:
        if self._split_cache is None or self._split_cache[0] != k:
            self._split_cache = (k, split_layout(self.state(k)))
        return self._split_cache[1]

    # -- Medium interface ---------------------------------------------------------------------------
    def matrix(self, rows=None, cols=None, time_s: float = 0.0) -> np.ndarray:
        rows = as_slice(rows, self.n_out, "rows")
        cols = self._cols(cols)
        return self.state(self.step_index(time_s))[rows, cols].astype(np.complex64)

    def split_field(self, x, cols=None, rows=None, time_s: float = 0.0) -> np.ndarray:
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        self._check_x(x, cols)
        w = self._split(self.step_index(time_s))
        x = np.ascontiguousarray(x, dtype=np.float32)
        if rows.start == 0 and rows.stop == self.n_out:
            return x @ w[cols]
        blk = np.concatenate([w[cols, rows.start : rows.stop], w[cols, self.n_out + rows.start : self.n_out + rows.stop]], axis=1)
        return x @ blk

    def column_sum(self, cols, rows=None, time_s: float = 0.0) -> np.ndarray:
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        return self.state(self.step_index(time_s))[rows, cols].sum(axis=1)

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            drifting=True,
            decorrelation_time_s=self.tau_s,
            drift_step_s=self.step_s,
            innovation_model=self.innovation_model,
            drift_seed=self.seed,
            base=self.base.describe(),
        )
        return d
