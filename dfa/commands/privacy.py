"""``dfa privacy RUN_DIR``: the (epsilon, delta) of the optical error projection of a `dfa train` run.

Reads the run folder's ``config.json`` and ``results.json`` and, for every method with optical
feedback, rebuilds its device from the config and seed and reports the guarantee per step and
over training (see :mod:`dfa.studies.privacy` for the mechanism, the noise floor and what is covered).
"""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "privacy",
        help="(epsilon, delta) of the optical error projection of a dfa train run",
        description="Differential privacy of the optical feedback of a dfa train run folder: the camera noise at the "
        "error projection as a Gaussian mechanism (noise floor lower-bounded per pixel), sensitivity from the error "
        "quantizer's clipping, exact composition over the steps each sample takes part in. See dfa.studies.privacy.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="a run folder written by dfa train")
    p.add_argument("--delta", type=float, default=1e-5, help="delta of the guarantee (default 1e-5)")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from types import SimpleNamespace

    from dfa.studies.privacy import run_privacy
    from dfa.trainer.config import TrainConfig
    from photonics.errors import ConfigError, FileFormatError

    folder = Path(args.run)
    for name in ("config.json", "results.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} not found: RUN_DIR must be a run folder written by dfa train")
    try:
        cfg = TrainConfig.from_dict(json.loads((folder / "config.json").read_text()))
        results = json.loads((folder / "results.json").read_text())
    except ValueError as exc:
        raise FileFormatError(f"{folder}: unreadable run files ({exc})") from None
    if not 0.0 < args.delta < 1.0:
        raise ConfigError(f"--delta must be in (0, 1) (got {args.delta})")
    reports = {}
    for method in cfg.methods:
        entry = results.get(method)
        if not isinstance(entry, dict):
            continue
        fake = SimpleNamespace(describe={"feedback": entry.get("feedback")}, steps=int(entry["steps"]), device_time_s=float(entry["device_time_s"]))
        rep = run_privacy(cfg, fake, delta=args.delta)
        if rep is not None:
            reports[method] = rep
    if args.json:
        print(json.dumps({m: r.to_dict() for m, r in reports.items()}, indent=2))
        return 0
    if not reports:
        print(f"{folder}: no method with optical feedback; nothing to report")
        return 0
    for m, r in reports.items():
        print(f"{m}: {r.summary()}")
        if r.applicable:
            n = r.noise
            print(f"  sensitivity {r.mu_step:.4g} = clipped signal {r.sensitivity_signal:.4g} ({r.sensitivity_method}) "
                  f"+ calibration offset {r.calibration_offset:.4g}, in units of the noise floor")
            print(f"  noise floor per displayed frame: median {n['sigma_floor_e_median']:.3g} e- (read {n['read_noise_e']:.3g} e-, "
                  f"dark {n['dark_e_median']:.3g} e-, shot floor {n['shot_floor_e_median']:.3g} e-) vs typical "
                  f"{n['sigma_typical_e_median']:.3g} e-")
            print(f"  participations: {r.participations} ({r.participation_rule})")
    print("covers the feedback channel only (the forward pass and the output layer see the data without noise); "
          "shot noise modelled as Gaussian with a floored variance; see dfa.studies.privacy")
    return 0
