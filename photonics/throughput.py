"""Hardware model of the simulated device: frames, operations, time and energy per projection.

This models the *hardware* a :class:`~photonics.config.DeviceConfig` describes, not the
simulator (the simulator's speed is measured by the scripts in ``benchmarks/``).

Operation count (the convention of the published OPU figures): one *operation* is one
multiply-accumulate of one transmission-matrix entry with one input element, so a frame of an
n_out x n_in TM performs n_in * n_out operations, and the device performs

    ops_per_s = n_in * n_out * frame_rate_hz

operations per second. A 1e6 x 1e6 TM at 1.5 kHz is thus 1.5e15 op/s = 1500 TeraOPS (the
lighton-like preset, 1e6 inputs x 2e6 camera pixels, counts 3000 TeraOPS). A complex TM
entry counts as one operation although it carries two real numbers, and the |.|^2 of the
camera comes for free: the count is a like-for-like measure only against another *random
projection* of the same size, not against dense FLOP/s of arbitrary matrices.

Frames per projection: the native projection of a binary input costs 1 frame; an encoder
multiplies that by its number of frames (bit planes, sign split, ternary); the linear scheme
by its frames per input (2 for "exact", 1 for "strong-reference"). Effective throughput
divides the raw rate by those frames:

    projections_per_s   = frame_rate_hz / frames_per_projection
    effective_ops_per_s = n_in * n_out * projections_per_s

Energy: with P the wall-plug power ``power.electrical_power_w`` [W] (or, when unknown, the
laser's optical power, flagged by ``energy_basis``),

    energy_per_frame_j = P / frame_rate_hz,   energy_per_op_j = P / ops_per_s,
    energy_per_projection_j = energy_per_frame_j * frames_per_projection.

The one-off reference calibration of the linear scheme (3 x ``reference.calibration_frames``
frames) is reported separately and not amortised into the per-projection figures.
"""

from __future__ import annotations

import math

from .config import DeviceConfig
from .errors import ValidationError
from .validation import check_choice, check_int, check_real

__all__ = [
    "ENCODINGS",
    "frames_per_linear_input",
    "encoding_frames",
    "hardware_model",
    "simulator_work",
    "format_si",
]

#: Encodings reported by :func:`hardware_model` (name -> how its frames per input are counted).
ENCODINGS = {
    "binary": "1 frame: the input is a binary DMD frame",
    "ternary": "2 frames: x+ = [x > thr] and x- = [x < -thr] (DFA errors)",
    "bit-planes": "n_bits frames: unsigned fixed point, one bit plane per frame",
    "sign-split": "2 n_bits frames: x = x+ - x-, each half in n_bits bit planes",
}


def frames_per_linear_input(scheme: str) -> int:
    """Camera frames per input frame of a linear projection (exact: 2, strong-reference: 1)."""
    return 2 if scheme == "exact" else 1


def encoding_frames(kind: str, n_bits: int = 8) -> int:
    """Binary DMD frames per input vector for an encoding of :data:`ENCODINGS`.

    Parameters
    ----------
    kind : str
        ``"binary"`` (1), ``"ternary"`` (2), ``"bit-planes"`` (n_bits), ``"sign-split"``
        (2 n_bits).
    n_bits : int
        Bit planes of the fixed-point encodings, 1..16.
    """
    check_choice(kind, "encoding", tuple(ENCODINGS), error=ValidationError)
    n_bits = check_int(n_bits, "n_bits", low=1, high=32, error=ValidationError)
    return {"binary": 1, "ternary": 2, "bit-planes": n_bits, "sign-split": 2 * n_bits}[kind]


def _encoder_frames(encoder_frames, encoder) -> int:
    if encoder is not None:
        n = getattr(encoder, "n_frames", None)
        if not isinstance(n, int) or n < 1:
            raise ValidationError(
                f"encoder {type(encoder).__name__} does not know its frames per input yet (n_frames={n!r}); "
                "pass encoder_frames explicitly or encode a batch first"
            )
        return n
    return check_int(encoder_frames, "encoder_frames", low=1, high=1 << 20, error=ValidationError)


