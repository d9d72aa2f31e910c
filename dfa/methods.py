"""Training methods: how one step's gradients are computed. BP, DFA, optical DFA, ...

A method fills the ``.grad`` of the model's parameters for one batch; the trainer
(:mod:`dfa.train`) owns the optimizer, the loop, the checkpoints and the metrics, so a new
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
``two-pass``              two-pass forward training (PEPITA, :mod:`dfa.two_pass`): no backward
                          pass; the input of a second forward pass is modulated by F e, F
                          digital Gaussian
``optical-two-pass``      two-pass, F e measured on the simulated OPU
``stored-two-pass``       two-pass, F from an HDF5 file (``two_pass.stored_path``)
========================  ============================================================
"""

from __future__ import annotations

import abc
from typing import Callable

import torch
from torch import nn

from photonics.errors import ConfigError

from .dfa import DFA
from .errors import TrainingDivergedError
from .feedback import FeedbackConfig, FeedbackProvider, build_feedback

__all__ = ["Method", "Backprop", "DFAMethod", "HeadOnly", "register_method", "build_method", "method_names"]


class Method(abc.ABC):
    """One learning rule bound to a model and a task.

    Parameters
    ----------
    model : nn.Module
    task : dfa.tasks.Task
    seed : int
        Training seed (feedback matrices derive from it).
    feedback : FeedbackConfig
        Feedback settings (used by the feedback-based methods).
    """

    name = "abstract"
    #: True when the method's updates can be compared with BP's (alignment diagnostics); such a
    #: method implements segment_parameters(batch) and segment_names()
    aligns = False

    def __init__(self, model: nn.Module, task, *, seed: int, feedback: FeedbackConfig):
        self.model = model
        self.task = task
        self.seed = seed
        self.feedback_config = feedback

    def setup(self) -> None:
        """Prepare (probe shapes, build feedback). Called once before training or resuming."""

    @abc.abstractmethod
    def compute_gradients(self, batch) -> torch.Tensor:
        """Fill ``.grad`` for ``batch`` (gradients must be zero on entry); return the loss (detached)."""

    #: the method's feedback provider (:mod:`dfa.feedback`), if it has one: its frames and
    #: device time are the method's
    provider = None

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

    def __init__(self, model, task, *, seed, feedback, provider: FeedbackProvider | None = None):
        super().__init__(model, task, seed=seed, feedback=feedback)
        self.dfa = DFA(model)
        self.provider = provider

    def setup(self):
        batch = self.task.sample_batch()
        n_err, sizes = self.dfa.probe(lambda: self.task.forward(self.model, batch))
        if self.provider is None:
            device = next(self.model.parameters()).device
            self.provider = build_feedback(self.feedback_kind, n_err, sum(sizes), seed=self.seed, config=self.feedback_config).to(device)
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

    def __init__(self, model, task, *, seed, feedback):
        super().__init__(model, task, seed=seed, feedback=feedback)
        self.dfa = DFA(model)

    def compute_gradients(self, batch):
        with self.dfa.recording():  # cuts the graph at the points: only the head is reached
            out, loss = self._forward_loss(batch)
        loss.backward()
        return loss.detach()


_METHODS: dict[str, Callable[..., Method]] = {}


def register_method(name: str, cls: Callable[..., Method]) -> None:
    """Register a method class (or factory) under ``name``."""
    _METHODS[name] = cls


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS)


def build_method(name: str, model, task, *, seed: int, feedback: FeedbackConfig) -> Method:
    """Instantiate and set up method ``name``."""
    if name not in _METHODS:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(method_names())}")
    m = _METHODS[name](model, task, seed=seed, feedback=feedback)
    m.setup()
    return m


register_method("bp", Backprop)
register_method("dfa", GaussianDFA)
register_method("optical-dfa", OpticalDFA)
register_method("stored-dfa", StoredDFA)
register_method("head-only", HeadOnly)

from . import two_pass as _two_pass  # noqa: E402,F401  (registers the two-pass methods)
