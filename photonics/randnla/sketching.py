"""Test matrices and sketches Y = A Omega, optical or digital, with their cost.

``sketch`` names where the randomness of Omega comes from and who multiplies:

======================  ====================================================  ======================
sketch                  Y = A Omega                                           A may be
======================  ====================================================  ======================
``"optical"``           the OPU, from the rows of A (bit planes + sign split)  array, sparse matrix
``"optical-probes"``    digital A times optical Rademacher vectors            also a LinearOperator
``"gaussian"``          digital A times N(0, 1) entries                       also a LinearOperator
``"rademacher"``        digital A times +-1 entries                           also a LinearOperator
======================  ====================================================  ======================

``None`` picks ``"optical"`` for explicit matrices and ``"optical-probes"`` for operators.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import ValidationError
from ..rng import check_seed, generator
from ..validation import check_choice, check_int
from .operators import MatrixOperator
from .optics import MAX_BITS, device_for, hadamard_order, optical_rademacher, optical_row_sketch
from .report import RandNLAReport

log = logging.getLogger(__name__)

__all__ = ["SKETCHES", "resolve_sketch", "random_vectors", "sketch"]

SKETCHES = ("optical", "optical-probes", "gaussian", "rademacher")
PROBES = ("optical", "rademacher", "gaussian")


def resolve_sketch(sketch: str | None, op: MatrixOperator) -> str:
    """Validate ``sketch`` (None: "optical" for explicit A, else "optical-probes")."""
    if sketch is None:
        return "optical" if op.explicit else "optical-probes"
    sketch = check_choice(sketch, "sketch", SKETCHES, error=ValidationError)
    if sketch == "optical" and not op.explicit:
        raise ValidationError(
            f"sketch='optical' sends the rows of {op.name} to the DMD, so {op.name} must be an array or a sparse "
            "matrix (got a LinearOperator); use sketch='optical-probes' (optical random test vectors, A applied digitally)"
        )
    return sketch


def random_vectors(
    n: int,
    count: int,
    kind: str = "optical",
    *,
    device="ideal",
    seed: int = 0,
    opu=None,
    progress: bool = False,
) -> tuple[np.ndarray, dict]:
    """``count`` random vectors of length ``n`` as columns (n, count), float64, with their cost.

    Parameters
    ----------
    n, count : int
        Vector length (camera pixels for optical vectors) and number of vectors.
    kind : {"optical", "rademacher", "gaussian"}
        "optical": +-1 vectors made by the OPU from complementary Hadamard half patterns
        (:func:`~photonics.randnla.optics.optical_rademacher`: 2 frames each, exactly
        Rademacher over the medium and the camera noise); "rademacher" / "gaussian": digital,
        from the stream ("randnla", kind) of ``seed``.
    device, seed, opu, progress
        As in :func:`~photonics.randnla.randomized_svd` (an ``opu`` needs n_out >= n and
        n_in >= the next power of two above ``count``).

    Returns
    -------
    Z : ndarray float64 (n, count)
    info : dict
        frames, device_time_s, optical_inputs, tie_fraction, device sizes (empty for digital).
    """
    n = check_int(n, "n", low=1, error=ValidationError)
    count = check_int(count, "count", low=1, error=ValidationError)
    kind = check_choice(kind, "kind", PROBES, error=ValidationError)
    seed = check_seed(seed)
    if kind == "optical":
        dev = device_for(opu, device, seed, hadamard_order(count), n, "optical probes")
        z, info = optical_rademacher(n, count, dev, seed, progress=progress)
        info.update(device=dev.config.name, n_in=dev.n_in, n_out=dev.n_out)
        return z, info
    rng = generator(seed, "randnla", kind)
    if kind == "gaussian":
        z = rng.standard_normal((n, count))
    else:
        z = 2.0 * rng.integers(0, 2, size=(n, count)).astype(np.float64) - 1.0
    return z, {}


#: ``n_bits="auto"``: first pass, refinement step, cap (the float32 optical floor) and the
#: tolerance: refine while ||A - Q(A)||_F > AUTO_TOL * ||A - Q Q^T A||_F.
AUTO_FIRST_BITS = 8
AUTO_STEP_BITS = 4
AUTO_MAX_BITS = 24
AUTO_TOL = 0.1
#: ...and stop as soon as a refinement pass improved the range error by less than this
#: fraction: then the camera noise (or the rank), not the rounding, limits the sketch.
AUTO_MIN_GAIN = 0.02


def check_bits(n_bits) -> int | str:
    """``n_bits``: an int in 1..MAX_BITS or "auto"."""
    if isinstance(n_bits, str):
        return check_choice(n_bits, "n_bits", ("auto",), error=ValidationError)
    return check_int(n_bits, "n_bits", low=1, high=MAX_BITS, error=ValidationError)


def range_error(op: MatrixOperator, basis: np.ndarray, norm: float | None) -> tuple[float | None, np.ndarray]:
    """||A - Q Q^T A||_F / ||A||_F = sqrt(1 - ||Q^T A||_F^2 / ||A||_F^2) and C = Q^T A.

    Computed by difference of squares: resolves errors down to ~1e-8 (float64 cancellation).
    """
    c = op.rmatmat(basis).T
    if not norm:
        return None, c
    rest = max(norm**2 - float(np.sum(c * c)), 0.0)
    return float(np.sqrt(rest) / norm), c


def _orth(y: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(y)
    return q


def sketch(
    op: MatrixOperator,
    l: int,
    kind: str,
    *,
    device,
    seed: int,
    opu,
    n_bits,
    refine: bool = True,
    progress: bool = False,
) -> tuple[np.ndarray, dict]:
    """Y = A Omega (m x l) for the resolved sketch ``kind`` and what it cost (dict).

    For the optical sketch with ``n_bits="auto"`` and ``refine``, a first pass of
    AUTO_FIRST_BITS bit planes is followed by residual passes of AUTO_STEP_BITS (see
    :func:`~photonics.randnla.optics.optical_row_sketch`) while the quantisation error
    ||A - Q(A)||_F (known digitally) exceeds AUTO_TOL x the range error of the current sketch
    ||A - Q Q^T A||_F (computed digitally, one product Q^T A per decision), up to
    AUTO_MAX_BITS in all, and stops when a pass improved the range error by less than
    AUTO_MIN_GAIN: frames are spent on bits only when the data needs them, and at most one
    pass is wasted when the camera noise, not the quantisation, limits the sketch. The last
    basis and Q^T A are returned in ``info["basis"]`` and ``info["projection"]`` for reuse.
    """
    m, n = op.shape
    seed = check_seed(seed)
    if kind == "optical":
        n_bits = check_bits(n_bits)
        dev = device_for(opu, device, seed, n, l, "the optical sketch")
        auto = n_bits == "auto"
        schedule = [AUTO_FIRST_BITS if auto else n_bits]
        y, info = optical_row_sketch(op, l, dev, schedule, progress=progress)
        norm = info["norm"]
        prev = None
        while auto and refine:
            basis = _orth(y)
            err, c = range_error(op, basis, norm)
            info.update(basis=basis, projection=c, range_error=err)
            quant = info["residual_norm"] / norm if norm else 0.0
            if err is None or quant <= AUTO_TOL * err or sum(schedule) + AUTO_STEP_BITS > AUTO_MAX_BITS:
                break
            if prev is not None and err > (1.0 - AUTO_MIN_GAIN) * prev:
                log.info(
                    "optical sketch: the last %d bit planes improved the range error by < %g %%: noise-limited",
                    AUTO_STEP_BITS,
                    100 * AUTO_MIN_GAIN,
                )
                break
            prev = err
            log.info(
                "optical sketch: quantisation error %.3g > %g x range error %.3g: %d more bit planes",
                quant,
                AUTO_TOL,
                err,
                AUTO_STEP_BITS,
            )
            schedule.append(AUTO_STEP_BITS)
            y2, more = optical_row_sketch(op, l, dev, schedule, first_pass=len(schedule) - 1, progress=progress)
            y = y + y2
            for key in ("frames", "device_time_s", "calibration_frames", "optical_inputs"):
                info[key] += more[key]
            info["residual_norm"] = more["residual_norm"]
            info.pop("basis")
        info.update(
            device=dev.config.name,
            n_in=dev.n_in,
            n_out=dev.n_out,
            n_bits=sum(schedule),
            bit_passes=tuple(schedule),
            quantization_error=info["residual_norm"] / norm if norm else 0.0,
            useful_macs=float(info["optical_inputs"]) * n * l,
        )
        return y, info
    probe_kind = "optical" if kind == "optical-probes" else kind
    omega, info = random_vectors(n, l, probe_kind, device=device, seed=seed, opu=opu, progress=progress)
    return op.matmat(omega), info


def make_report(routine: str, kind: str, seed: int, l: int, info: dict, **extra) -> RandNLAReport:
    """A :class:`RandNLAReport` from a sketch's info dict plus routine-level fields."""
    fields = {
        k: info[k]
        for k in (
            "device",
            "n_in",
            "n_out",
            "optical_inputs",
            "frames_per_input",
            "calibration_frames",
            "frames",
            "device_time_s",
            "useful_macs",
            "n_bits",
            "bit_passes",
            "quantization_error",
            "range_error",
            "tie_fraction",
        )
        if k in info
    }
    fields.update(extra)
    rep = RandNLAReport(routine=routine, sketch=kind, seed=int(seed), sketch_size=int(l), **fields)
    log.info("%s", rep.summary())
    return rep
