"""The ``dfa`` command."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    print("dfa: no sub-commands yet", file=sys.stderr)
    return 2
