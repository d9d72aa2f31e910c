"""A medium that drifts with device time, keeping its class: an Ornstein-Uhlenbeck walk of an
i.i.d. TM, a random unitary walk of a quasi-unitary one.

On a fixed time grid t_k = k dt (dt = ``step_s``, tau = ``decorrelation_time_s``) the TM evolves
by one of two models, both with

    E[T_k] = exp(-t_k / tau) T_0,   so   corr(T_0, T_k) = exp(-t_k / tau)

(T is held constant within a step: between grid points the correlation is
exp(-floor(t/dt) dt / tau), never off by more than a factor exp(-dt/tau)).

Gaussian innovations (i.i.d. media: Gaussian, speckle, multislice, i.i.d.-like measured TMs)::

    T_{k+1} = sqrt(1 - eps) T_k + sqrt(eps) G_{k+1},     eps = 1 - exp(-2 dt / tau),

G_k independent innovations of the statistics of T_0: for models that can draw an independent
copy of themselves (``realization(seed)``: Gaussian, speckle) a copy seeded
``derive_seed(seed, "drift", k)`` (the grain and every other spatial statistic survive);
otherwise i.i.d. circular Gaussian from the counter-based generator keyed by
(seed, "drift", k) with each row's mean power taken from T_0. The second moments stay those
of T_0, but the spectrum relaxes to Marchenko-Pastur: right for an i.i.d. medium, wrong for a
fiber (a unitary TM would turn into an ill-conditioned one).

Unitary walk (quasi-unitary media: filtered random matrix, multimode fiber, measured TMs that
are not i.i.d.). The medium factors as T = A Q with Q (N x n_cols) the field on the medium's N
internal channels (the Haar isometry of a filtered random matrix, U P_in of a fiber, Sigma V^H
of a measured TM's SVD) and A the fixed map to the outputs. Drift multiplies Q by a random
unitary W_k on those channels::

    Q_{k+1} = W_{k+1} Q_k,     T_k = A Q_k,

W_k = a product of disjoint 2 x 2 rotations [[c, -s e^{-i phi}], [s e^{i phi}, c]] on a random
pairing of the channels (a channel left over gets the phase e^{+-i theta}, sign random),
c = cos theta = exp(-dt / tau), phi uniform: E[W_k] = c I, hence E[T_k] = c^k T_0. The walk
never leaves the unitary group, so the singular values of U P_in, and those of T when A is an
isometry, are those of T_0 at every correlation: the medium stays quasi-unitary. A fiber pairs
modes within their degenerate group only (slow deformations mix a group, not across groups),
so a weakly coupled fiber stays block-diagonal by group while it decorrelates.

Determinism and cost (the design choice)
----------------------------------------
* Step k is a pure function of (seed, k) (innovation G_k, or the pairing and angles of W_k).
* T_k is computed by stepping forward from T_0 (or Q_0) in float64, one step per grid point,
  the same operations in the same order whatever the query history, so the result for a time
  is the same bit for bit whether reached in one jump, step by step, or after going back in
  time.
* The device clock only moves forward: the state at the latest queried step is cached and
  the next acquisition chunk (the device chunks acquisitions by ``time_resolution_s`` = dt)
  costs one step per elapsed grid point. Going back in time restarts from the initial state
  (the front state is kept). A Gaussian step costs one dense matrix draw, a unitary step
  O(N n_cols): choose dt (``medium.drift_step_s``, default tau / 100) to match the time scale
  studied.

The wrapper is dense (T_k is a matrix in memory), for sizes up to the dense limit.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .. import kernels
from ..errors import ValidationError
from ..rng import derive_seed, generator, stream_key
from ..validation import check_choice, check_real
from .base import Medium, as_slice
from .dense import check_dense_size, split_layout
from .gaussian import GaussianMedium

log = logging.getLogger(__name__)

__all__ = ["DriftingMedium", "DRIFT_MODELS", "unitary_walk_step"]

#: Drift models: "auto" picks "unitary" for media that factor as A Q (``unitary_factors``) and
#: prefer it (``prefers_unitary_drift``, default True), "gaussian" otherwise.
DRIFT_MODELS = ("auto", "gaussian", "unitary")

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
    model : str
        ``"auto"`` (default), ``"gaussian"`` or ``"unitary"`` (see the module docstring); a
        unitary drift needs a base with ``unitary_factors()``.

    Attributes
    ----------
    time_resolution_s : float
        dt: the device splits acquisitions into chunks of at most dt of device time.
    innovation_model : str
        ``"realization"`` (independent copies of the base model), ``"gaussian"`` (i.i.d.
        CN(0, 1/n_in), for a Gaussian base), ``"gaussian-row-power"`` or ``"unitary"``.
    """

    is_static = False

    def __init__(self, base: Medium, decorrelation_time_s: float, seed: int, *, step_s: float | None = None, model: str = "auto"):
        if not isinstance(base, Medium):
            raise ValidationError(f"base must be a photonics.medium.Medium (got {type(base).__name__})")
        if not base.is_static:
            raise ValidationError("base must be a static medium (wrap a medium in DriftingMedium once)")
        self.base = base
        self.recorded_constant_field = getattr(base, "recorded_constant_field", None)  # static: not drifted
        self.output_basis = getattr(base, "output_basis", "pixels")
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
        model = check_choice(model, "model", DRIFT_MODELS, error=ValidationError)
        factored = hasattr(base, "unitary_factors")
        if model == "unitary" and not factored:
            raise ValidationError(f"a unitary drift needs a medium that factors as A Q (unitary_factors); {type(base).__name__} does not")
        self._left: np.ndarray | None = None
        self._q0: np.ndarray | None = None
        self._groups: np.ndarray | None = None
        if model == "unitary" or (model == "auto" and factored and getattr(base, "prefers_unitary_drift", True)):
            self.innovation_model = "unitary"
        elif hasattr(base, "realization"):
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

    def _initial_state(self) -> np.ndarray:
        """The walked state at step 0: T_0 (Gaussian models) or Q_0 (unitary walk)."""
        if self.innovation_model != "unitary":
            return self._initial()
        if self._q0 is None:
            left, q = self.base.unitary_factors()
            self._left = None if left is None else np.asarray(left, dtype=np.complex128)
            self._q0 = np.array(q, dtype=np.complex128)
            groups = getattr(self.base, "drift_groups", None)
            self._groups = np.asarray(groups()) if callable(groups) else None
        return self._q0

    def _view(self, state: np.ndarray) -> np.ndarray:
        """T_k from the walked state (identity for the Gaussian models)."""
        if self.innovation_model != "unitary":
            return state
        if self._left is None:
            return state[: self.n_out]
        return self._left @ state

    def unitary_step(self, k: int, q: np.ndarray) -> None:
        """Apply W_k to the channel state q (N x n_cols) in place (a pure function of (seed, k))."""
        unitary_walk_step(q, self.a, generator(self.seed, "drift", "unitary", str(k)), self._groups)

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
            return self._view(self._initial_state())
        if k in self._states:
            return self._view(self._states[k])
        start = max((j for j in self._states if j < k), default=0)
        t = (self._initial_state() if start == 0 else self._states[start]).copy()
        if k - start > _MANY_STEPS:
            log.info("drifting medium: stepping %d grid points (dt = %g s) to reach t = %g s", k - start, self.step_s, k * self.step_s)
        if self.innovation_model == "unitary":
            for j in range(start + 1, k + 1):
                self.unitary_step(j, t)
        else:
            for j in range(start + 1, k + 1):
                t *= self.a
                t += self.b * self.innovation(j)
        # keep the front (latest step) and this one
        self._front = max(self._front, k)
        keep = {self._front, k}
        self._states = {j: s for j, s in self._states.items() if j in keep}
        self._states[k] = t
        return self._view(t)

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


