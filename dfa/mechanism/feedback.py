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
  with quantities a lab can measure; on the host (numpy) or on the error's torch device.

Low signal-to-noise ratio (optical provider, see :class:`OpticalFeedback` for the equations):
the measured projection is y = B_opt q + b + n, with n the camera noise and b the residual of
the reference calibration, shared by every frame. Blank DMD frames are measured, so b cancels
in every decoded error (sum_f w_f = 0). The probe gain g is scaled per sample by
sqrt(S_i / (S_i + N_i)) (signal and noise power of the decoded sample, measured with the
probes), so that the feedback's mean square, signal plus noise, is the noiseless convention's:
the noise no longer arrives at several times DFA's update size. A gate on the signal fraction
S_i / (S_i + N_i) of the feedback (mean over the batch, moving average over projection calls,
with hysteresis) sets noise-dominated feedback to exactly 0, which no optimizer scales back up (Adam normalises any other factor away): a noisier device
then trains towards the head-only control instead of below it. ``blank_frames="skip"``,
``gain_rule="signal"`` give the earlier behaviour bit for bit.

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
from numba import prange
from torch import nn

from dfa.mechanism.quantize import (
    ENCODINGS,
    ErrorQuantizer,
    _bitplane_keys_kernel,
    _pairwise_sum_small,
    _ternary_keys_kernel,
    pairwise_row_sum_torch,
    ternarize_error,
)
from photonics.budget import linear_projection_budget
from photonics.errors import ConfigError, FileFormatError, ShapeError, ValidationError
from photonics.kernels import njit_variant
from photonics.rng import check_seed, derive_seed, generator
from photonics.validation import check_choice, check_int, check_known_keys, check_real

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
    "BACKENDS",
    "BLANK_FRAMES",
    "GAIN_RULES",
    "StochasticQuantizer",
    "decode_rows",
]

RESCALE_MODES = ("probes", "per-projection")
#: how the quantized error is rounded (see the module docstring)
ROUNDINGS = ("nearest", "stochastic")
#: where the optical provider computes (see OpticalFeedback)
BACKENDS = ("numpy", "torch", "auto")
#: what the optical provider does with all-zero DMD frames (see OpticalFeedback)
BLANK_FRAMES = ("measure", "skip")
#: how the optical provider's probe gain treats the measured noise (see OpticalFeedback)
GAIN_RULES = ("snr", "signal")
#: projection calls over which the batch-SNR gate averages (see OpticalFeedback)
GATE_CALLS = 50


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

    def _levels_numpy(self, e, safe, uniforms):
        if uniforms is None:
            raise ValidationError("stochastic rounding needs its U[0, 1) draws (uniforms)")
        v = e / safe[:, None] * self.levels
        return np.clip(np.floor(v + uniforms), -self.levels, self.levels).astype(np.int16)

    def _levels_torch(self, e, safe, uniforms):
        if uniforms is None:
            raise ValidationError("stochastic rounding needs its U[0, 1) draws (uniforms)")
        v = e / safe[:, None] * self.levels
        return torch.clamp(torch.floor(v + uniforms), -self.levels, self.levels).to(torch.int16)

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
        displayed. (All-zero frames: see ``blank_frames``.)
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
    backend : str
        Where the optical provider computes: ``"numpy"`` (host), ``"torch"`` (the error's torch
        device, CPU or CUDA, through :class:`photonics.backends.torch_opu.TorchOPU`; static
        media and binary DMDs only) or ``"auto"`` (torch for errors on a GPU, numpy on the
        CPU). Same random streams; bit-identical on the CPU (see :class:`OpticalFeedback`).
    blank_frames : str
        ``"measure"`` (display all-zero DMD frames like any other, so the calibration residual
        cancels in every decoded projection) or ``"skip"`` (take their projection as 0: no frame,
        but a bias for errors of one sign; the behaviour before issue 19). See :class:`OpticalFeedback`.
    gain_rule : str
        ``"snr"`` (scale each projection by sqrt(S / (S + N)), S and N its signal and noise
        power measured with the probes, so that signal plus noise arrive at the noiseless
        update size, and gate noise-dominated feedback, see ``min_signal_fraction``) or
        ``"signal"`` (gain from the signal alone; the behaviour before issue 19).
        ``rescale="probes"`` only.
    min_signal_fraction : float
        ``gain_rule="snr"``: the feedback is set to zero (the step trains the head only) while the
        moving average of its signal fraction S / (S + N) (mean over the batch) is below this
        (and, once closed, until it reaches twice this), in [0, 1]; 0 disables the gate. Needed
        for optimizers that normalise the update size (Adam), which undo any scale factor. See
        :class:`OpticalFeedback`.
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
    backend: str = "auto"
    blank_frames: str = "measure"
    gain_rule: str = "snr"
    min_signal_fraction: float = 0.1

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
        check_choice(self.backend, "feedback.backend", BACKENDS)
        check_choice(self.blank_frames, "feedback.blank_frames", BLANK_FRAMES)
        check_choice(self.gain_rule, "feedback.gain_rule", GAIN_RULES)
        check_real(self.min_signal_fraction, "feedback.min_signal_fraction", low=0.0, high=1.0)

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
    if error.device.type == "cpu" and error.dtype in (torch.float32, torch.float64):
        finite = bool(np.logical_and.reduce(np.isfinite(error.detach().numpy()), axis=None))  # a fifth of torch's cost on small errors
    else:
        finite = bool(torch.isfinite(error).all())
    if not finite:
        raise ValidationError("error contains NaN or infinite values; the loss has diverged")
    return error


