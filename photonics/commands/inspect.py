"""``photonics inspect DEVICE --out DIR``: speckle and transmission-matrix statistics of a device.

Writes to DIR:

* ``speckle.png``: one noise-free speckle image |T x|^2 on the camera (first input);
* ``histogram.png``: the intensity histogram (I / <I>) with the exponential law;
* ``singular_values.png``: the eigenvalues of T^H T with the Marchenko-Pastur density;
* ``autocorrelation.png``: the intensity autocovariance, its profiles and the grain size;
* ``ensembles.png``: the normalised eigenvalue distribution against every ensemble tested;
* ``memory_effect.png``: output correlation vs input tilt (multislice media only);
* ``statistics.json``: every number above (contrast with its standard error, KS distances,
  grain size, MP support and edges, row/column correlations, camera-frame statistics for
  small devices), the ensemble verdict with each law's distance and calibrated test, the
  speckle verdict, with the device config, the seed and the sizes used.

Verdicts (:mod:`photonics.ensembles`): the TM block is compared with the i.i.d. Gaussian
(Marchenko-Pastur), filtered-random-matrix (fitted M/N) and bimodal laws by KS distances
calibrated by Monte Carlo, and the one that fits is stated (or "quasi-unitary", or none);
the speckle is tested for the exponential law with a correctly calibrated KS test, the rule
the calibration's speckle step uses too. A mode-basis TM (``output_basis = "modes"``: rows are
mode amplitudes, not an image) skips the pixel-grid statistics (speckle image, grain size,
autocorrelation) and says why.

The speckle comes from the medium itself (ground truth, no camera noise) for random inputs
(binary frames of the given density for a DMD, uniformly random phases for an SLM). Large
devices are inspected on a block: the first ``--max-inputs`` input modes and the first image
rows holding at most ``--max-pixels`` pixels (for an i.i.d. medium a block has the same
statistics as the whole).
"""

from __future__ import annotations

import math
from pathlib import Path

from . import add_device_arguments, device_from_args

#: Devices with at most this many TM entries also get camera-frame statistics.
CAMERA_LIMIT = 1 << 26


def register(sub) -> None:
    p = sub.add_parser("inspect", help="speckle and TM statistics of a device, as PNG plots and a JSON file")
    add_device_arguments(p)
    p.add_argument("--out", required=True, help="output folder (created if missing; refused if it holds files, unless --force)")
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty --out folder")
    p.add_argument("--frames", type=int, default=16, help="random inputs (speckle images) to analyse (default 16)")
    p.add_argument("--density", type=float, default=0.5, help="fraction of ON modes of the random DMD inputs")
    p.add_argument("--max-pixels", type=int, default=65536, help="camera pixels analysed at most (whole image rows)")
    p.add_argument("--max-inputs", type=int, default=4096, help="input modes used at most (the TM block analysed has at most 1024)")
    p.add_argument("--null-draws", type=int, default=20, help="Monte-Carlo draws per ensemble calibrating the verdict (default 20)")
    p.add_argument("--max-verdict", type=int, default=512, help="largest side of the TM block given the ensemble verdict (default 512)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON instead of a summary")
    p.set_defaults(func=run)


