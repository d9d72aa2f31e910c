"""Feedback providers: the fixed random projection B of the output error, digital or optical.

Direct Feedback Alignment sends every hidden layer l the signal B_l e instead of the
backpropagated gradient, with e the output error (dL/d output) and B_l a fixed random
matrix. One global projection per step computes all of them at once::

    B e = [B_1; B_2; ...; B_L] e,    e: (M, n_in) -> B e: (M, n_out),  n_out = sum_l n_l

and the result is sliced per layer (see :mod:`dfa.mechanism.dfa`). Every provider has the same
interface, ``project(error) -> tensor`` on the error's device and dtype, plus frames and
device-time counters (zero for digital ones), and saves its whole state in ``state_dict()``.

Scale convention (shared by all providers, so they are interchangeable): B behaves like a
matrix of i.i.d. N(0, scale^2 / n_in) entries, i.e. each entry of B e has variance
``scale^2 * |e|^2 / n_in``.

* :class:`GaussianFeedback`: B drawn once from the seed (a registered buffer).
* :class:`OpticalFeedback`: B e measured on a simulated OPU (:class:`photonics.OPU`): the error
  is quantized (ternary or bit planes, :mod:`dfa.mechanism.quantize`), encoded into DMD frames,
  projected with ``OPU.linear`` (reference scheme), decoded and rescaled to the convention
  with quantities a lab can measure.
* :class:`StoredFeedback`: a matrix read from an HDF5 file (e.g. the effective B of a
  calibrated device), rescaled to the convention.

Rounding of the quantized error (``FeedbackConfig.rounding``): ``"nearest"`` rounds
L e / max|e| to the nearest integer, a biased estimate of e (entries below max|e| / 2L vanish,
always in the same direction: for a language model's error p - onehot, the many small
probabilities are dropped and the quantized error no longer sums to 0); ``"stochastic"``
rounds up with probability equal to the fractional part (:class:`StochasticQuantizer`), so
that E[s q] = e exactly and the rounding noise averages out over the tokens of a step (the
effect on a character GPT is measured in docs/results/large-models.md). The rounding draws
come from a counter-based stream of (seed, projections so far), so they replay exactly after a
resume.

New providers plug in with :func:`register_feedback` and are built by
:func:`build_feedback` from a :class:`FeedbackConfig`.
"""

from __future__ import annotations

import abc
import logging
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from photonics.budget import linear_projection_budget
from photonics.errors import ConfigError, FileFormatError, ShapeError, ValidationError
from photonics.rng import check_seed, derive_seed, generator
from photonics.validation import check_choice, check_int, check_known_keys, check_real

from dfa.mechanism.quantize import ENCODINGS, ErrorQuantizer, ternarize_error

log = logging.getLogger(__name__)

__all__ = [
    "FeedbackConfig",
    "FeedbackProvider",
    "GaussianFeedback",
    "OpticalFeedback",
    "StoredFeedback",
    "ternarize_error",
    "ErrorQuantizer",
    "register_feedback",
    "build_feedback",
    "feedback_kinds",
    "save_feedback_matrix",
    "load_feedback_matrix",
    "RESCALE_MODES",
    "ROUNDINGS",
    "StochasticQuantizer",
]

RESCALE_MODES = ("probes", "per-projection")
#: how the quantized error is rounded (see the module docstring)
ROUNDINGS = ("nearest", "stochastic")


@dataclass(frozen=True)
class StochasticQuantizer(ErrorQuantizer):
    """Bit-plane quantizer with unbiased stochastic rounding.

    q_j = floor(L e_j / max_k |e_k| + u_j), u_j ~ U[0, 1) independent, s = max_k |e_k| / L, so
    that E[s q] = e (the plain :class:`ErrorQuantizer` rounds to nearest, which is biased).
    |q_j| <= L = 2^n_bits - 1; with n_bits = 1, q is ternary with P(|q_j| = 1) = |e_j| / max|e|.
    Calling it needs a numpy Generator (``rng``) for the draws u.
    """

    def __post_init__(self):
        super().__post_init__()
        if self.encoding != "bitplanes":
            raise ValidationError(f"stochastic rounding needs the bitplanes encoding (got {self.encoding!r}); use n_bits=1 for ternary levels")

    def __call__(self, error, rng=None) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(rng, np.random.Generator):
            raise ValidationError("stochastic rounding needs a numpy Generator (rng) for its draws")
        e = np.asarray(error, dtype=np.float64)
        amax = np.abs(e).max(axis=1)
        safe = np.where(amax > 0, amax, 1.0)
        v = e / safe[:, None] * self.levels
        q = np.clip(np.floor(v + rng.random(v.shape)), -self.levels, self.levels).astype(np.int16)
        return q, np.where(amax > 0, amax / self.levels, 0.0)

    def describe(self) -> dict:
        d = super().describe()
        d["rounding"] = "stochastic"
        return d


