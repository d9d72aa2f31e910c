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

__all__ = ["MethodResult", "train_method", "run_training", "torch_device", "build_components", "alignment_angles"]


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
    """
    if method not in config.methods:
        raise ConfigError(f"method {method!r} is not among the configured methods {list(config.methods)}")
    t_start = time.perf_counter()
    data, model, task = build_components(config, data)
    device = next(model.parameters()).device
    m = build_method(method, model, task, seed=config.seed, feedback=config.feedback)
    opt = _optimizer(config, model)
    st = _new_trainer_state()

    if resume:
        if checkpoint is None:
            raise ConfigError("resume needs the checkpoint path")
        ck = load_checkpoint(checkpoint, map_location=device)
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
                "package_version": __version__,
                "torch_version": str(torch.__version__),
            },
        )

    if st["step"] == 0 and not hist["step"]:
        record(0)

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
                opt.zero_grad(set_to_none=True)
                try:
                    loss = m.compute_gradients(batch)
                except TrainingDivergedError as exc:
                    raise TrainingDivergedError(
                        f"{method}: {exc} at step {st['step'] + 1} (epoch {epoch + 1}); "
                        f"lower the learning rate (lr={config.lr:g}) or the feedback scale (feedback.scale={config.feedback.scale:g})"
                    ) from None
                if align_every and st["step"] % align_every == 0:
                    st["alignment"]["step"].append(st["step"])
                    st["alignment"]["angle_deg"].append(alignment_angles(m, batch, groups))
                opt.step()
                st["step"] += 1
                st["batch"] = i + 1
                st["epoch_loss_sum"] += float(loss)
                st["epoch_loss_n"] += 1
                bar.update(1)
                if st["step"] % 10 == 0:
                    bar.set_postfix(loss=f"{float(loss):.4f}")
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
        describe=_jsonable({**m.describe(), "n_parameters": n_parameters(model)}),
    )
    save(result)
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
) -> dict[str, MethodResult]:
    """Train every method of ``config`` side by side; write the run folder if ``out_dir``.

    With ``resume``, methods already finished in ``out_dir`` are read back from their
    checkpoint's history and the others continue from their checkpoint (or start).
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
            results[name] = train_method(config, name, checkpoint=ck, resume=True, progress=progress, data=data)
        else:
            results[name] = train_method(config, name, checkpoint=ck, progress=progress, data=data)
        if out is not None:
            write_run(out, config, data, results, plots=False)
    if out is not None:
        write_run(out, config, data, results, plots=plots)
    return results


def _finished_for(config: TrainConfig, saved: dict) -> bool:
    """A finished checkpoint is final for ``config`` unless config asks for more steps."""
    st = saved["trainer"]
    old = TrainConfig.from_dict(saved["config"])
    return old.epochs == config.epochs and old.max_steps == config.max_steps and st["step"] > 0

