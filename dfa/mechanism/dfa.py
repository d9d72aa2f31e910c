"""Direct Feedback Alignment for torch models.

A model's computation is cut at its *feedback points* (modules whose outputs h_l are the
hidden representations: the activations of an MLP, the blocks of a CNN or a Transformer,
the layers of a GCN). Backpropagation would send each point the gradient
dL/dh_l = W_{l+1}^T ... e; DFA (Nøkland, 2016) sends instead

    dL/dh_l  :=  B_l e,        e = dL/dy  (the output error, y the model output),

with B_l fixed random matrices, here the slices of one global projection B e (one call of a
:class:`~dfa.mechanism.feedback.FeedbackProvider` per step). Inside a segment (between two points)
autograd propagates as usual, so the parameters of segment l get
dL/dW = (B_l e) * f'(a_l) x^T for a dense layer; the segment after the last point (the head)
gets its true gradient. With B_1 = W_2^T for a one-hidden-layer network the DFA update is
exactly the BP update (tested).

Mechanics: while :meth:`DFA.recording` is active, a forward hook on each point stores its
output (with its graph) and hands the next segment a *detached* copy, so ``loss.backward()``
reaches only the head and yields e (captured by a hook on the output tensor); then
``torch.autograd.backward`` feeds each stored output its slice B_l e. No work is wasted on
backpropagating through the network, and the mechanism needs nothing from the model but the
list of points.

Shapes: the error has shape (*lead, n_err) (e.g. (batch, classes), (batch, seq, vocab),
(nodes, classes)); every point's output must start with the same leading axes, (*lead,
*features), and receives B_l e reshaped to that shape, with n_l = prod(features).
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
from photonics.errors import ShapeError, ValidationError

log = logging.getLogger(__name__)

__all__ = ["DFA", "feedback_points_of"]


def feedback_points_of(model: nn.Module) -> list[nn.Module]:
    """The model's feedback points: ``model.feedback_points()``, or an error naming the fix."""
    fn = getattr(model, "feedback_points", None)
    if fn is None:
        raise ValidationError(
            f"{type(model).__name__} has no feedback_points(); pass the hidden modules explicitly: DFA(model, points=[...])"
        )
    points = list(fn())
    if not points:
        raise ValidationError(f"{type(model).__name__}.feedback_points() returned no module: DFA needs at least one hidden point")
    return points