def _quantize(quantizer: ErrorQuantizer, error: np.ndarray, seed: int, draw: int):
    """quantizer(error), with the stochastic draws of call number ``draw`` when it needs them."""
    if isinstance(quantizer, StochasticQuantizer):
        return quantizer(error, rng=generator(seed, "dfa", "feedback", "rounding", str(draw)))
    return quantizer(error)


@dataclass(frozen=True)
class FeedbackConfig:
    """Settings of the feedback projection (all providers; each uses the ones it needs).

    Parameters
    ----------
    scale : float
        B behaves like i.i.d. N(0, scale^2 / n_in) entries, > 0.
    encoding : str
        How the optical error is quantized for the DMD: ``"ternary"`` or ``"bitplanes"``
        (see :mod:`dfa.mechanism.quantize`).
    threshold : float
        Ternary threshold, relative to each sample's largest |e_j|: t_j = sign(e_j) where
        |e_j| > threshold * max_k |e_k|, else 0. In [0, 1).
    n_bits : int
        Bit planes per sign of the ``"bitplanes"`` encoding, 1..8.
    rounding : str
        ``"nearest"`` or ``"stochastic"`` (unbiased; ``"bitplanes"`` encoding only): see the
        module docstring.
    quantize_digital : bool
        Quantize the error of the digital providers the same way (isolates the effect of
        the quantization from that of the optical noise).
    rescale : str
        How the optical projection is brought to the scale convention:
        ``"probes"`` (one gain, measured once from repeated random ternary probes) or
        ``"per-projection"`` (each projected vector rescaled to the expected norm).
    n_probes : int
        Random ternary probes of the ``"probes"`` calibration (each projected twice).
    dedupe : bool
        Display each distinct binary DMD frame of a batch once and use its measurement for
        every sample whose encoding contains it (as a lab would, to save frames); those
        samples then share that measurement's noise. Frames and device time count what is
        displayed. (All-zero frames are never displayed: their projection is 0.)
    opu : str
        Device of the optical provider: preset name (``ideal``, ``lab-cmos``...) or TOML path.
    opu_overrides : dict
        Device config overrides, dotted keys (``{"camera.read_noise_e": 2.0}``).
    opu_seed : int or None
        Device seed (medium and noise); None derives it from the training seed.
    opu_power_scale : float
        Multiplies the laser power of the device config (after a preset's per-pixel rescaling
        to n_out), > 0. Presets set the illumination for frames with half of the modes ON;
        quantized errors light only a few modes (a stochastic 1-bit language-model error: ~2
        of 96), so a lab turns the laser up for them (keeping the brightest frames inside the
        ADC range, e.g. with a smaller reference block).
    stored_path : str or None
        HDF5 file of the stored provider (see :func:`save_feedback_matrix`).
    recalibrate_every_s : float or None
        Optical provider: measure the reference levels again (``OPU.calibrate_reference``,
        3 x ``reference.calibration_frames`` frames) whenever this much device time [s] has
        passed since the last calibration, checked before each projection; what a lab does
        against a drifting medium (``medium.decorrelation_time_s``). None: calibrate once.
    """

    scale: float = 1.0
    encoding: str = "ternary"
    threshold: float = 0.35
    n_bits: int = 3
    rounding: str = "nearest"
    quantize_digital: bool = False
    rescale: str = "probes"
    n_probes: int = 32
    dedupe: bool = True
    opu: str = "lab-cmos"
    opu_overrides: dict = field(default_factory=dict)
    opu_seed: int | None = None
    opu_power_scale: float = 1.0
    stored_path: str | None = None
    recalibrate_every_s: float | None = None

    def __post_init__(self):
        check_real(self.scale, "feedback.scale", low=0.0, low_inclusive=False)
        check_choice(self.encoding, "feedback.encoding", ENCODINGS)
        check_real(self.threshold, "feedback.threshold", low=0.0, high=1.0, high_inclusive=False)
        check_int(self.n_bits, "feedback.n_bits", low=1, high=8)
        check_choice(self.rounding, "feedback.rounding", ROUNDINGS)
        if self.rounding == "stochastic" and self.encoding != "bitplanes":
            raise ConfigError(f"feedback.rounding 'stochastic' needs feedback.encoding 'bitplanes' (got {self.encoding!r}); "
                              "n_bits=1 gives stochastic ternary levels")
        if not isinstance(self.quantize_digital, bool):
            raise ConfigError(f"feedback.quantize_digital must be true or false (got {self.quantize_digital!r})")
        check_choice(self.rescale, "feedback.rescale", RESCALE_MODES)
        check_int(self.n_probes, "feedback.n_probes", low=1, high=1 << 16)
        if not isinstance(self.dedupe, bool):
            raise ConfigError(f"feedback.dedupe must be true or false (got {self.dedupe!r})")
        if not isinstance(self.opu, str) or not self.opu:
            raise ConfigError(f"feedback.opu must be a preset name or a TOML path (got {self.opu!r})")
        if not isinstance(self.opu_overrides, dict):
            raise ConfigError(f"feedback.opu_overrides must be a mapping of dotted keys to values (got {self.opu_overrides!r})")
        check_real(self.opu_power_scale, "feedback.opu_power_scale", low=0.0, low_inclusive=False)
        if self.opu_seed is not None:
            check_seed(self.opu_seed, "feedback.opu_seed")
        if self.stored_path is not None and not isinstance(self.stored_path, str):
            raise ConfigError(f"feedback.stored_path must be a path string (got {self.stored_path!r})")
        if self.recalibrate_every_s is not None:
            check_real(self.recalibrate_every_s, "feedback.recalibrate_every_s", low=0.0, low_inclusive=False, unit="s")

    def to_dict(self) -> dict:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "FeedbackConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"feedback must be a mapping (got {type(data).__name__})")
        check_known_keys(data, (f.name for f in fields(cls)), "feedback")
        return cls(**data)

    def quantizer(self) -> ErrorQuantizer:
        """The error quantizer these settings describe."""
        if self.rounding == "stochastic":
            return StochasticQuantizer(self.encoding, self.threshold, self.n_bits)
        return ErrorQuantizer(self.encoding, self.threshold, self.n_bits)

    def device_config(self, n_in: int, n_out: int):
        """The photonics DeviceConfig of the optical provider for an n_in -> n_out projection."""
        from photonics import DeviceConfig

        over = dict(self.opu_overrides)
        over.update({"n_in": n_in, "n_out": n_out})
        cfg = DeviceConfig.resolve(self.opu, **over)
        if self.opu_power_scale != 1.0:
            cfg = cfg.replace({"laser.power_w": cfg.laser.power_w * self.opu_power_scale})
        return cfg


