"""A multimode fiber: guided modes, random mode coupling, mode-dependent loss; mode or pixel basis.

Physics (see :mod:`photonics.medium.fiber_modes` for the modes and the coupling rates)
------------------------------------------------------------------------------------
The N guided scalar modes of the fiber (profile, core radius a, NA, core index, at the laser
wavelength) propagate with constants beta_j; random micro-bends and core deformations couple
them at the power rates h_jk of coupled-mode theory. The fiber of length L is cut into S
sections of length dL; in section s the amplitudes evolve as

    A <- D exp(-i K_s) A,     D = diag(exp(-i beta_j dL - alpha_j dL / 2)),

with K_s a random Hermitian matrix (the coupling integrated over the section, interaction
picture) of independent circular Gaussian entries, E|K_s,jk|^2 = h_jk dL (diagonal: real, the
random phase of each mode), so the mean power exchanged between modes j and k follows the
coupled power equations dP_j/dz = sum_k h_jk (P_k - P_j). S is chosen so that a section
transfers at most ~5 % of a mode's power (at most ``MAX_SECTIONS``). The propagator is
U = prod_s D exp(-i K_s): unitary without loss (exp of i x Hermitian, to float precision),
block-diagonal by degenerate group when the perturbations have no power at the groups' beat
frequency (weak coupling), a random unitary on the guided space when L h >> 1 for every pair
(strong coupling). Mode-dependent loss alpha_j rises linearly with 1 - b_j (modes near
cut-off lose most), from 0 for the best-guided mode to ``mode_dependent_loss_db`` over L
for the worst.

Bases
-----
* ``"modes"``: T = U (n_in = n_out = N): the DMD addresses, and the camera sees, mode
  amplitudes (a mode (de)multiplexer on each side). Reference columns are fixed
  superpositions of guided modes, U W with W i.i.d. CN(0, 1/N): light the fiber can carry.
* ``"pixels"``: T = P_out U P_in. The DMD sits in the Fourier plane of the lens that focuses on
  the input facet: macropixel m is a plane wave of transverse wavevector k_m on a near-square
  grid of side ceil(sqrt(n_cols)) spanning +-k0 NA, and couples into mode j with
  P_in[j, m] = dk conj(psi~_j(k_m)) (dk the grid pitch; a near-isometry when the grid resolves
  the modes' spectra). Signal and reference macropixels are interleaved over the grid by a
  seeded permutation (a reference block at the edge of the grid would sit outside the NA and
  couple almost nothing). The camera images the output facet with ``output_pixel_m`` per pixel
  (default: the core fills the shorter image side, 2.1 a): P_out[i, j] =
  psi_j(x_i, y_i) output_pixel_m. The TM has rank N: every reference column lies in the
  fiber's guided space.

The TM is scaled so that its signal block has mean |T_ij|^2 = 1/n_in, the convention of every
medium (the device's power model); the factor and the fiber's own throughput (mean fraction of
an input's power reaching the camera) are kept in :meth:`describe`.

Not modelled: polarisation (each scalar mode is one polarisation), chromatic effects,
correlations between the coupling of pairs with equal beat frequency, facet reflections.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..config import square_shape
from ..errors import ShapeError, ValidationError
from ..rng import generator
from ..validation import check_choice, check_int, check_real
from .blas_threads import single_blas_thread
from .dense import DenseMedium, check_dense_size, split_layout
from .fiber_modes import FiberModes, coupling_rates, solve_fiber_modes
from .multislice import mode_frequencies

log = logging.getLogger(__name__)

__all__ = ["MultimodeFiberMedium", "FIBER_BASES", "MAX_SECTIONS", "fiber_propagator"]

FIBER_BASES = ("modes", "pixels")
#: Upper bound on the number of coupling sections (cost: one N x N eigensolve each).
MAX_SECTIONS = 256
#: Target fraction of a mode's power a section may transfer (sets the section count).
SECTION_TRANSFER = 0.05


def fiber_propagator(
    modes: FiberModes,
    rates: np.ndarray,
    length_m: float,
    rng: np.random.Generator,
    *,
    loss_per_m: np.ndarray | None = None,
    n_sections: int | None = None,
) -> tuple[np.ndarray, int]:
    """U (N x N complex128) of a fiber of length L with coupling rates h_jk (see module docstring).

    Returns the propagator and the number of sections used.
    """
    n = modes.n_modes
    off = rates - np.diag(np.diag(rates))  # the diagonal (random phases) transfers no power
    total = float(np.max(np.sum(off, axis=1))) if n else 0.0
    if n_sections is None:
        n_sections = int(min(MAX_SECTIONS, max(8, math.ceil(length_m * total / SECTION_TRANSFER))))
    dl = length_m / n_sections
    sd = np.sqrt(rates * dl)
    iu = np.triu_indices(n, 1)
    phase = np.mod(modes.beta_per_m * dl, 2 * math.pi)
    amp = np.exp(-0.5 * (loss_per_m if loss_per_m is not None else 0.0) * dl) * np.ones(n)
    d = amp * np.exp(-1j * phase)
    u = np.eye(n, dtype=np.complex128)
    with single_blas_thread():
        u = _propagate(u, d, sd, iu, n_sections, rng)
    return u, n_sections


def _propagate(u, d, sd, iu, n_sections, rng):
    n = u.shape[0]
    for _ in range(n_sections):
        k = np.zeros((n, n), dtype=np.complex128)
        z = (rng.standard_normal(iu[0].size) + 1j * rng.standard_normal(iu[0].size)) * math.sqrt(0.5)
        k[iu] = sd[iu] * z
        k = k + k.conj().T
        k[np.diag_indices(n)] = np.diag(sd) * rng.standard_normal(n)
        lam, vec = np.linalg.eigh(k)
        step = (vec * np.exp(-1j * lam)) @ vec.conj().T
        u = d[:, None] * (step @ u)
    return u


class MultimodeFiberMedium(DenseMedium):
    """Transmission matrix of a multimode fiber (see the module docstring).

    Parameters
    ----------
    n_in, n_out : int
        Signal inputs and outputs: both N (the guided-mode count) in the mode basis; DMD
        macropixels and camera pixels in the pixel basis.
    seed : int
        Seed of the random perturbations (and of the reference superpositions).
    wavelength_m : float
        Vacuum wavelength [m].
    profile : str
        ``"graded-index"`` (parabolic) or ``"step-index"``.
    core_radius_m, numerical_aperture, core_index : float
        The fiber [m, 1, 1].
    length_m : float
        Fiber length L [m].
    bend_curvature_rms_per_m, deformation_rms, correlation_length_m : float
        Random perturbations (see :func:`~photonics.medium.fiber_modes.coupling_rates`).
    mode_dependent_loss_db : float
        Extra loss of the worst-guided mode over L [dB] (0: lossless, U unitary).
    basis : str
        ``"modes"`` or ``"pixels"``.
    image_shape : (int, int), optional
        Camera image (pixel basis); default the most square factorisation of n_out.
    output_pixel_m : float, optional
        Camera pixel size in the output-facet plane [m]; default 2.1 a / (shorter image side):
        the whole core is imaged (every mode seen), the corners show the dark cladding; a
        region of interest inside the core (every pixel lit) needs 1.8 a / (image diagonal).
    n_cols : int, optional
        Signal + reference columns (default n_in).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        seed: int,
        *,
        wavelength_m: float,
        profile: str = "graded-index",
        core_radius_m: float = 25e-6,
        numerical_aperture: float = 0.2,
        core_index: float = 1.46,
        length_m: float = 1.0,
        bend_curvature_rms_per_m: float = 0.0,
        deformation_rms: float = 0.0,
        correlation_length_m: float = 1e-3,
        mode_dependent_loss_db: float = 0.0,
        basis: str = "pixels",
        image_shape: tuple[int, int] | None = None,
        output_pixel_m: float | None = None,
        n_cols: int | None = None,
    ):
        n_in = check_int(n_in, "n_in", low=1, error=ValidationError)
        n_out = check_int(n_out, "n_out", low=1, error=ValidationError)
        n_cols = n_in if n_cols is None else check_int(n_cols, "n_cols", low=n_in, error=ValidationError)
        self.seed = int(seed)
        self.basis = check_choice(basis, "basis", FIBER_BASES, error=ValidationError)
        self.output_basis = self.basis
        self.length_m = check_real(length_m, "length_m", low=0.0, high=1e5, low_inclusive=False, unit="m", error=ValidationError)
        self.mdl_db = check_real(mode_dependent_loss_db, "mode_dependent_loss_db", low=0.0, high=100.0, unit="dB", error=ValidationError)
        self.modes = solve_fiber_modes(
            profile, core_radius_m=core_radius_m, numerical_aperture=numerical_aperture, wavelength_m=wavelength_m, core_index=core_index
        )
        self.profile = profile
        nm = self.modes.n_modes
        if self.basis == "modes" and not (n_in == nm and n_out == nm):
            raise ValidationError(
                f"a fiber in the mode basis has n_in = n_out = its {nm} guided modes (V = {self.modes.v_number:.3f}); "
                f"got n_in={n_in}, n_out={n_out}: set both to {nm} or use basis 'pixels'"
            )
        check_dense_size(n_out, n_cols, "MultimodeFiberMedium")
        self.rates = coupling_rates(
            self.modes,
            bend_curvature_rms_per_m=bend_curvature_rms_per_m,
            deformation_rms=deformation_rms,
            correlation_length_m=correlation_length_m,
        )
        self.coupling = {
            "bend_curvature_rms_per_m": float(bend_curvature_rms_per_m),
            "deformation_rms": float(deformation_rms),
            "correlation_length_m": float(correlation_length_m),
        }
        one_minus_b = 1.0 - self.modes.b
        span = float(one_minus_b.max() - one_minus_b.min()) if nm > 1 else 0.0
        rel = (one_minus_b - one_minus_b.min()) / span if span > 0 else np.zeros(nm)
        self.loss_per_m = rel * self.mdl_db * math.log(10.0) / 10.0 / self.length_m
        rng = generator(self.seed, "medium", "fiber", "coupling")
        self.propagator, self.n_sections = fiber_propagator(self.modes, self.rates, self.length_m, rng, loss_per_m=self.loss_per_m)
        if self.basis == "modes":
            self.image_shape = (1, n_out)
            right = np.eye(nm, n_cols, dtype=np.complex128)
            if n_cols > nm:
                wr = generator(self.seed, "medium", "fiber", "reference")
                w = (wr.standard_normal((nm, n_cols - nm)) + 1j * wr.standard_normal((nm, n_cols - nm))) / math.sqrt(2 * nm)
                right[:, nm:] = w
            left = None
        else:
            shape = square_shape(n_out) if image_shape is None else tuple(int(v) for v in image_shape)
            if len(shape) != 2 or shape[0] * shape[1] != n_out:
                raise ShapeError(f"image_shape {image_shape} does not hold n_out={n_out} pixels")
            self.image_shape = shape
            a = self.modes.core_radius_m
            pix = 2.1 * a / min(shape) if output_pixel_m is None else output_pixel_m
            self.output_pixel_m = check_real(pix, "output_pixel_m", low=0.0, low_inclusive=False, unit="m", error=ValidationError)
            h, w_ = shape
            yy, xx = np.meshgrid(((h - 1) / 2.0 - np.arange(h)) * pix, (np.arange(w_) - (w_ - 1) / 2.0) * pix, indexing="ij")
            left = (self.modes.fields(xx.ravel(), yy.ravel()) * pix).T  # (n_out, N) real
            side = int(math.ceil(math.sqrt(n_cols)))
            grid = mode_frequencies(side * side)
            order = generator(self.seed, "medium", "fiber", "dmd-partition").permutation(side * side)[:n_cols]
            freqs = grid[order]
            self.input_dk_per_m = 2.0 * self.modes.k0 * self.modes.numerical_aperture / side
            kx = freqs[:, 1] * self.input_dk_per_m
            ky = -freqs[:, 0] * self.input_dk_per_m
            right = np.conj(self.modes.spectra(kx, ky)) * self.input_dk_per_m  # (N, n_cols)
            if side < 2.0 * self.modes.v_number / math.pi:
                log.warning(
                    "fiber: the %d x %d DMD grid is coarser than the fiber's spatial bandwidth (V = %.1f needs >= %d per side): "
                    "the illuminated spot is smaller than the core", side, side, self.modes.v_number, math.ceil(2 * self.modes.v_number / math.pi),
                )
        q0 = self.propagator @ right  # (N, n_cols)
        t = q0 if left is None else left @ q0
        p = float(np.mean(np.abs(t[:, :n_in]) ** 2))
        self.throughput = p * n_out  # mean power of a signal input reaching the outputs
        self.scale = 1.0 / math.sqrt(p * n_in)
        self._left = None if left is None else left * self.scale
        self._right_state = q0 if left is not None else q0 * self.scale
        self.n_in, self.n_out, self.n_cols = n_in, n_out, n_cols
        self._set_split(split_layout(t * self.scale), n_in)
        log.info(
            "fiber: %s, V = %.2f, %d modes in %d groups, %d coupling sections, throughput %.3g, %s basis",
            profile, self.modes.v_number, nm, self.modes.n_groups, self.n_sections, self.throughput, self.basis,
        )

    # -- structure ---------------------------------------------------------------------------------
    def unitary_factors(self) -> tuple[np.ndarray | None, np.ndarray]:
        """(A, Q) with T = A Q (A = None: identity): Q = U P_in (N x n_cols) is where a
        unitary drift acts, A maps mode amplitudes to the outputs (scaled)."""
        return self._left, self._right_state

    def drift_groups(self) -> np.ndarray:
        """Degenerate group of each mode: slow deformations mix modes within a group."""
        return self.modes.group.copy()

    def group_power_fraction(self) -> float:
        """Fraction of the propagated power that stays in the launch mode's group (1: no
        inter-group coupling; sum over groups of n_g^2 / N^2 for full mixing)."""
        p = np.abs(self.propagator) ** 2
        same = self.modes.group[:, None] == self.modes.group[None, :]
        return float(p[same].sum() / p.sum())

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            seed=self.seed,
            basis=self.basis,
            profile=self.profile,
            length_m=self.length_m,
            modes=self.modes.describe(),
            coupling=self.coupling,
            coupling_sections=self.n_sections,
            mode_dependent_loss_db=self.mdl_db,
            group_power_fraction=self.group_power_fraction(),
            throughput=self.throughput,
            scale=self.scale,
        )
        if self.basis == "pixels":
            d.update(image_shape=list(self.image_shape), output_pixel_m=self.output_pixel_m, input_dk_per_m=self.input_dk_per_m)
        return d
