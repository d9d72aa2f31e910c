"""The ``photonics`` command, and the command-line skeleton ``dfa`` shares.

Sub-commands live in :mod:`photonics.commands`, one module each, every module exposing
``register(subparsers)``; they are discovered at start-up, so adding a command never touches
this file. Heavy imports happen inside each command's run function. :func:`command_parser`
and :func:`run_command` are the skeleton of both ``photonics`` and ``dfa`` (:mod:`dfa.cli`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from types import ModuleType

from .instrument import describe_error, finish_process, is_interrupt, terminate_as_interrupt
from .version import __version__

__all__ = ["main", "console_main", "build_parser", "command_parser", "run_command"]


def command_parser(prog: str, description: str, version: str, commands: ModuleType) -> argparse.ArgumentParser:
    """Parser with ``--version``, ``-v`` and one sub-command per module of the package ``commands``.

    Every module of ``commands`` whose name does not start with ``_`` must expose
    ``register(subparsers)``; modules are registered in name order.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {version}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        importlib.import_module(f"{commands.__name__}.{mod.name}").register(sub)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv``, set up logging, run the chosen sub-command; return the exit status.

    No sub-command: help and status 2. A :class:`~photonics.errors.PhotonicsError`, a missing
    file, any file-system error (read-only folder, full disk...) or a MemoryError ends with one line
    ``<prog> <command>: error: ...`` on stderr and status 2; Ctrl-C or SIGTERM (also when it
    surfaces inside a numba kernel) with one line ``<prog> <command>: interrupted`` and status
    130. Atomic writes leave nothing half-written; what a command finished before stays.
    """
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    where = f"{parser.prog} {args.command}"
    try:
        with terminate_as_interrupt():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{where}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = describe_error(exc)
        if message is not None:
            print(f"{where}: error: {message}", file=sys.stderr)
            return 2
        if is_interrupt(exc):
            print(f"\n{where}: interrupted", file=sys.stderr)
            return 130
        raise


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    return command_parser(
        "photonics", "Simulated optical processing units: inspect, project, calibrate, benchmark.", __version__, commands
    )


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


def console_main() -> int:
    """The ``photonics`` console command: :func:`main`, then a quiet end even if a Ctrl-C
    arrives while the interpreter tears down (:func:`photonics.instrument.finish_process`)."""
    return finish_process(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
