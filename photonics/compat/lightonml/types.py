"""Enumerations of the lightonml API: output rescaling, input ROI strategy, feature format.

Same names and members as ``lightonml.types`` / ``lightonml.internal.types``, so code that
passes ``OutputRescaling.norm`` or ``rescale="norm"`` keeps working. Only
:class:`OutputRescaling` changes a result here; the ROI and format enums are accepted for
compatibility and recorded (the simulated DMD maps feature j to input mode j, see
:mod:`photonics.compat.lightonml`).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["OutputRescaling", "InputRoiStrategy", "OutputRoiStrategy", "FeaturesFormat"]


class OutputRescaling(Enum):
    """How :meth:`OPU.linear_transform` scales its output (``transform`` is never rescaled).

    With s the measured standard deviation of the device's linear-matrix entries [sqrt(DN)]:

    * ``variance``: y / (s sqrt(n_features)); the effective matrix has entries of variance
      1 / n_features, so a standard Gaussian input gives outputs of unit variance;
    * ``norm``: y / (s sqrt(n_components)); entries of variance 1 / n_components, so
      E|y|^2 = |x|^2 (norm preserved on average, as in the Johnson-Lindenstrauss lemma);
    * ``none``: the device's linear output as measured, in sqrt(DN).
    """

    variance = 1
    norm = 2
    none = 3


class InputRoiStrategy(Enum):
    """How features are laid out on the DMD (accepted, not modelled: one mode per feature)."""

    full = 1
    small = 2
    auto = 3


class OutputRoiStrategy(Enum):
    """How the camera region of interest is chosen (accepted, not modelled)."""

    mid_width = 1
    mid_square = 2


class FeaturesFormat(Enum):
    """Formatting of features on the input device (reported in the transform context)."""

    lined = 1
    macro_2d = 2
    auto = 3
    none = 4
