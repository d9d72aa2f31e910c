"""``photonics project DEVICE --input FILE --out FILE.h5``: run inputs through a device."""

from __future__ import annotations

from pathlib import Path

from . import add_device_arguments, device_from_args


def register(sub) -> None:
    p = sub.add_parser("project", help="project inputs through a simulated device and save the outputs (HDF5)")
    add_device_arguments(p)
    p.add_argument("--input", required=True, help="inputs: .npy, .npz (first array), .h5 (photonics frames file) or .csv/.txt")
    p.add_argument("--out", required=True, help="output .h5 file (refused if it exists, unless --force; never an input)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--mode", choices=("project", "linear"), default="project", help="native |Tx|^2 or linear B x")
    p.add_argument(
        "--encoder",
        choices=("none", "threshold", "bitplane", "sign", "ternary"),
        default="none",
        help="input encoding (none: inputs must already be binary)",
    )
    p.add_argument("--bits", type=int, default=8, help="bit planes for bitplane/sign encoders")
    p.add_argument("--threshold", type=float, default=0.0, help="threshold for threshold/ternary encoders")
    p.add_argument("--raw", action="store_true", help="save raw camera frames instead of decoded outputs")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run)


def load_input(path: str):
    """Load an input array from .npy/.npz/.h5/.csv/.txt."""
    import numpy as np

    from ..errors import FileFormatError
    from ..records import load_frames

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input file {path!r} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if not z.files:
                    raise FileFormatError(f"{path}: empty .npz")
                return z[z.files[0]]
        if suffix in (".h5", ".hdf5"):
            return load_frames(p)[0]
        if suffix in (".csv", ".txt"):
            return np.loadtxt(p, delimiter="," if suffix == ".csv" else None, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    raise FileFormatError(f"{path}: unknown input format {suffix!r} (use .npy, .npz, .h5, .csv or .txt)")


def make_encoder(name: str, bits: int, threshold: float):
    from .. import encoding

    return {
        "none": lambda: None,
        "threshold": lambda: encoding.BinaryThresholdEncoder(threshold),
        "bitplane": lambda: encoding.BitPlaneEncoder(bits),
        "sign": lambda: encoding.SignSplitEncoder(n_bits=bits),
        "ternary": lambda: encoding.TernaryEncoder(threshold),
    }[name]()


def run(args) -> int:
    from ..device import OPU
    from ..instrument import check_output_file, show_progress
    from ..records import save_frames

    cfg = device_from_args(args)
    check_output_file(args.out, force=args.force, inputs=[args.input])
    x = load_input(args.input)
    opu = OPU(cfg, seed=args.seed, progress=show_progress(args.progress))
    enc = make_encoder(args.encoder, args.bits, args.threshold)
    op = opu.project if args.mode == "project" else opu.linear
    y = op(x, encoder=enc, raw=args.raw)
    unit = "DN" if (args.raw or args.mode == "project") else "sqrt(DN)"
    save_frames(
        args.out,
        y,
        config=cfg,
        seed=args.seed,
        unit=unit,
        name="y",
        attrs={
            "mode": args.mode,
            "encoder": args.encoder,
            "raw": bool(args.raw),
            "frames_used": opu.frames_used,
            "device_time_s": opu.device_time_s,
            "input": str(args.input),
        },
    )
    print(f"{args.mode}: {x.shape} -> {y.shape} {y.dtype} [{unit}], {opu.frames_used} frames, "
          f"{opu.device_time_s:.4g} s of device time -> {args.out}")
    return 0
