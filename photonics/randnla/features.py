"""``OpticalRandomFeatures``: an sklearn-compatible transformer computing |T x|^2 on the OPU.

The native projection of the OPU is a nonlinear random feature map. For a binary DMD frame x
(n_in modes) and camera pixel i,

    phi_i(x) = g_i |T_i x|^2  (+ noise on a real camera),   T_ij ~ CN(0, 1/n_in) i.i.d.,

with g_i the pixel's DN per unit |field|^2 (``OPU.pixel_gain_dn_per_field2() * alpha^2``).
Averaged over pixels it estimates the kernel (Gaussian fourth moment, real x and y)

    E_T[phi_i(x) phi_i(y)] = g_i^2 (|x|^2 |y|^2 + (x . y)^2) / n_in^2,

a degree-2 polynomial kernel, so a linear model on these features is a kernel method
(Saade et al. 2016). Real inputs are first written on the DMD:

* ``encoding="threshold"``: mirror j ON where x_j > threshold_j (per-feature training mean,
  or the scalar ``threshold``): 1 frame per sample;
* ``encoding="bitplane"``: ``n_bits`` bit planes over the training range (+ 1 offset frame
  when the range does not start at 0), combined as sum_k 2^k step |T b_k|^2 + x_min |T 1|^2
  ("separated bit planes": not |T x|^2, a different feature map): n_bits (+1) frames;
* ``encoding="binary"``: inputs already in {0, 1}.

The features are DN above the black level, float64 (a ``StandardScaler`` after it in a
``Pipeline`` is usually wise). Every :meth:`transform` is a new acquisition: on a noisy
device two calls on the same data differ by the camera noise (the device's frame counter
moves on); on the ``ideal`` preset they are identical. sklearn is never imported by this
module except inside ``__sklearn_tags__``, which only sklearn calls.
"""

from __future__ import annotations

import inspect
import logging
import math

import numpy as np

from ..device import OPU
from ..encoding import BitPlaneEncoder
from ..errors import DTypeError, ShapeError, ValidationError
from ..rng import check_seed
from ..validation import as_binary_frames, as_float_array, check_choice, check_int, check_real
from .optics import MAX_BITS, sized_config

log = logging.getLogger(__name__)

__all__ = ["OpticalRandomFeatures"]

ENCODINGS = ("threshold", "bitplane", "binary")