def _as_error(error, n_in: int) -> torch.Tensor:
    if not isinstance(error, torch.Tensor):
        raise ValidationError(f"error must be a torch.Tensor (got {type(error).__name__})")
    if error.ndim != 2 or error.shape[1] != n_in:
        raise ShapeError(f"error must be (batch, n_in={n_in}) for this feedback (got shape {tuple(error.shape)})")
    if not torch.is_floating_point(error):
        raise ValidationError(f"error must be a floating-point tensor (got {error.dtype})")
    if not bool(torch.isfinite(error).all()):
        raise ValidationError("error contains NaN or infinite values; the loss has diverged")
    return error


class FeedbackProvider(nn.Module, abc.ABC):
    """A fixed projection of the output error, e (M, n_in) -> B e (M, n_out).

    Subclasses implement :meth:`_project`; the base class validates the error (shape,
    dtype, finite values) and keeps the result on the error's device and dtype.
    """

    kind = "abstract"

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.n_in = check_int(n_in, "n_in", low=1, error=ShapeError)
        self.n_out = check_int(n_out, "n_out", low=1, error=ShapeError)
        self.projections = 0
        #: wall time spent in project() so far [s] (not saved: it is not part of the trajectory)
        self.projection_wall_s = 0.0

    def project(self, error: torch.Tensor) -> torch.Tensor:
        """B e for a batch of errors (M, n_in) -> (M, n_out), same device and dtype.

        A half-precision error (bf16/fp16, from a mixed-precision forward pass) is projected
        in float32. :attr:`projection_wall_s` accumulates the wall time spent here (on a GPU,
        up to the synchronisation that reading the result implies).
        """
        e = _as_error(error, self.n_in)
        t0 = time.perf_counter()
        low = e.dtype in (torch.bfloat16, torch.float16)
        with torch.no_grad():
            out = self._project(e.detach().float() if low else e.detach())
        if low:
            out = out.to(e.dtype)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        self.projection_wall_s += time.perf_counter() - t0
        self.projections += int(e.shape[0])
        return out

    forward = project

    @abc.abstractmethod
    def _project(self, error: torch.Tensor) -> torch.Tensor:
        """Implementation of :meth:`project` (error already validated)."""

    @property
    def optical_device(self):
        """The :class:`photonics.OPU` that measures the projection, or None for a digital provider."""
        return None

    @property
    def frames_used(self) -> int:
        """Optical frames used so far (0 for digital providers)."""
        return 0

    @property
    def device_time_s(self) -> float:
        """Simulated optical device time used so far [s] (0 for digital providers)."""
        return 0.0

    def describe(self) -> dict:
        """JSON-able summary."""
        return {"kind": self.kind, "n_in": self.n_in, "n_out": self.n_out, "projections": self.projections}

    def get_extra_state(self):
        return {"projections": self.projections}

    def set_extra_state(self, state):
        self.projections = int(state.get("projections", 0))

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}"


