"""Noise-impact studies: sweeps of device and training parameters, on Dask, crash-safe.

``dfa sweep SPEC.toml --out DIR`` (or :func:`run_sweep`) trains one run per parameter
combination x seed x method, streams each finished run into ``DIR/results.jsonl`` and writes
plots of the metric against every swept parameter (mean and seed spread) and 2-D maps for
pairs of parameters. Re-running the same command skips the finished runs.

* :mod:`dfa.studies.sweep.spec`: the TOML spec and its validation;
* :mod:`dfa.studies.sweep.parameters`: the sweepable parameters and their mapping onto the configs;
* :mod:`dfa.studies.sweep.plan`: points (runs), their ids and configs;
* :mod:`dfa.studies.sweep.store`: the append-only results store;
* :mod:`dfa.studies.sweep.runner`: running points serially or on Dask distributed;
* :mod:`dfa.studies.sweep.summary`: aggregation and the table; :mod:`dfa.studies.sweep_plots`: the figures.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dfa.studies.sweep.parameters import NAMED_PARAMETERS
from dfa.studies.sweep.plan import SweepPlan, plan_sweep
from dfa.studies.sweep.runner import SweepError, execute, local_cluster_size, record_differences, run_point
from dfa.studies.sweep.spec import SweepSpec, load_spec, spec_from_dict
from dfa.studies.sweep.store import SweepStore
from dfa.studies.sweep.summary import format_summary, summarize

log = logging.getLogger(__name__)

__all__ = [
    "SweepSpec",
    "load_spec",
    "spec_from_dict",
    "plan_sweep",
    "SweepPlan",
    "SweepStore",
    "run_sweep",
    "replot",
    "SweepOutcome",
    "SweepError",
    "run_point",
    "NAMED_PARAMETERS",
    "summarize",
    "format_summary",
    "record_differences",
]


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    plan : SweepPlan
    records : dict
        Point id -> record, every finished point of the plan.
    ran, skipped : int
        Points run now, points already in the store.
    summary : dict
        :func:`dfa.studies.sweep.summary.summarize` of the plan.
    plots : list of Path
    """

    plan: SweepPlan
    records: dict
    ran: int
    skipped: int
    summary: dict
    plots: list


def run_sweep(
    spec: SweepSpec | str | os.PathLike,
    out: str | os.PathLike,
    *,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    plots: bool = True,
    runner: Callable[[dict], dict] | None = None,
    announce: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) the sweep ``spec`` into the store folder ``out``.

    Parameters
    ----------
    spec : SweepSpec or path
    out : path
        The store folder (see :mod:`dfa.studies.sweep.store`).
    client : distributed.Client, optional
        Run on this cluster.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) to connect to.
    workers : int, optional
        Workers of the default LocalCluster (default: the CPUs available, at most one per run).
    serial : bool
        Run the points one after the other in this process (no Dask).
    retry_failed : bool
        Run again the points recorded as diverged or failed.
    progress, plots : bool
    runner : callable, optional
        Replaces :func:`dfa.studies.sweep.runner.run_point` (picklable; tests use it).
    announce : callable, optional
        Receives one-line messages about what is going on (the CLI prints them).
    """
    say = announce or (lambda msg: log.info("%s", msg))
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    plan = plan_sweep(spec)
    store = SweepStore(out)
    with store.lock():
        try:
            previous = store.read_plan().get("fingerprint")
        except (FileNotFoundError, ValueError):
            previous = None
        if previous and previous != spec.fingerprint():
            say(f"{store.root} held another spec (fingerprint {previous}); its runs stay in results.jsonl and are reused "
                "where a point is identical")
        store.write_plan(plan.to_dict(), spec.text)
        done = store.records()
        pending = [p for p in plan.points if p.id not in done or (retry_failed and done[p.id].get("status") != "ok")]
        skipped = len(plan.points) - len(pending)
        say(f"sweep {spec.name}: {len(plan.cells)} cells -> {len(plan.points)} runs; {skipped} already in {store.root}, {len(pending)} to run")
        tasks = [p.task(spec.threads) for p in pending]
        errors = []
        if tasks:
            if serial and (client is not None or scheduler):
                from photonics.errors import ConfigError

                raise ConfigError("serial execution excludes a Dask client or scheduler address")
            if serial:
                errors = execute(tasks, store, runner=runner, progress=progress)
            elif client is not None:
                errors = execute(tasks, store, client=client, runner=runner, progress=progress)
            elif scheduler:
                from distributed import Client

                say(f"connecting to the Dask scheduler at {scheduler}")
                with Client(scheduler) as c:
                    errors = execute(tasks, store, client=c, runner=runner, progress=progress)
            else:
                from photonics.distributed import local_client

                n = local_cluster_size(len(tasks), workers)
                say(f"starting a local Dask cluster: {n} worker process(es), 1 thread each")
                with local_client(n, processes=True) as c:
                    errors = execute(tasks, store, client=c, runner=runner, progress=progress)
        records = {pid: rec for pid, rec in store.records().items() if pid in {p.id for p in plan.points}}
        summary = summarize(plan.to_dict(), records)
        store.write_summary(summary)
        paths = []
        if plots and records:
            from dfa.studies.sweep_plots import plot_sweep

            paths = plot_sweep(summary, store.plots_dir, title=spec.name)
    if errors:
        first = errors[0]
        raise SweepError(
            f"{len(errors)} run(s) failed with an unexpected error and were not recorded (first: point {first[0]}: {first[1]}); "
            f"the {len(records)} finished runs are in {store.root}; rerun the same command to retry"
        )
    return SweepOutcome(plan, records, len(tasks), skipped, summary, paths)


def replot(out: str | os.PathLike) -> tuple[dict, list[Path]]:
    """Rebuild the summary and the plots of the store ``out`` (``dfa sweep --plot DIR``)."""
    from dfa.studies.sweep_plots import plot_sweep

    store = SweepStore(out, create=False)
    plan = store.read_plan()
    ids = {c["point"] for c in plan["cells"]}
    records = {pid: rec for pid, rec in store.records().items() if pid in ids}
    summary = summarize(plan, records)
    store.write_summary(summary)
    paths = plot_sweep(summary, store.plots_dir, title=plan["spec"].get("name", "")) if records else []
    return summary, paths
