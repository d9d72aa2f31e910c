"""Everything a training run needs, checked before any work: names, devices, files, options.

:func:`check_config` refuses what would fail later (a misspelled method, data set or model, an
optical device that cannot be built, a stored matrix that does not exist) with a one-line
:class:`~photonics.errors.ConfigError` that suggests the closest name ("did you mean"), before a
run folder is created or a single step is trained. :func:`ineffective_settings` lists the
settings that have no effect in the chosen configuration (e.g. a ternary threshold with
bit-plane errors), which the command warns about.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

from photonics.errors import ConfigError, PhotonicsError

from .config import TrainConfig

__all__ = ["check_config", "check_model", "ineffective_settings", "did_you_mean"]

#: bytes a training run holds per model parameter at the least: float32 weights, gradients and
#: Adam's two moments (SGD with momentum needs one fewer)
BYTES_PER_PARAMETER = 16


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kinds(config: TrainConfig) -> set[str]:
    """Feedback kinds the configured methods build ("gaussian", "optical", "stored")."""
    from .methods import _METHODS

    out = set()
    for m in config.methods:
        kind = getattr(_METHODS[m], "feedback_kind", None)
        if kind is not None:
            out.add(kind)
    return out


def _two_pass(config: TrainConfig) -> bool:
    from .methods import TWO_PASS_METHODS

    return any(m in TWO_PASS_METHODS for m in config.methods)


def check_config(config: TrainConfig) -> None:
    """Raise a ConfigError for anything of ``config`` that would fail once training has started."""
    from dfa.zoo.data import dataset_names
    from dfa.zoo.models import model_names

    from .methods import method_names

    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig (got {type(config).__name__})")
    for m in config.methods:
        if m not in method_names():
            raise ConfigError(f"unknown method {m!r}{did_you_mean(m, method_names())}; available: {', '.join(method_names())}")
    if config.dataset not in dataset_names():
        raise ConfigError(f"unknown dataset {config.dataset!r}{did_you_mean(config.dataset, dataset_names())}; "
                          f"available: {', '.join(dataset_names())}")
    if config.model not in model_names():
        raise ConfigError(f"unknown model {config.model!r}{did_you_mean(config.model, model_names())}; "
                          f"available: {', '.join(model_names())}")
    kinds = _kinds(config)
    fb = config.feedback
    if "optical" in kinds:
        from photonics import DeviceConfig, preset_names

        try:
            dev = DeviceConfig.resolve(fb.opu, **fb.opu_overrides)
            if fb.opu_power_scale != 1.0:
                dev.replace({"laser.power_w": dev.laser.power_w * fb.opu_power_scale})
        except PhotonicsError as exc:
            hint = did_you_mean(fb.opu, preset_names()) if not Path(fb.opu).suffix and fb.opu not in preset_names() else ""
            raise ConfigError(f"feedback device {fb.opu!r}{hint}: {exc}") from None
        except FileNotFoundError as exc:
            raise ConfigError(f"feedback device: {exc}") from None
    if "stored" in kinds:
        paths = []
        if any(m.startswith("stored") and "two-pass" not in m for m in config.methods):
            paths.append(("feedback.stored_path", fb.stored_path))
        if "stored-two-pass" in config.methods:
            paths.append(("two_pass.stored_path", config.two_pass.stored_path))
        for key, p in paths:
            if not p:
                raise ConfigError(f"the stored methods need {key} (an HDF5 matrix from dfa.mechanism.feedback.save_feedback_matrix)")
            if not Path(p).is_file():
                raise ConfigError(f"{key}: file {p!r} does not exist")


def check_model(config: TrainConfig, data) -> int:
    """Build the configured model on torch's meta device (no memory): refuse bad model options
    and a model that cannot fit this machine's memory, before any work. Returns its parameters."""
    import torch

    from dfa.zoo.models import build_model, n_parameters
    from photonics.validation import check_allocation

    with torch.device("meta"):
        model = build_model(config.model, data, **config.model_options)
    n = n_parameters(model)
    check_allocation(BYTES_PER_PARAMETER * n, f"model {config.model!r} with {n:,} parameters (model_options {config.model_options})",
                     "choose a smaller model", error=ConfigError)
    return n


def data_warnings(config: TrainConfig, data) -> list[str]:
    """Settings that the loaded data set makes ineffective: a batch larger than the training set
    (every epoch is then one batch of the whole set, not ``batch_size`` samples)."""
    x = getattr(data, "x_train", None)
    if x is None or config.steps_per_epoch:  # random windows (language models) or a fixed step count
        return []
    n = int(x.shape[0])
    if config.batch_size > n:
        return [f"batch_size {config.batch_size} is larger than the {n} training samples of {config.dataset}: "
                f"every epoch is one batch of {n}"]
    return []


def ineffective_settings(config: TrainConfig) -> list[str]:
    """Settings of ``config`` that differ from their defaults but have no effect in this run."""
    from dfa.mechanism.feedback import FeedbackConfig

    from .config import TwoPassConfig

    out = []
    fb, d = config.feedback, FeedbackConfig()
    kinds = _kinds(config)
    changed = {f.name for f in fields(FeedbackConfig) if getattr(fb, f.name) != getattr(d, f.name)}
    quantized = "optical" in kinds or fb.quantize_digital
    if not (kinds & {"gaussian", "optical", "stored"}):
        for k in sorted(changed):
            out.append(f"feedback.{k} has no effect: no configured method uses feedback ({', '.join(config.methods)})")
        changed = set()
    if "optical" not in kinds:
        for k in sorted(changed & {"opu", "opu_overrides", "opu_seed", "opu_power_scale", "rescale", "n_probes", "dedupe",
                                   "recalibrate_every_s", "backend", "blank_frames", "gain_rule", "min_signal_fraction"}):
            out.append(f"feedback.{k} has no effect: no configured method uses the optical device")
    if quantized and fb.encoding == "bitplanes" and "threshold" in changed:
        out.append("feedback.threshold has no effect with feedback.encoding 'bitplanes' (it sets the ternary encoding's cut)")
    if quantized and fb.encoding == "ternary" and "n_bits" in changed:
        out.append("feedback.n_bits has no effect with feedback.encoding 'ternary' (it sets the bit planes' count)")
    if not quantized and changed & {"encoding", "threshold", "n_bits", "rounding"}:
        for k in sorted(changed & {"encoding", "threshold", "n_bits", "rounding"}):
            out.append(f"feedback.{k} has no effect: the error is quantized only for an optical device or with feedback.quantize_digital")
    if not _two_pass(config):
        tp, dtp = config.two_pass, TwoPassConfig()
        for f in fields(TwoPassConfig):
            if getattr(tp, f.name) != getattr(dtp, f.name):
                out.append(f"two_pass.{f.name} has no effect: no two-pass method is configured")
    return out
