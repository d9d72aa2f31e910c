"""From a spec to the list of training runs: configs, device configs, point ids.

Every parameter combination x seed x method is a *cell*; each cell is served by one *point*
(one training run). A point is identified by a hash of what the run computes: the method
and its canonical training config (plus the privacy delta of optical runs). Canonical means
that settings a method does not read are reset to their defaults: BP reads no feedback
setting, digital DFA reads none of the optical device's. So the BP and digital-DFA cells of
every device setting share one point per seed: they run once and appear in the plots as
horizontal references, and a sweep that only changes the device never retrains them.

Seeds: the seed of a cell is the training seed itself (``TrainConfig.seed``): with the same
seed, every point shares the initial weights, the batch order, the feedback matrix and the
device's medium (a paired design: differences between parameter values are not drowned by
seed-to-seed variation). Point ids are therefore a deterministic function of the spec.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from dfa.studies.sweep.spec import SweepSpec
from photonics.errors import ConfigError, PhotonicsError

log = logging.getLogger(__name__)

__all__ = ["Point", "Cell", "SweepPlan", "plan_sweep", "base_config", "apply_assignment", "canonical_config", "point_id"]

#: FeedbackConfig fields only the optical provider reads (``stored_path``: the stored one)
OPTICAL_FEEDBACK_FIELDS = ("opu", "opu_overrides", "opu_seed", "opu_power_scale", "rescale", "n_probes", "dedupe",
                           "recalibrate_every_s", "stored_path", "backend", "blank_frames", "gain_rule", "min_signal_fraction")
#: FeedbackConfig fields of the error quantizer (read by the digital providers with ``quantize_digital``)
QUANTIZER_FIELDS = ("encoding", "threshold", "n_bits", "rounding")
#: FeedbackConfig fields every provider reads
COMMON_FEEDBACK_FIELDS = ("scale", "quantize_digital")


@dataclass(frozen=True)
class Point:
    """One training run of the sweep.

    Attributes
    ----------
    id : str
        Hash of (method, canonical config[, privacy delta]): the run's identity in the store.
    method : str
    seed : int
    config : dict
        The TrainConfig (``to_dict``) the run trains with (``methods = [method]``).
    device : dict or None
        The optical device config of the run (None for digital methods).
    budget : dict or None
        ``photonics.budget.noise_budget`` of that device (+ ``reference_photons``).
    privacy_delta : float or None
        delta of the privacy report (optical runs).
    """

    id: str
    method: str
    seed: int
    config: dict
    device: dict | None
    budget: dict | None
    privacy_delta: float | None

    @property
    def optical(self) -> bool:
        return self.device is not None

    def task(self, threads: int) -> dict:
        """The picklable payload a worker runs (see :func:`dfa.studies.sweep.runner.run_point`)."""
        return {
            "id": self.id,
            "method": self.method,
            "seed": self.seed,
            "config": self.config,
            "device": self.device,
            "budget": self.budget,
            "privacy_delta": self.privacy_delta,
            "threads": threads,
        }


@dataclass(frozen=True)
class Cell:
    """A parameter combination x seed x method, served by point ``point_id``."""

    assignment: dict
    seed: int
    method: str
    point_id: str


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    points: tuple
    cells: tuple
    primary_metric: str

    def to_dict(self) -> dict:
        return {
            "spec": self.spec.to_dict(),
            "fingerprint": self.spec.fingerprint(),
            "primary_metric": self.primary_metric,
            "metric": self.spec.metric or self.primary_metric,
            "parameters": [n for n, _ in self.spec.parameters],
            "cells": [{"assignment": c.assignment, "seed": c.seed, "method": c.method, "point": c.point_id} for c in self.cells],
            "points": {p.id: {"method": p.method, "seed": p.seed, "optical": p.optical} for p in self.points},
        }


def _json(obj) -> Any:
    from dfa.studies.privacy import json_safe

    return json.loads(json.dumps(json_safe(obj)))


def point_id(method: str, config: dict, privacy_delta: float | None) -> str:
    """Deterministic id of a run: 16 hex digits of a hash of its method, config and delta."""
    payload = {"method": method, "config": config, "privacy_delta": privacy_delta}
    return hashlib.blake2b(json.dumps(_json(payload), sort_keys=True).encode(), digest_size=8).hexdigest()


def base_config(spec: SweepSpec):
    """The TrainConfig of the spec's [base] (seed = the first seed)."""
    from dfa.trainer.config import make_config

    base = dict(spec.base)
    dataset = base.pop("dataset", "digits")
    if not isinstance(dataset, str):
        raise ConfigError(f"{spec.source}: [base] dataset must be a name (got {dataset!r})")
    try:
        return make_config(dataset, seed=spec.seeds[0], **base)
    except TypeError as exc:
        raise ConfigError(f"{spec.source}: [base]: {exc}") from None
    except PhotonicsError as exc:
        raise ConfigError(f"{spec.source}: [base]: {exc}") from None


