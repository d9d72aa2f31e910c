"""The outcome of training one method, and its per-step cost summary.

:class:`MethodResult` is what the trainer returns per method and what a finished
checkpoint stores (as plain types); the report (:mod:`dfa.trainer.report`) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MethodResult", "summarize_step_costs", "format_step_costs"]


@dataclass(frozen=True)
class MethodResult:
    """The outcome of training one method.

    Attributes
    ----------
    method : str
    metrics : dict
        Final test metrics (``accuracy``/``loss``/``perplexity``... per task).
    primary_metric : str
        The task's headline metric (``accuracy`` or ``loss``).
    steps : int
        Optimizer steps done.
    wall_s : float
        Wall-clock time of training, evaluation included [s] (summed over resumed sessions).
    optical_frames : int
        Camera frames of the optical device (0 for digital methods).
    device_time_s : float
        Simulated optical device time [s] (frames x frame period; 0 for digital methods).
    history : dict of lists
        Per evaluation point: epoch, step, train_loss (mean over the epoch), test metrics,
        wall_s, optical_frames, device_time_s.
    alignment : dict
        ``step`` (list), ``angle_deg`` (list of per-segment lists), ``segments`` (names).
    describe : dict
        Method details (feedback provider, widths...).
    step_costs : dict
        Per-step cost summary (see :func:`summarize_step_costs`): wall time per step, of which
        feedback projection, rest of the step, optical frames and modelled device time per step.
    """

    method: str
    metrics: dict
    primary_metric: str
    steps: int
    wall_s: float
    optical_frames: int
    device_time_s: float
    history: dict = field(default_factory=dict)
    alignment: dict = field(default_factory=dict)
    describe: dict = field(default_factory=dict)
    step_costs: dict = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(self.metrics[self.primary_metric])


def summarize_step_costs(costs: dict, frame_rate_hz: float | None = None) -> dict:
    """Summary of per-step cost lists {step_wall_s, feedback_wall_s, frames, device_time_s}.

    Per step, averaged over the steady state (every step but the first, which also carries the
    one-off set-up: the optical device's reference calibration and probes; with a single step,
    that step): ``step_wall_s`` (gradients + optimizer step) = ``feedback_wall_s`` (the
    projection, simulated optics included) + ``rest_wall_s`` (forward, backward, update), an
    exact sum; ``frames`` and ``device_time_s`` (modelled optical device time). Also
    ``first_step_wall_s``, ``median_step_wall_s`` (robust to pauses of a shared machine), the
    totals, and ``calibration_frames`` (frames beyond the steady state).
    """
    import numpy as np

    n = len(costs.get("step_wall_s", []))
    if n == 0:
        return {"steps": 0}
    a = {k: np.asarray(costs[k], dtype=np.float64) for k in ("step_wall_s", "feedback_wall_s", "frames", "device_time_s")}
    steady = {k: (v[1:] if n > 1 else v) for k, v in a.items()}
    mean = {k: float(v.mean()) for k, v in steady.items()}
    return {
        "steps": n,
        "steady_steps": int(steady["step_wall_s"].size),
        "step_wall_s": mean["step_wall_s"],
        "feedback_wall_s": mean["feedback_wall_s"],
        "rest_wall_s": mean["step_wall_s"] - mean["feedback_wall_s"],
        "frames": mean["frames"],
        "device_time_s": mean["device_time_s"],
        "first_step_wall_s": float(a["step_wall_s"][0]),
        "median_step_wall_s": float(np.median(steady["step_wall_s"])),
        "mean_frames": float(a["frames"].mean()),
        "total_step_wall_s": float(a["step_wall_s"].sum()),
        "total_feedback_wall_s": float(a["feedback_wall_s"].sum()),
        "total_frames": int(a["frames"].sum()),
        "total_device_time_s": float(a["device_time_s"].sum()),
        "calibration_frames": int(max(0.0, round(a["frames"].sum() - mean["frames"] * n))),
    }


def format_step_costs(results) -> str:
    """Plain-text table of the per-step costs of {method: MethodResult} (steady-state means: the
    step's wall time is the feedback projection plus the rest of the step, exactly)."""

    def ms(v):
        return "" if v is None else f"{1e3 * v:.1f} ms"

    head = ["method", "step (wall)", "feedback projection", "rest of step", "optical frames", "modelled device time"]
    rows = []
    for name, r in results.items():
        c = r.step_costs or {}
        if not c.get("steps"):
            continue
        rows.append([name, ms(c["step_wall_s"]), ms(c["feedback_wall_s"]), ms(c["rest_wall_s"]), f"{c['frames']:,.0f}",
                     ms(c["device_time_s"])])
    if not rows:
        return "(no per-step costs recorded)"
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["per step (mean over the steps after the first, which also calibrates; step = feedback projection + rest of step; "
             "device time = frames x frame period of the modelled optical device):"]
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
