"""Guided modes of a circular multimode fiber (scalar, weakly guiding): LP modes, propagation
constants, degenerate groups, and their coupling by bends and core deformations.

Index profile (power law; alpha = 2 is the parabolic graded-index fiber, alpha = inf the
step-index fiber), core radius a, core index n1, numerical aperture NA = sqrt(n1^2 - n2^2):

    n^2(r) = n1^2 [1 - 2 Delta (r / a)^alpha]   (r < a),      n^2(r) = n2^2   (r >= a),
    Delta = (n1^2 - n2^2) / (2 n1^2),      V = k0 a NA,      k0 = 2 pi / lambda.

Scalar modes psi(r, phi) = F(r) Theta(phi), Theta = 1 / sqrt(2 pi) for l = 0 and
cos(l phi) / sqrt(pi), sin(l phi) / sqrt(pi) for l >= 1 (the two orientations of LP_lm), solve
the Helmholtz equation [Laplacian_t + k0^2 n^2(r) - beta^2] psi = 0. In the core-radius unit
rho = r / a and with U^2 = a^2 (k0^2 n1^2 - beta^2), the radial equation is

    (1 / rho) d/drho (rho dR/drho) - (l^2 / rho^2) R - V^2 g(rho) R = -U^2 R,
    g(rho) = (n1^2 - n^2) / (n1^2 - n2^2) = rho^alpha (rho < 1), 1 (rho >= 1);

a mode is guided when 0 < U^2 < V^2 (beta between k0 n2 and k0 n1); b = 1 - U^2 / V^2 is its
normalised propagation constant. The equation is solved by finite differences on a
cell-centred radial grid (the conservative form, symmetric after the weight rho: a
tridiagonal eigenproblem per l, accurate to O(h^2); the step of a step-index profile sits on
a cell face), out to ``radius_factor`` core radii with a zero field beyond.

Closed forms the solver is tested against (not used by it):

* infinite parabolic profile: U^2 = 2 V (2 p + l + 1), i.e. groups q = 2 p + l + 1 = 1, 2, ...
  of q exactly degenerate modes, guided for q < V / 2: about V^2 / 8 modes per polarisation;
* step index: LP_lm is guided above its cut-off V_c = j_{l-1, m} (zeros of J_{l-1}; for l = 0,
  the zeros of J_1 counting 0 for LP_01), and U solves U J_{l-1}(U) / J_l(U) =
  -W K_{l-1}(W) / K_l(W), W^2 = V^2 - U^2: about V^2 / 4 modes per polarisation.

Modes are grouped by the principal mode number q = 2 m + l - 1 (m = 1, 2, ... the radial
order): exactly degenerate groups of the parabolic profile, the quasi-degenerate groups of a
step-index fiber (Gloge). Polarisation is not modelled: each scalar mode stands for one
polarisation (the counts above are per polarisation).

Coupled-mode theory (perturbation of the index delta(n^2)(x, y, z) = sum_p c_p(z) f_p(x, y)):
the amplitudes obey dA_j / dz = -i beta_j A_j - i sum_k K_jk(z) A_k,

    K_jk(z) = k0^2 / (2 sqrt(beta_j beta_k)) sum_p c_p(z) <psi_j | f_p | psi_k>.

Perturbations modelled: random micro-bends of curvature kappa_x(z), kappa_y(z)
(f = 2 n^2(r) x / R_eff with the elasto-optic correction R_eff = 1.28 R, couples
delta l = +-1: adjacent groups) and random deformations of the core boundary,
r -> r (1 + eps_m cos(m (phi - theta_m))), m = 0, 2, 3 (f = -r dn^2/dr cos(m phi), couples
delta l = +-m and l_j + l_k = m: within a group and between groups two apart; m = 0 is a
core-radius fluctuation). For stationary processes of rms sigma_p and Gaussian correlation
exp(-(dz / l_c)^2) the mean power transfer rate between modes j and k is (Marcuse)

    h_jk = sum_p |C^p_jk|^2 sigma_p^2 Phi(beta_j - beta_k),   Phi(w) = sqrt(pi) l_c exp(-(w l_c / 2)^2),

so modes of one group (delta beta ~ 0) mix readily while groups couple only if the
perturbation has power at their beat frequency: weak perturbations leave the TM
block-diagonal by group, strong ones make it a random unitary on the guided space.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError
from ..validation import check_choice, check_int, check_real

log = logging.getLogger(__name__)

__all__ = [
    "FIBER_PROFILES",
    "FiberModes",
    "solve_fiber_modes",
    "coupling_rates",
    "profile_exponent",
    "ELASTO_OPTIC_FACTOR",
]

#: Index profiles: name -> power-law exponent alpha.
FIBER_PROFILES = {"graded-index": 2.0, "step-index": math.inf}
#: R_eff = 1.28 R for silica: the strain of a bend lowers the index on its outer side.
ELASTO_OPTIC_FACTOR = 1.0 / 1.28
#: Deformation harmonics m of the core boundary that are modelled.
DEFORMATION_HARMONICS = (0, 2, 3)


def profile_exponent(profile) -> float:
    """alpha of a profile name (``graded-index``: 2, ``step-index``: inf) or a number >= 1."""
    if isinstance(profile, str):
        check_choice(profile, "profile", tuple(FIBER_PROFILES), error=ValidationError)
        return FIBER_PROFILES[profile]
    return check_real(profile, "profile exponent alpha", low=1.0, allow_inf=True, error=ValidationError)


@dataclass(frozen=True)
class FiberModes:
    """Guided scalar modes of a fiber, sorted by decreasing propagation constant.

    Attributes
    ----------
    profile_alpha : float
        Power-law exponent of the index profile (2: parabolic, inf: step).
    core_radius_m, wavelength_m, numerical_aperture, core_index, cladding_index : float
        The fiber and the light [m, m, 1, 1, 1].
    v_number : float
        V = k0 a NA.
    l, m : ndarray of int (N,)
        Azimuthal and radial order of each mode (LP_lm, m >= 1).
    orientation : ndarray of int (N,)
        0: cos(l phi) (and l = 0), 1: sin(l phi).
    u2 : ndarray (N,)
        U^2 = a^2 (k0^2 n1^2 - beta^2), increasing.
    beta_per_m : ndarray (N,)
        Propagation constants [1/m], decreasing.
    group : ndarray of int (N,)
        Principal mode number q = 2 m + l - 1 (1 for LP_01).
    rho : ndarray (n_r,)
        Radial grid in core radii (cell centres).
    radial : ndarray (n_lm, n_r)
        R(rho) of each distinct (l, m), normalised to int R^2 rho drho = 1.
    radial_index : ndarray of int (N,)
        Row of ``radial`` of each mode.
    """

    profile_alpha: float
    core_radius_m: float
    wavelength_m: float
    numerical_aperture: float
    core_index: float
    cladding_index: float
    v_number: float
    l: np.ndarray
    m: np.ndarray
    orientation: np.ndarray
    u2: np.ndarray
    beta_per_m: np.ndarray
    group: np.ndarray
    rho: np.ndarray
    radial: np.ndarray
    radial_index: np.ndarray

    @property
    def n_modes(self) -> int:
        """Guided scalar modes N (one polarisation)."""
        return int(self.l.size)

    @property
    def k0(self) -> float:
        """Vacuum wavenumber 2 pi / lambda [1/m]."""
        return 2.0 * math.pi / self.wavelength_m

    @property
    def b(self) -> np.ndarray:
        """Normalised propagation constants b = 1 - U^2 / V^2 in (0, 1)."""
        return 1.0 - self.u2 / self.v_number**2

    @property
    def n_groups(self) -> int:
        """Number of distinct principal mode numbers."""
        return int(np.unique(self.group).size)

    def index_squared(self, rho) -> np.ndarray:
        """n^2 at radii rho (core radii)."""
        rho = np.asarray(rho, dtype=np.float64)
        n1, n2 = self.core_index, self.cladding_index
        return n1**2 - (n1**2 - n2**2) * _g(rho, self.profile_alpha)

    def radial_profile(self, r_m) -> np.ndarray:
        """F(r) = R(r / a) / a of every mode at radii ``r_m`` [1/m], shape (N,) + r.shape.

        Interpolated on the solver grid; R ~ rho^l below the first grid point; 0 beyond the
        computed domain.
        """
        rho = np.asarray(r_m, dtype=np.float64) / self.core_radius_m
        out = np.empty((self.radial.shape[0],) + rho.shape)
        r1 = self.rho[0]
        for k in range(self.radial.shape[0]):
            ell = int(self.l[np.flatnonzero(self.radial_index == k)[0]])
            v = np.interp(rho, self.rho, self.radial[k], left=self.radial[k, 0], right=0.0)
            inner = rho < r1
            if ell > 0 and np.any(inner):
                v = np.where(inner, self.radial[k, 0] * (rho / r1) ** ell, v)
            out[k] = v
        return out[self.radial_index] / self.core_radius_m

    def angular(self, phi) -> np.ndarray:
        """Theta(phi) of every mode, shape (N,) + phi.shape (orthonormal on [0, 2 pi))."""
        phi = np.asarray(phi, dtype=np.float64)
        l = self.l.reshape((-1,) + (1,) * phi.ndim)
        o = self.orientation.reshape(l.shape)
        return np.where(l == 0, 1.0 / math.sqrt(2 * math.pi), np.where(o == 0, np.cos(l * phi), np.sin(l * phi)) / math.sqrt(math.pi))

    def fields(self, x_m, y_m) -> np.ndarray:
        """Real mode fields psi_j(x, y) at points (x_m, y_m) [1/m]; int psi_j^2 dA = 1."""
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        return self.radial_profile(np.hypot(x, y)) * self.angular(np.arctan2(y, x))

    def spectra(self, kx, ky) -> np.ndarray:
        """Unitary 2-D Fourier transforms psi~_j(k) = (1/2 pi) int psi_j e^{-i k.r} dA [m], complex.

        For psi = F(r) Theta(phi): psi~(k, phi_k) = (-i)^l Theta(phi_k) int F(r) J_l(k r) r dr
        (a Hankel transform on the radial grid).
        """
        from scipy.special import jv

        kx = np.asarray(kx, dtype=np.float64)
        ky = np.asarray(ky, dtype=np.float64)
        k = np.hypot(kx, ky)
        a = self.core_radius_m
        h = (self.rho[1] - self.rho[0]) * a
        r = self.rho * a
        ku, inv = np.unique(k.ravel(), return_inverse=True)
        han = np.empty((self.radial.shape[0], ku.size))
        ells = np.array([int(self.l[np.flatnonzero(self.radial_index == idx)[0]]) for idx in range(self.radial.shape[0])])
        kr = np.outer(ku, r)
        for ell in np.unique(ells):
            rows = np.flatnonzero(ells == ell)
            han[rows] = ((jv(ell, kr) @ (self.radial[rows] / a * r).T) * h).T
        rad = han[self.radial_index][:, inv].reshape((-1,) + k.shape)
        phase = (-1j) ** self.l.reshape((-1,) + (1,) * k.ndim)
        return phase * self.angular(np.arctan2(ky, kx)) * rad

    def describe(self) -> dict:
        return {
            "profile_alpha": self.profile_alpha if math.isfinite(self.profile_alpha) else "inf",
            "v_number": self.v_number,
            "n_modes": self.n_modes,
            "n_groups": self.n_groups,
            "core_radius_m": self.core_radius_m,
            "numerical_aperture": self.numerical_aperture,
            "core_index": self.core_index,
            "cladding_index": self.cladding_index,
            "wavelength_m": self.wavelength_m,
        }


def _g(rho: np.ndarray, alpha: float) -> np.ndarray:
    """Normalised index depression g(rho) in [0, 1]."""
    rho = np.asarray(rho, dtype=np.float64)
    if math.isinf(alpha):
        inside = np.zeros_like(rho)
    else:
        inside = np.abs(rho) ** alpha
    return np.where(rho < 1.0, inside, 1.0)


def _cell_g(edges: np.ndarray, alpha: float) -> np.ndarray:
    """Cell averages of g over [edges[i], edges[i+1]] (exact for a step on a face)."""
    if math.isinf(alpha):
        centres = 0.5 * (edges[:-1] + edges[1:])
        return _g(centres, alpha)
    # average of rho^alpha over each cell (weighted by rho: the area element), clipped at 1
    lo, hi = edges[:-1], edges[1:]
    lo_c, hi_c = np.minimum(lo, 1.0), np.minimum(hi, 1.0)
    area = 0.5 * (hi**2 - lo**2)
    core = (hi_c ** (alpha + 2) - lo_c ** (alpha + 2)) / (alpha + 2)
    clad = 0.5 * (hi**2 - np.maximum(lo, 1.0) ** 2) * (hi > 1.0)
    return (core + clad) / area


def solve_fiber_modes(
    profile="graded-index",
    *,
    core_radius_m: float,
    numerical_aperture: float,
    wavelength_m: float,
    core_index: float = 1.46,
    points_per_radius: int = 400,
    radius_factor: float = 2.5,
) -> FiberModes:
    """Guided scalar modes of a circular fiber (see the module docstring for the model).

    Parameters
    ----------
    profile : str or float
        ``"graded-index"`` (parabolic, alpha = 2), ``"step-index"`` (alpha = inf) or alpha.
    core_radius_m : float
        Core radius a [m].
    numerical_aperture : float
        NA = sqrt(n1^2 - n2^2), in (0, core_index).
    wavelength_m : float
        Vacuum wavelength [m].
    core_index : float
        n1 (on the axis for graded-index).
    points_per_radius : int
        Radial grid cells per core radius (O(h^2) error: 400 gives U^2 to ~1e-5 relative).
    radius_factor : float
        Outer edge of the computed domain in core radii (the field is 0 beyond); modes
        within a few % of their cut-off extend further and come out slightly too confined.

    Returns
    -------
    FiberModes
    """
    alpha = profile_exponent(profile)
    a = check_real(core_radius_m, "core_radius_m", low=0.0, high=1e-2, low_inclusive=False, unit="m", error=ValidationError)
    lam = check_real(wavelength_m, "wavelength_m", low=1e-8, high=1e-4, unit="m", error=ValidationError)
    n1 = check_real(core_index, "core_index", low=1.0, high=5.0, error=ValidationError)
    na = check_real(numerical_aperture, "numerical_aperture", low=0.0, high=n1, low_inclusive=False, high_inclusive=False, error=ValidationError)
    ppr = check_int(points_per_radius, "points_per_radius", low=20, high=20000, error=ValidationError)
    rf = check_real(radius_factor, "radius_factor", low=1.2, high=20.0, error=ValidationError)
    n2 = math.sqrt(n1 * n1 - na * na)
    k0 = 2.0 * math.pi / lam
    v = k0 * a * na
    if v > 400:
        raise ValidationError(f"V number {v:.1f} > 400 (about {v * v / 8:.0f}+ modes): too many modes for this solver; lower core_radius_m or numerical_aperture")
    h = 1.0 / ppr
    n_r = int(round(rf * ppr))
    edges = np.arange(n_r + 1) * h
    rho = 0.5 * (edges[:-1] + edges[1:])
    g = _cell_g(edges, alpha)
    from scipy.linalg import eigh_tridiagonal

    ls, ms, u2s, rads = [], [], [], []
    ell = 0
    while ell <= 2 * v + 2:  # no mode of order l > V is guided (the l^2 / rho^2 barrier)
        # rho_i h^2 [ (1/rho) (rho R')' - l^2/rho^2 R - V^2 g R ] = -U^2 rho_i h^2 R
        face = edges[1:]  # rho_{i+1/2}
        face_in = edges[:-1]  # rho_{i-1/2} (0 at the axis: no flux)
        diag = -(face + face_in) - h * h * ell * ell / rho - h * h * rho * v * v * g
        off = face[:-1]
        w = h * h * rho
        d = diag / w
        e = off / np.sqrt(w[:-1] * w[1:])
        # eigenvalues of S are -U^2; guided: -V^2 < -U^2 < 0
        try:
            vals, vecs = eigh_tridiagonal(d, e, select="v", select_range=(-v * v, 0.0))
        except np.linalg.LinAlgError:  # pragma: no cover - LAPACK failure
            vals, vecs = np.empty(0), np.empty((n_r, 0))
        if vals.size == 0:
            break
        order = np.argsort(vals)[::-1]  # largest -U^2 first: m = 1, 2, ...
        for mm, idx in enumerate(order, start=1):
            r_prof = vecs[:, idx] / np.sqrt(w)
            norm = math.sqrt(float(np.sum(r_prof * r_prof * rho) * h))
            r_prof = r_prof / norm
            if r_prof[int(np.argmax(np.abs(r_prof)))] < 0:
                r_prof = -r_prof
            ls.append(ell)
            ms.append(mm)
            u2s.append(-float(vals[idx]))
            rads.append(r_prof)
        ell += 1
    l_arr, m_arr, u2_arr = np.asarray(ls), np.asarray(ms), np.asarray(u2s)
    radial = np.asarray(rads) if rads else np.empty((0, n_r))
    # expand l >= 1 into the two orientations
    ridx, l_out, m_out, o_out, u_out = [], [], [], [], []
    for k in range(l_arr.size):
        for o in ((0,) if l_arr[k] == 0 else (0, 1)):
            ridx.append(k)
            l_out.append(l_arr[k])
            m_out.append(m_arr[k])
            o_out.append(o)
            u_out.append(u2_arr[k])
    u_out = np.asarray(u_out, dtype=np.float64)
    order = np.lexsort((np.asarray(o_out), np.asarray(l_out), u_out))
    u_sorted = u_out[order]
    beta = np.sqrt(k0 * k0 * n1 * n1 - u_sorted / (a * a))
    l_sorted = np.asarray(l_out, dtype=np.int64)[order]
    m_sorted = np.asarray(m_out, dtype=np.int64)[order]
    modes = FiberModes(
        profile_alpha=alpha,
        core_radius_m=a,
        wavelength_m=lam,
        numerical_aperture=na,
        core_index=n1,
        cladding_index=n2,
        v_number=v,
        l=l_sorted,
        m=m_sorted,
        orientation=np.asarray(o_out, dtype=np.int64)[order],
        u2=u_sorted,
        beta_per_m=beta,
        group=2 * m_sorted + l_sorted - 1,
        rho=rho,
        radial=radial,
        radial_index=np.asarray(ridx, dtype=np.int64)[order],
    )
    log.debug("fiber: V = %.3f, %d guided scalar modes in %d groups", v, modes.n_modes, modes.n_groups)
    return modes


# ----------------------------------------------------------------------------------------------
# coupled-mode theory
# ----------------------------------------------------------------------------------------------
def _angular_overlaps(modes: FiberModes, harmonic: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """int cos(h phi) Theta_j Theta_k dphi and the same with sin(h phi), (N, N) each (exact quadrature)."""
    phi = (np.arange(n_phi) + 0.5) * (2 * math.pi / n_phi)
    th = modes.angular(phi)  # (N, n_phi)
    wgt = 2 * math.pi / n_phi
    c = (th * np.cos(harmonic * phi)) @ th.T * wgt
    s = (th * np.sin(harmonic * phi)) @ th.T * wgt
    return c, s


def coupling_rates(
    modes: FiberModes,
    *,
    bend_curvature_rms_per_m: float = 0.0,
    deformation_rms: float = 0.0,
    correlation_length_m: float = 1e-3,
) -> np.ndarray:
    """Power coupling rates h_jk [1/m] between the guided modes (see the module docstring).

    Parameters
    ----------
    modes : FiberModes
    bend_curvature_rms_per_m : float
        rms curvature of the random micro-bends along each transverse axis [1/m].
    deformation_rms : float
        rms relative amplitude eps of each modelled harmonic of the core-boundary
        deformation (m = 0, 2, 3).
    correlation_length_m : float
        l_c of the Gaussian correlation of every perturbation along the fiber [m].

    Returns
    -------
    ndarray (N, N), symmetric, >= 0; the diagonal holds the rate of the random phase of each
    mode (delta beta = 0).
    """
    kb = check_real(bend_curvature_rms_per_m, "bend_curvature_rms_per_m", low=0.0, high=1e6, unit="1/m", error=ValidationError)
    sd = check_real(deformation_rms, "deformation_rms", low=0.0, high=0.2, error=ValidationError)
    lc = check_real(correlation_length_m, "correlation_length_m", low=0.0, high=1e3, low_inclusive=False, unit="m", error=ValidationError)
    n = modes.n_modes
    a = modes.core_radius_m
    h = (modes.rho[1] - modes.rho[0]) * a
    r = modes.rho * a
    f = modes.radial[modes.radial_index] / a  # (N, n_r) F_j(r)
    beta = modes.beta_per_m
    k0 = modes.k0
    pref = k0 * k0 / (2.0 * np.sqrt(np.outer(beta, beta)))
    lmax = int(modes.l.max()) if n else 0
    n_phi = 4 * (lmax + 4)
    rate = np.zeros((n, n))
    db = beta[:, None] - beta[None, :]
    spectrum = math.sqrt(math.pi) * lc * np.exp(-((db * lc / 2.0) ** 2))
    if kb > 0:
        n2r = modes.index_squared(modes.rho)
        # f = 2 n^2 x / R_eff -> radial part 2 n^2 r * ELASTO, angular cos(phi) (x) / sin(phi) (y)
        rad = (f * (2.0 * n2r * r * ELASTO_OPTIC_FACTOR * r * h)) @ f.T
        c, s = _angular_overlaps(modes, 1, n_phi)
        cx, cy = pref * rad * c, pref * rad * s
        rate += (cx**2 + cy**2) * kb * kb
    if sd > 0:
        # f = -r dn^2/dr cos(m phi): on the grid, -dn^2/dr * r at cell faces, weight r dr
        edges = np.arange(modes.rho.size + 1) * (modes.rho[1] - modes.rho[0])
        n2_edges = modes.index_squared(edges) if math.isfinite(modes.profile_alpha) else None
        if n2_edges is None:  # step: delta function at rho = 1
            fa = np.array([np.interp(1.0, modes.rho, modes.radial[k]) for k in range(modes.radial.shape[0])])[modes.radial_index] / a
            rad = (modes.core_index**2 - modes.cladding_index**2) * a * a * np.outer(fa, fa)
        else:
            dn2 = -np.gradient(modes.index_squared(modes.rho), modes.rho * a)  # -dn^2/dr
            rad = (f * (dn2 * r * r * h)) @ f.T
        for harm in DEFORMATION_HARMONICS:
            c, s = _angular_overlaps(modes, harm, n_phi)
            if harm == 0:
                rate += (pref * rad * c) ** 2 * sd * sd
            else:
                rate += ((pref * rad * c) ** 2 + (pref * rad * s) ** 2) * sd * sd
    return rate * spectrum