class FeedbackProvider(nn.Module, abc.ABC):
    """A fixed projection of the output error, e (M, n_in) -> B e (M, n_out).

    Subclasses implement :meth:`_project`; the base class validates the error (shape,
    dtype, finite values) and keeps the result on the error's device and dtype.
    """

    kind = "abstract"
    #: plain per-call state (counters, the gate's average) written on every projection: set
    #: directly, without nn.Module.__setattr__'s parameter/buffer/submodule lookups (2.5 us per
    #: write against 0.2 us, six writes per projection); never a parameter, buffer or submodule
    _PLAIN_STATE = frozenset({"projections", "projection_wall_s", "frames_displayed", "frames_requested", "_snr_avg",
                              "_gate_open", "_gated", "_gated_t"})

    def __setattr__(self, name, value):
        if name in self._PLAIN_STATE:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

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
        x = e.detach().float() if low else e.detach()
        if self._projects_on_host(x):  # numpy on a detached error: no autograd graph to switch off
            out = self._project(x)
        else:
            with torch.no_grad():
                out = self._project(x)
        if low:
            out = out.to(e.dtype)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        self.projection_wall_s += time.perf_counter() - t0
        self.projections += int(e.shape[0])
        return out

    forward = project

    def _projects_on_host(self, error: torch.Tensor) -> bool:
        """True when :meth:`_project` computes this (detached) error with numpy only (no torch op that could record a graph)."""
        return False

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


# ---- the optical provider's kernels ----------------------------------------------------------------
def _decode_rows_impl(measured, code, w32, row32, rows, out):
    """out[rows[i]] = float32(row32[i]) * sum_f w32[f] measured[code[f, i]] (float32, f in order; code < 0:
    a frame that is not displayed, taken as 0)."""
    n_f, m = code.shape
    n_out = measured.shape[1]
    for i in prange(m):
        o = rows[i]
        for j in range(n_out):
            out[o, j] = np.float32(0.0)
        for f in range(n_f):
            c = code[f, i]
            if c >= 0:
                w = w32[f]
                for j in range(n_out):
                    out[o, j] += w * measured[c, j]
        r = np.float32(row32[i])
        for j in range(n_out):
            out[o, j] *= r


# distinct names: numba's disk cache would otherwise give both the code compiled first
_decode_rows_serial = njit_variant(_decode_rows_impl, "_decode_rows_serial")
_decode_rows_parallel = njit_variant(_decode_rows_impl, "_decode_rows_parallel", parallel=True)
#: outputs below this many floats are decoded by the serial kernel (a parallel launch costs more)
_PARALLEL_FROM = 1 << 17


def decode_rows(measured: np.ndarray, code: np.ndarray, weights: np.ndarray, row: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """Decode measured frames into ``out`` in place (numba): out[rows[i]] = row[i] sum_f w_f measured[code[f, i]].

    The sum runs over f in order in float32, each term the float32 product w_f y (exactly the
    arithmetic of ``out += np.float32(w_f) * y_f`` repeated over f, from 0); ``code[f, i] < 0``
    marks a frame that was not displayed (its projection is taken as 0). Rows of ``out`` not
    listed in ``rows`` are left untouched. Each output row is computed by one thread: the numbers
    do not depend on the thread count.
    """
    kern = _decode_rows_parallel if out.size >= _PARALLEL_FROM else _decode_rows_serial
    r = row if isinstance(row, np.ndarray) and row.dtype == np.float64 and row.flags.c_contiguous else _contiguous(row, np.float32)
    kern(measured, _contiguous(code, np.int64), _contiguous(weights, np.float32), r, _contiguous(rows, np.int64), out)


def _contiguous(a, dtype):
    """``np.ascontiguousarray(a, dtype)``, without the call when ``a`` already is one (a microsecond per argument)."""
    if isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=dtype)


def _display_plan_impl(flat_keys, skip_blank, dedupe, n_in):
    """Which frames a batch displays, from their uint64 sort keys (mirror j at bit 63 - j).

    Returns (frames uint8 (U, n_in), code int64 (len(flat_keys),)): the frames shown, and for each
    key the row of the measurement holding it (-1: a blank key not shown, ``skip_blank``). Shown:
    every key, or the nonzero ones with ``skip_blank``; with ``dedupe`` each distinct key once, in
    increasing order (what ``np.unique`` returns), else every shown key in order.
    """
    total = flat_keys.shape[0]
    code = np.full(total, -1, dtype=np.int64)
    pos = np.empty(total, dtype=np.int64)
    ns = 0
    for p in range(total):
        pos[ns] = p
        ns += (not skip_blank) or flat_keys[p] != 0
    sel = np.empty(ns, dtype=np.uint64)
    for t in range(ns):
        sel[t] = flat_keys[pos[t]]
    if dedupe:
        order = np.argsort(sel)
        shown = np.empty(ns, dtype=np.uint64)
        nu = 0
        for t in range(ns):
            k = sel[order[t]]
            if nu == 0 or shown[nu - 1] != k:
                shown[nu] = k
                nu += 1
            code[pos[order[t]]] = nu - 1
    else:
        shown = sel
        nu = ns
        for t in range(ns):
            code[pos[t]] = t
    frames = np.empty((nu, n_in), dtype=np.uint8)
    for u in range(nu):
        k = shown[u]
        for j in range(n_in):
            frames[u, j] = np.uint8((k >> np.uint64(63 - j)) & np.uint64(1))
    return frames, code


_display_plan = njit_variant(_display_plan_impl, "_display_plan")


