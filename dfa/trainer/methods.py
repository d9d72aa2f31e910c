"""Training methods: how one step's gradients are computed. BP, DFA, optical DFA, ...

A method fills the ``.grad`` of the model's parameters for one batch; the trainer
(:mod:`dfa.trainer.train`) owns the optimizer, the loop, the checkpoints and the metrics, so a new
learning rule (e.g. two-pass forward training) is one :class:`Method` subclass registered
with :func:`register_method`, and joins ``dfa train``'s side-by-side table unchanged.

========================  ============================================================
name                      gradients
========================  ============================================================
``bp``                    backpropagation (autograd)
``dfa``                   DFA, digital Gaussian feedback (:class:`GaussianFeedback`)
``optical-dfa``           DFA, feedback measured on the simulated OPU (:class:`OpticalFeedback`)
``stored-dfa``            DFA, feedback matrix from an HDF5 file (:class:`StoredFeedback`)
``head-only``             control: only the head (after the last feedback point) learns,
                          the hidden layers keep their initial weights
``two-pass``              two-pass forward training (PEPITA, :mod:`dfa.mechanism.two_pass`): no backward
                          pass; the input of a second forward pass is modulated by F e, F
                          digital Gaussian
``optical-two-pass``      two-pass, F e measured on the simulated OPU
``stored-two-pass``       two-pass, F from an HDF5 file (``two_pass.stored_path``)
========================  ============================================================
"""

from __future__ import annotations

import abc
import logging
import math
from dataclasses import replace
from typing import Callable

import torch
from torch import nn

from dfa.errors import TrainingDivergedError
from dfa.mechanism.dfa import DFA
from dfa.mechanism.feedback import FeedbackProvider, build_feedback
from dfa.mechanism.two_pass import MirroredF, TwoPass
from dfa.trainer.config import TrainConfig
from photonics.errors import ConfigError
from photonics.rng import derive_seed

log = logging.getLogger(__name__)

__all__ = ["Method", "Backprop", "DFAMethod", "HeadOnly", "TwoPassMethod", "register_method", "build_method", "method_names",
           "TWO_PASS_METHODS"]


