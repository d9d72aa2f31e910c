"""Two-pass forward training (PEPITA): the error modulates the input of a second forward pass.

No backward pass at all: a network is trained from two forward passes and a fixed random
projection F of the output error, which can run on the simulated OPU exactly like DFA's
feedback (Dellaferrera & Kreiman, "Error-driven input modulation: solving the credit
assignment problem without a backward pass", ICML 2022, there called PEPITA).

For a network u_0 = x, z_l = W_l u_{l-1} + b_l, h_l = f(z_l), u_l = P_l(h_l) (P_l: flatten,
pooling or nothing), l = 1..L-1, and output y = W_L u_{L-1} + b_L, one step on a batch of M
samples is:

1. first (clean) pass: y, h_l from x; per-sample output error e = M dL/dy, i.e.
   e = softmax(y) - onehot(label) for the mean cross-entropy L;
2. input modulation: x' = x + F e, with F (n_input x n_classes) fixed and random, from any
   feedback provider (:class:`~dfa.mechanism.feedback.GaussianFeedback`, :class:`~dfa.mechanism.feedback.OpticalFeedback`
   with the OPU's n_in = n_classes and n_out = n_input, :class:`~dfa.mechanism.feedback.StoredFeedback`);
3. second (modulated) pass: h'_l, u'_l from x';
4. updates, averaged over the batch (handed to the optimizer as ``.grad``)::

       dW_l = < (h_l - h'_l) u'_{l-1}^T >,   db_l = < h_l - h'_l >      hidden layers l < L
       dW_L = < e u'_{L-1}^T >,              db_L = < e >               output layer

   and the optimizer steps W <- W - lr dW (PEPITA: SGD with momentum; ``dfa train`` hands
   the updates to the configured optimizer, Adam by default). The activation difference enters at
   the layer's pre-activation z_l without the factor f'(z_l) (the second pass already carries
   it). For a convolution the same rule is the weight gradient's correlation of the
   difference map (h_l - h'_l, at the activation, before pooling) with the modulated input
   patches (summed over positions, averaged over the batch).

To first order in F e, h_l - h'_l = f'(z_l) * W_l (u_{l-1} - u'_{l-1}), so h_1 - h'_1 =
-f'(z_1) * W_1 F e: layer 1 learns as DFA would with the feedback matrix B_1 = -W_1 F, which
follows W_1 during training ("adaptive feedback alignment", Srinivasan et al. 2023); the output
layer learns its true gradient (evaluated on the modulated pass). F must be small
(``f_scale``): the rule is a finite difference, and a large modulation drives the hidden
updates away from descent directions (the working range on digits is measured in
docs/results/training.md).

The error sent through F must keep its zero sum (softmax - onehot sums to 0): a quantized
error that loses it (ternary: mostly the target entry) adds a mean modulation F 1 that makes
W_1 grow until the network stalls for some seeds, so the optical F uses bit planes by default
(``two_pass.encoding``). The rule is exact for convolutions too (how well a CNN learns with it
is measured in docs/results/training.md).

Supported models: :class:`dfa.zoo.models.MLP` (every Linear + activation) and :class:`dfa.zoo.models.CNN`
(every conv block's convolution + activation; its pooling is the P_l above), or any model that
lists its layers through ``two_pass_layers() -> ([(layer, activation), ...], head)``; every
trainable parameter must belong to one of those layers. Tasks: classification (the input is
modulated, so it must be a float tensor; the error is M dL/dy).

Refinements of Srinivasan et al. (2023, "Forward learning with top-down feedback"), who showed
that the rule behaves like adaptive feedback alignment with B_1 = -W_1 F and narrowed its gap to
BP with three additions, all available here: **weight decay** (the optimizer's
``weight_decay``), **activity normalisation** (the MLP option ``normalize``: each hidden layer's
output divided by its RMS, :class:`dfa.zoo.models.RMSNormalize`) and **weight mirroring**
(:class:`MirroredF`: F = M_1 M_2 ... M_L with each M_l pulled towards W_l^T by noise probes
after every step, M_l <- (1 - d) M_l + a <x y_l(x)^T>, x ~ N(0, s^2), y_l the layer's response;
for linear y_l = W_l x the average is s^2 W_l^T, so M_l tracks (a s^2 / d) W_l^T and F follows
the transposed network; F is then rescaled to the f_scale convention so that mirroring changes
F's direction, not the size of the modulation).

Dropout: modules that expose a boolean ``hold`` attribute (:class:`dfa.zoo.models.KeyedDropout`)
are held during the modulated pass, so both passes drop the same units (PEPITA's "consistent
dropout"); otherwise the difference h_l - h'_l would measure the dropout noise.

:class:`TwoPass` is the mechanism (usable on its own, like :class:`dfa.DFA`); the registered
methods ``two-pass`` (digital Gaussian F), ``optical-two-pass`` (F e measured on the simulated
OPU) and ``stored-two-pass`` (F read from HDF5) put it in ``dfa train``'s side-by-side table.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from dfa.errors import TrainingDivergedError
from dfa.mechanism.feedback import FeedbackProvider
from photonics.errors import ConfigError, ShapeError, ValidationError
from photonics.rng import derive_seed

log = logging.getLogger(__name__)

__all__ = ["TwoPass", "two_pass_layers", "MirroredF", "hold_dropout_masks"]


def two_pass_layers(model: nn.Module) -> tuple[list[tuple[nn.Module, nn.Module]], nn.Module]:
    """([(layer, activation), ...], head) of ``model`` for the two-pass rule.

    ``layer`` is the module with the weights (Linear, Conv2d) whose output z_l feeds
    ``activation`` (output h_l); ``head`` is the output layer, as ``model.two_pass_layers()`` returns them
    (the zoo's MLP and CNN define it).
    """
    fn = getattr(model, "two_pass_layers", None)
    if fn is None:
        raise ConfigError(
            f"two-pass training handles the mlp and cnn models (got {type(model).__name__}); a model can also "
            "define two_pass_layers() -> ([(layer, activation), ...], head)"
        )
    pairs, head = fn()
    pairs = [tuple(p) for p in pairs]
    mods = [m for p in pairs for m in p] + [head]
    if not all(isinstance(m, nn.Module) for m in mods) or any(len(p) != 2 for p in pairs):
        raise ValidationError("two_pass_layers() must return ([(layer, activation), ...], head) of nn.Module instances")
    if len(set(map(id, mods))) != len(mods):
        raise ValidationError("a module appears twice among the two-pass layers")
    covered = {id(p) for m in [p[0] for p in pairs] + [head] for p in m.parameters()}
    loose = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    if loose:
        raise ConfigError(f"two-pass training cannot update parameters outside its layers: {', '.join(loose)}")
    return pairs, head


@contextlib.contextmanager
def hold_dropout_masks(model: nn.Module) -> Iterator[None]:
    """Inside the context every dropout module of ``model`` that can hold its mask (a bool
    ``hold`` attribute, e.g. :class:`dfa.zoo.models.KeyedDropout`) reuses its last mask."""
    mods = [m for m in model.modules() if isinstance(getattr(m, "hold", None), bool)]
    for m in mods:
        m.hold = True
    try:
        yield
    finally:
        for m in mods:
            m.hold = False


def _detach_inputs(module, args):
    return tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)


class TwoPass:
    """The two-pass (PEPITA) update for ``model`` (equations in the module docstring).

    Parameters
    ----------
    model : nn.Module
        Network (see :func:`two_pass_layers`); its forward must call every layer once.
    feedback : FeedbackProvider, optional
        The projection F: n_classes -> n_input (can be set after :meth:`probe`).
    layers : (pairs, head), optional
        Override :func:`two_pass_layers`.

    Examples
    --------
    >>> tp = TwoPass(model)
    >>> n_err, n_input = tp.probe(x_sample)
    >>> tp.feedback = GaussianFeedback(n_err, n_input, seed=0, scale=0.03)
    >>> loss = tp.backward(x, lambda y: F.cross_entropy(y, labels))   # fills .grad
    >>> optimizer.step()
    """

    def __init__(self, model: nn.Module, feedback: FeedbackProvider | None = None,
                 layers: tuple[Sequence[tuple[nn.Module, nn.Module]], nn.Module] | None = None):
        self.model = model
        pairs, head = layers if layers is not None else two_pass_layers(model)
        self.layers = [p[0] for p in pairs]
        self.activations = [p[1] for p in pairs]
        self.head = head
        self.feedback = feedback
        self.n_error: int | None = None
        self.input_shape: tuple[int, ...] | None = None
        self._mode: str | None = None  # None (hooks idle), "clean", "modulated"
        self._z: list[torch.Tensor | None] = []
        self._h: list[torch.Tensor | None] = []
        self._handles = []
        for i, layer in enumerate(self.layers + [head]):
            self._handles.append(layer.register_forward_pre_hook(self._pre_hook))
            if i < len(self.layers):
                self._handles.append(layer.register_forward_hook(self._store("_z", i, "layer")))
        for i, act in enumerate(self.activations):
            self._handles.append(act.register_forward_hook(self._store("_h", i, "activation")))
        #: of the last step: output error e (M, n_classes), modulation F e (M, *input_shape),
        #: activation differences h_l - h'_l
        self.last_error: torch.Tensor | None = None
        self.last_modulation: torch.Tensor | None = None
        self.last_differences: list[torch.Tensor] | None = None

    # ---- hooks ------------------------------------------------------------------------------
    def _pre_hook(self, module, args):
        # second pass: cut the graph before every layer, so each update stays local
        return _detach_inputs(module, args) if self._mode == "modulated" else None

    def _store(self, slots_name: str, i: int, what: str):
        def hook(module, args, output):
            if self._mode is None:
                return None
            slots = getattr(self, slots_name)
            if not isinstance(output, torch.Tensor):
                raise ShapeError(f"two-pass {what} {i} ({type(module).__name__}) must output a single tensor")
            if slots[i] is not None:
                raise ValidationError(f"two-pass {what} {i} ({type(module).__name__}) was called twice in one forward pass")
            slots[i] = output if self._mode == "modulated" and what == "layer" else output.detach()
            return None

        return hook

    @contextlib.contextmanager
    def _pass(self, mode: str) -> Iterator[None]:
        n = len(self.layers)
        self._z, self._h = [None] * n, [None] * n
        self._mode = mode
        try:
            yield
        finally:
            self._mode = None
        missing = [i for i in range(n) if self._z[i] is None or self._h[i] is None]
        if missing:
            raise ValidationError(f"two-pass layers {missing} were not called by the model's forward pass")

    def remove(self) -> None:
        """Detach the hooks from the model."""
        for h in self._handles:
            h.remove()
        self._handles = []

    # ---- shapes --------------------------------------------------------------------------------
    def probe(self, x: torch.Tensor) -> tuple[int, int]:
        """Run the model once on ``x`` (no gradient); return (n_classes, n_input) = F's (n_in, n_out)."""
        x = self._check_input(x)
        with torch.no_grad(), self._pass("clean"):
            out = self.model(x)
        self._z, self._h = [], []
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise ShapeError(f"two-pass training needs a (batch, n_classes) output (got shape {tuple(out.shape)})")
        self.n_error, self.input_shape = int(out.shape[1]), tuple(x.shape[1:])
        return self.n_error, math.prod(self.input_shape)

    def check_feedback(self, feedback: FeedbackProvider | None = None) -> None:
        """Raise ShapeError unless the provider maps n_classes -> n_input (after :meth:`probe`)."""
        fb = feedback or self.feedback
        if fb is None:
            raise ValidationError("TwoPass has no feedback provider for F; set TwoPass.feedback")
        if self.n_error is None:
            return
        need = (self.n_error, math.prod(self.input_shape))
        if (fb.n_in, fb.n_out) != need:
            raise ShapeError(
                f"F/model shape mismatch: F projects {fb.n_in} -> {fb.n_out} but the model has {need[0]} outputs and "
                f"inputs of shape {self.input_shape} ({need[1]} values); build F as {need[0]} -> {need[1]}"
            )

    @staticmethod
    def _check_input(x) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValidationError(f"two-pass input must be a torch.Tensor (got {type(x).__name__})")
        if not torch.is_floating_point(x):
            raise ValidationError(f"two-pass training modulates the input, which must be floating point (got {x.dtype})")
        if x.ndim < 2:
            raise ShapeError(f"two-pass input must be (batch, ...) (got shape {tuple(x.shape)})")
        return x

    # ---- the update ---------------------------------------------------------------------------------
    def backward(self, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor], scale: float = 1.0) -> torch.Tensor:
        """Fill ``.grad`` of every layer with the two-pass update for input ``x``; return the loss.

        ``loss_fn(y)`` is the mean loss of the batch given the model output y (M, n_classes)
        (the error is e = M dL/dy). ``scale`` multiplies every update (the schedule).
        Gradients accumulate into ``.grad`` like ``loss.backward()``.
        """
        x = self._check_input(x)
        m = x.shape[0]
        with torch.no_grad(), self._pass("clean"):
            out = self.model(x)
        h_clean = self._h
        y = out.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(y)
            if loss.ndim != 0:
                raise ShapeError(f"loss must be a scalar (got shape {tuple(loss.shape)})")
            if not bool(torch.isfinite(loss.detach())):
                raise TrainingDivergedError(f"loss is {float(loss.detach())}: training diverged")
            (dy,) = torch.autograd.grad(loss, y)
        e = dy * m
        if self.n_error is None:
            self.n_error, self.input_shape = int(out.shape[-1]), tuple(x.shape[1:])
        elif (int(out.shape[-1]), tuple(x.shape[1:])) != (self.n_error, self.input_shape):
            raise ShapeError(f"the model's layout changed from {self.n_error} outputs / input {self.input_shape} to "
                             f"{out.shape[-1]} / {tuple(x.shape[1:])}")
        self.check_feedback()
        fe = self.feedback.project(e.reshape(m, self.n_error))
        if tuple(fe.shape) != (m, math.prod(self.input_shape)):
            raise ShapeError(f"F returned shape {tuple(fe.shape)}, expected {(m, math.prod(self.input_shape))}")
        fe = fe.reshape(x.shape).to(dtype=x.dtype, device=x.device)
        with torch.enable_grad(), self._pass("modulated"), hold_dropout_masks(self.model):
            out2 = self.model(x + fe)
        z, h_mod = self._z, self._h
        self._z, self._h = [], []
        diffs = [a - b for a, b in zip(h_clean, h_mod)]
        if not all(bool(torch.isfinite(d).all()) for d in diffs):
            raise TrainingDivergedError("the two-pass activation differences contain NaN or infinite values: training diverged")
        k = float(scale) / m
        heads = [t for t in z + [out2] if t.requires_grad]
        grads = [d * k for d, t in zip(diffs, z) if t.requires_grad] + ([e * k] if out2.requires_grad else [])
        if heads:
            torch.autograd.backward(heads, grads)
        self.last_error = e.detach()
        self.last_modulation = fe
        self.last_differences = diffs
        return loss.detach()

    # ---- parameter groups -------------------------------------------------------------------------------
    def segment_parameters(self) -> list[list[tuple[str, nn.Parameter]]]:
        """Trainable parameters of each layer, then of the head (alignment diagnostics)."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        return [[(names[id(p)], p) for p in mod.parameters() if p.requires_grad] for mod in self.layers + [self.head]]


class MirroredF(FeedbackProvider):
    """A two-pass F that follows the transposed network by weight mirroring (Srinivasan et al. 2023).

    F = M_1 M_2 ... M_L (n_input x n_classes), M_l of the shape of W_l^T, drawn N(0, 1/n_l) at
    the start (stream ``"mirror-init"`` of ``seed``). After every training step
    :meth:`mirror` updates each M_l with ``batch`` noise probes x ~ N(0, noise^2) (column means
    removed, so the layer's bias cancels) and the layer's response y = f(W_l x + b_l) (the head:
    y = W_L x + b_L)::

        M_l <- (1 - decay) M_l + lr * x^T y / batch

    The projection uses F rescaled to the feedback convention, F_eff = F * scale * sqrt(n_input)
    / ||F||_F (i.i.d.-like entries of variance scale^2 / n_classes). Probes come from a stream
    of (seed, update count): the trajectory replays after a resume (the matrices and the count
    are buffers, saved in ``state_dict``).

    Parameters
    ----------
    layers : list of nn.Linear
        The hidden layers, then the head (fully connected only).
    activations : list of nn.Module
        The hidden layers' activations (one fewer than ``layers``).
    seed : int
    scale, lr, decay, noise : float
        ``f_scale``, ``mirror_lr``, ``mirror_decay``, ``mirror_noise`` of the two-pass settings.
    batch : int
        Probes per update.
    """

    kind = "mirrored"

    def __init__(self, layers: Sequence[nn.Module], activations: Sequence[nn.Module], *, seed: int, scale: float, lr: float,
                 decay: float, noise: float, batch: int):
        layers = list(layers)
        if not layers or not all(isinstance(m, nn.Linear) for m in layers):
            raise ConfigError("weight mirroring (two_pass.mirror_lr > 0) needs fully connected layers (the mlp model); "
                              f"got {[type(m).__name__ for m in layers]}")
        if len(activations) != len(layers) - 1:
            raise ValidationError("MirroredF needs one activation per hidden layer")
        super().__init__(layers[-1].out_features, layers[0].in_features)
        self._layers = layers  # plain list: the network's weights are not part of F's state
        self._activations = list(activations)
        self.seed, self.scale, self.lr, self.decay, self.noise, self.batch = int(seed), float(scale), float(lr), float(decay), \
            float(noise), int(batch)
        g = torch.Generator(device="cpu")
        g.manual_seed(derive_seed(self.seed, "mirror-init"))
        for i, m in enumerate(layers):
            self.register_buffer(f"m{i}", torch.randn(m.in_features, m.out_features, generator=g) / math.sqrt(m.out_features))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    def matrices(self) -> list[torch.Tensor]:
        """[M_1, ..., M_L]."""
        return [getattr(self, f"m{i}") for i in range(len(self._layers))]

    def matrix(self) -> torch.Tensor:
        """F_eff (n_input x n_classes), the product rescaled to the feedback convention."""
        f = self.matrices()[0]
        for m in self.matrices()[1:]:
            f = f @ m
        norm = torch.linalg.norm(f)
        return f * (self.scale * math.sqrt(self.n_out) / norm) if float(norm) > 0 else f

    def _project(self, error):
        return error @ self.matrix().to(dtype=error.dtype).T

    @torch.no_grad()
    def mirror(self) -> None:
        """One mirroring update of every M_l (see the class docstring)."""
        g = torch.Generator(device="cpu")
        g.manual_seed(derive_seed(self.seed, "mirror", str(int(self.updates))))
        for i, layer in enumerate(self._layers):
            m = getattr(self, f"m{i}")
            x = self.noise * torch.randn(self.batch, layer.in_features, generator=g)
            x = (x - x.mean(dim=0, keepdim=True)).to(device=m.device, dtype=layer.weight.dtype)
            y = layer(x)
            if i < len(self._activations):
                y = self._activations[i](y)
            m.mul_(1.0 - self.decay).add_(self.lr * (x.T @ y) / self.batch)
        self.updates += 1

    def describe(self) -> dict:
        d = super().describe()
        d.update(scale=self.scale, mirror_lr=self.lr, mirror_decay=self.decay, mirror_noise=self.noise, mirror_batch=self.batch,
                 mirror_updates=int(self.updates))
        return d
