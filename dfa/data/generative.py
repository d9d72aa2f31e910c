"""Images for generative modelling (task ``"diffusion"``): scikit-learn's 8x8 digits.

The same images and stratified split as the ``digits`` classification data set
(:mod:`dfa.data.digits`), wrapped as :class:`ImageData` so that the trainer picks the
diffusion task (:class:`dfa.tasks.DiffusionTask`: DDPM noise-prediction loss, class-conditional
samples scored against the held-out digits, see :mod:`dfa.diffusion`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from photonics.errors import ShapeError, ValidationError

from .registry import register_dataset

__all__ = ["ImageData", "load_digits_diffusion"]


@dataclass(frozen=True)
class ImageData:
    """Labelled images in [0, 1] for class-conditional generation.

    Attributes
    ----------
    x_train, x_test : ndarray float32 (n, C, H, W)
        Images, pixel values in [0, 1].
    y_train, y_test : ndarray int64 (n,)
        Class of each image, in [0, n_classes) (the generator is conditioned on it).
    n_classes : int
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    description: str = ""
    task: str = field(default="diffusion", init=False)

    def __post_init__(self):
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 4 or y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise ShapeError(f"{self.name}: x_{part} {x.shape} and y_{part} {y.shape} must be (n, C, H, W) and (n,)")
            if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
                raise ValidationError(f"{self.name}: x_{part} pixel values must be finite and in [0, 1]")
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise ValidationError(f"{self.name}: y_{part} labels must be in [0, {self.n_classes})")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ShapeError(f"{self.name}: train images {self.x_train.shape[1:]} and test images {self.x_test.shape[1:]} differ")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def info(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "n_train": int(self.x_train.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "input_shape": list(self.input_shape),
            "n_classes": int(self.n_classes),
            "description": self.description,
        }


@register_dataset(
    "digits-diffusion",
    description="scikit-learn digits 8x8 for class-conditional DDPM generation (same split as 'digits')",
    defaults={
        "model": "denoiser",
        "epochs": 40,
        "batch_size": 64,
        "lr": 2e-3,
        # plain tanh blocks: the residual pre-norm GELU denoiser trains with BP, not with DFA (README)
        "model_options": {"width": 256, "n_blocks": 2, "residual": False, "activation": "tanh"},
        "feedback": {"encoding": "bitplanes", "n_bits": 3},
    },
)
def load_digits_diffusion(seed: int = 0, test_fraction: float = 0.2) -> ImageData:
    """The ``digits`` images (n, 1, 8, 8) in [0, 1] and labels, as generation data.

    Parameters are those of :func:`dfa.data.digits.load_digits` (split seed and fraction).
    """
    from .digits import load_digits

    d = load_digits(seed=seed, test_fraction=test_fraction)
    return ImageData(
        name="digits-diffusion",
        x_train=d.x_train,
        y_train=d.y_train,
        x_test=d.x_test,
        y_test=d.y_test,
        n_classes=d.n_classes,
        description=d.description.replace("scikit-learn digits", "scikit-learn digits for generation"),
    )
