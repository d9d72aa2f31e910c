"""A physically derived TM: beam propagation through a slab of random phase screens.

Model (scalar, paraxial scattering, exact angular-spectrum diffraction)
------------------------------------------------------------------------
The slab of thickness L and background index n0 is cut into n slices of thickness
dz = L / n. Each slice scatters through a thin random phase screen phi_s(x, y) at its centre,
a stationary Gaussian random field of covariance

    <phi_s(r) phi_s(r + d)> = sigma^2 b(d),   b(d) = exp(-|d|^2 / l_c^2),   sigma^2 = dz / l_s,

and light diffracts between screens with the angular-spectrum propagator
exp(i (k_z - k) dz), k_z = sqrt(k^2 - k_x^2 - k_y^2), k = 2 pi n0 / lambda (exact scalar
diffraction, no paraxial approximation in the propagation). Because <exp(i phi)> =
exp(-sigma^2 / 2), the coherent (ballistic) part of the field loses a factor exp(-sigma^2) of
power per screen, exp(-L / l_s) over the slab: l_s is the scattering mean free path. The
screens' correlation length l_c sets the single-scattering angle ~ lambda / (pi n0 l_c)
(forward scattering; no back-scattering, no absorption: the propagation is unitary).

Geometry
--------
The field lives on an N x N periodic grid of pitch dx = p / q, p the camera pixel pitch and
q the oversampling (default 4): the camera images the exit face at magnification 1 and
samples the exit field at its pixel centres, every q-th grid point of an ``image_shape``
window. Oversampling leaves room in the grid's angular band (|k_t| < pi / dx) for light
scattered beyond the camera's own sampling band, which would otherwise wrap around
(aliasing); the power reaching the outer fifth of the band is reported by
:meth:`MultiSliceMedium.band_edge_fraction`. The DMD sits in the front focal
plane of a lens whose back focal plane is the slab's entrance face (the random-projection
OPU layout): each DMD macropixel illuminates the entrance as a plane wave, macropixel (r, c)
of a near-square array of side s = ceil(sqrt(n_cols)) (signal modes first, then the
reference block) getting the transverse wavevector (2 pi / (N dx)) (r - s//2, c - s//2).
One grid frequency per macropixel means the grid period N dx is the illuminated spot
lambda f / p (p the macropixel pitch, f the lens focal length). The TM column j is the exit
field of input j on the camera window, scaled so that E|T_ij|^2 = 1/n_in.

What it shows
-------------
* thick slabs (L >> l_s): fully developed speckle (contrast -> 1, exponential law) and,
  when the camera window and the input set are small parts of the N^2 grid channels and the
  inputs lie beyond each other's memory-effect range, Marchenko-Pastur singular values;
* thin slabs: a ballistic fraction exp(-L / l_s) of unscattered light, contrast well below 1;
* the optical memory effect: tilting the input by d_theta tilts the output speckle, which
  stays correlated. With the tilt compensated, the correlation is (Markov approximation,
  exact for independent screens in the paraxial limit)

      C(d_theta) = prod_s exp(-sigma^2 [1 - b(d_theta * D_s / n0)]),

  D_s the distance from screen s to the camera plane (:meth:`MultiSliceMedium.memory_effect_theory`).

Not modelled: polarisation, back-scattering and the diffusive (isotropic) regime, absorption,
the finite illumination spot (periodic boundaries instead), pixel area integration.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from tqdm.auto import tqdm

from ..config import square_shape
from ..errors import ShapeError, ValidationError
from ..rng import generator
from ..validation import check_int, check_real
from .dense import DenseMedium, check_dense_size

log = logging.getLogger(__name__)

__all__ = ["MultiSliceMedium", "mode_frequencies"]

#: Phase variance per screen used when n_slices is automatic [rad^2].
MAX_PHASE_VARIANCE = 0.25


def mode_frequencies(n_modes: int) -> np.ndarray:
    """Integer grid frequencies (n_modes, 2) = (row, col) of the input plane waves.

    Mode j sits at (j // s - s // 2, j % s - s // 2), s = ceil(sqrt(n_modes)): a near-square
    DMD array of macropixels centred on the optical axis, row-major.
    """
    s = int(math.ceil(math.sqrt(n_modes)))
    j = np.arange(n_modes)
    return np.stack([j // s - s // 2, j % s - s // 2], axis=1)


class MultiSliceMedium(DenseMedium):
    """Transmission matrix of a slab of random phase screens (beam propagation method).

    Parameters
    ----------
    n_in : int
        Signal input modes.
    n_out : int
        Camera pixels.
    seed : int
        Seed of the screens.
    wavelength_m : float
        Vacuum wavelength [m].
    pixel_pitch_m : float
        Camera pixel pitch p [m]; the grid pitch is dx = p / oversampling.
    thickness_m : float
        Slab thickness L [m].
    scattering_mean_free_path_m : float
        l_s [m]: the ballistic power fraction is exp(-L / l_s).
    refractive_index : float
        Background index n0.
    screen_correlation_m : float, optional
        Screen correlation length l_c [m]; default 1.5 p.
    n_slices : int, optional
        Number of screens; default ceil(4 L / l_s) (phase variance <= 1/4 rad^2 per screen).
    grid_size : int, optional
        Grid edge N; default the smallest power of two >= 4 x max(q x image rows,
        q x image cols, side of the mode array) and >= 32.
    image_shape : (int, int), optional
        Camera window (rows, cols); default the most square factorisation of n_out.
    n_cols : int, optional
        Input modes simulated (signal + reference), default n_in.
    oversampling : int
        Grid points per camera pixel pitch q, 1..16.
    progress : bool
        Progress bar while the columns are propagated.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        seed: int,
        *,
        wavelength_m: float,
        pixel_pitch_m: float,
        thickness_m: float,
        scattering_mean_free_path_m: float,
        refractive_index: float = 1.0,
        screen_correlation_m: float | None = None,
        n_slices: int | None = None,
        grid_size: int | None = None,
        image_shape: tuple[int, int] | None = None,
        n_cols: int | None = None,
        oversampling: int = 4,
        progress: bool = False,
    ):
        n_in = check_int(n_in, "n_in", low=1, error=ValidationError)
        n_out = check_int(n_out, "n_out", low=1, error=ValidationError)
        n_cols = n_in if n_cols is None else check_int(n_cols, "n_cols", low=n_in, error=ValidationError)
        self.seed = int(seed)
        self.wavelength_m = check_real(wavelength_m, "wavelength_m", low=0.0, low_inclusive=False, unit="m", error=ValidationError)
        self.pixel_pitch_m = check_real(pixel_pitch_m, "pixel_pitch_m", low=0.0, low_inclusive=False, unit="m", error=ValidationError)
        self.oversampling = check_int(oversampling, "oversampling", low=1, high=16, error=ValidationError)
        self.dx = self.pixel_pitch_m / self.oversampling
        self.thickness_m = check_real(thickness_m, "thickness_m", low=0.0, low_inclusive=False, unit="m", error=ValidationError)
        self.mean_free_path_m = check_real(
            scattering_mean_free_path_m, "scattering_mean_free_path_m", low=0.0, low_inclusive=False, unit="m", error=ValidationError
        )
        self.n0 = check_real(refractive_index, "refractive_index", low=1.0, high=5.0, error=ValidationError)
        lc = 1.5 * self.pixel_pitch_m if screen_correlation_m is None else screen_correlation_m
        self.correlation_m = check_real(lc, "screen_correlation_m", low=0.0, low_inclusive=False, unit="m", error=ValidationError)
        ratio = self.thickness_m / self.mean_free_path_m
        if n_slices is None:
            n_slices = max(1, int(math.ceil(ratio / MAX_PHASE_VARIANCE)))
        self.n_slices = check_int(n_slices, "n_slices", low=1, high=100_000, error=ValidationError)
        shape = square_shape(n_out) if image_shape is None else tuple(int(v) for v in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != n_out:
            raise ShapeError(f"image_shape {image_shape} does not hold n_out={n_out} pixels")
        self.image_shape = shape
        self.freqs = mode_frequencies(n_cols)
        side = int(math.ceil(math.sqrt(n_cols)))
        q = self.oversampling
        if grid_size is None:
            need = max(4 * q * max(shape), 4 * side, 32)
            grid_size = 1 << (need - 1).bit_length()
        self.grid_size = check_int(grid_size, "grid_size", low=8, high=8192, error=ValidationError)
        N = self.grid_size
        if q * max(shape) > N:
            raise ValidationError(
                f"grid_size {N} is smaller than the camera window {shape} x oversampling {q}; raise medium.grid_size"
            )
        if side > N // 2:
            raise ValidationError(
                f"the {n_cols} input modes need a {side} x {side} block of grid frequencies, more than half the "
                f"{N} x {N} grid; raise medium.grid_size"
            )
        check_dense_size(n_out, n_cols, "MultiSliceMedium")
        self.phase_variance = ratio / self.n_slices  # sigma^2 per screen [rad^2]
        self.dz = self.thickness_m / self.n_slices
        self.k = 2.0 * math.pi * self.n0 / self.wavelength_m
        f = np.fft.fftfreq(N, d=self.dx) * 2.0 * math.pi  # rad/m
        kt2 = f[:, None] ** 2 + f[None, :] ** 2
        self._kz = np.sqrt((self.k**2 - kt2).astype(np.complex128))  # evanescent -> imaginary
        self._screen_filter = np.exp(-kt2 * self.correlation_m**2 / 8.0)  # sqrt of the Gaussian PSD
        if self.k * self.dx < math.pi:
            log.warning("multislice: pixel pitch %.3g m is below lambda/(2 n0): part of the grid is evanescent", self.dx)
        log.info(
            "multislice: %d input modes x %d screens on a %d^2 grid (dx = %.3g m), L/l_s = %.3g",
            n_cols, self.n_slices, N, self.dx, ratio,
        )
        self._h_half = self._propagator(0.5 * self.dz)
        self._h_full = self._propagator(self.dz)
        self._phasors = np.exp(1j * self._make_screens()).astype(np.complex64)  # exp(i phi_s), (n_slices, N, N)
        tm = self._columns(n_cols, n_in, progress)
        super().__init__(tm, n_in)

    # -- building blocks -----------------------------------------------------------------------------
    def _propagator(self, d: float) -> np.ndarray:
        return np.exp(1j * (self._kz - self.k) * d).astype(np.complex64)

    def _make_screens(self) -> np.ndarray:
        """Phase screens (n_slices, N, N) float32 [rad], each from its own named stream."""
        N = self.grid_size
        filt = self._screen_filter
        # white N(0,1) -> filtered field; its variance is sum |filt|^2 / N^2 (unitary DFT)
        norm = math.sqrt(self.phase_variance / (np.sum(filt**2) / N**2))
        out = np.empty((self.n_slices, N, N), dtype=np.float32)
        for s in range(self.n_slices):
            white = generator(self.seed, "multislice", "screen", str(s)).standard_normal((N, N))
            out[s] = norm * np.fft.ifft2(np.fft.fft2(white) * filt).real
        return out

    def screen_correlation(self, d_m) -> np.ndarray:
        """Normalised screen covariance b(d) for a displacement d [m] along a grid axis (exact on the grid)."""
        N = self.grid_size
        f = np.fft.fftfreq(N, d=self.dx) * 2.0 * math.pi
        psd = (self._screen_filter**2).sum(axis=0)  # marginal over k_y
        d = np.atleast_1d(np.asarray(d_m, dtype=np.float64))
        return (np.cos(np.outer(d, f)) @ psd) / psd.sum()

    def plane_waves(self, freqs) -> np.ndarray:
        """Unit-power plane waves (n, N, N) complex64 for integer grid frequencies (n, 2) = (row, col)."""
        N = self.grid_size
        fr = np.asarray(freqs, dtype=np.float64).reshape(-1, 2)
        y = np.arange(N)
        ph_y = np.exp(2j * math.pi * np.outer(fr[:, 0], y) / N)
        ph_x = np.exp(2j * math.pi * np.outer(fr[:, 1], y) / N)
        return (ph_y[:, :, None] * ph_x[:, None, :] / N).astype(np.complex64)

    def propagate(self, field_in: np.ndarray) -> np.ndarray:
        """Exit-face field (..., N, N) complex64 of entrance fields (..., N, N) (unitary map).

        Half step, then for each screen: phase screen and a full step (half a step after the
        last screen), so screen s sits at depth (s + 1/2) dz.
        """
        from scipy import fft

        e = np.asarray(field_in)
        if e.shape[-2:] != (self.grid_size, self.grid_size):
            raise ShapeError(f"field_in must end with the grid shape {(self.grid_size,) * 2} (got {e.shape})")
        e = np.array(e, dtype=np.complex64)
        spec = fft.fft2(e, axes=(-2, -1), overwrite_x=True)
        spec *= self._h_half
        for s in range(self.n_slices):
            e = fft.ifft2(spec, axes=(-2, -1), overwrite_x=True)
            e *= self._phasors[s]
            spec = fft.fft2(e, axes=(-2, -1), overwrite_x=True)
            spec *= self._h_full if s < self.n_slices - 1 else self._h_half
        return fft.ifft2(spec, axes=(-2, -1), overwrite_x=True)

    def _columns(self, n_cols: int, n_in: int, progress: bool) -> np.ndarray:
        N = self.grid_size
        h, w = self.image_shape
        scale = N / math.sqrt(n_in)
        tm = np.empty((h * w, n_cols), dtype=np.complex64)
        chunk = max(1, min(64, (1 << 25) // (N * N * 8)))
        starts = range(0, n_cols, chunk)
        for c0 in tqdm(starts, desc="multislice", unit="chunk", disable=not progress or len(starts) < 2, leave=False):
            c1 = min(c0 + chunk, n_cols)
            out = self.propagate(self.plane_waves(self.freqs[c0:c1]))
            q = self.oversampling
            tm[:, c0:c1] = (out[:, : q * h : q, : q * w : q].reshape(c1 - c0, h * w) * scale).T
        return tm

    # -- physics checks --------------------------------------------------------------------------------
    def band_edge_fraction(self, n_modes: int = 4) -> float:
        """Fraction of the exit power of the first ``n_modes`` inputs in the outer fifth of the grid band.

        Light there is close to wrapping around the periodic spectrum; above ~1e-3 raise
        ``grid_oversampling`` or the screen correlation length.
        """
        out = self.propagate(self.plane_waves(self.freqs[: max(1, min(n_modes, len(self.freqs)))]))
        spec = np.abs(np.fft.fft2(out, axes=(-2, -1))) ** 2
        f = np.abs(np.fft.fftfreq(self.grid_size))
        edge = np.maximum(f[:, None], f[None, :]) > 0.4
        return float(spec[:, edge].sum() / spec.sum())

    @property
    def ballistic_fraction(self) -> float:
        """Expected unscattered power fraction exp(-n sigma^2) = exp(-L / l_s)."""
        return math.exp(-self.n_slices * self.phase_variance)

    def screen_distances_m(self) -> np.ndarray:
        """Distance D_s from each screen to the camera (exit) plane [m]."""
        return (self.n_slices - np.arange(self.n_slices) - 0.5) * self.dz

    def tilt_angle_rad(self, steps) -> np.ndarray:
        """Tilt inside the slab for ``steps`` grid frequencies, lambda m / (n0 N dx) [rad] (paraxial)."""
        return np.asarray(steps, dtype=np.float64) * self.wavelength_m / (self.n0 * self.grid_size * self.dx)

    def memory_effect_theory(self, steps) -> np.ndarray:
        """Predicted tilt correlation C(m) = prod_s exp(-sigma^2 [1 - b(theta_m D_s)]), theta_m in the slab."""
        steps = np.atleast_1d(np.asarray(steps, dtype=np.float64))
        shifts = np.outer(self.tilt_angle_rad(steps), self.screen_distances_m())  # (n_steps, n_slices) [m]
        b = self.screen_correlation(shifts.ravel()).reshape(shifts.shape)
        return np.exp(-self.phase_variance * np.sum(1.0 - b, axis=1))

    def tilt_correlation(self, steps, n_pairs: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Measured memory effect: tilt-compensated output correlation for tilts of ``steps`` grid frequencies.

        For ``n_pairs`` base plane waves (frequencies drawn from ``seed`` near the axis), the
        exit fields E1 (base) and E2 (tilted by m frequencies along x) give
        C = |sum_x conj(E1) E2 exp(-i dk x)| / sqrt(sum|E1|^2 sum|E2|^2) over the whole grid.

        Returns
        -------
        mean : ndarray
            Mean C over the pairs, per step.
        stderr : ndarray
            Standard error of that mean (sd / sqrt(n_pairs)).
        """
        steps = np.atleast_1d(np.asarray(steps, dtype=np.int64))
        n_pairs = check_int(n_pairs, "n_pairs", low=1, high=4096, error=ValidationError)
        rng = generator(seed, "multislice", "tilt-pairs")
        q = max(1, self.grid_size // 16)
        base = rng.integers(-q, q + 1, size=(n_pairs, 2))
        e1 = self.propagate(self.plane_waves(base)).astype(np.complex128)
        p1 = np.sum(np.abs(e1) ** 2, axis=(1, 2))
        x = np.arange(self.grid_size)
        out = np.empty((steps.size, n_pairs))
        for i, m in enumerate(steps):
            tilted = base + np.array([0, int(m)])
            e2 = self.propagate(self.plane_waves(tilted)).astype(np.complex128)
            e2 *= np.exp(-2j * math.pi * m * x / self.grid_size)[None, None, :]
            c = np.sum(np.conj(e1) * e2, axis=(1, 2))
            out[i] = np.abs(c) / np.sqrt(p1 * np.sum(np.abs(e2) ** 2, axis=(1, 2)))
        return out.mean(axis=1), out.std(axis=1, ddof=1) / math.sqrt(n_pairs) if n_pairs > 1 else np.zeros(steps.size)

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            seed=self.seed,
            thickness_m=self.thickness_m,
            scattering_mean_free_path_m=self.mean_free_path_m,
            thickness_over_mean_free_path=self.thickness_m / self.mean_free_path_m,
            ballistic_fraction=self.ballistic_fraction,
            refractive_index=self.n0,
            screen_correlation_m=self.correlation_m,
            n_slices=self.n_slices,
            phase_variance_per_screen_rad2=self.phase_variance,
            grid_size=self.grid_size,
            grid_oversampling=self.oversampling,
            grid_pitch_m=self.dx,
            pixel_pitch_m=self.pixel_pitch_m,
            wavelength_m=self.wavelength_m,
            image_shape=list(self.image_shape),
        )
        return d