class DFA:
    """DFA training mechanics for ``model``: record hidden points, inject B_l e.

    Parameters
    ----------
    model : nn.Module
        The network; its forward must call every point module exactly once.
    points : sequence of nn.Module, optional
        Feedback points; default ``model.feedback_points()``.
    feedback : FeedbackProvider, optional
        The projection; can be set later (:attr:`feedback`) once the sizes are known from
        :meth:`probe`.

    Examples
    --------
    >>> dfa = DFA(model)
    >>> n_err, sizes = dfa.probe(lambda: model(x_sample))
    >>> dfa.feedback = GaussianFeedback(n_err, sum(sizes), seed=0)
    >>> with dfa.recording():
    ...     out = model(x)
    >>> loss = criterion(out, y)
    >>> dfa.backward(loss, out)            # fills .grad of every parameter
    """

    def __init__(self, model: nn.Module, points: Sequence[nn.Module] | None = None, feedback: FeedbackProvider | None = None):
        self.model = model
        self.points = list(points) if points is not None else feedback_points_of(model)
        for p in self.points:
            if not isinstance(p, nn.Module):
                raise ValidationError(f"feedback points must be nn.Module instances (got {type(p).__name__})")
        if len(set(map(id, self.points))) != len(self.points):
            raise ValidationError("a module appears twice among the feedback points")
        self.feedback = feedback
        self._recording = False
        self._taps: list[torch.Tensor | None] = [None] * len(self.points)
        self._handles = [p.register_forward_hook(self._make_hook(i)) for i, p in enumerate(self.points)]
        self.n_error: int | None = None
        self.sizes: list[int] | None = None
        self.last_error: torch.Tensor | None = None
        self.last_feedback: list[torch.Tensor] | None = None

    # ---- recording -----------------------------------------------------------------------
    def _make_hook(self, i: int):
        def hook(module, inputs, output):
            if not self._recording:
                # a plain forward pass invalidates what an earlier recording stored
                if self._taps[i] is not None:
                    self._taps = [None] * len(self.points)
                return None
            if not isinstance(output, torch.Tensor):
                raise ShapeError(f"feedback point {i} ({type(module).__name__}) must output a single tensor (got {type(output).__name__})")
            if self._taps[i] is not None:
                raise ValidationError(f"feedback point {i} ({type(module).__name__}) was called twice in one forward pass")
            self._taps[i] = output
            return output.detach()

        return hook

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Forward passes inside this context cut the graph at the feedback points."""
        self._taps = [None] * len(self.points)
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    def remove(self) -> None:
        """Detach the hooks from the model (it then trains with plain backprop)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    # ---- shapes ---------------------------------------------------------------------------
    def _layout(self, out_shape: torch.Size, taps: list[torch.Tensor]) -> tuple[int, list[int]]:
        lead = tuple(out_shape[:-1])
        n_err = int(out_shape[-1])
        sizes = []
        for i, h in enumerate(taps):
            if h is None:
                raise ValidationError(f"feedback point {i} ({type(self.points[i]).__name__}) was not called by the forward pass")
            if tuple(h.shape[: len(lead)]) != lead or h.ndim <= len(lead):
                raise ShapeError(
                    f"feedback point {i} ({type(self.points[i]).__name__}) outputs shape {tuple(h.shape)}, which must start with "
                    f"the error's leading axes {lead} (error shape {tuple(out_shape)}) followed by feature axes"
                )
            sizes.append(int(math.prod(h.shape[len(lead) :])))
        return n_err, sizes

    def probe(self, forward: Callable[[], torch.Tensor]) -> tuple[int, list[int]]:
        """Run ``forward()`` once (no gradient) and return (error dimension, width of each point)."""
        with torch.no_grad(), self.recording():
            out = forward()
        taps = self._taps
        self._taps = [None] * len(self.points)
        self.n_error, self.sizes = self._layout(out.shape, taps)
        return self.n_error, list(self.sizes)

    def check_feedback(self, feedback: FeedbackProvider | None = None) -> None:
        """Raise ShapeError unless the provider maps n_error -> sum(sizes) (after :meth:`probe`)."""
        fb = feedback or self.feedback
        if fb is None:
            raise ValidationError("DFA has no feedback provider; set DFA.feedback")
        if self.sizes is None:
            return
        need = (self.n_error, sum(self.sizes))
        if (fb.n_in, fb.n_out) != need:
            raise ShapeError(
                f"feedback/model shape mismatch: the feedback projects {fb.n_in} -> {fb.n_out} but the model has an error of "
                f"{need[0]} components and feedback points of widths {self.sizes} (total {need[1]}); "
                f"build the feedback as {need[0]} -> {need[1]}"
            )

    # ---- the DFA backward ---------------------------------------------------------------------
    def backward(self, loss: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """Fill ``.grad``: true gradient for the head, B_l e for every hidden segment.

        ``output`` is the model output of the last recorded forward (inside :meth:`recording`)
        and ``loss`` a scalar computed from it. Returns the output error e.
        """
        taps = self._taps
        self._taps = [None] * len(self.points)  # consumed, whatever happens next
        if any(t is None for t in taps):
            missing = [i for i, t in enumerate(taps) if t is None]
            raise ValidationError(f"feedback points {missing} were not recorded: run the forward pass inside DFA.recording()")
        if loss.ndim != 0:
            raise ShapeError(f"loss must be a scalar (got shape {tuple(loss.shape)})")
        if not bool(torch.isfinite(loss.detach())):
            raise TrainingDivergedError(f"loss is {float(loss.detach())}: training diverged")
        n_err, sizes = self._layout(output.shape, taps)
        if self.sizes is None:
            self.n_error, self.sizes = n_err, sizes
        elif (n_err, sizes) != (self.n_error, self.sizes):
            raise ShapeError(f"the model's feedback layout changed from {self.n_error}, {self.sizes} to {n_err}, {sizes}")
        self.check_feedback()
        captured: dict[str, torch.Tensor] = {}

        def keep(g):
            captured["e"] = g

        output.register_hook(keep)
        loss.backward()
        if "e" not in captured:
            raise ValidationError("the loss does not depend on the model output passed to DFA.backward")
        e = captured["e"]
        if not bool(torch.isfinite(e).all()):
            raise TrainingDivergedError("the output error contains NaN or infinite values: training diverged")
        fb = self.feedback.project(e.reshape(-1, n_err))
        if tuple(fb.shape) != (e.numel() // n_err, sum(sizes)):
            raise ShapeError(f"feedback returned shape {tuple(fb.shape)}, expected {(e.numel() // n_err, sum(sizes))}")
        chunks = torch.split(fb, sizes, dim=1)
        heads, grads = [], []
        signals = []
        for h, c in zip(taps, chunks):
            g = c.reshape(h.shape).to(dtype=h.dtype, device=h.device)
            signals.append(g)
            if h.requires_grad:
                heads.append(h)
                grads.append(g)
        if heads:
            torch.autograd.backward(heads, grads)
        self.last_error = e.detach()
        self.last_feedback = signals
        return e

    # ---- parameter groups ---------------------------------------------------------------------
    def segment_parameters(self, forward: Callable[[], torch.Tensor]) -> list[list[tuple[str, nn.Parameter]]]:
        """Parameters of each segment: [segment of point 0, ..., segment of point L-1, head].

        Found by differentiating each recorded point (and the output) with respect to all
        parameters: with the graph cut at the points, a parameter is reached only from the
        point (or head) that ends its segment. Used by the alignment diagnostics.
        """
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        params = [p for _, p in named]
        with self.recording():
            out = forward()
        taps = list(self._taps)
        self._taps = [None] * len(self.points)
        groups = []
        for t in taps + [out]:
            if not t.requires_grad:
                groups.append([])
                continue
            gs = torch.autograd.grad(t.float().sum(), params, allow_unused=True, retain_graph=True)
            groups.append([named[i] for i, g in enumerate(gs) if g is not None])
        return groups