def _gaussian_matrix(n_in: int, n_out: int, seed: int, scale: float) -> torch.Tensor:
    g = generator(seed, "dfa", "feedback", "gaussian")
    b = g.standard_normal((n_out, n_in)) * (scale / math.sqrt(n_in))
    return torch.from_numpy(b.astype(np.float32))


class _MatrixFeedback(FeedbackProvider):
    """A provider holding B as a float32 buffer (n_out, n_in): B e = e @ B^T."""

    def __init__(self, matrix: torch.Tensor, quantizer: ErrorQuantizer | None = None, rounding_seed: int = 0):
        super().__init__(matrix.shape[1], matrix.shape[0])
        self.rounding_seed = check_seed(rounding_seed, "rounding_seed")
        self.register_buffer("matrix", matrix.contiguous())
        if quantizer is not None and not isinstance(quantizer, ErrorQuantizer):
            raise ValidationError(f"quantizer must be a dfa.mechanism.quantize.ErrorQuantizer (got {type(quantizer).__name__})")
        self.quantizer = quantizer

    def _project(self, error):
        b = self.matrix.to(device=error.device, dtype=error.dtype)
        if self.quantizer is not None:
            q, s = _quantize(self.quantizer, error.cpu().numpy(), self.rounding_seed, self.projections)
            e = torch.from_numpy(q.astype(np.float64) * s[:, None]).to(device=error.device, dtype=error.dtype)
            return e @ b.T
        return error @ b.T

    def describe(self):
        d = super().describe()
        d["quantizer"] = None if self.quantizer is None else self.quantizer.describe()
        return d


class GaussianFeedback(_MatrixFeedback):
    """Digital DFA feedback: B with i.i.d. N(0, scale^2 / n_in) entries, drawn once from ``seed``.

    Parameters
    ----------
    n_in : int
        Error dimension (outputs of the model).
    n_out : int
        Total width of the hidden feedback points.
    seed : int
        Seed of B (stream ``("dfa", "feedback", "gaussian")``).
    scale : float
        See the module's scale convention.
    quantizer : ErrorQuantizer, optional
        Quantize the error first, as the optical provider does (see :mod:`dfa.mechanism.quantize`).
    """

    kind = "gaussian"

    def __init__(self, n_in: int, n_out: int, seed: int = 0, scale: float = 1.0, quantizer: ErrorQuantizer | None = None):
        n_in = check_int(n_in, "n_in", low=1, error=ShapeError)
        n_out = check_int(n_out, "n_out", low=1, error=ShapeError)
        self.seed = check_seed(seed)
        self.scale = check_real(scale, "scale", low=0.0, low_inclusive=False)
        super().__init__(_gaussian_matrix(n_in, n_out, self.seed, self.scale), quantizer, rounding_seed=derive_seed(self.seed, "rounding"))

    def describe(self):
        d = super().describe()
        d.update(seed=self.seed, scale=self.scale)
        return d


class StoredFeedback(_MatrixFeedback):
    """Feedback with a given matrix B (n_out, n_in), e.g. read from HDF5.

    Parameters
    ----------
    matrix : array (n_out, n_in)
        The feedback matrix (rows: hidden units, columns: error components), finite.
    scale : float
        Target scale (module convention).
    normalize : bool
        Rescale B so that its mean square entry is scale^2 / n_in (a device's effective B is
        in sqrt(DN) units); False keeps the matrix exactly as given.
    source : str
        Where it came from (recorded in :meth:`describe`).
    """

    kind = "stored"

    def __init__(self, matrix, *, scale: float = 1.0, normalize: bool = True, quantizer: ErrorQuantizer | None = None, source: str = "",
                 rounding_seed: int = 0):
        from photonics.validation import as_float_array

        b = as_float_array(matrix, "matrix", dtype=np.float64)
        if b.ndim != 2:
            raise ShapeError(f"feedback matrix must be 2-D (n_out, n_in) (got shape {b.shape})")
        self.scale = check_real(scale, "scale", low=0.0, low_inclusive=False)
        if normalize:
            peak = float(np.max(np.abs(b))) if b.size else 0.0
            if peak <= 0:
                raise ValidationError("feedback matrix is all zeros; it cannot be normalized")
            b = b / peak  # scale-safe: entries of 1e200 or 1e-200 normalise like any other
            b = b * (self.scale / math.sqrt(b.shape[1]) / math.sqrt(float(np.mean(b**2))))
        elif b.size and float(np.max(np.abs(b))) > float(np.finfo(np.float32).max):
            raise ValidationError(
                f"feedback matrix entries reach {float(np.max(np.abs(b))):.3g}, beyond float32's range (3.4e+38) in which "
                "the projection runs; rescale the matrix or let it be normalized (normalize=True)"
            )
        self.source = str(source)
        self.normalize = bool(normalize)
        super().__init__(torch.from_numpy(b.astype(np.float32)), quantizer, rounding_seed=rounding_seed)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> "StoredFeedback":
        """Load B from a file written by :func:`save_feedback_matrix`."""
        matrix, meta = load_feedback_matrix(path)
        return cls(matrix, source=str(path), **kwargs)

    def describe(self):
        d = super().describe()
        d.update(source=self.source, scale=self.scale, normalize=self.normalize)
        return d