def _method_class(method: str):
    from dfa.trainer import methods as m

    registry = getattr(m, "_METHODS", {})
    return registry.get(method)


def canonical_config(cfg, method: str):
    """``cfg`` for ``method`` alone, with the settings the method does not read at their defaults."""
    from dfa.mechanism.feedback import FeedbackConfig
    from dfa.trainer.config import TrainConfig
    from dfa.trainer.methods import Backprop, DFAMethod, HeadOnly

    d = cfg.to_dict()
    d["methods"] = [method]
    cls = _method_class(method)
    default_fb = FeedbackConfig().to_dict()
    if isinstance(cls, type) and issubclass(cls, (Backprop, HeadOnly)):
        d["feedback"] = default_fb
        d.pop("two_pass", None)
    elif isinstance(cls, type) and issubclass(cls, DFAMethod) and cls.feedback_kind in ("gaussian", "stored"):
        fb = d["feedback"]
        for k in OPTICAL_FEEDBACK_FIELDS:
            if k == "stored_path" and cls.feedback_kind == "stored":
                continue
            fb[k] = default_fb[k]
        if not fb.get("quantize_digital"):
            for k in QUANTIZER_FIELDS:
                fb[k] = default_fb[k]
        d.pop("two_pass", None)
    return TrainConfig.from_dict(d)


class _Probe:
    """Feedback dims and optical-ness of (method, model) pairs, cached within one plan."""

    def __init__(self):
        self._dims: dict[str, tuple] = {}
        self._data: dict[str, Any] = {}

    def _data_for(self, cfg):
        from dfa.zoo.data import load_dataset

        key = json.dumps([cfg.dataset, cfg.dataset_options], sort_keys=True)
        if key not in self._data:
            self._data[key] = load_dataset(cfg.dataset, **cfg.dataset_options)
        return self._data[key]

    def optical_dims(self, cfg, method: str) -> tuple[int, int] | None:
        """(n_in, n_out) of the optical device ``method`` builds for ``cfg``'s model; None if none."""
        key = json.dumps([method, cfg.dataset, cfg.dataset_options, cfg.model, cfg.model_options], sort_keys=True)
        if key not in self._dims:
            self._dims[key] = self._probe(cfg, method)
        return self._dims[key]

    def _probe(self, cfg, method):
        import torch

        from dfa.trainer.methods import build_method
        from dfa.trainer.train import build_components

        cls = _method_class(method)
        if cls is None:
            from dfa.trainer.methods import method_names

            raise ConfigError(f"unknown method {method!r} in [base] methods; available: {', '.join(method_names())}")
        from dfa.trainer.methods import Backprop, DFAMethod, HeadOnly

        if isinstance(cls, type) and issubclass(cls, (Backprop, HeadOnly)):
            return None
        if isinstance(cls, type) and issubclass(cls, DFAMethod) and cls.feedback_kind != "optical":
            return None
        probe_cfg = cfg.replace(device="cpu")
        data = self._data_for(probe_cfg)
        with torch.random.fork_rng(devices=[]):
            _, model, task = build_components(probe_cfg, data)
            m = build_method(method, model, task, probe_cfg)
        opu = m.optical_device
        if opu is None:
            return None
        return (opu.n_in, opu.n_out)


def _reference_photons(dev) -> float:
    """Mean photons per pixel per frame with only the reference block ON (signal modes OFF)."""
    from photonics.budget import noise_budget

    return noise_budget(dev, density=0.0, reference=True)["photons"]


