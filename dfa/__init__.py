"""dfa: Direct Feedback Alignment training with feedback from the simulated optics.

Train a model with backpropagation, digital DFA and optical DFA side by side::

    from dfa import make_config, run_training
    results = run_training(make_config("digits"), "runs/digits")   # {method: MethodResult}

or from the shell: ``dfa train`` (see ``dfa train --help``). The package is layered; a layer
imports only the layers above it in this list (checked by the test suite):

* :mod:`dfa.mechanism`: how DFA and two-pass updates are made: :class:`DFA`, the feedback
  providers (Gaussian, optical through :class:`photonics.OPU`, stored) behind one
  ``project(error)`` interface, the error quantizers, :class:`~dfa.mechanism.two_pass.TwoPass`;
* :mod:`dfa.zoo`: models and data sets, registered by name;
* :mod:`dfa.trainer`: the training config, tasks, learning rules (methods), the loop,
  checkpoints and the run folder;
* :mod:`dfa.studies`: noise-impact sweeps, privacy accounting and their plots;
* :mod:`dfa.commands`, :mod:`dfa.cli`: the ``dfa`` command.

Imports torch and photonics (photonics never imports dfa).
"""

from __future__ import annotations

import logging

from .errors import TrainingDivergedError
from .mechanism.dfa import DFA
from .mechanism.feedback import FeedbackConfig, FeedbackProvider, GaussianFeedback, OpticalFeedback, StoredFeedback
from .mechanism.quantize import ErrorQuantizer
from .trainer.config import TrainConfig, make_config
from .trainer.result import MethodResult
from .trainer.train import Trainer, run_training, train_method
from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "DFA",
    "FeedbackConfig",
    "FeedbackProvider",
    "GaussianFeedback",
    "OpticalFeedback",
    "StoredFeedback",
    "ErrorQuantizer",
    "TrainConfig",
    "make_config",
    "MethodResult",
    "Trainer",
    "train_method",
    "run_training",
    "TrainingDivergedError",
]
