"""Encoders and decoders (``lightonml.encoding``): see :mod:`.base`."""

from __future__ import annotations

from .base import (
    BaseTransformer,
    BinaryThresholdEncoder,
    ConcatenatedBitPlanEncoder,
    ConcatenatingBitPlanDecoder,
    MultiThresholdEncoder,
    NoDecoding,
    NoEncoding,
    SeparatedBitPlanDecoder,
    SeparatedBitPlanEncoder,
    SequentialBaseTwoEncoder,
)

__all__ = [
    "BaseTransformer",
    "NoEncoding",
    "NoDecoding",
    "BinaryThresholdEncoder",
    "MultiThresholdEncoder",
    "SequentialBaseTwoEncoder",
    "SeparatedBitPlanEncoder",
    "SeparatedBitPlanDecoder",
    "ConcatenatedBitPlanEncoder",
    "ConcatenatingBitPlanDecoder",
]
