"""Random-features classification with optical features, written as lightonml code.

The OPU's native projection phi(x) = |T x|^2 of a binary image is a random feature map of the
kernel k(x, y) = |x|^2 |y|^2 + (x . y)^2 (T i.i.d. complex Gaussian), so a ridge classifier on
n optical features approaches kernel ridge regression with that kernel as n grows. This script
runs the lightonml recipe (threshold encoder -> OPU.fit1d -> OPU.transform -> linear model)
through :mod:`photonics.compat.lightonml` on scikit-learn's 8x8 digits, on the noiseless
``ideal`` device and the noisy ``lab-cmos`` one, and compares with

* a linear classifier of the same binary pixels (what the features add), and
* exact kernel ridge with the kernel the features estimate (what they converge to).

Writes ``random_features.png`` (test accuracy vs number of optical features) to --out.

Run:  python examples/random_features_classification.py [--out examples/output] [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import RidgeClassifier

from photonics.compat.lightonml import OPU
from photonics.compat.lightonml.encoding.base import BinaryThresholdEncoder
from photonics.instrument import check_output_dir, finish_process, positive_int, run_script, script_parser, warn_no_effect
from photonics.plotting import new_figure, save_figure


def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """k(x, y) = |x|^2 |y|^2 + (x . y)^2 for binary rows (|x|^2 = number of ones)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.outer(a.sum(1), b.sum(1)) + (a @ b.T) ** 2


def main(argv=None) -> dict:
    ap = script_parser(Path(__file__).name, __doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "output"), help="folder for the figure (default examples/output)")
    ap.add_argument("--components", type=positive_int, nargs="+", default=[125, 250, 500, 1000, 2000], help="numbers of optical features")
    ap.add_argument("--devices", nargs="+", default=["ideal", "lab-cmos"], help="device presets or TOML files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="two sizes only")
    args = ap.parse_args(argv)
    if args.quick:
        warn_no_effect(argv, ("--components",), "with --quick (200 and 500 features)")
        args.components = [200, 500]
    out = check_output_dir(args.out, option="--out", allow_existing=True, create=False)  # checked before the work
    t0 = time.perf_counter()

    digits = load_digits()
    order = np.random.default_rng(args.seed).permutation(len(digits.target))
    tr, te = order[:1400], order[1400:]
    encoder = BinaryThresholdEncoder(threshold_enc=7.5)  # pixel values are 0..16
    x_train = encoder.fit_transform(digits.data[tr])
    x_test = encoder.transform(digits.data[te])
    y_train, y_test = digits.target[tr], digits.target[te]

    acc_linear = RidgeClassifier(alpha=1.0).fit(x_train, y_train).score(x_test, y_test)
    kr = KernelRidge(alpha=10.0, kernel="precomputed").fit(kernel(x_train, x_train), np.eye(10)[y_train])
    acc_kernel = float(np.mean(kr.predict(kernel(x_test, x_train)).argmax(1) == y_test))
    print(f"linear on binary pixels: {acc_linear:.3f}; exact kernel ridge: {acc_kernel:.3f}  (test set of {len(te)})")

    results = {}
    for device in args.devices:
        accs = []
        for n in args.components:
            opu = OPU(n_components=n, max_n_features=64, device=device, seed=args.seed)
            opu.fit1d(x_train)
            f_train = np.asarray(opu.transform(x_train), dtype=np.float64)
            f_test = np.asarray(opu.transform(x_test), dtype=np.float64)
            scale = f_train.mean()
            acc = RidgeClassifier(alpha=100.0).fit(f_train / scale, y_train).score(f_test / scale, y_test)
            accs.append(acc)
            print(f"{device:>10s}  n_components={n:5d}  accuracy {acc:.3f}  ({opu.frames_used} frames, {opu.device_time_s:.3g} s device time)")
        results[device] = accs

    fig, ax = new_figure(figsize=(6.4, 4.4))
    for device, accs in results.items():
        ax.semilogx(args.components, accs, "o-", label=f"optical features ({device})")
    ax.axhline(acc_kernel, color="k", ls="--", label="exact kernel ridge")
    ax.axhline(acc_linear, color="0.5", ls=":", label="linear on binary pixels")
    ax.minorticks_off()
    ax.set_xticks(args.components, [str(n) for n in args.components])
    ax.set_xlabel("number of optical random features (camera pixels)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Digits 8x8: ridge on |T x|^2 features")
    ax.legend(fontsize=8)
    out.mkdir(exist_ok=True)  # created once there is something to write
    fig_path = save_figure(fig, out / "random_features.png")
    print(f"wrote {fig_path}\ndone in {time.perf_counter() - t0:.1f} s")
    return {"linear": acc_linear, "kernel": acc_kernel, "optical": results, "figures": [str(fig_path)]}


if __name__ == "__main__":
    sys.exit(finish_process(run_script(Path(__file__).name, main)))
