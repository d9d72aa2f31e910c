"""What a randomized routine cost: camera frames, device time, digital products.

The optics is not free: every vector sent to the DMD costs camera frames (bit planes x sign
split x the linear scheme's frames), and frames cost device time (1 / frame rate each).
Each routine can return a :class:`RandNLAReport` (``return_report=True``) and logs the same
figures at INFO level.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["RandNLAReport"]


@dataclass(frozen=True)
class RandNLAReport:
    """Cost and provenance of one randomized routine.

    Attributes
    ----------
    routine : str
        ``"randomized_range_finder"``, ``"randomized_svd"``, ``"hutchinson"``, ``"hutch_plus_plus"``.
    sketch : str
        Where the randomness came from: ``"optical"`` (the rows of A sent through the optics,
        the OPU computes A Omega), ``"optical-probes"`` (the OPU generates Rademacher test
        vectors, A is applied digitally), ``"gaussian"`` / ``"rademacher"`` (digital).
    device : str or None
        Device config name (None for digital sketches).
    seed : int
        Seed of the device and of the digital streams.
    sketch_size : int
        Columns of the test matrix (sketch size l, or number of probes).
    n_in, n_out : int or None
        DMD modes and camera pixels of the device used (None for digital sketches).
    optical_inputs : int
        Vectors sent to the DMD (rows or columns of A, once per bit-plane pass; or probe
        patterns).
    frames_per_input : int
        Camera frames per vector (of the first pass): encoder frames x frames per linear
        input (1 or 2).
    calibration_frames : int
        Frames spent measuring the reference levels (first linear projection only).
    frames : int
        Camera frames the routine acquired (measured on the device's frame counter).
    device_time_s : float
        Device time the routine used [s] (frames x frame period).
    useful_macs : float
        Multiply-accumulates of the digital product the optics replaced
        (optical_inputs x vector length x outputs used).
    matvecs : int
        Vectors multiplied digitally by A or A^T (power iterations, projections, probes).
    n_bits : int or None
        Bit planes per sign half in all (``"optical"`` sketch only; the sum of ``bit_passes``).
    bit_passes : tuple of int or None
        Bit planes of each pass over the rows: (n_bits,) for a fixed depth; with
        ``n_bits="auto"`` a first pass of 8 and refinement passes of 4 on the residual.
    quantization_error : float or None
        ||A - Q(A)||_F / ||A||_F: what the bit planes could not represent (optical sketch).
    range_error : float or None
        ||A - Q Q^T A||_F / ||A||_F of the final basis Q (explicit A only; difference of
        squares, so values below ~1e-8 read as ~0).
    transposed : bool
        True when the columns of A (not its rows) were sent to the DMD.
    std_error : float or None
        Standard error of a trace estimate, from the spread of its per-probe terms.
    tie_fraction : float or None
        Optical probes: fraction of signs decided by a digital coin because the two camera
        readings were equal (quantized camera, very low light).
    """

    routine: str
    sketch: str
    seed: int
    sketch_size: int
    device: str | None = None
    n_in: int | None = None
    n_out: int | None = None
    optical_inputs: int = 0
    frames_per_input: int = 0
    calibration_frames: int = 0
    frames: int = 0
    device_time_s: float = 0.0
    useful_macs: float = 0.0
    matvecs: int = 0
    n_bits: int | None = None
    bit_passes: tuple[int, ...] | None = None
    quantization_error: float | None = None
    range_error: float | None = None
    transposed: bool = False
    std_error: float | None = None
    tie_fraction: float | None = None

    def to_dict(self) -> dict:
        """JSON-able dict of every field."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line for logs and the command line."""
        if self.frames == 0:
            optics = "no optics"
        else:
            if self.bit_passes is not None and len(self.bit_passes) > 1:
                sent = f"{self.optical_inputs} inputs over bit-plane passes {'+'.join(map(str, self.bit_passes))}"
            else:
                sent = f"{self.optical_inputs} inputs x {self.frames_per_input}"
            optics = (
                f"{self.frames} frames ({sent} + {self.calibration_frames} calibration), "
                f"{self.device_time_s:.4g} s of device time"
            )
        return f"{self.routine} [{self.sketch}, l={self.sketch_size}]: {optics}, {self.matvecs} digital matvecs"