def save_feedback_matrix(path: str | os.PathLike, matrix, *, description: str = "", unit: str = "1", config=None, seed: int | None = None) -> Path:
    """Write a feedback matrix (n_out, n_in) to HDF5 (kind ``dfa.mechanism.feedback``), atomically.

    ``config``/``seed``: the photonics DeviceConfig and seed it was measured on, if any.
    """
    from photonics.io import atomic_h5
    from photonics.validation import as_float_array

    b = as_float_array(matrix, "matrix", dtype=np.float64)
    if b.ndim != 2:
        raise ShapeError(f"feedback matrix must be 2-D (n_out, n_in) (got shape {b.shape})")
    path = Path(path)
    with atomic_h5(path, "dfa.feedback", config=config, seed=seed) as fh:
        ds = fh.create_dataset("matrix", data=b.astype(np.float32))
        ds.attrs["unit"] = unit
        ds.attrs["layout"] = "rows = hidden units (n_out), cols = error components (n_in)"
        fh.attrs["description"] = description
    return path


def load_feedback_matrix(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a matrix written by :func:`save_feedback_matrix`: (matrix float32 (n_out, n_in), metadata)."""
    from photonics.io import open_h5

    path = Path(path)
    with open_h5(path, "dfa.feedback") as fh:
        if "matrix" not in fh:
            raise FileFormatError(f"{path}: dataset 'matrix' is missing")
        ds = fh["matrix"]
        if ds.ndim != 2 or ds.dtype.kind != "f":
            raise FileFormatError(f"{path}: 'matrix' must be a 2-D float array (got {ds.dtype} {ds.shape})")
        b = ds[()].astype(np.float32)
        meta = {"unit": ds.attrs.get("unit", ""), "description": fh.attrs.get("description", "")}
    if not np.all(np.isfinite(b)):
        raise FileFormatError(f"{path}: 'matrix' contains NaN or infinite values")
    return b, meta


class OpticalFeedback(FeedbackProvider):
    """DFA feedback measured on a simulated optical processing unit.

    For a batch of errors e (M, n_in), with n_in = ``opu.n_in`` and n_out = ``opu.n_out``:

    1. quantize per sample (:class:`~dfa.mechanism.quantize.ErrorQuantizer`): e ~ a q with q a
       small-integer vector (ternary: q = sign(e) where |e_j| > threshold * max|e|, a = mean
       kept |e_j|; bit planes: q = round(L e / max|e|), a = max|e| / L);
    2. write q as binary DMD frames with ``quantizer.encoder()`` (2 per sample for ternary q:
       q > 0 and q < 0; 2 n_bits for bit planes), measure each with ``opu.linear`` through
       the reference scheme (2 camera frames each in the exact scheme) and decode:
       y ~ B_opt q + noise [sqrt(DN)]. All-zero DMD frames are not displayed (their
       projection is 0); with ``dedupe`` each distinct binary frame of the batch is displayed
       once and its measurement, noise included, is used by every sample that has that frame
       (a classifier's errors repeat a lot: the frame with the target class, the frames of
       the usual confusions);
    3. rescale to the convention and restore the magnitude: B e ~ a * g * y, with

       * ``"probes"``: g = scale / sqrt(n_in) / c, c^2 = sum_k <y_k, y'_k> / (n_out sum_k |p_k|^2)
         measured once from ``n_probes`` random ternary probes p_k each projected twice
         (y_k, y'_k): the product of two repeats has no noise bias, so c^2 estimates the mean
         square entry of B_opt; a lab can do exactly this;
       * ``"per-projection"``: g = scale |q| / sqrt(n_in) / rms(y) per sample.

    All-zero rows (no error) are not sent to the device. Frames and device time are those of
    ``opu`` (reference calibration and probes included). The OPU computes on the CPU (numpy);
    the error is moved there and the result back to the error's device.

    Parameters
    ----------
    opu : photonics.OPU
        The device; its n_in is the error dimension, its n_out the total feedback width.
    quantizer : ErrorQuantizer
        How the error is quantized (default: ternary, threshold 0.35).
    scale, rescale, n_probes, dedupe : see :class:`FeedbackConfig`.
    probe_seed : int
        Seed of the probe patterns.
    recalibrate_every_s : float or None
        Refresh the reference calibration when this much device time [s] has passed since
        the last one (checked before each projection); None: never (see :class:`FeedbackConfig`).
    """

    kind = "optical"

    def __init__(self, opu, *, quantizer: ErrorQuantizer | None = None, scale: float = 1.0, rescale: str = "probes",
                 n_probes: int = 32, dedupe: bool = True, probe_seed: int = 0, recalibrate_every_s: float | None = None,
                 rounding_seed: int = 0):
        from photonics import OPU
        from photonics.encoding import TernaryEncoder

        if not isinstance(opu, OPU):
            raise ValidationError(f"opu must be a photonics.OPU (got {type(opu).__name__})")
        super().__init__(opu.n_in, opu.n_out)
        self.opu = opu
        quantizer = ErrorQuantizer() if quantizer is None else quantizer
        if not isinstance(quantizer, ErrorQuantizer):
            raise ValidationError(f"quantizer must be a dfa.mechanism.quantize.ErrorQuantizer (got {type(quantizer).__name__})")
        self.quantizer = quantizer
        self.scale = check_real(scale, "scale", low=0.0, low_inclusive=False, error=ValidationError)
        self.rescale = check_choice(rescale, "rescale", RESCALE_MODES, error=ValidationError)
        self.n_probes = check_int(n_probes, "n_probes", low=1, error=ValidationError)
        self.probe_seed = check_seed(probe_seed, "probe_seed")
        self.rounding_seed = check_seed(rounding_seed, "rounding_seed")
        self.dedupe = bool(dedupe)
        self.recalibrate_every_s = None if recalibrate_every_s is None else check_real(
            recalibrate_every_s, "recalibrate_every_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
        self.recalibrations = 0  # reference calibrations made by the periodic refresh
        self._probe_encoder = TernaryEncoder(0.0)
        self._encoder = quantizer.encoder()
        self.gain: float | None = None
        self._weights: dict[int, np.ndarray] = {}
        self.frames_displayed = 0  # DMD frames sent to the device for feedback (calibration excluded)
        self.frames_requested = 0  # DMD frames the encoding asked for, before skipping zeros and duplicates
        self._frames0 = opu.frames_used
        self._time0 = opu.device_time_s

    # ---- calibration -----------------------------------------------------------------------
    def calibrate(self) -> float:
        """Measure the probe gain g (``rescale="probes"``); costs 2 n_probes projections."""
        g = generator(self.probe_seed, "dfa", "feedback", "probes")
        probes = g.choice(np.array([-1, 0, 1], dtype=np.int8), size=(self.n_probes, self.n_in), p=[0.25, 0.5, 0.25])
        empty = ~probes.any(axis=1)
        probes[empty, 0] = 1
        y1 = self.opu.linear(probes, encoder=self._probe_encoder).astype(np.float64)
        y2 = self.opu.linear(probes, encoder=self._probe_encoder).astype(np.float64)
        c2 = float(np.sum(y1 * y2)) / (self.n_out * float(np.sum(probes.astype(np.float64) ** 2)))
        if not c2 > 0:
            raise ValidationError(
                f"the optical feedback calibration found no signal (c^2 = {c2:.3g} sqrt(DN)^2): the device is too noisy "
                "or its reference too weak for a linear projection; check the device config"
            )
        self.gain = self.scale / math.sqrt(self.n_in) / math.sqrt(c2)
        log.info("optical feedback: probe calibration c = %.4g sqrt(DN) per unit error, gain %.4g", math.sqrt(c2), self.gain)
        return self.gain

    # ---- projection ---------------------------------------------------------------------
    def _measure(self, q: np.ndarray) -> np.ndarray:
        """B_opt q for integer rows q (M, n_in) [sqrt(DN)], float32 (M, n_out).

        The encoder writes q as binary DMD frames (F, M, n_in); all-zero frames are not
        displayed (their linear projection is 0 by construction); with ``dedupe`` each
        distinct frame of the batch is displayed once. The per-frame projections are then
        decoded (the encoder's linear combination) into B_opt q.
        """
        self._maybe_recalibrate()
        frames = self._encoder.encode(q)
        n_f, m, n = frames.shape
        flat = frames.reshape(n_f * m, n)
        shown = np.flatnonzero(flat.any(axis=1))
        # row of each (frame, sample) in the measured block; the block's extra last row is the
        # 0 of the blank frames
        if shown.size and self.dedupe:
            uniq, inverse = np.unique(flat[shown], axis=0, return_inverse=True)
            measured = self.opu.linear(uniq)
            rows = inverse.reshape(-1)
        elif shown.size:
            measured = self.opu.linear(flat[shown])
            rows = np.arange(shown.size)
        else:
            measured = np.zeros((0, self.n_out), dtype=np.float32)
            rows = np.zeros(0, dtype=np.int64)
        code = np.full(n_f * m, measured.shape[0], dtype=np.int64)
        code[shown] = rows
        self.frames_displayed += measured.shape[0]
        self.frames_requested += n_f * m
        block = np.empty((measured.shape[0] + 1, self.n_out), dtype=np.float32)
        block[:-1] = measured
        block[-1] = 0.0
        code = code.reshape(n_f, m)
        # the encoder's decode is a fixed linear combination of the frames: sum_f w_f y_f
        out = np.zeros((m, self.n_out), dtype=np.float32)
        for f, w in enumerate(self._decode_weights(n_f)):
            if w != 0:
                out += np.float32(w) * block[code[f]]
        return out

    def _maybe_recalibrate(self) -> None:
        """Refresh the reference calibration if ``recalibrate_every_s`` of device time has passed.

        Device time is frames x frame period, a float: the comparison allows half a frame period
        so that "exactly one period" recalibrates whatever the rounding of the frame count.
        """
        cal = self.opu.reference_calibration
        if self.recalibrate_every_s is None or cal is None:
            return
        elapsed_s = self.opu.device_time_s - cal.device_time_s
        if elapsed_s >= self.recalibrate_every_s - 0.5 * self.opu.config.frame_period_s:
            self.opu.calibrate_reference()
            self.recalibrations += 1

    def _decode_weights(self, n_frames: int) -> np.ndarray:
        """w_f with decode(y) = sum_f w_f y_f (the encoder's decode applied to unit frames)."""
        if n_frames not in self._weights:
            unit = np.eye(n_frames, dtype=np.float32)[:, :, None]  # (frames, batch=frames, n_out=1)
            self._weights[n_frames] = self._encoder.decode(unit)[:, 0].astype(np.float64)
        return self._weights[n_frames]

    def _project(self, error):
        e = error.to(device="cpu", dtype=torch.float64).numpy()
        q, a = _quantize(self.quantizer, e, self.rounding_seed, self.projections)
        active = a > 0
        if not active.any():
            return torch.zeros((e.shape[0], self.n_out), device=error.device, dtype=error.dtype)
        if self.rescale == "probes" and self.gain is None:
            self.calibrate()
        qa = q[active]
        y = self._measure(qa)  # float32 (n_active, n_out), ~ B_opt q
        if self.rescale == "probes":
            row = a[active] * self.gain
        else:
            rms = np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=1))
            target = self.scale * np.sqrt((qa.astype(np.float64) ** 2).sum(axis=1) / self.n_in)
            row = a[active] * target / np.where(rms > 0, rms, 1.0)
        y *= row.astype(np.float32)[:, None]
        if active.all():
            out = y
        else:
            out = np.zeros((e.shape[0], self.n_out), dtype=np.float32)
            out[active] = y
        return torch.from_numpy(out).to(device=error.device, dtype=error.dtype)

    # ---- accounting and state --------------------------------------------------------------
    @property
    def optical_device(self):
        return self.opu

    @property
    def frames_used(self) -> int:
        return self.opu.frames_used - self._frames0

    @property
    def device_time_s(self) -> float:
        return self.opu.device_time_s - self._time0

    def get_extra_state(self):
        opu_state = self.opu.state_dict()
        cal = opu_state.get("reference_calibration")
        if cal is not None:
            cal = {k: (torch.from_numpy(np.asarray(v, dtype=np.float64)) if isinstance(v, np.ndarray) else v) for k, v in cal.items()}
        return {
            "projections": self.projections,
            "gain": self.gain,
            "frames_displayed": self.frames_displayed,
            "frames_requested": self.frames_requested,
            "recalibrations": self.recalibrations,
            "frames0": self._frames0,
            "time0": self._time0,
            "opu_config": self.opu.config.to_json(),
            "opu_seed": self.opu.seed,
            "opu_state": {"frames": int(opu_state["frames"]), "idle_s": float(opu_state["idle_s"]), "reference_calibration": cal},
        }

    def set_extra_state(self, state):
        if state.get("opu_config") != self.opu.config.to_json() or int(state.get("opu_seed", -1)) != self.opu.seed:
            raise FileFormatError(
                "the saved optical feedback state belongs to another device (config or seed differ); "
                "resume with the same feedback settings as the checkpoint"
            )
        opu_state = dict(state["opu_state"])
        cal = opu_state.get("reference_calibration")
        if cal is not None:
            opu_state["reference_calibration"] = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v) for k, v in cal.items()}
        self.opu.load_state_dict(opu_state)
        self.projections = int(state["projections"])
        self.gain = None if state["gain"] is None else float(state["gain"])
        self.frames_displayed = int(state.get("frames_displayed", 0))
        self.frames_requested = int(state.get("frames_requested", 0))
        self.recalibrations = int(state.get("recalibrations", 0))
        self._frames0 = int(state["frames0"])
        self._time0 = float(state["time0"])

    def describe(self):
        d = super().describe()
        cfg = self.opu.config
        d.update(
            quantizer=self.quantizer.describe(),
            scale=self.scale,
            rescale=self.rescale,
            n_probes=self.n_probes,
            dedupe=self.dedupe,
            recalibrate_every_s=self.recalibrate_every_s,
            recalibrations=self.recalibrations,
            dmd_frames_displayed=self.frames_displayed,
            dmd_frames_requested=self.frames_requested,
            gain=self.gain,
            device=cfg.name,
            device_seed=self.opu.seed,
            linear_scheme=cfg.reference.scheme,
            frames_per_sample=self.quantizer.dmd_frames_per_sample * (2 if cfg.reference.scheme == "exact" else 1),
            frame_rate_hz=cfg.frame_rate_hz,
            photon_budget=linear_projection_budget(cfg),
            frames_used=self.frames_used,
            device_time_s=self.device_time_s,
        )
        return d


