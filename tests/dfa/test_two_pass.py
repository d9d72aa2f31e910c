"""Two-pass forward training (PEPITA, dfa.two_pass): the rule against a hand computation (MLP and
CNN), learning on a toy problem, alignment with BP, determinism, exact resume, settings,
errors, the CLI, and the acceptance on digits (digital F >= 90 %, optical F within 3 points)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dfa import make_config, train_method
from dfa.cli import main
from dfa.mechanism.feedback import GaussianFeedback, StoredFeedback, save_feedback_matrix
from dfa.mechanism.two_pass import TwoPass, two_pass_layers
from dfa.trainer.checkpoint import load_checkpoint
from dfa.trainer.config import TrainConfig, TwoPassConfig
from dfa.zoo.data import load_dataset
from dfa.zoo.models import CNN, MLP
from photonics.errors import ConfigError, ShapeError, ValidationError

SMALL = dict(epochs=2, batch_size=64, model_options={"hidden": [32, 32]}, align_every=0)


def _cfg(**kw):
    return make_config("digits", **{**SMALL, **kw})


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _np(t):
    return t.detach().double().numpy()


def _softmax(y):
    z = np.exp(y - y.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# ---- the update rule, by hand ------------------------------------------------------------------
def test_mlp_update_matches_hand_computation():
    torch.manual_seed(3)
    model = MLP(4, 3, hidden=[5, 3], activation="tanh")
    x = torch.rand(6, 4)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    fmat = np.random.default_rng(1).normal(0.0, 0.4, size=(4, 3))  # F: 3 classes -> 4 inputs
    tp = TwoPass(model, feedback=StoredFeedback(fmat, normalize=False))
    loss = tp.backward(x, lambda y: F.cross_entropy(y, labels))

    (w1, b1), (w2, b2), (w3, b3) = [(_np(lin.weight), _np(lin.bias)) for lin in (model.body[1], model.body[3], model.head)]
    xs = _np(x)

    def forward(inp):
        h1 = np.tanh(inp @ w1.T + b1)
        h2 = np.tanh(h1 @ w2.T + b2)
        return h1, h2, h2 @ w3.T + b3

    h1, h2, y = forward(xs)
    p = _softmax(y)
    e = p - np.eye(3)[labels.numpy()]
    xm = xs + e @ fmat.T  # x' = x + F e
    h1m, h2m, _ = forward(xm)
    m = xs.shape[0]
    expect = {
        "body.1.weight": (h1 - h1m).T @ xm / m, "body.1.bias": (h1 - h1m).mean(0),
        "body.3.weight": (h2 - h2m).T @ h1m / m, "body.3.bias": (h2 - h2m).mean(0),
        "head.weight": e.T @ h2m / m, "head.bias": e.mean(0),
    }
    for name, p_ in model.named_parameters():
        np.testing.assert_allclose(_np(p_.grad), expect[name], rtol=2e-4, atol=2e-7, err_msg=name)
    assert float(loss) == pytest.approx(-np.log(p[np.arange(m), labels.numpy()]).mean(), rel=1e-5)
    np.testing.assert_allclose(_np(tp.last_error), e, atol=1e-6)
    np.testing.assert_allclose(_np(tp.last_modulation), e @ fmat.T, atol=1e-6)
    # the hidden updates are not BP's (no backward pass), but the output layer's has BP's form
    assert np.abs(expect["body.1.weight"]).max() > 1e-3

    # `scale` multiplies every update (the schedule); gradients accumulate like backward()
    grads = {n: p_.grad.clone() for n, p_ in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    tp.backward(x, lambda y: F.cross_entropy(y, labels), scale=0.1)
    for n, p_ in model.named_parameters():
        torch.testing.assert_close(p_.grad, 0.1 * grads[n], rtol=1e-5, atol=1e-9)
    tp.backward(x, lambda y: F.cross_entropy(y, labels), scale=0.9)
    for n, p_ in model.named_parameters():
        torch.testing.assert_close(p_.grad, grads[n], rtol=1e-5, atol=1e-8)


def _conv_same(x, w, b):
    """3x3 'same' cross-correlation, loops: x (M, C, H, W), w (O, C, 3, 3) -> (M, O, H, W)."""
    m, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((m, w.shape[0], h, wd))
    for r in range(h):
        for s in range(wd):
            out[:, :, r, s] = np.einsum("mcij,ocij->mo", xp[:, :, r : r + 3, s : s + 3], w) + b
    return out, xp


def _maxpool2(h):
    m, c, hh, ww = h.shape
    return h.reshape(m, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))


def test_cnn_update_matches_hand_computation():
    torch.manual_seed(4)
    model = CNN((1, 4, 4), 3, channels=[2], activation="tanh")
    x = torch.rand(5, 1, 4, 4)
    labels = torch.tensor([2, 0, 1, 2, 1])
    fmat = np.random.default_rng(2).normal(0.0, 0.5, size=(16, 3))
    tp = TwoPass(model, feedback=StoredFeedback(fmat, normalize=False))
    tp.backward(x, lambda y: F.cross_entropy(y, labels))

    wc, bc = _np(model.blocks[0].conv.weight), _np(model.blocks[0].conv.bias)
    wh, bh = _np(model.head.weight), _np(model.head.bias)
    xs = _np(x)

    def forward(inp):
        z, xp = _conv_same(inp, wc, bc)
        h = np.tanh(z)
        u = _maxpool2(h).reshape(inp.shape[0], -1)
        return h, u, xp, u @ wh.T + bh

    h, _, _, y = forward(xs)
    e = _softmax(y) - np.eye(3)[labels.numpy()]
    xm = xs + (e @ fmat.T).reshape(xs.shape)
    hm, um, xpm, _ = forward(xm)
    d = h - hm  # difference at the activation, before pooling
    m = xs.shape[0]
    dw = np.zeros_like(wc)
    for a in range(3):
        for b in range(3):
            dw[:, :, a, b] = np.einsum("mohw,mchw->oc", d, xpm[:, :, a : a + 4, b : b + 4]) / m
    np.testing.assert_allclose(_np(model.blocks[0].conv.weight.grad), dw, rtol=2e-4, atol=2e-7)
    np.testing.assert_allclose(_np(model.blocks[0].conv.bias.grad), d.sum(axis=(2, 3)).mean(0), rtol=2e-4, atol=2e-7)
    np.testing.assert_allclose(_np(model.head.weight.grad), e.T @ um / m, rtol=2e-4, atol=2e-7)
    np.testing.assert_allclose(_np(model.head.bias.grad), e.mean(0), rtol=1e-5, atol=1e-7)


# ---- learning ------------------------------------------------------------------------------------
def test_loss_decreases_on_separable_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = np.repeat(np.arange(3), 40)
    x = torch.tensor(centers[labels] + 0.3 * rng.standard_normal((120, 2)), dtype=torch.float32)
    y = torch.as_tensor(labels)
    torch.manual_seed(0)
    model = MLP(2, 3, hidden=[16, 16], activation="tanh")
    w1 = model.body[1].weight.detach().clone()
    tp = TwoPass(model, feedback=GaussianFeedback(3, 2, seed=0, scale=0.1))
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for _ in range(150):
        opt.zero_grad(set_to_none=True)
        losses.append(float(tp.backward(x, lambda out: F.cross_entropy(out, y))))
        opt.step()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    assert losses[0] > 1.0 and losses[-1] < 0.15 * losses[0], (losses[0], losses[-1])
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) / 4 and acc >= 0.95
    assert not torch.allclose(model.body[1].weight, w1)  # the hidden layers learned too


def test_updates_align_with_bp_and_hidden_layers_matter():
    """Angle between the two-pass and the BP update per hidden layer (trainer diagnostics): well
    below 90 degrees, i.e. descent directions; and hidden learning beats the head-only control."""
    cfg = make_config("digits", methods=("two-pass", "head-only"), epochs=3, align_every=20)
    data = load_dataset("digits")
    r = train_method(cfg, "two-pass", progress=False, data=data)
    ang = np.asarray(r.alignment["angle_deg"])
    assert r.alignment["segments"] == ["h1 (Tanh)", "h2 (Tanh)"] and ang.shape[1] == 2
    assert np.all(np.nanmean(ang[-3:], axis=0) < 75), ang[-3:]
    head = train_method(cfg, "head-only", progress=False, data=data)
    assert r.metrics["accuracy"] > head.metrics["accuracy"] + 0.02, (r.metrics, head.metrics)


# ---- determinism, checkpoints, settings ----------------------------------------------------------
def test_same_seed_same_weights(tmp_path):
    cfg = _cfg(max_steps=8, methods=("two-pass",))
    train_method(cfg, "two-pass", checkpoint=tmp_path / "a.pt", progress=False)
    train_method(cfg, "two-pass", checkpoint=tmp_path / "b.pt", progress=False)
    train_method(cfg.replace(seed=1), "two-pass", checkpoint=tmp_path / "c.pt", progress=False)
    a, b, c = (load_checkpoint(tmp_path / f"{k}.pt") for k in "abc")
    assert _same_state(a["model"], b["model"]) and not _same_state(a["model"], c["model"])
    assert torch.equal(a["method_state"]["feedback"]["matrix"], b["method_state"]["feedback"]["matrix"])
    assert a["method_state"]["feedback"]["matrix"].shape == (64, 10)  # F: 10 classes -> 64 pixels


class Crash(Exception):
    pass


def test_optical_two_pass_resumes_bit_identical(tmp_path):
    """optical F on the noisy lab-cmos device, SGD with a decay at epoch 1 (step 23): crash at step
    17, resume from the step-14 checkpoint, end exactly as an uninterrupted run."""
    cfg = _cfg(max_steps=30, checkpoint_every=7, methods=("optical-two-pass",), optimizer="sgd", lr=0.05,
               feedback={"n_probes": 8}, two_pass={"lr_decay_epochs": [1], "lr_decay_factor": 0.5})
    ref = train_method(cfg, "optical-two-pass", checkpoint=tmp_path / "ref.pt", progress=False)

    def crash(step, model):
        if step == 17:
            raise Crash()

    ck = tmp_path / "run.pt"
    with pytest.raises(Crash):
        train_method(cfg, "optical-two-pass", checkpoint=ck, progress=False, on_step=crash)
    assert load_checkpoint(ck)["trainer"]["step"] == 14
    res = train_method(cfg, "optical-two-pass", checkpoint=ck, resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "ref.pt"), load_checkpoint(ck)
    assert _same_state(a["model"], b["model"]) and a["method_state"]["steps"] == b["method_state"]["steps"] == 30
    assert res.optical_frames == ref.optical_frames > 0 and res.device_time_s == ref.device_time_s
    assert np.array_equal(res.history["test_accuracy"], ref.history["test_accuracy"])
    # the schedule is applied: the same run without decay ends elsewhere
    plain = train_method(cfg.replace(two_pass={"lr_decay_epochs": []}), "optical-two-pass", checkpoint=tmp_path / "p.pt", progress=False)
    assert plain.steps == 30 and not _same_state(load_checkpoint(tmp_path / "p.pt")["model"], a["model"])


def test_settings_reach_f_and_the_optical_device():
    cfg = _cfg(max_steps=2, methods=("two-pass", "optical-two-pass"), feedback={"opu": "ideal", "n_probes": 4},
               two_pass={"f_scale": 0.05, "encoding": "ternary"})
    assert cfg.two_pass.f_scale == 0.05 and cfg.feedback.scale == 1.0  # DFA's B keeps its own scale
    dig = train_method(cfg, "two-pass", progress=False).describe
    assert dig["feedback"]["kind"] == "gaussian" and dig["feedback"]["scale"] == 0.05
    assert (dig["feedback"]["n_in"], dig["feedback"]["n_out"], dig["error_dim"]) == (10, 64, 10)
    opt = train_method(cfg, "optical-two-pass", progress=False)
    d = opt.describe
    assert d["feedback"]["kind"] == "optical" and d["feedback"]["scale"] == 0.05 and d["feedback"]["device"] == "ideal"
    assert d["feedback"]["quantizer"]["encoding"] == "ternary" and d["two_pass"]["f_scale"] == 0.05
    assert (d["feedback"]["n_in"], d["feedback"]["n_out"]) == (10, 64) and opt.optical_frames > 0
    # the defaults: bit planes for F, whatever DFA's encoding
    d = train_method(_cfg(max_steps=1, methods=("optical-two-pass",), feedback={"n_probes": 4}), "optical-two-pass",
                     progress=False).describe
    assert d["feedback"]["quantizer"]["encoding"] == "bitplanes" and d["feedback"]["scale"] == TwoPassConfig().f_scale


def test_stored_f_is_used():
    """stored-two-pass with the digital run's own F (from its checkpointable state) trains the same."""
    cfg = _cfg(max_steps=5, methods=("two-pass", "stored-two-pass"))
    from dfa.trainer.methods import build_method
    from dfa.trainer.train import build_components

    _, model, task = build_components(cfg)
    method = build_method("two-pass", model, task, cfg)
    assert method.settings is cfg.two_pass  # the method reads the two-pass settings of the config it receives
    fmat = method.provider.matrix.double().numpy()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "f.h5")
        save_feedback_matrix(path, fmat, description="two-pass F")
        scale = float(np.sqrt(np.mean(fmat**2) * 10))  # keeps the matrix as is after normalisation
        cfg2 = cfg.replace(two_pass={"stored_path": path, "f_scale": scale})
        a = train_method(cfg2, "two-pass", progress=False)
        b = train_method(cfg2, "stored-two-pass", progress=False)
        assert b.describe["feedback"]["source"] == path
        np.testing.assert_allclose(a.history["test_loss"], b.history["test_loss"], rtol=1e-5)
        save_feedback_matrix(path, fmat[:20])
        with pytest.raises(ShapeError, match="20 x 10"):
            train_method(cfg2, "stored-two-pass", progress=False)
    with pytest.raises(ConfigError, match="two_pass.stored_path"):
        train_method(cfg, "stored-two-pass", progress=False)