class OpticalRandomFeatures:
    """Random features |T x|^2 measured on a simulated OPU (sklearn transformer API).

    Parameters
    ----------
    n_components : int
        Number of features = camera pixels (n_out of the device).
    device : str, path or DeviceConfig
        Device the OPU is built from at :meth:`fit` (resized to n_in = n_features,
        n_out = n_components; see :func:`photonics.randnla.optics.sized_config`).
    seed : int
        Seed of the OPU (medium, camera fixed patterns and noise).
    encoding : {"threshold", "bitplane", "binary"}
        How real inputs become binary DMD frames (see module docstring).
    threshold : float, optional
        Scalar threshold for ``encoding="threshold"``; None: the per-feature mean of the
        training data.
    n_bits : int
        Bit planes for ``encoding="bitplane"``, 1..32.
    progress : bool
        Show the device's progress bar for large batches.

    Attributes
    ----------
    n_features_in_ : int
    thresholds_ : ndarray (n_features_in_,)   (threshold encoding)
    x_min_, x_max_ : float                    (bitplane encoding)
    opu_ : OPU
        The device the features are measured on.
    frames_used_, device_time_s_ : int, float
        Camera frames and device time spent so far by :meth:`transform` [s].

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import RidgeClassifier
    >>> clf = make_pipeline(OpticalRandomFeatures(2000, device="lab-cmos"), StandardScaler(), RidgeClassifier())
    >>> clf.fit(X_train, y_train).score(X_test, y_test)
    """

    def __init__(
        self,
        n_components: int = 256,
        *,
        device="ideal",
        seed: int = 0,
        encoding: str = "threshold",
        threshold: float | None = None,
        n_bits: int = 8,
        progress: bool = False,
    ):
        self.n_components = n_components
        self.device = device
        self.seed = seed
        self.encoding = encoding
        self.threshold = threshold
        self.n_bits = n_bits
        self.progress = progress

    # ---- sklearn parameter protocol ----------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters (sklearn protocol; there are no nested estimators)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> "OpticalRandomFeatures":
        """Set constructor parameters (sklearn protocol); takes effect at the next :meth:`fit`."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValidationError(f"invalid parameter {key!r} for OpticalRandomFeatures; valid parameters: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={getattr(self, k)!r}" for k in self._get_param_names() if not _same(getattr(self, k), defaults.get(k))]
        return f"OpticalRandomFeatures({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64"]),
            input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False),
            requires_fit=True,
            non_deterministic=not self._noise_free(),
        )

    def _noise_free(self) -> bool:
        """True when the device's camera draws no temporal noise (transform is repeatable)."""
        try:
            cam = sized_config(self.device, 1, 1).camera
        except Exception:  # an invalid device is reported by fit, not by the tags
            return False
        return (not cam.shot_noise) and cam.read_noise_e == 0

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "opu_")

    # ---- validation --------------------------------------------------------------------------
    def _checked_params(self) -> dict:
        return {
            "n_components": check_int(self.n_components, "n_components", low=1, error=ValidationError),
            "seed": check_seed(self.seed),
            "encoding": check_choice(self.encoding, "encoding", ENCODINGS, error=ValidationError),
            "threshold": None if self.threshold is None else check_real(self.threshold, "threshold", error=ValidationError),
            "n_bits": check_int(self.n_bits, "n_bits", low=1, high=MAX_BITS, error=ValidationError),
        }

    @staticmethod
    def _check_x(x) -> np.ndarray:
        """2-D, non-empty, real numeric X (messages follow sklearn's wording where it checks them)."""
        if _is_sparse(x):
            raise ValidationError("X must be a dense array: sparse input is not supported by OpticalRandomFeatures")
        arr = np.asarray(x)
        if arr.dtype == object:
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise DTypeError(f"X must hold numbers only ({exc})") from None
        if np.iscomplexobj(arr):
            raise _ComplexInput(f"Complex data not supported: X must be real-valued (got dtype {arr.dtype})")
        if arr.ndim != 2:
            raise ShapeError(
                f"X must be a 2-D array (n_samples, n_features) (got shape {arr.shape}). "
                "Reshape your data with X.reshape(1, -1) if it is a single sample"
            )
        if arr.shape[0] < 1:
            raise ShapeError(f"X has 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
        if arr.shape[1] < 1:
            raise ShapeError(f"X has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
        return arr

    # ---- fit / transform ----------------------------------------------------------------------
    def fit(self, X, y=None) -> "OpticalRandomFeatures":
        """Learn the encoding from X (n_samples, n_features) and build the OPU (no frames used)."""
        p = self._checked_params()
        x = self._check_x(X)
        n_features = x.shape[1]
        if p["encoding"] == "binary":
            as_binary_frames(x, "X", n_features)
        else:
            xf = as_float_array(x, "X", dtype=np.float64)
            if p["encoding"] == "threshold":
                self.thresholds_ = np.full(n_features, p["threshold"]) if p["threshold"] is not None else xf.mean(axis=0)
            else:
                lo, hi = float(xf.min()), float(xf.max())
                self.x_min_, self.x_max_ = lo, (hi if hi > lo else lo + 1.0)
        self.n_features_in_ = n_features
        self.opu_ = OPU(sized_config(self.device, n_features, p["n_components"]), seed=p["seed"], progress=bool(self.progress))
        self._frames0 = self.opu_.frames_used
        self._time0 = self.opu_.device_time_s
        log.info("OpticalRandomFeatures: %s, %d features -> %d components", self.opu_.config.name, n_features, p["n_components"])
        return self

    def transform(self, X) -> np.ndarray:
        """Features (n_samples, n_components) float64, DN above black level (one acquisition)."""
        if not self.__sklearn_is_fitted__():
            raise _NotFitted(
                "This OpticalRandomFeatures instance is not fitted yet. Call 'fit' with appropriate arguments before using this estimator."
            )
        x = self._check_x(X)
        if x.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"X has {x.shape[1]} features, but OpticalRandomFeatures is expecting {self.n_features_in_} features as input."
            )
        enc = self.encoding
        if enc == "binary":
            frames = as_binary_frames(x, "X", self.n_features_in_)
            y = self.opu_.project(frames)
        elif enc == "threshold":
            xf = as_float_array(x, "X", dtype=np.float64)
            y = self.opu_.project((xf > self.thresholds_).astype(np.uint8))
        else:
            xf = as_float_array(x, "X", dtype=np.float64)
            encoder = BitPlaneEncoder(int(self.n_bits), x_min=self.x_min_, x_max=self.x_max_)
            y = self.opu_.project(xf, encoder=encoder)
        return np.asarray(y, dtype=np.float64).reshape(x.shape[0], -1)

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output feature names ``opticalrandomfeatures0`` ... (sklearn convention)."""
        if not self.__sklearn_is_fitted__():
            raise _NotFitted("This OpticalRandomFeatures instance is not fitted yet. Call 'fit' first.")
        return np.asarray([f"opticalrandomfeatures{i}" for i in range(self.opu_.n_out)], dtype=object)

    # ---- accounting -------------------------------------------------------------------------
    @property
    def frames_used_(self) -> int:
        """Camera frames acquired by :meth:`transform` since :meth:`fit`."""
        return self.opu_.frames_used - self._frames0

    @property
    def device_time_s_(self) -> float:
        """Device time spent by :meth:`transform` since :meth:`fit` [s]."""
        return self.opu_.device_time_s - self._time0

    def frames_per_sample(self) -> int:
        """Camera frames one sample costs: 1 (threshold, binary) or n_bits (+1 offset frame)."""
        if self.encoding != "bitplane":
            return 1
        return int(self.n_bits) + (1 if self.x_min_ != 0.0 else 0)

    # ---- pickling: rebuild the device from config + seed + state, never pickle the TM --------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        opu = state.pop("opu_", None)
        if opu is not None:
            state["_opu_state"] = (opu.config.to_json(), opu.seed, opu.state_dict(), opu.progress)
        return state

    def __setstate__(self, state: dict) -> None:
        from ..config import DeviceConfig

        saved = state.pop("_opu_state", None)
        self.__dict__.update(state)
        if saved is not None:
            cfg_json, seed, dev_state, progress = saved
            opu = OPU(DeviceConfig.from_json(cfg_json), seed=seed, progress=progress)
            opu.load_state_dict(dev_state)
            self.opu_ = opu


class _ComplexInput(DTypeError, ValueError):
    """Complex X: a DTypeError that is also a ValueError (what sklearn expects)."""


class _NotFitted(ValidationError, AttributeError):
    """Raised before fit (also an AttributeError, as sklearn's NotFittedError is)."""


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # pragma: no cover - exotic parameter values
        return False


def _is_sparse(x) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(x)
