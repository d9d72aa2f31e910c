"""Tasks: how a data set is batched, what the loss is and how a model is scored.

A task turns a data set (:mod:`dfa.zoo.data`) into training batches (a pure function of the
training seed and the epoch, so an interrupted run replays exactly the same batches), a loss
(mean cross-entropy) and test metrics. The trainer only talks to this interface, so a new
kind of data needs a new task class and one line in :data:`TASKS`.

* classification: shuffled mini-batches, metric test accuracy (and test loss);
* language-model: random windows of ``context`` tokens, loss = mean next-character
  cross-entropy in nats; metrics test loss, perplexity exp(loss), bits per character and the
  unigram baseline the model must beat;
* node-classification: one full-graph batch per step, loss over the training nodes, metric
  accuracy on the test nodes;
* diffusion: class-conditional DDPM noise prediction on images (mean squared error per
  pixel); metrics: quality of class-conditional samples (classifier accuracy, Frechet
  distance, nearest-neighbour ratio; see :mod:`dfa.zoo.diffusion`) and the test denoising loss.
"""

from __future__ import annotations

import abc
import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from photonics.errors import ConfigError
from photonics.rng import generator

__all__ = ["Task", "ClassificationTask", "LanguageModelTask", "NodeClassificationTask", "DiffusionTask", "make_task", "TASKS"]


