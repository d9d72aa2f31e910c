"""The ``dfa`` command.

Sub-commands live in :mod:`dfa.commands`, one module each exposing ``register(subparsers)``;
they are discovered at start-up (later issues add e.g. ``dfa sweep`` without touching this
file). Errors the toolkit raises on purpose (:class:`photonics.errors.PhotonicsError`) and
missing files end with a one-line message and exit status 2 (the skeleton is
:func:`photonics.cli.command_parser` / :func:`photonics.cli.run_command`).
"""

from __future__ import annotations

import argparse
import sys

from photonics.cli import command_parser, run_command
from photonics.instrument import finish_process

from .version import __version__

__all__ = ["main", "console_main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    return command_parser(
        "dfa", "Direct Feedback Alignment training with digital and optical (simulated OPU) feedback.", __version__, commands
    )


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


def console_main() -> int:
    """The ``dfa`` console command: :func:`main`, then a quiet end even if a Ctrl-C arrives
    while the interpreter tears down (:func:`photonics.instrument.finish_process`)."""
    return finish_process(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
