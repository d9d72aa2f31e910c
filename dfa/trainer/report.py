"""The run folder and the side-by-side table.

A run folder written by :func:`write_run` holds::

    config.json             the full TrainConfig (+ the optical device config), to resume
    results.json            per method (keys "bp", "dfa", "optical-dfa", ...): test metrics,
                            steps, wall_s, optical_frames, device_time_s, feedback details
                            (and, for optical methods, their device config: "optical_device");
                            plus "config", "dataset", "model", "primary_metric", "versions"
    metrics.h5              per method: learning curves and alignment angles (HDF5, units)
    learning_curves.png     train loss and test metric vs step, all methods
    alignment.png           angle between DFA and BP updates per layer vs step
    checkpoints/<method>.pt resumable checkpoints (see dfa.trainer.checkpoint)

Files are written atomically (temporary file renamed into place).
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import numpy as np

from dfa.version import __version__
from photonics.errors import FileFormatError
from photonics.io import write_json_atomic
from photonics.records import save_result

from .config import TrainConfig
from .result import MethodResult

__all__ = ["write_run", "format_table", "results_json", "result_from_checkpoint", "METRIC_LABELS"]

METRIC_LABELS = {"accuracy": "test accuracy", "loss": "test loss [nats]", "perplexity": "perplexity"}


def result_from_checkpoint(saved: dict, path=None):
    """The MethodResult stored in a finished checkpoint."""
    res = saved.get("result")
    if not res:
        raise FileFormatError(f"{path}: the checkpoint is not of a finished run (no result)")
    return MethodResult(**res)


def _optical_device_config(config: TrainConfig, results) -> dict | None:
    for r in results.values():
        fb = r.describe.get("feedback") or {}
        if fb.get("kind") == "optical":
            return config.feedback.device_config(r.describe["error_dim"], sum(r.describe["feedback_widths"])).to_dict()
    return None


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def results_json(config: TrainConfig, data, results) -> dict:
    """The content of results.json (see module doc)."""
    import torch

    out: dict = {}
    primary = None
    for name, r in results.items():
        primary = r.primary_metric
        entry = {f"test_{k}": _finite(v) for k, v in r.metrics.items()}
        entry.update(
            steps=r.steps,
            wall_s=r.wall_s,
            optical_frames=r.optical_frames,
            device_time_s=r.device_time_s,
            n_parameters=r.describe.get("n_parameters"),
            feedback=r.describe.get("feedback"),
        )
        fb = r.describe.get("feedback") or {}
        if fb.get("kind") == "optical":  # each optical method's own device (DFA: n_err -> widths; two-pass: n_err -> inputs)
            entry["optical_device"] = config.feedback.device_config(fb["n_in"], fb["n_out"]).to_dict()
        if r.alignment.get("step"):
            ang = np.asarray(r.alignment["angle_deg"], dtype=float)
            k = max(1, ang.shape[0] // 5)
            entry["alignment_deg_final"] = {s: float(np.nanmean(ang[-k:, i])) for i, s in enumerate(r.alignment["segments"])}
        out[name] = entry
    cfg = config.to_dict()
    cfg["optical_device"] = _optical_device_config(config, results)
    out["config"] = cfg
    out["dataset"] = data.info()
    first = next(iter(results.values()), None)
    out["model"] = {"name": config.model, "options": config.model_options, "n_parameters": first.describe.get("n_parameters") if first else None}
    out["primary_metric"] = primary
    out["versions"] = {"dfa": __version__, "torch": str(torch.__version__), "numpy": np.__version__, "python": platform.python_version()}
    import numba

    out["execution"] = {"torch_threads": torch.get_num_threads(), "numba_threads": numba.get_num_threads(), "torch_device": config.device}
    return out


def write_run(out_dir, config: TrainConfig, data, results, *, plots: bool = True) -> Path:
    """Write config.json, results.json, metrics.h5 and (``plots``) the PNGs into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", config.to_dict())
    write_json_atomic(out / "results.json", results_json(config, data, results))
    values: dict = {"train_config": config.to_json(), "dataset": json.dumps(data.info())}
    units: dict = {}
    for name, r in results.items():
        g = {k: np.asarray(v, dtype=np.float64) for k, v in r.history.items()}
        if r.alignment.get("step"):
            g["align_step"] = np.asarray(r.alignment["step"], dtype=np.int64)
            g["align_angle_deg"] = np.asarray(r.alignment["angle_deg"], dtype=np.float64)
            g["align_segments"] = json.dumps(r.alignment["segments"])
        values[name] = g
        units.update({f"{name}.wall_s": "s", f"{name}.device_time_s": "s", f"{name}.optical_frames": "frames",
                      f"{name}.align_angle_deg": "deg", f"{name}.train_loss": "nats", f"{name}.test_loss": "nats"})
    save_result(out / "metrics.h5", "dfa.metrics", values, seed=config.seed, units=units)
    if plots:
        from .training_plots import plot_alignment, plot_learning_curves

        plot_learning_curves(results, out / "learning_curves.png", title=f"{config.dataset} / {config.model}")
        if any(r.alignment.get("step") for r in results.values()):
            plot_alignment(results, out / "alignment.png")
    return out


def _fmt_time(s: float) -> str:
    if s == 0:
        return "0 s"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def format_table(results, unigram_loss: float | None = None) -> str:
    """The side-by-side table (plain text) of a dict {method: MethodResult}."""
    if not results:
        return "(no results)"
    primary = next(iter(results.values())).primary_metric
    if primary == "accuracy":
        head = ["method", "test accuracy", "test loss", "steps", "wall time", "optical frames", "device time"]
    else:
        head = ["method", "test loss [nats/char]", "perplexity", "steps", "wall time", "optical frames", "device time"]
    rows = []
    for name, r in results.items():
        if primary == "accuracy":
            m = [f"{100 * r.metrics['accuracy']:.2f} %", f"{r.metrics.get('loss', float('nan')):.4f}"]
        else:
            m = [f"{r.metrics['loss']:.4f}", f"{r.metrics.get('perplexity', float('nan')):.2f}"]
        rows.append([name, *m, f"{r.steps:,}", _fmt_time(r.wall_s), f"{r.optical_frames:,}", _fmt_time(r.device_time_s)])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    if unigram_loss is not None:
        lines.append(f"(unigram baseline: {unigram_loss:.4f} nats/char, perplexity {math.exp(unigram_loss):.2f})")
    return "\n".join(lines)
