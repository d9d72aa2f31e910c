"""The DFA mechanism: BP equivalence, B_l e at every hidden point for every model, the head's
true gradient, and clear errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dfa.errors import TrainingDivergedError
from dfa.mechanism.dfa import DFA
from dfa.mechanism.feedback import GaussianFeedback, StoredFeedback
from dfa.zoo.data import load_dataset
from dfa.zoo.models import MLP, build_model
from photonics.errors import ConfigError, ShapeError, ValidationError


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def test_dfa_equals_bp_with_transposed_output_weights():
    torch.manual_seed(0)
    model = MLP(5, 3, hidden=[7], activation="tanh").double()
    x = torch.randn(16, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    F.cross_entropy(model(x), y).backward()
    bp = _grads(model)
    model.zero_grad()
    w2 = model.head.weight.detach()  # (3, 7): B = W2^T maps the error (3) to the hidden layer (7)
    dfa = DFA(model, feedback=StoredFeedback(w2.T.numpy(), normalize=False))
    with dfa.recording():
        out = model(x)
    dfa.backward(F.cross_entropy(out, y), out)
    got = _grads(model)
    assert set(got) == set(bp)
    for n in bp:  # float32 feedback matrix: agreement to float32 precision
        assert torch.allclose(got[n], bp[n], rtol=1e-6, atol=1e-7 * bp[n].abs().max().item()), n


def test_dfa_mlp_update_by_hand():
    """dW1 = ((B_1 e) * tanh'(a_1))^T x and dW2 = e^T h_2 (true gradient for the head)."""
    torch.manual_seed(1)
    model = MLP(6, 4, hidden=[8, 5]).double()
    x = torch.randn(10, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (10,))
    fb = GaussianFeedback(4, 13, seed=2)
    dfa = DFA(model, feedback=fb)
    with dfa.recording():
        out = model(x)
    dfa.backward(F.cross_entropy(out, y), out)
    lin1, lin2 = model.body[1], model.body[3]
    with torch.no_grad():
        a1 = x @ lin1.weight.T + lin1.bias
        h1 = torch.tanh(a1)
        a2 = h1 @ lin2.weight.T + lin2.bias
        h2 = torch.tanh(a2)
        logits = h2 @ model.head.weight.T + model.head.bias
        e = (torch.softmax(logits, 1) - F.one_hot(y, 4)) / 10
        b = fb.matrix.double()
        d1 = (e @ b[:8].T) * (1 - h1**2)
        d2 = (e @ b[8:].T) * (1 - h2**2)
    assert torch.allclose(lin1.weight.grad, d1.T @ x, atol=1e-12)
    assert torch.allclose(lin1.bias.grad, d1.sum(0), atol=1e-12)
    assert torch.allclose(lin2.weight.grad, d2.T @ h1, atol=1e-12)
    assert torch.allclose(model.head.weight.grad, e.T @ h2, atol=1e-12)
    assert torch.allclose(dfa.last_error, e, atol=1e-12)


def _data(name):
    if name == "chars":
        return load_dataset("chars", max_chars=3000, min_count=1)
    if name == "graph":
        return load_dataset("graph", n_nodes=200, n_classes=3, n_test=50)
    return load_dataset("digits")


def _batch(data, model_name):
    g = torch.Generator().manual_seed(0)
    if data.task == "language-model":
        x = torch.as_tensor(data.train_ids[:3 * 16]).reshape(3, 16)
        y = torch.as_tensor(data.train_ids[1:3 * 16 + 1]).reshape(3, 16)
        return x, lambda out: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    if data.task == "node-classification":
        x = torch.as_tensor(data.features).double()
        m = torch.as_tensor(data.train_mask)
        y = torch.as_tensor(data.labels)
        return x, lambda out: F.cross_entropy(out[m], y[m])
    idx = torch.randperm(data.x_train.shape[0], generator=g)[:12]
    x = torch.as_tensor(data.x_train)[idx].double()
    y = torch.as_tensor(data.y_train)[idx]
    return x, lambda out: F.cross_entropy(out, y)


@pytest.mark.parametrize(
    "model_name,data_name,options",
    [
        ("mlp", "digits", {"hidden": [32, 16]}),
        ("cnn", "digits", {"channels": [4, 6]}),
        ("transformer", "chars", {"d_model": 16, "n_layers": 3, "n_heads": 2, "context": 16}),
        ("gcn", "graph", {"hidden": [12, 8]}),
    ],
)
def test_every_hidden_segment_gets_its_slice_of_B_e(model_name, data_name, options):
    """For each model: segment l's gradients equal autograd's response to dL/dh_l := B_l e, with e
    computed independently on a plain (uncut) forward pass; the head gets the true gradient."""
    data = _data(data_name)
    torch.manual_seed(3)
    model = build_model(model_name, data, **options).double()
    x, loss_fn = _batch(data, model_name)
    dfa = DFA(model)
    n_err, sizes = dfa.probe(lambda: model(x))
    assert len(sizes) == len(model.feedback_points())
    fb = GaussianFeedback(n_err, sum(sizes), seed=4)
    dfa.feedback = fb
    with dfa.recording():
        out = model(x)
    dfa.backward(loss_fn(out), out)
    got = _grads(model)
    # reference: uncut graph, true error e, then inject B_l e at each point by autograd
    model.zero_grad()
    taps = []
    hooks = [p.register_forward_hook(lambda m, i, o: taps.append(o)) for p in dfa.points]
    out = model(x)
    for h in hooks:
        h.remove()
    loss = loss_fn(out)
    (e,) = torch.autograd.grad(loss, out, retain_graph=True)
    be = e.reshape(-1, n_err) @ fb.matrix.double().T
    chunks = torch.split(be, sizes, dim=1)
    groups = DFA(model).segment_parameters(lambda: model(x))
    assert len(groups) == len(sizes) + 1 and all(groups)
    for l, (h, c) in enumerate(zip(taps, chunks)):
        params = [p for _, p in groups[l]]
        ref = torch.autograd.grad(h, params, grad_outputs=c.reshape(h.shape), retain_graph=True)
        for (name, _), r in zip(groups[l], ref):
            assert torch.allclose(got[name], r, rtol=1e-9, atol=1e-12), (model_name, l, name)
    head = [p for _, p in groups[-1]]
    true = torch.autograd.grad(loss, head)
    for (name, _), r in zip(groups[-1], true):
        assert torch.allclose(got[name], r, rtol=1e-9, atol=1e-12), (model_name, "head", name)


def test_shape_mismatch_between_feedback_and_model():
    model = MLP(64, 10, hidden=[32, 16])
    dfa = DFA(model)
    dfa.probe(lambda: model(torch.zeros(2, 64)))
    dfa.feedback = GaussianFeedback(10, 40, seed=0)
    with pytest.raises(ShapeError, match=r"shape mismatch.*projects 10 -> 40.*widths \[32, 16\] \(total 48\)"):
        dfa.check_feedback()
    dfa.feedback = GaussianFeedback(10, 48, seed=0)
    with dfa.recording():
        out = model(torch.zeros(2, 64))
    dfa.backward(F.cross_entropy(out, torch.zeros(2, dtype=torch.long)), out)


def test_nan_loss_and_misuse_are_clear():
    model = MLP(4, 2, hidden=[3])
    dfa = DFA(model, feedback=GaussianFeedback(2, 3, seed=0))
    with dfa.recording():
        out = model(torch.zeros(1, 4))
    with pytest.raises(TrainingDivergedError, match="diverged"):
        dfa.backward(out.sum() * float("nan"), out)
    out = model(torch.zeros(1, 4))
    with pytest.raises(ValidationError, match="inside DFA.recording"):
        dfa.backward(out.sum(), out)

    class NoPoints(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValidationError, match="feedback_points"):
        DFA(NoPoints())
    with pytest.raises(ConfigError, match="does not fit"):
        build_model("gcn", load_dataset("digits"))
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        build_model("resnet", load_dataset("digits"))


def test_point_output_must_share_the_error_leading_axes():
    class TransposedTanh(nn.Module):
        def forward(self, x):
            return torch.tanh(x).T  # (features, batch): not the error's layout

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 6)
            self.act = TransposedTanh()
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.act(self.lin(x)).T)

        def feedback_points(self):
            return [self.act]

    m = Bad()
    with pytest.raises(ShapeError, match="must start with the error's leading axes"):
        DFA(m).probe(lambda: m(torch.zeros(3, 4)))
