"""What makes a command behave like an instrument: outputs checked before work, interrupts
recognised wherever they surface, progress bars only on a terminal.

* :func:`check_output_file` / :func:`check_output_dir`: refuse, before any work, an output
  that cannot be written (missing or read-only folder), that would replace an existing result
  without ``force``, or that is one of the command's inputs (never, even with ``force``).
* :func:`is_interrupt`: True for a KeyboardInterrupt, also when it surfaced wrapped in another
  exception (an interrupt that arrives inside a numba kernel comes back as ``SystemError:
  ... returned a result with an exception set`` whose context is the KeyboardInterrupt).
* :func:`terminate_as_interrupt`: SIGTERM is handled like Ctrl-C (the same clean-up: atomic
  writes are abandoned, finished work is kept).
* :func:`progress`: a tqdm bar that is shown on an interactive terminal only (a log file or a
  pipe gets no bar updates).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ValidationError

__all__ = [
    "OutputError",
    "check_output_file",
    "check_output_dir",
    "is_interrupt",
    "terminate_as_interrupt",
    "progress",
    "show_progress",
    "describe_os_error",
]


class OutputError(ValidationError):
    """An output path the command must not or cannot write (checked before any work)."""


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_writable_folder(folder: Path, what: str) -> None:
    if not folder.exists():
        raise OutputError(f"{what}: folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{what}: {str(folder)!r} is not a folder")
    probe = folder / f".probe-{os.getpid()}"
    try:
        with open(probe, "wb"):
            pass
    except OSError as exc:
        raise OutputError(f"{what}: cannot write in folder {str(folder)!r} ({describe_os_error(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_output_file(path, *, option: str = "--out", force: bool = False, inputs: Iterable = ()) -> Path:
    """Validate an output file before work; returns it as a Path.

    Refuses: an existing folder at ``path``; an existing file unless ``force``; any of
    ``inputs`` (even with ``force``); a folder that does not exist or cannot be written.
    """
    p = Path(path)
    for inp in inputs:
        if inp is not None and (_same(p, Path(inp)) or p.resolve() == Path(inp).resolve()):
            raise OutputError(f"{option} {str(p)!r} is an input of this command; write the result elsewhere")
    if p.is_dir():
        raise OutputError(f"{option} {str(p)!r} is a folder; give a file name")
    if p.exists() and not force:
        raise OutputError(f"{option} {str(p)!r} exists; pass --force to replace it")
    _check_writable_folder(p.parent if str(p.parent) else Path("."), option)
    return p


def check_output_dir(path, *, option: str = "--out", force: bool = False, inputs: Iterable = (),
                     allow_existing: bool = False, create: bool = True) -> Path:
    """Validate an output folder before work (created if missing and ``create``); returns it as a Path.

    Refuses: an existing file at ``path``; a non-empty existing folder unless ``force`` or
    ``allow_existing`` (a resumable store); a folder holding one of ``inputs``; a location
    that cannot be written.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {str(p)!r} is a file; give a folder")
    for inp in inputs:
        if inp is not None and p.exists() and Path(inp).resolve().parent == p.resolve() and not allow_existing:
            raise OutputError(f"{option} {str(p)!r} holds the input {str(inp)!r}; write the results elsewhere")
    if p.is_dir() and any(p.iterdir()) and not (force or allow_existing):
        raise OutputError(f"{option} {str(p)!r} exists and is not empty; pass --force to write into it")
    if not p.exists():
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.exists():
            raise OutputError(f"{option}: folder {str(parent)!r} does not exist")
        _check_writable_folder(parent, option)
        if create:
            try:
                p.mkdir()
            except OSError as exc:
                raise OutputError(f"{option}: cannot create {str(p)!r} ({describe_os_error(exc)})") from None
    else:
        _check_writable_folder(p, option)
    return p


def is_interrupt(exc: BaseException | None) -> bool:
    """True if ``exc`` is, or was caused by, a KeyboardInterrupt (see the module docstring)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _raise_interrupt(signum, frame):  # pragma: no cover - exercised through subprocess tests
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only; a no-op elsewhere)."""
    try:
        old = signal.signal(signal.SIGTERM, _raise_interrupt)
    except (ValueError, OSError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def describe_os_error(exc: OSError) -> str:
    """A one-line description of a file-system error (full disk, permission, ...)."""
    names = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
             errno.EROFS: "read-only file system", errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}
    what = names.get(exc.errno, exc.strerror or type(exc).__name__)
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"{what}{where}"


def show_progress(requested: bool = True) -> bool:
    """Whether a command shows progress bars: asked for, and stderr is an interactive terminal
    (a log file or a pipe gets no bar updates)."""
    return bool(requested) and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def progress(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm progress bar, shown only when :func:`show_progress` (``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not show_progress(enabled), **kwargs)
