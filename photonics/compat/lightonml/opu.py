"""The lightonml-shaped ``OPU`` class, backed by a simulated :class:`photonics.OPU`.

``transform`` is the device's native projection and ``linear_transform`` its reference-based
linear projection (DESIGN section 5). For binary frames x (n_features) sent to the first
n_features input modes (the other modes OFF) and camera pixel i < n_components:

    transform(x)_i        = G_i s |alpha (T x)_i + c_i|^2 + dark + noise          [DN]
    linear_transform(x)_i = (B x)_i + noise,  then / (sigma_B sqrt(n_features))   (variance)
                                                  / (sigma_B sqrt(n_components))  (norm)

with T the medium's transmission matrix, G_i s the pixel's DN per unit |field|^2, c the
leaking OFF mirrors, B the effective linear matrix (``photonics.OPU.linear``) and sigma_B the
standard deviation of its entries, *measured* with random probes (see
:meth:`OPU.linear_stdev`). Every frame is accounted: :attr:`OPU.frames_used`,
:attr:`OPU.device_time_s`, and each result's ``context``.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from ... import __version__ as _photonics_version
from ...config import DeviceConfig
from ...device import OPU as PhotonicsOPU
from ...errors import DTypeError, ShapeError, ValidationError
from ...randnla.optics import sized_config
from ...rng import check_seed, generator
from ...validation import check_int
from ._arrays import is_tensor, like_input, to_numpy
from .context import Context, ContextArray
from .encoding.base import NoDecoding, NoEncoding
from .types import FeaturesFormat, InputRoiStrategy, OutputRescaling
from .verbosity import set_verbose_level

log = logging.getLogger(__name__)

__all__ = ["OPU", "InputTraits", "flatten_overrides"]


@dataclass(frozen=True)
class InputTraits:
    """What ``fit1d`` / ``fit2d`` fixed: the feature shape and whether inputs are bit-packed."""

    n_features: tuple
    packed: bool = False
    online: bool = False

    @property
    def n_features_s(self) -> int:
        """Number of features as one integer (h w for 2-D features)."""
        return int(np.prod(self.n_features))

    @property
    def is_2d(self) -> bool:
        return len(self.n_features) == 2


@dataclass(frozen=True)
class LinearStdev:
    """Measured standard deviation of the linear matrix entries and its standard error [sqrt(DN)]."""

    value: float
    standard_error: float
    n_probes: int
    frames: int


def flatten_overrides(overrides, prefix: str = "") -> dict:
    """Nested ``{"camera": {"read_noise_e": 2}}`` -> dotted ``{"camera.read_noise_e": 2}``."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ValidationError(f"config_override must be a dict of device settings (got {type(overrides).__name__})")
    out = {}
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_overrides(value, f"{path}."))
        else:
            out[path] = value
    return out


def _as_rescale(value) -> OutputRescaling:
    if isinstance(value, OutputRescaling):
        return value
    if isinstance(value, str) and value.lower() in OutputRescaling.__members__:
        return OutputRescaling[value.lower()]
    allowed = ", ".join(repr(m) for m in OutputRescaling.__members__)
    raise ValidationError(f"rescale must be an OutputRescaling or one of {allowed} (got {value!r})")


