"""``dfa reproduce``: the papers' experiments, their numbers next to ours.

    dfa reproduce --list                                   # experiments, the data each needs, present or not
    dfa reproduce greydanus2020-mnist1d-mlp                # 5 seeds, paper | ours (mean ± 95 % CI) | difference
    dfa reproduce --all --scaled --seeds 3                 # every runnable experiment, scaled-down variants
    dfa reproduce nokland2016-mnist-tanh --data-root /data # data read from /data/<folder of the experiment>

Everything is validated before any training (experiment ids, data present, configs, output
folders); a bad input ends with one line and exit status 2; Ctrl-C ends with status 130 and
keeps the finished seeds (rerun the same command to continue). An existing result with other
settings is never overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run the papers' experiments (data/configs/papers) with several seeds; paper vs ours",
        description="List or run the paper experiments of data/configs/papers/*.toml. Each run trains the experiment's "
        "methods for every seed, prints per method the paper's number, ours as mean ± 95 %% interval over the seeds and "
        "their difference in units of the interval, and writes results.md, results.json and results.png to the run "
        "folder. Scaled-down variants (--scaled) are labelled as such in every output.",
    )
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT", help="experiment ids (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments, the data each needs and whether it is present")
    p.add_argument("--all", action="store_true", help="run every experiment whose data is present")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1 (default 5)")
    p.add_argument("--seed-list", metavar="S1,S2", help="explicit seeds instead of --seeds")
    p.add_argument("--scaled", action="store_true", help="run the labelled scaled-down variant of each experiment")
    p.add_argument("--data-root", metavar="DIR", help="folder holding the data sets' standard folders (cifar-10-batches-bin/, "
                   "cora/, mnist/, wikitext-103/...)")
    p.add_argument("--data", action="append", metavar="NAME=PATH", help="folder (or file) of data set NAME, e.g. "
                   "cora=/data/cora (repeatable; overrides --data-root)")
    p.add_argument("--configs", metavar="DIR", help="experiment folder (default data/configs/papers)")
    p.add_argument("--out", metavar="DIR", help="results folder (default runs/reproduce); one sub-folder per experiment")
    p.add_argument("--overwrite", action="store_true", help="replace existing runs made with other settings")
    p.add_argument("--threads", type=int, default=1, help="numba / BLAS threads of the optical simulation (default 1; "
                   "results do not depend on it)")
    p.add_argument("--torch-threads", type=int, default=1, help="torch threads (default 1: results independent of the "
                   "machine's thread count)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; train nothing")
    p.add_argument("--no-plots", action="store_true", help="do not write results.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _seeds(args) -> tuple[int, ...]:
    from photonics.errors import ConfigError

    if args.seed_list:
        try:
            seeds = tuple(int(v) for v in args.seed_list.split(",") if v.strip())
        except ValueError:
            raise ConfigError(f"--seed-list expects comma-separated integers (got {args.seed_list!r})") from None
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ConfigError(f"--seed-list needs distinct non-negative seeds (got {args.seed_list!r})")
        return seeds
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1 (got {args.seeds})")
    return tuple(range(args.seeds))


def _paths(args) -> dict:
    from photonics.errors import ConfigError

    out = {}
    for item in args.data or []:
        if "=" not in item:
            raise ConfigError(f"--data expects NAME=PATH (got {item!r})")
        k, v = item.split("=", 1)
        out[k.strip()] = Path(v.strip())
    return out


def _execution(args) -> dict:
    import os
    import platform

    import numpy
    import torch

    return {"threads": args.threads, "torch_threads": args.torch_threads, "torch": torch.__version__, "numpy": numpy.__version__,
            "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, {platform.system()}".replace("  ", " ")}


def run(args) -> int:
    try:
        return _run(args)
    except PermissionError as exc:
        print(f"dfa reproduce: error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from dfa.studies.reproduce import check_out_folder, data_status, experiment_config, load_experiments, variant_methods
    from dfa.studies.reproduce_page import SCALED_LABEL
    from photonics.errors import ConfigError

    exps = load_experiments(args.configs)
    paths = _paths(args)
    if args.list:
        if args.experiments or args.all:
            raise ConfigError("--list lists every experiment; give no experiment id and no --all with it")
        print(f"{'experiment':<46} {'data':<14} {'present':<8} {'scaled variant':<15} needs")
        for eid, exp in exps.items():
            st = data_status(exp, args.data_root, paths, scaled=args.scaled)
            print(f"{eid:<46} {st.dataset:<14} {'yes' if st.present else 'NO':<8} {'yes' if exp.scaled else '-':<15} "
                  f"{st.needs}; {st.detail}")
        return 0
    if args.all and args.experiments:
        raise ConfigError("give experiment ids or --all, not both")
    if not args.all and not args.experiments:
        raise ConfigError("give experiment ids (see dfa reproduce --list) or --all")
    unknown = [e for e in args.experiments if e not in exps]
    if unknown:
        raise ConfigError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(exps)}")
    seeds = _seeds(args)
    chosen = [exps[e] for e in args.experiments] if args.experiments else list(exps.values())
    plan = []
    for exp in chosen:
        st = data_status(exp, args.data_root, paths, scaled=args.scaled)
        if not st.present:
            if args.all:
                print(f"dfa reproduce: skipping {exp.id}: data not present ({st.detail})", file=sys.stderr)
                continue
            raise FileNotFoundError(f"{exp.id}: data set {st.dataset} not present ({st.needs}): {st.detail}")
        if args.scaled and exp.scaled is None:
            if args.all:
                print(f"dfa reproduce: skipping {exp.id}: it has no scaled-down variant", file=sys.stderr)
                continue
            raise ConfigError(f"{exp.id} has no scaled-down variant; run it without --scaled")
        for s in seeds:
            experiment_config(exp, seed=s, scaled=args.scaled, data_path=st.path)
        out = Path(args.out or "runs/reproduce") / (exp.id + ("-scaled" if args.scaled else ""))
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} exists and is not a folder")
        check_out_folder(exp, out, seeds, scaled=args.scaled, data_path=st.path, overwrite=args.overwrite)
        plan.append((exp, st, out))
    if not plan:
        raise ConfigError("no experiment to run (data missing or no scaled-down variant); see dfa reproduce --list")
    for exp, st, out in plan:
        label = f" [{SCALED_LABEL}: {exp.scaled['description']}]" if args.scaled else ""
        print(f"dfa reproduce: {exp.id}{label}: methods {', '.join(variant_methods(exp, args.scaled))}, seeds {list(seeds)} -> {out}", file=sys.stderr)
    if args.dry_run:
        return 0
    return _execute(args, plan, seeds)


def _execute(args, plan, seeds) -> int:
    from dfa.studies.reproduce import run_experiment
    from dfa.studies.reproduce_page import format_outcome
    from dfa.trainer.threads import set_threads

    set_threads(args.threads, torch_threads=args.torch_threads)
    command = "dfa reproduce " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["reproduce"] else "dfa reproduce"
    execution = _execution(args)
    for exp, st, out in plan:
        try:
            outcome = run_experiment(exp, out, seeds=seeds, scaled=args.scaled, data_path=st.path, overwrite=args.overwrite,
                                     progress=not args.no_progress, plots=not args.no_plots, command=command,
                                     execution=execution, announce=lambda m: print(f"dfa reproduce: {m}", file=sys.stderr))
        except KeyboardInterrupt:
            print(f"\ndfa reproduce: interrupted; finished seeds are kept in {out} (results.md lists them); rerun the same "
                  "command to continue", file=sys.stderr)
            return 130
        print(format_outcome(outcome))
        print(f"results page: {out / 'results.md'}")
        print()
    return 0