def hardware_model(
    config: DeviceConfig,
    *,
    encoder_frames: int = 1,
    encoder=None,
    electrical_power_w: float | None = None,
    n_bits: int = 8,
) -> dict:
    """Throughput and energy of the modelled hardware (not of the simulator).

    Parameters
    ----------
    config : DeviceConfig
        The device.
    encoder_frames : int
        Binary frames per input vector (1 for binary inputs, n_bits for bit planes, 2x for a
        sign split, 2 for ternary inputs).
    encoder : photonics.encoding.Encoder, optional
        Take the frames per input from this encoder (``encoder.n_frames``) instead.
    electrical_power_w : float, optional
        Wall-plug power [W]; default ``config.power.electrical_power_w``. When neither is
        known, energy figures use the laser's optical power (``energy_basis="optical"``).
    n_bits : int
        Bits of the fixed-point encodings in the ``encodings`` table.

    Returns
    -------
    dict
        Rates: ``frame_rate_hz``, ``frame_period_s``, ``rate_limited_by`` ("camera" or the modulator, "dmd"/"slm"),
        ``ops_per_frame``, ``ops_per_s`` (raw optical rate), ``tera_ops_per_s``.
        Per projection with ``encoder_frames``: ``frames_per_native_projection``,
        ``frames_per_linear_projection``, ``native_projections_per_s``,
        ``linear_projections_per_s``, ``effective_native_ops_per_s``,
        ``effective_linear_ops_per_s``. Energy: ``power_w``, ``energy_basis``,
        ``electrical_power_w`` (None if unknown), ``optical_power_w``,
        ``energy_per_frame_j``, ``energy_per_op_j``, ``ops_per_joule``,
        ``tera_ops_per_w``, ``energy_per_native_projection_j``,
        ``energy_per_linear_projection_j``. Also ``linear_scheme``,
        ``reference_calibration_frames`` and ``encodings``: the same per-projection figures
        for each encoding of :data:`ENCODINGS` (frames per input, projections/s, effective
        ops/s and energy per projection, native and linear).
    """
    enc = _encoder_frames(encoder_frames, encoder)
    rate = config.frame_rate_hz
    ops_frame = float(config.n_in) * float(config.n_out)
    scheme = config.reference.scheme
    lin_per_input = frames_per_linear_input(scheme)
    if electrical_power_w is None:
        electrical_power_w = config.power.electrical_power_w
    else:
        electrical_power_w = check_real(electrical_power_w, "electrical_power_w", low=0.0, low_inclusive=False, unit="W", error=ValidationError)
    optical_w = config.laser.power_w
    power = electrical_power_w if electrical_power_w is not None else optical_w
    e_frame = power / rate

    def per_projection(frames_native: int) -> dict:
        frames_lin = frames_native * lin_per_input
        return {
            "frames_per_native_projection": frames_native,
            "frames_per_linear_projection": frames_lin,
            "native_projections_per_s": rate / frames_native,
            "linear_projections_per_s": rate / frames_lin,
            "effective_native_ops_per_s": ops_frame * rate / frames_native,
            "effective_linear_ops_per_s": ops_frame * rate / frames_lin,
            "energy_per_native_projection_j": e_frame * frames_native,
            "energy_per_linear_projection_j": e_frame * frames_lin,
        }

    out = {
        "frame_rate_hz": rate,
        "frame_period_s": 1.0 / rate,
        "rate_limited_by": "camera" if config.camera.frame_rate_hz <= config.modulator_config.frame_rate_hz else config.modulator,
        "ops_per_frame": ops_frame,
        "ops_per_s": ops_frame * rate,
        "tera_ops_per_s": ops_frame * rate / 1e12,
        "linear_scheme": scheme,
        "encoder_frames": enc,
        "reference_calibration_frames": 3 * config.reference.calibration_frames,
        "power_w": power,
        "energy_basis": "electrical" if electrical_power_w is not None else "optical",
        "electrical_power_w": electrical_power_w,
        "optical_power_w": optical_w,
        "energy_per_frame_j": e_frame,
        "energy_per_op_j": power / (ops_frame * rate),
        "ops_per_joule": ops_frame * rate / power,
        "tera_ops_per_w": ops_frame * rate / power / 1e12,
    }
    out.update(per_projection(enc))
    out["encodings"] = {
        name: per_projection(encoding_frames(name, n_bits)) for name in ENCODINGS
    }
    out["encodings_n_bits"] = n_bits
    return out


def simulator_work(config: DeviceConfig, batch: int) -> dict:
    """Arithmetic the *simulator* does for one projection of ``batch`` binary frames.

    The simulator multiplies binary frames (real) by the split matrix [Re T^T | Im T^T], one
    real GEMM of ``2 * batch * n_in * 2 n_out`` flops; a procedural medium also generates
    the ``2 n_in n_out`` Gaussian numbers of T once per projection (per call, whatever the
    batch). These are the numbers the benchmarks divide by time.

    Returns
    -------
    dict
        ``gemm_flops``, ``tm_normals`` (0 for dense storage), ``dense_tm_bytes`` (float32
        split layout), ``procedural`` (bool, as ``medium.storage`` resolves).
    """
    from .config import DENSE_LIMIT_BYTES

    batch = check_int(batch, "batch", low=1, error=ValidationError)
    n_in, n_out = config.n_in, config.n_out
    storage = config.medium.storage
    procedural = storage == "procedural" or (storage == "auto" and n_in * n_out * 8 > DENSE_LIMIT_BYTES)
    return {
        "gemm_flops": 2.0 * batch * n_in * 2.0 * n_out,
        "tm_normals": 2.0 * n_in * n_out if procedural else 0.0,
        "dense_tm_bytes": 8.0 * n_in * n_out,
        "procedural": procedural,
    }


def format_si(value: float, unit: str) -> str:
    """``value`` with an SI prefix, e.g. ``format_si(2e-14, "J")`` -> ``"20 fJ"``."""
    if value is None:
        return "n/a"
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a")]
    for scale, p in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.4g} {p}{unit}"
    return f"{value:.3g} {unit}"