def _fused_display_impl(e, ternary, thr, n_bits, levels, skip_blank, dedupe):
    """Quantise-encode of a batch (M, n <= 64) and its display plan, in one numba call: the ternary
    encoding (threshold thr) or the deterministic bit planes (n_bits per sign, largest |q| ``levels``).

    Returns (idx, frames, code, a, q2): the rows with a nonzero error (a > 0) in order, the frames
    to display and the code (n_f, len(idx)) of those rows (:func:`_display_plan` of their keys in
    frame-major order), and the magnitude (ternary) or scale (bit planes) a and |q|^2 of those rows
    (:meth:`~dfa.mechanism.quantize.ErrorQuantizer.planes`, the same numbers).
    """
    m, n = e.shape
    n_f = 2 if ternary else 2 * n_bits
    keys = np.empty((n_f, m), dtype=np.uint64)
    a = np.empty(m)
    q2 = np.empty(m)
    if ternary:
        _ternary_keys_kernel(e, thr, keys, a, q2)
    else:
        _bitplane_keys_kernel(e, levels, n_bits, keys, a, q2)
    idx = np.empty(m, dtype=np.int64)
    ma = 0
    for i in range(m):
        idx[ma] = i
        ma += a[i] > 0
    flat = np.empty(n_f * ma, dtype=np.uint64)
    for f in range(n_f):
        for t in range(ma):
            flat[f * ma + t] = keys[f, idx[t]]
    frames, code = _display_plan(flat, skip_blank, dedupe, n)
    aa = np.empty(ma)
    qa2 = np.empty(ma)
    for t in range(ma):
        aa[t] = a[idx[t]]
        qa2[t] = q2[idx[t]]
    return idx[:ma], frames, code.reshape(n_f, ma), aa, qa2


_fused_display = njit_variant(_fused_display_impl, "_fused_display")


_NO_ROWS = np.zeros(0)


def _pairwise_sum_impl(x, n):
    """numpy's pairwise sum of x[:n] (``np.add.reduce``), bit for bit, for any n: blocks of <= 128
    terms as :func:`~dfa.mechanism.quantize._pairwise_sum_small`, longer runs split at
    n/2 - (n/2 mod 8) and the halves added (numpy's recursion, unrolled on a small stack)."""
    if n <= 128:
        return _pairwise_sum_small(x, n)
    lo_st = np.empty(64, dtype=np.int64)
    n_st = np.empty(64, dtype=np.int64)
    stage = np.empty(64, dtype=np.int64)
    vals = np.empty(64)
    lo_st[0], n_st[0], stage[0] = 0, n, 0
    sp = 1
    vsp = 0
    while sp > 0:
        t = sp - 1
        lo = lo_st[t]
        nn = n_st[t]
        if nn <= 128:
            vals[vsp] = _pairwise_sum_small(x[lo : lo + nn], nn)
            vsp += 1
            sp -= 1
            continue
        n2 = nn // 2
        n2 -= n2 % 8
        if stage[t] == 0:  # left half first
            stage[t] = 1
            lo_st[sp], n_st[sp], stage[sp] = lo, n2, 0
            sp += 1
        elif stage[t] == 1:  # then the right half
            stage[t] = 2
            lo_st[sp], n_st[sp], stage[sp] = lo + n2, nn - n2, 0
            sp += 1
        else:  # left + right
            vals[vsp - 2] = vals[vsp - 2] + vals[vsp - 1]
            vsp -= 1
            sp -= 1
    return vals[0]


def _snr_gate_rows_impl(a, q2, c2, noise_var, gain, nw2_rows, nw2, thr, prev_avg, was_open):
    """The ``"snr"`` rule's h_i a_i and the batch gate, in one pass (the numpy path's arithmetic).

    h_i a_i = a_i g sqrt(v_i), v_i = S_i / (S_i + N_i), S_i = c^2 |q_i|^2, N_i = sigma^2 n_i
    (n_i = ``nw2_rows[i]``, or ``nw2`` for every row when ``nw2_rows`` is empty): the operations
    of the numpy expressions ``a * g * np.sqrt(v)``. With ``thr > 0`` the gate: r = np.mean(v)
    (numpy's pairwise sum over the count), rho = r at the first call (``prev_avg`` NaN), else
    rho = prev + (r - prev) / GATE_CALLS; open = rho >= thr, or >= 2 thr once closed
    (``was_open`` False); a closed gate sets every factor to h a * 0. Returns (factors, rho,
    open); rho is NaN and open True without a gate.
    """
    m = a.shape[0]
    v = np.empty(m)
    row = np.empty(m)
    per_row = nw2_rows.shape[0] > 0
    for i in range(m):
        s = c2 * q2[i]
        v[i] = s / (s + noise_var * (nw2_rows[i] if per_row else nw2))
        row[i] = a[i] * gain * np.sqrt(v[i])
    if not thr > 0.0:
        return row, np.nan, True
    r = _pairwise_sum(v, m) / m
    if np.isnan(prev_avg):
        avg = r
        is_open = r >= thr
    else:
        avg = prev_avg + (r - prev_avg) / GATE_CALLS
        is_open = avg >= (thr if was_open else 2.0 * thr)
    if not is_open:
        for i in range(m):
            row[i] = row[i] * 0.0
    return row, avg, is_open


_pairwise_sum = njit_variant(_pairwise_sum_impl, "_pairwise_sum")
_snr_gate_rows = njit_variant(_snr_gate_rows_impl, "_snr_gate_rows")


def _frame_keys_numpy(rows: np.ndarray) -> np.ndarray:
    """Sort keys of binary rows (N, n) whose order is the lexicographic order of the rows.

    Rows packed into bits, first mirror most significant: one uint64 per row for n <= 64, else
    the packed bytes as one opaque (void) item compared like ``memcmp`` (the order of
    ``np.unique(rows, axis=0)``).
    """
    packed = np.packbits(rows, axis=1)
    nb = packed.shape[1]
    if nb <= 8:
        full = np.zeros((rows.shape[0], 8), dtype=np.uint8)
        full[:, :nb] = packed
        return full.view(">u8")[:, 0]
    return np.ascontiguousarray(packed).view(np.dtype((np.void, nb)))[:, 0]


#: bits per int64 sort word of the torch keys (positive int64: the order of the words is the order of the rows)
_KEY_BITS = 62


