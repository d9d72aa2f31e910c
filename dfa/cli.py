"""The ``dfa`` command.

Sub-commands live in :mod:`dfa.commands`, one module each exposing ``register(subparsers)``;
they are discovered at start-up (later issues add e.g. ``dfa sweep`` without touching this
file). Errors the toolkit raises on purpose (:class:`photonics.errors.PhotonicsError`) and
missing files end with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from photonics.errors import PhotonicsError

from . import __version__

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfa",
        description="Direct Feedback Alignment training with digital and optical (simulated OPU) feedback.",
    )
    parser.add_argument("--version", action="version", version=f"dfa {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands

    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (PhotonicsError, FileNotFoundError) as exc:
        print(f"dfa {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
