"""Calibrate a simulated camera as a lab would: the EMVA 1288 photon transfer curve.

The sensor of a ``lab-cmos`` device is illuminated with flat fields of known power, from dark
to beyond saturation; pairs of frames give the temporal variance at each level, and the slope
of variance against mean signal is the system gain K [DN/e-]:

    sigma_y^2 = sigma_y.dark^2 + K (mu_y - mu_y.dark)

The script prints what was measured next to the simulator's ground truth and writes

* ``photon_transfer.png``: variance vs mean signal with the gain fit;
* ``snr.png``: SNR vs signal in electrons (measured, model, shot-noise limit);
* ``photon_transfer.h5``: the result (values, uncertainties, units, device config and seed).

Run:  python examples/calibrate_photon_transfer.py [--out examples/output] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from photonics import OPU, DeviceConfig
from photonics.calibration import measure_photon_transfer
from photonics.plotting.calibration_plots import plot_photon_transfer, plot_snr


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "output"), help="folder for the figures (default examples/output)")
    ap.add_argument("--device", default="lab-cmos", help="preset name or device TOML (default lab-cmos)")
    ap.add_argument("--pixels", type=int, default=4096, help="camera pixels (default 4096)")
    ap.add_argument("--levels", type=int, default=20, help="illumination levels below saturation (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="fewer pixels and levels (a few seconds)")
    args = ap.parse_args(argv)
    if args.quick:
        args.pixels, args.levels = 1024, 8
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    cfg = DeviceConfig.resolve(args.device).replace({"n_in": 64, "n_out": args.pixels})
    opu = OPU(cfg, seed=args.seed)
    ptc = measure_photon_transfer(opu, n_levels=args.levels, black_level_dn=cfg.camera.black_level_dn, wavelength_m=cfg.laser.wavelength_m)
    truth = opu.camera.truth()

    rows = [
        ("system gain K [DN/e-]", ptc.system_gain_dn_per_e, truth.system_gain_dn_per_e),
        ("read noise [e-]", ptc.read_noise_e, truth.read_noise_e),
        ("dark signal [e-]", ptc.dark_signal_e, truth.dark_signal_e),
        ("saturation capacity [e-]", ptc.saturation_capacity_e, truth.saturation_capacity_e),
        ("quantum efficiency", ptc.quantum_efficiency, truth.quantum_efficiency),
    ]
    print(f"photon transfer of {cfg.name!r}: {args.pixels} pixels, {ptc.power_w.size} levels, {opu.frames_used} frames, {opu.device_time_s:.3g} s of device time")
    print(f"{'quantity':28s} {'measured':>28s} {'truth':>10s}")
    summary = {}
    for name, measured, true in rows:
        if measured is None:
            continue
        print(f"{name:28s} {format(measured, '.4g'):>28s} {true:>10.4g}")
        summary[name] = (measured.value, measured.uncertainty, float(true))
    print(f"linearity error {format(ptc.linearity_error_pct, '.3g')}, dynamic range {format(ptc.dynamic_range_db, '.3g')}")

    figures = [plot_photon_transfer(ptc, out / "photon_transfer.png"), plot_snr(ptc, out / "snr.png")]
    ptc.save(out / "photon_transfer.h5", config=cfg, seed=args.seed)
    for f in figures:
        print(f"wrote {f}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return {"summary": summary, "figures": [str(f) for f in figures]}


if __name__ == "__main__":
    main()
