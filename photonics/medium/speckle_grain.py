"""Finite speckle grain: the Gaussian field seen through a circular camera-plane pupil.

The camera records the field E(x) = F^-1[ P(k) G(k) ](x) where G is the field in the pupil
(Fourier) plane, i.i.d. circular Gaussian for each input mode, and P a circular aperture of
radius f_c [cycles/pixel]. Neighbouring pixels then correlate: the field correlation is
mu(r) = 2 J1(2 pi f_c r) / (2 pi f_c r) and the intensity autocovariance |mu(r)|^2 (Airy
pattern). The grain size g [pixels] is defined as the full width at half maximum of that
intensity autocovariance, so

    f_c = x0 / (pi g),    x0 = 1.61634  (the root of [2 J1(x) / x]^2 = 1/2)

(for a one-row camera the pupil is a slit, mu = sinc, and x0 = 1.39156). g = 1 means no
pupil: the Gaussian TM with uncorrelated pixels.

Discretisation: the pupil field lives on a periodic grid (H, W) padded by 4 g pixels beyond
the image (h, w), so the cropped image shows no wrap-around; only the N_p grid frequencies
inside the pupil carry light. Writing G as an i.i.d. CN(0, 1/n_in) matrix (N_p x n_cols) (a
:class:`~photonics.medium.GaussianMedium`, counter-based), the TM is

    T = sqrt(H W / N_p) * C F^-1 S G

with S the scatter of the pupil coefficients onto the grid, F^-1 the unitary inverse 2-D DFT
and C the crop to the image: E|T_ij|^2 = 1/n_in exactly for every pixel (mean power per
pixel preserved) and T has rank <= N_p ~ n_out / g^2 (the pupil passes about one channel per
grain). Projections use the factorisation: x -> G x (a GEMM with N_p rows) -> FFT, so the
procedural storage never forms T.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from photonics.config import square_shape
from photonics.errors import ShapeError, ValidationError
from photonics.medium.base import Medium, as_slice
from photonics.medium.gaussian import GaussianMedium
from photonics.rng import derive_seed
from photonics.validation import check_int, check_real

log = logging.getLogger(__name__)

__all__ = ["SpeckleMedium", "AIRY_HALF_MAX_X", "SINC_HALF_MAX_X", "pupil_cutoff"]

#: Root of [2 J1(x)/x]^2 = 1/2 (circular pupil: intensity autocovariance at half maximum).
AIRY_HALF_MAX_X = 1.6163399483106482
#: Root of [sin(x)/x]^2 = 1/2 (slit pupil of a one-row camera).
SINC_HALF_MAX_X = 1.3915573782515103
#: Padding of the periodic pupil grid beyond the image, in grain sizes.
PAD_GRAINS = 4.0


def pupil_cutoff(grain_size_px: float, one_dimensional: bool = False) -> float:
    """Pupil radius f_c [cycles/pixel] giving an intensity-autocovariance FWHM of ``grain_size_px``."""
    x0 = SINC_HALF_MAX_X if one_dimensional else AIRY_HALF_MAX_X
    return x0 / (math.pi * grain_size_px)


class SpeckleMedium(Medium):
    """Speckle with a finite grain: i.i.d. pupil-plane field filtered by a circular pupil.

    Parameters
    ----------
    n_in : int
        Signal input modes (E|T_ij|^2 = 1/n_in).
    n_out : int
        Camera pixels.
    seed : int
        Seed of the static disorder.
    grain_size_px : float
        FWHM of the intensity autocovariance [pixels], >= 1 (1: uncorrelated pixels).
    image_shape : (int, int), optional
        Camera image (rows, cols), row-major; default the most square factorisation of n_out.
    n_cols : int, optional
        Addressable columns (signal + reference), default n_in.
    procedural : bool
        Never store T: each projection runs x -> G x -> FFT (G regenerated block by block).
    block_rows : int
        Rows of G generated per block in procedural mode.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        seed: int,
        *,
        grain_size_px: float = 1.0,
        image_shape: tuple[int, int] | None = None,
        n_cols: int | None = None,
        procedural: bool = False,
        block_rows: int = 0,
    ):
        from scipy import fft

        self.n_in = check_int(n_in, "n_in", low=1, error=ValidationError)
        self.n_out = check_int(n_out, "n_out", low=1, error=ValidationError)
        self.n_cols = int(n_cols if n_cols is not None else n_in)
        if self.n_cols < self.n_in:
            raise ValidationError(f"n_cols must be >= n_in={self.n_in} (got {self.n_cols})")
        self.seed = int(seed)
        self.grain_size_px = check_real(grain_size_px, "grain_size_px", low=1.0, high=1024.0, unit="px", error=ValidationError)
        shape = square_shape(self.n_out) if image_shape is None else tuple(int(v) for v in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != self.n_out:
            raise ShapeError(f"image_shape {image_shape} does not hold n_out={self.n_out} pixels")
        self.image_shape = shape
        self.procedural = bool(procedural)
        self.block_rows = int(block_rows)
        h, w = shape
        g = self.grain_size_px
        self.filtered = g > 1.0
        if self.filtered:
            one_d = h == 1 or w == 1
            self.cutoff = pupil_cutoff(g, one_dimensional=one_d)
            pad = int(math.ceil(PAD_GRAINS * g))
            self.grid = (fft.next_fast_len(h + pad) if h > 1 else 1, fft.next_fast_len(w + pad) if w > 1 else 1)
            ky = np.fft.fftfreq(self.grid[0])[:, None]
            kx = np.fft.fftfreq(self.grid[1])[None, :]
            inside = ky**2 + kx**2 <= self.cutoff**2
            self._ky, self._kx = (a.astype(np.intp) for a in np.nonzero(inside))
            self.n_pupil = int(self._ky.size)
            self._scale = math.sqrt(self.grid[0] * self.grid[1] / self.n_pupil)
        else:
            self.cutoff = 0.5 * math.sqrt(2.0)
            self.grid = shape
            self.n_pupil = self.n_out
            self._scale = 1.0
        # the pupil-plane coefficients G (n_pupil x n_cols), or the pixels themselves if g = 1
        self.pupil = GaussianMedium(
            self.n_in,
            self.n_pupil,
            derive_seed(self.seed, "speckle-pupil"),
            n_cols=self.n_cols,
            procedural=True,
            block_rows=self.block_rows,
        )
        self._w: np.ndarray | None = None
        if not self.procedural:
            self._w = self._dense_split()

    # -- the linear map A = scale * C F^-1 S -------------------------------------------------------
    def _to_pixels(self, g: np.ndarray) -> np.ndarray:
        """Pupil coefficients (batch, n_pupil) complex -> camera fields (batch, n_out) complex64."""
        if not self.filtered:
            return g.astype(np.complex64, copy=False)
        from scipy import fft

        b = g.shape[0]
        grid = np.zeros((b,) + self.grid, dtype=np.complex64)
        grid[:, self._ky, self._kx] = g
        img = fft.ifft2(grid, axes=(1, 2), norm="ortho", overwrite_x=True)
        h, w = self.image_shape
        out = img[:, :h, :w].reshape(b, self.n_out)
        out *= np.float32(self._scale)
        return out

    def _fields(self, x: np.ndarray, cols: slice, chunk: int = 256) -> np.ndarray:
        """x (batch, n_sel) real or complex -> camera fields (batch, n_out) complex64."""
        out = np.empty((x.shape[0], self.n_out), dtype=np.complex64)
        for s in range(0, x.shape[0], chunk):
            e = min(s + chunk, x.shape[0])
            out[s:e] = self._to_pixels(self.pupil.field(x[s:e], cols))
        return out

    def _dense_split(self) -> np.ndarray:
        w = np.empty((self.n_cols, 2 * self.n_out), dtype=np.float32)
        chunk = max(1, min(512, (1 << 26) // max(1, self.grid[0] * self.grid[1] * 8)))
        for c0 in range(0, self.n_cols, chunk):
            c1 = min(c0 + chunk, self.n_cols)
            gm = self.pupil.matrix(None, slice(c0, c1))  # (n_pupil, k)
            t = self._to_pixels(np.ascontiguousarray(gm.T))  # (k, n_out): columns of T as rows
            w[c0:c1, : self.n_out] = t.real
            w[c0:c1, self.n_out :] = t.imag
        return w

    # -- Medium interface ---------------------------------------------------------------------------
    def matrix(self, rows=None, cols=None, time_s: float = 0.0) -> np.ndarray:
        rows = as_slice(rows, self.n_out, "rows")
        cols = self._cols(cols)
        if self._w is not None:
            re = self._w[cols, rows.start : rows.stop]
            im = self._w[cols, self.n_out + rows.start : self.n_out + rows.stop]
            return (re + 1j * im).T.astype(np.complex64)
        gm = self.pupil.matrix(None, cols)
        t = self._to_pixels(np.ascontiguousarray(gm.T))
        return np.ascontiguousarray(t[:, rows].T)

    def split_field(self, x, cols=None, rows=None, time_s: float = 0.0) -> np.ndarray:
        """[Re | Im] of x @ T[rows, cols]^T (float32, batch x 2 n_rows).

        Dense: one GEMM against the stored matrix. Procedural: the pupil projection G x
        (block by block) followed by one inverse FFT per input.
        """
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        self._check_x(x, cols)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._w is not None:
            w = self._w
            if rows.start == 0 and rows.stop == self.n_out:
                return x @ w[cols]
            blk = np.concatenate([w[cols, rows.start : rows.stop], w[cols, self.n_out + rows.start : self.n_out + rows.stop]], axis=1)
            return x @ blk
        f = self._fields(x, cols)[:, rows]
        return np.concatenate([f.real, f.imag], axis=1).astype(np.float32, copy=False)

    def column_sum(self, cols, rows=None, time_s: float = 0.0) -> np.ndarray:
        cols = self._cols(cols)
        rows = as_slice(rows, self.n_out, "rows")
        if self._w is not None:
            n = rows.stop - rows.start
            blk = np.concatenate([self._w[cols, rows.start : rows.stop], self._w[cols, self.n_out + rows.start : self.n_out + rows.stop]], axis=1)
            acc = blk.sum(axis=0, dtype=np.float64)
            return acc[:n] + 1j * acc[n:]
        g = self.pupil.column_sum(cols)  # linear: sum_j T_ij = A sum_j G_kj
        return self._to_pixels(g[None].astype(np.complex64))[0, rows].astype(np.complex128)

    def realization(self, seed: int) -> "SpeckleMedium":
        """An independent medium of the same model (same grain, shape, storage) seeded ``seed``."""
        return SpeckleMedium(
            self.n_in,
            self.n_out,
            seed,
            grain_size_px=self.grain_size_px,
            image_shape=self.image_shape,
            n_cols=self.n_cols,
            procedural=self.procedural,
            block_rows=self.block_rows,
        )

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            seed=self.seed,
            grain_size_px=self.grain_size_px,
            image_shape=list(self.image_shape),
            pupil_grid=list(self.grid),
            pupil_modes=self.n_pupil,
            pupil_cutoff_cycles_per_px=self.cutoff,
            storage="procedural" if self.procedural else "dense",
        )
        return d
