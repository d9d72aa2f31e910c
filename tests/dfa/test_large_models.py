"""Large architectures (GPT, ViT, MLP-Mixer, diffusion denoiser): DFA sanity per block, shapes
for any depth, parameter counts up to > 1e9 (meta device), tiny-config training, exact resume."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dfa import make_config, train_method
from dfa.mechanism.dfa import DFA
from dfa.mechanism.feedback import GaussianFeedback
from dfa.trainer.checkpoint import load_checkpoint
from dfa.zoo.data import load_dataset
from dfa.zoo.models import build_model, n_parameters
from dfa.zoo.models_large import GPT, gpt_parameter_count
from photonics.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "data" / "configs"


@pytest.fixture(scope="module")
def chars():
    return load_dataset("chars", max_chars=4000, min_count=1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def digits_gen():
    return load_dataset("digits-diffusion")


def _batch_and_loss(data):
    """A small batch and its loss function for each kind of data."""
    if data.task == "language-model":
        x = torch.as_tensor(data.train_ids[: 3 * 16]).reshape(3, 16)
        y = torch.as_tensor(data.train_ids[1 : 3 * 16 + 1]).reshape(3, 16)
        return x, lambda out: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(data.x_train.shape[0], generator=g)[:6]
    x = torch.as_tensor(data.x_train)[idx].double()
    y = torch.as_tensor(data.y_train)[idx]
    if data.task == "diffusion":
        t = torch.tensor([0, 3, 50, 120, 180, 199])
        eps = torch.randn(x.shape, generator=g, dtype=torch.float64)
        return (x * 2 - 1, t, y), lambda out: F.mse_loss(out, eps.flatten(1))
    return x, lambda out: F.cross_entropy(out, y)


ARCHS = [
    ("gpt", "chars", {"d_model": 16, "n_heads": 2, "context": 16}),
    ("gpt", "chars", {"d_model": 16, "n_heads": 2, "context": 16, "bias": False}),
    ("vit", "digits", {"d_model": 16, "n_heads": 2, "patch": 4}),
    ("vit", "digits", {"d_model": 16, "n_heads": 2, "patch": 2, "pool": "flatten"}),
    ("mixer", "digits", {"d_model": 12, "patch": 4, "token_hidden": 8, "channel_hidden": 16}),
    ("denoiser", "digits_gen", {"width": 24, "time_features": 8}),
    ("denoiser", "digits_gen", {"width": 24, "time_features": 8, "residual": False, "activation": "tanh"}),
]


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("model_name,data_name,options", ARCHS)
def test_every_block_gets_its_slice_of_B_e_and_the_head_its_true_gradient(model_name, data_name, options, depth, request):
    """Segment l's gradients equal autograd's response to dL/dh_l := B_l e on the uncut graph,
    e from a plain forward pass; the head's gradients are BP's; widths match the block shapes."""
    data = request.getfixturevalue(data_name)
    key = "n_blocks" if model_name == "denoiser" else "n_layers"
    torch.manual_seed(3)
    model = build_model(model_name, data, **options, **{key: depth}).double()
    x, loss_fn = _batch_and_loss(data)
    dfa = DFA(model)
    n_err, sizes = dfa.probe(lambda: model(x))
    assert len(sizes) == depth == len(model.feedback_points())
    out_shape = model(x).shape
    with torch.no_grad():  # the width of each point is its per-sample (per-token for the LM) feature size
        taps = []
        hooks = [p.register_forward_hook(lambda m, i, o: taps.append(o.shape)) for p in dfa.points]
        model(x)
        for h in hooks:
            h.remove()
    lead = out_shape[:-1]
    assert all(tuple(s[: len(lead)]) == tuple(lead) and math.prod(s[len(lead):]) == n for s, n in zip(taps, sizes))
    fb = GaussianFeedback(n_err, sum(sizes), seed=4)
    dfa.feedback = fb
    with dfa.recording():
        out = model(x)
    dfa.backward(loss_fn(out), out)
    got = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    dfa.remove()
    model.zero_grad()
    taps = []
    hooks = [p.register_forward_hook(lambda m, i, o: taps.append(o)) for p in dfa.points]
    out = model(x)
    for h in hooks:
        h.remove()
    loss = loss_fn(out)
    (e,) = torch.autograd.grad(loss, out, retain_graph=True)
    chunks = torch.split(e.reshape(-1, n_err) @ fb.matrix.double().T, sizes, dim=1)
    groups = DFA(model).segment_parameters(lambda: model(x))
    assert len(groups) == depth + 1 and all(groups)
    # every parameter belongs to exactly one segment: blocks share nothing
    names = [n for g in groups for n, _ in g]
    assert len(names) == len(set(names)) == len(got)
    for l, (h, c) in enumerate(zip(taps, chunks)):
        params = [p for _, p in groups[l]]
        ref = torch.autograd.grad(h, params, grad_outputs=c.reshape(h.shape), retain_graph=True)
        for (name, _), r in zip(groups[l], ref):
            assert torch.allclose(got[name], r, rtol=1e-9, atol=1e-12), (model_name, l, name)
    true = torch.autograd.grad(loss, [p for _, p in groups[-1]])
    for (name, _), r in zip(groups[-1], true):
        assert torch.allclose(got[name], r, rtol=1e-9, atol=1e-12), (model_name, "head", name)


def test_gpt_parameter_count_formula():
    for kw in (dict(d_model=32, n_layers=2, context=16), dict(d_model=48, n_layers=3, context=8, bias=False),
               dict(d_model=24, n_layers=1, context=8, tie_embeddings=True), dict(d_model=16, n_layers=2, context=8, mlp_ratio=2)):
        m = GPT(50, n_heads=4, **kw)
        assert n_parameters(m) == gpt_parameter_count(50, **kw), kw


def test_one_billion_parameter_config_on_the_meta_device(chars):
    """The shipped > 1e9-parameter GPT config builds without memory on the meta device."""
    from dfa.commands.train import _load_file

    raw = _load_file(str(CONFIGS / "chars-gpt-1b.toml"))
    cfg = make_config(raw.pop("dataset"), **{k: v for k, v in raw.items() if k != "precision"})
    assert cfg.model == "gpt" and cfg.device == "cuda"
    with torch.device("meta"):
        model = build_model(cfg.model, chars, **cfg.model_options)
    n = n_parameters(model)
    o = cfg.model_options
    assert n == gpt_parameter_count(chars.vocab_size, o["d_model"], o["n_layers"], o["context"])
    assert n > 1_000_000_000
    assert all(p.device.type == "meta" for p in model.parameters())


def test_bad_options_are_clear(digits, chars):
    with pytest.raises(ConfigError, match="must be a multiple of n_heads"):
        build_model("gpt", chars, d_model=30, n_heads=4)
    with pytest.raises(ConfigError, match="patch=3 must divide the image size 8x8"):
        build_model("vit", digits, patch=3)
    with pytest.raises(ConfigError, match="pool"):
        build_model("mixer", digits, pool="max")
    with pytest.raises(ConfigError, match="does not fit"):
        build_model("denoiser", digits)
    with pytest.raises(ConfigError, match="sequence length 40 exceeds the model context 32"):
        build_model("gpt", chars, d_model=16, n_heads=2, context=32)(torch.zeros(1, 40, dtype=torch.long))


TINY = {
    "gpt": ("chars", dict(dataset_options={"max_chars": 20000}, model_options={"d_model": 32, "n_layers": 2, "n_heads": 2, "context": 32},
                          batch_size=16, steps_per_epoch=60, epochs=1, lr=3e-3)),
    "vit": ("digits", dict(model_options={"d_model": 32, "n_layers": 2, "n_heads": 2, "patch": 2, "pool": "flatten"},
                           epochs=1, batch_size=32, max_steps=40)),
    "mixer": ("digits", dict(model_options={"d_model": 32, "n_layers": 2, "patch": 2, "pool": "flatten"}, epochs=1, batch_size=32,
                             max_steps=40)),
    "denoiser": ("digits-diffusion", dict(model_options={"width": 64, "n_blocks": 2}, epochs=1, batch_size=64, max_steps=40,
                                          lr=2e-3)),
}


@pytest.mark.parametrize("model_name", list(TINY))
def test_tiny_config_dfa_training_reduces_the_loss(model_name):
    dataset, kw = TINY[model_name]
    cfg = make_config(dataset, model=model_name, methods=("dfa",), align_every=0, **kw)
    r = train_method(cfg, "dfa", progress=False)
    first, last = r.history["test_loss"][0], r.history["test_loss"][-1]
    # the test loss falls by a clear margin (> 10 %; its evaluation noise is far below that)
    assert last < 0.9 * first, (model_name, r.history["test_loss"])


class Crash(Exception):
    pass


@pytest.mark.parametrize("model_name,method", [("gpt", "optical-dfa"), ("denoiser", "dfa")])
def test_interrupted_run_resumes_bit_identical(tmp_path, model_name, method):
    dataset, kw = TINY[model_name]
    kw = {**kw, "max_steps": 12, "checkpoint_every": 5}
    if model_name == "gpt":
        kw["model_options"] = {**kw["model_options"], "d_model": 16}
        kw["feedback"] = {"n_probes": 4}
    cfg = make_config(dataset, model=model_name, methods=(method,), align_every=3, **kw)
    ref = train_method(cfg, method, checkpoint=tmp_path / "ref.pt", progress=False)

    def crash(step, model):
        if step == 8:
            raise Crash()

    ck = tmp_path / "run.pt"
    with pytest.raises(Crash):
        train_method(cfg, method, checkpoint=ck, progress=False, on_step=crash)
    assert load_checkpoint(ck)["trainer"]["step"] == 5
    res = train_method(cfg, method, checkpoint=ck, resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "ref.pt")["model"], load_checkpoint(ck)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert res.optical_frames == ref.optical_frames
    for k in ref.history:
        if k.startswith("test_") or k in ("train_loss", "step", "optical_frames"):
            assert np.array_equal(res.history[k], ref.history[k], equal_nan=True), k
    assert res.alignment["angle_deg"] == ref.alignment["angle_deg"]
    assert len(load_checkpoint(ck)["trainer"]["step_costs"]["frames"]) == 12
