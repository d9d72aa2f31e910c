"""Models trained by BP and DFA alike, behind a registry.

Every model is a plain ``nn.Module`` whose ``forward(x)`` returns the output the loss is
computed on, and whose ``feedback_points()`` lists the modules whose outputs are the hidden
representations that receive DFA feedback (see :mod:`dfa.mechanism.dfa`). BP ignores the points.
No model uses batch statistics. Dropout (MLP and GCN option ``dropout``, off by default) is
:class:`KeyedDropout`: its masks are a pure function of a key the trainer sets before every
step (:func:`set_dropout_key`: seed, step, module) and of the call number within the step, so a
run replays bit for bit after a resume, every method sees the same masks for the same step, and
the two forward passes of the two-pass rule can share one mask (``hold``). Evaluation runs in
``model.eval()`` (no dropout). The same seed gives the same weights whatever the method.

==============  ================================  =============================================
name            data                              feedback points
==============  ================================  =============================================
``mlp``         classification (any input shape)  each hidden activation
``cnn``         classification, images (C, H, W)  each conv block (conv, activation, pool)
``transformer`` language model (token ids)        each Transformer block (residual stream)
``gcn``         node classification (one graph)   each hidden graph convolution's activation
``cnn1d``       classification, 1-D sequences     each conv1d activation (Greydanus' MNIST-1D CNN)
``gru``         classification, 1-D sequences     the GRU's output sequence (Greydanus' MNIST-1D GRU)
``gpt`` ``vit`` ``mixer`` ``denoiser``: see :mod:`dfa.zoo.models_large`
==============  ================================  =============================================

New models plug in with :func:`register_model`; :func:`build_model` builds one for a data set.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfa.mechanism.two_pass import hold_dropout_masks  # noqa: F401  (the mechanism's, re-exported here)
from photonics.errors import ConfigError
from photonics.rng import derive_seed
from photonics.validation import check_choice, check_int, check_real

__all__ = [
    "MLP",
    "CNN",
    "CNN1d",
    "GRUClassifier",
    "KeyedDropout",
    "set_dropout_key",
    "hold_dropout_masks",
    "CharTransformer",
    "GCN",
    "register_model",
    "build_model",
    "model_names",
    "ACTIVATIONS",
    "n_parameters",
]

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


def _activation(name: str) -> nn.Module:
    check_choice(name, "activation", tuple(ACTIVATIONS))
    return ACTIVATIONS[name]()


class KeyedDropout(nn.Module):
    """Inverted dropout with reproducible masks: mask = (u >= p) / (1 - p), u ~ U[0, 1).

    u comes from a counter-based stream of (key, call number): ``key`` is set by
    :func:`set_dropout_key` (the trainer sets it before each step), the call number counts the
    calls since then. While ``hold`` is True the last mask is reused (the second, modulated pass
    of the two-pass rule sees the same units dropped as the first). Identity in ``eval()`` mode
    or with p = 0.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = check_real(p, "dropout", low=0.0, high=1.0, high_inclusive=False)
        self.key = 0
        self.calls = 0
        self.hold = False
        self._mask: torch.Tensor | None = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.hold and self._mask is not None and self._mask.shape == x.shape:
            mask = self._mask
        else:
            g = torch.Generator(device="cpu")
            g.manual_seed(derive_seed(self.key, "call", str(self.calls)))
            keep = torch.rand(tuple(x.shape), generator=g) >= self.p
            mask = keep.to(device=x.device, dtype=x.dtype) / (1.0 - self.p)
            self.calls += 1
            self._mask = mask
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


def set_dropout_key(model: nn.Module, seed: int, step: int) -> None:
    """Key every :class:`KeyedDropout` of ``model`` to (seed, step, its position); restart its call count."""
    for i, m in enumerate(mm for mm in model.modules() if isinstance(mm, KeyedDropout)):
        m.key = derive_seed(int(seed), "dropout", str(int(step)), str(i))
        m.calls = 0
        m.hold = False
        m._mask = None



class RMSNormalize(nn.Module):
    """Divide each sample's features by their root mean square: u = h / sqrt(mean_j h_j^2 + eps).

    The "activity normalisation" of forward-only training (Srinivasan et al. 2023 divide each
    layer's activity by its norm; dividing by the RMS, i.e. the norm / sqrt(width), keeps the
    entries O(1)). No parameters, no batch statistics.
    """

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, h):
        return h * torch.rsqrt(h.pow(2).mean(dim=tuple(range(1, h.ndim)), keepdim=True) + self.eps)


def _widths(hidden, name="hidden") -> list[int]:
    if isinstance(hidden, int):
        hidden = [hidden]
    if not isinstance(hidden, (list, tuple)) or not hidden:
        raise ConfigError(f"{name} must be a non-empty list of layer widths (got {hidden!r})")
    return [check_int(h, f"{name} width", low=1) for h in hidden]


