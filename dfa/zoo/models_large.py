"""Architectures at the scale of the optical-training papers, with DFA feedback per block.

Registered in the model registry of :mod:`dfa.zoo.models` (``build_model(name, data, **options)``)
next to the small models. Every model here follows the same two rules as the small ones: its
``forward`` returns the tensor the loss is computed on, and ``feedback_points()`` lists the
modules whose outputs receive DFA feedback. The points are whole *blocks* (the residual
stream after each Transformer, Mixer or denoiser block), so one global projection B e per
step is sliced into one B_l e per block (see :mod:`dfa.mechanism.dfa`); everything after the last block
(final norm, pooling, unembedding) is the head and gets its true gradient. No dropout and no
batch statistics: a forward pass has no side effect, and BP and DFA start from the same
weights for a given seed.

==============  ===================================  ==========================================
name            data                                 feedback points (output shape per sample)
==============  ===================================  ==========================================
``gpt``         language model (token ids)           each decoder block, (seq, d_model)
``vit``         classification, images or 1-D       each encoder block, (n_patches, d_model)
``mixer``       classification, images or 1-D       each Mixer block, (n_patches, d_model)
``denoiser``    diffusion (images, class labels)     each residual MLP block, (width,)
==============  ===================================  ==========================================

Sizes are configuration only: ``GPT(vocab, d_model=2048, n_layers=24, n_heads=16)`` is a
1.2e9-parameter model (instantiable on the ``meta`` device to count parameters without
memory), ``GPT(vocab, d_model=64, n_layers=2)`` trains in seconds on a CPU. Parameter count of
the GPT (biases on, untied unembedding)::

    N = V d + T d + L (12 d^2 + 13 d) + 2 d + d V + V
      (token and position embeddings, L blocks, final norm, unembedding)

with V the vocabulary, T the context, d the width and L the depth (tested).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfa.zoo.models import ACTIVATIONS, register_model
from photonics.errors import ConfigError
from photonics.validation import check_choice, check_int

__all__ = [
    "GPT",
    "ViT",
    "MLPMixer",
    "Denoiser",
    "gpt_parameter_count",
    "sinusoidal_features",
]


def _check_heads(d_model: int, n_heads: int) -> None:
    if d_model % n_heads:
        raise ConfigError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")


class SelfAttention(nn.Module):
    """Multi-head self-attention (causal or not) with fused scaled-dot-product attention.

    y = W_o concat_h softmax(Q_h K_h^T / sqrt(d_h) [+ causal mask]) V_h, Q|K|V = W_qkv x.
    """

    def __init__(self, d_model: int, n_heads: int, *, causal: bool, bias: bool = True):
        super().__init__()
        _check_heads(d_model, n_heads)
        self.n_heads = n_heads
        self.causal = bool(causal)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        shape = (b, t, self.n_heads, d // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class TransformerBlock(nn.Module):
    """Pre-norm Transformer block: x + attn(LN(x)), then + MLP(LN(x)) (MLP: d -> r d -> d, GELU)."""

    def __init__(self, d_model: int, n_heads: int, *, causal: bool, mlp_ratio: int = 4, bias: bool = True):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = SelfAttention(d_model, n_heads, causal=causal, bias=bias)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.fc = nn.Linear(d_model, mlp_ratio * d_model, bias=bias)
        self.act = nn.GELU()
        self.out = nn.Linear(mlp_ratio * d_model, d_model, bias=bias)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.out(self.act(self.fc(self.ln2(x))))


def gpt_parameter_count(vocab_size: int, d_model: int, n_layers: int, context: int, *, mlp_ratio: int = 4,
                        bias: bool = True, tie_embeddings: bool = False) -> int:
    """Closed-form parameter count of :class:`GPT` (see the module docstring)."""
    v, d, L, t, r = vocab_size, d_model, n_layers, context, mlp_ratio
    per_block = 4 * d * d + 2 * r * d * d  # qkv (3 d^2) + proj (d^2); MLP d -> r d -> d
    if bias:
        per_block += (5 + r) * d + 4 * d  # qkv, proj, fc, out biases; two LayerNorms (weight + bias)
    else:
        per_block += 2 * d  # two LayerNorm weights
    n = v * d + t * d + L * per_block + (2 * d if bias else d)
    if not tie_embeddings:
        n += d * v
    if bias:
        n += v
    return int(n)


class GPT(nn.Module):
    """GPT-style decoder-only language model, from tiny to > 1e9 parameters by configuration.

    token + learned position embedding -> L pre-norm causal Transformer blocks -> LayerNorm ->
    Linear(vocab). GPT-2 initialisation: N(0, 0.02^2) weights, residual output projections
    scaled by 1/sqrt(2 L), zero biases. No dropout.

    Feedback points: the L blocks (residual stream (batch, seq, d_model)); the embeddings
    belong to the first block's segment, the final LayerNorm and the unembedding are the head
    (true gradient). With ``tie_embeddings`` the unembedding reuses the token embedding, which
    then also receives the head's true gradient (standard for BP; off by default, so that
    every parameter belongs to exactly one DFA segment).

    Parameters
    ----------
    vocab_size : int
        Tokens (the error dimension of DFA).
    d_model, n_layers, n_heads, context, mlp_ratio : int
        Width, depth, attention heads (d_model % n_heads == 0), context length, MLP expansion.
    bias : bool
        Biases in linear layers and LayerNorms (GPT-2: True).
    tie_embeddings : bool
        Share the token embedding with the unembedding.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 4, n_heads: int = 4, context: int = 128,
                 mlp_ratio: int = 4, bias: bool = True, tie_embeddings: bool = False):
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size", low=2)
        d_model = check_int(d_model, "d_model", low=1)
        n_heads = check_int(n_heads, "n_heads", low=1)
        _check_heads(d_model, n_heads)
        self.n_layers = check_int(n_layers, "n_layers", low=1)
        self.context = check_int(context, "context", low=1)
        mlp_ratio = check_int(mlp_ratio, "mlp_ratio", low=1)
        for name, v in (("bias", bias), ("tie_embeddings", tie_embeddings)):
            if not isinstance(v, bool):
                raise ConfigError(f"{name} must be true or false (got {v!r})")
        self.tok = nn.Embedding(self.vocab_size, d_model)
        self.pos = nn.Embedding(self.context, d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, causal=True, mlp_ratio=mlp_ratio, bias=bias) for _ in range(self.n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias)
        self.head = nn.Linear(d_model, self.vocab_size, bias=bias)
        self.tie_embeddings = tie_embeddings
        self._init_weights()
        if tie_embeddings:
            self.head.weight = self.tok.weight

    def _init_weights(self) -> None:
        std = 0.02
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=std)
        for b in self.blocks:  # residual projections: std / sqrt(2 L) (GPT-2)
            nn.init.normal_(b.attn.proj.weight, std=std / math.sqrt(2 * self.n_layers))
            nn.init.normal_(b.out.weight, std=std / math.sqrt(2 * self.n_layers))

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