class OPU:
    """A simulated OPU with lightonml's interface.

    .. math:: y = |R x|^2 \\; (\\text{transform}), \\qquad y = R x \\; (\\text{linear\\_transform})

    Parameters
    ----------
    n_components : int
        Output dimension (camera pixels used), >= 1. lightonml's default, 200,000, makes a
        large simulated device: pass the size you need.
    opu_device : photonics.OPU, optional
        Run on this existing device: features use its first input modes and outputs its first
        ``n_components`` pixels (an output region of interest), so ``n_components`` and
        ``max_n_features`` must fit in it. Conflicts with ``simulated=True`` as in lightonml.
    max_n_features : int
        Input modes of the device built here (>= the features of every fit), default 1000.
    config_file : str, optional
        A device TOML file (``photonics.DeviceConfig.from_toml``); overrides ``device``.
    config_override : dict, optional
        Device settings to change, nested (``{"camera": {"read_noise_e": 2}}``) or dotted
        (``{"camera.read_noise_e": 2}``).
    verbose_level : int
        Deprecated in lightonml; if given (>= 0), calls :func:`set_verbose_level`.
    input_roi_strategy : InputRoiStrategy
        Accepted and stored; not modelled (feature j always drives input mode j).
    open_at_init : bool, optional
        Open at construction (default True). A closed OPU refuses to transform.
    disable_pbar : bool
        Hide the device's progress bar for large acquisitions.
    simulated : bool
        Accepted for compatibility: this OPU is always simulated.
    rescale : OutputRescaling or str
        Scaling of :meth:`linear_transform` (``"variance"``, ``"norm"``, ``"none"``);
        :meth:`transform` is never rescaled.
    device : str, path or DeviceConfig
        Keyword only (not in lightonml): the device preset name (``"lab-cmos"``,
        ``"ideal"``, ...), TOML path or config, resized to ``max_n_features`` x
        ``n_components`` with each pixel's photon budget kept (see
        :func:`photonics.randnla.optics.sized_config`).
    seed : int
        Keyword only: seed of the device (medium, pixel maps, noise) and of the rescale probes.
        Same seed, same calls -> same outputs.
    n_rescale_probes : int
        Keyword only: probe pairs of the sigma_B measurement (each costs 4 linear inputs).

    Attributes
    ----------
    device : photonics.OPU
        The simulated device (built on first use).
    frames_used, device_time_s : int, float
        Camera frames and simulated device time spent so far [s] (all devices this object
        has used, if ``n_components`` or ``max_n_features`` changed).

    Examples
    --------
    >>> from photonics.compat.lightonml import OPU
    >>> opu = OPU(n_components=2000, max_n_features=784, device="lab-cmos", seed=0)
    >>> opu.fit1d(x_binary)
    >>> y = opu.transform(x_binary)     # (n_samples, 2000) float32 DN, y.context has the frames
    """

    def __init__(
        self,
        n_components: int = 200000,
        opu_device: PhotonicsOPU | None = None,
        max_n_features: int = 1000,
        config_file: str = "",
        config_override: dict | None = None,
        verbose_level: int = -1,
        input_roi_strategy: InputRoiStrategy = InputRoiStrategy.full,
        open_at_init: bool | None = None,
        disable_pbar: bool = False,
        simulated: bool = False,
        rescale: OutputRescaling | str = OutputRescaling.variance,
        *,
        device="lab-cmos",
        seed: int = 0,
        n_rescale_probes: int = 16,
    ):
        if simulated and opu_device is not None:
            raise ValidationError("simulated=True and opu_device are conflicting arguments (as in lightonml)")
        if verbose_level != -1:
            warnings.warn("verbose_level is deprecated in lightonml; use set_verbose_level()", DeprecationWarning, stacklevel=2)
            set_verbose_level(verbose_level)
        if not isinstance(input_roi_strategy, InputRoiStrategy):
            raise ValidationError(f"input_roi_strategy must be an InputRoiStrategy (got {input_roi_strategy!r})")
        self.seed = check_seed(seed)
        self.n_rescale_probes = check_int(n_rescale_probes, "n_rescale_probes", low=2, high=1 << 16, error=ValidationError)
        self.input_roi_strategy = input_roi_strategy
        self.disable_pbar = bool(disable_pbar)
        self.simulated = True
        self.rescale = rescale
        self._frames_retired = 0
        self._time_retired = 0.0
        self._stdev: LinearStdev | None = None
        self._traits: InputTraits | None = None
        self._device: PhotonicsOPU | None = None
        if opu_device is not None:
            if not isinstance(opu_device, PhotonicsOPU):
                raise ValidationError(f"opu_device must be a photonics.OPU (got {type(opu_device).__name__})")
            if config_file or config_override:
                raise ValidationError("config_file / config_override cannot change an existing opu_device; configure it when you build it")
            self._external = True
            self._device = opu_device
            self._base_config = opu_device.config
        else:
            self._external = False
            spec = config_file if config_file else device
            if isinstance(spec, (str, os.PathLike)) and not str(spec):
                raise ValidationError("device must be a preset name, a TOML path or a DeviceConfig (got an empty string)")
            base = DeviceConfig.resolve(spec)
            over = flatten_overrides(config_override)
            self._base_config = base.replace(over) if over else base
        self._max_n_features = self._check_size(max_n_features, "max_n_features", "n_in")
        self._n_components = self._check_size(n_components, "n_components", "n_out")
        self._active = False
        if open_at_init is None or open_at_init:
            self.open()

    # ---- sizes -----------------------------------------------------------------------------------
    def _check_size(self, value, name: str, attr: str) -> int:
        v = check_int(value, name, low=1, error=ValidationError)
        if self._external and v > getattr(self._device, attr):
            raise ShapeError(f"{name}={v} does not fit the opu_device, whose {attr} is {getattr(self._device, attr)}")
        return v

    def _retire_device(self) -> None:
        if self._device is not None and not self._external:
            self._frames_retired += self._device.frames_used
            self._time_retired += self._device.device_time_s
            self._device = None
        self._stdev = None

    @property
    def n_components(self) -> int:
        """Output dimension (camera pixels used)."""
        return self._n_components

    @n_components.setter
    def n_components(self, value: int) -> None:
        v = self._check_size(value, "n_components", "n_out")
        if v != self._n_components:
            self._retire_device()
            self._n_components = v

    @property
    def max_n_features(self) -> int:
        """Input modes available to the features."""
        return self._max_n_features

    @max_n_features.setter
    def max_n_features(self, value: int) -> None:
        v = self._check_size(value, "max_n_features", "n_in")
        if self._traits is not None and self._traits.n_features_s > v:
            log.info("max_n_features=%d is below the %d features of the last fit: fit again", v, self._traits.n_features_s)
            self._traits = None
        if v != self._max_n_features:
            self._retire_device()
            self._max_n_features = v

    @property
    def max_n_components(self) -> int | None:
        """Largest n_components: the opu_device's pixels, or None (any size is simulated)."""
        return self._device.n_out if self._external else None

    @property
    def rescale(self) -> OutputRescaling:
        """Output rescaling of :meth:`linear_transform`."""
        return self._rescale

    @rescale.setter
    def rescale(self, value) -> None:
        self._rescale = _as_rescale(value)

    @property
    def config(self) -> DeviceConfig:
        """The device configuration (sized max_n_features x n_components unless opu_device was given)."""
        if self._external:
            return self._device.config
        return sized_config(self._base_config, self._max_n_features, self._n_components)

    @property
    def device(self) -> PhotonicsOPU:
        """The simulated :class:`photonics.OPU` (built on first access)."""
        if self._device is None:
            cfg = self.config
            log.info("building the simulated OPU %r: %d input modes -> %d pixels, seed %d", cfg.name, cfg.n_in, cfg.n_out, self.seed)
            self._device = PhotonicsOPU(cfg, seed=self.seed, progress=not self.disable_pbar)
        return self._device

    @property
    def frames_used(self) -> int:
        """Camera frames acquired so far (calibration and rescale probes included)."""
        return self._frames_retired + (self._device.frames_used if self._device is not None else 0)

    @property
    def device_time_s(self) -> float:
        """Simulated device time spent so far: frames x frame period [s]."""
        return self._time_retired + (self._device.device_time_s if self._device is not None else 0.0)

    # ---- open / close --------------------------------------------------------------------------
    def open(self) -> None:
        """Acquire the (simulated) device; transforms need an open OPU."""
        self._active = True

    def close(self) -> None:
        """Release the device; the OPU keeps its state and can be opened again."""
        self._active = False

    @property
    def active(self) -> bool:
        """True while open."""
        return self._active

    def __enter__(self) -> "OPU":
        self._was_active = self._active
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        if not getattr(self, "_was_active", False):
            self.close()

    # ---- fit ---------------------------------------------------------------------------------------
    def fit1d(self, X=None, n_features: int | None = None, packed: bool = False, online: bool = False, **override) -> None:
        """Configure the transform for 1-D feature vectors, from X or from ``n_features``.

        Parameters
        ----------
        X : array or tensor, optional
            A vector (n_features,) or batch (..., n_features) of the data to transform;
            bit-packed (``np.packbits`` along the last axis) when ``packed``.
        n_features : int, optional
            Number of features when X is not given (or the exact count for packed X, which
            otherwise is 8 x its last dimension).
        packed : bool
            Inputs are bit-packed uint8.
        online : bool
            Accepted for compatibility (single vectors are always allowed); no effect.
        **override
            lightonml's hardware transform settings: not modelled, refused.
        """
        self._fit(X, n_features, packed, online, two_d=False, override=override)

    def fit2d(self, X=None, n_features: tuple | None = None, packed: bool = False, online: bool = False, **override) -> None:
        """Configure the transform for 2-D feature arrays (h, w), from X or ``n_features``.

        2-D features are flattened row-major onto the first h w input modes. With ``packed``
        each input is a 1-D packed array and ``n_features`` = (h, w) is required.
        """
        self._fit(X, n_features, packed, online, two_d=True, override=override)

    def _fit(self, X, n_features, packed, online, *, two_d: bool, override: dict) -> None:
        if override:
            raise ValidationError(
                f"transform setting override(s) {', '.join(sorted(override))} are hardware-specific and not modelled by the simulated OPU"
            )
        packed = bool(packed)
        if X is not None:
            arr = to_numpy(X)[0]
            if two_d and not packed:
                if arr.ndim not in (2, 3, 4):
                    raise ShapeError(f"X for fit2d must be (h, w) or a batch (..., h, w) (got shape {arr.shape})")
                if n_features is not None and tuple(n_features) != arr.shape[-2:]:
                    raise ShapeError(f"n_features={tuple(n_features)} does not match X's feature shape {arr.shape[-2:]}")
                nf = tuple(int(v) for v in arr.shape[-2:])
            elif two_d:
                if n_features is None:
                    raise ValidationError("fit2d with packed input needs n_features=(h, w)")
                nf = self._feature_shape(n_features, two_d)
            else:
                if arr.ndim not in (1, 2, 3):
                    raise ShapeError(f"X for fit1d must be (n_features,) or a batch (..., n_features) (got shape {arr.shape})")
                if packed:
                    nf = (8 * arr.shape[-1],) if n_features is None else self._feature_shape(n_features, two_d)
                    if nf[0] > 8 * arr.shape[-1]:
                        raise ShapeError(f"n_features={nf[0]} exceeds the {8 * arr.shape[-1]} bits of the packed X")
                else:
                    nf = (int(arr.shape[-1]),)
                    if n_features is not None and int(n_features) != nf[0]:
                        raise ShapeError(f"n_features={n_features} does not match X's {nf[0]} features")
        elif n_features is None:
            raise ValidationError("give either X or n_features to fit1d / fit2d")
        else:
            nf = self._feature_shape(n_features, two_d)
        traits = InputTraits(nf, packed, bool(online))
        if traits.n_features_s < 1:
            raise ShapeError(f"the input must have at least one feature (got feature shape {nf})")
        if traits.n_features_s > self._max_n_features:
            raise ShapeError(
                f"{traits.n_features_s} features exceed max_n_features={self._max_n_features}; "
                f"create the OPU with max_n_features >= {traits.n_features_s}"
            )
        self._traits = traits
        log.debug("fit: features %s, packed=%s", nf, packed)

    @staticmethod
    def _feature_shape(n_features, two_d: bool) -> tuple:
        if two_d:
            if not isinstance(n_features, (tuple, list, np.ndarray)) or len(n_features) != 2:
                raise ValidationError(f"n_features for fit2d must be a pair (h, w) (got {n_features!r})")
            return tuple(check_int(int(v) if isinstance(v, np.integer) else v, "n_features", low=1, error=ValidationError) for v in n_features)
        return (check_int(int(n_features) if isinstance(n_features, np.integer) else n_features, "n_features", low=1, error=ValidationError),)

    # ---- transforms ----------------------------------------------------------------------------
    def transform(self, X, encoder_cls=NoEncoding, decoder_cls=NoDecoding):
        """Nonlinear random projection |R x|^2 of a vector or batch (the device's native op).

        Parameters
        ----------
        X : array or tensor
            Binary input (after ``encoder_cls``), shaped as fitted: (n_features,) or
            (..., n_features); 2-D features (h, w) or (..., h, w).
        encoder_cls, decoder_cls : class or instance
            Encoder applied to X first, decoder applied to the output (a decoder class is
            built with the encoder's ``get_params()`` when it has one).

        Returns
        -------
        ContextArray float32 (..., n_components), or a torch tensor if the encoded input
            was a tensor. Values are DN above the camera's black level:
            G_i s |alpha (T x)_i + c_i|^2 + dark signal + noise (see the module docstring).
        """
        return self._transform(X, encoder_cls, decoder_cls, linear=False)

    def linear_transform(self, X, encoder_cls=NoEncoding, decoder_cls=NoDecoding):
        """Linear random projection R x through the reference scheme (``photonics.OPU.linear``).

        Same arguments and shapes as :meth:`transform`. The output is B x (+ noise) in
        sqrt(DN), divided after decoding according to :attr:`rescale` by
        sigma_B sqrt(n_features) (``variance``) or sigma_B sqrt(n_components) (``norm``),
        sigma_B from :meth:`linear_stdev` (measured once per device, frames accounted).
        """
        return self._transform(X, encoder_cls, decoder_cls, linear=True)

    def fit_transform1d(self, X, packed: bool = False, **override):
        """``fit1d(X, packed=packed)`` then ``transform(X)``."""
        self.fit1d(X, None, packed, False, **override)
        return self.transform(X)

    def fit_transform2d(self, X, packed: bool = False, n_2d_features=None, **override):
        """``fit2d(X, n_2d_features, packed)`` then ``transform(X)``."""
        self.fit2d(X, n_2d_features, packed, False, **override)
        return self.transform(X)

    def transform1d(self, *args, **kwargs):
        """Removed in lightonml: use :meth:`fit1d` and :meth:`transform`."""
        raise ValidationError("transform1d is deprecated: use fit1d and transform")

    def transform2d(self, *args, **kwargs):
        """Removed in lightonml: use :meth:`fit2d` and :meth:`transform`."""
        raise ValidationError("transform2d is deprecated: use fit2d and transform")

    def _transform(self, X, encoder_cls, decoder_cls, *, linear: bool):
        what = "linear_transform" if linear else "transform"
        if self._traits is None:
            raise ValidationError(f"call fit1d or fit2d before {what}")
        if not self._active:
            raise ValidationError("the OPU is closed: call opu.open() or use 'with opu:'")
        start = Context.now()
        f0, t0 = self.frames_used, self.device_time_s
        encoder = encoder_cls() if inspect.isclass(encoder_cls) else encoder_cls
        x_enc = encoder.transform(X)
        tensor = is_tensor(x_enc)
        frames, batch_shape = self._frames(x_enc)
        y = self._project(frames, linear)
        y = y.reshape(batch_shape + (self._n_components,))
        if inspect.isclass(decoder_cls):
            decoder = decoder_cls(**encoder.get_params()) if hasattr(encoder, "get_params") else decoder_cls()
        else:
            decoder = decoder_cls
        y = np.asarray(to_numpy(decoder.transform(y))[0])
        if linear and self._rescale is not OutputRescaling.none:
            n = self._traits.n_features_s if self._rescale is OutputRescaling.variance else self._n_components
            y = (y / (self.linear_stdev().value * math.sqrt(n))).astype(np.float32)
        ctx = self._context(frames, start, f0, t0)
        if tensor:
            return like_input(np.asarray(y), True)
        return ContextArray(y, ctx)

    def _frames(self, x_enc) -> tuple[np.ndarray, tuple]:
        """Binary frames (N, n_features) uint8 and the batch shape of the encoded input."""
        arr = to_numpy(x_enc)[0]
        t = self._traits
        n = t.n_features_s
        if t.packed:
            if arr.dtype != np.uint8:
                raise DTypeError(f"bit-packed input must be uint8 (got dtype {arr.dtype})")
            width = -(-n // 8)
            if arr.ndim not in (1, 2, 3) or arr.shape[-1] != width:
                raise ShapeError(f"bit-packed input must be (..., {width}) bytes for {n} features (got shape {arr.shape})")
            batch = arr.shape[:-1]
            bits = np.unpackbits(arr, axis=-1)[..., :n]
            return bits.reshape(-1, n), batch
        if t.is_2d:
            if arr.ndim not in (2, 3, 4) or arr.shape[-2:] != t.n_features:
                raise ShapeError(f"X must be {t.n_features} or a batch (..., {t.n_features[0]}, {t.n_features[1]}) as fitted (got shape {arr.shape})")
            batch = arr.shape[:-2]
        else:
            if arr.ndim not in (1, 2, 3) or arr.shape[-1] != n:
                raise ShapeError(f"X must be ({n},) or a batch (..., {n}) as fitted (got shape {arr.shape})")
            batch = arr.shape[:-1]
        flat = arr.reshape(-1, n)
        if flat.dtype == np.bool_:
            return flat.view(np.uint8), batch
        if flat.dtype == object or not np.issubdtype(flat.dtype, np.number) or np.iscomplexobj(flat):
            raise DTypeError(f"X must be a binary numeric or boolean array (got dtype {flat.dtype})")
        ok = (flat == 0) | (flat == 1)
        if not np.all(ok):
            bad = flat[~ok].ravel()[0]
            raise ValidationError(
                f"X must be binary (entries 0 or 1) after encoding (found {bad!r}); encode real inputs first, e.g. with "
                "BinaryThresholdEncoder or SeparatedBitPlanEncoder from photonics.compat.lightonml.encoding"
            )
        return flat.astype(np.uint8, copy=False), batch

    def _pad(self, frames: np.ndarray) -> np.ndarray:
        n_in = self.device.n_in
        if frames.shape[1] == n_in:
            return frames
        full = np.zeros((frames.shape[0], n_in), dtype=np.uint8)
        full[:, : frames.shape[1]] = frames
        return full

    def _project(self, frames: np.ndarray, linear: bool) -> np.ndarray:
        if frames.shape[0] == 0:
            return np.zeros((0, self._n_components), dtype=np.float32)
        dev = self.device
        x = self._pad(frames)
        y = dev.linear(x) if linear else dev.project(x)
        return np.ascontiguousarray(y[:, : self._n_components], dtype=np.float32)

    def _context(self, frames: np.ndarray, start, f0: int, t0: float) -> Context:
        cfg = self.device.config
        t = self._traits
        return Context(
            frametime=cfg.frame_period_s * 1e6,
            exposure=cfg.camera.exposure_s * 1e6,
            output_roi=((0, 0), (1, self._n_components)),
            start=start,
            end=Context.now(),
            input_roi=((0, 0), (1, t.n_features_s)),
            n_ones=int(round(float(frames.sum(axis=1).mean()))) if frames.size else 0,
            fmt_type=FeaturesFormat.macro_2d if t.is_2d else FeaturesFormat.lined,
            fmt_factor=int(getattr(cfg.modulator_config, "macropixel", 1)),
            frames=self.frames_used - f0,
            device_time_s=self.device_time_s - t0,
            gain_e_per_dn=cfg.camera.gain_e_per_dn,
        )

    # ---- rescaling ------------------------------------------------------------------------------
    def linear_stdev(self) -> LinearStdev:
        """Standard deviation sigma_B of the linear matrix entries, measured on the device.

        K = ``n_rescale_probes`` pairs of random binary frames (p_k, p'_k) over the first
        ``max_n_features`` modes, each shown twice (independent noise a, b); with
        d_k = p_k - p'_k (entries -1, 0, +1 with zero mean) and D = y(p) - y(p') = B d + noise,

            sigma_B^2 = mean_k [ mean_i (D_a,ik D_b,ik) / |d_k|^2 ],

        unbiased by the camera noise (independent repeats) and by the mean field of binary
        inputs (zero-mean d). Measured once per device (4 K linear inputs, plus the reference
        calibration if not yet done); the standard error is the spread over the K probes.
        """
        if self._stdev is None:
            dev = self.device
            f0 = dev.frames_used
            k, n = self.n_rescale_probes, self._max_n_features
            rng = generator(self.seed, "compat", "lightonml", "rescale-probes")
            p = (rng.random((2, k, n)) < 0.5).astype(np.uint8)
            x = self._pad(np.concatenate([p[0], p[1], p[0], p[1]]))
            y = dev.linear(x)[:, : self._n_components].astype(np.float64)
            da, db = y[:k] - y[k : 2 * k], y[2 * k : 3 * k] - y[3 * k :]
            d2 = np.sum((p[0].astype(np.int16) - p[1]) ** 2, axis=1).astype(np.float64)
            keep = d2 > 0
            if not np.any(keep):
                raise ValidationError("the rescale probes were all identical pairs; increase n_rescale_probes or max_n_features")
            r = np.mean(da * db, axis=1)[keep] / d2[keep]
            var = float(np.mean(r))
            se = float(np.std(r, ddof=1) / math.sqrt(r.size)) if r.size > 1 else float("inf")
            if not var > 0:
                raise ValidationError(f"measured linear-matrix variance is {var:.3g} (not > 0): the device shows no linear signal; check its reference settings")
            sd = math.sqrt(var)
            self._stdev = LinearStdev(value=sd, standard_error=se / (2.0 * sd), n_probes=int(r.size), frames=dev.frames_used - f0)
            log.info("linear rescale: sigma_B = %.4g +/- %.2g sqrt(DN) from %d probe pairs (%d frames)", sd, self._stdev.standard_error, r.size, self._stdev.frames)
        return self._stdev

    # ---- misc ----------------------------------------------------------------------------------
    def version(self, devices: bool = False) -> str:
        """Multi-line string: the facade, the toolkit and (``devices=True``) the device."""
        lines = [f"photonics {_photonics_version} (simulated OPU, lightonml-compatible facade)"]
        if devices:
            cfg = self.config
            lines.append(f"device {cfg.name!r}: {cfg.n_in} input modes -> {cfg.n_out} pixels, seed {self.seed}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"OPU(n_components={self._n_components}, max_n_features={self._max_n_features}, "
            f"device={self._base_config.name!r}, seed={self.seed}, rescale={self._rescale.name!r})"
        )

    # ---- pickling: config + seed + device state, never the transmission matrix ----------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        dev = state.pop("_device")
        if self._external:
            state["_external_device"] = dev
        elif dev is not None:
            state["_device_state"] = (dev.config.to_json(), dev.seed, dev.state_dict(), dev.progress)
        return state

    def __setstate__(self, state: dict) -> None:
        ext = state.pop("_external_device", None)
        saved = state.pop("_device_state", None)
        self.__dict__.update(state)
        self._device = ext
        if saved is not None:
            cfg_json, seed, dev_state, progress = saved
            dev = PhotonicsOPU(DeviceConfig.from_json(cfg_json), seed=seed, progress=progress)
            dev.load_state_dict(dev_state)
            self._device = dev

