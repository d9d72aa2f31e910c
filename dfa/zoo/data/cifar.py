"""CIFAR-10 and CIFAR-100, read from the "binary version" files a user already has (never downloaded).

Layout of the binary version (Krizhevsky 2009), one fixed-size record per image, no header:

* CIFAR-10 (folder ``cifar-10-batches-bin``): ``data_batch_1.bin`` ... ``data_batch_5.bin``
  (10,000 records each) and ``test_batch.bin`` (10,000); a record is 1 label byte (0..9) then
  3,072 pixel bytes: the 1,024 red values of the 32 x 32 image in row-major order, then the
  green, then the blue (3,073 bytes per record).
* CIFAR-100 (folder ``cifar-100-binary``): ``train.bin`` (50,000 records) and ``test.bin``
  (10,000); a record is 1 coarse-label byte (0..19), 1 fine-label byte (0..99), then the same
  3,072 pixel bytes (3,074 bytes per record).

Point the loader at the folder holding the ``.bin`` files (or at its parent). The reader checks
that every file is a whole number of records and that every label is in range. No pickle: the
Python version of the data set (pickled dicts) is not read on purpose. Images come out as
(n, 3, 32, 32) float32 in [0, 1] (value / 255), optionally standardised per channel with the
training set's mean and standard deviation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dfa.zoo.data.base import ClassificationData
from dfa.zoo.data.registry import register_dataset
from photonics.errors import FileFormatError
from photonics.validation import check_choice, check_int

__all__ = ["read_cifar_records", "load_cifar10", "load_cifar100", "CIFAR10_FILES", "CIFAR100_FILES", "CIFAR_PIXELS"]

#: pixel bytes per record: 3 channels x 32 x 32
CIFAR_PIXELS = 3 * 32 * 32
#: part -> file names of CIFAR-10's binary version
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
#: part -> file names of CIFAR-100's binary version
CIFAR100_FILES = {"train": ("train.bin",), "test": ("test.bin",)}
_FOLDERS = {10: "cifar-10-batches-bin", 100: "cifar-100-binary"}


def read_cifar_records(path: str | os.PathLike, n_label_bytes: int, n_labels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary-version file: (images uint8 (n, 3, 32, 32), labels uint8 (n, n_label_bytes)).

    Parameters
    ----------
    path : path
        The ``.bin`` file.
    n_label_bytes : int
        Label bytes before the pixels of each record (1 for CIFAR-10, 2 for CIFAR-100).
    n_labels : tuple of int
        Number of classes of each label byte; a label >= its count is a format error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file {str(path)!r} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    rec = n_label_bytes + CIFAR_PIXELS
    if data.size == 0 or data.size % rec:
        raise FileFormatError(
            f"{path}: {data.size} bytes is not a whole number of {rec}-byte records "
            f"({n_label_bytes} label byte(s) + {CIFAR_PIXELS} pixel bytes); is it the binary version of the right data set?"
        )
    data = data.reshape(-1, rec)
    labels = data[:, :n_label_bytes].copy()
    for k, n in enumerate(n_labels):
        if labels[:, k].max() >= n:
            raise FileFormatError(f"{path}: label byte {k} holds {int(labels[:, k].max())}, out of range [0, {n})")
    images = data[:, n_label_bytes:].reshape(-1, 3, 32, 32)
    return images, labels


def _folder(path, n_classes: int) -> Path:
    files = CIFAR10_FILES if n_classes == 10 else CIFAR100_FILES
    layout = (f"{_FOLDERS[n_classes]}/{{{', '.join(files['train'] + files['test'])}}} "
              f"({'1 label byte' if n_classes == 10 else '1 coarse + 1 fine label byte'} + 3,072 pixel bytes per record)")
    if path is None:
        raise FileNotFoundError(f"dataset cifar{n_classes} reads the local binary version: give its folder (option path=..., "
                                f"or --data-option path=DIR) holding {layout}; nothing is downloaded")
    folder = Path(path)
    if (folder / _FOLDERS[n_classes]).is_dir():
        folder = folder / _FOLDERS[n_classes]
    missing = [f for f in files["train"] + files["test"] if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"cifar{n_classes}: {', '.join(missing)} not found in {str(folder)!r}; expected {layout}")
    return folder


def _scale(xtr: np.ndarray, xte: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    xtr = xtr.astype(np.float32) / np.float32(255.0)
    xte = xte.astype(np.float32) / np.float32(255.0)
    if standardize:
        mean = xtr.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
        sd = xtr.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
        xtr, xte = (xtr - mean) / sd, (xte - mean) / sd
    return xtr, xte


def _subset(x, y, n, name):
    if n is None:
        return x, y
    n = check_int(n, name, low=1)
    return x[:n], y[:n]


@register_dataset(
    "cifar10",
    description="CIFAR-10 from the local binary version (option path=FOLDER of cifar-10-batches-bin)",
    defaults={"model": "mlp", "epochs": 10, "batch_size": 128, "lr": 1e-3, "model_options": {"hidden": [1000]}},
)
def load_cifar10(path: str | None = None, n_train: int | None = None, n_test: int | None = None,
                 standardize: bool = False) -> ClassificationData:
    """CIFAR-10 images (n, 3, 32, 32): 50,000 train / 10,000 test, pixel / 255.

    Parameters
    ----------
    path : str
        Folder of the binary version (``cifar-10-batches-bin`` or its parent).
    n_train, n_test : int, optional
        Keep only the first samples of each part (scaled-down runs).
    standardize : bool
        Subtract the training set's per-channel mean and divide by its standard deviation.
    """
    folder = _folder(path, 10)
    parts = {}
    for part, names in CIFAR10_FILES.items():
        ims, labs = zip(*(read_cifar_records(folder / f, 1, (10,)) for f in names))
        parts[part] = (np.concatenate(ims), np.concatenate(labs)[:, 0].astype(np.int64))
    xtr, ytr = _subset(*parts["train"], n_train, "n_train")
    xte, yte = _subset(*parts["test"], n_test, "n_test")
    xtr, xte = _scale(xtr, xte, bool(standardize))
    return ClassificationData(name="cifar10", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, n_classes=10,
                              description=f"CIFAR-10 binary version from {folder} ({ytr.size} train / {yte.size} test, "
                              f"3x32x32, /255{', standardised per channel' if standardize else ''})")


@register_dataset(
    "cifar100",
    description="CIFAR-100 from the local binary version (option path=FOLDER of cifar-100-binary)",
    defaults={"model": "mlp", "epochs": 10, "batch_size": 128, "lr": 1e-3, "model_options": {"hidden": [1000]}},
)
def load_cifar100(path: str | None = None, label: str = "fine", n_train: int | None = None, n_test: int | None = None,
                  standardize: bool = False) -> ClassificationData:
    """CIFAR-100 images (n, 3, 32, 32): 50,000 train / 10,000 test, ``label`` "fine" (100) or "coarse" (20)."""
    label = check_choice(label, "label", ("fine", "coarse"))
    folder = _folder(path, 100)
    col = 1 if label == "fine" else 0
    parts = {}
    for part, names in CIFAR100_FILES.items():
        ims, labs = read_cifar_records(folder / names[0], 2, (20, 100))
        parts[part] = (ims, labs[:, col].astype(np.int64))
    xtr, ytr = _subset(*parts["train"], n_train, "n_train")
    xte, yte = _subset(*parts["test"], n_test, "n_test")
    xtr, xte = _scale(xtr, xte, bool(standardize))
    n_classes = 100 if label == "fine" else 20
    return ClassificationData(name="cifar100", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, n_classes=n_classes,
                              description=f"CIFAR-100 binary version from {folder}, {label} labels ({ytr.size} train / "
                              f"{yte.size} test, 3x32x32, /255{', standardised per channel' if standardize else ''})")
