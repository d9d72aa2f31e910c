"""A procedurally generated MNIST-1D-style data set (our own generator).

In the spirit of Greydanus' MNIST-1D (2020): ten fixed 1-D templates, one per class, are
placed on a grid of ``length`` points with a random shift, a random width (time scale), a
random amplitude, a random linear trend (shear), correlated (smoothed) noise and white noise.
Small enough to train in seconds, hard enough that a linear model is clearly beaten by an
MLP, and a CNN-friendly translation structure. Sample ``k`` of the set is a pure function of
(seed, k): the generator draws everything from :func:`photonics.rng.generator`.

Generation of one sample of class c, on the grid u_i = i / (length - 1)::

    s     = (u - centre) / width + 1/2                    position inside the template window
    x(u)  = amplitude * f_c(s) + shear * (u - 1/2) + (g * n)(u) * corr_noise + N(0, noise^2)

with f_c the piecewise-linear template (zero outside [0, 1]), centre ~ U(0.3, 0.7),
width ~ U(0.35, 0.6), amplitude ~ U(0.7, 1.3), shear ~ N(0, shear^2), and g * n white noise
smoothed by a Gaussian of ``corr_length`` grid points, rescaled to unit variance.
"""

from __future__ import annotations

import numpy as np

from dfa.zoo.data.base import ClassificationData
from dfa.zoo.data.registry import register_dataset
from photonics.rng import check_seed, generator
from photonics.validation import check_int, check_real

__all__ = ["load_mnist1d", "TEMPLATES", "make_mnist1d"]


def _templates() -> np.ndarray:
    """Ten templates of 12 points, one per class, peak |value| 1."""
    t = np.linspace(0.0, 1.0, 12)
    bump = np.exp(-(((t - 0.5) / 0.18) ** 2))
    rows = [
        bump,                                                     # 0 bump
        -bump,                                                    # 1 dip
        np.where(t < 0.5, -0.5, 1.0),                             # 2 step up
        np.where(t < 0.5, 1.0, -0.5),                             # 3 step down
        2 * t - 1,                                                # 4 ramp up
        1 - 2 * t,                                                # 5 ramp down
        np.exp(-(((t - 0.25) / 0.1) ** 2)) + np.exp(-(((t - 0.75) / 0.1) ** 2)),  # 6 two bumps
        np.sin(2 * np.pi * t),                                    # 7 one sine period
        np.sign(np.sin(4 * np.pi * t + 1e-9)),                    # 8 square wave, two periods
        np.exp(-(((t - 0.3) / 0.12) ** 2)) - np.exp(-(((t - 0.7) / 0.12) ** 2)),   # 9 bump then dip
    ]
    out = np.stack(rows)
    return (out / np.abs(out).max(axis=1, keepdims=True)).astype(np.float64)


#: The class templates (10, 12): f_c sampled at 12 evenly spaced points of [0, 1].
TEMPLATES = _templates()


def make_mnist1d(
    n: int,
    seed: int,
    *,
    length: int = 40,
    noise: float = 0.25,
    corr_noise: float = 0.25,
    corr_length: float = 3.0,
    shear: float = 0.75,
    stream: str = "train",
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` samples (x (n, length) float32, y (n,) int64), classes balanced and shuffled.

    Parameters are those of the module docstring; ``stream`` names an independent stream of
    the seed (train and test sets use different streams, so they never share a sample).
    """
    n = check_int(n, "n", low=1)
    length = check_int(length, "length", low=12, high=4096)
    for name, v in (("noise", noise), ("corr_noise", corr_noise), ("shear", shear)):
        check_real(v, name, low=0.0)
    corr_length = check_real(corr_length, "corr_length", low=0.0)
    rng = generator(check_seed(seed), "dfa", "data", "mnist1d", stream)
    y = rng.permutation(np.arange(n) % 10).astype(np.int64)
    u = np.linspace(0.0, 1.0, length)
    centre = rng.uniform(0.3, 0.7, n)
    width = rng.uniform(0.35, 0.6, n)
    amp = rng.uniform(0.7, 1.3, n)
    slope = rng.normal(0.0, shear, n) if shear > 0 else np.zeros(n)
    s = (u[None, :] - centre[:, None]) / width[:, None] + 0.5
    grid = np.linspace(0.0, 1.0, TEMPLATES.shape[1])
    x = np.empty((n, length))
    for c in range(10):
        idx = np.flatnonzero(y == c)
        x[idx] = np.interp(s[idx], grid, TEMPLATES[c], left=0.0, right=0.0)
    x = amp[:, None] * x + slope[:, None] * (u[None, :] - 0.5)
    white = rng.standard_normal((n, length))
    if corr_noise > 0:
        raw = rng.standard_normal((n, length))
        if corr_length > 0:
            k = np.arange(-int(np.ceil(3 * corr_length)), int(np.ceil(3 * corr_length)) + 1)
            g = np.exp(-0.5 * (k / corr_length) ** 2)
            g /= np.sqrt((g**2).sum())  # unit variance after filtering white noise
            raw = np.stack([np.convolve(r, g, mode="same") for r in raw])
        x += corr_noise * raw
    x += noise * white
    return x.astype(np.float32), y


@register_dataset(
    "mnist1d",
    description="procedural MNIST-1D-style sequences: 10 templates + shift/scale/shear/noise (own generator)",
    defaults={
        "model": "mlp",
        "epochs": 30,
        "batch_size": 64,
        "lr": 1e-3,
        "model_options": {"hidden": [256, 256]},
        # ternary errors cost ~6 points of accuracy here even digitally; 3 bit planes do not (docs/results/training.md)
        "feedback": {"encoding": "bitplanes", "n_bits": 3},
    },
)
def load_mnist1d(
    seed: int = 0,
    n_train: int = 4000,
    n_test: int = 1000,
    length: int = 40,
    noise: float = 0.25,
    corr_noise: float = 0.25,
    shear: float = 0.75,
) -> ClassificationData:
    """MNIST-1D-style data: (n, length) float32 sequences, 10 balanced classes.

    Parameters
    ----------
    seed : int
        Generation seed; train and test come from independent streams of it.
    n_train, n_test : int
        Numbers of samples.
    length : int
        Points per sequence.
    noise, corr_noise, shear : float
        White-noise sd, correlated-noise sd and sd of the random linear trend (see module doc).
    """
    seed = check_seed(seed)
    kw = dict(length=length, noise=noise, corr_noise=corr_noise, shear=shear)
    xtr, ytr = make_mnist1d(n_train, seed, stream="train", **kw)
    xte, yte = make_mnist1d(n_test, seed, stream="test", **kw)
    return ClassificationData(
        name="mnist1d",
        x_train=xtr,
        y_train=ytr,
        x_test=xte,
        y_test=yte,
        n_classes=10,
        description=f"MNIST-1D-style, length {length}, noise {noise:g}, corr_noise {corr_noise:g}, shear {shear:g}; "
        f"{n_train} train / {n_test} test (seed {seed})",
    )