# ---- patch models (ViT, Mixer) -----------------------------------------------------------------
def _patch_geometry(input_shape: Sequence[int], patch: int) -> tuple[int, int, str]:
    """(n_patches, values per patch, layout) for an input of shape (L,), (C, L) or (C, H, W)."""
    shape = tuple(int(s) for s in input_shape)
    patch = check_int(patch, "patch", low=1)
    if len(shape) == 1:
        shape = (1, shape[0])
    if len(shape) == 2:
        c, n = shape
        if n % patch:
            raise ConfigError(f"patch={patch} must divide the input length {n}")
        return n // patch, c * patch, "1d"
    if len(shape) == 3:
        c, h, w = shape
        if h % patch or w % patch:
            raise ConfigError(f"patch={patch} must divide the image size {h}x{w}")
        return (h // patch) * (w // patch), c * patch * patch, "2d"
    raise ConfigError(f"patch models need inputs of shape (length,), (channels, length) or (channels, height, width) (got {shape})")


class PatchEmbed(nn.Module):
    """Cut the input into non-overlapping patches and embed each: (batch, ...) -> (batch, n_patches, d)."""

    def __init__(self, input_shape: Sequence[int], patch: int, d_model: int):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.patch = int(patch)
        self.n_patches, self.patch_dim, self.layout = _patch_geometry(self.input_shape, self.patch)
        self.proj = nn.Linear(self.patch_dim, d_model)

    def forward(self, x):
        b = x.shape[0]
        p = self.patch
        if self.layout == "1d":
            x = x.reshape(b, -1, x.shape[-1])  # (b, c, n)
            c, n = x.shape[1], x.shape[2]
            x = x.reshape(b, c, n // p, p).permute(0, 2, 1, 3).reshape(b, n // p, c * p)
        else:
            c, h, w = x.shape[1:]
            x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), c * p * p)
        return self.proj(x)


