"""``photonics bench``: run the simulator benchmarks (``benchmarks/*.py``) and summarise them.

A script joins the suite by accepting ``--quick`` and ``--out-dir`` and writing
``<name>.json`` with a ``checks`` list (see ``benchmarks/_common.py``). Each script runs in
this process (``main(argv)``) or, with ``--subprocess``, in a fresh interpreter (cleaner
thread pools and memory; needed to apply environment variables such as OMP_WAIT_POLICY).
The benchmarks ship with the source tree; ``--dir`` points at another copy.
"""

from __future__ import annotations

import json
from pathlib import Path

#: The default suite, in running order (others found in the folder run when named).
SUITE = ("tm_generation", "camera_noise", "projection", "projection_grid", "procedural", "torch_backend", "dask_scaling")


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run the simulator benchmarks (ratios measured side by side, JSON results)",
        description="Run benchmark scripts from the benchmarks/ folder and print their target checks.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: {', '.join(SUITE)})")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run, figures not meaningful")
    p.add_argument("--out-dir", default=None,
                   help="folder for the JSON results (default runs/bench/<date-time>; the checked-in reference results in "
                   "benchmarks/results change only with --update-reference)")
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty --out-dir")
    p.add_argument("--update-reference", action="store_true",
                   help="write into benchmarks/results, replacing the checked-in reference results (on purpose, on a quiet machine)")
    p.add_argument("--dir", default=None, help="benchmarks folder (default: the one next to the photonics package)")
    p.add_argument("--list", action="store_true", help="list the benchmarks found and exit")
    p.add_argument("--subprocess", action="store_true", help="run each script in a fresh Python process")
    p.set_defaults(func=run)


def benchmarks_dir(path: str | None = None) -> Path:
    """The benchmarks folder: ``path``, else ``<repository>/benchmarks``."""
    from ..errors import ValidationError

    d = Path(path) if path else Path(__file__).resolve().parents[2] / "benchmarks"
    if not (d / "_common.py").is_file():
        raise ValidationError(
            f"benchmarks folder {str(d)!r} not found (it ships with the source tree, not the wheel); "
            "pass --dir PATH to a checkout's benchmarks/"
        )
    return d


def discover(d: Path) -> dict[str, Path]:
    """Scripts of ``d`` that follow the suite convention (accept --quick and --out-dir).

    A script qualifies if it calls ``_common.add_common_arguments`` or names both options.
    """
    found = {}
    for f in sorted(d.glob("*.py")):
        if f.name.startswith("_"):
            continue
        text = f.read_text(errors="replace")
        if "add_common_arguments(" in text or ("--quick" in text and "--out-dir" in text):
            found[f.stem] = f
    return found


def describe(path: Path) -> str:
    """First line of a script's docstring."""
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except SyntaxError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def run_one(path: Path, argv: list[str], subprocess_mode: bool) -> int:
    """Run one script with ``argv``; returns its exit status."""
    import sys

    if subprocess_mode:
        import subprocess

        return subprocess.run([sys.executable, str(path), *argv], check=False).returncode
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"photonics_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(mod)
        return int(mod.main(argv) or 0)
    except SystemExit as exc:  # argparse errors inside the script
        return int(exc.code or 0)
    except Exception:  # a failing benchmark is reported, the others still run
        import traceback

        traceback.print_exc()
        return 1
    finally:
        sys.path[:] = saved


def run(args) -> int:
    from ..errors import ValidationError

    d = benchmarks_dir(args.dir)
    found = discover(d)
    if args.list:
        for name, path in found.items():
            print(f"{name:<18} {describe(path)}")
        return 0
    names = args.names or [n for n in SUITE if n in found]
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValidationError(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(found)}")
    import time

    from ..instrument import check_output_dir

    if args.update_reference and args.out_dir:
        raise ValidationError("--update-reference writes into benchmarks/results; do not give --out-dir with it")
    if args.update_reference and args.quick:
        raise ValidationError("--update-reference records reference figures; --quick sizes are not meaningful")
    if args.update_reference:
        out_dir = check_output_dir(d / "results", option="--update-reference", allow_existing=True)
    else:
        default = Path("runs") / "bench" / time.strftime("%Y%m%d-%H%M%S")
        if not args.out_dir:
            default.parent.mkdir(parents=True, exist_ok=True)
        out_dir = check_output_dir(args.out_dir or default, option="--out-dir", force=args.force)
    argv = ["--out-dir", str(out_dir)] + (["--quick"] if args.quick else [])
    status = {}
    for name in names:
        print(f"== {name}: {describe(found[name])}", flush=True)
        status[name] = run_one(found[name], argv, args.subprocess)
    print("\n== summary" + (" (quick: sizes too small for meaningful figures)" if args.quick else ""))
    failed = 0
    for name in names:
        rc = status[name]
        path = out_dir / f"{name}.json"
        if rc != 0 or not path.is_file():
            print(f"{name:<18} FAILED (exit status {rc})")
            failed += 1
            continue
        checks = json.loads(path.read_text()).get("checks", [])
        if not checks:
            print(f"{name:<18} ran (no target checks) -> {path}")
        for c in checks:
            mark = "met" if c["met"] else "NOT met"
            print(f"{name:<18} {c['name']}: {c['value']:.4g} (target {c['op']} {c['target']:g}) {mark}")
    return 1 if failed else 0