def test_config_validation_and_round_trip():
    c = make_config("digits", optimizer="sgd", two_pass={"f_scale": 0.02, "lr_decay_epochs": [10, 20]})
    assert TrainConfig.from_dict(json.loads(c.to_json())) == c
    assert c.two_pass.lr_decay_epochs == (10, 20)
    assert [c.two_pass.update_factor(e) for e in (0, 9, 10, 19, 20, 50)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert c.differences(c.replace(two_pass={"f_scale": 0.03})) == ["two_pass.f_scale"]
    assert c.replace(lr=0.5).two_pass == c.two_pass  # the settings travel with the config the methods receive
    # old configs without two-pass settings still load
    d = json.loads(c.to_json())
    del d["two_pass"]
    assert TrainConfig.from_dict(d).two_pass == TwoPassConfig()
    with pytest.raises(ConfigError, match="two_pass.f_scale must be > 0"):
        TwoPassConfig(f_scale=0.0)
    with pytest.raises(ConfigError, match="strictly increasing"):
        TwoPassConfig(lr_decay_epochs=[5, 3])
    with pytest.raises(ConfigError, match="lr_decay_factor"):
        TwoPassConfig(lr_decay_factor=1.5)
    with pytest.raises(ConfigError, match="two_pass.encoding"):
        TwoPassConfig(encoding="binary")
    with pytest.raises(ConfigError, match="unknown two_pass setting.*'scale'"):
        TrainConfig.from_dict({"two_pass": {"scale": 1.0}})
    with pytest.raises(ConfigError, match="needs optimizer 'sgd'.*Adam"):
        make_config("digits", two_pass={"lr_decay_epochs": [5]})


def test_unsupported_inputs_are_refused():
    with pytest.raises(ConfigError, match="trains classifiers"):
        train_method(make_config("graph", methods=("two-pass",), max_steps=1), "two-pass", progress=False)
    with pytest.raises(ConfigError, match="needs precision fp32"):
        train_method(_cfg(max_steps=1, methods=("two-pass",), precision="bf16"), "two-pass", progress=False)
    with pytest.raises(ConfigError, match="handles the mlp and cnn models"):
        two_pass_layers(torch.nn.Sequential(torch.nn.Linear(3, 2)))
    model = MLP(4, 3, hidden=[5])
    with pytest.raises(ValidationError, match="floating point"):
        TwoPass(model).probe(torch.ones(2, 4, dtype=torch.long))
    tp = TwoPass(model, feedback=GaussianFeedback(3, 5, seed=0))
    with pytest.raises(ShapeError, match="build F as 3 -> 4"):
        tp.backward(torch.rand(2, 4), lambda y: y.sum())
    tp.feedback = GaussianFeedback(3, 4, seed=0)
    with pytest.raises(ShapeError, match="loss must be a scalar"):
        tp.backward(torch.rand(2, 4), lambda y: y)
    from dfa.errors import TrainingDivergedError

    with pytest.raises(TrainingDivergedError, match="diverged"):
        tp.backward(torch.rand(2, 4), lambda y: y.sum() * float("nan"))
    # the hooks stay idle outside the two passes: plain forward passes and BP work as usual
    out = model(torch.rand(2, 4))
    out.sum().backward()
    assert model.head.weight.grad is not None


# ---- CLI -----------------------------------------------------------------------------------------
FAST = ["--epochs", "1", "--max-steps", "4", "--batch-size", "64", "--model-option", "hidden=[16]", "--n-probes", "4",
        "--no-progress", "--no-plots"]


def test_cli_table_rows_and_options(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--methods", "bp,optical-dfa,two-pass,optical-two-pass", "--f-scale", "0.02", "--f-n-bits", "2",
               *FAST, "--out", str(out)])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    for m in ("bp", "optical-dfa", "two-pass", "optical-two-pass"):
        assert any(line.startswith(m + " ") for line in lines), m
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["two_pass"]["f_scale"] == 0.02 and res["config"]["two_pass"]["n_bits"] == 2
    assert res["two-pass"]["steps"] == 4 and res["optical-two-pass"]["optical_frames"] > 0
    assert res["optical-two-pass"]["optical_device"]["medium"]["n_out"] == 64  # F: 10 -> 64 pixels
    assert res["optical-dfa"]["optical_device"]["medium"]["n_out"] == 16  # B: 10 -> hidden width
    row = next(line for line in lines if line.startswith("optical-two-pass"))
    assert f"{res['optical-two-pass']['optical_frames']:,}" in row
    cfg_file = tmp_path / "tp.toml"
    cfg_file.write_text('optimizer = "sgd"\nlr = 0.05\nmethods = ["two-pass"]\n[two_pass]\nf_scale = 0.04\nlr_decay_epochs = [3]\n')
    assert main(["train", "--config", str(cfg_file), "--lr-decay-factor", "0.5", *FAST, "--json", "--out", str(tmp_path / "r2")]) == 0
    tp = json.loads(capsys.readouterr().out)["config"]["two_pass"]
    assert tp["f_scale"] == 0.04 and tp["lr_decay_epochs"] == [3] and tp["lr_decay_factor"] == 0.5
    assert main(["train", "--methods", "two-pass", "--lr-decay-epochs", "5", *FAST, "--out", str(tmp_path / "x")]) == 2
    assert "needs optimizer 'sgd'" in capsys.readouterr().err
    assert main(["train", "--methods", "two-pass", "--lr-decay-epochs", "5,a", *FAST, "--out", str(tmp_path / "y")]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


# ---- acceptance ----------------------------------------------------------------------------------
def test_acceptance_digits_two_pass_digital_and_optical():
    """The default digits run (MLP 64-256-256-10, Adam, 30 epochs) with two-pass: digital F >= 90 %
    test accuracy, optical F on the lab-cmos preset within 3 points of it."""
    cfg = make_config("digits", methods=("two-pass", "optical-two-pass"), align_every=0)
    assert cfg.feedback.opu == "lab-cmos"
    data = load_dataset("digits")
    acc = {m: train_method(cfg, m, progress=False, data=data).metrics["accuracy"] for m in cfg.methods}
    assert acc["two-pass"] >= 0.90, acc
    assert acc["optical-two-pass"] >= acc["two-pass"] - 0.03, acc


def test_the_modulated_pass_holds_the_dropout_masks_of_the_first():
    """Inside ``hold_dropout_masks`` (what the two-pass rule wraps its second pass in) every
    KeyedDropout reuses its last mask; outside, each call draws a new one; the hold is released."""
    import torch
    from torch import nn

    from dfa.mechanism.two_pass import hold_dropout_masks
    from dfa.zoo import models
    from dfa.zoo.models import KeyedDropout, set_dropout_key

    assert models.hold_dropout_masks is hold_dropout_masks  # one implementation, re-exported by the zoo
    net = nn.Sequential(nn.Linear(8, 64), KeyedDropout(0.5), nn.Linear(64, 64), KeyedDropout(0.5)).train()
    set_dropout_key(net, seed=1, step=0)
    x = torch.ones(4, 8)
    first = net(x)
    with hold_dropout_masks(net):
        assert torch.equal(net(x), first) and torch.equal(net(x), first)
    assert not torch.equal(net(x), first)
    assert not any(m.hold for m in net.modules() if isinstance(m, KeyedDropout))
