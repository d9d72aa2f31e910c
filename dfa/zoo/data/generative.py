"""Images for generative modelling (task ``"diffusion"``): scikit-learn's 8x8 digits.

The same images and stratified split as the ``digits`` classification data set
(:mod:`dfa.zoo.data.digits`), wrapped as :class:`ImageData` so that the trainer picks the
diffusion task (:class:`dfa.trainer.tasks.DiffusionTask`: DDPM noise-prediction loss, class-conditional
samples scored against the held-out digits, see :mod:`dfa.zoo.diffusion`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dfa.zoo.data.base import ClassificationData
from dfa.zoo.data.registry import register_dataset
from photonics.errors import ShapeError, ValidationError

__all__ = ["ImageData", "load_digits_diffusion"]


@dataclass(frozen=True)
class ImageData(ClassificationData):
    """Labelled images in [0, 1] for class-conditional generation.

    A :class:`~dfa.zoo.data.base.ClassificationData` (same fields and checks) whose task is
    ``"diffusion"`` and whose inputs must be images.

    Attributes
    ----------
    x_train, x_test : ndarray float32 (n, C, H, W)
        Images, pixel values in [0, 1].
    y_train, y_test : ndarray int64 (n,)
        Class of each image, in [0, n_classes) (the generator is conditioned on it).
    n_classes : int
    """

    task: str = field(default="diffusion", init=False)

    def __post_init__(self):
        super().__post_init__()
        for part in ("train", "test"):
            x = getattr(self, f"x_{part}")
            if x.ndim != 4:
                raise ShapeError(f"{self.name}: x_{part} {x.shape} must be images (n, C, H, W)")
            if x.size and (x.min() < 0 or x.max() > 1):
                raise ValidationError(f"{self.name}: x_{part} pixel values must be in [0, 1]")


@register_dataset(
    "digits-diffusion",
    description="scikit-learn digits 8x8 for class-conditional DDPM generation (same split as 'digits')",
    defaults={
        "model": "denoiser",
        "epochs": 40,
        "batch_size": 64,
        "lr": 2e-3,
        # plain tanh blocks: the residual pre-norm GELU denoiser trains with BP, not with DFA (docs/results/large-models.md)
        "model_options": {"width": 256, "n_blocks": 2, "residual": False, "activation": "tanh"},
        "feedback": {"encoding": "bitplanes", "n_bits": 3},
    },
)
def load_digits_diffusion(seed: int = 0, test_fraction: float = 0.2) -> ImageData:
    """The ``digits`` images (n, 1, 8, 8) in [0, 1] and labels, as generation data.

    Parameters are those of :func:`dfa.zoo.data.digits.load_digits` (split seed and fraction).
    """
    from dfa.zoo.data.digits import load_digits

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
