"""``dfa train``: BP | DFA | optical DFA side by side, with a run folder.

With no argument it trains an MLP on scikit-learn's digits with the three methods (about a
minute on 2 CPU cores), prints the table and writes ``runs/digits-mlp-<time>/``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from . import parse_key_values

_RESUMABLE_FLAGS = {"epochs": "--epochs", "max_steps": "--max-steps", "checkpoint_every": "--checkpoint-every"}


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train BP, digital DFA and optical DFA side by side and write a run folder",
        description="Train the configured methods on one model and data set (same initial weights and batches), "
        "print the side-by-side table and write a run folder (results.json, metrics.h5, PNGs, checkpoints).",
    )
    g = p.add_argument_group("what to train")
    g.add_argument("--config", metavar="FILE", help="TOML or JSON file of training settings (command-line options override it)")
    g.add_argument("--dataset", help="data set: digits (default), mnist1d, mnist1d-real, mnist-5k, mnist, fashion-mnist, "
                   "cifar10, cifar100, chars, text, graph, cora, citeseer, pubmed, digits-diffusion")
    g.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="data-set option, e.g. path=/data/mnist (repeatable)")
    g.add_argument("--model", help="model: mlp, cnn, cnn1d, gru, transformer, gcn, gpt, vit, mixer, denoiser (default: the "
                   "data set's)")
    g.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="model option, e.g. hidden=[512,512] (repeatable)")
    g.add_argument("--methods", help="comma-separated methods (default bp,dfa,optical-dfa; also stored-dfa, head-only, "
                   "two-pass, optical-two-pass, stored-two-pass)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--steps-per-epoch", type=int, help="steps per epoch of the language model")
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--optimizer", choices=("adam", "sgd"))
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--lr-schedule", choices=("constant", "step", "cosine"), help="learning-rate schedule (default constant)")
    g.add_argument("--lr-milestones", metavar="E1,E2", help="epochs at whose start a step schedule multiplies lr by --lr-gamma")
    g.add_argument("--lr-gamma", type=float, help="factor of each step decay (default 0.1)")
    g.add_argument("--max-steps", type=int, help="stop after this many steps")
    g.add_argument("--seed", type=int, help="training seed: initial weights, batch order, feedback matrix, device (default 0)")
    g = p.add_argument_group("feedback")
    g.add_argument("--opu", metavar="DEVICE", help="optical device: preset (ideal, lab-cmos [default], lighton-like) or TOML file")
    g.add_argument("--opu-set", action="append", metavar="KEY=VALUE", help="device override, e.g. camera.read_noise_e=2 (repeatable)")
    g.add_argument("--opu-seed", type=int, help="device seed (medium, noise); default derived from --seed")
    g.add_argument("--opu-power-scale", type=float, help="multiply the device's laser power (default 1)")
    g.add_argument("--threshold", type=float, help="error ternarization threshold, relative to each sample's max |e| (default 0.35)")
    g.add_argument("--scale", type=float, help="feedback scale: B ~ N(0, scale^2 / n_err) (default 1)")
    g.add_argument("--rescale", choices=("probes", "per-projection"), help="how the optical projection is scaled (default probes)")
    g.add_argument("--n-probes", type=int, help="probes of the optical scale calibration (default 32)")
    g.add_argument("--no-dedupe", dest="dedupe", action="store_false", default=None,
                   help="display every sample's ternary error, even when the batch repeats a pattern")
    g.add_argument("--encoding", choices=("ternary", "bitplanes"), help="how the optical error is quantized (default ternary)")
    g.add_argument("--n-bits", type=int, help="bit planes per sign of the bitplanes encoding (default 3)")
    g.add_argument("--rounding", choices=("nearest", "stochastic"),
                   help="rounding of the bit-plane error: nearest (default) or stochastic (unbiased)")
    g.add_argument("--quantize-digital", action="store_true", default=None, help="quantize the digital DFA error the same way")
    g.add_argument("--stored-feedback", metavar="H5", help="feedback matrix file for the stored-dfa method")
    g.add_argument("--feedback-backend", choices=("auto", "numpy", "torch"),
                   help="where the optical feedback runs: auto (default: on the error's device), numpy or torch")
    g.add_argument("--blank-frames", choices=("measure", "skip"),
                   help="measure blank DMD frames (default: the calibration residual cancels) or skip them")
    g.add_argument("--gain-rule", choices=("snr", "signal"),
                   help="optical feedback scale: snr (default: noisier devices degrade towards head-only) or signal")
    g.add_argument("--min-signal-fraction", type=float,
                   help="gate of the snr rule: feedback off while the signal fraction is below this (default 0.1)")
    g = p.add_argument_group("two-pass (forward-only) methods")
    g.add_argument("--f-scale", type=float, help="scale of the input modulation F: F ~ N(0, f_scale^2 / n_classes) (default 0.02)")
    g.add_argument("--lr-decay-epochs", metavar="E1,E2", help="multiply the two-pass update by --lr-decay-factor at the start of "
                   "these epochs (needs --optimizer sgd)")
    g.add_argument("--lr-decay-factor", type=float, help="factor of each two-pass decay (default 0.1)")
    g.add_argument("--f-encoding", choices=("ternary", "bitplanes"), help="how the error is quantized for an optical F "
                   "(default bitplanes: ternary errors destabilise two-pass training)")
    g.add_argument("--f-n-bits", type=int, help="bit planes per sign of the F error encoding (default 3)")
    g.add_argument("--stored-f", metavar="H5", help="F matrix file (n_input x n_classes) for the stored-two-pass method")
    g = p.add_argument_group("run")
    g.add_argument("--device", choices=("cpu", "cuda"), help="torch device (default cpu); the OPU simulation runs on the CPU")
    g.add_argument("--precision", choices=("fp32", "bf16"),
                   help="fp32 (default) or bf16 autocast of forward pass and loss (mixed precision, for GPUs); "
                   "also a top-level 'precision' key of --config")
    g.add_argument("--out", metavar="DIR", help="run folder (default runs/<dataset>-<model>-<date-time>)")
    g.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoints (same settings)")
    g.add_argument("--force", action="store_true", help="replace the run already in --out (its results and checkpoints are removed)")
    g.add_argument("--align-every", type=int, help="alignment diagnostics every N steps (0: off; default ~50 per run)")
    g.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps (default 100)")
    g.add_argument("--threads", type=int, default=1,
                   help="CPU threads of numba and numpy's BLAS, i.e. of the optical simulation (default 1); the results do "
                   "not depend on it")
    g.add_argument("--torch-threads", type=int, default=1,
                   help="CPU threads of torch (default 1: results independent of --threads and identical on every machine "
                   "with the same libraries; more threads can be faster for large models but change the last bits, "
                   "a seed-like perturbation)")
    g.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--json", action="store_true", help="print results.json instead of the table")
    p.set_defaults(func=run)


def _load_file(path: str) -> dict:
    import json

    from photonics.errors import FileFormatError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {path!r} does not exist")
    try:
        if p.suffix.lower() == ".json":
            return json.loads(p.read_text())
        from photonics.config import tomllib

        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: not valid {'JSON' if p.suffix.lower() == '.json' else 'TOML'} ({exc})") from None


def _overrides(args) -> dict:
    over: dict = {}
    for key in ("model", "epochs", "batch_size", "steps_per_epoch", "lr", "optimizer", "weight_decay", "max_steps", "seed",
                "device", "align_every", "checkpoint_every", "precision", "lr_schedule", "lr_gamma"):
        v = getattr(args, key)
        if v is not None:
            over[key] = v
    if args.lr_milestones is not None:
        over["lr_milestones"] = _int_list(args.lr_milestones, "--lr-milestones")
    if args.methods:
        over["methods"] = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.data_option:
        over["dataset_options"] = parse_key_values(args.data_option, "--data-option")
    if args.model_option:
        over["model_options"] = parse_key_values(args.model_option, "--model-option")
    fb = {}
    for key, name in (("opu", "opu"), ("opu_seed", "opu_seed"), ("threshold", "threshold"), ("scale", "scale"),
                      ("rescale", "rescale"), ("n_probes", "n_probes"), ("dedupe", "dedupe"), ("quantize_digital", "quantize_digital"),
                      ("encoding", "encoding"), ("n_bits", "n_bits"), ("rounding", "rounding"),
                      ("stored_feedback", "stored_path"), ("opu_power_scale", "opu_power_scale"), ("feedback_backend", "backend"),
                      ("blank_frames", "blank_frames"), ("gain_rule", "gain_rule"), ("min_signal_fraction", "min_signal_fraction")):
        v = getattr(args, key)
        if v is not None:
            fb[name] = v
    if args.opu_set:
        fb["opu_overrides"] = parse_key_values(args.opu_set, "--opu-set")
    if fb:
        over["feedback"] = fb
    tp = {}
    for key, name in (("f_scale", "f_scale"), ("lr_decay_factor", "lr_decay_factor"), ("f_encoding", "encoding"),
                      ("f_n_bits", "n_bits"), ("stored_f", "stored_path")):
        v = getattr(args, key)
        if v is not None:
            tp[name] = v
    if args.lr_decay_epochs is not None:
        tp["lr_decay_epochs"] = _int_list(args.lr_decay_epochs, "--lr-decay-epochs")
    if tp:
        over["two_pass"] = tp
    return over


def _int_list(text: str, option: str) -> list[int]:
    from photonics.errors import ConfigError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} expects comma-separated integers (got {text!r})") from None


def build_config(args):
    """The TrainConfig of the command line (``--config`` file, then explicit options)."""
    from dfa.trainer.config import TrainConfig, make_config
    from photonics.errors import ConfigError

    over = _overrides(args)
    if args.resume:
        folder = Path(args.resume)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}/config.json not found: --resume needs a run folder written by dfa train")
        cfg = TrainConfig.from_dict(_load_file(str(folder / "config.json")))
        extra = sorted(set(over) - set(_RESUMABLE_FLAGS))
        if extra or args.dataset or args.config:
            bad = extra + (["dataset"] if args.dataset else []) + (["config"] if args.config else [])
            raise ConfigError(
                f"--resume continues a run with its own settings; only {', '.join(_RESUMABLE_FLAGS.values())} may change "
                f"(got {', '.join(bad)})"
            )
        return cfg.replace(**over) if over else cfg
    base: dict = _load_file(args.config) if args.config else {}
    if not isinstance(base, dict):
        raise ConfigError(f"{args.config}: must hold a table of training settings")
    dataset = args.dataset or base.pop("dataset", "digits")
    base.pop("dataset", None)
    fb = dict(base.pop("feedback", {}) or {})
    fb.update(over.pop("feedback", {}))
    tp = dict(base.pop("two_pass", {}) or {})
    tp.update(over.pop("two_pass", {}))
    base.update(over)
    if fb:
        base["feedback"] = fb
    if tp:
        base["two_pass"] = tp
    return make_config(dataset, **base)


def run(args) -> int:

    from dfa.trainer.checks import check_config, check_model, data_warnings, ineffective_settings
    from dfa.trainer.report import format_table, results_json
    from dfa.trainer.threads import set_threads
    from dfa.trainer.train import run_training
    from dfa.zoo.data import load_dataset
    from photonics.instrument import check_output_dir, show_progress

    cfg = build_config(args)
    check_config(cfg)  # names, devices, files: before any work
    for warning in ineffective_settings(cfg):
        print(f"dfa train: warning: {warning}", file=sys.stderr)
    if args.resume:
        out = Path(args.resume)
    elif args.out:
        out = Path(args.out)
    else:
        out = Path("runs") / f"{cfg.dataset}-{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"
        out.parent.mkdir(parents=True, exist_ok=True)
    out = check_output_dir(out, option="--resume" if args.resume else "--out", allow_existing=bool(args.resume) or args.force,
                           create=False)  # made once the data set has loaded: a failed start leaves no folder
    set_threads(args.threads, torch_threads=args.torch_threads)
    data = load_dataset(cfg.dataset, **cfg.dataset_options)  # a missing or broken data set fails before any output
    check_model(cfg, data)  # so does a model that cannot be built or cannot fit
    for warning in data_warnings(cfg, data):
        print(f"dfa train: warning: {warning}", file=sys.stderr)
    print(
        f"dfa train: {cfg.dataset} / {cfg.model}, methods {', '.join(cfg.methods)}, {cfg.epochs} epochs, seed {cfg.seed}, "
        f"optical device {cfg.feedback.opu}, torch device {cfg.device} -> {out}",
        file=sys.stderr,
    )
    try:
        results = run_training(cfg, out, resume=bool(args.resume), progress=show_progress(not args.no_progress),
                               plots=not args.no_plots, data=data, overwrite=args.force)
    except KeyboardInterrupt:
        print(f"\ndfa train: interrupted; continue with: dfa train --resume {out}", file=sys.stderr)
        return 130
    if args.json:
        from photonics.io import json_text

        print(json_text(results_json(cfg, data, results)))
        return 0
    from dfa.trainer.result import format_step_costs

    first = next(iter(results.values()))
    if "frechet_distance" in first.metrics:  # diffusion: sample quality against real digits
        from dfa.zoo.diffusion import format_diffusion_table

        ref = {k: first.metrics[k] for k in ("real_accuracy", "real_frechet_distance") if k in first.metrics}
        print(format_diffusion_table(results, reference=ref if len(ref) == 2 else None))
    else:
        unigram = first.metrics.get("unigram_loss")
        print(format_table(results, unigram_loss=unigram))
    print()
    print(format_step_costs(results))
    print(f"run folder: {out}")
    return 0
