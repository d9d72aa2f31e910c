"""The real MNIST-1D (Greydanus 2020), built by the ``mnist1d`` package's own generator.

``mnist1d.data.make_dataset(get_dataset_args())`` builds the data set of the paper from its 10
templates (padding, dilation, scaling, translation, correlated and i.i.d. noise, shear,
subsampling to 40 points), with the paper's seed 42, 5,000 samples and an 80/20 split: 4,000
training and 1,000 test sequences, standardised over the whole set. It is computed here, never
downloaded (the package's ``get_dataset`` would fetch a pickle from the internet: not used).

The generator seeds numpy's and Python's *global* random state; this loader saves both states
before the call and restores them after, so loading the data set leaves the caller's random
streams untouched (this toolkit never uses global random state otherwise). The ``mnist1d``
package is imported lazily (``pip install mnist1d``; the version used is recorded in the
description). Our own look-alike generator stays available as the ``mnist1d`` data set.
"""

from __future__ import annotations

import random

import numpy as np

from dfa.zoo.data.base import ClassificationData
from dfa.zoo.data.registry import register_dataset
from photonics.validation import check_int, check_real

__all__ = ["load_mnist1d_real", "mnist1d_reference"]


def _package():
    try:
        import mnist1d.data as m1d
    except ImportError:
        raise FileNotFoundError(
            "dataset 'mnist1d-real' needs the mnist1d package (its make_dataset generator): pip install mnist1d"
        ) from None
    return m1d


def mnist1d_reference(seed: int = 42, num_samples: int = 5000, train_split: float = 0.8, shuffle_seq: bool = False) -> dict:
    """``mnist1d.data.make_dataset`` with the paper's arguments (``seed``, ``num_samples``... changed), global RNG restored.

    Returns the package's dict: ``x`` (n_train, 40), ``y``, ``x_test``, ``y_test``, ``t``, ``templates``.
    """
    m1d = _package()
    args = m1d.get_dataset_args()
    args.seed = int(seed)
    args.num_samples = int(num_samples)
    args.train_split = float(train_split)
    args.shuffle_seq = bool(shuffle_seq)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        return m1d.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


@register_dataset(
    "mnist1d-real",
    description="the real MNIST-1D (Greydanus 2020) from the mnist1d package's generator: 4,000 train / 1,000 test",
    defaults={
        "model": "mlp",
        "epochs": 150,
        "batch_size": 100,
        "lr": 1e-2,
        "model_options": {"hidden": [100, 100], "activation": "relu", "residual": True},
        "feedback": {"encoding": "bitplanes", "n_bits": 3},
    },
)
def load_mnist1d_real(seed: int = 42, num_samples: int = 5000, train_split: float = 0.8, shuffle_seq: bool = False,
                      n_train: int | None = None, n_test: int | None = None) -> ClassificationData:
    """MNIST-1D as in the paper: (n, 40) float32 sequences, 10 classes.

    Parameters
    ----------
    seed : int
        The generator's seed (42 in the paper; the split and the data both follow from it).
    num_samples, train_split : int, float
        Samples generated (classes balanced) and the fraction that trains.
    shuffle_seq : bool
        Permute the 40 positions (the paper's "shuffled" variant).
    n_train, n_test : int, optional
        Keep only the first samples of each part (scaled-down runs).
    """
    seed = check_int(seed, "seed", low=0, high=2**32 - 1)
    num_samples = check_int(num_samples, "num_samples", low=20)
    train_split = check_real(train_split, "train_split", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    d = mnist1d_reference(seed, num_samples, train_split, shuffle_seq)
    xtr, ytr = np.asarray(d["x"], dtype=np.float32), np.asarray(d["y"], dtype=np.int64)
    xte, yte = np.asarray(d["x_test"], dtype=np.float32), np.asarray(d["y_test"], dtype=np.int64)
    if n_train is not None:
        n_train = check_int(n_train, "n_train", low=1)
        xtr, ytr = xtr[:n_train], ytr[:n_train]
    if n_test is not None:
        n_test = check_int(n_test, "n_test", low=1)
        xte, yte = xte[:n_test], yte[:n_test]
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("mnist1d")
    except PackageNotFoundError:  # pragma: no cover - imported from a source tree
        ver = "unknown"
    return ClassificationData(
        name="mnist1d-real", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, n_classes=10,
        description=f"MNIST-1D from mnist1d {ver} make_dataset (seed {seed}, {num_samples} samples, split {train_split:g}"
        f"{', shuffled positions' if shuffle_seq else ''}): {ytr.size} train / {yte.size} test, length {xtr.shape[1]}",
    )