def apply_assignment(cfg, assignment: dict, *, base_device: dict, dims=None):
    """The TrainConfig of ``cfg`` with a parameter combination applied.

    ``dims``: (n_in, n_out) of the run's optical device, None for a method without one (then
    ``photons_per_pixel``, which needs the device's size, is not mapped). Returns (config,
    device config or None).
    """
    from photonics import DeviceConfig
    from photonics.budget import noise_budget

    from .parameters import parameter_assignment, photons_assignment

    fb_over = dict(cfg.feedback.opu_overrides)
    fb_changes: dict = {}
    train_changes: dict = {}
    photons = None
    for name, v in assignment.items():
        if name == "photons_per_pixel":
            photons = float(v)
        for key, value in parameter_assignment(name, v, base_device).items():
            prefix, _, rest = key.partition(".")
            target = {"opu": fb_over, "feedback": fb_changes, "train": train_changes}.get(prefix)
            if target is None:  # pragma: no cover - names are checked when the spec is read
                raise ConfigError(f"unknown sweep parameter {name!r}")
            target[rest] = value
    fb_changes["opu_overrides"] = fb_over
    out = cfg.replace(**train_changes, feedback=fb_changes)
    if dims is None:  # a method without optical device: the device settings do not matter
        return out, None
    dev = out.feedback.device_config(*dims)
    if photons is not None:
        change = photons_assignment(photons, noise_budget(dev)["photons"], out.feedback.opu_power_scale)
        out = out.replace(feedback={"opu_power_scale": change["feedback.opu_power_scale"]})
        dev = out.feedback.device_config(*dims)
        got = noise_budget(dev)["photons"]
        if abs(got - photons) > 1e-9 * photons:  # pragma: no cover - the budget is linear in the laser power
            raise ConfigError(f"photons_per_pixel {photons:g} mapped to {got:g} photons: the budget is not linear in the laser power")
    if not isinstance(dev, DeviceConfig):  # pragma: no cover
        raise ConfigError("the feedback device config could not be built")
    return out, dev


def plan_sweep(spec: SweepSpec) -> SweepPlan:
    """Build and validate every run of ``spec`` (no training); see the module docstring."""
    from photonics import DeviceConfig
    from photonics.budget import noise_budget

    cfg0 = base_config(spec)
    try:
        base_device = DeviceConfig.resolve(cfg0.feedback.opu, **cfg0.feedback.opu_overrides).to_dict()
    except PhotonicsError as exc:
        raise ConfigError(f"{spec.source}: [base] feedback device: {exc}") from None
    probe = _Probe()
    points: dict[str, Point] = {}
    cells: list[Cell] = []
    primary = None
    for assignment in spec.assignments():
        what = ", ".join(f"{k} = {v!r}" for k, v in assignment.items()) or "the base settings"
        try:
            cfg_a, _ = apply_assignment(cfg0, assignment, base_device=base_device)
        except PhotonicsError as exc:
            raise ConfigError(f"{spec.source}: point {what}: {exc}") from None
        except TypeError as exc:  # an unknown field of a dataclass
            raise ConfigError(f"{spec.source}: point {what}: {exc}") from None
        for method in cfg_a.methods:
            try:
                dims = probe.optical_dims(cfg_a, method)  # None: the method uses no optical device
                cfg_m, dev = apply_assignment(cfg0, assignment, base_device=base_device, dims=dims)
            except PhotonicsError as exc:
                raise ConfigError(f"{spec.source}: point {what}, method {method}: {exc}") from None
            if primary is None:
                from dfa.trainer.tasks import TASKS

                data = probe._data_for(cfg_m)
                primary = TASKS[data.task].primary_metric
            for seed in spec.seeds:
                canon = canonical_config(cfg_m.replace(seed=seed), method)
                optical = dev is not None
                cdict = canon.to_dict()
                delta = spec.privacy_delta if optical else None
                pid = point_id(method, cdict, delta)
                if pid not in points:
                    budget = None
                    if optical:
                        budget = dict(noise_budget(dev))
                        budget["reference_photons"] = _reference_photons(dev)
                        budget = _json(budget)
                    points[pid] = Point(pid, method, seed, _json(cdict), _json(dev.to_dict()) if optical else None, budget, delta)
                cells.append(Cell(dict(assignment), seed, method, pid))
    if spec.metric is not None and primary is not None:
        _check_metric(spec, primary)
    return SweepPlan(spec, tuple(points.values()), tuple(cells), primary or "accuracy")


def _check_metric(spec: SweepSpec, primary: str) -> None:
    known = {"accuracy": ("accuracy", "loss", "train_accuracy"), "loss": ("loss", "perplexity", "bits_per_char", "unigram_loss")}
    allowed = known.get(primary, (primary, "loss"))
    if spec.metric not in allowed:
        raise ConfigError(f"{spec.source}: sweep.metric {spec.metric!r} is not reported by this task; choose one of {', '.join(allowed)}")
