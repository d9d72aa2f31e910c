"""The training configuration: one frozen, validated dataclass, JSON round-trip, data-set defaults.

:func:`make_config` builds a :class:`TrainConfig` from the data set's registered defaults
(model, epochs, batch size, learning rate... see :mod:`dfa.data`) and the user's overrides,
so ``make_config("chars")`` is a sensible character-level Transformer run and
``make_config("digits", epochs=5)`` a short MLP run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

from photonics.errors import ConfigError
from photonics.rng import check_seed
from photonics.validation import check_choice, check_int, check_real

from .feedback import FeedbackConfig

__all__ = ["TrainConfig", "make_config", "OPTIMIZERS", "TORCH_DEVICES"]

OPTIMIZERS = ("adam", "sgd")
TORCH_DEVICES = ("cpu", "cuda")
#: fields a resumed run may change (they do not alter the trajectory of the steps already done)
RESUMABLE_CHANGES = ("epochs", "max_steps", "checkpoint_every", "methods")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and nothing that does not).

    Parameters
    ----------
    dataset : str
        Registered data set (``dfa.data.dataset_names()``).
    dataset_options : dict
        Options of the data-set loader (e.g. ``{"path": "/data/mnist"}``).
    model : str
        Registered model (``dfa.models.model_names()``).
    model_options : dict
        Options of the model builder (e.g. ``{"hidden": [256, 256]}``).
    methods : tuple of str
        Methods trained side by side (``dfa.methods.method_names()``).
    epochs : int
        Passes over the training set (language model: ``steps_per_epoch`` random batches).
    batch_size : int
        Samples (or windows) per step; ignored by full-graph tasks.
    steps_per_epoch : int or None
        Steps per epoch of tasks without a natural epoch (language model).
    lr : float
        Learning rate.
    optimizer : str
        ``"adam"`` or ``"sgd"`` (with ``momentum``).
    momentum, weight_decay : float
        Optimizer settings.
    seed : int
        Training seed: model initialisation, batch order, feedback matrices and (unless
        ``feedback.opu_seed`` is set) the optical device derive from it.
    feedback : FeedbackConfig
        Feedback settings (DFA methods).
    device : str
        Torch device, ``"cpu"`` or ``"cuda"`` (the simulated OPU always computes on the CPU).
    align_every : int or None
        Alignment diagnostics every this many steps (0: off; None: about 50 points per run).
    checkpoint_every : int
        Checkpoint every this many steps (and at the end of training).
    max_steps : int or None
        Stop after this many steps (before the last epoch ends).
    """

    dataset: str = "digits"
    dataset_options: dict = field(default_factory=dict)
    model: str = "mlp"
    model_options: dict = field(default_factory=dict)
    methods: tuple = ("bp", "dfa", "optical-dfa")
    epochs: int = 30
    batch_size: int = 32
    steps_per_epoch: int | None = None
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    device: str = "cpu"
    align_every: int | None = None
    checkpoint_every: int = 100
    max_steps: int | None = None

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError(f"dataset must be a name (got {self.dataset!r})")
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"model must be a name (got {self.model!r})")
        for k in ("dataset_options", "model_options"):
            if not isinstance(getattr(self, k), dict):
                raise ConfigError(f"{k} must be a mapping (got {getattr(self, k)!r})")
        if isinstance(self.methods, str) or not isinstance(self.methods, (tuple, list)) or not self.methods:
            raise ConfigError(f"methods must be a non-empty list of method names (got {self.methods!r})")
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods lists a method twice: {list(self.methods)}")
        object.__setattr__(self, "methods", tuple(self.methods))
        check_int(self.epochs, "epochs", low=1)
        check_int(self.batch_size, "batch_size", low=0)
        if self.steps_per_epoch is not None:
            check_int(self.steps_per_epoch, "steps_per_epoch", low=1)
        check_real(self.lr, "lr", low=0.0, low_inclusive=False)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_real(self.momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        check_real(self.weight_decay, "weight_decay", low=0.0)
        check_seed(self.seed)
        if not isinstance(self.feedback, FeedbackConfig):
            raise ConfigError(f"feedback must be a FeedbackConfig (got {type(self.feedback).__name__})")
        check_choice(self.device, "device", TORCH_DEVICES)
        if self.align_every is not None:
            check_int(self.align_every, "align_every", low=0)
        check_int(self.checkpoint_every, "checkpoint_every", low=1)
        if self.max_steps is not None:
            check_int(self.max_steps, "max_steps", low=1)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, FeedbackConfig):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = json.loads(json.dumps(v))
            out[f.name] = v
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a training config must be a mapping (got {type(data).__name__})")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown training setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(names))}")
        kw = dict(data)
        if "feedback" in kw and isinstance(kw["feedback"], dict):
            kw["feedback"] = FeedbackConfig.from_dict(kw["feedback"])
        if "methods" in kw and isinstance(kw["methods"], list):
            kw["methods"] = tuple(kw["methods"])
        return cls(**kw)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (``feedback`` may be a dict of feedback changes)."""
        fb = changes.pop("feedback", None)
        if isinstance(fb, dict):
            changes["feedback"] = replace(self.feedback, **fb)
        elif fb is not None:
            changes["feedback"] = fb
        return replace(self, **changes)

    def differences(self, other: "TrainConfig") -> list[str]:
        """Names of the settings (dotted for feedback) that differ from ``other``."""
        a, b = self.to_dict(), other.to_dict()
        out = [k for k in a if k != "feedback" and a[k] != b[k]]
        out += [f"feedback.{k}" for k in a["feedback"] if a["feedback"][k] != b["feedback"][k]]
        return out


def make_config(dataset: str = "digits", **overrides: Any) -> TrainConfig:
    """A TrainConfig for ``dataset`` from its registered defaults and ``overrides``.

    ``overrides`` are TrainConfig fields; ``feedback`` may be a FeedbackConfig (used as is) or
    a dict of FeedbackConfig fields (merged into the data set's feedback defaults). When ``model`` differs from the data set's default model, the
    default model options are not applied (they belong to the default model).
    """
    from .data import dataset_spec

    spec = dataset_spec(dataset)
    d = dict(spec.defaults)
    if "model" in overrides and overrides["model"] != d.get("model"):
        d.pop("model_options", None)
    fb_default = dict(d.pop("feedback", {}) or {})
    d.update({k: v for k, v in overrides.items() if v is not None})
    fb = d.get("feedback")
    if isinstance(fb, FeedbackConfig):  # a complete feedback config replaces the defaults
        d["feedback"] = fb.to_dict()
    elif fb_default or fb:  # a dict of feedback settings is merged into the data set's defaults
        d["feedback"] = {**fb_default, **(fb or {})}
    d["dataset"] = dataset
    return TrainConfig.from_dict(d)
