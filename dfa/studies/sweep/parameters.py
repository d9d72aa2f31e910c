"""The parameters a sweep can vary, and how each one maps onto the training and device configs.

Named parameters (each maps onto the device, :class:`~photonics.config.DeviceConfig`, or the
feedback settings, :class:`~dfa.mechanism.feedback.FeedbackConfig`, of the optical runs):

========================  =====================================================================
``photons_per_pixel``     mean photons per camera pixel per frame for an input frame with half
                          of the signal modes ON, reference off (``photonics.budget.noise_budget``
                          ``["photons"]``), at the run's projection size. Set through the laser
                          power, which it is proportional to: ``feedback.opu_power_scale`` becomes
                          the base's scale x photons / (photons of the base device), exposure,
                          camera and ADC unchanged; the record keeps the resulting noise budget.
                          Shot noise relative to the signal falls as 1 / sqrt(photons).
``read_noise_e``          camera read noise [e-] (``camera.read_noise_e``).
``bit_depth``             ADC resolution [bits], same analog range: the ADC full scale in
                          electrons, (2^bits - 1 - black level) x gain, is kept, so
                          ``camera.gain_e_per_dn`` and ``camera.black_level_dn`` scale by
                          (2^b0 - 1) / (2^b - 1) from the base device's b0 bits.
``dmd_contrast``          DMD ON/OFF intensity ratio (``dmd.contrast_ratio``; "inf": perfect).
``threshold``             error ternarization threshold (``feedback.threshold``).
``grain_size_px``         speckle grain [camera pixels]: ``medium.model = "speckle"`` with
                          ``medium.grain_size_px`` (1: uncorrelated pixels).
``decorrelation_time_s``  drift of the medium [s of device time] (``medium.decorrelation_time_s``;
                          "inf": static).
``recalibration_period_s``  reference recalibration period during training [s of device time]
                          (``feedback.recalibrate_every_s``; "never": calibrate once).
``reference_fraction``    reference modes / signal modes (``reference.fraction``).
========================  =====================================================================

Any other setting is reachable with a dotted key: ``opu.<section>.<key>`` (a device setting,
e.g. ``opu.camera.exposure_s``), ``feedback.<field>`` (e.g. ``feedback.encoding``) or
``train.<field>`` (e.g. ``train.lr``; not ``seed``, ``methods``, ``dataset`` or ``feedback``).

This table is the one place where a parameter meets the configs: :func:`parameter_assignment`
turns a value into the dotted keys it sets (its ``targets``), and the planner applies those.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from typing import Any, Callable

from photonics.errors import ConfigError

__all__ = [
    "NamedParameter",
    "NAMED_PARAMETERS",
    "check_parameter_name",
    "validate_value",
    "parameter_targets",
    "parameter_assignment",
    "photons_assignment",
    "parameter_label",
    "prefers_log_axis",
    "TRAIN_EXCLUDED",
]

#: TrainConfig fields a sweep may not vary through train.<field>
TRAIN_EXCLUDED = ("seed", "methods", "feedback", "dataset")


@dataclass(frozen=True)
class NamedParameter:
    """A named sweep parameter: value checks, the config keys it sets, how to label it."""

    name: str
    kind: str  # "real" | "int" | "real_or_off"
    targets: tuple
    label: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    off_words: tuple = ()
    log_axis: bool = False
    description: str = ""
    #: value (normalised by validate_value), base device config dict -> {dotted target: value};
    #: None: the value goes to the single target, off words (``"inf"``, ``"never"``) as None
    assign: Callable[[Any, dict], dict] | None = None
    #: the value can only be mapped once the run's device is known (see photons_assignment)
    needs_device: bool = False


def _off_or(value, off=None):
    return off if isinstance(value, str) else value


def _bits(value, base_device: dict) -> dict:
    """Gain and black level for ``value`` bits with the base camera's ADC range in electrons."""
    camera = base_device["camera"]
    f = (2 ** int(camera["bit_depth"]) - 1) / (2**value - 1)
    return {
        "opu.camera.bit_depth": value,
        "opu.camera.gain_e_per_dn": float(camera["gain_e_per_dn"]) * f,
        "opu.camera.black_level_dn": float(camera["black_level_dn"]) / f,
    }


