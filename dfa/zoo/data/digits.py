"""scikit-learn's handwritten digits (1,797 images of 8 x 8 pixels, 10 classes), offline.

The images ship inside scikit-learn (UCI optdigits test set); pixel values 0..16 are scaled
to [0, 1]. The split is stratified: ``test_fraction`` of each class goes to the test set,
chosen by the split seed, so the class balance is the same in both parts.
"""

from __future__ import annotations

import numpy as np

from dfa.zoo.data.base import ClassificationData, stratified_split
from dfa.zoo.data.registry import register_dataset
from photonics.rng import check_seed, generator
from photonics.validation import check_real

__all__ = ["load_digits"]


@register_dataset(
    "digits",
    description="scikit-learn digits: 1,797 images 8x8, 10 classes (ships with scikit-learn)",
    defaults={"model": "mlp", "epochs": 30, "batch_size": 32, "lr": 1e-3, "model_options": {"hidden": [256, 256]}},
)
def load_digits(seed: int = 0, test_fraction: float = 0.2) -> ClassificationData:
    """scikit-learn's 8x8 digits as (n, 1, 8, 8) float32 in [0, 1], stratified split.

    Parameters
    ----------
    seed : int
        Split seed (independent of the training seed, so every run sees the same split).
    test_fraction : float
        Fraction of each class held out for the test set, in (0, 1).
    """
    from sklearn.datasets import load_digits as sk_load

    seed = check_seed(seed)
    test_fraction = check_real(test_fraction, "test_fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    d = sk_load()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, test_fraction, generator(seed, "dfa", "data", "digits", "split"))
    return ClassificationData(
        name="digits",
        x_train=x[tr],
        y_train=y[tr],
        x_test=x[te],
        y_test=y[te],
        n_classes=10,
        description=f"scikit-learn digits 8x8 in [0, 1]; {tr.size} train / {te.size} test, stratified (split seed {seed})",
    )
