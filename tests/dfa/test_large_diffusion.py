"""Diffusion on 8x8 digits: the noise schedule, the sampler against an exact denoiser, the
sample-quality score against real digits and noise, the task's batches, the run folder."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from dfa.trainer.tasks import DiffusionTask, make_task
from dfa.zoo.data import load_dataset
from dfa.zoo.diffusion import NoiseSchedule, SampleScorer, ddpm_sample, frechet_distance, save_sample_grid
from photonics.errors import ShapeError, ValidationError


@pytest.fixture(scope="module")
def digits_gen():
    return load_dataset("digits-diffusion")


@pytest.fixture(scope="module")
def scorer(digits_gen):
    d = digits_gen
    return SampleScorer(d.x_train, d.y_train, d.x_test, d.y_test, n_reference=200)


def test_cosine_schedule_follows_its_definition():
    s = NoiseSchedule(200, "cosine")
    ab = s.alpha_bar
    x = np.arange(201) / 200
    f = np.cos((x + 0.008) / 1.008 * math.pi / 2) ** 2
    ref = f[1:] / f[0]
    ok = s.betas < 0.999  # beta is clipped only at the very end
    assert ok[:-1].all()
    assert np.allclose(ab[ok], ref[ok], rtol=1e-12)
    assert np.all(np.diff(ab) < 0) and 0.99 < ab[0] < 1 and ab[-1] < 1e-3
    lin = NoiseSchedule(1000, "linear").betas
    assert lin[0] == pytest.approx(1e-4) and lin[-1] == pytest.approx(0.02)
    with pytest.raises(ValidationError, match="schedule must be one of"):
        NoiseSchedule(10, "quadratic")


class PointMassDenoiser(nn.Module):
    """The exact noise predictor when every image is c: eps = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t)."""

    def __init__(self, schedule, c):
        super().__init__()
        self.ab = torch.as_tensor(schedule.alpha_bar, dtype=torch.float32)
        self.c = c

    def forward(self, x):
        x_t, t, y = x
        ab = self.ab[t].reshape(-1, *([1] * (x_t.ndim - 1)))
        return ((x_t - ab.sqrt() * self.c) / (1 - ab).sqrt()).flatten(1)


def test_sampler_recovers_the_data_with_the_exact_denoiser():
    """With the exact eps for a one-point data set, ancestral sampling lands on that point
    (x0_hat = c at every step, and the last step has no noise)."""
    sched = NoiseSchedule(50, "cosine")
    c = torch.linspace(-0.8, 0.9, 64).reshape(1, 8, 8)
    x = ddpm_sample(PointMassDenoiser(sched, c), sched, torch.zeros(7, dtype=torch.long), (1, 8, 8), seed=1)
    assert x.shape == (7, 1, 8, 8)
    assert torch.allclose(x, c.expand_as(x), atol=1e-4)


def test_sampler_is_seeded():
    sched = NoiseSchedule(20, "cosine")
    model = lambda inp: 0.5 * inp[0].flatten(1)  # noqa: E731
    a = ddpm_sample(model, sched, [0, 1, 2], (1, 8, 8), seed=3)
    b = ddpm_sample(model, sched, [0, 1, 2], (1, 8, 8), seed=3)
    c = ddpm_sample(model, sched, [0, 1, 2], (1, 8, 8), seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ShapeError, match="labels must be 1-D"):
        ddpm_sample(model, sched, [[0, 1]], (1, 8, 8), seed=3)


def test_frechet_distance_closed_forms():
    from scipy.linalg import sqrtm

    g = np.random.default_rng(0)
    a = g.normal(size=(400, 5)) @ g.normal(size=(5, 5))
    b = g.normal(size=(300, 5)) * 0.5 + 1.0
    assert abs(frechet_distance(a, a)) < 1e-9
    shift = np.array([0.3, -1.0, 0.0, 2.0, 0.5])
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-9)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb - 2 * np.real(sqrtm(sa @ sb)))
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)
    with pytest.raises(ShapeError):
        frechet_distance(a, b[:, :4])


def test_scorer_separates_real_digits_from_noise_and_copies(digits_gen, scorer):
    d = digits_gen
    real = scorer.score(d.x_test, d.y_test)
    assert real["accuracy"] == scorer.reference["real_accuracy"] >= 0.97
    assert real["nn_ratio"] == pytest.approx(1.0)
    # held-out digits vs the test set itself: no distance; the floor (200 training digits) is small
    assert real["frechet_distance"] < 1e-9 and scorer.reference["real_frechet_distance"] < 0.5
    copies = scorer.score(d.x_train[:200], d.y_train[:200])
    assert copies["nn_ratio"] == 0.0 and copies["accuracy"] > 0.97
    g = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 20)
    noise = scorer.score(g.random((200, 1, 8, 8)), labels)
    assert noise["accuracy"] < 0.3 and noise["frechet_distance"] > 10 * scorer.reference["real_frechet_distance"]
    assert noise["nn_ratio"] > 1.5
    # a Gaussian with the digits' mean and covariance fools the Frechet distance, not the classifier
    x = d.x_train.reshape(len(d.x_train), -1)
    gauss = np.clip(g.multivariate_normal(x.mean(0), np.cov(x, rowvar=False), size=200), 0, 1)
    gs = scorer.score(gauss, labels)
    assert gs["frechet_distance"] < 3 * scorer.reference["real_frechet_distance"] and gs["accuracy"] < 0.3
    with pytest.raises(ValidationError, match="NaN"):
        scorer.score(np.full((2, 64), np.nan), [0, 1])


def test_task_batches_are_deterministic_and_the_loss_is_the_noise_mse(digits_gen):
    sched = NoiseSchedule(30)
    model = nn.Module()
    model.schedule = sched
    task = make_task(digits_gen, batch_size=50, seed=2, device="cpu", model=model)
    assert isinstance(task, DiffusionTask) and task.primary_metric == "accuracy"
    b0 = list(task.batches(0))
    again = list(task.batches(0))
    b1 = list(task.batches(1))
    assert len(b0) == task.steps_per_epoch == math.ceil(digits_gen.x_train.shape[0] / 50)
    assert all(torch.equal(u, v) for x, y in zip(b0, again) for u, v in zip(x, y))
    assert not torch.equal(b0[0][3], b1[0][3])
    x0, y, t, eps = b0[0]
    assert x0.min() >= -1 and x0.max() <= 1 and t.min() >= 0 and t.max() < 30
    seen = []

    def fake(inp):
        seen.append(inp)
        return torch.zeros(inp[0].shape[0], 64)

    out = task.forward(fake, b0[0])
    ab = torch.as_tensor(sched.alpha_bar, dtype=torch.float32)[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(seen[0][0], ab.sqrt() * x0 + (1 - ab).sqrt() * eps, atol=1e-6)
    assert float(task.loss(out, b0[0])) == pytest.approx(float((eps**2).mean()), rel=1e-6)


def test_sample_grid_png(tmp_path):
    p = save_sample_grid(np.random.default_rng(0).random((20, 1, 8, 8)), tmp_path / "g.png", n_cols=10, title="t")
    assert p.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ShapeError):
        save_sample_grid(np.zeros((2, 64)), tmp_path / "bad.png", n_cols=2)


def test_cli_diffusion_run_writes_samples_and_costs(tmp_path, capsys):
    from dfa.cli import main

    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits-diffusion", "--methods", "bp,optical-dfa", "--max-steps", "3", "--epochs", "1",
               "--model-option", "width=32", "--model-option", "n_steps=10", "--n-probes", "4", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "sample accuracy" in text and "(real held-out digits)" in text and "modelled device time" in text
    for f in ("samples_bp.png", "samples_optical-dfa.png", "samples_real.png", "step_costs.json", "results.json"):
        assert (out / f).is_file(), f
    costs = json.loads((out / "step_costs.json").read_text())
    res = json.loads((out / "results.json").read_text())
    assert costs["optical-dfa"]["total_frames"] == res["optical-dfa"]["optical_frames"] > 0
    assert costs["bp"]["frames"] == 0 and costs["bp"]["steps"] == 3
    assert 0 <= res["optical-dfa"]["test_accuracy"] <= 1 and "test_frechet_distance" in res["optical-dfa"]
