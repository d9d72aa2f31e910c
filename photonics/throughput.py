"""Hardware model of the simulated device: frames, operations and time per projection.

Operation count (the convention of the published OPU figures): one *operation* is one
multiply-accumulate of one transmission-matrix entry with one input element, so a frame of an
n_out x n_in TM performs n_in * n_out operations, and the device performs
``n_in * n_out * frame_rate_hz`` operations per second. A 1e6 x 1e6 TM at 1.5 kHz is thus
1.5e15 op/s = 1500 TeraOPS.

Frames per projection: the native projection of a binary input costs 1 frame; an encoder
multiplies that by its number of frames (bit planes, sign split); the linear scheme by its
frames per input (2 for "exact", 1 for "strong-reference").
"""

from __future__ import annotations

from .config import DeviceConfig

__all__ = ["frames_per_linear_input", "hardware_model"]


def frames_per_linear_input(scheme: str) -> int:
    """Camera frames per input frame of a linear projection (exact: 2, strong-reference: 1)."""
    return 2 if scheme == "exact" else 1


def hardware_model(config: DeviceConfig, *, encoder_frames: int = 1) -> dict:
    """Throughput of the modelled hardware (not of the simulator).

    Parameters
    ----------
    config : DeviceConfig
        The device.
    encoder_frames : int
        Binary frames per input vector (1 for binary inputs, n_bits for bit planes, 2x for a
        sign split).

    Returns
    -------
    dict
        ``frame_rate_hz``, ``ops_per_frame``, ``ops_per_s`` (raw optical rate),
        ``native_projections_per_s``, ``linear_projections_per_s`` and
        ``effective_linear_ops_per_s`` (after encoding and the linear scheme's frames).
    """
    rate = config.frame_rate_hz
    ops_frame = float(config.n_in) * float(config.n_out)
    lin_frames = frames_per_linear_input(config.reference.scheme) * encoder_frames
    return {
        "frame_rate_hz": rate,
        "ops_per_frame": ops_frame,
        "ops_per_s": ops_frame * rate,
        "native_projections_per_s": rate / encoder_frames,
        "linear_projections_per_s": rate / lin_frames,
        "effective_linear_ops_per_s": ops_frame * rate / lin_frames,
    }