class Task(abc.ABC):
    """Batches, loss and metrics for one data set on one torch device."""

    #: name of the metric reported as "the" result, and whether higher is better
    primary_metric = "accuracy"
    higher_is_better = True

    def __init__(self, data, *, batch_size: int, seed: int, device: torch.device, steps_per_epoch: int | None = None):
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self._steps_per_epoch = steps_per_epoch

    @property
    @abc.abstractmethod
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch."""

    @abc.abstractmethod
    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """The batches of ``epoch`` (deterministic for a given seed and epoch)."""

    def forward(self, model, batch) -> torch.Tensor:
        """Model output for ``batch`` (the tensor the loss and the DFA error refer to)."""
        return model(batch[0])

    @abc.abstractmethod
    def loss(self, output: torch.Tensor, batch) -> torch.Tensor:
        """Scalar training loss."""

    @abc.abstractmethod
    def evaluate(self, model) -> dict[str, float]:
        """Test metrics (includes :attr:`primary_metric` and ``loss``)."""

    def sample_batch(self):
        """A small batch for shape probing."""
        return next(iter(self.batches(0)))

    def info(self) -> dict:
        return {"task": self.data.task, "primary_metric": self.primary_metric, "steps_per_epoch": self.steps_per_epoch}

    def write_artifacts(self, model, out_dir, tag: str) -> list:
        """Write task-specific files of a trained ``model`` (e.g. sample grids) into ``out_dir``; paths."""
        return []


def _eval_chunks(n: int, size: int = 1024):
    for s in range(0, n, size):
        yield slice(s, min(s + size, n))


class ClassificationTask(Task):
    """Mini-batch classification with cross-entropy; test accuracy."""

    def __init__(self, data, **kw):
        super().__init__(data, **kw)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 for {data.name} (got {self.batch_size})")
        dev = self.device
        self.x_train = torch.as_tensor(data.x_train, device=dev)
        self.y_train = torch.as_tensor(data.y_train, device=dev)
        self.x_test = torch.as_tensor(data.x_test, device=dev)
        self.y_test = torch.as_tensor(data.y_test, device=dev)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.x_train.shape[0] / self.batch_size)

    def batches(self, epoch):
        n = self.x_train.shape[0]
        perm = generator(self.seed, "dfa", "batches", str(epoch)).permutation(n)
        perm_t = torch.as_tensor(perm, device=self.device)
        for s in range(0, n, self.batch_size):
            idx = perm_t[s : s + self.batch_size]
            yield self.x_train[idx], self.y_train[idx]

    def loss(self, output, batch):
        return F.cross_entropy(output, batch[1])

    @torch.no_grad()
    def evaluate(self, model):
        correct, total_loss = 0, 0.0
        n = self.x_test.shape[0]
        for sl in _eval_chunks(n):
            out = model(self.x_test[sl])
            total_loss += float(F.cross_entropy(out, self.y_test[sl], reduction="sum"))
            correct += int((out.argmax(1) == self.y_test[sl]).sum())
        return {"accuracy": correct / n, "loss": total_loss / n}


class LanguageModelTask(Task):
    """Next-character prediction on random windows; test loss [nats/char] and perplexity."""

    primary_metric = "loss"
    higher_is_better = False

    def __init__(self, data, *, context: int, eval_tokens: int | None = None, **kw):
        super().__init__(data, **kw)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 for {data.name} (got {self.batch_size})")
        if not self._steps_per_epoch or self._steps_per_epoch < 1:
            raise ConfigError("a language-model task needs steps_per_epoch >= 1 (windows are drawn at random)")
        self.context = int(context)
        if data.train_ids.size <= self.context + 1 or data.test_ids.size <= self.context + 1:
            raise ConfigError(f"the text is shorter than the context ({self.context} tokens)")
        self.train = torch.as_tensor(data.train_ids, device=self.device)
        test = data.test_ids if eval_tokens is None else data.test_ids[: int(eval_tokens) + 1]
        n_win = (test.size - 1) // self.context
        xs = test[: n_win * self.context].reshape(n_win, self.context)
        ys = test[1 : n_win * self.context + 1].reshape(n_win, self.context)
        self.x_test = torch.as_tensor(xs, device=self.device)
        self.y_test = torch.as_tensor(ys, device=self.device)
        self.unigram_loss = data.unigram_loss()

    @property
    def steps_per_epoch(self) -> int:
        return int(self._steps_per_epoch)

    def batches(self, epoch):
        g = generator(self.seed, "dfa", "batches", str(epoch))
        n = self.train.shape[0] - self.context - 1
        starts = g.integers(0, n, size=(self.steps_per_epoch, self.batch_size))
        offs = torch.arange(self.context + 1, device=self.device)
        for row in starts:
            idx = torch.as_tensor(row, device=self.device)[:, None] + offs[None, :]
            w = self.train[idx]
            yield w[:, :-1], w[:, 1:]

    def loss(self, output, batch):
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), batch[1].reshape(-1))

    @torch.no_grad()
    def evaluate(self, model):
        total, count = 0.0, 0
        for sl in _eval_chunks(self.x_test.shape[0], 256):
            out = model(self.x_test[sl])
            total += float(F.cross_entropy(out.reshape(-1, out.shape[-1]), self.y_test[sl].reshape(-1), reduction="sum"))
            count += self.y_test[sl].numel()
        loss = total / count
        return {"loss": loss, "perplexity": math.exp(loss), "bits_per_char": loss / math.log(2), "unigram_loss": self.unigram_loss}

    def info(self):
        d = super().info()
        d.update(context=self.context, unigram_loss=self.unigram_loss)
        return d


class NodeClassificationTask(Task):
    """Transductive node classification on one graph: full-batch steps, test-node accuracy."""

    def __init__(self, data, **kw):
        super().__init__(data, **kw)
        dev = self.device
        self.x = torch.as_tensor(data.features, device=dev)
        self.y = torch.as_tensor(data.labels, device=dev)
        self.train_mask = torch.as_tensor(data.train_mask, device=dev)
        self.test_mask = torch.as_tensor(data.test_mask, device=dev)

    @property
    def steps_per_epoch(self) -> int:
        return 1

    def batches(self, epoch):
        yield (self.x,)

    def loss(self, output, batch):
        return F.cross_entropy(output[self.train_mask], self.y[self.train_mask])

    @torch.no_grad()
    def evaluate(self, model):
        out = model(self.x)
        m = self.test_mask
        loss = float(F.cross_entropy(out[m], self.y[m]))
        acc = float((out[m].argmax(1) == self.y[m]).float().mean())
        train_acc = float((out[self.train_mask].argmax(1) == self.y[self.train_mask]).float().mean())
        return {"accuracy": acc, "loss": loss, "train_accuracy": train_acc}


class DiffusionTask(Task):
    """Class-conditional DDPM training on images (see :mod:`dfa.zoo.diffusion`).

    A batch is (x_0, y, t, eps): training images scaled to [-1, 1], their classes, one
    diffusion step t ~ U{0..T-1} and one noise draw eps ~ N(0, I) per image, all fixed by
    (seed, epoch) so an interrupted run replays the same batches. The model output is the
    predicted noise for x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps; the loss is the mean
    squared error per pixel. The schedule comes from the model (``model.schedule``).

    Metrics: ``accuracy`` (primary; the fraction of class-conditional samples, 20 per class,
    that an independent classifier recognises as the requested digit), ``frechet_distance``
    and ``nn_ratio`` of those samples, ``loss`` (test denoising loss with fixed t and eps),
    and the real-data references ``real_accuracy`` / ``real_frechet_distance``. The samples
    use a fixed noise seed, so every method and training seed is scored on the same x_T and z.
    """

    primary_metric = "accuracy"
    higher_is_better = True
    #: samples per class scored at each evaluation, and the grid written by write_artifacts
    eval_per_class = 20
    grid_per_class = 10
    eval_seed = 0

    def __init__(self, data, *, schedule, **kw):
        super().__init__(data, **kw)
        from dfa.zoo.diffusion import NoiseSchedule, SampleScorer

        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 for {data.name} (got {self.batch_size})")
        if not isinstance(schedule, NoiseSchedule):
            raise ConfigError(f"a diffusion task needs the model's NoiseSchedule (got {type(schedule).__name__})")
        self.schedule = schedule
        self.tables = schedule.tensors(self.device)
        dev = self.device
        self.x_train = torch.as_tensor(data.x_train * 2.0 - 1.0, device=dev)
        self.y_train = torch.as_tensor(data.y_train, device=dev)
        self.x_test = torch.as_tensor(data.x_test * 2.0 - 1.0, device=dev)
        self.y_test = torch.as_tensor(data.y_test, device=dev)
        g = generator(self.eval_seed, "dfa", "diffusion", "eval")
        n = self.x_test.shape[0]
        self.t_test = torch.as_tensor(g.integers(0, schedule.n_steps, size=n), device=dev)
        self.eps_test = torch.as_tensor(g.standard_normal(self.x_test.shape).astype("float32"), device=dev)
        self.scorer = SampleScorer(data.x_train, data.y_train, data.x_test, data.y_test,
                                   n_reference=self.eval_per_class * data.n_classes)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.x_train.shape[0] / self.batch_size)

    def batches(self, epoch):
        n = self.x_train.shape[0]
        perm = torch.as_tensor(generator(self.seed, "dfa", "batches", str(epoch)).permutation(n), device=self.device)
        g = generator(self.seed, "dfa", "diffusion", "noise", str(epoch))
        t = torch.as_tensor(g.integers(0, self.schedule.n_steps, size=n), device=self.device)
        eps = torch.as_tensor(g.standard_normal(self.x_train.shape).astype("float32"), device=self.device)
        for s in range(0, n, self.batch_size):
            idx = perm[s : s + self.batch_size]
            yield self.x_train[idx], self.y_train[idx], t[s : s + self.batch_size], eps[s : s + self.batch_size]

    def forward(self, model, batch):
        x0, y, t, eps = batch
        return model((self.schedule.noisy(x0, t, eps, self.tables), t, y))

    def loss(self, output, batch):
        eps = batch[3]
        return F.mse_loss(output, eps.reshape(output.shape).to(output.dtype))

    def samples(self, model, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Class-conditional samples in [0, 1] (per_class of each class, class-major) and their labels."""
        from dfa.zoo.diffusion import ddpm_sample

        labels = torch.arange(self.data.n_classes, device=self.device).repeat_interleave(per_class)
        x = ddpm_sample(model, self.schedule, labels, self.data.input_shape, seed=self.eval_seed, device=self.device)
        return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0), labels

    @torch.no_grad()
    def evaluate(self, model):
        total = 0.0
        n = self.x_test.shape[0]
        for sl in _eval_chunks(n):
            out = self.forward(model, (self.x_test[sl], self.y_test[sl], self.t_test[sl], self.eps_test[sl]))
            total += float(F.mse_loss(out.float(), self.eps_test[sl].reshape(out.shape), reduction="sum")) / out[0].numel()
        images, labels = self.samples(model, self.eval_per_class)
        metrics = self.scorer.score(images.cpu().numpy(), labels.cpu().numpy())
        metrics["loss"] = total / n
        metrics.update(self.scorer.reference)
        return metrics

    def write_artifacts(self, model, out_dir, tag):
        """``samples_<tag>.png``: one row of samples per class (and ``samples_real.png`` once)."""
        from pathlib import Path

        from dfa.zoo.diffusion import save_sample_grid

        out = Path(out_dir)
        k = self.grid_per_class
        images, _ = self.samples(model, k)
        paths = [save_sample_grid(images.cpu().numpy(), out / f"samples_{tag}.png", n_cols=k,
                                  title=f"{tag}: DDPM samples, one row per class 0-9")]
        real = out / "samples_real.png"
        if not real.exists():
            x, y = self.data.x_test, self.data.y_test
            idx = [i for c in range(self.data.n_classes) for i in list(np.flatnonzero(y == c))[:k]]
            paths.append(save_sample_grid(x[idx], real, n_cols=k, title="held-out real digits"))
        return paths

    def info(self):
        d = super().info()
        d.update(schedule=self.schedule.describe(), eval_samples=self.eval_per_class * self.data.n_classes, **self.scorer.reference)
        return d


#: data task name -> task class
TASKS = {
    "classification": ClassificationTask,
    "language-model": LanguageModelTask,
    "node-classification": NodeClassificationTask,
    "diffusion": DiffusionTask,
}


def make_task(data, *, batch_size: int, seed: int, device, steps_per_epoch: int | None = None, model=None) -> Task:
    """The task for ``data`` (chosen by ``data.task``)."""
    cls = TASKS.get(data.task)
    if cls is None:
        raise ConfigError(f"no task handles data of kind {data.task!r}; known: {', '.join(TASKS)}")
    kw = dict(batch_size=batch_size, seed=seed, device=torch.device(device), steps_per_epoch=steps_per_epoch)
    if cls is LanguageModelTask:
        context = getattr(model, "context", None)
        if context is None:
            raise ConfigError("a language-model task needs a model with a 'context' length")
        kw["context"] = context
    if cls is DiffusionTask:
        schedule = getattr(model, "schedule", None)
        if schedule is None:
            raise ConfigError("a diffusion task needs a model with a noise 'schedule' (e.g. the denoiser model)")
        kw["schedule"] = schedule
    return cls(data, **kw)