def inspect_device(
    opu,
    out_dir,
    *,
    n_frames: int = 16,
    density: float = 0.5,
    max_pixels: int = 65536,
    max_inputs: int = 4096,
    seed: int = 0,
    n_null: int = 20,
    max_verdict: int = 512,
) -> dict:
    """Compute the statistics of ``opu`` and write the plots and ``statistics.json`` to ``out_dir``.

    ``n_null`` Monte-Carlo draws per ensemble calibrate the ensemble verdict, given on a block of
    at most ``max_verdict`` rows (evenly spaced pixels) and columns. Returns the statistics dict
    (as written to JSON).
    """
    import numpy as np

    from .. import ensembles as E
    from .. import statistics as S
    from ..errors import ValidationError
    from ..io import write_json_atomic
    from ..medium import DriftingMedium, MultiSliceMedium
    from ..plotting import speckle_plots as P
    from ..rng import generator
    from ..validation import check_int, check_real

    n_frames = check_int(n_frames, "frames", low=1, high=10_000, error=ValidationError)
    density = check_real(density, "density", low=0.0, high=1.0, low_inclusive=False, error=ValidationError)
    max_pixels = check_int(max_pixels, "max_pixels", low=4, error=ValidationError)
    max_inputs = check_int(max_inputs, "max_inputs", low=2, error=ValidationError)
    n_null = check_int(n_null, "null_draws", low=4, high=10_000, error=ValidationError)
    max_verdict = check_int(max_verdict, "max_verdict", low=4, high=8192, error=ValidationError)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = opu.config
    med = opu.medium
    h, w = cfg.medium.image_shape
    img_rows = max(1, min(h, max_pixels // w)) if w <= max_pixels else 1
    n_pix = img_rows * w if w <= max_pixels else max_pixels
    image_shape = (img_rows, w) if w <= max_pixels else (1, n_pix)
    rows = slice(0, n_pix)
    n_used = min(cfg.n_in, max_inputs)
    time_s = opu.device_time_s
    rng = generator(seed, "inspect", "inputs")

    # -- noise-free speckle of the medium --------------------------------------------------------
    if opu.modulator.kind == "slm":
        x = np.exp(2j * np.pi * rng.random((n_frames, n_used))).astype(np.complex64)
        inputs = "uniformly random phases"
    else:
        x = (rng.random((n_frames, n_used)) < density).astype(np.float32)
        x[x.sum(axis=1) == 0, 0] = 1.0
        inputs = f"random binary frames, density {density:g}"
    field = med.field(x, cols=slice(0, n_used), rows=rows, time_s=time_s).astype(np.complex128)
    inten = np.abs(field) ** 2
    basis = getattr(med, "output_basis", "pixels")
    pixel_grid = basis == "pixels"
    # contrast per image (inputs differ in total power), pooled after normalising each image
    norm = inten / inten.mean(axis=1, keepdims=True)
    hist = S.intensity_histogram(norm)
    files = [P.plot_intensity_histogram(hist, out / "histogram.png", title=f"{cfg.name}: intensity statistics")]
    if pixel_grid:
        imgs = inten.reshape(n_frames, *image_shape)
        ac = S.intensity_autocorrelation(imgs, max_lag=max(1, min(16, min(image_shape) // 4 if min(image_shape) > 1 else max(image_shape) // 4)))
        grain = S.grain_size(autocorrelation=ac)
        area = grain.correlation_area_px if math.isfinite(grain.correlation_area_px) else 1.0
        files += [
            P.plot_speckle_image(imgs[0] / imgs[0].mean(), out / "speckle.png", title=f"{cfg.name}: speckle |T x|^2 (no noise)"),
            P.plot_autocorrelation(ac, out / "autocorrelation.png", grain, title=f"{cfg.name}: intensity autocovariance"),
        ]
        skipped = None
    else:
        ac, grain, area = None, None, 1.0
        skipped = ("the TM is in the mode basis (rows are mode amplitudes, not camera pixels of an image): "
                   "no speckle image, grain size or autocorrelation")
    contrast = S.speckle_contrast(norm, correlation_area_px=area)
    sv_verdict = E.speckle_verdict(norm, correlation_area_px=area, contrast=contrast.value, contrast_stderr=contrast.stderr)

    # -- the transmission matrix -------------------------------------------------------------------
    tm_rows, tm_cols = min(cfg.n_out, 2048), min(n_used, 1024)
    t = med.matrix(slice(0, tm_rows), slice(0, tm_cols), time_s=time_s)
    sv = S.singular_value_statistics(t)
    corr = S.row_column_correlation(t, max_lag=4)
    files.append(P.plot_singular_values(sv, out / "singular_values.png", title=f"{cfg.name}: TM spectrum"))
    # ensemble verdict on a block of at most max_verdict evenly spaced pixels x the first inputs
    v_rows = np.unique(np.linspace(0, tm_rows - 1, min(tm_rows, max_verdict)).round().astype(int))
    v_cols = min(tm_cols, max_verdict)
    tv = t[v_rows, :v_cols].astype(np.complex128)
    verdict = E.ensemble_verdict(tv, n_null=n_null, seed=seed)
    x_norm, _ = E.normalized_eigenvalues(tv, equalized=verdict.equalized)
    files.append(P.plot_ensembles(x_norm, verdict, out / "ensembles.png", title=f"{cfg.name}: which ensemble?"))

    stats: dict = {
        "device": cfg.name,
        "seed": opu.seed,
        "device_time_s": time_s,
        "medium": med.describe(),
        "inputs": inputs,
        "sizes": {
            "n_frames": n_frames,
            "inputs_used": n_used,
            "pixels_used": n_pix,
            "image_shape": list(image_shape),
            "tm_block": [tm_rows, tm_cols],
        },
        "output_basis": basis,
        "speckle": {
            "contrast": contrast.to_dict(),
            "fully_developed": sv_verdict.fully_developed,
            "verdict": sv_verdict.to_dict(),
            "exponential_ks_statistic": hist.ks_statistic,
            "grain_size_px": grain.grain_size_px if grain is not None else None,
            "grain_x_px": grain.grain_x_px if grain is not None else None,
            "grain_y_px": grain.grain_y_px if grain is not None else None,
            "correlation_area_px": grain.correlation_area_px if grain is not None else None,
            "autocorrelation_x": ac.profile("x").tolist() if ac is not None else None,
            "autocorrelation_y": ac.profile("y").tolist() if ac is not None else None,
            "pixel_grid_skipped": skipped,
        },
        "ensemble": {**verdict.to_dict(), "block": [int(v_rows.size), int(v_cols)]},
        "tm": {
            "mean_abs2_times_n_in": float(np.mean(np.abs(t.astype(np.complex128)) ** 2) * cfg.n_in),
            "mp_ratio": sv.ratio,
            "mp_support": list(sv.support),
            "eigenvalue_min": sv.edge_low,
            "eigenvalue_max": sv.edge_high,
            "mp_ks_statistic": sv.ks_statistic,
            "effective_rank": sv.effective_rank,
            "row_correlation": corr.rows.tolist(),
            "column_correlation": corr.cols.tolist(),
            "independent_row_correlation": corr.independent_rows,
            "independent_column_correlation": corr.independent_cols,
        },
    }

    # -- what the camera records (small devices) -------------------------------------------------
    if cfg.n_in * cfg.n_out <= CAMERA_LIMIT:
        if opu.modulator.kind == "slm":
            g = rng.integers(0, opu.modulator.gray_levels, size=(n_frames, cfg.n_in))
            dn = opu.acquire(g)
        else:
            xb = (rng.random((n_frames, cfg.n_in)) < density).astype(np.uint8)
            dn = opu.acquire(xb)
        dark = opu.dark_frames(4).astype(np.float64).mean(axis=0)
        sig = dn.astype(np.float64) - dark
        sat = float(np.mean(dn >= cfg.camera.max_dn)) if cfg.camera.quantize else 0.0
        pos = sig.mean(axis=1) > 0
        cam_contrast = S.speckle_contrast(np.clip(sig[pos] / sig[pos].mean(axis=1, keepdims=True), 0, None), correlation_area_px=area) if pos.any() else None
        stats["camera"] = {
            "mean_signal_dn": float(sig.mean()),
            "saturated_fraction": sat,
            "contrast": cam_contrast.to_dict() if cam_contrast is not None else None,
            "note": "dark-subtracted camera frames: the contrast includes shot/read noise and saturation",
        }

    # -- memory effect of a physical slab --------------------------------------------------------------
    ms = med.base if isinstance(med, DriftingMedium) else med
    if isinstance(ms, MultiSliceMedium):
        steps = np.arange(0, 9)
        mean, se = ms.tilt_correlation(steps, n_pairs=4, seed=seed)
        theory = ms.memory_effect_theory(steps)
        angles = ms.tilt_angle_rad(steps)
        files.append(P.plot_memory_effect(angles, mean, se, theory, out / "memory_effect.png", title=f"{cfg.name}: optical memory effect"))
        stats["memory_effect"] = {
            "tilt_rad": angles.tolist(),
            "measured": mean.tolist(),
            "stderr": se.tolist(),
            "theory": theory.tolist(),
            "band_edge_fraction": ms.band_edge_fraction(),
        }

    stats["files"] = [p.name for p in files] + ["statistics.json"]
    stats["config"] = cfg.to_dict()
    write_json_atomic(out / "statistics.json", stats)
    return stats


def run(args) -> int:

    from ..device import OPU
    from ..instrument import check_output_dir

    cfg = device_from_args(args)
    check_output_dir(args.out, force=args.force)
    opu = OPU(cfg, seed=args.seed)
    st = inspect_device(
        opu, args.out, n_frames=args.frames, density=args.density, max_pixels=args.max_pixels, max_inputs=args.max_inputs, seed=args.seed,
        n_null=args.null_draws, max_verdict=args.max_verdict,
    )
    if args.json:
        from ..io import json_text

        print(json_text(st))
        return 0
    sp, tm = st["speckle"], st["tm"]
    c = sp["contrast"]
    lines = [
        f"device      {cfg.name}: medium {st['medium']['model']}, {st['sizes']['inputs_used']} inputs x {st['sizes']['pixels_used']} pixels "
        f"(image {st['sizes']['image_shape'][0]} x {st['sizes']['image_shape'][1]}), {st['sizes']['n_frames']} random inputs ({st['inputs']})",
        f"speckle     contrast {c['value']:.4f} +/- {c['stderr']:.4f} ({'fully developed' if sp['fully_developed'] else 'NOT fully developed'}), "
        f"KS distance to exp law {sp['verdict']['ks_statistic']:.3g} (critical {sp['verdict']['ks_critical']:.3g} at 1 %)",
        (f"grain       {sp['grain_size_px']:.3g} px (x {sp['grain_x_px']:.3g}, y {sp['grain_y_px']:.3g}), {sp['correlation_area_px']:.3g} px per grain"
         if sp["pixel_grid_skipped"] is None else f"grain       skipped: {sp['pixel_grid_skipped']}"),
        f"TM          {tm['mp_ratio']:.3g} = q, eigenvalues [{tm['eigenvalue_min']:.3g}, {tm['eigenvalue_max']:.3g}] vs MP "
        f"[{tm['mp_support'][0]:.3g}, {tm['mp_support'][1]:.3g}], KS {tm['mp_ks_statistic']:.3g}, effective rank {tm['effective_rank']:.4g}",
        f"            neighbour correlation: rows {tm['row_correlation'][0]:.3g}, columns {tm['column_correlation'][0]:.3g} "
        f"(independent: {tm['independent_row_correlation']:.3g}, {tm['independent_column_correlation']:.3g})",
        f"verdict     {st['ensemble']['statement']}",
        "            " + "; ".join(
            f"{f['ensemble']} D={f['ks_distance']:.3g} "
            + (f"z={f['z']:.1f} ({'fits' if f['fits'] else 'rejected'})" if f["tested"] else "(not calibrated: an earlier ensemble fits)")
            for f in st["ensemble"]["fits"]
        ) + f" [{st['ensemble']['block'][0]} x {st['ensemble']['block'][1]} block, {st['ensemble']['n_null']} null draws]",
    ]
    if "camera" in st:
        cam = st["camera"]
        cc = cam["contrast"]
        lines.append(
            f"camera      mean signal {cam['mean_signal_dn']:.4g} DN, {100 * cam['saturated_fraction']:.3g} % saturated"
            + (f", contrast {cc['value']:.4f} (with noise)" if cc else "")
        )
    if "memory_effect" in st:
        me = st["memory_effect"]
        lines.append(f"memory      C(tilt) measured {', '.join(f'{v:.2f}' for v in me['measured'][:5])} ... vs theory {', '.join(f'{v:.2f}' for v in me['theory'][:5])} ...")
    lines.append(f"wrote       {', '.join(st['files'])} to {args.out}")
    print("\n".join(lines))
    return 0
