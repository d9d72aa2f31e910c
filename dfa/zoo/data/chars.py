"""A character-level corpus built from text that ships with Python itself.

``pydoc_data.topics`` (part of the standard library) holds the help text that ``help()``
prints for Python's keywords and topics: about 0.47 MB of English prose and code. The corpus
is the topics joined in sorted key order; characters seen fewer than ``min_count`` times
map to one rare-character token. The first ``1 - test_fraction`` of the text is the training
stretch, the rest the test stretch (contiguous, so no test window overlaps a training one).
"""

from __future__ import annotations

import numpy as np

from dfa.zoo.data.base import TextData
from dfa.zoo.data.registry import register_dataset
from photonics.validation import check_int, check_real

__all__ = ["load_chars", "python_help_text", "UNK"]

#: Printed form of the rare-character token.
UNK = "\u2047"


def python_help_text() -> str:
    """The text of ``pydoc_data.topics`` (standard library), topics joined in key order."""
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


@register_dataset(
    "chars",
    description="character corpus from Python's own help text (pydoc_data.topics, ~0.47 MB)",
    defaults={
        "model": "transformer",
        "epochs": 4,
        "batch_size": 32,
        "lr": 3e-3,
        "steps_per_epoch": 100,
        "model_options": {"d_model": 64, "n_layers": 2, "n_heads": 4, "context": 64},
        # a next-character error spreads its information over ~100 small probabilities: ternary
        # (or 3-bit nearest-rounded) errors lose it even digitally; one stochastically rounded bit
        # plane per sign keeps it unbiased, and the optics need more light per mirror than the
        # plain lab-cmos preset gives to measure these sparse frames (docs/results/large-models.md)
        "feedback": {
            "encoding": "bitplanes",
            "n_bits": 1,
            "rounding": "stochastic",
            "opu_power_scale": 10.0,
            "opu_overrides": {"camera.bit_depth": 12, "camera.gain_e_per_dn": 2.5, "reference.fraction": 0.125},
        },
    },
)
def load_chars(min_count: int = 16, test_fraction: float = 0.1, max_chars: int | None = None) -> TextData:
    """Token ids of Python's help text, vocabulary of the characters seen >= ``min_count`` times.

    Parameters
    ----------
    min_count : int
        Characters rarer than this in the whole text become the rare-character token.
    test_fraction : float
        Fraction of the text (its end) held out for testing, in (0, 0.5].
    max_chars : int, optional
        Use only the first ``max_chars`` characters (quick experiments and tests).
    """
    min_count = check_int(min_count, "min_count", low=1)
    test_fraction = check_real(test_fraction, "test_fraction", low=0.0, high=0.5, low_inclusive=False)
    text = python_help_text()
    if max_chars is not None:
        text = text[: check_int(max_chars, "max_chars", low=100)]
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
    uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    keep = counts >= min_count
    vocab = [chr(int(c)) for c in uniq[keep]] + [UNK]
    unk_id = len(vocab) - 1
    remap = np.full(uniq.size, unk_id, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    ids = remap[inverse]
    n_test = int(round(test_fraction * ids.size))
    return TextData(
        name="chars",
        train_ids=ids[: ids.size - n_test],
        test_ids=ids[ids.size - n_test :],
        vocab=tuple(vocab),
        unk_id=unk_id,
        description=f"pydoc_data.topics help text, {ids.size} characters, vocabulary {len(vocab)} "
        f"(characters seen < {min_count} times -> {UNK}); last {100 * test_fraction:g} % held out",
    )