def _frame_keys_torch(frames):
    """Torch twin of :func:`_frame_keys_numpy`: int64 words (..., n_words) of 62 bits, first mirror most significant."""
    n = frames.shape[-1]
    n_words = -(-n // _KEY_BITS)
    pad = n_words * _KEY_BITS - n
    x = frames.to(torch.int64)
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    x = x.reshape(*frames.shape[:-1], n_words, _KEY_BITS)
    pow2 = torch.bitwise_left_shift(torch.ones(_KEY_BITS, dtype=torch.int64, device=frames.device),
                                    torch.arange(_KEY_BITS - 1, -1, -1, device=frames.device))
    return (x * pow2).sum(dim=-1)  # integers: exact


def _frames_from_keys_torch(words, n: int):
    """Binary frames (U, n) float32 back from the words of :func:`_frame_keys_torch`."""
    shifts = torch.arange(_KEY_BITS - 1, -1, -1, device=words.device)
    bits = torch.bitwise_and(torch.bitwise_right_shift(words[:, :, None], shifts), 1)
    return bits.reshape(words.shape[0], -1)[:, :n].to(torch.float32)


class OpticalFeedback(FeedbackProvider):
    r"""DFA feedback measured on a simulated optical processing unit.

    For a batch of errors e (M, n_in), with n_in = ``opu.n_in`` and n_out = ``opu.n_out``:

    1. quantize and encode per sample, fused on the whole batch
       (:meth:`~dfa.mechanism.quantize.ErrorQuantizer.planes`): e ~ a q with q a small-integer
       vector (ternary: q = sign(e) where |e_j| > threshold * max|e|, a = mean kept |e_j|;
       bit planes: q = round(L e / max|e|), a = max|e| / L), written as binary DMD frames
       q = sum_f w_f x_f (2 per sample for ternary q: q > 0 and q < 0; 2 n_bits for bit
       planes, sum_f w_f = 0);
    2. measure each frame with ``opu.linear`` through the reference scheme (2 camera frames each
       in the exact scheme), y_f = B_opt x_f + b + n_f [sqrt(DN)], with n_f the frame's noise and
       b = (Z - Z_hat) / N the calibration residual: the reference level Z_hat is a mean of
       ``reference.calibration_frames`` noisy frames, so b is a fixed random vector, the same
       for every frame until the next calibration. With ``dedupe`` each distinct binary frame of
       the batch is displayed once and its measurement, noise included, is used by every sample
       that has that frame (a classifier's errors repeat a lot). All-zero (blank) frames:

       * ``blank_frames="measure"``: displayed like any other frame; the decode
         y = sum_f w_f y_f = B_opt q + sum_f w_f n_f then carries no residual (sum_f w_f = 0),
         i.e. E[y | calibration] = B_opt q exactly for every error;
       * ``"skip"``: not displayed, taken as 0; a sample whose error has one sign only (the
         other frame blank) then gets y = B_opt q + (sum of the displayed w_f) b, a bias shared
         by all such projections that averages out neither over noise nor over steps;

    3. rescale to the convention and restore the magnitude: B e ~ a h y, with

       * ``"probes"``: c^2 = sum_k <y_k, y'_k> / (n_out sum_k |p_k|^2) and
         sigma^2 = sum_k |y_k - y'_k|^2 / (4 n_out n_probes), measured once from ``n_probes``
         random ternary probes p_k (all frames displayed) each projected twice (y_k, y'_k): the
         product of two repeats has no noise bias, so c^2 estimates the mean square entry of
         B_opt, and sigma^2 the noise variance of one displayed frame per camera pixel (half that
         of a decoded probe, two frames); a lab can do exactly this. g = scale / sqrt(n_in) / c.
         ``gain_rule="signal"``: h = g. ``gain_rule="snr"``: per sample i,

         .. math::

            S_i = c^2 |q_i|^2, \quad N_i = \sigma^2 \sum_f w_f^2, \quad
            v_i = \frac{S_i}{S_i + N_i}, \quad h_i = g \sqrt{v_i}\; G

         with the sum over the measured frames of sample i (blank ones included with
         ``"measure"``). S_i is the mean square signal per pixel of B_opt q_i, N_i that of its
         decoded noise and v_i the signal fraction of its power, so E|B e_i|^2 / n_out =
         g^2 a_i^2 (S_i + N_i) v_i = g^2 a_i^2 S_i: signal plus noise arrive at exactly the
         noiseless update size, a fraction v_i of it signal (the signal-only gain sends the
         noise on top of it, several times its size at low SNR). G in {0, 1} is the gate: with
         the batch's mean signal fraction r = mean_i v_i (a per-sample quantity: the batch size
         does not enter, as the signal a run accumulates per epoch does not depend on it) and
         its moving average over projection calls rho_t = rho_{t-1} + (r_t - rho_{t-1}) / 50
         (rho_1 = r_1), G = 1 while rho >= ``min_signal_fraction`` (default 0.1, i.e. a
         per-sample S / N of about 0.11), and once closed G = 1 again only when rho >= 2
         ``min_signal_fraction``. A closed gate gives exactly zero feedback, which no optimizer scales
         back up (Adam normalises any other factor away): a noise-dominated device trains the
         head only, i.e. ends at the head-only control's result. The average and the
         hysteresis keep G from flickering (after a run of zero gradients Adam turns a single
         noisy one into a full-size step). With ``dedupe`` samples share measurements and their
         noise, which adds coherently in the batch's update; neither v_i nor R counts it (a
         per-use count shrinks the feedback of large batches at any SNR). The threshold 0.1 and
         the hysteresis factor 2 are choices, checked on digits (docs/results/optical-feedback.md).
         A device with no measurable signal (c^2 <= 0) gets h = 0 under ``"snr"`` (an error
         under ``"signal"``); a noiseless one (sigma = 0) gets h = g exactly;
       * ``"per-projection"``: h = scale |q| / sqrt(n_in) / rms(y) per sample (keeps the total,
         signal plus noise, at the convention's size; the gain rule does not apply).

    All-zero rows (no error) are not sent to the device. Frames and device time are those of
    ``opu`` (reference calibration and probes included).

    Backends (``backend``): ``"numpy"`` moves the error to the host and measures with
    ``opu.linear`` (numpy/numba; fused quantise-encode, frames deduplicated on packed keys, one
    numba pass that decodes and rescales in place); ``"torch"`` runs every step on the error's
    device (CPU or CUDA) through :class:`photonics.backends.torch_opu.TorchOPU`: quantisation,
    encoding, deduplication, projection, camera noise (the counter-based streams of numpy) and
    decoding stay there, and only frame counts reach the host (the device clock). The stochastic
    rounding's U[0, 1) draws come from the host generator (PCG64, as with numpy) and are
    uploaded; the reference calibration and the probes run once on the host. On a CPU torch
    device the numbers equal numpy's bit for bit; on CUDA the GEMM runs in cuBLAS (fields within
    float32 rounding, see :mod:`photonics.backends.torch_opu`). ``"auto"``: torch for an error
    on a GPU, numpy on the CPU.

    Parameters
    ----------
    opu : photonics.OPU
        The device; its n_in is the error dimension, its n_out the total feedback width.
    quantizer : ErrorQuantizer
        How the error is quantized (default: ternary, threshold 0.35).
    scale, rescale, n_probes, dedupe, backend, blank_frames, gain_rule : see :class:`FeedbackConfig`.
    probe_seed : int
        Seed of the probe patterns.
    recalibrate_every_s : float or None
        Refresh the reference calibration when this much device time [s] has passed since
        the last one (checked before each projection); None: never (see :class:`FeedbackConfig`).
    rounding_seed : int
        Seed of the stochastic rounding draws.
    """

    kind = "optical"

    def __init__(self, opu, *, quantizer: ErrorQuantizer | None = None, scale: float = 1.0, rescale: str = "probes",
                 n_probes: int = 32, dedupe: bool = True, probe_seed: int = 0, recalibrate_every_s: float | None = None,
                 rounding_seed: int = 0, backend: str = "auto", blank_frames: str = "measure", gain_rule: str = "snr",
                 min_signal_fraction: float = 0.1):
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
        self.backend = check_choice(backend, "backend", BACKENDS, error=ValidationError)
        self.blank_frames = check_choice(blank_frames, "blank_frames", BLANK_FRAMES, error=ValidationError)
        self.gain_rule = check_choice(gain_rule, "gain_rule", GAIN_RULES, error=ValidationError)
        self.min_signal_fraction = check_real(min_signal_fraction, "min_signal_fraction", low=0.0, high=1.0, error=ValidationError)
        self._gated = 0  # projections whose feedback the batch-SNR gate set to zero (see gated_projections)
        self._gated_t = None  # the same count on a torch device (read lazily: no host sync per step)
        self._snr_avg = None  # moving average of the batch's mean signal fraction (float, or a 0-d tensor on the torch device)
        self._gate_open = True
        self.recalibrate_every_s = None if recalibrate_every_s is None else check_real(
            recalibrate_every_s, "recalibrate_every_s", low=0.0, low_inclusive=False, unit="s", error=ValidationError)
        if self.backend == "torch":
            self._check_torch_device()
        self.recalibrations = 0  # reference calibrations made by the periodic refresh
        self._probe_encoder = TernaryEncoder(0.0)
        self._weights = quantizer.plane_weights  # w_f, float64
        self._w32 = self._weights.astype(np.float32)
        self._w2 = self._weights**2
        self._w2_total = float(self._w2.sum())
        self.gain: float | None = None
        #: probe estimates: mean square entry of B_opt [sqrt(DN)^2] and noise variance of one frame per pixel [sqrt(DN)^2]
        self.signal_c2: float | None = None
        self.noise_var: float | None = None
        self.frames_displayed = 0  # DMD frames sent to the device for feedback (calibration excluded)
        self.frames_requested = 0  # DMD frames the encoding asked for, before skipping zeros and duplicates
        self._frames0 = opu.frames_used
        self._time0 = opu.device_time_s
        self._torch_opus: dict = {}

    # ---- calibration -----------------------------------------------------------------------
    def calibrate(self) -> float:
        """Measure the probe gain g and the frame noise sigma^2 (``rescale="probes"``); costs 2 n_probes projections."""
        g = generator(self.probe_seed, "dfa", "feedback", "probes")
        probes = g.choice(np.array([-1, 0, 1], dtype=np.int8), size=(self.n_probes, self.n_in), p=[0.25, 0.5, 0.25])
        empty = ~probes.any(axis=1)
        probes[empty, 0] = 1
        y1 = self.opu.linear(probes, encoder=self._probe_encoder).astype(np.float64)
        y2 = self.opu.linear(probes, encoder=self._probe_encoder).astype(np.float64)
        c2 = float(np.sum(y1 * y2)) / (self.n_out * float(np.sum(probes.astype(np.float64) ** 2)))
        d = y1 - y2
        self.noise_var = float(np.sum(d * d)) / (4.0 * self.n_out * self.n_probes)
        self.signal_c2 = c2
        if not c2 > 0:
            if self.gain_rule == "snr" and self.noise_var > 0:
                log.warning("optical feedback: the probes found no signal (c^2 = %.3g, frame noise %.3g sqrt(DN)^2): the "
                            "feedback is set to zero (the hidden layers keep their initial weights)", c2, self.noise_var)
                self.gain = 0.0
                return self.gain
            raise ValidationError(
                f"the optical feedback calibration found no signal (c^2 = {c2:.3g} sqrt(DN)^2): the device is too noisy "
                "or its reference too weak for a linear projection; check the device config"
            )
        self.gain = self.scale / math.sqrt(self.n_in) / math.sqrt(c2)
        log.info("optical feedback: probe calibration c = %.4g sqrt(DN) per unit error, frame noise %.4g sqrt(DN), gain %.4g",
                 math.sqrt(c2), math.sqrt(self.noise_var), self.gain)
        return self.gain

    def _maybe_recalibrate(self) -> None:
        """Refresh the reference calibration if ``recalibrate_every_s`` of device time has passed.

        Device time is frames x frame period, a float: the comparison allows half a frame period
        so that "exactly one period" recalibrates whatever the rounding of the frame count.
        """
        if self.recalibrate_every_s is None:
            return
        cal = self.opu.reference_calibration
        if cal is None:
            return
        elapsed_s = self.opu.device_time_s - cal.device_time_s
        if elapsed_s >= self.recalibrate_every_s - 0.5 * self.opu.config.frame_period_s:
            self.opu.calibrate_reference()
            self.recalibrations += 1

    # ---- backends --------------------------------------------------------------------------
    def _check_torch_device(self) -> None:
        if getattr(self.opu.modulator, "kind", "dmd") != "dmd" or not self.opu.medium.is_static:
            raise ValidationError(
                "feedback backend 'torch' needs a binary-DMD device with a static medium (this one has "
                f"{self.opu.config.modulator!r} modulation and a {'static' if self.opu.medium.is_static else 'drifting'} medium); "
                "use backend 'numpy'"
            )

    def backend_for(self, device) -> str:
        """The backend that projects an error on torch ``device``: ``"numpy"`` or ``"torch"``."""
        if self.backend != "auto":
            return self.backend
        dev = device if isinstance(device, torch.device) else torch.device(device)
        if dev.type == "cpu":
            return "numpy"
        if getattr(self.opu.modulator, "kind", "dmd") != "dmd" or not self.opu.medium.is_static:
            if not getattr(self, "_warned_auto", False):
                log.warning("optical feedback: backend 'auto' keeps numpy on the host for this device (phase SLM or drifting "
                            "medium, which the torch backend does not support); every step copies the error to the host")
                self._warned_auto = True
            return "numpy"
        return "torch"

    def torch_opu(self, device):
        """The :class:`~photonics.backends.torch_opu.TorchOPU` of this provider's device on torch ``device`` (cached)."""
        from photonics.backends.torch_opu import TorchOPU

        dev = torch.device(device)
        key = str(dev)
        if key not in self._torch_opus:
            self._torch_opus[key] = TorchOPU(self.opu, dev)
        return self._torch_opus[key]

    def _uniforms(self, shape) -> np.ndarray | None:
        """U[0, 1) draws of the stochastic rounding of this call (host PCG64; None for deterministic rounding)."""
        if not isinstance(self.quantizer, StochasticQuantizer):
            return None
        return generator(self.rounding_seed, "dfa", "feedback", "rounding", str(self.projections)).random(shape)

    # ---- the per-sample factor -------------------------------------------------------------
    def _row_factor(self, a, q2, n_measured_w2):
        """h_i a_i of the probes rescaling (float64 arrays, numpy or torch; same operations in the same order).

        ``n_measured_w2``: N_i / sigma^2 (:meth:`_noise_weights`), or a callable returning it,
        evaluated only under the ``"snr"`` rule."""
        if self.gain_rule == "signal" or self.gain == 0.0:
            return a * self.gain
        nw2 = n_measured_w2() if callable(n_measured_w2) else n_measured_w2
        if isinstance(a, np.ndarray):  # one numba pass: the factors and the gate (the torch lines below, in numpy's order)
            prev = self._snr_avg
            row, avg, is_open = _snr_gate_rows(
                a, q2, float(self.signal_c2), float(self.noise_var), float(self.gain),
                np.ascontiguousarray(nw2, dtype=np.float64) if isinstance(nw2, np.ndarray) else _NO_ROWS,
                0.0 if isinstance(nw2, np.ndarray) else float(nw2), float(self.min_signal_fraction),
                np.nan if prev is None else float(prev), bool(self._gate_open))
            if self.min_signal_fraction > 0:
                self._snr_avg, self._gate_open = float(avg), bool(is_open)
                if not is_open:
                    self.gated_projections += 1
            return row
        s = self.signal_c2 * q2
        v = s / (s + self.noise_var * nw2)
        row = a * self.gain * torch.sqrt(v)
        if self.min_signal_fraction <= 0:
            return row
        # the gate: r = mean_i v_i (numpy's pairwise order on both backends), its moving average
        # rho <- rho + (r - rho) / GATE_CALLS (rho = r at the first call), open while rho >= v_min,
        # reopened once closed only when rho >= 2 v_min (see the class docstring)
        thr = self.min_signal_fraction
        r = pairwise_row_sum_torch(v[None, :])[0] / v.shape[0]
        if self._snr_avg is None:
            avg, is_open = r, r >= thr
        else:
            prev = torch.as_tensor(self._snr_avg, dtype=torch.float64, device=v.device)
            was = torch.as_tensor(self._gate_open, device=v.device)
            avg = prev + (r - prev) / GATE_CALLS
            is_open = avg >= torch.where(was, torch.full_like(avg, thr), torch.full_like(avg, 2.0 * thr))
        self._snr_avg, self._gate_open = avg, is_open
        shut = (~is_open).to(torch.int64)
        self._gated_t = shut if self._gated_t is None else self._gated_t + shut
        return torch.where(is_open, row, row * 0.0)

    def _noise_weights(self, nz):
        """N_i / sigma^2 = sum_f w_f^2 over the measured frames of each sample (all of them with
        ``"measure"``, the nonzero ones with ``"skip"``; ``nz`` (n_f, m): frame f of sample i is not
        blank). Sums of powers of 4: exact in any order, so numpy and torch agree bit for bit."""
        if self.blank_frames == "measure":
            return self._w2_total
        if isinstance(nz, np.ndarray):
            return (self._w2[:, None] * nz).sum(axis=0)
        w2 = torch.as_tensor(self._w2, dtype=torch.float64, device=nz.device)
        return (w2[:, None] * nz).sum(dim=0)

    # ---- projection: numpy -----------------------------------------------------------------
    def _measure(self, frames: np.ndarray, n_requested: int) -> np.ndarray:
        """``opu.linear`` of the frames to display (U, n_in) uint8, counted: U displayed of ``n_requested``."""
        # the frames come from the display plan (uint8 0/1, C-contiguous): linear's inner path, as on the torch backend
        measured = self.opu.linear_frames(frames) if frames.shape[0] else np.zeros((0, self.n_out), dtype=np.float32)
        self.frames_displayed += measured.shape[0]
        self.frames_requested += n_requested
        return measured

    def _display_numpy(self, keys: np.ndarray, nz: np.ndarray, frames_of):
        """Measure the frames of a batch: (measured (U, n_out) float32, code (n_f, m)).

        ``keys`` (n_f, m): sort keys of the frames (:func:`_frame_keys_numpy`, or the ternary
        kernel's), whose order is the lexicographic order of the frames; ``nz`` (n_f, m): the
        frame is not blank; ``frames_of(flat indices)``: the uint8 frames (k, n_in) at these
        frame-major positions (not used for uint64 keys, n_in <= 64, which hold the whole frame:
        :func:`_display_plan`). ``code[f, i]``: row of ``measured`` holding frame f of sample i,
        -1 for a blank frame that was not displayed (``blank_frames="skip"``). Displayed: every
        frame (``"measure"``) or the nonzero ones, each distinct one once in the lexicographic
        order of the rows with ``dedupe`` (what ``np.unique(rows, axis=0)`` returns), else in
        frame-major order.
        """
        n_f, m = nz.shape
        flat_keys = keys.reshape(-1)
        if flat_keys.dtype.kind == "u":  # n_in <= 64: one numba pass (frames rebuilt from the keys)
            flat_keys = np.ascontiguousarray(flat_keys, dtype=np.uint64)
            frames, code = _display_plan(flat_keys, self.blank_frames == "skip", self.dedupe, self.n_in)
            return self._measure(frames, n_f * m), code.reshape(n_f, m)
        if self.blank_frames == "measure":
            shown = None
            sel = flat_keys
        else:
            shown = np.flatnonzero(nz.reshape(-1))
            sel = flat_keys[shown]
        code = np.full(n_f * m, -1, dtype=np.int64)
        if self.dedupe:
            _, first, inverse = np.unique(sel, return_index=True, return_inverse=True)
            measured = self._measure(frames_of(first if shown is None else shown[first]), n_f * m)
            rows = inverse.reshape(-1)
        else:
            measured = self._measure(frames_of(np.arange(n_f * m) if shown is None else shown), n_f * m)
            rows = np.arange(sel.shape[0])
        if shown is None:
            code[:] = rows
        else:
            code[shown] = rows
        return measured, code.reshape(n_f, m)

    def _project_numpy(self, error):
        e = error.to(device="cpu", dtype=torch.float64).numpy()
        n_rows = e.shape[0]
        ternary = self.quantizer.encoding == "ternary"
        # one numba pass (ternary, or deterministic bit planes): quantise, encode and deduplicate (frames rebuilt from their sort keys)
        fused = self.n_in <= 64 and (ternary or not isinstance(self.quantizer, StochasticQuantizer))
        if fused:
            qz = self.quantizer
            idx, frames, code, aa, qa2 = _fused_display(np.ascontiguousarray(e), ternary, float(qz.threshold), int(qz.n_bits),
                                                        float(qz.levels), self.blank_frames == "skip", self.dedupe)
        else:
            frames, a, q2 = self.quantizer.planes(e, self._uniforms(e.shape))
            idx = np.flatnonzero(a > 0)
        if idx.size == 0:
            return torch.zeros((n_rows, self.n_out), device=error.device, dtype=error.dtype)
        if self.rescale == "probes" and self.gain is None:
            self.calibrate()
        self._maybe_recalibrate()
        full = idx.size == n_rows
        if fused:
            measured = self._measure(frames, code.size)
            nz = None if self.blank_frames == "measure" else code >= 0  # "skip": exactly the nonzero frames are shown
        else:
            fa = frames if full else frames[:, idx]
            flat = fa.reshape(-1, self.n_in)
            nz = fa.any(axis=2)

            def frames_of(pos):
                return flat[pos]
            measured, code = self._display_numpy(_frame_keys_numpy(flat).reshape(fa.shape[:2]), nz, frames_of)
            aa, qa2 = a[idx], q2[idx]
        if self.rescale == "probes":
            # the output is a torch allocation (aligned as torch's own kernels expect), decoded in place
            out_t = (torch.empty if full else torch.zeros)((n_rows, self.n_out), dtype=torch.float32)
            out = out_t.numpy()
            row = self._row_factor(aa, qa2, self._w2_total if nz is None else lambda: self._noise_weights(nz))
            # decode_rows' kernel, called directly: every argument here already is a contiguous array of its dtype
            (_decode_rows_parallel if out.size >= _PARALLEL_FROM else _decode_rows_serial)(measured, code, self._w32, row, idx, out)
            return out_t if error.dtype == torch.float32 and error.device.type == "cpu" else out_t.to(device=error.device, dtype=error.dtype)
        else:
            y = np.empty((idx.size, self.n_out), dtype=np.float32)
            decode_rows(measured, code, self._w32, np.ones(idx.size), np.arange(idx.size), y)
            rms = np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=1))
            target = self.scale * np.sqrt(qa2 / self.n_in)
            row = aa * target / np.where(rms > 0, rms, 1.0)
            y *= row.astype(np.float32)[:, None]
            if full:
                out = y
            else:
                out = np.zeros((n_rows, self.n_out), dtype=np.float32)
                out[idx] = y
        return torch.from_numpy(out).to(device=error.device, dtype=error.dtype)

    # ---- projection: torch -----------------------------------------------------------------
    def _display_torch(self, fa, topu):
        """Torch twin of :meth:`_display_numpy` (fa: bool (n_f, m, n_in) on the device); code uses U (a zero row) for skipped blanks."""
        n_f, m, n = fa.shape
        dev = fa.device
        flat = fa.reshape(n_f * m, n)
        nz = fa.any(dim=2)
        if self.blank_frames == "measure":
            shown = None
            sel = flat
        else:
            shown = torch.nonzero(nz.reshape(-1)).squeeze(1)
            sel = flat[shown]
        n_sel = sel.shape[0]
        if n_sel and self.dedupe:
            words = _frame_keys_torch(sel)
            if words.shape[1] == 1:
                uniq, inverse = torch.unique(words[:, 0], sorted=True, return_inverse=True)
                uniq = uniq[:, None]
            else:
                uniq, inverse = torch.unique(words, dim=0, sorted=True, return_inverse=True)
            measured = topu.linear_frames(_frames_from_keys_torch(uniq, n))
            rows = inverse.reshape(-1)
        elif n_sel:
            measured = topu.linear_frames(sel.to(torch.float32))
            rows = torch.arange(n_sel, device=dev)
        else:
            measured = torch.zeros((0, self.n_out), dtype=torch.float32, device=dev)
            rows = torch.zeros(0, dtype=torch.int64, device=dev)
        n_u = measured.shape[0]
        if shown is None:
            code = rows
        else:
            code = torch.full((n_f * m,), n_u, dtype=torch.int64, device=dev)
            code[shown] = rows
        self.frames_displayed += n_u
        self.frames_requested += n_f * m
        block = torch.cat([measured, torch.zeros((1, self.n_out), dtype=torch.float32, device=dev)])
        return block, code.reshape(n_f, m), nz

    def _project_torch(self, error):
        dev = error.device
        topu = self.torch_opu(dev)
        n_rows = error.shape[0]
        u = self._uniforms(tuple(error.shape))
        if u is not None:
            u = torch.from_numpy(u).to(dev)
        frames, a, q2 = self.quantizer.planes_torch(error, u)
        idx = torch.nonzero(a > 0).squeeze(1)
        m = idx.shape[0]  # the one size the host needs before the frames (device clock)
        if m == 0:
            return torch.zeros((n_rows, self.n_out), device=dev, dtype=error.dtype)
        if self.rescale == "probes" and self.gain is None:
            self.calibrate()
        self._maybe_recalibrate()
        full = m == n_rows
        fa = frames if full else frames[:, idx]
        block, code, nz = self._display_torch(fa, topu)
        # decode: y = sum_f w_f y_f in float32, f in order, from 0 (the numpy kernel's arithmetic)
        y = torch.zeros((m, self.n_out), dtype=torch.float32, device=dev)
        for f in range(code.shape[0]):  # the encoding's planes (2 for ternary), each a batched gather
            y += float(self._w32[f]) * block[code[f]]
        aa = a if full else a[idx]
        qa2 = q2 if full else q2[idx]
        if self.rescale == "probes":
            row = self._row_factor(aa, qa2, lambda: self._noise_weights(nz))
        else:
            yd = y.to(torch.float64)
            rms = torch.sqrt(pairwise_row_sum_torch(yd * yd) / self.n_out)
            target = self.scale * torch.sqrt(qa2 / self.n_in)
            row = aa * target / torch.where(rms > 0, rms, torch.ones_like(rms))
        y *= row.to(torch.float32)[:, None]
        if full:
            out = y
        else:
            out = torch.zeros((n_rows, self.n_out), dtype=torch.float32, device=dev)
            out[idx] = y
        return out.to(error.dtype)

    def _projects_on_host(self, error):
        return self.backend_for(error.device) == "numpy"

    def _project(self, error):
        if self.backend_for(error.device) == "numpy":
            return self._project_numpy(error)
        return self._project_torch(error)

    # ---- accounting and state --------------------------------------------------------------
    @property
    def gated_projections(self) -> int:
        """Projection calls whose feedback the batch-SNR gate set to zero (``gain_rule="snr"``)."""
        if self._gated_t is not None:
            self._gated += int(self._gated_t.item())
            self._gated_t = None
        return self._gated

    @gated_projections.setter
    def gated_projections(self, value: int) -> None:
        if self._gated_t is not None:
            self._gated_t = None
        self._gated = int(value)

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
            "signal_c2": self.signal_c2,
            "noise_var": self.noise_var,
            "frames_displayed": self.frames_displayed,
            "frames_requested": self.frames_requested,
            "recalibrations": self.recalibrations,
            "gated_projections": self.gated_projections,
            "signal_fraction_average": None if self._snr_avg is None else float(self._snr_avg),
            "gate_open": bool(self._gate_open),
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
        c2, nv = state.get("signal_c2"), state.get("noise_var")
        self.signal_c2 = None if c2 is None else float(c2)
        self.noise_var = None if nv is None else float(nv)
        if self.gain is not None and self.gain_rule == "snr" and (self.signal_c2 is None or self.noise_var is None):
            raise FileFormatError(
                "the saved optical feedback state has no probe noise estimate (a checkpoint from before the 'snr' gain "
                "rule); resume it with feedback.gain_rule = 'signal' and feedback.blank_frames = 'skip'"
            )
        self.frames_displayed = int(state.get("frames_displayed", 0))
        self.frames_requested = int(state.get("frames_requested", 0))
        self.recalibrations = int(state.get("recalibrations", 0))
        self.gated_projections = int(state.get("gated_projections", 0))
        avg = state.get("signal_fraction_average")
        self._snr_avg = None if avg is None else float(avg)
        self._gate_open = bool(state.get("gate_open", True))
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
            backend=self.backend,
            blank_frames=self.blank_frames,
            gain_rule=self.gain_rule,
            min_signal_fraction=self.min_signal_fraction,
            gated_projections=self.gated_projections,
            signal_fraction_average=None if self._snr_avg is None else float(self._snr_avg),
            recalibrate_every_s=self.recalibrate_every_s,
            recalibrations=self.recalibrations,
            dmd_frames_displayed=self.frames_displayed,
            dmd_frames_requested=self.frames_requested,
            gain=self.gain,
            probe_signal_c2=self.signal_c2,
            probe_frame_noise_var=self.noise_var,
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
        backend=config.backend,
        blank_frames=config.blank_frames,
        gain_rule=config.gain_rule,
        min_signal_fraction=config.min_signal_fraction,
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

