"""IDX files (the MNIST / Fashion-MNIST format): reader, writer and the two data sets.

An IDX file is: two zero bytes, a type code, the number of dimensions d, then d big-endian
uint32 sizes, then the values in C order, big-endian. Type codes: 0x08 uint8, 0x09 int8,
0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. Files may be gzip-compressed (``.gz``).

MNIST and Fashion-MNIST share the file names ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
(each optionally ``.gz``); point :func:`load_mnist` at the folder that holds them. Nothing is
downloaded: the loader reads the user's local copy and checks it thoroughly (magic, type,
declared vs actual size, images/labels count, label range, image shapes).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from dfa.zoo.data.base import ClassificationData
from dfa.zoo.data.registry import register_dataset
from photonics.errors import FileFormatError, ShapeError, ValidationError
from photonics.validation import check_int

__all__ = ["read_idx", "write_idx", "load_mnist", "load_fashion_mnist", "IDX_TYPES", "MNIST_FILES"]

#: IDX type code -> big-endian numpy dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_TYPES.items()}

#: Part -> (images file, labels file), without the optional ``.gz``.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(path: Path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a native-endian numpy array.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    FileFormatError
        Bad magic, unknown type code, truncated or over-long data, or a broken gzip stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    try:
        with _open(path) as fh:
            data = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FileFormatError(f"{path}: unreadable (broken gzip stream?): {exc}") from None
    if len(data) < 4:
        raise FileFormatError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise FileFormatError(f"{path}: not an IDX file (magic bytes {data[:4].hex()} should start with 0000)")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise FileFormatError(f"{path}: unknown IDX type code 0x{code:02x}; known: {', '.join(f'0x{c:02x}' for c in IDX_TYPES)}")
    if ndim == 0:
        raise FileFormatError(f"{path}: IDX header declares 0 dimensions")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise FileFormatError(f"{path}: truncated header ({len(data)} bytes, need {head} for {ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(data) - head
    if have != need:
        raise FileFormatError(
            f"{path}: header declares shape {shape} of {dtype.name} ({need} data bytes) but the file holds {have} data bytes"
            + (" (truncated)" if have < need else " (trailing bytes)")
        )
    arr = np.frombuffer(data, dtype=dtype, offset=head).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically (temporary file renamed into place).

    ``compress`` defaults to ``path`` ending in ``.gz``. Supported dtypes: uint8, int8,
    int16, int32, float32, float64.
    """
    path = Path(path)
    arr = np.asarray(array)
    if arr.ndim < 1 or arr.ndim > 255:
        raise ShapeError(f"an IDX array needs 1 to 255 dimensions (got shape {arr.shape})")
    arr = np.ascontiguousarray(arr)
    key = arr.dtype.newbyteorder("=").str
    if key not in _CODES:
        raise ValidationError(f"array dtype {arr.dtype} cannot be written as IDX; use one of uint8, int8, int16, int32, float32, float64")
    header = bytes([0, 0, _CODES[key], arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + arr.astype(IDX_TYPES[_CODES[key]]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    from photonics.io import write_bytes_atomic

    return write_bytes_atomic(path, gzip.compress(payload, compresslevel=6, mtime=0) if compress else payload)


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{stem}[.gz] not found in {str(folder)!r} (expected the MNIST file names)")


def _part(folder: Path, part: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    img_path = _find(folder, MNIST_FILES[part][0])
    lab_path = _find(folder, MNIST_FILES[part][1])
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise FileFormatError(f"{img_path}: images must be a 3-D uint8 IDX array (n, rows, cols) (got {images.dtype} {images.shape})")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise FileFormatError(f"{lab_path}: labels must be a 1-D uint8 IDX array (got {labels.dtype} {labels.shape})")
    if images.shape[0] != labels.shape[0]:
        raise FileFormatError(f"{folder}: {part} has {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and labels.max() >= n_classes:
        raise FileFormatError(f"{lab_path}: label {int(labels.max())} out of range [0, {n_classes})")
    return images, labels


def _load(name: str, path, n_train, n_test) -> ClassificationData:
    if path is None:
        raise FileNotFoundError(
            f"dataset {name!r} reads local IDX files: give their folder (option path=..., or --data-option path=DIR); "
            "nothing is downloaded"
        )
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name} folder {str(folder)!r} does not exist")
    xtr, ytr = _part(folder, "train", 10)
    xte, yte = _part(folder, "test", 10)
    if xtr.shape[1:] != xte.shape[1:]:
        raise FileFormatError(f"{folder}: train images are {xtr.shape[1:]} but test images are {xte.shape[1:]}")
    if n_train is not None:
        xtr, ytr = xtr[: check_int(n_train, "n_train", low=1)], ytr[:n_train]
    if n_test is not None:
        xte, yte = xte[: check_int(n_test, "n_test", low=1)], yte[:n_test]
    scale = np.float32(1.0 / 255.0)
    return ClassificationData(
        name=name,
        x_train=xtr[:, None].astype(np.float32) * scale,
        y_train=ytr.astype(np.int64),
        x_test=xte[:, None].astype(np.float32) * scale,
        y_test=yte.astype(np.int64),
        n_classes=10,
        description=f"{name} from {folder} ({xtr.shape[0]} train / {xte.shape[0]} test, {xtr.shape[1]}x{xtr.shape[2]}, /255)",
    )


@register_dataset(
    "mnist",
    description="MNIST from local IDX files (option path=FOLDER)",
    defaults={"model": "mlp", "epochs": 5, "batch_size": 128, "lr": 1e-3, "model_options": {"hidden": [512, 512]}},
)
def load_mnist(path: str | None = None, n_train: int | None = None, n_test: int | None = None) -> ClassificationData:
    """MNIST images (n, 1, 28, 28) in [0, 1] from the IDX files in ``path``.

    ``n_train`` / ``n_test`` keep only the first samples of each part.
    """
    return _load("mnist", path, n_train, n_test)


@register_dataset(
    "fashion-mnist",
    description="Fashion-MNIST from local IDX files (option path=FOLDER)",
    defaults={"model": "mlp", "epochs": 5, "batch_size": 128, "lr": 1e-3, "model_options": {"hidden": [512, 512]}},
)
def load_fashion_mnist(path: str | None = None, n_train: int | None = None, n_test: int | None = None) -> ClassificationData:
    """Fashion-MNIST images (n, 1, 28, 28) in [0, 1] from the IDX files in ``path``."""
    return _load("fashion-mnist", path, n_train, n_test)
