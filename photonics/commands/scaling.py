"""``photonics scaling --out DIR``: modelled BP-on-GPU vs optical-DFA step times, crossovers.

Writes ``scaling.csv`` (one row per depth and width), ``scaling.json`` (table, crossovers,
settings) and ``scaling.png`` into DIR, and prints the crossover table. The model and its
assumptions are documented in :mod:`photonics.scaling`.
"""

from __future__ import annotations


def _ints(text: str) -> list[int]:
    from ..errors import ValidationError

    try:
        vals = [int(float(t)) for t in text.replace(",", " ").split()]
    except ValueError:
        raise ValidationError(f"expected a comma-separated list of integers (got {text!r})") from None
    if not vals:
        raise ValidationError("expected at least one integer")
    return vals


def _floats(text: str) -> list[float]:
    from ..errors import ValidationError

    try:
        vals = [float(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise ValidationError(f"expected a comma-separated list of numbers (got {text!r})") from None
    if not vals:
        raise ValidationError("expected at least one number")
    return vals


def register(sub) -> None:
    p = sub.add_parser(
        "scaling",
        help="model BP on GPUs vs DFA with an optical projection as networks grow; write plot and table",
        description="Roofline model of one training step (see photonics.scaling): BP on GPUs, DFA with a digital "
        "random matrix, DFA with the projection on the OPU. Finds the width where optical DFA catches up with BP.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing; refused if it holds files, unless --force)")
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty --out folder")
    g = p.add_argument_group("GPU")
    g.add_argument("--gpu-tflops", type=float, default=67.0, help="peak TFLOP/s of the precision used (default 67, H100 FP32)")
    g.add_argument("--gpu-efficiency", type=float, default=0.7, help="fraction of peak reached by large GEMMs (default 0.7)")
    g.add_argument("--gpu-bandwidth-gbps", type=float, default=3350.0, help="memory bandwidth in GB/s (default 3350)")
    g.add_argument("--gpu-memory-gb", type=float, default=80.0, help="memory per GPU in GB (default 80)")
    g.add_argument("--gpu-power-w", type=float, default=700.0, help="board power in W (default 700)")
    g.add_argument("--gpu-count", type=int, default=1, help="GPUs sharing the layers, model parallel (default 1)")
    g.add_argument("--gpu-overhead-us", type=float, default=5.0, help="kernel launch overhead in us (default 5)")
    g.add_argument("--interconnect-gbps", type=float, default=450.0, help="GPU-GPU bandwidth in GB/s (default 450)")
    o = p.add_argument_group("OPU")
    o.add_argument("--device", default=None, metavar="DEVICE", help="take OPU dims, rate and power from a device preset/TOML")
    o.add_argument("--opu-n-in", type=int, default=None, help="OPU inputs (default 1e6)")
    o.add_argument("--opu-n-out", type=int, default=None, help="OPU outputs (default 2e6)")
    o.add_argument("--opu-rate-hz", type=float, default=None, help="OPU frame rate in Hz (default 1500)")
    o.add_argument("--opu-power-w", type=float, default=None, help="OPU wall-plug power in W (default 30)")
    o.add_argument("--opu-frames-per-error", type=int, default=None, help="frames per error vector (default 4: ternary x exact scheme)")
    o.add_argument("--opu-link-gbps", type=float, default=12.0, help="OPU-to-GPU link in GB/s (default 12)")
    o.add_argument("--overlap-opu", action="store_true", help="pipeline the OPU with the next step (one-step-stale updates)")
    n = p.add_argument_group("network")
    n.add_argument("--widths", default=None, help="hidden widths, comma-separated (default powers of 2 from 256 to 2^20)")
    n.add_argument("--depths", default="2,4,8,16,32", help="hidden-layer counts (default 2,4,8,16,32)")
    n.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    n.add_argument("--d-in", type=int, default=1024, help="input features (default 1024)")
    n.add_argument("--d-out", type=int, default=10, help="outputs = error dimension (default 10)")
    n.add_argument("--rates-hz", default=None, help="OPU frame rates for the crossover-vs-rate table (default rate x 1,10,100,1000)")
    p.add_argument("--no-plot", action="store_true", help="write the table only")
    p.set_defaults(func=run)


def build(args):
    """(GPUModel, OPUModel, NetworkSpec) from the parsed arguments."""
    from dataclasses import replace

    from ..config import DeviceConfig
    from ..scaling import GPUModel, NetworkSpec, OPUModel

    gpu = GPUModel(
        flops_per_s=args.gpu_tflops * 1e12,
        efficiency=args.gpu_efficiency,
        memory_bandwidth_bytes_per_s=args.gpu_bandwidth_gbps * 1e9,
        memory_bytes=args.gpu_memory_gb * 1e9,
        kernel_overhead_s=args.gpu_overhead_us * 1e-6,
        power_w=args.gpu_power_w,
        count=args.gpu_count,
        interconnect_bytes_per_s=args.interconnect_gbps * 1e9,
    )
    if args.device:
        opu = OPUModel.from_device(DeviceConfig.resolve(args.device), link_bytes_per_s=args.opu_link_gbps * 1e9)
    else:
        opu = OPUModel(link_bytes_per_s=args.opu_link_gbps * 1e9)
    over = {}
    for key, attr in (
        ("opu_n_in", "n_in"),
        ("opu_n_out", "n_out"),
        ("opu_rate_hz", "frame_rate_hz"),
        ("opu_power_w", "power_w"),
        ("opu_frames_per_error", "frames_per_error"),
    ):
        v = getattr(args, key)
        if v is not None:
            over[attr] = v
    opu = replace(opu, **over) if over else opu
    base = NetworkSpec(width=1, depth=1, d_in=args.d_in, d_out=args.d_out, batch=args.batch)
    return gpu, opu, base


def run(args) -> int:
    from pathlib import Path

    from ..instrument import check_output_dir
    from ..scaling import scaling_study, write_study

    gpu, opu, base = build(args)
    check_output_dir(args.out, force=args.force)
    widths = _ints(args.widths) if args.widths else None
    depths = _ints(args.depths)
    rates = _floats(args.rates_hz) if args.rates_hz else None
    res = scaling_study(widths, depths, gpu=gpu, opu=opu, base=base, overlap_opu=args.overlap_opu, frame_rates_hz=rates)
    paths = write_study(res, Path(args.out), plot=not args.no_plot)

    lo = min(res.settings["widths"])

    def fmt(v):
        if v is None:
            return "-"
        return f"<={v:,}" if v == lo else f"{v:,}"

    print(
        f"GPU x{gpu.count}: {gpu.flops_per_s / 1e12:g} TFLOP/s peak x {gpu.efficiency:g}, {gpu.memory_bandwidth_bytes_per_s / 1e9:g} GB/s, "
        f"{gpu.memory_bytes / 1e9:g} GB | OPU {opu.n_in:,} x {opu.n_out:,} at {opu.frame_rate_hz:g} Hz, {opu.frames_per_error} frames/error "
        f"| batch {base.batch}, d_in {base.d_in}, d_out {base.d_out}{' | OPU pipelined' if args.overlap_opu else ''}"
    )
    print(f"{'depth':>5}  {'optical=BP width':>16}  {'optical=digital':>15}  {'digital=BP':>10}  {'BP memory limit':>15}")
    for c in res.crossovers:
        print(
            f"{c['depth']:>5}  {fmt(c['optical_vs_bp_width']):>16}  {fmt(c['optical_vs_digital_width']):>15}  "
            f"{fmt(c['digital_vs_bp_width']):>10}  {fmt(c['bp_memory_limit_width']):>15}"
        )
    print(
        "(width = smallest hidden width where the first method's modelled step is at least as fast; "
        "- = not in the range of widths; <= = already at the smallest width)"
    )
    for kind, pth in paths.items():
        print(f"wrote {kind}: {pth}")
    return 0