class Method(abc.ABC):
    """One learning rule bound to a model and a task.

    Parameters
    ----------
    model : nn.Module
    task : dfa.trainer.tasks.Task
    config : TrainConfig
        The whole training configuration: the seed (feedback matrices derive from it), the
        feedback settings, the two-pass settings, ...
    """

    name = "abstract"
    #: True when the method's updates can be compared with BP's (alignment diagnostics); such a
    #: method implements segment_parameters(batch) and segment_names()
    aligns = False

    def __init__(self, model: nn.Module, task, config: TrainConfig):
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig (got {type(config).__name__})")
        self.model = model
        self.task = task
        self.config = config

    @property
    def seed(self) -> int:
        """The training seed."""
        return self.config.seed

    def setup(self) -> None:
        """Prepare (probe shapes, build feedback). Called once before training or resuming."""

    @abc.abstractmethod
    def compute_gradients(self, batch) -> torch.Tensor:
        """Fill ``.grad`` for ``batch`` (gradients must be zero on entry); return the loss (detached)."""

    #: the method's feedback provider (:mod:`dfa.mechanism.feedback`), if it has one: its frames and
    #: device time are the method's
    provider = None

    @property
    def optical_device(self):
        """The :class:`photonics.OPU` the method's feedback runs on (None for digital methods)."""
        return self.provider.optical_device if self.provider is not None else None

    @property
    def frames_used(self) -> int:
        """Optical frames used so far (those of ``provider``)."""
        return self.provider.frames_used if self.provider is not None else 0

    @property
    def device_time_s(self) -> float:
        """Simulated optical device time so far [s] (that of ``provider``)."""
        return self.provider.device_time_s if self.provider is not None else 0.0

    def state_dict(self) -> dict:
        """Method state to checkpoint (feedback matrices, device state...)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""

    def describe(self) -> dict:
        return {"method": self.name}

    # shared helper
    def _forward_loss(self, batch):
        out = self.task.forward(self.model, batch)
        loss = self.task.loss(out, batch)
        if not bool(torch.isfinite(loss.detach())):
            raise TrainingDivergedError(f"loss is {float(loss.detach())}: training diverged")
        return out, loss


class Backprop(Method):
    """Backpropagation: ``loss.backward()``."""

    name = "bp"

    def compute_gradients(self, batch):
        _, loss = self._forward_loss(batch)
        loss.backward()
        return loss.detach()


class DFAMethod(Method):
    """Direct Feedback Alignment with a feedback provider of kind ``feedback_kind``.

    The provider is built in :meth:`setup` for the model's layout (error dimension ->
    total width of the feedback points), found by one probing forward pass.
    """

    aligns = True
    feedback_kind = "gaussian"

    def __init__(self, model, task, config: TrainConfig, *, provider: FeedbackProvider | None = None):
        super().__init__(model, task, config)
        self.dfa = DFA(model)
        self.provider = provider

    def setup(self):
        batch = self.task.sample_batch()
        n_err, sizes = self.dfa.probe(lambda: self.task.forward(self.model, batch))
        if self.provider is None:
            device = next(self.model.parameters()).device
            self.provider = build_feedback(self.feedback_kind, n_err, sum(sizes), seed=self.seed, config=self.config.feedback).to(device)
        self.dfa.feedback = self.provider
        self.dfa.check_feedback()

    def compute_gradients(self, batch):
        with self.dfa.recording():
            out = self.task.forward(self.model, batch)
        loss = self.task.loss(out, batch)
        self.dfa.backward(loss, out)
        return loss.detach()

    def segment_parameters(self, batch):
        """Parameters per segment (hidden points, then head) for the alignment diagnostics."""
        return self.dfa.segment_parameters(lambda: self.task.forward(self.model, batch))

    def segment_names(self) -> list[str]:
        """Names of the hidden segments, e.g. ``"h1 (Tanh)"``."""
        return [f"h{i + 1} ({type(p).__name__})" for i, p in enumerate(self.dfa.points)]

    def state_dict(self):
        return {"feedback": self.provider.state_dict()}

    def load_state_dict(self, state):
        self.provider.load_state_dict(state["feedback"])

    def describe(self):
        d = super().describe()
        d.update(feedback=self.provider.describe() if self.provider is not None else None, feedback_widths=self.dfa.sizes, error_dim=self.dfa.n_error)
        return d


class GaussianDFA(DFAMethod):
    name = "dfa"
    feedback_kind = "gaussian"


class OpticalDFA(DFAMethod):
    name = "optical-dfa"
    feedback_kind = "optical"


class StoredDFA(DFAMethod):
    name = "stored-dfa"
    feedback_kind = "stored"


class HeadOnly(Method):
    """Control experiment: train only the segment after the last feedback point.

    The hidden layers stay at their initial (random) weights, so comparing DFA with this
    tells how much DFA's hidden-layer updates add to what the output layer learns on random
    features.
    """

    name = "head-only"

    def __init__(self, model, task, config: TrainConfig):
        super().__init__(model, task, config)
        self.dfa = DFA(model)

    def compute_gradients(self, batch):
        with self.dfa.recording():  # cuts the graph at the points: only the head is reached
            out, loss = self._forward_loss(batch)
        loss.backward()
        return loss.detach()


class TwoPassMethod(Method):
    """Two-pass forward training with F from a provider of kind ``feedback_kind``.

    F's provider is built in :meth:`setup` for n_classes -> n_input, from the training seed
    (stream ``"two-pass"``, independent of DFA's B) and the run's feedback settings (optical
    device, ternary threshold, rescaling, dedupe, quantize_digital) with the scale, error
    encoding and stored matrix of ``two_pass``. The update is multiplied by
    ``two_pass.update_factor(epoch)``. With ``two_pass.mirror_lr > 0`` (digital F only) F is a
    :class:`~dfa.mechanism.two_pass.MirroredF`, mirrored after every step (Srinivasan et al. 2023).
    """

    name = "two-pass"
    feedback_kind = "gaussian"
    aligns = True

    def __init__(self, model, task, config: TrainConfig, *, provider: FeedbackProvider | None = None):
        super().__init__(model, task, config)
        self._check_task()
        self.settings = config.two_pass
        self.mechanism = TwoPass(model)
        self.provider = provider
        self.steps = 0

    def _check_task(self):
        from .tasks import ClassificationTask

        if not isinstance(self.task, ClassificationTask):
            if isinstance(getattr(self.task, "_task", None), ClassificationTask):  # the trainer's bf16 autocast wrapper
                raise ConfigError(f"{self.name} needs precision fp32: its updates are differences between two forward "
                                  "passes, ~1e-3 of the activations, below bfloat16's resolution (2^-8)")
            raise ConfigError(f"{self.name} trains classifiers (it modulates the input); the data set {self.task.data.name!r} "
                              f"is a {self.task.data.task} task")

    def setup(self):
        if any(isinstance(m, nn.modules.conv._ConvNd) for m in self.mechanism.layers):
            log.warning("%s on convolutional layers: on digits it did no better than the head-only control (1 conv block) "
                        "and failed with 2 blocks (docs/results/training.md, dfa.mechanism.two_pass)", self.name)
        n_err, n_input = self.mechanism.probe(self.task.sample_batch()[0])
        if self.provider is None and self.settings.mirror_lr > 0:
            if self.feedback_kind != "gaussian":
                raise ConfigError(f"{self.name}: weight mirroring (two_pass.mirror_lr > 0) changes F during training; it is "
                                  "offered for the digital two-pass method only (an optical or stored F is fixed)")
            st = self.settings
            device = next(self.model.parameters()).device
            self.provider = MirroredF(self.mechanism.layers + [self.mechanism.head], self.mechanism.activations,
                                      seed=derive_seed(self.seed, "two-pass"), scale=st.f_scale, lr=st.mirror_lr,
                                      decay=st.mirror_decay, noise=st.mirror_noise,
                                      batch=max(1, self.config.batch_size)).to(device)
        if self.provider is None:
            st = self.settings
            cfg = replace(self.config.feedback, scale=st.f_scale, encoding=st.encoding, n_bits=st.n_bits, stored_path=st.stored_path)
            if self.feedback_kind == "stored" and not cfg.stored_path:
                raise ConfigError("the stored-two-pass method needs two_pass.stored_path (an HDF5 matrix of shape "
                                  f"n_input x n_classes = {n_input} x {n_err}, from dfa.mechanism.feedback.save_feedback_matrix)")
            device = next(self.model.parameters()).device
            self.provider = build_feedback(self.feedback_kind, n_err, n_input, seed=derive_seed(self.seed, "two-pass"), config=cfg).to(device)
        self.mechanism.feedback = self.provider
        self.mechanism.check_feedback()

    def compute_gradients(self, batch):
        factor = self.settings.update_factor(self.steps // self.task.steps_per_epoch)
        loss = self.mechanism.backward(batch[0], lambda y: self.task.loss(y, batch), scale=factor)
        if isinstance(self.provider, MirroredF):
            self.provider.mirror()
        self.steps += 1
        return loss

    def segment_parameters(self, batch):
        """Parameters per layer (hidden layers, then the head) for the alignment diagnostics."""
        return self.mechanism.segment_parameters()

    def segment_names(self) -> list[str]:
        return [f"h{i + 1} ({type(a).__name__})" for i, a in enumerate(self.mechanism.activations)]

    def state_dict(self):
        return {"feedback": self.provider.state_dict(), "steps": self.steps}

    def load_state_dict(self, state):
        self.provider.load_state_dict(state["feedback"])
        self.steps = int(state["steps"])

    def describe(self):
        d = super().describe()
        d.update(
            feedback=self.provider.describe() if self.provider is not None else None,
            # F maps the error to the input: the optical device is n_classes -> n_input
            feedback_widths=[math.prod(self.mechanism.input_shape)] if self.mechanism.input_shape else None,
            error_dim=self.mechanism.n_error,
            two_pass=self.settings.to_dict(),
        )
        return d


class GaussianTwoPass(TwoPassMethod):
    name = "two-pass"
    feedback_kind = "gaussian"


class OpticalTwoPass(TwoPassMethod):
    name = "optical-two-pass"
    feedback_kind = "optical"


class StoredTwoPass(TwoPassMethod):
    name = "stored-two-pass"
    feedback_kind = "stored"


_METHODS: dict[str, Callable[..., Method]] = {}


def register_method(name: str, cls: Callable[..., Method]) -> None:
    """Register a method class (or factory) under ``name``."""
    _METHODS[name] = cls


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS)


def build_method(name: str, model, task, config: TrainConfig) -> Method:
    """Instantiate and set up method ``name`` for ``model`` and ``task`` as ``config`` says."""
    if name not in _METHODS:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(method_names())}")
    m = _METHODS[name](model, task, config)
    m.setup()
    return m


register_method("bp", Backprop)
register_method("dfa", GaussianDFA)
register_method("optical-dfa", OpticalDFA)
register_method("stored-dfa", StoredDFA)
register_method("head-only", HeadOnly)
#: two-pass method name -> class
TWO_PASS_METHODS = {c.name: c for c in (GaussianTwoPass, OpticalTwoPass, StoredTwoPass)}
for _name, _cls in TWO_PASS_METHODS.items():
    register_method(_name, _cls)
