"""Denoising diffusion (DDPM) on small images: noise schedule, sampler and sample-quality score.

The forward process adds Gaussian noise in T steps (Ho et al. 2020)::

    q(x_t | x_0) = N( sqrt(abar_t) x_0, (1 - abar_t) I ),   abar_t = prod_{s <= t} (1 - beta_s)

with the cosine schedule of Nichol & Dhariwal (2021), abar_t = f(t) / f(0),
f(t) = cos^2( (t/T + s) / (1 + s) * pi/2 ), s = 0.008, beta_t clipped to 0.999. A network
eps_theta(x_t, t, y) (:class:`dfa.zoo.models_large.Denoiser`, class-conditional) is trained on

    L = E_{x_0, y, t, eps} | eps - eps_theta( sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t, y ) |^2 / n_pixels

(mean squared error per pixel; :class:`dfa.trainer.tasks.DiffusionTask`), by BP or DFA alike (the DFA
error is e = dL/d eps_hat). Samples come from ancestral sampling, t = T-1 ... 0::

    x0_hat = clip( (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t), -1, 1 )
    x_{t-1} = c0_t x0_hat + ct_t x_t + sigma_t z,   z ~ N(0, I) (z = 0 at the last step)

with the posterior q(x_{t-1} | x_t, x_0): c0_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t),
ct_t = sqrt(1 - beta_t) (1 - abar_{t-1}) / (1 - abar_t),
sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t).

Sample quality (:class:`SampleScorer`), on images in [0, 1]; each number has a reference
computed on real held-out digits, so it reads like a measurement:

* ``accuracy``: the fraction of samples that an independent classifier (an RBF support vector
  machine fitted on the training digits, ~99 % accurate on held-out digits) recognises as the
  digit that was asked for. It measures *recognisable, class-correct digits*; noise or
  blurred averages score ~10 %.
* ``frechet_distance``: the Frechet distance between Gaussians fitted to the samples and to
  the held-out digits in the 64-d pixel space (FID without the Inception network, which does
  not exist for 8x8 images): |mu_s - mu_r|^2 + tr(S_s + S_r - 2 (S_s S_r)^{1/2}). It measures
  whether the *distribution* (mean image, pixel covariances: stroke variety) is right; it is
  biased upwards by the finite sample size, so it is reported next to the same statistic for
  as many real training digits (``real_frechet_distance``), its floor.
* ``nn_ratio``: mean distance of a sample to its nearest training digit over the same for
  held-out digits: ~1 for new digits as close to the training set as real ones, << 1 for
  copies of training images (memorisation), > 1 for off-manifold images.

Neither number alone suffices (a Gaussian with the data's mean and covariance has a Frechet
distance near 0 but is not made of digits; a model that draws the same perfect "3" for every
"3" has high accuracy but a large Frechet distance): they are reported together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from photonics.errors import ShapeError, ValidationError
from photonics.rng import derive_seed
from photonics.validation import check_int

__all__ = [
    "NoiseSchedule",
    "ddpm_sample",
    "SampleScorer",
    "frechet_distance",
    "save_sample_grid",
    "format_diffusion_table",
    "SCHEDULES",
]

SCHEDULES = ("cosine", "linear")


@dataclass(frozen=True)
class NoiseSchedule:
    """The DDPM noise schedule beta_1..beta_T (see the module docstring).

    Parameters
    ----------
    n_steps : int
        T, diffusion steps (>= 2).
    kind : str
        ``"cosine"`` (Nichol & Dhariwal) or ``"linear"`` (Ho et al.: beta from 1e-4 to 0.02
        rescaled by 1000 / T).
    """

    n_steps: int = 200
    kind: str = "cosine"

    def __post_init__(self):
        check_int(self.n_steps, "n_steps", low=2, high=100_000)
        if self.kind not in SCHEDULES:
            raise ValidationError(f"schedule must be one of {', '.join(SCHEDULES)} (got {self.kind!r})")

    @property
    def betas(self) -> np.ndarray:
        """beta_t, t = 0..T-1 (float64)."""
        T = self.n_steps
        if self.kind == "linear":
            scale = 1000.0 / T
            return np.linspace(1e-4 * scale, 0.02 * scale, T)
        s = 0.008
        x = np.arange(T + 1, dtype=np.float64) / T
        f = np.cos((x + s) / (1 + s) * math.pi / 2) ** 2
        abar = f / f[0]
        return np.clip(1.0 - abar[1:] / abar[:-1], 0.0, 0.999)

    @property
    def alpha_bar(self) -> np.ndarray:
        """abar_t = prod_{s <= t} (1 - beta_s), t = 0..T-1 (float64)."""
        return np.cumprod(1.0 - self.betas)

    def tensors(self, device) -> dict[str, torch.Tensor]:
        """float32 tensors of the schedule on ``device``: beta, abar, abar_prev."""
        b = self.betas
        ab = self.alpha_bar
        ab_prev = np.concatenate([[1.0], ab[:-1]])
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
        return {"beta": as_t(b), "abar": as_t(ab), "abar_prev": as_t(ab_prev)}

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, tables: dict | None = None) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, for per-sample steps t (batch,)."""
        tab = tables or self.tensors(x0.device)
        ab = tab["abar"][t].reshape(-1, *([1] * (x0.ndim - 1)))
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps

    def describe(self) -> dict:
        return {"n_steps": self.n_steps, "kind": self.kind}


