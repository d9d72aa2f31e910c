"""Calibrate a simulated camera as a lab would: EMVA 1288 (photon transfer, dark current, DSNU/PRNU).

The sensor of a ``lab-cmos`` device is illuminated with flat fields of known power, from dark
to beyond saturation; pairs of frames give the temporal variance at each level, and the slope
of variance against mean signal is the system gain K [DN/e-]:

    sigma_y^2 = sigma_y.dark^2 + K (mu_y - mu_y.dark)

Dark frames at several exposures give the dark current, stacks of frames the spatial
non-uniformities. The script prints what was measured next to the configured truth and writes

* ``datasheet.html``: the EMVA 1288 datasheet (every figure with its uncertainty, the plots);
* ``photon_transfer.png``, ``snr.png``: two of its plots as files;
* ``emva1288.h5`` (the whole result) and ``photon_transfer.h5`` (its photon-transfer part):
  values, uncertainties, units, device config and seed;
* with ``--twin``: a digital twin of the calibrated camera (``twin.toml`` + pixel maps).

Run:  python examples/calibrate_photon_transfer.py [--out examples/output] [--quick] [--twin]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from photonics import OPU, DeviceConfig
from photonics.calibration import emva_quantities, measure_emva1288, write_datasheet, write_twin
from photonics.calibration.report import emva_truth
from photonics.instrument import check_output_dir, finish_process, positive_int, run_script, script_parser, warn_no_effect
from photonics.plotting.calibration_plots import plot_photon_transfer, plot_snr


def main(argv=None) -> dict:
    ap = script_parser(Path(__file__).name, __doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "output"), help="folder for the figures (default examples/output)")
    ap.add_argument("--device", default="lab-cmos", help="preset name or device TOML (default lab-cmos)")
    ap.add_argument("--pixels", type=positive_int, default=4096, help="camera pixels (default 4096)")
    ap.add_argument("--levels", type=positive_int, default=100, help="illumination levels (default 100)")
    ap.add_argument("--mode", default="irradiance", choices=("irradiance", "exposure"), help="series in irradiance or in exposure time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="fewer pixels and levels (a few seconds)")
    ap.add_argument("--twin", action="store_true", help="also write a digital twin of the calibrated camera")
    args = ap.parse_args(argv)
    if args.quick:
        warn_no_effect(argv, ("--pixels", "--levels"), "with --quick (1024 pixels, 40 levels)")
        args.pixels, args.levels = 1024, 40
    out = check_output_dir(args.out, option="--out", allow_existing=True, create=False)  # checked before the work

    t0 = time.perf_counter()
    cfg = DeviceConfig.resolve(args.device).replace({"n_in": 64, "n_out": args.pixels})
    opu = OPU(cfg, seed=args.seed)
    res = measure_emva1288(opu, mode=args.mode, n_levels=args.levels)
    truth = emva_truth(opu.camera, res)

    rows = (
        ("system gain K [DN/e-]", "system_gain_dn_per_e"),
        ("quantum efficiency", "quantum_efficiency"),
        ("temporal dark noise [e-]", "temporal_dark_noise_e"),
        ("read noise [e-]", "read_noise_e"),
        ("dark current [e-/s]", "dark_current_e_per_s"),
        ("saturation capacity [e-]", "saturation_capacity_e"),
        ("clip level [e-]", "clip_saturation_capacity_e"),
        ("DSNU [e-]", "dsnu_e"),
        ("PRNU", "prnu"),
        ("dynamic range [dB]", "dynamic_range_db"),
    )
    q = emva_quantities(res)
    print(f"EMVA 1288 of {cfg.name!r} ({args.mode} series): {args.pixels} pixels, {res.photon_transfer.illumination.size} levels, "
          f"{opu.frames_used} frames, {opu.device_time_s:.3g} s of device time")
    print(f"{'quantity':28s} {'measured':>30s} {'truth':>10s}")
    summary = {}
    for label, name in rows:
        if name not in q:
            continue
        m = q[name][0]
        t = truth.get(name)
        print(f"{label:28s} {format(m, '.4g'):>30s} {t if t is None else format(t, '.4g'):>10s}")
        summary[label] = (m.value, m.uncertainty, t)

    out.mkdir(exist_ok=True)  # created once there is something to write
    figures = [plot_photon_transfer(res.photon_transfer, out / "photon_transfer.png"), plot_snr(res.photon_transfer, out / "snr.png")]
    files = [write_datasheet(res, out / "datasheet.html", truth=truth, title=f"EMVA 1288 datasheet: {cfg.name} (simulated, seed {args.seed})"),
             res.save(out / "emva1288.h5", config=cfg, seed=args.seed),
             res.photon_transfer.save(out / "photon_transfer.h5", config=cfg, seed=args.seed)]
    if args.twin:
        files += list(write_twin(res, out, base=cfg).values())
    for f in figures + files:
        print(f"wrote {f}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return {"summary": summary, "figures": [str(f) for f in figures], "files": [str(f) for f in files]}


if __name__ == "__main__":
    sys.exit(finish_process(run_script(Path(__file__).name, main)))