# ---- registry ----------------------------------------------------------------------------------
_BUILDERS: dict[str, Callable[..., FeedbackProvider]] = {}


def register_feedback(kind: str):
    """Decorator: ``builder(n_in, n_out, *, seed, config: FeedbackConfig) -> FeedbackProvider``."""

    def deco(builder):
        _BUILDERS[kind] = builder
        return builder

    return deco


def feedback_kinds() -> tuple[str, ...]:
    """Registered provider kinds."""
    return tuple(sorted(_BUILDERS))


def build_feedback(kind: str, n_in: int, n_out: int, *, seed: int, config: FeedbackConfig | None = None) -> FeedbackProvider:
    """Build the provider ``kind`` for an n_in -> n_out projection from the training ``seed``."""
    if kind not in _BUILDERS:
        raise ConfigError(f"unknown feedback kind {kind!r}; available: {', '.join(feedback_kinds())}")
    return _BUILDERS[kind](n_in, n_out, seed=check_seed(seed), config=config or FeedbackConfig())


@register_feedback("gaussian")
def _build_gaussian(n_in, n_out, *, seed, config):
    quant = config.quantizer() if config.quantize_digital else None
    return GaussianFeedback(n_in, n_out, seed=derive_seed(seed, "feedback"), scale=config.scale, quantizer=quant)


