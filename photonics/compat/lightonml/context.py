"""Metadata of a transform: :class:`Context` and :class:`ContextArray` (lightonml-shaped).

lightonml returns numpy results as a ``ContextArray``: an ``ndarray`` subclass with a
``context`` attribute describing the acquisition. The same here, with the simulated
device's values (exposure, frame period, input ones, wall-clock start/end) and, in
addition, what the toolkit accounts: camera frames and simulated device time of the call.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .types import FeaturesFormat

__all__ = ["Context", "ContextArray"]


class Context:
    """Describes one transform (acquisition settings and accounting).

    Attributes
    ----------
    exposure_us : float
        Camera exposure [us].
    frametime_us : float
        Frame period of the device (the slower of DMD and camera) [us].
    output_roi_upper, output_roi_shape : tuple of int
        Camera region used: the simulator's pixels are one row, so ``((0, 0), (1, n_components))``.
    input_roi_upper, input_roi_shape : tuple of int or None
        DMD region used: ``((0, 0), (1, n_features))`` (feature j drives input mode j).
    start, end : datetime.datetime
        Wall-clock time at the start and end of the call.
    gain : float or None
        lightonml's camera gain in dB; None here (see ``gain_e_per_dn``).
    n_ones : int or None
        Mean number of ON features per displayed frame.
    fmt_type : FeaturesFormat or None
        ``lined`` (1-D features) or ``macro_2d`` (2-D features, flattened row-major).
    fmt_factor : int or None
        DMD mirrors per side of one input mode (the device's macropixel).
    frames : int or None
        Camera frames acquired by the call (reference calibration and rescale probes included).
    device_time_s : float or None
        Simulated device time spent by the call [s].
    gain_e_per_dn : float or None
        Camera conversion gain [e-/DN].
    info : any
        Free-form information (``add_info``).
    """

    def __init__(
        self,
        frametime=None,
        exposure=None,
        output_roi=None,
        start=None,
        end=None,
        gain=None,
        input_roi=None,
        n_ones=None,
        fmt_type: FeaturesFormat | None = None,
        fmt_factor=None,
        *,
        frames: int | None = None,
        device_time_s: float | None = None,
        gain_e_per_dn: float | None = None,
    ):
        self.info = None
        self.exposure_us = exposure
        self.frametime_us = frametime
        self.output_roi_upper, self.output_roi_shape = (output_roi if output_roi else (None, None))
        self.input_roi_upper, self.input_roi_shape = (input_roi if input_roi else (None, None))
        self.start = start
        self.end = end
        self.gain = gain
        self.n_ones = n_ones
        self.fmt_type = fmt_type
        self.fmt_factor = fmt_factor
        self.frames = frames
        self.device_time_s = device_time_s
        self.gain_e_per_dn = gain_e_per_dn

    def add_info(self, info) -> None:
        """Attach free-form information."""
        self.info = info

    def as_dict(self) -> dict:
        """The context as a dict (entries that are None are left out, as in lightonml)."""
        out = {
            "exposure_us": self.exposure_us,
            "frametime_us": self.frametime_us,
            "output_roi": (self.output_roi_upper, self.output_roi_shape),
            "start": self.start,
        }
        optional = {
            "gain_dB": self.gain,
            "info": self.info,
            "end": self.end,
            "n_ones": self.n_ones,
            "fmt_factor": self.fmt_factor,
            "frames": self.frames,
            "device_time_s": self.device_time_s,
            "gain_e_per_dn": self.gain_e_per_dn,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.input_roi_upper is not None and self.input_roi_shape is not None:
            out["input_roi"] = (self.input_roi_upper, self.input_roi_shape)
        if self.fmt_type is not None:
            out["fmt_type"] = self.fmt_type.name
        return out

    def as_flat_dict(self) -> dict:
        """:meth:`as_dict` with the ROIs split into ``*_position_i`` / ``*_shape_i`` scalars."""
        out = self.as_dict()
        for key in ("output_roi", "input_roi"):
            roi = out.pop(key, None)
            if roi is not None and roi[0] is not None:
                (p0, p1), (s0, s1) = roi
                out.update({f"{key}_position_0": p0, f"{key}_position_1": p1, f"{key}_shape_0": s0, f"{key}_shape_1": s1})
        return out

    @staticmethod
    def from_dict(d: dict) -> "Context":
        """Inverse of :meth:`as_dict` / :meth:`as_flat_dict`."""

        def roi(key):
            if d.get(key) is not None:
                return tuple(tuple(v) for v in d[key])
            if f"{key}_position_0" in d:
                return ((d[f"{key}_position_0"], d[f"{key}_position_1"]), (d[f"{key}_shape_0"], d[f"{key}_shape_1"]))
            return None

        fmt = d.get("fmt_type")
        ctx = Context(
            d.get("frametime_us"),
            d.get("exposure_us"),
            roi("output_roi"),
            d.get("start"),
            d.get("end"),
            d.get("gain_dB"),
            roi("input_roi"),
            d.get("n_ones"),
            FeaturesFormat[fmt] if isinstance(fmt, str) else fmt,
            d.get("fmt_factor"),
            frames=d.get("frames"),
            device_time_s=d.get("device_time_s"),
            gain_e_per_dn=d.get("gain_e_per_dn"),
        )
        ctx.add_info(d.get("info"))
        return ctx

    def __str__(self) -> str:
        return str(self.as_dict())

    def __repr__(self) -> str:
        return f"Context({self.as_dict()!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Context):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @staticmethod
    def now() -> dt.datetime:
        """Wall-clock time stamp used for ``start`` / ``end``."""
        return dt.datetime.now()


class ContextArray(np.ndarray):
    """``numpy.ndarray`` with a ``context`` attribute (a :class:`Context` or None).

    Views, slices and arithmetic results keep the context of the array they come from.
    """

    def __new__(cls, input_array, context: Context | None = None):
        obj = np.asarray(input_array).view(cls)
        obj.context = context
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        self.context = getattr(obj, "context", None)

    def __reduce__(self):
        base = super().__reduce__()
        return (base[0], base[1], (base[2], self.context))

    def __setstate__(self, state):
        nd_state, self.context = state
        super().__setstate__(nd_state)