NAMED_PARAMETERS: dict[str, NamedParameter] = {
    p.name: p
    for p in (
        NamedParameter("photons_per_pixel", "real", ("feedback.opu_power_scale",), "photons per pixel (half-on input frame)",
                       low=0.0, low_inclusive=False, log_axis=True, needs_device=True,
                       description="mean photons per camera pixel per frame (noise_budget, half-on frame), set via the laser power"),
        NamedParameter("read_noise_e", "real", ("opu.camera.read_noise_e",), "read noise [e-]", low=0.0,
                       description="camera read noise [e-]"),
        NamedParameter("bit_depth", "int", ("opu.camera.bit_depth", "opu.camera.gain_e_per_dn", "opu.camera.black_level_dn"),
                       "ADC bit depth [bits]", low=1, high=16, assign=_bits,
                       description="ADC bits over the base device's analog range (gain and black level rescaled)"),
        NamedParameter("dmd_contrast", "real_or_off", ("opu.dmd.contrast_ratio",), "DMD contrast ratio", low=1.0, low_inclusive=False,
                       off_words=("inf",), log_axis=True, assign=lambda v, _: {"opu.dmd.contrast_ratio": _off_or(v, math.inf)},
                       description="DMD ON/OFF intensity ratio ('inf': perfect)"),
        NamedParameter("threshold", "real", ("feedback.threshold",), "ternarization threshold", low=0.0, high=1.0,
                       description="error ternarization threshold, relative to each sample's max |e|"),
        NamedParameter("grain_size_px", "real", ("opu.medium.model", "opu.medium.grain_size_px"), "speckle grain [px]",
                       low=1.0, high=1024.0, assign=lambda v, _: {"opu.medium.model": "speckle", "opu.medium.grain_size_px": v},
                       description="speckle grain size [camera pixels] (speckle medium)"),
        NamedParameter("decorrelation_time_s", "real_or_off", ("opu.medium.decorrelation_time_s",), "decorrelation time [s]",
                       low=0.0, low_inclusive=False, off_words=("inf",), log_axis=True,
                       description="medium decorrelation time [s of device time] ('inf': static)"),
        NamedParameter("recalibration_period_s", "real_or_off", ("feedback.recalibrate_every_s",), "recalibration period [s]",
                       low=0.0, low_inclusive=False, off_words=("never", "inf"), log_axis=True,
                       description="reference recalibration period [s of device time] ('never')"),
        NamedParameter("reference_fraction", "real", ("opu.reference.fraction",), "reference modes / signal modes",
                       low=0.0, high=64.0, low_inclusive=False, description="reference modes as a fraction of the signal modes"),
    )
}


def _device_sections() -> dict:
    from photonics import DeviceConfig

    return DeviceConfig().to_dict()


def _feedback_fields() -> list[str]:
    from dfa.mechanism.feedback import FeedbackConfig

    return [f.name for f in fields(FeedbackConfig) if f.name != "opu_overrides"]


def _train_fields() -> list[str]:
    from dfa.trainer.config import TrainConfig

    return [f.name for f in fields(TrainConfig) if f.name not in TRAIN_EXCLUDED]