@register_feedback("optical")
def _build_optical(n_in, n_out, *, seed, config):
    from photonics import OPU

    dev_seed = config.opu_seed if config.opu_seed is not None else derive_seed(seed, "opu")
    opu = OPU(config.device_config(n_in, n_out), seed=dev_seed)
    return OpticalFeedback(
        opu,
        quantizer=config.quantizer(),
        scale=config.scale,
        rescale=config.rescale,
        n_probes=config.n_probes,
        dedupe=config.dedupe,
        probe_seed=derive_seed(seed, "probes"),
        rounding_seed=derive_seed(seed, "rounding"),
        recalibrate_every_s=config.recalibrate_every_s,
    )


@register_feedback("stored")
def _build_stored(n_in, n_out, *, seed, config):
    if not config.stored_path:
        raise ConfigError("the stored feedback needs feedback.stored_path (an HDF5 file from dfa.mechanism.feedback.save_feedback_matrix)")
    quant = config.quantizer() if config.quantize_digital else None
    fb = StoredFeedback.from_file(config.stored_path, scale=config.scale, quantizer=quant, rounding_seed=derive_seed(seed, "rounding"))
    if (fb.n_out, fb.n_in) != (n_out, n_in):
        raise ShapeError(
            f"stored feedback matrix {config.stored_path} is {fb.n_out} x {fb.n_in} (n_out x n_in) but the model needs "
            f"{n_out} x {n_in} (total feedback width x error dimension)"
        )
    return fb

