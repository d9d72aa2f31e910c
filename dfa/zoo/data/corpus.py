"""A local text corpus for character- or word-level language modelling (never downloaded).

Two layouts are read (UTF-8 text):

* **one file** (``path=FILE``): the first ``1 - test_fraction`` of the text trains, the rest
  (a contiguous stretch, so no test window overlaps a training one) tests;
* **WikiText-style folder** (``path=FOLDER``): ``wiki.train.tokens``, ``wiki.valid.tokens`` and
  ``wiki.test.tokens`` (the WikiText-2 / WikiText-103 names), or ``train.txt``, ``valid.txt`` and
  ``test.txt``; the model trains on the training file and is scored on the test file (or on the
  validation file with ``evaluate_on="valid"``).

``level="char"``: one token per character; characters seen fewer than ``min_count`` times in the
training text map to one rare-character token. ``level="word"``: tokens are the
whitespace-separated words of each line plus an end-of-line token ``<eos>`` per non-empty line
(the convention of the WikiText language-model benchmarks); words seen fewer than ``min_count``
times in the training text, and test words never seen in training, map to ``<unk>`` (WikiText
already holds ``<unk>`` for its own rare words, which is the same token). The vocabulary comes
from the training text only. ``max_chars`` / ``max_tokens`` cut each part short for quick runs
(a scaled-down variant: say so when reporting).

Word-level perplexities depend on the vocabulary: they are comparable with a paper's only for
the same corpus, split and vocabulary (WikiText-103 as distributed: 267,735 words, min_count 1).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from dfa.zoo.data.base import TextData
from dfa.zoo.data.registry import register_dataset
from photonics.errors import FileFormatError
from photonics.validation import check_choice, check_int, check_real

__all__ = ["load_text", "read_corpus", "tokenize", "WIKITEXT_FILES", "PLAIN_FILES", "UNK_WORD", "EOS"]

#: part -> file name of the WikiText layout
WIKITEXT_FILES = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens", "test": "wiki.test.tokens"}
#: part -> file name of the plain layout
PLAIN_FILES = {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"}
UNK_WORD = "<unk>"
EOS = "<eos>"
#: printed form of the rare-character token
UNK_CHAR = "\u2047"


def read_corpus(path: str | os.PathLike) -> tuple[dict[str, str], str]:
    """The parts of the corpus at ``path``: ({"train": text, ...}, layout name).

    A file gives {"all": text}; a folder gives "train", "valid" (if present) and "test".
    """
    p = Path(path)
    if p.is_file():
        return {"all": _read(p)}, "single file"
    if p.is_dir():
        for layout, files in (("WikiText", WIKITEXT_FILES), ("train/valid/test.txt", PLAIN_FILES)):
            if (p / files["train"]).is_file() and (p / files["test"]).is_file():
                parts = {k: _read(p / f) for k, f in files.items() if (p / f).is_file()}
                return parts, layout
        raise FileNotFoundError(
            f"text corpus folder {str(p)!r} holds neither {WIKITEXT_FILES['train']} + {WIKITEXT_FILES['test']} (WikiText layout) "
            f"nor {PLAIN_FILES['train']} + {PLAIN_FILES['test']}; give one of those folders or a single UTF-8 text file"
        )
    raise FileNotFoundError(f"text corpus {str(p)!r} does not exist (give a UTF-8 text file or a WikiText-style folder)")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not UTF-8 text ({exc})") from None


def tokenize(text: str, level: str) -> list[str]:
    """Characters, or whitespace-separated words with ``<eos>`` after each non-empty line."""
    if level == "char":
        return list(text)
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words:
            out.extend(words)
            out.append(EOS)
    return out


@register_dataset(
    "text",
    description="local text corpus (one file or WikiText-style train/valid/test), character- or word-level (option path=...)",
    defaults={
        "model": "transformer",
        "epochs": 4,
        "batch_size": 32,
        "lr": 3e-3,
        "steps_per_epoch": 100,
        "model_options": {"d_model": 64, "n_layers": 2, "n_heads": 4, "context": 64},
        "feedback": {"encoding": "bitplanes", "n_bits": 1, "rounding": "stochastic", "opu_power_scale": 10.0,
                     "opu_overrides": {"camera.bit_depth": 12, "camera.gain_e_per_dn": 2.5, "reference.fraction": 0.125}},
    },
)
def load_text(path: str | None = None, level: str = "char", min_count: int = 1, test_fraction: float = 0.1,
              evaluate_on: str = "test", max_chars: int | None = None) -> TextData:
    """Token ids of a local corpus (see the module docstring).

    Parameters
    ----------
    path : str
        A UTF-8 text file, or a folder in the WikiText layout.
    level : str
        ``"char"`` or ``"word"``.
    min_count : int
        Tokens seen fewer times in the training text become the rare token.
    test_fraction : float
        Single file only: the fraction of the text (its end) held out, in (0, 0.5].
    evaluate_on : str
        Folder only: ``"test"`` or ``"valid"``.
    max_chars : int, optional
        Keep only the first ``max_chars`` characters of each part (scaled-down runs, tests).
    """
    level = check_choice(level, "level", ("char", "word"))
    min_count = check_int(min_count, "min_count", low=1)
    evaluate_on = check_choice(evaluate_on, "evaluate_on", ("test", "valid"))
    if path is None:
        raise FileNotFoundError(
            "dataset 'text' reads a local corpus: give path=FILE (UTF-8 text) or path=FOLDER holding "
            f"{', '.join(WIKITEXT_FILES.values())} (or {', '.join(PLAIN_FILES.values())}); nothing is downloaded"
        )
    parts, layout = read_corpus(path)
    if max_chars is not None:
        max_chars = check_int(max_chars, "max_chars", low=100)
        parts = {k: v[:max_chars] for k, v in parts.items()}
    if "all" in parts:
        test_fraction = check_real(test_fraction, "test_fraction", low=0.0, high=0.5, low_inclusive=False)
        text = parts["all"]
        cut = len(text) - int(round(test_fraction * len(text)))
        train_text, test_text, held = text[:cut], text[cut:], f"last {100 * test_fraction:g} % held out"
    else:
        if evaluate_on not in parts:
            raise FileNotFoundError(f"{path}: no {evaluate_on} file in the {layout} layout")
        train_text, test_text, held = parts["train"], parts[evaluate_on], f"scored on the {evaluate_on} file"
    train_tok = tokenize(train_text, level)
    test_tok = tokenize(test_text, level)
    if len(train_tok) < 2 or len(test_tok) < 2:
        raise FileFormatError(f"{path}: the training and the test part need at least 2 tokens each "
                              f"(got {len(train_tok)} and {len(test_tok)})")
    counts = Counter(train_tok)
    unk = UNK_CHAR if level == "char" else UNK_WORD
    kept = sorted(t for t, c in counts.items() if c >= min_count and t != unk)
    vocab = kept + [unk]
    unk_id = len(vocab) - 1
    index = {t: i for i, t in enumerate(kept)}
    train_ids = np.fromiter((index.get(t, unk_id) for t in train_tok), dtype=np.int64, count=len(train_tok))
    test_ids = np.fromiter((index.get(t, unk_id) for t in test_tok), dtype=np.int64, count=len(test_tok))
    oov = float(np.mean(test_ids == unk_id))
    return TextData(
        name="text",
        train_ids=train_ids,
        test_ids=test_ids,
        vocab=tuple(vocab),
        unk_id=unk_id,
        separator="" if level == "char" else " ",
        description=f"{level}-level corpus {path} ({layout}): {train_ids.size} train / {test_ids.size} test tokens, vocabulary "
        f"{len(vocab)} (tokens seen < {min_count} times -> {unk}; {100 * oov:.2f} % of test tokens are {unk}); {held}"
        + (f"; first {max_chars} characters of each part (scaled down)" if max_chars is not None else ""),
    )
