"""The training configuration: one frozen, validated dataclass, JSON round-trip, data-set defaults.

:func:`make_config` builds a :class:`TrainConfig` from the data set's registered defaults
(model, epochs, batch size, learning rate... see :mod:`dfa.zoo.data`) and the user's overrides,
so ``make_config("chars")`` is a sensible character-level Transformer run and
``make_config("digits", epochs=5)`` a short MLP run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from dfa.mechanism.feedback import FeedbackConfig
from dfa.mechanism.quantize import ENCODINGS
from photonics.errors import ConfigError
from photonics.rng import check_seed
from photonics.validation import check_choice, check_int, check_known_keys, check_real

__all__ = ["TrainConfig", "TwoPassConfig", "make_config", "OPTIMIZERS", "PRECISIONS", "TORCH_DEVICES", "LR_SCHEDULES"]

OPTIMIZERS = ("adam", "sgd")
#: learning-rate schedules (see TrainConfig.lr_at)
LR_SCHEDULES = ("constant", "step", "cosine")
#: training precisions: "fp32" (default) or "bf16" (autocast of forward pass and loss; see dfa.trainer.train)
PRECISIONS = ("fp32", "bf16")
TORCH_DEVICES = ("cpu", "cuda")
#: fields a resumed run may change (they do not alter the trajectory of the steps already done)
RESUMABLE_CHANGES = ("epochs", "max_steps", "checkpoint_every", "methods")


@dataclass(frozen=True)
class TwoPassConfig:
    """Settings of the two-pass forward methods (``two-pass``, ``optical-two-pass``...; see :mod:`dfa.mechanism.two_pass`).

    Parameters
    ----------
    f_scale : float
        Scale of the input modulation F (n_classes -> input size), in the feedback providers'
        convention: F behaves like i.i.d. N(0, f_scale^2 / n_classes) entries, so each input
        entry is moved by an RMS of f_scale * |e| / sqrt(n_classes). > 0. (PEPITA's
        F = 0.05 U[-sqrt(6/d), sqrt(6/d)] is f_scale = 0.05 sqrt(2 n_classes / d) for d inputs.)
    lr_decay_epochs : list of int
        Epochs (counted from 0, increasing) at whose start the two-pass update is multiplied by
        ``lr_decay_factor`` (PEPITA's step schedule). Needs ``optimizer = "sgd"``: the factor
        scales the update handed to the optimizer, which Adam normalises away.
    lr_decay_factor : float
        Factor of each decay, in (0, 1].
    encoding : str
        How the error is quantized for an optical F (and a digital one with
        ``feedback.quantize_digital``): ``"bitplanes"`` (default) or ``"ternary"`` (with
        ``feedback.threshold``); see :mod:`dfa.mechanism.quantize`. Ternary errors of softmax - onehot
        keep mostly the target entry, so they lose the zero sum of the error, and the mean
        input modulation they add makes the first layer's weights grow until the network
        stalls for some seeds (measured on digits: docs/results/training.md).
    n_bits : int
        Bit planes per sign of the ``"bitplanes"`` encoding, 1..8.
    stored_path : str or None
        HDF5 matrix F (input size x n_classes) of the ``stored-two-pass`` method
        (:func:`dfa.mechanism.feedback.save_feedback_matrix`).
    mirror_lr : float
        Weight mirroring of F (Srinivasan et al. 2023; digital ``two-pass`` with fully connected
        layers only): 0 (default) keeps F fixed; > 0 makes F = M_1 M_2 ... M_L a product of
        per-layer matrices, each nudged towards its layer's transposed weights after every step,
        M_l <- (1 - mirror_decay) M_l + mirror_lr <x y^T>, with x ~ N(0, mirror_noise^2) probes
        and y the layer's response, and F rescaled to the f_scale convention
        (:class:`dfa.mechanism.two_pass.MirroredF`).
    mirror_decay : float
        Decay of the mirrored matrices per step, in [0, 1).
    mirror_noise : float
        Standard deviation of the mirroring probes, > 0.
    """

    f_scale: float = 0.02
    lr_decay_epochs: tuple = ()
    lr_decay_factor: float = 0.1
    encoding: str = "bitplanes"
    n_bits: int = 3
    stored_path: str | None = None
    mirror_lr: float = 0.0
    mirror_decay: float = 0.5
    mirror_noise: float = 0.1

    def __post_init__(self):
        check_real(self.f_scale, "two_pass.f_scale", low=0.0, low_inclusive=False)
        check_real(self.mirror_lr, "two_pass.mirror_lr", low=0.0)
        check_real(self.mirror_decay, "two_pass.mirror_decay", low=0.0, high=1.0, high_inclusive=False)
        check_real(self.mirror_noise, "two_pass.mirror_noise", low=0.0, low_inclusive=False)
        ep = self.lr_decay_epochs
        if isinstance(ep, str) or not isinstance(ep, (tuple, list)):
            raise ConfigError(f"two_pass.lr_decay_epochs must be a list of epochs (got {ep!r})")
        ep = tuple(check_int(v, "two_pass.lr_decay_epochs entry", low=1) for v in ep)
        if any(b <= a for a, b in zip(ep, ep[1:])):
            raise ConfigError(f"two_pass.lr_decay_epochs must be strictly increasing (got {list(ep)})")
        object.__setattr__(self, "lr_decay_epochs", ep)
        check_real(self.lr_decay_factor, "two_pass.lr_decay_factor", low=0.0, high=1.0, low_inclusive=False)
        check_choice(self.encoding, "two_pass.encoding", ENCODINGS)
        check_int(self.n_bits, "two_pass.n_bits", low=1, high=8)
        if self.stored_path is not None and not isinstance(self.stored_path, str):
            raise ConfigError(f"two_pass.stored_path must be a path string (got {self.stored_path!r})")

    def update_factor(self, epoch: int) -> float:
        """Factor of the update in epoch ``epoch`` (0-based): lr_decay_factor^(decays passed)."""
        return float(self.lr_decay_factor ** sum(1 for e in self.lr_decay_epochs if epoch >= e))

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "TwoPassConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"two_pass must be a mapping (got {type(data).__name__})")
        check_known_keys(data, (f.name for f in fields(cls)), "two_pass")
        return cls(**data)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and nothing that does not).

    Parameters
    ----------
    dataset : str
        Registered data set (``dfa.zoo.data.dataset_names()``).
    dataset_options : dict
        Options of the data-set loader (e.g. ``{"path": "/data/mnist"}``).
    model : str
        Registered model (``dfa.zoo.models.model_names()``).
    model_options : dict
        Options of the model builder (e.g. ``{"hidden": [256, 256]}``).
    methods : tuple of str
        Methods trained side by side (``dfa.trainer.methods.method_names()``).
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
        Feedback settings (DFA methods; the two-pass methods' F uses the optical ones).
    two_pass : TwoPassConfig
        Settings of the two-pass forward methods (F's scale, update schedule).
    device : str
        Torch device, ``"cpu"`` or ``"cuda"``; the optical feedback follows ``feedback.backend``
        (``"auto"``: on the error's device, numpy on the CPU, torch on a GPU).
    align_every : int or None
        Alignment diagnostics every this many steps (0: off; None: about 50 points per run).
    checkpoint_every : int
        Checkpoint every this many steps (and at the end of training).
    max_steps : int or None
        Stop after this many steps (before the last epoch ends).
    precision : str
        ``"fp32"`` or ``"bf16"``: autocast of the forward pass and the loss (see
        :mod:`dfa.trainer.train`). Part of the trajectory: a resumed run keeps it.
    lr_schedule : str
        ``"constant"`` (default), ``"step"`` (lr x lr_gamma^k after the k-th of
        ``lr_milestones`` epochs) or ``"cosine"`` (lr_t = lr_min + (lr - lr_min)(1 + cos(pi t / T)) / 2
        over the T steps of the run); see :meth:`lr_at`. Applies to every method's optimizer.
    lr_milestones : list of int
        Epochs (counted from 0, increasing) at whose start a ``"step"`` schedule decays.
    lr_gamma : float
        Factor of each step decay, in (0, 1].
    lr_min : float
        Final learning rate of the cosine schedule, >= 0 and < lr.
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
    two_pass: TwoPassConfig = field(default_factory=TwoPassConfig)
    precision: str = "fp32"
    lr_schedule: str = "constant"
    lr_milestones: tuple = ()
    lr_gamma: float = 0.1
    lr_min: float = 0.0

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
        if not isinstance(self.two_pass, TwoPassConfig):
            raise ConfigError(f"two_pass must be a TwoPassConfig (got {type(self.two_pass).__name__})")
        if self.two_pass.lr_decay_epochs and self.optimizer != "sgd":
            raise ConfigError(
                f"two_pass.lr_decay_epochs needs optimizer 'sgd' (got {self.optimizer!r}): the schedule scales the "
                "two-pass update, which Adam normalises away"
            )
        check_choice(self.precision, "precision", PRECISIONS)
        check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        ms = self.lr_milestones
        if isinstance(ms, str) or not isinstance(ms, (tuple, list)):
            raise ConfigError(f"lr_milestones must be a list of epochs (got {ms!r})")
        ms = tuple(check_int(v, "lr_milestones entry", low=1) for v in ms)
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ConfigError(f"lr_milestones must be strictly increasing (got {list(ms)})")
        if ms and self.lr_schedule != "step":
            raise ConfigError(f"lr_milestones need lr_schedule 'step' (got {self.lr_schedule!r})")
        object.__setattr__(self, "lr_milestones", ms)
        check_real(self.lr_gamma, "lr_gamma", low=0.0, high=1.0, low_inclusive=False)
        check_real(self.lr_min, "lr_min", low=0.0)
        if self.lr_schedule == "cosine" and self.lr_min >= self.lr:
            raise ConfigError(f"lr_min ({self.lr_min:g}) must be below lr ({self.lr:g}) for the cosine schedule")

    def lr_at(self, step: int, epoch: int, total_steps: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based), in epoch ``epoch``, of a run of ``total_steps``.

        constant: lr; step: lr * lr_gamma^(number of milestones <= epoch); cosine:
        lr_min + (lr - lr_min) (1 + cos(pi step / total_steps)) / 2. A pure function of the
        position, so a resumed run continues the same schedule (one resumed with other
        ``epochs`` / ``max_steps`` stretches a cosine schedule from that step on).
        """
        if self.lr_schedule == "step":
            return float(self.lr * self.lr_gamma ** sum(1 for m in self.lr_milestones if epoch >= m))
        if self.lr_schedule == "cosine":
            t = min(max(step, 0), total_steps) / max(total_steps, 1)
            return float(self.lr_min + 0.5 * (self.lr - self.lr_min) * (1.0 + math.cos(math.pi * t)))
        return float(self.lr)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (FeedbackConfig, TwoPassConfig)):
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
        check_known_keys(data, (f.name for f in fields(cls)), "training")
        kw = dict(data)
        if "feedback" in kw and isinstance(kw["feedback"], dict):
            kw["feedback"] = FeedbackConfig.from_dict(kw["feedback"])
        if "two_pass" in kw and isinstance(kw["two_pass"], dict):
            kw["two_pass"] = TwoPassConfig.from_dict(kw["two_pass"])
        if "methods" in kw and isinstance(kw["methods"], list):
            kw["methods"] = tuple(kw["methods"])
        return cls(**kw)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (``feedback``/``two_pass`` may be dicts of changes)."""
        fb = changes.pop("feedback", None)
        if isinstance(fb, dict):
            changes["feedback"] = replace(self.feedback, **fb)
        elif fb is not None:
            changes["feedback"] = fb
        if isinstance(changes.get("two_pass"), dict):
            changes["two_pass"] = replace(self.two_pass, **changes["two_pass"])
        return replace(self, **changes)

    def differences(self, other: "TrainConfig") -> list[str]:
        """Names of the settings (dotted for feedback and two_pass) that differ from ``other``."""
        a, b = self.to_dict(), other.to_dict()
        out = [k for k in a if k not in ("feedback", "two_pass") and a[k] != b[k]]
        out += [f"feedback.{k}" for k in a["feedback"] if a["feedback"][k] != b["feedback"][k]]
        out += [f"two_pass.{k}" for k in a["two_pass"] if a["two_pass"][k] != b["two_pass"][k]]
        return out


def make_config(dataset: str = "digits", **overrides: Any) -> TrainConfig:
    """A TrainConfig for ``dataset`` from its registered defaults and ``overrides``.

    ``overrides`` are TrainConfig fields; ``feedback`` may be a FeedbackConfig (used as is) or
    a dict of FeedbackConfig fields (merged into the data set's feedback defaults). When ``model`` differs from the data set's default model, the
    default model options are not applied (they belong to the default model).
    """
    from dfa.zoo.data import dataset_spec

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
