"""``photonics info DEVICE``: dimensions, noise budget and modelled hardware throughput."""

from __future__ import annotations

from . import add_device_arguments, device_from_args


def register(sub) -> None:
    p = sub.add_parser("info", help="show a device: dimensions, noise budget, hardware throughput")
    add_device_arguments(p)
    p.add_argument("--density", type=float, default=0.5, help="fraction of ON input modes for the noise budget")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def info_dict(cfg, density: float = 0.5) -> dict:
    from ..budget import noise_budget
    from ..throughput import hardware_model

    return {
        "name": cfg.name,
        "description": cfg.description,
        "dimensions": {
            "n_in": cfg.n_in,
            "n_out": cfg.n_out,
            "n_reference": cfg.n_reference,
            "n_mirrors": cfg.n_mirrors,
            "medium_model": cfg.medium.model,
            "medium_storage": cfg.medium.storage,
        },
        "noise_budget": noise_budget(cfg, density),
        "hardware": hardware_model(cfg),
        "config": cfg.to_dict(),
    }


def run(args) -> int:
    from ..throughput import format_si

    cfg = device_from_args(args)
    d = info_dict(cfg, args.density)
    if args.json:
        from ..io import json_text

        print(json_text(d))
        return 0
    dims, nb, hw = d["dimensions"], d["noise_budget"], d["hardware"]
    cam = cfg.camera
    lines = [
        f"device      {cfg.name}: {cfg.description}",
        f"dimensions  n_in={dims['n_in']:,}  n_out={dims['n_out']:,}  reference modes={dims['n_reference']:,}  "
        f"{'mirrors' if cfg.modulator == 'dmd' else 'SLM pixels'}={dims['n_mirrors']:,}  medium={dims['medium_model']} ({dims['medium_storage']})",
        f"laser       {cfg.laser.power_w:.3g} W at {cfg.laser.wavelength_m * 1e9:.1f} nm",
        f"camera      {cam.bit_depth}-bit, K={cam.system_gain_dn_per_e:.4g} DN/e-, read noise {cam.read_noise_e:g} e-, "
        f"full well {cam.full_well_e:g} e-, exposure {cam.exposure_s * 1e6:.1f} us",
        f"noise budget at input density {nb['density']:g} (per pixel, per frame):",
        f"  power {nb['pixel_power_w']:.3g} W -> {nb['photons']:.4g} photons -> {nb['signal_e']:.4g} e- signal, {nb['dark_e']:.3g} e- dark",
        f"  noise: shot {nb['shot_noise_e']:.3g} e-, read {nb['read_noise_e']:.3g} e-, quantization {nb['quantization_noise_e']:.3g} e-"
        f" -> total {nb['total_noise_e']:.3g} e-, SNR {nb['snr']:.3g}",
        f"  mean {nb['mean_dn']:.4g} DN, {100 * nb['adc_fill']:.3g} % of the ADC range, "
        f"{100 * nb['saturated_fraction']:.3g} % of speckle pixels saturated (saturation {nb['saturation_e']:.4g} e-)",
        "hardware (modelled device, not the simulator):",
        f"  {hw['frame_rate_hz']:.4g} frames/s (limited by the {hw['rate_limited_by']}), {hw['ops_per_frame']:.3g} op/frame "
        f"-> {hw['ops_per_s'] / 1e12:.4g} TeraOPS (1 op = one multiply-accumulate of a TM entry)",
        f"  native projections {hw['native_projections_per_s']:.4g}/s, linear projections {hw['linear_projections_per_s']:.4g}/s "
        f"({cfg.reference.scheme} scheme) -> {hw['effective_linear_ops_per_s'] / 1e12:.4g} effective TeraOPS",
        f"  energy ({hw['energy_basis']} power {format_si(hw['power_w'], 'W')}): {format_si(hw['energy_per_frame_j'], 'J')}/frame, "
        f"{format_si(hw['energy_per_op_j'], 'J')}/op, {hw['tera_ops_per_w']:.4g} TeraOPS/W"
        + ("" if hw["energy_basis"] == "electrical" else " (laser only: power.electrical_power_w unknown)"),
        f"  per input vector ({hw['encodings_n_bits']}-bit encodings; linear = {cfg.reference.scheme} scheme, "
        f"+{hw['reference_calibration_frames']} calibration frames once):",
        f"    {'encoding':<11} {'frames':>6} {'native/s':>10} {'linear/s':>10} {'eff. TeraOPS':>12} {'J/linear proj.':>15}",
    ]
    for name, e in hw["encodings"].items():
        lines.append(
            f"    {name:<11} {e['frames_per_native_projection']:>6d} {e['native_projections_per_s']:>10.4g} "
            f"{e['linear_projections_per_s']:>10.4g} {e['effective_linear_ops_per_s'] / 1e12:>12.4g} "
            f"{format_si(e['energy_per_linear_projection_j'], 'J'):>15}"
        )
    print("\n".join(lines))
    return 0
