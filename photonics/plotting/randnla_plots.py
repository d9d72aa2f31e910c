"""Plot of the randomized-linear-algebra accuracy study (``benchmarks/randnla.py``).

Four panels from the study's result dict: RandSVD error vs sketch size, vs bit depth, vs
camera noise, and trace-estimation error vs matvecs. Error bars are standard errors over seeds.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import new_figure, save_figure

__all__ = ["plot_randnla_study"]


def _errorbar(ax, x, curve, label, **kw):
    ax.errorbar(x, curve["mean"], yerr=curve["se"], label=label, capsize=2, marker=kw.pop("marker", "o"), ms=3, **kw)


def plot_randnla_study(results: dict, path: str | os.PathLike) -> Path:
    """Write the four-panel PNG of a study result (see ``benchmarks/randnla.py``) and return its path.

    Parameters
    ----------
    results : dict
        With keys ``sketch_size``, ``bit_depth``, ``noise``, ``trace`` as produced by
        ``benchmarks/randnla.py:run``.
    path : str or PathLike
        Output PNG (written atomically).
    """
    fig, axes = new_figure(2, 2, figsize=(11, 8.5))
    (a1, a2), (a3, a4) = axes

    ss = results["sketch_size"]
    a1.plot(ss["sketch_size"], ss["optimal"], "k--", label="optimal (truncated SVD)")
    for key, label in (
        ("gaussian", "digital Gaussian sketch"),
        ("optical_ideal_8bit", "optical, ideal device, 8 bits"),
        ("optical_ideal", "optical, ideal device, auto bits"),
        ("optical_lab_cmos", "optical, lab-cmos, auto bits"),
        ("optical_lab_cmos_q1", "optical, lab-cmos, 1 power iteration"),
        ("probes_lab_cmos", "optical probes (A digital), lab-cmos"),
    ):
        if key in ss["methods"]:
            _errorbar(a1, ss["sketch_size"], ss["methods"][key], label)
    a1.set_yscale("log")
    a1.set_xlabel(f"sketch size l = k + {ss['oversampling']}")
    a1.set_ylabel("||A - U S V^T||_F / ||A||_F")
    a1.set_title(f"RandSVD rank k, spectrum {results['matrix']['spectrum']}")
    a1.legend(fontsize=7)

    bd = results["bit_depth"]
    _errorbar(a2, bd["n_bits"], bd["ideal"], "optical, ideal device")
    _errorbar(a2, bd["n_bits"], bd["lab_cmos"], "optical, lab-cmos")
    _errorbar(a2, bd["n_bits"], bd["exact_rank_ideal"], f"exactly rank {bd['k']} matrix, ideal (q = 0)", marker="s")
    a2.axhline(bd["gaussian"]["mean"], color="gray", ls=":", label="digital Gaussian sketch")
    a2.axhline(bd["exact_rank_ideal_q1"], color="k", ls="-.", lw=0.8, label="exactly rank k, ideal, q = 1")
    a2.set_yscale("log")
    a2.set_xlabel("bit planes per sign half")
    a2.set_ylabel("relative error")
    a2.set_title(f"RandSVD vs bit depth (k = {bd['k']}, l = {bd['sketch_size']})")
    a2.legend(fontsize=7)

    nz = results["noise"]
    for key, curve in nz["budgets"].items():
        _errorbar(a3, nz["read_noise_e"], curve, f"lab-cmos, photon budget x {key}")
    a3.axhline(nz["gaussian"]["mean"], color="gray", ls=":", label="digital Gaussian sketch")
    a3.axhline(nz["ideal"]["mean"], color="k", ls="--", lw=0.8, label="ideal device")
    a3.set_yscale("log")
    a3.set_xlabel("camera read noise [e-]")
    a3.set_ylabel("relative error")
    a3.set_title(f"RandSVD vs camera noise (k = {nz['k']}, {nz['n_bits']} bits)")
    a3.legend(fontsize=7)

    tr = results["trace"]
    for key, curve in tr["curves"].items():
        a4.plot(tr["matvecs"], curve["rms_rel_error"], marker="o", ms=3, label=key.replace("_", " "))
    a4.plot(tr["matvecs"], tr["hutchinson_rms_theory"], "k--", lw=0.8, label="Hutchinson, Rademacher theory")
    a4.set_xscale("log")
    a4.set_yscale("log")
    a4.set_xlabel("matvecs with A")
    a4.set_ylabel("RMS relative error of tr(A)")
    a4.set_title(f"trace estimation, n = {tr['n']}, spectrum {tr['spectrum']}")
    a4.legend(fontsize=7)
    return save_figure(fig, path)
