"""The trainer: one loop for every method, model and data set; checkpoints; side-by-side runs.

:func:`train_method` trains one method (``bp``, ``dfa``, ``optical-dfa``... see
:mod:`dfa.methods`) on the model and data set of a :class:`~dfa.config.TrainConfig`:

    for each step:  zero grads -> method.compute_gradients(batch) -> [alignment] -> optimizer.step()

with the test metrics after every epoch, a checkpoint every ``checkpoint_every`` steps
(resumable bit for bit: model, optimizer, feedback and optical device state, position in
the deterministic batch sequence) and a tqdm progress bar. Every method starts from the same
initial weights and sees the same batches for a given seed, so the comparison is paired.

:func:`run_training` trains all the methods of the config and writes a run folder
(see :mod:`dfa.report`).

Per-step costs: every step records its wall time (gradients + optimizer step, on the CPU or
the GPU, synchronised by reading the loss), the part of it spent in the feedback projection
(the OPU simulation for optical DFA), the camera frames it used and the *modelled* device
time of those frames (frames x frame period: what the real optical hardware would take). The
summary (``MethodResult.step_costs``) sets the device time next to the compute time of the
rest of the step; alignment diagnostics are excluded from the step time.

Mixed precision: ``precision="bf16"`` runs the forward pass and the loss under
``torch.autocast(dtype=torch.bfloat16)`` (weights, optimizer state, gradients and the
feedback projection stay float32; the DFA error e is cast to float32 before it is projected).
bfloat16 keeps float32's exponent range, so the small DFA errors (1/batch-scaled) cannot
underflow and no loss scaling is needed; float16 is not offered for that reason.

Alignment diagnostics: for methods that approximate BP (DFA), every ``align_every`` steps the
trainer also computes the BP gradient on the same batch (without touching the training
state: the DFA gradients are restored before the optimizer step) and records, per hidden
segment l, the angle between the two updates,
``angle_l = arccos( <g_DFA, g_BP> / (|g_DFA| |g_BP|) )`` in degrees, over the parameters of
segment l (the weights that receive B_l e).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from photonics.errors import ConfigError
from photonics.rng import derive_seed

from . import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .config import RESUMABLE_CHANGES, TrainConfig
from .data import load_dataset
from .errors import TrainingDivergedError
from .methods import Method, build_method
from .models import build_model, n_parameters
from .tasks import make_task

log = logging.getLogger(__name__)

__all__ = ["MethodResult", "train_method", "run_training", "torch_device", "build_components", "alignment_angles",
           "PRECISIONS", "summarize_step_costs", "format_step_costs"]

#: training precisions: "fp32" (default) or "bf16" (autocast of forward pass and loss; see module doc)
PRECISIONS = ("fp32", "bf16")


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


def torch_device(name: str) -> torch.device:
    """``torch.device(name)`` after checking that it exists here."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device 'cuda' was requested but torch {torch.__version__} sees no CUDA GPU here; use --device cpu")
    return torch.device(name)


def build_components(config: TrainConfig, data=None):
    """(data, model, task) for ``config``: the model initialised from the seed, on its device."""
    device = torch_device(config.device)
    if data is None:
        data = load_dataset(config.dataset, **config.dataset_options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(config.seed, "model"))
        model = build_model(config.model, data, **config.model_options)
    model = model.to(device)
    task = make_task(data, batch_size=config.batch_size, seed=config.seed, device=device, steps_per_epoch=config.steps_per_epoch, model=model)
    return data, model, task


class _AutocastTask:
    """A task whose forward pass and loss run under ``torch.autocast`` (bf16); the rest delegates."""

    def __init__(self, task, device: torch.device, dtype: torch.dtype):
        self._task = task
        self._ctx = lambda: torch.autocast(device_type=device.type, dtype=dtype)

    def __getattr__(self, name):
        return getattr(self._task, name)

    def forward(self, model, batch):
        with self._ctx():
            return self._task.forward(model, batch)

    def loss(self, output, batch):
        with self._ctx():
            return self._task.loss(output, batch).float()

    def evaluate(self, model):
        with self._ctx():
            return self._task.evaluate(model)