class MLP(nn.Module):
    """Fully connected network: flatten -> [Linear -> activation (-> dropout) (-> normalise)] x L -> Linear.

    Feedback points: the L activation modules (h_l = f(W_l u_{l-1} + b_l)); u_l is h_l after the
    optional dropout and normalisation. With ``residual``, a hidden layer whose width equals its
    input's adds its input: u_l = u_{l-1} + P(h_l) (Greydanus' MNIST-1D MLP has one such skip).

    Parameters
    ----------
    in_features, n_out : int
    hidden : list of int
        Hidden widths.
    activation : str
        ``tanh``, ``relu`` or ``gelu``.
    dropout : float
        Dropout probability after each hidden activation (:class:`KeyedDropout`), in [0, 1).
    normalize : bool
        Divide each hidden layer's output by its RMS (:class:`RMSNormalize`).
    residual : bool
        Skip connections between hidden layers of equal width.
    """

    def __init__(self, in_features: int, n_out: int, hidden: Sequence[int] = (256, 256), activation: str = "tanh",
                 dropout: float = 0.0, normalize: bool = False, residual: bool = False):
        super().__init__()
        widths = _widths(hidden)
        dropout = check_real(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        for name, v in (("normalize", normalize), ("residual", residual)):
            if not isinstance(v, bool):
                raise ConfigError(f"{name} must be true or false (got {v!r})")
        self.residual = residual
        layers: list[nn.Module] = [nn.Flatten()]
        self.acts = nn.ModuleList()
        prev = check_int(in_features, "in_features", low=1)
        for w in widths:
            act = _activation(activation)
            layers += [nn.Linear(prev, w), act]
            if dropout > 0:
                layers.append(KeyedDropout(dropout))
            if normalize:
                layers.append(RMSNormalize())
            self.acts.append(act)
            prev = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        if not self.residual:
            return self.head(self.body(x))
        mods = list(self.body)
        u = mods[0](x)
        i = 1
        while i < len(mods):
            lin = mods[i]
            h = lin(u)
            i += 1
            while i < len(mods) and not isinstance(mods[i], nn.Linear):
                h = mods[i](h)
                i += 1
            u = u + h if h.shape == u.shape else h
        return self.head(u)

    def feedback_points(self) -> list[nn.Module]:
        return list(self.acts)

    def two_pass_layers(self) -> tuple[list[tuple[nn.Module, nn.Module]], nn.Module]:
        """([(Linear, activation), ...], head) for the two-pass rule (:mod:`dfa.mechanism.two_pass`)."""
        mods = list(self.body)
        return [(m, mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, nn.Linear)], self.head


class _ConvBlock(nn.Module):
    def __init__(self, c_in, c_out, activation, pool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.act = _activation(activation)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x):
        return self.pool(self.act(self.conv(x)))


class CNN(nn.Module):
    """Convolutional network: [conv 3x3 -> activation -> max-pool 2] x L -> flatten -> Linear.

    Feedback points: the L conv blocks (outputs (batch, C_l, H_l, W_l), n_l = C_l H_l W_l).
    Pooling stops once the feature map would fall below 2 x 2.
    """

    def __init__(self, input_shape: Sequence[int], n_out: int, channels: Sequence[int] = (16, 32), activation: str = "tanh"):
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError(f"the cnn model needs image inputs (channels, height, width) (got input shape {tuple(input_shape)})")
        c, h, w = (int(s) for s in input_shape)
        blocks = []
        for ch in _widths(channels, "channels"):
            pool = h >= 4 and w >= 4
            blocks.append(_ConvBlock(c, ch, activation, pool))
            c = ch
            if pool:
                h, w = h // 2, w // 2
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c * h * w, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x.flatten(1))

    def feedback_points(self) -> list[nn.Module]:
        return list(self.blocks)

    def two_pass_layers(self) -> tuple[list[tuple[nn.Module, nn.Module]], nn.Module]:
        """([(conv, activation), ...], head) for the two-pass rule; the pooling is the rule's P_l."""
        return [(b.conv, b.act) for b in self.blocks], self.head


def _sequence_length(input_shape: Sequence[int], name: str) -> tuple[int, int]:
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 1:
        return 1, shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ConfigError(f"the {name} model needs 1-D sequences, input shape (length,) or (channels, length) (got {shape})")


