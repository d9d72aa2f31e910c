"""Sweep specs: a TOML file naming the base run, the swept parameters and the seeds.

A spec has three tables (example: ``data/sweeps/photons_digits.toml``)::

    [sweep]
    name = "photons_digits"        # default: the file's stem
    description = "..."
    seeds = [0, 1, 2]              # training seeds; every point runs once per seed
    mode = "grid"                  # "grid": every combination; "zip": i-th values together
    metric = "accuracy"            # plotted metric (default: the task's primary metric)
    privacy_delta = 1e-5           # delta of the privacy report of optical runs (false: none)
    threads = 1                    # CPU threads of torch/numba/BLAS per point

    [base]                         # a training config, as `dfa train --config` reads it
    dataset = "digits"
    methods = ["bp", "dfa", "optical-dfa"]
    epochs = 30
    [base.feedback]
    opu = "lab-cmos"

    [parameters]                   # name = list of values, or a generated grid
    photons_per_pixel = { logspace = [1, 3000, 8] }
    read_noise_e = [0.0, 2.0, 7.0]

Values are a list, or ``{ values = [...] }``, ``{ linspace = [start, stop, num] }``,
``{ logspace = [start, stop, num] }`` (geometric: start and stop are values, not exponents)
or ``{ range = [start, stop, step] }`` (integers, stop excluded). The parameter names are
listed in :data:`~dfa.studies.sweep.parameters.NAMED_PARAMETERS` (``photons_per_pixel``,
``read_noise_e``, ``bit_depth``, ...), or dotted keys ``opu.<section>.<key>`` (any device
setting), ``feedback.<field>`` and ``train.<field>``.

:func:`load_spec` checks everything it can without training: unknown tables, keys and
parameters, empty grids, wrong value types, duplicate values and seeds, conflicting
parameters; then :func:`dfa.studies.sweep.plan.plan_sweep` builds and validates every point's
configuration.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfa.studies.sweep.parameters import check_parameter_name, parameter_targets, validate_value
from photonics.errors import ConfigError, FileFormatError
from photonics.rng import check_seed

__all__ = ["SweepSpec", "load_spec", "spec_from_dict", "MODES", "SWEEP_KEYS"]

MODES = ("grid", "zip")
SWEEP_KEYS = ("name", "description", "seeds", "mode", "metric", "privacy_delta", "threads")
_TOP = ("sweep", "base", "parameters")
#: largest number of points (combinations x seeds x methods) a spec may ask for
MAX_POINTS = 100_000


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring).

    Attributes
    ----------
    name, description : str
    base : dict
        Training settings (``dataset`` + :class:`~dfa.trainer.config.TrainConfig` fields).
    parameters : tuple of (name, tuple of values)
        Swept parameters, in the file's order.
    seeds : tuple of int
    mode : str
        ``"grid"`` or ``"zip"``.
    metric : str or None
        Plotted metric (None: the task's primary metric).
    privacy_delta : float or None
        delta of the privacy reports (None: no privacy report).
    threads : int
        CPU threads per point.
    source : str
        The spec file (or ``"<dict>"``).
    """

    name: str
    description: str
    base: dict
    parameters: tuple
    seeds: tuple
    mode: str = "grid"
    metric: str | None = None
    privacy_delta: float | None = 1e-5
    threads: int = 1
    source: str = "<dict>"
    text: str = field(default="", repr=False, compare=False)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.parameters)

    def assignments(self) -> list[dict]:
        """Every parameter combination, as {name: value}, in a fixed order."""
        names = self.parameter_names
        if not names:
            return [{}]
        values = [v for _, v in self.parameters]
        if self.mode == "zip":
            return [dict(zip(names, combo)) for combo in zip(*values)]
        import itertools

        return [dict(zip(names, combo)) for combo in itertools.product(*values)]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "base": self.base,
            "parameters": [[n, list(v)] for n, v in self.parameters],
            "seeds": list(self.seeds),
            "mode": self.mode,
            "metric": self.metric,
            "privacy_delta": self.privacy_delta,
            "threads": self.threads,
            "source": self.source,
        }

    def fingerprint(self) -> str:
        """Hash of everything that defines the sweep (not the file's comments or path)."""
        d = self.to_dict()
        d.pop("source")
        d.pop("description")
        return hashlib.blake2b(json.dumps(d, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def _expand_values(name: str, raw: Any, where: str) -> list:
    """The list of values of one parameter (list, or a generator table)."""
    if isinstance(raw, list):
        values = raw
    elif isinstance(raw, dict):
        keys = set(raw)
        gens = {"values", "linspace", "logspace", "range"}
        if len(keys) != 1 or not keys <= gens:
            raise _err(where, f"parameter {name!r} must be a list of values or a table with one of {sorted(gens)} (got keys {sorted(keys)})")
        (kind, arg), = raw.items()
        if kind == "values":
            if not isinstance(arg, list):
                raise _err(where, f"parameter {name!r}: values must be a list (got {arg!r})")
            values = arg
        else:
            if not isinstance(arg, list) or len(arg) != 3 or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in arg):
                raise _err(where, f"parameter {name!r}: {kind} needs [start, stop, {'step' if kind == 'range' else 'num'}] numbers (got {arg!r})")
            a, b, c = arg
            if kind == "range":
                if not all(isinstance(v, int) for v in arg) or c == 0:
                    raise _err(where, f"parameter {name!r}: range needs integers [start, stop, step] with step != 0 (got {arg!r})")
                if len(range(a, b, c)) > MAX_POINTS:  # counted before anything is built
                    raise _err(where, f"parameter {name!r}: range {arg!r} has {len(range(a, b, c)):,} values; more than {MAX_POINTS:,} runs is not supported")
                values = list(range(a, b, c))
            else:
                if not isinstance(c, int) or c < 1:
                    raise _err(where, f"parameter {name!r}: {kind} num must be an integer >= 1 (got {c!r})")
                if c > MAX_POINTS:  # counted before anything is built
                    raise _err(where, f"parameter {name!r}: {kind} asks for {c:,} values; more than {MAX_POINTS:,} runs is not supported")
                if kind == "logspace":
                    if a <= 0 or b <= 0:
                        raise _err(where, f"parameter {name!r}: logspace start and stop must be > 0 (got {a!r}, {b!r})")
                    values = [float(v) for v in np.geomspace(a, b, c)]
                else:
                    values = [float(v) for v in np.linspace(a, b, c)]
                # round away float noise (1e-12 relative) so values print and hash cleanly
                values = [float(f"{v:.12g}") for v in values]
    else:
        raise _err(where, f"parameter {name!r} must be a list of values or a table like {{ logspace = [1, 1000, 4] }} (got {type(raw).__name__} {raw!r})")
    if not values:
        raise _err(where, f"parameter {name!r} has no values (empty grid)")
    return values


def _check_unique(values: list, what: str, where: str) -> None:
    seen = []
    for v in values:
        key = json.dumps(v, sort_keys=True)
        if key in seen:
            raise _err(where, f"{what} lists {v!r} twice")
        seen.append(key)


def spec_from_dict(data: dict, *, source: str = "<dict>", default_name: str = "sweep", text: str = "") -> SweepSpec:
    """Validate a spec given as a mapping (the parsed TOML)."""
    where = source
    if not isinstance(data, dict):
        raise _err(where, f"a sweep spec must be a table (got {type(data).__name__})")
    unknown = sorted(set(data) - set(_TOP))
    if unknown:
        hint = _suggest(unknown[0], _TOP)
        raise _err(where, f"unknown table(s) {', '.join(map(repr, unknown))}{hint}; a spec has [sweep], [base] and [parameters]")
    sweep = data.get("sweep", {})
    if not isinstance(sweep, dict):
        raise _err(where, "[sweep] must be a table")
    unknown = sorted(set(sweep) - set(SWEEP_KEYS))
    if unknown:
        raise _err(where, f"unknown key(s) {', '.join(map(repr, unknown))} in [sweep]{_suggest(unknown[0], SWEEP_KEYS)}; allowed: {', '.join(SWEEP_KEYS)}")
    name = sweep.get("name", default_name)
    if not isinstance(name, str) or not name or any(c in name for c in "/\\\0"):
        raise _err(where, f"sweep.name must be a non-empty string without path separators (got {name!r})")
    description = sweep.get("description", "")
    if not isinstance(description, str):
        raise _err(where, f"sweep.description must be a string (got {description!r})")
    seeds = sweep.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise _err(where, f"sweep.seeds must be a non-empty list of integers >= 0 (got {seeds!r})")
    try:
        seeds = [check_seed(s, "sweep.seeds entry") for s in seeds]
    except Exception as exc:
        raise _err(where, str(exc)) from None
    _check_unique(seeds, "sweep.seeds", where)
    mode = sweep.get("mode", "grid")
    if mode not in MODES:
        raise _err(where, f"sweep.mode must be one of {', '.join(MODES)} (got {mode!r})")
    metric = sweep.get("metric")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise _err(where, f"sweep.metric must be a metric name such as 'accuracy' or 'loss' (got {metric!r})")
    delta = sweep.get("privacy_delta", 1e-5)
    if delta is False:
        delta = None
    elif isinstance(delta, bool) or not isinstance(delta, (int, float)) or not (0.0 < float(delta) < 1.0):
        raise _err(where, f"sweep.privacy_delta must be a number in (0, 1), or false for no privacy report (got {delta!r})")
    else:
        delta = float(delta)
    threads = sweep.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise _err(where, f"sweep.threads must be an integer >= 1 (got {threads!r})")

    base = data.get("base", {})
    if not isinstance(base, dict):
        raise _err(where, "[base] must be a table of training settings (as read by dfa train --config)")
    base = json.loads(json.dumps(base))  # plain, detached copy
    if "seed" in base:
        raise _err(where, "[base] sets 'seed'; list the training seeds in sweep.seeds instead")

    params = data.get("parameters", {})
    if not isinstance(params, dict):
        raise _err(where, "[parameters] must be a table: name = [values]")
    parsed = []
    for pname, raw in params.items():
        if isinstance(raw, dict) and pname in ("opu", "feedback", "train"):
            # a dotted key written as a nested TOML table: opu.camera.read_noise_e = [...]
            for sub, rv in _flatten(pname, raw):
                parsed.append(_parse_parameter(sub, rv, where))
            continue
        parsed.append(_parse_parameter(pname, raw, where))
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise _err(where, f"parameter {dup!r} is given twice")
    targets: dict[str, str] = {}
    for n in names:
        for t in parameter_targets(n):
            if t in targets:
                raise _err(where, f"parameters {targets[t]!r} and {n!r} both set {t}; sweep one of them")
            targets[t] = n
    if mode == "zip" and parsed:
        lengths = {n: len(v) for n, v in parsed}
        if len(set(lengths.values())) > 1:
            raise _err(where, f"sweep.mode 'zip' needs lists of equal length (got {lengths})")
    n_combos = 1
    if parsed:
        n_combos = len(parsed[0][1]) if mode == "zip" else math.prod(len(v) for _, v in parsed)
    if n_combos * len(seeds) > MAX_POINTS:
        raise _err(where, f"the spec asks for {n_combos} combinations x {len(seeds)} seeds; more than {MAX_POINTS} runs is not supported")
    return SweepSpec(
        name=name,
        description=description,
        base=base,
        parameters=tuple((n, tuple(v)) for n, v in parsed),
        seeds=tuple(seeds),
        mode=mode,
        metric=metric,
        privacy_delta=delta,
        threads=threads,
        source=source,
        text=text,
    )


def _flatten(prefix: str, table: dict):
    for k, v in table.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict) and not set(v) & {"values", "linspace", "logspace", "range"}:
            yield from _flatten(key, v)
        else:
            yield key, v


def _parse_parameter(name: str, raw: Any, where: str) -> tuple[str, list]:
    try:
        check_parameter_name(name)
    except ConfigError as exc:
        raise _err(where, str(exc)) from None
    values = _expand_values(name, raw, where)
    out = []
    for v in values:
        try:
            out.append(validate_value(name, v))
        except ConfigError as exc:
            raise _err(where, str(exc)) from None
    _check_unique(out, f"parameter {name!r}", where)
    return name, out


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a sweep spec TOML file (see the module docstring)."""
    from photonics.config import tomllib

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"sweep spec {str(p)!r} does not exist")
    text = p.read_text()
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{p}: not valid TOML ({exc})") from None
    return spec_from_dict(data, source=str(p), default_name=p.stem, text=text)
