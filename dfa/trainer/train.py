"""The trainer: one loop for every method, model and data set; checkpoints; side-by-side runs.

:class:`Trainer` (or :func:`train_method`) trains one method (``bp``, ``dfa``, ``optical-dfa``...
see :mod:`dfa.trainer.methods`) on the model and data set of a :class:`~dfa.trainer.config.TrainConfig`:

    for each step:  zero grads -> method.compute_gradients(batch) -> [alignment] -> optimizer.step()

with the test metrics after every epoch, a checkpoint every ``checkpoint_every`` steps
(resumable bit for bit: model, optimizer, feedback and optical device state, position in
the deterministic batch sequence) and a tqdm progress bar. Every method starts from the same
initial weights and sees the same batches for a given seed, so the comparison is paired.

:func:`run_training` trains all the methods of the config and writes a run folder
(see :mod:`dfa.trainer.report`).

Before every step the trainer sets the learning rate of the configured schedule
(``TrainConfig.lr_at``: a pure function of the step, so a resumed run continues it) and keys the
model's dropout masks to (seed, step) (:func:`dfa.zoo.models.set_dropout_key`); evaluation runs
in ``model.eval()``.

Per-step costs: every step records its wall time (gradients + optimizer step, on the CPU or
the GPU, synchronised by reading the loss), the part of it spent in the feedback projection
(the OPU simulation for optical DFA), the camera frames it used and the *modelled* device
time of those frames (frames x frame period: what the real optical hardware would take). The
summary (``MethodResult.step_costs``) sets the device time next to the compute time of the
rest of the step; alignment diagnostics are excluded from the step time.

Mixed precision: ``TrainConfig.precision = "bf16"`` runs the forward pass and the loss under
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
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from dfa.errors import TrainingDivergedError
from dfa.version import __version__
from dfa.zoo.data import load_dataset
from dfa.zoo.models import build_model, n_parameters, set_dropout_key
from photonics.errors import ConfigError
from photonics.instrument import raise_if_interrupted
from photonics.io import folder_lock, write_json_atomic
from photonics.rng import derive_seed

from .checkpoint import load_checkpoint, save_checkpoint
from .checks import check_config, check_model
from .config import RESUMABLE_CHANGES, TrainConfig
from .methods import Method, build_method
from .report import result_from_checkpoint, write_run
from .result import MethodResult, summarize_step_costs
from .state import TrainerState
from .tasks import make_task

log = logging.getLogger(__name__)

__all__ = ["Trainer", "train_method", "run_training", "torch_device", "build_components", "alignment_angles"]


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


def _feedback_wall_s(method: Method) -> float:
    provider = method.provider
    return float(getattr(provider, "projection_wall_s", 0.0)) if provider is not None else 0.0


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


class Trainer:
    """Trains one method of a :class:`TrainConfig` (the loop of the module docstring).

    Parameters
    ----------
    config : TrainConfig
    method : str
        A registered method name, one of ``config.methods``.
    checkpoint : path, optional
        Checkpoint file, written every ``config.checkpoint_every`` steps and at the end.
    resume : bool
        Continue from ``checkpoint`` (it must exist and match ``config``, except for
        epochs / max_steps / checkpoint_every / methods). The result is bit-identical to an
        uninterrupted run.
    progress : bool
        Show a tqdm progress bar.
    data : dfa.zoo.data object, optional
        The data set, if already loaded (must be the one ``config`` names).
    on_step : callable, optional
        Called as ``on_step(step, model)`` after every optimizer step (monitoring; tests use
        it to simulate a crash or a divergence).
    artifacts_dir : path, optional
        Folder for the task's files of the trained model (``Task.write_artifacts``, e.g. the
        diffusion sample grid ``samples_<method>.png``).

    Attributes
    ----------
    model, task, method, optimizer, state : the parts of the run (``state``: :class:`TrainerState`).
    """

    def __init__(
        self,
        config: TrainConfig,
        method: str,
        *,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        data=None,
        on_step: Callable[[int, torch.nn.Module], None] | None = None,
        artifacts_dir: str | Path | None = None,
    ):
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig (got {type(config).__name__})")
        if method not in config.methods:
            raise ConfigError(f"method {method!r} is not among the configured methods {list(config.methods)}")
        if resume and checkpoint is None:
            raise ConfigError("resume needs the checkpoint path")
        self._t_start = time.perf_counter()
        self.config = config
        self.method_name = method
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.progress = bool(progress)
        self.on_step = on_step
        self.artifacts_dir = artifacts_dir
        self.data, self.model, task = build_components(config, data)
        device = next(self.model.parameters()).device
        saved = self._load_for_resume(device) if resume else None
        self.task = _AutocastTask(task, device, torch.bfloat16) if config.precision == "bf16" else task
        self.method: Method = build_method(method, self.model, self.task, config)
        self.optimizer = _optimizer(config, self.model)
        self.state = TrainerState()
        if saved is not None:
            self._restore(saved)
        spe = self.task.steps_per_epoch
        self.total_steps = config.epochs * spe if not config.max_steps else min(config.epochs * spe, config.max_steps)
        if self.state.align_every is None:  # fixed at the first session, so a resumed run records the same diagnostics
            self.state.align_every = _auto_align_every(config, spe) if self.method.aligns else 0
        self._align_groups = None
        if self.state.align_every:
            self._align_groups = self.method.segment_parameters(self.task.sample_batch())[:-1]
            self.state.alignment["segments"] = self.method.segment_names()
        self._session_t0 = time.perf_counter()
        self._wall_before = float(self.state.wall_s)

    # ---- resume -------------------------------------------------------------------------------
    def _load_for_resume(self, device) -> dict:
        ck = load_checkpoint(self.checkpoint, map_location=device)
        raw = dict(ck["config"])
        raw.setdefault("precision", ck.get("precision", "fp32"))  # older checkpoints kept it beside the config
        saved_cfg = TrainConfig.from_dict(raw)
        if saved_cfg.precision != self.config.precision:
            raise ConfigError(f"checkpoint {self.checkpoint} was trained in {saved_cfg.precision}, not {self.config.precision}; "
                              "resume with the same precision")
        diff = [d for d in saved_cfg.differences(self.config) if d not in RESUMABLE_CHANGES]
        if diff:
            raise ConfigError(f"checkpoint {self.checkpoint} was made with different settings ({', '.join(diff)}); resume with the same config")
        if ck["method"] != self.method_name:
            raise ConfigError(f"checkpoint {self.checkpoint} is for method {ck['method']!r}, not {self.method_name!r}")
        return ck

    def _restore(self, ck: dict) -> None:
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.method.load_state_dict(ck["method_state"])
        self.state = TrainerState.from_dict(ck["trainer"])
        st = self.state
        log.info("%s: resumed from %s at step %d (epoch %d, batch %d)", self.method_name, self.checkpoint, st.step, st.epoch + 1, st.batch)

    # ---- records ------------------------------------------------------------------------------
    def wall_s(self) -> float:
        """Wall time of training so far, all sessions [s]."""
        return self._wall_before + (time.perf_counter() - self._session_t0)

    def evaluate(self, epoch_done: float) -> None:
        """Test metrics now, appended to the history as evaluation point ``epoch_done``."""
        hist, st, m = self.state.history, self.state, self.method
        self.model.eval()  # no dropout while scoring
        try:
            metrics = self.task.evaluate(self.model)
        finally:
            self.model.train()
        hist["epoch"].append(epoch_done)
        hist["step"].append(st.step)
        hist["train_loss"].append(st.epoch_mean_loss)
        for k, v in metrics.items():
            hist.setdefault(f"test_{k}", []).append(float(v))
        hist["wall_s"].append(self.wall_s())
        hist["optical_frames"].append(int(m.frames_used))
        hist["device_time_s"].append(float(m.device_time_s))

    def save(self, result: MethodResult | None = None) -> None:
        """Write the checkpoint (if any); ``result`` marks the method finished."""
        if self.checkpoint is None:
            return
        st = self.state
        st.wall_s = self.wall_s() if result is None else result.wall_s
        st.finished = result is not None
        save_checkpoint(
            self.checkpoint,
            {
                "config": self.config.to_dict(),
                "seed": self.config.seed,
                "method": self.method_name,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "method_state": self.method.state_dict(),
                "trainer": st.to_dict(),
                "result": None if result is None else asdict(result),
                "precision": self.config.precision,
                "package_version": __version__,
                "torch_version": str(torch.__version__),
            },
        )

    # ---- the loop -----------------------------------------------------------------------------
    def step(self, batch_index: int, batch) -> float:
        """One optimizer step on ``batch`` (number ``batch_index`` of the epoch); returns its loss."""
        st, m, costs = self.state, self.method, self.state.step_costs
        t_step = time.perf_counter()
        fb_before, frames_before, dev_before = _feedback_wall_s(m), m.frames_used, m.device_time_s
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.config.lr_at(st.step, st.epoch, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        set_dropout_key(self.model, self.config.seed, st.step)  # this step's dropout masks (if any)
        try:
            loss = m.compute_gradients(batch)
        except TrainingDivergedError as exc:
            raise TrainingDivergedError(
                f"{self.method_name}: {exc} at step {st.step + 1} (epoch {st.epoch + 1}); lower the learning rate "
                f"(lr={self.config.lr:g}) or the feedback scale (feedback.scale={self.config.feedback.scale:g})"
            ) from None
        t_align = 0.0
        if st.align_every and st.step % st.align_every == 0:
            t_a = time.perf_counter()
            set_dropout_key(self.model, self.config.seed, st.step)  # BP sees the masks the method saw
            st.alignment["step"].append(st.step)
            st.alignment["angle_deg"].append(alignment_angles(m, batch, self._align_groups))
            t_align = time.perf_counter() - t_a
        self.optimizer.step()
        loss_value = float(loss)  # waits for the device: the step is done
        costs["step_wall_s"].append(time.perf_counter() - t_step - t_align)
        costs["feedback_wall_s"].append(_feedback_wall_s(m) - fb_before)
        costs["frames"].append(int(m.frames_used - frames_before))
        costs["device_time_s"].append(float(m.device_time_s - dev_before))
        st.count_step(batch_index, loss_value)
        return loss_value

    def run(self) -> MethodResult:
        """Train to the configured end (or continue there); return the result."""
        st, config = self.state, self.config
        if st.step == 0 and not st.history["step"]:
            self.evaluate(0)
        bar = tqdm(total=self.total_steps, initial=min(st.step, self.total_steps), desc=self.method_name, unit="step",
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        last_saved = st.step
        try:
            while st.step < self.total_steps and st.epoch < config.epochs:
                epoch = st.epoch
                for i, batch in enumerate(self.task.batches(epoch)):
                    if i < st.batch:
                        continue
                    if st.step >= self.total_steps:
                        break
                    raise_if_interrupted()  # a Ctrl-C that Python dropped during the last step (inside a command)
                    loss_value = self.step(i, batch)
                    bar.update(1)
                    if st.step % 10 == 0:
                        bar.set_postfix(loss=f"{loss_value:.4f}")
                    if st.step - last_saved >= config.checkpoint_every:
                        self.save()
                        last_saved = st.step
                    if self.on_step is not None:
                        self.on_step(st.step, self.model)
                else:
                    self.evaluate(epoch + 1)
                    st.start_epoch(epoch + 1)
                    continue
                # stopped inside the epoch (max_steps)
                if st.epoch_loss_n:
                    self.evaluate(epoch + st.batch / self.task.steps_per_epoch)
                break
        finally:
            bar.close()
        result = self.result()
        log.info("%s: %d steps in %.1f s (setup %.1f s)", self.method_name, st.step, result.wall_s, self._session_t0 - self._t_start)
        self.save(result)
        if self.artifacts_dir is not None:
            for path in self.task.write_artifacts(self.model, self.artifacts_dir, self.method_name):
                log.info("%s: wrote %s", self.method_name, path)
        return result

    def result(self) -> MethodResult:
        """The :class:`MethodResult` of the training so far."""
        st, m = self.state, self.method
        hist = st.history
        return MethodResult(
            method=self.method_name,
            metrics={k[len("test_"):]: v[-1] for k, v in hist.items() if k.startswith("test_")},
            primary_metric=self.task.primary_metric,
            steps=int(st.step),
            wall_s=self.wall_s(),
            optical_frames=int(m.frames_used),
            device_time_s=float(m.device_time_s),
            history={k: list(v) for k, v in hist.items()},
            alignment={k: list(v) for k, v in st.alignment.items()},
            describe=_jsonable({**m.describe(), "n_parameters": n_parameters(self.model), "precision": self.config.precision}),
            step_costs=summarize_step_costs(st.step_costs),
        )


def train_method(config: TrainConfig, method: str, **kwargs) -> MethodResult:
    """Train ``method`` as configured; return its :class:`MethodResult` (``Trainer(config, method, **kwargs).run()``)."""
    return Trainer(config, method, **kwargs).run()


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
    data=None,
    overwrite: bool = False,
) -> dict[str, MethodResult]:
    """Train every method of ``config`` side by side; write the run folder if ``out_dir``.

    Everything is checked first (:func:`dfa.trainer.checks.check_config`): a misspelled name or
    an impossible device fails before a folder is made or a step is trained. The run folder is
    locked while the run writes it (a second run on the same folder is refused), and its
    ``config.json`` is written before the first step, so an interrupted run can always be
    resumed. A folder that already holds a run is refused unless ``resume`` (continue it) or
    ``overwrite`` (its previous results and checkpoints are removed first).

    With ``resume``, methods already finished in ``out_dir`` are read back from their
    checkpoint's history and the others continue from their checkpoint (or start).
    Besides the files of :func:`dfa.trainer.report.write_run`
    the folder gets ``step_costs.json`` (per-step cost summary of each method, see
    :func:`summarize_step_costs`) and, with ``plots``, the task's files of each trained model
    (e.g. the diffusion sample grids ``samples_<method>.png``).
    Returns {method: MethodResult} in the configured order. ``data``: the data set, if already
    loaded (must be the one ``config`` names).
    """
    check_config(config)
    if data is None:
        data = load_dataset(config.dataset, **config.dataset_options)
    check_model(config, data)  # bad model options or a model beyond this machine: before the run folder exists
    if out_dir is None:
        return _train_all(config, None, resume=False, progress=progress, plots=plots, data=data)
    out = Path(out_dir)
    if resume and not (out / "config.json").is_file():
        raise ConfigError(f"{out} holds no run to resume (no config.json)")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, "another dfa train run"):
        previous = [p for p in out.iterdir() if p.name != ".lock"]
        if previous and not resume:
            if not overwrite:
                raise ConfigError(f"{out} already holds a run; resume it (--resume), choose another folder or replace it (--force)")
            for p in previous:
                if p.name in RUN_FILES or p.suffix == ".png":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
        (out / "checkpoints").mkdir(exist_ok=True)
        if not resume:
            write_json_atomic(out / "config.json", config.to_dict())  # first: the run can be resumed from the start
        return _train_all(config, out, resume=resume, progress=progress, plots=plots, data=data)


#: files of a run folder (removed by ``overwrite`` before a new run)
RUN_FILES = ("config.json", "results.json", "metrics.h5", "step_costs.json", "checkpoints")


def _train_all(config: TrainConfig, out: Path | None, *, resume: bool, progress: bool, plots: bool, data) -> dict[str, MethodResult]:
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
                                         artifacts_dir=out if plots else None)
        else:
            results[name] = train_method(config, name, checkpoint=ck, progress=progress, data=data,
                                         artifacts_dir=out if plots else None)
        if out is not None:
            write_run(out, config, data, results, plots=False)
            _write_step_costs(out, results)
    if out is not None:
        write_run(out, config, data, results, plots=plots)
    return results


def _write_step_costs(out: Path, results: dict[str, MethodResult]) -> None:
    payload = {
        "description": "per-step costs, means over the steps after the first (which also calibrates): step_wall_s = gradients + optimizer step (alignment "
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