@torch.no_grad()
def ddpm_sample(model, schedule: NoiseSchedule, labels, image_shape, *, seed: int, device="cpu", clip: bool = True) -> torch.Tensor:
    """Ancestral DDPM samples (len(labels), *image_shape) in [-1, 1] (module docstring).

    ``model((x_t, t, y))`` predicts the noise. The noise of the sampler comes from ``seed``
    only (a CPU generator, moved to ``device``), so two models sampled with the same seed
    start from the same x_T and see the same z: a paired comparison.
    """
    labels = torch.as_tensor(labels, dtype=torch.long, device=device)
    if labels.ndim != 1:
        raise ShapeError(f"labels must be 1-D (got shape {tuple(labels.shape)})")
    n = labels.shape[0]
    shape = (n, *tuple(int(s) for s in image_shape))
    g = torch.Generator().manual_seed(derive_seed(seed, "dfa", "diffusion", "sampler"))
    noise = torch.randn((schedule.n_steps + 1, *shape), generator=g)
    tab = schedule.tensors(device)
    x = noise[0].to(device)
    for step in range(schedule.n_steps - 1, -1, -1):
        t = torch.full((n,), step, dtype=torch.long, device=device)
        eps = model((x, t, labels)).reshape(shape).float()
        beta, ab, ab_prev = tab["beta"][step], tab["abar"][step], tab["abar_prev"][step]
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        mean = (ab_prev.sqrt() * beta / (1 - ab)) * x0 + ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)) * x
        if step > 0:
            sigma = (beta * (1 - ab_prev) / (1 - ab)).sqrt()
            x = mean + sigma * noise[step + 1].to(device)
        else:
            x = mean
    return x


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to rows of ``a`` and ``b`` (n, d).

    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}), with sample covariances (ddof 1).
    The matrix square root is taken as (S_a^{1/2} S_b S_a^{1/2})^{1/2} (symmetric, same trace).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < 2:
        raise ShapeError(f"frechet_distance needs two (n >= 2, d) arrays with the same d (got {a.shape} and {b.shape})")
    mu = a.mean(0) - b.mean(0)
    sa = np.cov(a, rowvar=False)
    sb = np.cov(b, rowvar=False)

    def psd_sqrt(m):
        w, v = np.linalg.eigh((m + m.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    ra = psd_sqrt(sa)
    cross = psd_sqrt(ra @ sb @ ra)
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.trace(cross))


class SampleScorer:
    """Quality of generated images against real ones (see the module docstring).

    Parameters
    ----------
    x_train, y_train : arrays (n, ...) in [0, 1] and (n,)
        Real training images and labels (fit the classifier; nearest-neighbour reference).
    x_test : array (m, ...) in [0, 1]
        Real held-out images (the distribution the Frechet distance compares with).
    n_reference : int
        Real training images in the floor ``real_frechet_distance`` (use the number of
        samples scored, so that both carry the same finite-sample bias).
    """

    def __init__(self, x_train, y_train, x_test, y_test, *, n_reference: int = 200):
        from sklearn.svm import SVC

        self.x_train = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
        self.y_train = np.asarray(y_train)
        self.x_test = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
        self.y_test = np.asarray(y_test)
        self.classifier = SVC(kernel="rbf", gamma="scale", C=10.0).fit(self.x_train, self.y_train)
        n_ref = check_int(n_reference, "n_reference", low=2)
        idx = np.linspace(0, self.x_train.shape[0] - 1, min(n_ref, self.x_train.shape[0])).astype(int)
        self._nn_test = float(np.mean(self._nn_distance(self.x_test)))
        self.reference = {
            "real_accuracy": float(np.mean(self.classifier.predict(self.x_test) == self.y_test)),
            "real_frechet_distance": frechet_distance(self.x_train[idx], self.x_test),
        }

    def _nn_distance(self, x: np.ndarray) -> np.ndarray:
        d2 = (x**2).sum(1)[:, None] - 2 * x @ self.x_train.T + (self.x_train**2).sum(1)[None, :]
        return np.sqrt(np.clip(d2.min(axis=1), 0, None))

    def score(self, images, labels) -> dict[str, float]:
        """``accuracy``, ``frechet_distance``, ``nn_ratio`` of images (n, ...) in [0, 1] drawn for ``labels``."""
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        if x.shape[1] != self.x_train.shape[1]:
            raise ShapeError(f"images have {x.shape[1]} pixels, the reference digits {self.x_train.shape[1]}")
        if not np.all(np.isfinite(x)):
            raise ValidationError("generated images contain NaN or infinite values")
        pred = self.classifier.predict(x)
        return {
            "accuracy": float(np.mean(pred == np.asarray(labels))),
            "frechet_distance": frechet_distance(x, self.x_test),
            "nn_ratio": float(np.mean(self._nn_distance(x)) / self._nn_test),
        }


def save_sample_grid(images, path, *, n_cols: int, title: str = "") -> Path:
    """PNG of images (n, [1,] H, W) in [0, 1], n_cols per row (one row per class when drawn so)."""
    from photonics.plotting import new_figure, save_figure

    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x[:, 0]
    if x.ndim != 3:
        raise ShapeError(f"images must be (n, H, W) or (n, 1, H, W) (got {np.asarray(images).shape})")
    n_cols = check_int(n_cols, "n_cols", low=1)
    n_rows = math.ceil(x.shape[0] / n_cols)
    h, w = x.shape[1:]
    canvas = np.ones((n_rows * (h + 1) - 1, n_cols * (w + 1) - 1))
    for k, img in enumerate(x):
        r, c = divmod(k, n_cols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = 1.0 - np.clip(img, 0, 1)
    fig, ax = new_figure(1, 1, figsize=(0.45 * n_cols + 0.4, 0.45 * n_rows + (0.6 if title else 0.2)))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def format_diffusion_table(results, reference: dict | None = None) -> str:
    """Plain-text table of the diffusion runs {method: MethodResult} (sample quality)."""
    head = ["method", "sample accuracy", "Frechet distance", "NN ratio", "denoising loss", "steps", "optical frames"]
    rows = []
    for name, r in results.items():
        m = r.metrics
        rows.append([name, f"{100 * m.get('accuracy', float('nan')):.1f} %", f"{m.get('frechet_distance', float('nan')):.3f}",
                     f"{m.get('nn_ratio', float('nan')):.2f}", f"{m.get('loss', float('nan')):.4f}", f"{r.steps:,}",
                     f"{r.optical_frames:,}"])
    if reference:
        rows.append(["(real held-out digits)", f"{100 * reference['real_accuracy']:.1f} %",
                     f"{reference['real_frechet_distance']:.3f}", "1.00", "", "", ""])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)

