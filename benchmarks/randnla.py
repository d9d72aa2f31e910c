"""Accuracy study of randomized linear algebra on the simulated OPU.

Relative error of the rank-k randomized SVD, ||A - U S V^T||_F / ||A||_F, against the exact
truncated SVD (numpy) and against a digital Gaussian sketch of the same size, as a function of

* sketch size l = k + oversampling (k = 5, 10, 20, 40), for the optical sketch on the ideal
  device (rows of A through the optics; default ``n_bits="auto"`` and a fixed 8 bits), on
  lab-cmos (auto), lab-cmos with one digital power iteration, and optical random test
  vectors on lab-cmos;
* bit depth (1..24 bit planes) on both devices, plus an exactly rank-k matrix on the ideal
  device to show the 2^-n_bits floor of a single-pass sketch and the exact recovery with q = 1;
* camera noise: read noise 0..30 e- on lab-cmos at its photon budget and at 1/10 of it
  (auto bits);

and the RMS relative error of Hutchinson and Hutch++ trace estimates vs matvecs with optical
and digital Rademacher probes (5 x ``--seeds`` seeds), against the Rademacher theory
sqrt(2 (||A||_F^2 - sum a_ii^2) / s) / tr(A). Each point is a mean over ``--seeds`` seeds (each seed a new
medium and camera noise) with its standard error. Headline target: on the ideal device the
optical error is within 10 % of the Gaussian sketch's at every rank; on lab-cmos the loss is
reported. Frames, device time and bit planes of each optical sketch are recorded (means
over seeds: with auto bits they depend on the data and the noise).

    python benchmarks/randnla.py [--m 400 --n 300 --seeds 10 --spectrum poly2 --quick]

Results: ``benchmarks/results/randnla.json`` and ``randnla.png``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

# photonics before numpy: the OpenBLAS thread setting it makes must precede OpenBLAS's start
import photonics  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import machine, run_as_instrument, write_json  # noqa: E402

from photonics.instrument import finish_process, positive_int, script_parser  # noqa: E402

log = logging.getLogger("benchmarks.randnla")

SPECTRA = {
    "poly1": lambda j: 1.0 / j,
    "poly2": lambda j: 1.0 / j**2,
    "exp": lambda j: np.exp(-(j - 1) / 5.0),
}


def spectrum(name: str, r: int) -> np.ndarray:
    """Singular values sigma_j, j = 1..r."""
    return SPECTRA[name](np.arange(1, r + 1, dtype=np.float64))


def make_matrix(m: int, n: int, sigma: np.ndarray, seed: int) -> np.ndarray:
    """A = U diag(sigma) V^T with Haar-random orthonormal U (m x r), V (n x r)."""
    from photonics.rng import generator

    rng = generator(seed, "benchmark", "randnla", "matrix")
    r = sigma.size
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    return (u * sigma) @ v.T


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0, "n": int(v.size)}


def svd_errors(a: np.ndarray, k: int, seeds: int, **kw) -> tuple[dict, dict]:
    """Relative errors of randomized_svd(a, k, **kw) over seeds, and its mean cost.

    The cost dict holds the mean frames, device time, bit planes and optical inputs over the
    seeds (they vary with ``n_bits="auto"``), and the first run's bit-plane passes.
    """
    from photonics.randnla import randomized_svd

    norm = np.linalg.norm(a)
    errs, reps = [], []
    for seed in range(seeds):
        u, s, vt, rep = randomized_svd(a, k, seed=seed, return_report=True, **kw)
        errs.append(np.linalg.norm(a - (u * s) @ vt) / norm)
        reps.append(rep)
    cost = {
        "frames": float(np.mean([r.frames for r in reps])),
        "device_time_s": float(np.mean([r.device_time_s for r in reps])),
        "optical_inputs": float(np.mean([r.optical_inputs for r in reps])),
        "n_bits": float(np.mean([r.n_bits for r in reps])) if reps[0].n_bits is not None else None,
        "bit_passes_first_seed": list(reps[0].bit_passes) if reps[0].bit_passes else None,
        "matvecs": float(np.mean([r.matvecs for r in reps])),
        "transposed": bool(reps[0].transposed),
    }
    return _stats(errs), cost


def study_sketch_size(a, sigma, ranks, p, seeds) -> dict:
    methods = {
        "gaussian": {"sketch": "gaussian"},
        "optical_ideal_8bit": {"sketch": "optical", "device": "ideal", "n_bits": 8},
        "optical_ideal": {"sketch": "optical", "device": "ideal"},
        "optical_lab_cmos": {"sketch": "optical", "device": "lab-cmos"},
        "optical_lab_cmos_q1": {"sketch": "optical", "device": "lab-cmos", "power_iterations": 1},
        "probes_lab_cmos": {"sketch": "optical-probes", "device": "lab-cmos"},
    }
    out = {
        "ranks": list(ranks),
        "oversampling": p,
        "sketch_size": [k + p for k in ranks],
        "optimal": [float(np.sqrt(np.sum(sigma[k:] ** 2)) / np.linalg.norm(sigma)) for k in ranks],
        "methods": {name: {"mean": [], "se": []} for name in methods},
        "cost": {name: [] for name in methods},
    }
    for k in ranks:
        for name, kw in methods.items():
            st, cost = svd_errors(a, k, seeds, oversampling=p, **kw)
            out["methods"][name]["mean"].append(st["mean"])
            out["methods"][name]["se"].append(st["se"])
            out["cost"][name].append(cost)
    g = np.array(out["methods"]["gaussian"]["mean"])
    out["ratio_to_gaussian"] = {name: list(np.array(c["mean"]) / g) for name, c in out["methods"].items()}
    return out


def study_bits(a, m, n, k, p, bits, seeds) -> dict:
    out = {"n_bits": list(bits), "k": k, "sketch_size": k + p}
    for dev, key in (("ideal", "ideal"), ("lab-cmos", "lab_cmos")):
        curve = {"mean": [], "se": []}
        for b in bits:
            st, _ = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device=dev, n_bits=b)
            curve["mean"].append(st["mean"])
            curve["se"].append(st["se"])
        out[key] = curve
    out["gaussian"], _ = svd_errors(a, k, seeds, oversampling=p, sketch="gaussian")
    exact = make_matrix(m, n, np.linspace(1.0, 0.1, k), seed=1)  # exactly rank k
    curve = {"mean": [], "se": []}
    for b in bits:
        st, _ = svd_errors(exact, k, seeds, oversampling=p, sketch="optical", device="ideal", n_bits=b)
        curve["mean"].append(st["mean"])
        curve["se"].append(st["se"])
    out["exact_rank_ideal"] = curve
    q1, _ = svd_errors(exact, k, seeds, oversampling=p, sketch="optical", device="ideal", n_bits=min(bits), power_iterations=1)
    out["exact_rank_ideal_q1"] = q1["mean"]
    return out


def study_noise(a, k, p, read_noise, budgets, seeds) -> dict:
    from photonics import DeviceConfig

    base = DeviceConfig.preset("lab-cmos")
    out = {"read_noise_e": list(read_noise), "k": k, "n_bits": "auto", "budgets": {}}
    for factor in budgets:
        curve = {"mean": [], "se": []}
        for rn in read_noise:
            cfg = base.replace({"camera.read_noise_e": float(rn), "laser.power_w": base.laser.power_w * factor})
            st, _ = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device=cfg)
            curve["mean"].append(st["mean"])
            curve["se"].append(st["se"])
        out["budgets"][f"{factor:g}"] = curve
    out["gaussian"], _ = svd_errors(a, k, seeds, oversampling=p, sketch="gaussian")
    out["ideal"], _ = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device="ideal")
    return out


def study_trace(n: int, matvecs, seeds: int, spectrum_name: str) -> dict:
    from photonics.randnla import hutch_plus_plus, hutchinson

    lam = spectrum(spectrum_name, n)
    a = make_matrix(n, n, np.ones(n), seed=2)  # an orthogonal matrix Q ...
    a = (a * lam) @ a.T  # ... -> PSD Q diag(lam) Q^T
    tr = float(np.trace(a))
    variants = {
        "hutchinson_optical_ideal": (hutchinson, {"probes": "optical", "device": "ideal"}),
        "hutchinson_optical_lab_cmos": (hutchinson, {"probes": "optical", "device": "lab-cmos"}),
        "hutchinson_rademacher": (hutchinson, {"probes": "rademacher"}),
        "hutch++_optical_lab_cmos": (hutch_plus_plus, {"probes": "optical", "device": "lab-cmos"}),
        "hutch++_rademacher": (hutch_plus_plus, {"probes": "rademacher"}),
    }
    curves = {}
    for name, (fn, kw) in variants.items():
        rms, bias, bias_se = [], [], []
        for mv in matvecs:
            est = np.array([fn(a, mv, seed=s, **kw) for s in range(seeds)])
            rel = (est - tr) / tr
            rms.append(float(np.sqrt(np.mean(rel**2))))
            bias.append(float(rel.mean()))
            bias_se.append(float(rel.std(ddof=1) / np.sqrt(seeds)))
        curves[name] = {"rms_rel_error": rms, "bias_rel": bias, "bias_rel_se": bias_se}
    theory = [float(np.sqrt(2.0 * (np.sum(a**2) - np.sum(np.diag(a) ** 2)) / mv) / tr) for mv in matvecs]
    return {"n": n, "spectrum": spectrum_name, "trace": tr, "matvecs": list(matvecs), "seeds": seeds, "curves": curves,
            "hutchinson_rms_theory": theory}


def headline(m, n, k, p, seeds) -> dict:
    """Rank-k error vs the Gaussian sketch for every spectrum: the 10 % target (ideal device,
    default n_bits="auto"; 8 fixed bits shown too) and the loss on lab-cmos."""
    rows = {}
    for name in SPECTRA:
        sigma = spectrum(name, min(m, n))
        a = make_matrix(m, n, sigma, seed=0)
        g, _ = svd_errors(a, k, seeds, oversampling=p, sketch="gaussian")
        ideal, c_i = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device="ideal")
        ideal8, c_i8 = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device="ideal", n_bits=8)
        lab, c_l = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device="lab-cmos")
        lab_q1, c_q = svd_errors(a, k, seeds, oversampling=p, sketch="optical", device="lab-cmos", power_iterations=1)
        rows[name] = {
            "optimal": float(np.sqrt(np.sum(sigma[k:] ** 2)) / np.linalg.norm(sigma)),
            "gaussian": g,
            "optical_ideal": ideal,
            "optical_ideal_8bit": ideal8,
            "optical_lab_cmos": lab,
            "optical_lab_cmos_q1": lab_q1,
            "ideal_vs_gaussian": ideal["mean"] / g["mean"],
            "ideal_8bit_vs_gaussian": ideal8["mean"] / g["mean"],
            "lab_cmos_vs_gaussian": lab["mean"] / g["mean"],
            "lab_cmos_q1_vs_gaussian": lab_q1["mean"] / g["mean"],
            "cost_ideal": c_i,
            "cost_ideal_8bit": c_i8,
            "cost_lab_cmos": c_l,
            "cost_lab_cmos_q1": c_q,
        }
    return {"k": k, "oversampling": p, "spectra": rows, "target_ideal_vs_gaussian": 1.10,
            "target_met": all(r["ideal_vs_gaussian"] <= 1.10 for r in rows.values())}


def run(m: int = 400, n: int = 300, seeds: int = 10, spectrum_name: str = "poly2", quick: bool = False) -> dict:
    """The whole study; ``quick`` shrinks every sweep (for the smoke test)."""
    t0 = time.perf_counter()
    p = 10
    ranks = (5, 10) if quick else (5, 10, 20, 40)
    bits = (2, 8, 24) if quick else (1, 2, 3, 4, 6, 8, 12, 16, 24)
    read_noise = (0.0, 7.0) if quick else (0.0, 1.0, 3.0, 7.0, 15.0, 30.0)
    matvecs = (6, 24) if quick else (6, 12, 24, 48, 96)
    k = 5 if quick else 10
    sigma = spectrum(spectrum_name, min(m, n))
    a = make_matrix(m, n, sigma, seed=0)
    res = {
        "matrix": {"m": m, "n": n, "spectrum": spectrum_name, "seeds": seeds},
        "headline": headline(m, n, k, p, seeds),
        "sketch_size": study_sketch_size(a, sigma, ranks, p, seeds),
        "bit_depth": study_bits(a, m, n, k, p, bits, seeds),
        "noise": study_noise(a, k, p, read_noise, (1.0, 0.1), seeds),
        "trace": study_trace(min(m, n), matvecs, 5 * seeds, "poly1"),
    }
    res["wall_s"] = time.perf_counter() - t0
    res["machine"] = machine()
    return res


def report(res: dict) -> str:
    """The study as text: headline table, then one block per sweep."""
    h = res["headline"]
    mat = res["matrix"]
    lines = [
        f"randomized SVD, A {mat['m']} x {mat['n']}, rank k = {h['k']}, l = k + {h['oversampling']}, "
        f"mean over {mat['seeds']} seeds of ||A - U S V^T||_F / ||A||_F; ratio = error / Gaussian sketch's",
        f"{'spectrum':8s} {'optimal':>9s} {'gaussian':>9s} | {'ideal auto':>10s} {'ratio':>6s} {'bits':>5s} | "
        f"{'ideal 8b':>9s} {'ratio':>6s} | {'lab-cmos':>9s} {'ratio':>6s} {'bits':>5s} | {'lab q=1':>9s} {'ratio':>6s} | "
        "frames, device time (ideal auto | lab-cmos)",
    ]
    for name, r in h["spectra"].items():
        ci, cl = r["cost_ideal"], r["cost_lab_cmos"]
        lines.append(
            f"{name:8s} {r['optimal']:9.3e} {r['gaussian']['mean']:9.3e} | {r['optical_ideal']['mean']:10.3e} "
            f"{r['ideal_vs_gaussian']:6.3f} {ci['n_bits']:5.1f} | {r['optical_ideal_8bit']['mean']:9.3e} "
            f"{r['ideal_8bit_vs_gaussian']:6.3f} | {r['optical_lab_cmos']['mean']:9.3e} {r['lab_cmos_vs_gaussian']:6.3f} "
            f"{cl['n_bits']:5.1f} | {r['optical_lab_cmos_q1']['mean']:9.3e} {r['lab_cmos_q1_vs_gaussian']:6.3f} | "
            f"{ci['frames']:.0f}, {ci['device_time_s']:.3g} s | {cl['frames']:.0f}, {cl['device_time_s']:.3g} s"
        )
    lines.append(f"target: ideal (auto bits) / gaussian <= {h['target_ideal_vs_gaussian']} for every spectrum -> "
                 f"{'met' if h['target_met'] else 'NOT met'}")
    ss = res["sketch_size"]
    lines.append(f"sketch size sweep ({mat['spectrum']}), l = {ss['sketch_size']}: error / gaussian (mean bit planes)")
    for name, ratio in ss["ratio_to_gaussian"].items():
        bits = [c["n_bits"] for c in ss["cost"][name]]
        btxt = "" if bits[0] is None else "  (" + " ".join(f"{b:4.1f}" for b in bits) + " bits)"
        lines.append(f"  {name:22s} " + " ".join(f"{x:6.3f}" for x in ratio) + btxt)
    bd = res["bit_depth"]
    lines.append(f"bit depth {bd['n_bits']} (k = {bd['k']}, fixed bits, q = 0):")
    for key in ("ideal", "lab_cmos", "exact_rank_ideal"):
        lines.append(f"  {key:22s} " + " ".join(f"{x:8.2e}" for x in bd[key]["mean"]))
    lines.append(f"  exactly rank {bd['k']}, q = 1: {bd['exact_rank_ideal_q1']:.2e}; gaussian {bd['gaussian']['mean']:.3e}")
    nz = res["noise"]
    lines.append(f"read noise {nz['read_noise_e']} e- (lab-cmos, auto bits), gaussian {nz['gaussian']['mean']:.3e}, "
                 f"ideal {nz['ideal']['mean']:.3e}:")
    for key, c in nz["budgets"].items():
        lines.append(f"  photon budget x {key:4s}   " + " ".join(f"{x:8.2e}" for x in c["mean"]))
    tr = res["trace"]
    lines.append(f"trace, n = {tr['n']} PSD ({tr['spectrum']}), RMS relative error over {tr['seeds']} seeds at matvecs {tr['matvecs']}:")
    for name, c in tr["curves"].items():
        lines.append(f"  {name:28s} " + " ".join(f"{x:8.2e}" for x in c["rms_rel_error"]))
    lines.append(f"  {'hutchinson theory':28s} " + " ".join(f"{x:8.2e}" for x in tr["hutchinson_rms_theory"]))
    lines.append(f"study wall time {res['wall_s']:.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = script_parser(Path(__file__).name, __doc__)
    ap.add_argument("--m", type=positive_int, default=400, help="rows of the test matrix")
    ap.add_argument("--n", type=positive_int, default=300, help="columns of the test matrix")
    ap.add_argument("--seeds", type=positive_int, default=10, help="seeds (devices) per point")
    ap.add_argument("--spectrum", choices=sorted(SPECTRA), default="poly2", help="spectrum of the sweeps")
    ap.add_argument("--quick", action="store_true", help="small sweeps (smoke test)")
    ap.add_argument("--out-dir", default=None, help="folder for randnla.json / randnla.png (default runs/bench/<date-time>)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_as_instrument("randnla.py", a.out_dir, lambda folder: _measure(a, folder))


def _measure(a, folder: Path) -> int:
    from photonics.validation import check_allocation

    # the float64 test matrix, its SVD and the sketches' working copies: ~8 matrices of m x n
    check_allocation(64.0 * a.m * a.n, f"--m {a.m} x --n {a.n}", "lower --m or --n")
    res = run(a.m, a.n, a.seeds, a.spectrum, a.quick)
    path = write_json("randnla", res, folder)
    from photonics.plotting.randnla_plots import plot_randnla_study

    png = plot_randnla_study(res, path.parent / "randnla.png")
    print(report(res))
    print(f"-> {path}, {png}")
    return 0


if __name__ == "__main__":
    sys.exit(finish_process(main()))