def _check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    return precision


def _feedback_wall_s(method: Method) -> float:
    provider = getattr(method, "provider", None)
    return float(getattr(provider, "projection_wall_s", 0.0)) if provider is not None else 0.0


def summarize_step_costs(costs: dict, frame_rate_hz: float | None = None) -> dict:
    """Summary of per-step cost lists {step_wall_s, feedback_wall_s, frames, device_time_s}.

    Medians over the steps (robust to the one-off calibration of the optical device on the
    first step and to pauses of a shared machine), plus totals: ``step_wall_s`` (gradients +
    optimizer step), ``feedback_wall_s`` (the projection, simulated optics included),
    ``rest_wall_s`` (step minus projection: forward, backward, update), ``frames`` and
    ``device_time_s`` (modelled optical device time), all per step; ``calibration_frames``
    (frames beyond the steady state: reference calibration and probes).
    """
    import numpy as np

    n = len(costs.get("step_wall_s", []))
    if n == 0:
        return {"steps": 0}
    a = {k: np.asarray(costs[k], dtype=np.float64) for k in ("step_wall_s", "feedback_wall_s", "frames", "device_time_s")}
    med = {k: float(np.median(v)) for k, v in a.items()}
    return {
        "steps": n,
        "step_wall_s": med["step_wall_s"],
        "feedback_wall_s": med["feedback_wall_s"],
        "rest_wall_s": float(np.median(a["step_wall_s"] - a["feedback_wall_s"])),
        "frames": med["frames"],
        "device_time_s": med["device_time_s"],
        "mean_frames": float(a["frames"].mean()),
        "total_step_wall_s": float(a["step_wall_s"].sum()),
        "total_feedback_wall_s": float(a["feedback_wall_s"].sum()),
        "total_frames": int(a["frames"].sum()),
        "total_device_time_s": float(a["device_time_s"].sum()),
        "calibration_frames": int(max(0.0, a["frames"].sum() - med["frames"] * n)),
    }