def _unknown(name: str) -> ConfigError:
    close = difflib.get_close_matches(name, list(NAMED_PARAMETERS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(
        f"unknown sweep parameter {name!r}{hint}; named parameters: {', '.join(NAMED_PARAMETERS)}; "
        "or a dotted key opu.<section>.<key> (device), feedback.<field> or train.<field>"
    )


def check_parameter_name(name: str) -> None:
    """Raise a ConfigError naming the alternatives unless ``name`` is a known parameter."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"sweep parameter names must be non-empty strings (got {name!r})")
    if name in NAMED_PARAMETERS:
        return
    prefix, _, rest = name.partition(".")
    if prefix == "opu" and rest:
        parts = rest.split(".")
        node = _device_sections()
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = "opu" if i == 0 else "opu." + ".".join(parts[:i])
                allowed = sorted(node) if isinstance(node, dict) else []
                raise ConfigError(f"unknown sweep parameter {name!r}: {where} has no key {part!r}; allowed: {', '.join(allowed)}")
            node = node[part]
        if isinstance(node, dict):
            raise ConfigError(f"sweep parameter {name!r} names a section; give a key: {', '.join(sorted(node))}")
        return
    if prefix == "feedback" and rest:
        allowed = _feedback_fields()
        if rest not in allowed:
            extra = " (device overrides are swept as opu.<section>.<key>)" if rest == "opu_overrides" else ""
            raise ConfigError(f"unknown sweep parameter {name!r}{extra}; feedback fields: {', '.join(allowed)}")
        return
    if prefix == "train" and rest:
        allowed = _train_fields()
        if rest not in allowed:
            extra = ""
            if rest in TRAIN_EXCLUDED:
                extra = " (seeds go in sweep.seeds, methods and dataset in [base])" if rest != "feedback" else " (use feedback.<field>)"
            raise ConfigError(f"sweep parameter {name!r} is not sweepable{extra}; train fields: {', '.join(allowed)}")
        return
    raise _unknown(name)


def validate_value(name: str, value: Any):
    """Check one value of parameter ``name``; return it normalised (JSON-able)."""
    p = NAMED_PARAMETERS.get(name)
    if p is None:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"sweep parameter {name!r}: values must be numbers, strings or booleans (got {value!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"sweep parameter {name!r}: values must be finite (got {value!r})")
        return value
    if p.kind == "real_or_off" and isinstance(value, str):
        if value.lower() in p.off_words:
            return p.off_words[0]
        raise ConfigError(f"sweep parameter {name!r}: a string value must be one of {list(p.off_words)} (got {value!r})")
    if p.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"sweep parameter {name!r} takes integers (got {value!r} of type {type(value).__name__})")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        words = f" or {' / '.join(map(repr, p.off_words))}" if p.off_words else ""
        raise ConfigError(f"sweep parameter {name!r} takes numbers{words} (got {value!r} of type {type(value).__name__})")
    v = value if p.kind == "int" else float(value)
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"sweep parameter {name!r} must be finite (got {value!r}){'; write ' + repr(p.off_words[0]) if p.off_words else ''}")
    if p.low is not None and (v < p.low or (v == p.low and not p.low_inclusive)):
        raise ConfigError(f"sweep parameter {name!r} must be {'>=' if p.low_inclusive else '>'} {p.low:g} (got {value!r})")
    if p.high is not None and v > p.high:
        raise ConfigError(f"sweep parameter {name!r} must be <= {p.high:g} (got {value!r})")
    return v


def parameter_targets(name: str) -> tuple[str, ...]:
    """The config keys ``name`` sets (``opu.<section>.<key>``, ``feedback.<f>``, ``train.<f>``)."""
    p = NAMED_PARAMETERS.get(name)
    return p.targets if p is not None else (name,)


def parameter_assignment(name: str, value: Any, base_device: dict) -> dict:
    """The dotted keys (``opu.``, ``feedback.``, ``train.``) and values that ``name = value`` sets.

    ``value`` as normalised by :func:`validate_value`; ``base_device``: the base device config
    as a dict (for parameters relative to it, such as ``bit_depth``). A parameter that needs the
    run's device (``photons_per_pixel``) sets nothing here: see :func:`photons_assignment`.
    """
    p = NAMED_PARAMETERS.get(name)
    if p is None:
        return {name: value}
    if p.needs_device:
        return {}
    if p.assign is not None:
        return p.assign(value, base_device)
    return {p.targets[0]: _off_or(value)}


def photons_assignment(photons: float, photons_now: float, power_scale_now: float) -> dict:
    """``photons_per_pixel``: the ``feedback.opu_power_scale`` that gives ``photons`` per pixel.

    The budget is linear in the laser power, so the scale of a device that gives
    ``photons_now`` photons at scale ``power_scale_now`` is multiplied by photons / photons_now.
    """
    if not photons_now > 0:
        raise ConfigError(f"the device gives {photons_now} photons per pixel; photons_per_pixel cannot be set through the laser power")
    return {"feedback.opu_power_scale": power_scale_now * photons / photons_now}


def parameter_label(name: str) -> str:
    """Axis label of a parameter."""
    p = NAMED_PARAMETERS.get(name)
    return p.label if p is not None else name


def prefers_log_axis(name: str) -> bool:
    p = NAMED_PARAMETERS.get(name)
    return bool(p and p.log_axis)
