"""What the paper configs needed from the trainer: learning-rate schedules, reproducible dropout, activity
normalisation, weight mirroring of the two-pass F, the MNIST-1D CNN and GRU, thread-count independence."""

import hashlib
import math

import numpy as np
import pytest
import torch
from torch import nn

from dfa.cli import main
from dfa.mechanism.feedback import FeedbackProvider
from dfa.mechanism.two_pass import MirroredF, TwoPass
from dfa.trainer.config import make_config
from dfa.trainer.train import Trainer
from dfa.zoo.data import load_dataset
from dfa.zoo.models import MLP, CNN1d, GRUClassifier, KeyedDropout, RMSNormalize, set_dropout_key
from photonics.errors import ConfigError


def _digest(model) -> str:
    return hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in model.parameters())).hexdigest()


# ---- learning-rate schedules ----------------------------------------------------------------------------
def test_lr_schedules_closed_forms_and_the_optimizer_follows():
    step = make_config("digits", lr=0.1, lr_schedule="step", lr_milestones=[2, 4], lr_gamma=0.5)
    assert [step.lr_at(0, e, 100) for e in (0, 1, 2, 3, 4, 9)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    cos = make_config("digits", lr=0.1, lr_schedule="cosine", lr_min=0.01)
    for t in (0, 25, 50, 100):
        assert cos.lr_at(t, 0, 100) == pytest.approx(0.01 + 0.5 * 0.09 * (1 + math.cos(math.pi * t / 100)))
    with pytest.raises(ConfigError, match="lr_milestones need lr_schedule 'step'"):
        make_config("digits", lr_milestones=[3])
    with pytest.raises(ConfigError, match="strictly increasing"):
        make_config("digits", lr_schedule="step", lr_milestones=[3, 3])
    cfg = make_config("digits", epochs=2, methods=("bp",), lr=0.01, lr_schedule="cosine", model_options={"hidden": [16]},
                      batch_size=256)
    seen = []
    t = Trainer(cfg, "bp", progress=False, on_step=lambda s, m: seen.append(t.optimizer.param_groups[0]["lr"]))
    t.run()
    assert seen == pytest.approx([cfg.lr_at(s, s // t.task.steps_per_epoch, t.total_steps) for s in range(t.total_steps)])


# ---- dropout --------------------------------------------------------------------------------------------
def test_keyed_dropout_statistics_determinism_and_eval():
    d = KeyedDropout(0.3)
    x = torch.ones(400, 250)
    d.key = 11
    y = d(x)
    kept = float((y > 0).float().mean())
    n = x.numel()
    assert abs(kept - 0.7) < 5 * math.sqrt(0.21 / n)  # binomial spread of the kept fraction
    assert torch.allclose(y[y > 0], torch.full_like(y[y > 0], 1 / 0.7))
    m = nn.Sequential(KeyedDropout(0.3))
    set_dropout_key(m, seed=5, step=7)
    a = m(x)
    set_dropout_key(m, seed=5, step=7)
    assert torch.equal(a, m(x))  # same key, same mask
    assert not torch.equal(a, m(x))  # the next call of the step draws a new mask
    set_dropout_key(m, seed=5, step=8)
    assert not torch.equal(a, m(x))
    m.eval()
    assert torch.equal(m(x), x)


def test_dropout_run_resumes_bit_identically(tmp_path):
    cfg = make_config("digits", epochs=2, methods=("dfa",), batch_size=128, checkpoint_every=3,
                      model_options={"hidden": [32, 32], "dropout": 0.2})
    ref = Trainer(cfg, "dfa", progress=False)
    ref.run()

    class Crash(Exception):
        pass

    def crash(step, model):
        if step == 5:
            raise Crash

    ck = tmp_path / "dfa.pt"
    with pytest.raises(Crash):
        Trainer(cfg, "dfa", checkpoint=ck, progress=False, on_step=crash).run()
    resumed = Trainer(cfg, "dfa", checkpoint=ck, resume=True, progress=False)
    resumed.run()
    assert _digest(resumed.model) == _digest(ref.model)
    assert resumed.state.history["test_accuracy"] == ref.state.history["test_accuracy"]


class _ZeroF(FeedbackProvider):
    kind = "zero"

    def _project(self, error):
        return torch.zeros(error.shape[0], self.n_out, dtype=error.dtype)


def test_two_pass_drops_the_same_units_in_both_passes():
    torch.manual_seed(0)
    model = MLP(6, 3, hidden=[20, 20], activation="relu", dropout=0.5)
    x = torch.randn(8, 6)
    y = torch.randint(0, 3, (8,))
    tp = TwoPass(model)
    tp.probe(x)
    tp.feedback = _ZeroF(3, 6)
    set_dropout_key(model, seed=0, step=0)
    tp.backward(x, lambda out: nn.functional.cross_entropy(out, y))
    # F e = 0: with the masks held the two passes are identical, so no hidden layer gets an update (the second
    # layer's input is the first layer's dropped-out output: a fresh mask would make its activations differ)
    hidden = [m for m in model.body if isinstance(m, nn.Linear)]
    assert len(hidden) == 2 and all(torch.count_nonzero(m.weight.grad) == 0 for m in hidden)
    assert torch.count_nonzero(model.head.weight.grad) > 0


def test_rms_normalize():
    h = torch.randn(5, 7) * torch.arange(1, 6)[:, None]
    u = RMSNormalize()(h)
    np.testing.assert_allclose(u.pow(2).mean(dim=1).numpy(), 1.0, rtol=1e-5)


# ---- weight mirroring --------------------------------------------------------------------------------------
def test_mirrored_f_tracks_the_transposed_head_and_keeps_its_scale():
    torch.manual_seed(1)
    hidden, head = nn.Linear(12, 32), nn.Linear(32, 10)
    f = MirroredF([hidden, head], [nn.ReLU()], seed=3, scale=0.02, lr=0.1, decay=0.5, noise=0.1, batch=2000)
    for _ in range(20):
        f.mirror()
    m, w = f.matrices()[1], head.weight.detach()
    cos = float((m * w.T).sum() / (m.norm() * w.norm()))
    # E[x^T (W x + b)] / B = s^2 W^T for centred probes; B = 2000 probes of 32 values: relative error ~ sqrt(32 / 2000)
    assert cos > 0.95
    assert float(torch.linalg.norm(f.matrix())) == pytest.approx(0.02 * math.sqrt(12), rel=1e-5)
    e = torch.randn(4, 10)
    torch.testing.assert_close(f.project(e), e @ f.matrix().T)
    g = MirroredF([hidden, head], [nn.ReLU()], seed=3, scale=0.02, lr=0.1, decay=0.5, noise=0.1, batch=2000)
    g.load_state_dict(f.state_dict())
    f.mirror()
    g.mirror()
    torch.testing.assert_close(f.matrix(), g.matrix(), rtol=0, atol=0)  # state + counter-based probes: exact replay


def test_mirroring_is_refused_for_an_optical_f():
    cfg = make_config("digits", epochs=1, methods=("optical-two-pass",), two_pass={"mirror_lr": 0.1})
    with pytest.raises(ConfigError, match="digital two-pass method only"):
        Trainer(cfg, "optical-two-pass", progress=False)


# ---- the MNIST-1D networks, against independent torch implementations of Greydanus' reference models -------
def test_cnn1d_gru_and_residual_mlp_match_the_reference_networks():
    torch.manual_seed(0)
    x = torch.randn(6, 40)
    cnn = CNN1d((40,), 10)
    c1, c2, c3 = (nn.Conv1d(1, 25, 5, 2, 1), nn.Conv1d(25, 25, 3, 2, 1), nn.Conv1d(25, 25, 3, 2, 1))
    lin = nn.Linear(125, 10)
    for a, b in zip([c1, c2, c3, lin], list(cnn.convs) + [cnn.head]):
        a.load_state_dict(b.state_dict())
    h = c3(c2(c1(x.view(-1, 1, 40)).relu()).relu()).relu()
    torch.testing.assert_close(cnn(x), lin(h.view(6, -1)))
    assert sum(p.numel() for p in cnn.parameters()) == (25 * 5 + 25) + 2 * (25 * 25 * 3 + 25) + (125 * 10 + 10)

    gru = GRUClassifier((40,), 10)
    ref = nn.GRU(1, 6, batch_first=True, bidirectional=True)
    ref.load_state_dict(gru.encoder.gru.state_dict())
    out, _ = ref(x.view(6, 40, 1), torch.zeros(2, 6, 6))
    torch.testing.assert_close(gru(x), gru.head(out.reshape(6, -1)))
    assert sum(p.numel() for p in gru.parameters()) == 2 * 3 * (6 * 1 + 6 * 6 + 2 * 6) + 480 * 10 + 10

    mlp = MLP(40, 10, hidden=[100, 100], activation="relu", residual=True)
    l1, l2, l3 = mlp.body[1], mlp.body[3], mlp.head
    h1 = l1(x).relu()
    torch.testing.assert_close(mlp(x), l3(h1 + l2(h1).relu()))


def test_dfa_trains_the_gru_on_real_mnist1d():
    pytest.importorskip("mnist1d")
    data = load_dataset("mnist1d-real", num_samples=1000)
    cfg = make_config("mnist1d-real", model="gru", methods=("dfa",), epochs=3, dataset_options={"num_samples": 1000})
    r = Trainer(cfg, "dfa", progress=False, data=data).run()
    acc = r.history["test_accuracy"]
    # chance is 10 %: 200 test samples give a binomial sd of 2.1 points
    assert acc[-1] > 0.10 + 5 * math.sqrt(0.09 / 200)


# ---- thread count ---------------------------------------------------------------------------------------------
def test_results_do_not_depend_on_the_simulator_threads():
    from dfa.trainer.threads import set_threads

    cfg = make_config("digits", epochs=1, max_steps=6, methods=("optical-dfa",), batch_size=64, model_options={"hidden": [32]})
    digests = []
    try:
        for n in (1, 2):
            set_threads(n, torch_threads=1)
            t = Trainer(cfg, "optical-dfa", progress=False)
            t.run()
            digests.append(_digest(t.model))
    finally:
        set_threads(1)
    assert digests[0] == digests[1]


def test_train_cli_missing_data_and_schedule_flags(tmp_path, capsys):
    assert main(["train", "--dataset", "cifar10", "--no-progress", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data_batch_1.bin" in err[0] and "nothing is downloaded" in err[0]
    rc = main(["train", "--methods", "bp", "--epochs", "2", "--lr-schedule", "step", "--lr-milestones", "1", "--lr-gamma", "0.5",
               "--model-option", "hidden=[16]", "--no-progress", "--no-plots", "--out", str(tmp_path / "s"), "--threads", "2"])
    assert rc == 0
    import json

    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg["lr_schedule"] == "step" and cfg["lr_milestones"] == [1] and cfg["lr_gamma"] == 0.5