def unitary_walk_step(q: np.ndarray, c: float, rng: np.random.Generator, groups: np.ndarray | None = None) -> None:
    """One step of the random unitary walk on the rows (channels) of q, in place.

    Channels are paired at random (within each label of ``groups`` when given); each pair
    (p, r) is rotated by [[c, -s e^{-i phi}], [s e^{i phi}, c]] (s = sqrt(1 - c^2), phi uniform
    in [0, 2 pi)), a channel left over is multiplied by e^{+-i theta} (cos theta = c, sign
    random). The step is unitary and E[W] = c I.

    Parameters
    ----------
    q : ndarray (N, m), complex128
        Channel state, modified in place.
    c : float
        cos theta in (0, 1].
    rng : numpy Generator
        Source of the pairing, phases and signs.
    groups : ndarray of labels (N,), optional
        Channels pair only with channels of the same label.
    """
    n = q.shape[0]
    if groups is None:
        blocks = [rng.permutation(n)]
    else:
        blocks = [np.flatnonzero(groups == g)[rng.permutation(int(np.count_nonzero(groups == g)))] for g in np.unique(groups)]
    firsts, seconds, singles = [], [], []
    for b in blocks:
        m2 = (b.size // 2) * 2
        firsts.append(b[0:m2:2])
        seconds.append(b[1:m2:2])
        if b.size % 2:
            singles.append(b[-1:])
    p = np.concatenate(firsts) if firsts else np.empty(0, dtype=np.int64)
    r = np.concatenate(seconds) if seconds else np.empty(0, dtype=np.int64)
    s = math.sqrt(max(0.0, 1.0 - c * c))
    phi = rng.uniform(0.0, 2.0 * math.pi, p.size)
    e = np.exp(1j * phi)[:, None]
    qp, qr = q[p], q[r]
    q[p] = c * qp - s * np.conj(e) * qr
    q[r] = s * e * qp + c * qr
    if singles:
        one = np.concatenate(singles)
        sign = np.where(rng.random(one.size) < 0.5, -1.0, 1.0)
        q[one] *= np.exp(1j * sign * math.acos(min(1.0, c)))[:, None]