class CNN1d(nn.Module):
    """1-D convolutional network: [conv1d (kernel k_l, stride 2, padding 1) -> activation] x L -> flatten -> Linear.

    The default is the CNN of Greydanus' MNIST-1D benchmark: 3 layers of 25 channels, kernels
    5, 3, 3, ReLU, 40 points -> 19 -> 10 -> 5, then Linear(125 -> classes). Feedback points:
    the activations (outputs (batch, C_l, L_l)).
    """

    def __init__(self, input_shape: Sequence[int], n_out: int, channels: Sequence[int] = (25, 25, 25),
                 kernels: Sequence[int] = (5, 3, 3), activation: str = "relu"):
        super().__init__()
        c, n = _sequence_length(input_shape, "cnn1d")
        chans, ks = _widths(channels, "channels"), _widths(kernels, "kernels")
        if len(chans) != len(ks):
            raise ConfigError(f"cnn1d: channels {chans} and kernels {ks} must have the same length")
        self.in_channels = c
        self.convs = nn.ModuleList()
        self.acts = nn.ModuleList()
        for ch, k in zip(chans, ks):
            self.convs.append(nn.Conv1d(c, ch, k, stride=2, padding=1))
            self.acts.append(_activation(activation))
            n = (n + 2 - k) // 2 + 1
            if n < 1:
                raise ConfigError(f"cnn1d: the sequence is too short for {len(chans)} stride-2 layers")
            c = ch
        self.head = nn.Linear(c * n, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        h = x.reshape(x.shape[0], self.in_channels, -1)
        for conv, act in zip(self.convs, self.acts):
            h = act(conv(h))
        return self.head(h.flatten(1))

    def feedback_points(self) -> list[nn.Module]:
        return list(self.acts)

    def two_pass_layers(self) -> tuple[list[tuple[nn.Module, nn.Module]], nn.Module]:
        """([(conv1d, activation), ...], head) for the two-pass rule."""
        return list(zip(self.convs, self.acts)), self.head


class _GRUEncoder(nn.Module):
    """nn.GRU returning only its output sequence (batch, T, directions x hidden) (a feedback point needs one tensor)."""

    def __init__(self, n_in: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.gru = nn.GRU(input_size=n_in, hidden_size=hidden, batch_first=True, bidirectional=bidirectional)

    def forward(self, x):
        return self.gru(x)[0]


class GRUClassifier(nn.Module):
    """GRU over a 1-D sequence, every time step's output read by a linear classifier.

    x (batch, T) -> GRU (input 1 value per step, ``hidden`` units, optionally bidirectional) ->
    outputs (batch, T, d hidden) flattened -> Linear(classes). The default is the GRU of
    Greydanus' MNIST-1D benchmark (6 units, bidirectional, zero initial state). Feedback point:
    the GRU's output sequence; inside the GRU the DFA signal is propagated through time by
    autograd (the recurrence is one DFA segment).
    """

    def __init__(self, input_shape: Sequence[int], n_out: int, hidden: int = 6, bidirectional: bool = True):
        super().__init__()
        c, n = _sequence_length(input_shape, "gru")
        if not isinstance(bidirectional, bool):
            raise ConfigError(f"bidirectional must be true or false (got {bidirectional!r})")
        self.in_channels = c
        self.encoder = _GRUEncoder(c, check_int(hidden, "hidden", low=1), bidirectional)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden * n, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        seq = x.reshape(x.shape[0], self.in_channels, -1).transpose(1, 2)  # (batch, T, channels)
        return self.head(self.encoder(seq).flatten(1))

    def feedback_points(self) -> list[nn.Module]:
        return [self.encoder]


class _CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        shape = (b, t, self.n_heads, d // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class _Block(nn.Module):
    """Pre-norm Transformer block: x + attn(LN(x)), then + MLP(LN(x))."""

    def __init__(self, d_model, n_heads, mlp_ratio=4):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = _CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """Decoder-only (causal) Transformer for character language modelling.

    token + learned position embedding -> L pre-norm blocks -> LayerNorm -> Linear(vocab).
    Feedback points: the L blocks (residual stream (batch, seq, d_model)); the embeddings
    belong to the first block's segment, the final LayerNorm and the unembedding are the head
    (true gradient).
    """

    def __init__(self, vocab_size: int, d_model: int = 64, n_layers: int = 2, n_heads: int = 4, context: int = 64):
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size", low=2)
        d_model = check_int(d_model, "d_model", low=1)
        n_heads = check_int(n_heads, "n_heads", low=1)
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.context = check_int(context, "context", low=1)
        self.tok = nn.Embedding(self.vocab_size, d_model)
        self.pos = nn.Embedding(self.context, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(check_int(n_layers, "n_layers", low=1)))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, self.vocab_size)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def forward(self, idx):
        t = idx.shape[1]
        if t > self.context:
            raise ConfigError(f"sequence length {t} exceeds the model context {self.context}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))

    def feedback_points(self) -> list[nn.Module]:
        return list(self.blocks)


class _GraphConv(nn.Module):
    """H' = A_hat H W + b (Kipf & Welling), A_hat sparse (n_nodes, n_nodes)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)

    def forward(self, a_hat, h):
        return torch.sparse.mm(a_hat, h @ self.lin.weight.T) + self.lin.bias


class GCN(nn.Module):
    """Graph convolutional network on one fixed graph.

    h_1 = f(A_hat X W_1), ..., logits = A_hat h_L W_out, with A_hat = D^-1/2 (A + I) D^-1/2
    (a non-persistent buffer built from the data). ``forward(x)`` takes the node features
    (n_nodes, n_features) and returns logits for every node. Feedback points: the hidden
    activations ((n_nodes, width) each). ``dropout`` > 0 drops input features and hidden units
    (Kipf & Welling use 0.5).
    """

    def __init__(self, adjacency: tuple[np.ndarray, np.ndarray], n_nodes: int, in_features: int, n_out: int,
                 hidden: Sequence[int] = (64,), activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        dropout = check_real(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        # Kipf & Welling: dropout on the input features and on each hidden layer's output
        self.drops = nn.ModuleList(KeyedDropout(dropout) for _ in range(len(_widths(hidden)) + 1)) if dropout > 0 else None
        idx, val = adjacency
        a = torch.sparse_coo_tensor(torch.as_tensor(idx), torch.as_tensor(val), (n_nodes, n_nodes), check_invariants=True).coalesce()
        self.register_buffer("a_hat", a, persistent=False)
        widths = _widths(hidden)
        self.convs = nn.ModuleList()
        self.acts = nn.ModuleList()
        prev = check_int(in_features, "in_features", low=1)
        for w in widths:
            self.convs.append(_GraphConv(prev, w))
            self.acts.append(_activation(activation))
            prev = w
        self.out = _GraphConv(prev, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        h = x
        for i, (conv, act) in enumerate(zip(self.convs, self.acts)):
            if self.drops is not None:
                h = self.drops[i](h)
            h = act(conv(self.a_hat, h))
        if self.drops is not None:
            h = self.drops[-1](h)
        return self.out(self.a_hat, h)

    def feedback_points(self) -> list[nn.Module]:
        return list(self.acts)


# ---- registry ----------------------------------------------------------------------------------
_MODELS: dict[str, tuple[Callable, tuple[str, ...]]] = {}


def register_model(name: str, tasks: tuple[str, ...]):
    """Decorator: ``builder(data, **options) -> nn.Module`` for data of the given ``tasks``."""

    def deco(builder):
        _MODELS[name] = (builder, tuple(tasks))
        return builder

    return deco


def model_names() -> tuple[str, ...]:
    return tuple(sorted(_MODELS))


def build_model(name: str, data, **options) -> nn.Module:
    """Build model ``name`` for data set ``data`` (a dfa.zoo.data object) with ``options``."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(model_names())}")
    builder, tasks = _MODELS[name]
    if data.task not in tasks:
        raise ConfigError(f"model {name!r} does not fit the {data.task} data set {data.name!r} (it handles: {', '.join(tasks)})")
    try:
        return builder(data, **options)
    except TypeError as exc:
        raise ConfigError(f"bad option for model {name!r}: {exc}") from None


@register_model("mlp", ("classification",))
def _build_mlp(data, hidden=(256, 256), activation="tanh", dropout=0.0, normalize=False, residual=False):
    return MLP(int(np.prod(data.input_shape)), data.n_classes, hidden=hidden, activation=activation, dropout=dropout,
               normalize=normalize, residual=residual)


@register_model("cnn1d", ("classification",))
def _build_cnn1d(data, channels=(25, 25, 25), kernels=(5, 3, 3), activation="relu"):
    return CNN1d(data.input_shape, data.n_classes, channels=channels, kernels=kernels, activation=activation)


@register_model("gru", ("classification",))
def _build_gru(data, hidden=6, bidirectional=True):
    return GRUClassifier(data.input_shape, data.n_classes, hidden=hidden, bidirectional=bidirectional)


@register_model("cnn", ("classification",))
def _build_cnn(data, channels=(16, 32), activation="tanh"):
    return CNN(data.input_shape, data.n_classes, channels=channels, activation=activation)


@register_model("transformer", ("language-model",))
def _build_transformer(data, d_model=64, n_layers=2, n_heads=4, context=64):
    return CharTransformer(data.vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads, context=context)


@register_model("gcn", ("node-classification",))
def _build_gcn(data, hidden=(64,), activation="relu", dropout=0.0):
    return GCN(data.normalized_adjacency(), data.n_nodes, data.features.shape[1], data.n_classes, hidden=hidden, activation=activation,
               dropout=dropout)


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