def format_step_costs(results) -> str:
    """Plain-text table of the per-step costs of {method: MethodResult} (medians over the steps)."""

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
    lines = ["per step (median over steps; device time = frames x frame period of the modelled optical device):"]
    lines.append("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def _optimizer(config: TrainConfig, model) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def alignment_angles(method: Method, batch, groups) -> list[float]:
    """Angle [deg] between the method's current gradients and BP's, per hidden segment.

    The method's gradients (already in ``.grad``) are restored afterwards, so training is
    unaffected. Segments without gradient give NaN.
    """
    model = method.model
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [None if p.grad is None else p.grad.detach().clone() for p in params]
    for p in params:
        p.grad = None
    out = method.task.forward(model, batch)
    method.task.loss(out, batch).backward()
    bp = {id(p): (None if p.grad is None else p.grad.detach().clone()) for p in params}
    dfa = {id(p): g for p, g in zip(params, saved)}
    for p, g in zip(params, saved):
        p.grad = g
    angles = []
    for group in groups:
        num = a2 = b2 = 0.0
        for _, p in group:
            ga, gb = dfa.get(id(p)), bp.get(id(p))
            if ga is None or gb is None:
                continue
            ga64, gb64 = ga.double(), gb.double()
            num += float((ga64 * gb64).sum())
            a2 += float((ga64 * ga64).sum())
            b2 += float((gb64 * gb64).sum())
        if a2 > 0 and b2 > 0:
            angles.append(math.degrees(math.acos(max(-1.0, min(1.0, num / math.sqrt(a2 * b2))))))
        else:
            angles.append(float("nan"))
    return angles


def _auto_align_every(config: TrainConfig, steps_per_epoch: int) -> int:
    if config.align_every is not None:
        return config.align_every
    total = config.epochs * steps_per_epoch
    if config.max_steps:
        total = min(total, config.max_steps)
    return max(1, total // 50)


def _new_trainer_state() -> dict:
    return {
        "epoch": 0,
        "batch": 0,
        "step": 0,
        "epoch_loss_sum": 0.0,
        "epoch_loss_n": 0,
        "wall_s": 0.0,
        "finished": False,
        "history": {"epoch": [], "step": [], "train_loss": [], "wall_s": [], "optical_frames": [], "device_time_s": []},
        "alignment": {"step": [], "angle_deg": [], "segments": []},
        "step_costs": {"step_wall_s": [], "feedback_wall_s": [], "frames": [], "device_time_s": []},
    }


def train_method(
    config: TrainConfig,
    method: str,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    data=None,
    on_step: Callable[[int, torch.nn.Module], None] | None = None,
    precision: str | None = None,
    artifacts_dir: str | Path | None = None,
) -> MethodResult:
    """Train ``method`` as configured; return its :class:`MethodResult`.

    Parameters
    ----------
    config : TrainConfig
    method : str
        A registered method name.
    checkpoint : path, optional
        Checkpoint file, written every ``config.checkpoint_every`` steps and at the end.
    resume : bool
        Continue from ``checkpoint`` (it must exist and match ``config``, except for
        epochs / max_steps / checkpoint_every). The result is bit-identical to an
        uninterrupted run.
    progress : bool
        Show a tqdm progress bar.
    data : dfa.data object, optional
        The data set, if already loaded (must be the one ``config`` names).
    on_step : callable, optional
        Called as ``on_step(step, model)`` after every optimizer step (monitoring; tests use
        it to simulate a crash or a divergence).
    precision : str, optional
        ``"fp32"`` or ``"bf16"`` (autocast, see the module doc). None: ``"fp32"``, or on
        resume the checkpoint's precision (a different one is refused: it would change the
        trajectory).
    artifacts_dir : path, optional
        Folder for the task's files of the trained model (``Task.write_artifacts``, e.g. the
        diffusion sample grid ``samples_<method>.png``).
    """
    if method not in config.methods:
        raise ConfigError(f"method {method!r} is not among the configured methods {list(config.methods)}")
    t_start = time.perf_counter()
    data, model, task = build_components(config, data)
    device = next(model.parameters()).device
    ck = None
    if resume:
        if checkpoint is None:
            raise ConfigError("resume needs the checkpoint path")
        ck = load_checkpoint(checkpoint, map_location=device)
        saved_precision = ck.get("precision", "fp32")
        if precision is not None and _check_precision(precision) != saved_precision:
            raise ConfigError(f"checkpoint {checkpoint} was trained in {saved_precision}, not {precision}; resume with the same precision")
        precision = saved_precision
    precision = _check_precision(precision or "fp32")
    if precision == "bf16":
        task = _AutocastTask(task, device, torch.bfloat16)
    m = build_method(method, model, task, seed=config.seed, feedback=config.feedback)
    opt = _optimizer(config, model)
    st = _new_trainer_state()

    if resume:
        saved_cfg = TrainConfig.from_dict(ck["config"])
        diff = [d for d in saved_cfg.differences(config) if d not in RESUMABLE_CHANGES]
        if diff:
            raise ConfigError(f"checkpoint {checkpoint} was made with different settings ({', '.join(diff)}); resume with the same config")
        if ck["method"] != method:
            raise ConfigError(f"checkpoint {checkpoint} is for method {ck['method']!r}, not {method!r}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        m.load_state_dict(ck["method_state"])
        st = ck["trainer"]
        log.info("%s: resumed from %s at step %d (epoch %d, batch %d)", method, checkpoint, st["step"], st["epoch"] + 1, st["batch"])

    spe = task.steps_per_epoch
    total = config.epochs * spe
    if config.max_steps:
        total = min(total, config.max_steps)
    # fixed at the first session, so a resumed run records the same diagnostics
    align_every = st.setdefault("align_every", _auto_align_every(config, spe) if m.aligns else 0)
    groups = None
    if align_every:
        groups = m.segment_parameters(task.sample_batch())[:-1]
        st["alignment"]["segments"] = m.segment_names()

    hist = st["history"]
    session_t0 = time.perf_counter()
    wall_before = float(st["wall_s"])

    def wall_now() -> float:
        return wall_before + (time.perf_counter() - session_t0)

    def record(epoch_done: int) -> None:
        metrics = task.evaluate(model)
        hist["epoch"].append(epoch_done)
        hist["step"].append(st["step"])
        n = st["epoch_loss_n"]
        hist["train_loss"].append(st["epoch_loss_sum"] / n if n else float("nan"))
        for k, v in metrics.items():
            hist.setdefault(f"test_{k}", []).append(float(v))
        hist["wall_s"].append(wall_now())
        hist["optical_frames"].append(int(m.frames_used))
        hist["device_time_s"].append(float(m.device_time_s))

    def save(result: MethodResult | None = None) -> None:
        if checkpoint is None:
            return
        st["wall_s"] = wall_now() if result is None else result.wall_s
        st["finished"] = result is not None
        save_checkpoint(
            checkpoint,
            {
                "config": config.to_dict(),
                "seed": config.seed,
                "method": method,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "method_state": m.state_dict(),
                "trainer": st,
                "result": None if result is None else asdict(result),
                "precision": precision,
                "package_version": __version__,
                "torch_version": str(torch.__version__),
            },
        )

    if st["step"] == 0 and not hist["step"]:
        record(0)

    costs = st.setdefault("step_costs", {"step_wall_s": [], "feedback_wall_s": [], "frames": [], "device_time_s": []})
    bar = tqdm(total=total, initial=min(st["step"], total), desc=method, unit="step", disable=not progress, leave=False, dynamic_ncols=True)
    last_saved = st["step"]
    try:
        stop = st["step"] >= total
        while not stop and st["epoch"] < config.epochs:
            epoch = st["epoch"]
            for i, batch in enumerate(task.batches(epoch)):
                if i < st["batch"]:
                    continue
                if st["step"] >= total:
                    stop = True
                    break
                t_step = time.perf_counter()
                fb_before, frames_before, dev_before = _feedback_wall_s(m), m.frames_used, m.device_time_s
                opt.zero_grad(set_to_none=True)
                try:
                    loss = m.compute_gradients(batch)
                except TrainingDivergedError as exc:
                    raise TrainingDivergedError(
                        f"{method}: {exc} at step {st['step'] + 1} (epoch {epoch + 1}); "
                        f"lower the learning rate (lr={config.lr:g}) or the feedback scale (feedback.scale={config.feedback.scale:g})"
                    ) from None
                t_align = 0.0
                if align_every and st["step"] % align_every == 0:
                    t_a = time.perf_counter()
                    st["alignment"]["step"].append(st["step"])
                    st["alignment"]["angle_deg"].append(alignment_angles(m, batch, groups))
                    t_align = time.perf_counter() - t_a
                opt.step()
                loss_value = float(loss)  # waits for the device: the step is done
                costs["step_wall_s"].append(time.perf_counter() - t_step - t_align)
                costs["feedback_wall_s"].append(_feedback_wall_s(m) - fb_before)
                costs["frames"].append(int(m.frames_used - frames_before))
                costs["device_time_s"].append(float(m.device_time_s - dev_before))
                st["step"] += 1
                st["batch"] = i + 1
                st["epoch_loss_sum"] += loss_value
                st["epoch_loss_n"] += 1
                bar.update(1)
                if st["step"] % 10 == 0:
                    bar.set_postfix(loss=f"{loss_value:.4f}")
                if st["step"] - last_saved >= config.checkpoint_every:
                    save()
                    last_saved = st["step"]
                if on_step is not None:
                    on_step(st["step"], model)
            else:
                record(epoch + 1)
                st["epoch"] = epoch + 1
                st["batch"] = 0
                st["epoch_loss_sum"] = 0.0
                st["epoch_loss_n"] = 0
                continue
            # stopped inside the epoch (max_steps)
            if st["epoch_loss_n"]:
                record(epoch + st["batch"] / task.steps_per_epoch)
            break
    finally:
        bar.close()
    final = {k[len("test_"):]: v[-1] for k, v in hist.items() if k.startswith("test_")}
    wall = wall_now()
    log.info("%s: %d steps in %.1f s (setup %.1f s)", method, st["step"], wall, session_t0 - t_start)
    result = MethodResult(
        method=method,
        metrics=final,
        primary_metric=task.primary_metric,
        steps=int(st["step"]),
        wall_s=wall,
        optical_frames=int(m.frames_used),
        device_time_s=float(m.device_time_s),
        history={k: list(v) for k, v in hist.items()},
        alignment={k: list(v) for k, v in st["alignment"].items()},
        describe=_jsonable({**m.describe(), "n_parameters": n_parameters(model), "precision": precision}),
        step_costs=summarize_step_costs(costs),
    )
    save(result)
    if artifacts_dir is not None:
        for path in task.write_artifacts(model, artifacts_dir, method):
            log.info("%s: wrote %s", method, path)
    return result


def _jsonable(obj):
    """Plain JSON types only (checkpoints load with weights_only=True)."""
    return json.loads(json.dumps(obj, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def run_training(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    plots: bool = True,
    precision: str | None = None,
) -> dict[str, MethodResult]:
    """Train every method of ``config`` side by side; write the run folder if ``out_dir``.

    With ``resume``, methods already finished in ``out_dir`` are read back from their
    checkpoint's history and the others continue from their checkpoint (or start).
    ``precision``: see :func:`train_method`. Besides the files of :func:`dfa.report.write_run`
    the folder gets ``step_costs.json`` (per-step cost summary of each method, see
    :func:`summarize_step_costs`) and, with ``plots``, the task's files of each trained model
    (e.g. the diffusion sample grids ``samples_<method>.png``).
    Returns {method: MethodResult} in the configured order.
    """
    from .report import result_from_checkpoint, write_run

    data = load_dataset(config.dataset, **config.dataset_options)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(exist_ok=True)
    results: dict[str, MethodResult] = {}
    for name in config.methods:
        ck = out / "checkpoints" / f"{name}.pt" if out is not None else None
        if resume and ck is not None and ck.exists():
            saved = load_checkpoint(ck)
            if saved["trainer"].get("finished") and _finished_for(config, saved):
                results[name] = result_from_checkpoint(saved, ck)
                log.info("%s: already finished in %s", name, out)
                continue
            results[name] = train_method(config, name, checkpoint=ck, resume=True, progress=progress, data=data,
                                         precision=precision, artifacts_dir=out if plots else None)
        else:
            results[name] = train_method(config, name, checkpoint=ck, progress=progress, data=data, precision=precision,
                                         artifacts_dir=out if plots else None)
        if out is not None:
            write_run(out, config, data, results, plots=False)
            _write_step_costs(out, results)
    if out is not None:
        write_run(out, config, data, results, plots=plots)
    return results


def _write_step_costs(out: Path, results: dict[str, MethodResult]) -> None:
    from photonics.io import write_json_atomic

    payload = {
        "description": "per-step costs, medians over the steps: step_wall_s = gradients + optimizer step (alignment "
                       "diagnostics excluded), feedback_wall_s = the feedback projection inside it (simulated optics for "
                       "optical DFA), rest_wall_s = the rest of the step, frames and device_time_s = optical camera frames "
                       "and modelled device time (frames x frame period) per step",
        "units": {"step_wall_s": "s", "feedback_wall_s": "s", "rest_wall_s": "s", "device_time_s": "s", "frames": "frames"},
    }
    for name, r in results.items():
        payload[name] = {**r.step_costs, "precision": r.describe.get("precision", "fp32")}
    write_json_atomic(out / "step_costs.json", payload)


def _finished_for(config: TrainConfig, saved: dict) -> bool:
    """A finished checkpoint is final for ``config`` unless config asks for more steps."""
    st = saved["trainer"]
    old = TrainConfig.from_dict(saved["config"])
    return old.epochs == config.epochs and old.max_steps == config.max_steps and st["step"] > 0