#: how a patch model turns its tokens into class scores
POOLS = ("mean", "flatten")


class _PoolHead(nn.Module):
    """Classifier on the normalised tokens (batch, n_patches, d): ``"mean"`` pools the tokens
    first (Linear(d)), ``"flatten"`` reads every token (Linear(n_patches d)).

    With mean pooling, BP sends every token of the last block the same gradient W^T e / n,
    which per-token random feedback B_l e cannot imitate; reading the flattened tokens gives
    each token its own weights, the structure DFA's per-token feedback has (measured in the
    docs/results/large-models.md: DFA trains the flatten head, hardly the mean-pooled one).
    """

    def __init__(self, pool: str, n_patches: int, d_model: int, n_out: int):
        super().__init__()
        self.pool = pool
        self.fc = nn.Linear(d_model if pool == "mean" else n_patches * d_model, n_out)

    def forward(self, h):
        return self.fc(h.mean(dim=1) if self.pool == "mean" else h.flatten(1))


class ViT(nn.Module):
    """Vision Transformer (Dosovitskiy et al. 2021) for small images or 1-D signals.

    patches (patch x patch pixels, or patch samples in 1-D) -> linear embedding + learned
    position embedding -> L pre-norm Transformer encoder blocks (bidirectional attention) ->
    LayerNorm -> mean over patches -> Linear(classes).

    Feedback points: the L blocks (outputs (batch, n_patches, d_model), n_l = n_patches d).
    The patch and position embeddings belong to the first block's segment; the final norm,
    pooling and classifier are the head.
    """

    def __init__(self, input_shape: Sequence[int], n_out: int, patch: int = 2, d_model: int = 64, n_layers: int = 4,
                 n_heads: int = 4, mlp_ratio: int = 2, pool: str = "mean"):
        super().__init__()
        d_model = check_int(d_model, "d_model", low=1)
        n_heads = check_int(n_heads, "n_heads", low=1)
        _check_heads(d_model, n_heads)
        self.pool = check_choice(pool, "pool", POOLS)
        self.embed = PatchEmbed(input_shape, patch, d_model)
        self.pos = nn.Parameter(torch.zeros(1, self.embed.n_patches, d_model))
        nn.init.normal_(self.pos, std=0.02)
        mlp_ratio = check_int(mlp_ratio, "mlp_ratio", low=1)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, causal=False, mlp_ratio=mlp_ratio)
            for _ in range(check_int(n_layers, "n_layers", low=1))
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = _PoolHead(self.pool, self.embed.n_patches, d_model, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        h = self.embed(x) + self.pos
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h))

    def feedback_points(self) -> list[nn.Module]:
        return list(self.blocks)


