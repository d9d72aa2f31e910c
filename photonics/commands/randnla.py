"""``photonics randnla {svd,trace}``: randomized SVD and trace estimation on a simulated OPU.

    photonics randnla svd --input A.npy --rank 10 --out svd.h5 [--device lab-cmos --bits 8 --power-iterations 1]
    photonics randnla trace --input A.npy --matvecs 60 [--method hutch++ --probes optical --out trace.json]

The device (``--device``, a preset name or TOML file, ``--set KEY=VALUE`` overrides) is
resized to the matrix by the routine; the output records the frames and device time used.
"""

from __future__ import annotations

from . import device_from_args


def _common(p) -> None:
    p.add_argument("--input", required=True, help="matrix: .npy, .npz (first array), .csv/.txt (2-D, real)")
    p.add_argument("--device", default="ideal", help="preset name (ideal, lab-cmos, lighton-like) or a device TOML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a device config value (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the device and of the digital streams (default 0)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(n_in=None, n_out=None)


def register(sub) -> None:
    p = sub.add_parser("randnla", help="randomized SVD / trace estimation with the simulated optics")
    rs = p.add_subparsers(dest="randnla_command", metavar="{svd,trace}", required=True)

    s = rs.add_parser("svd", help="rank-k randomized SVD; saves U, s, Vt and the cost to HDF5")
    _common(s)
    s.add_argument("--rank", type=int, required=True, help="rank k")
    s.add_argument("--oversampling", type=int, default=10, help="extra sketch columns p (l = k + p)")
    s.add_argument("--power-iterations", type=int, default=0, help="digital subspace iterations q")
    s.add_argument("--sketch", choices=("optical", "optical-probes", "gaussian", "rademacher"), default="optical")
    s.add_argument("--bits", type=int, default=8, help="bit planes per sign half (optical sketch)")
    s.add_argument("--transpose", choices=("auto", "rows", "columns"), default="auto", help="send the rows or the columns of A")
    s.add_argument("--out", required=True, help="output .h5 file (refused if it exists, unless --force; never the input)")
    s.add_argument("--force", action="store_true", help="replace an existing --out file")
    s.set_defaults(func=run_svd)

    t = rs.add_parser("trace", help="Hutchinson / Hutch++ estimate of tr(A) with optical probes")
    _common(t)
    t.add_argument("--matvecs", type=int, required=True, help="probes (hutchinson) or matvec budget (hutch++)")
    t.add_argument("--method", choices=("hutchinson", "hutch++"), default="hutchinson")
    t.add_argument("--probes", choices=("optical", "rademacher", "gaussian"), default="optical")
    t.add_argument("--out", default=None, help="optional .json file for the estimate and its cost (refused if it exists, unless --force)")
    t.add_argument("--force", action="store_true", help="replace an existing --out file")
    t.set_defaults(func=run_trace)


def _inputs(args):
    from ..instrument import check_output_file
    from .project import load_input

    cfg = device_from_args(args)
    if args.out:
        check_output_file(args.out, force=args.force, inputs=[args.input])
    return cfg, load_input(args.input)


def run_svd(args) -> int:
    from ..randnla import randomized_svd
    from ..records import save_result

    cfg, a = _inputs(args)
    u, s, vt, rep = randomized_svd(
        a,
        args.rank,
        oversampling=args.oversampling,
        power_iterations=args.power_iterations,
        sketch=args.sketch,
        transpose=args.transpose,
        device=cfg,
        seed=args.seed,
        n_bits=args.bits,
        progress=args.progress,
        return_report=True,
    )
    save_result(
        args.out,
        "photonics.randnla.svd",
        {"U": u, "s": s, "Vt": vt, "input": str(args.input), "report": {k: v for k, v in rep.to_dict().items() if v is not None}},
        config=cfg,
        seed=args.seed,
        units={"report.device_time_s": "s"},
    )
    print(f"randomized SVD of {a.shape[0]} x {a.shape[1]}, rank {args.rank}: s[0] = {s[0]:.6g}, s[-1] = {s[-1]:.6g}")
    print(rep.summary())
    print(f"-> {args.out}")
    return 0


def run_trace(args) -> int:
    from ..io import write_json_atomic
    from ..randnla import hutch_plus_plus, hutchinson

    cfg, a = _inputs(args)
    fn = hutchinson if args.method == "hutchinson" else hutch_plus_plus
    est, rep = fn(a, args.matvecs, probes=args.probes, device=cfg, seed=args.seed, progress=args.progress, return_report=True)
    se = "n/a" if rep.std_error is None else f"{rep.std_error:.6g}"
    print(f"{args.method} estimate of tr(A) ({a.shape[0]} x {a.shape[1]}): {est:.6g} +- {se} (standard error)")
    print(rep.summary())
    if args.out:
        write_json_atomic(args.out, {"estimate": est, "method": args.method, "input": str(args.input), "config": cfg.to_dict(), "report": rep.to_dict()})
        print(f"-> {args.out}")
    return 0
