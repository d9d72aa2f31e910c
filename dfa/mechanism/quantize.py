"""Quantization of the output error before an optical projection (a DMD shows binary frames).

The error e (one row per sample) is written as e ~ s q, with s a per-sample scale kept
digitally (no optical cost) and q a small-integer vector the DMD can display:

* ``"ternary"`` (the light-in-the-loop scheme): q_j = sign(e_j) where
  |e_j| > threshold * max_k |e_k|, else 0; s = mean |e_j| over the kept entries.
  Two DMD frames per sample (q > 0 and q < 0).
* ``"bitplanes"``: q_j = round(L e_j / max_k |e_k|) with L = 2^n_bits - 1, s = max_k |e_k| / L:
  a signed n-bit fixed-point copy of the error; 2 n_bits DMD frames per sample (sign split,
  then one binary frame per bit plane), decoded exactly by linearity of the projection.

Ternary errors are cheap and work for a few classes; an error whose energy sits in one entry
among many (a language model's next-character error: p - onehot over ~100 characters) loses
its information in the sign and needs bit planes (measured in docs/results/large-models.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photonics.errors import ValidationError
from photonics.validation import check_choice, check_int, check_real

__all__ = ["ErrorQuantizer", "ternarize_error", "ENCODINGS"]

ENCODINGS = ("ternary", "bitplanes")


def ternarize_error(error, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Ternary error t (int8, same shape) and per-row magnitude a (float64) with a t ~ e.

    t_j = sign(e_j) where |e_j| > threshold * max_k |e_k| (per row), else 0;
    a = mean of |e_j| over the kept entries (0 for an all-zero row).
    """
    from photonics.encoding import ternarize

    e = np.asarray(error, dtype=np.float64)
    amax = np.abs(e).max(axis=1, keepdims=True)
    safe = np.where(amax > 0, amax, 1.0)
    t = ternarize(e / safe, threshold)
    kept = t != 0
    n_kept = kept.sum(axis=1)
    a = np.where(n_kept > 0, (np.abs(e) * kept).sum(axis=1) / np.maximum(n_kept, 1), 0.0)
    return t, a


@dataclass(frozen=True)
class ErrorQuantizer:
    """e (M, n) -> (q, s) with e ~ s[:, None] * q (see the module docstring).

    Parameters
    ----------
    encoding : str
        ``"ternary"`` or ``"bitplanes"``.
    threshold : float
        Ternary threshold relative to each sample's max |e|, in [0, 1).
    n_bits : int
        Bit planes per sign of the ``"bitplanes"`` encoding, 1..8.
    """

    encoding: str = "ternary"
    threshold: float = 0.35
    n_bits: int = 3

    def __post_init__(self):
        check_choice(self.encoding, "encoding", ENCODINGS, error=ValidationError)
        check_real(self.threshold, "threshold", low=0.0, high=1.0, high_inclusive=False, error=ValidationError)
        check_int(self.n_bits, "n_bits", low=1, high=8, error=ValidationError)

    @property
    def levels(self) -> int:
        """Largest |q|: 1 (ternary) or 2^n_bits - 1."""
        return 1 if self.encoding == "ternary" else 2**self.n_bits - 1

    @property
    def dmd_frames_per_sample(self) -> int:
        """Binary DMD frames that display one q."""
        return 2 if self.encoding == "ternary" else 2 * self.n_bits

    def __call__(self, error) -> tuple[np.ndarray, np.ndarray]:
        """(q int16 (M, n), s float64 (M,)) for the error rows; all-zero rows give q = 0, s = 0."""
        e = np.asarray(error, dtype=np.float64)
        if self.encoding == "ternary":
            t, a = ternarize_error(e, self.threshold)
            return t.astype(np.int16), a
        amax = np.abs(e).max(axis=1)
        safe = np.where(amax > 0, amax, 1.0)
        q = np.rint(e / safe[:, None] * self.levels).astype(np.int16)
        return q, np.where(amax > 0, amax / self.levels, 0.0)

    def encoder(self):
        """The photonics encoder that displays q and decodes B q from the frames' outputs."""
        from photonics.encoding import BitPlaneEncoder, SignSplitEncoder, TernaryEncoder

        if self.encoding == "ternary":
            return TernaryEncoder(0.0)
        return SignSplitEncoder(inner=BitPlaneEncoder(self.n_bits, x_min=0.0, x_max=float(self.levels)))

    def describe(self) -> dict:
        d = {"encoding": self.encoding, "dmd_frames_per_sample": self.dmd_frames_per_sample}
        d.update({"threshold": self.threshold} if self.encoding == "ternary" else {"n_bits": self.n_bits})
        return d
