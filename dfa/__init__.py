"""dfa: Direct Feedback Alignment training with feedback from the simulated optics.

Train a model with backpropagation, digital DFA and optical DFA side by side::

    from dfa import make_config, run_training
    results = run_training(make_config("digits"), "runs/digits")   # {method: MethodResult}

or from the shell: ``dfa train`` (see ``dfa train --help``). The pieces:

* :mod:`dfa.feedback`: feedback providers (Gaussian, optical through :class:`photonics.OPU`,
  stored) behind one ``project(error)`` interface;
* :mod:`dfa.dfa`: the DFA mechanism for any torch model with feedback points;
* :mod:`dfa.models`, :mod:`dfa.data`, :mod:`dfa.tasks`, :mod:`dfa.methods`: registries of
  models, data sets, tasks and learning rules;
* :mod:`dfa.train`: the trainer, checkpoints, alignment diagnostics; :mod:`dfa.report`: the run
  folder and the table.

Imports torch and photonics (photonics never imports dfa).
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

from .config import TrainConfig, make_config  # noqa: E402
from .dfa import DFA  # noqa: E402
from .errors import TrainingDivergedError  # noqa: E402
from .feedback import (  # noqa: E402
    FeedbackConfig,
    FeedbackProvider,
    GaussianFeedback,
    OpticalFeedback,
    StoredFeedback,
)
from .quantize import ErrorQuantizer  # noqa: E402
from .train import MethodResult, run_training, train_method  # noqa: E402

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
    "train_method",
    "run_training",
    "TrainingDivergedError",
]