class MixerBlock(nn.Module):
    """MLP-Mixer block: x + TokenMLP(LN(x)^T)^T, then + ChannelMLP(LN(x))."""

    def __init__(self, n_tokens: int, d_model: int, token_hidden: int, channel_hidden: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.token_fc1 = nn.Linear(n_tokens, token_hidden)
        self.token_fc2 = nn.Linear(token_hidden, n_tokens)
        self.ln2 = nn.LayerNorm(d_model)
        self.channel_fc1 = nn.Linear(d_model, channel_hidden)
        self.channel_fc2 = nn.Linear(channel_hidden, d_model)

    def forward(self, x):
        y = self.ln1(x).transpose(1, 2)  # (b, d, tokens)
        x = x + self.token_fc2(F.gelu(self.token_fc1(y))).transpose(1, 2)
        return x + self.channel_fc2(F.gelu(self.channel_fc1(self.ln2(x))))


class MLPMixer(nn.Module):
    """MLP-Mixer (Tolstikhin et al. 2021): patches -> L Mixer blocks -> LayerNorm -> mean -> Linear.

    Feedback points: the L blocks (outputs (batch, n_patches, d_model)).
    """

    def __init__(self, input_shape: Sequence[int], n_out: int, patch: int = 2, d_model: int = 64, n_layers: int = 4,
                 token_hidden: int = 32, channel_hidden: int = 128, pool: str = "mean"):
        super().__init__()
        d_model = check_int(d_model, "d_model", low=1)
        self.pool = check_choice(pool, "pool", POOLS)
        self.embed = PatchEmbed(input_shape, patch, d_model)
        self.blocks = nn.ModuleList(
            MixerBlock(self.embed.n_patches, d_model, check_int(token_hidden, "token_hidden", low=1),
                       check_int(channel_hidden, "channel_hidden", low=1))
            for _ in range(check_int(n_layers, "n_layers", low=1))
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = _PoolHead(self.pool, self.embed.n_patches, d_model, check_int(n_out, "n_out", low=1))

    def forward(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h))

    def feedback_points(self) -> list[nn.Module]:
        return list(self.blocks)


# ---- diffusion denoiser --------------------------------------------------------------------------
def sinusoidal_features(t: torch.Tensor, n_features: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style features of integer diffusion steps t (batch,) -> (batch, n_features).

    phi(t)_k = cos(t w_k), phi(t)_{k + n/2} = sin(t w_k), w_k = max_period^(-k / (n/2)).
    """
    half = n_features // 2
    k = torch.arange(half, device=t.device, dtype=torch.float32)
    w = torch.exp(-math.log(max_period) * k / max(half, 1))
    arg = t.to(torch.float32)[:, None] * w[None, :]
    out = torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)
    if n_features % 2:
        out = torch.cat([out, torch.zeros_like(out[:, :1])], dim=1)
    return out


class DenoiserBlock(nn.Module):
    """Residual MLP block conditioned on the step and the class:

    h <- h + W_2 f(W_1 LN(h) + U phi(t) + C[y] + b_1) + b_2,

    with its own U (step features -> width) and class table C, so that no parameter is
    shared between blocks (each belongs to one DFA segment).
    """

    def __init__(self, width: int, time_features: int, n_classes: int, activation: str, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.norm = nn.LayerNorm(width) if residual else nn.Identity()
        self.fc1 = nn.Linear(width, width)
        self.time = nn.Linear(time_features, width, bias=False)
        self.cls = nn.Embedding(n_classes, width)
        self.act = ACTIVATIONS[activation]()
        self.fc2 = nn.Linear(width, width) if residual else nn.Identity()
        nn.init.zeros_(self.cls.weight)

    def forward(self, h, phi, y):
        z = self.fc2(self.act(self.fc1(self.norm(h)) + self.time(phi) + self.cls(y)))
        return h + z if self.residual else z


class _BlockPoint(nn.Module):
    """Identity module marking a block output as a feedback point (a hook needs a module call)."""

    def forward(self, h):
        return h


class Denoiser(nn.Module):
    """Noise predictor eps_theta(x_t, t, y) of a DDPM (Ho et al. 2020) for small images.

    x_t flattened (n_pixels) -> Linear(width) -> L residual MLP blocks conditioned on the step
    t (sinusoidal features, per-block projection) and on the class y (per-block embedding)
    -> LayerNorm -> Linear(n_pixels) = predicted noise.

    ``forward(x)`` takes the packed input ``(x_t, t, y)`` (see :class:`dfa.trainer.tasks.DiffusionTask`)
    and returns eps_hat (batch, n_pixels). Feedback points: the L block outputs
    (batch, width); the input layer belongs to the first segment, the final norm and output
    layer are the head.

    ``n_steps`` and ``schedule`` define the :class:`dfa.zoo.diffusion.NoiseSchedule` the model is
    trained and sampled with (attribute ``schedule``).
    """

    def __init__(self, n_pixels: int, n_classes: int, width: int = 256, n_blocks: int = 3, time_features: int = 32,
                 activation: str = "gelu", n_steps: int = 200, schedule: str = "cosine", residual: bool = True):
        super().__init__()
        from dfa.zoo.diffusion import NoiseSchedule

        try:
            self.schedule = NoiseSchedule(n_steps, schedule)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.n_pixels = check_int(n_pixels, "n_pixels", low=1)
        self.n_classes = check_int(n_classes, "n_classes", low=1)
        width = check_int(width, "width", low=1)
        self.time_features = check_int(time_features, "time_features", low=2)
        check_choice(activation, "activation", tuple(ACTIVATIONS))
        self.inp = nn.Linear(self.n_pixels, width)
        self.blocks = nn.ModuleList(
            DenoiserBlock(width, self.time_features, self.n_classes, activation, residual)
            for _ in range(check_int(n_blocks, "n_blocks", low=1))
        )
        self.points = nn.ModuleList(_BlockPoint() for _ in self.blocks)
        self.norm = nn.LayerNorm(width) if residual else nn.Identity()
        self.out = nn.Linear(width, self.n_pixels)

    def forward(self, x):
        x_t, t, y = x
        phi = sinusoidal_features(t, self.time_features).to(x_t.dtype)
        h = self.inp(x_t.flatten(1))
        for block, point in zip(self.blocks, self.points):
            h = point(block(h, phi, y))
        return self.out(self.norm(h))

    def feedback_points(self) -> list[nn.Module]:
        return list(self.points)


# ---- registry ------------------------------------------------------------------------------------
@register_model("gpt", ("language-model",))
def _build_gpt(data, d_model=128, n_layers=4, n_heads=4, context=128, mlp_ratio=4, bias=True, tie_embeddings=False):
    return GPT(data.vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads, context=context, mlp_ratio=mlp_ratio,
               bias=bias, tie_embeddings=tie_embeddings)


@register_model("vit", ("classification",))
def _build_vit(data, patch=2, d_model=64, n_layers=4, n_heads=4, mlp_ratio=2, pool="mean"):
    return ViT(data.input_shape, data.n_classes, patch=patch, d_model=d_model, n_layers=n_layers, n_heads=n_heads, mlp_ratio=mlp_ratio,
               pool=pool)


@register_model("mixer", ("classification",))
def _build_mixer(data, patch=2, d_model=64, n_layers=4, token_hidden=32, channel_hidden=128, pool="mean"):
    return MLPMixer(data.input_shape, data.n_classes, patch=patch, d_model=d_model, n_layers=n_layers, token_hidden=token_hidden,
                    channel_hidden=channel_hidden, pool=pool)


@register_model("denoiser", ("diffusion",))
def _build_denoiser(data, width=256, n_blocks=3, time_features=32, activation="gelu", n_steps=200, schedule="cosine", residual=True):
    return Denoiser(int(np.prod(data.input_shape)), data.n_classes, width=width, n_blocks=n_blocks, time_features=time_features,
                    activation=activation, n_steps=n_steps, schedule=schedule, residual=residual)
