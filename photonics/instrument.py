"""What makes a command behave like an instrument: outputs checked before work, interrupts
recognised wherever they surface, progress bars only on a terminal.

* :func:`check_output_file` / :func:`check_output_dir`: refuse, before any work, an output
  that cannot be written (missing or read-only folder), that would replace an existing result
  without ``force``, or that is one of the command's inputs (never, even with ``force``).
* :func:`is_interrupt`: True for a KeyboardInterrupt, also when it surfaced wrapped in another
  exception (an interrupt that arrives inside a numba kernel comes back as ``SystemError:
  ... returned a result with an exception set`` whose context is the KeyboardInterrupt).
* :func:`terminate_as_interrupt`: SIGTERM is handled like Ctrl-C (the same clean-up: atomic
  writes are abandoned, finished work is kept), and an interrupt that Python would drop
  (raised inside a finaliser or weakref callback) is kept and raised again at the next safe
  point (:func:`raise_if_interrupted`).
* :func:`progress`: a tqdm bar that is shown on an interactive terminal only (a log file or a
  pipe gets no bar updates).
* :func:`script_parser`, :func:`positive_int`, :func:`positive_float`,
  :func:`positive_int_list` and :func:`run_script`: the same behaviour for stand-alone scripts
  (the benchmarks and the examples): options checked by the parser with one-line errors, and
  one line with status 2 or 130 for refused input, file-system errors and interrupts.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import math
import os
import signal
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import PhotonicsError, ValidationError

__all__ = [
    "OutputError",
    "check_output_file",
    "check_output_dir",
    "is_interrupt",
    "raise_if_interrupted",
    "interruptible",
    "terminate_as_interrupt",
    "progress",
    "show_progress",
    "describe_os_error",
    "describe_memory_error",
    "describe_error",
    "finish_process",
    "script_parser",
    "positive_int",
    "positive_float",
    "positive_int_list",
    "run_script",
    "warn_no_effect",
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


#: set when a KeyboardInterrupt was raised where Python ignores exceptions (see terminate_as_interrupt)
_lost_interrupt = False
#: how many terminate_as_interrupt blocks are open
_depth = 0


def raise_if_interrupted() -> None:
    """Raise the KeyboardInterrupt that Python dropped, if one was (see :func:`terminate_as_interrupt`).

    Called where long work can stop cleanly: before each chunk of frames of an OPU
    acquisition, each training step (``dfa.trainer``) and each sweep point, at every item of a
    :func:`progress` bar, before an atomic write replaces its destination
    (:func:`photonics.io.atomic_path`), and at the end of a command. A no-op outside commands
    and scripts.
    """
    global _lost_interrupt
    if _lost_interrupt:
        _lost_interrupt = False
        raise KeyboardInterrupt("interrupt received while Python was ignoring exceptions (in a finaliser or weakref callback)")


def interruptible(items: Iterable) -> Iterator:
    """``items``, raising before each one an interrupt that Python dropped during the work on
    the previous one (:func:`raise_if_interrupted`): for loops of long steps."""
    for item in items:
        raise_if_interrupted()
        yield item


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt like Ctrl-C, and no interrupt is lost
    (main thread only; a no-op elsewhere).

    Python runs a signal handler at the next Python instruction, and when that instruction
    belongs to a finaliser or a weakref callback (h5py's object registry runs one as soon as a
    long ``Dataset.write`` returns, for example) the KeyboardInterrupt is printed as
    "Exception ignored" and the work goes on. Within the block such an interrupt is recorded
    instead (a ``sys.unraisablehook``) and raised again by :func:`raise_if_interrupted`: at
    the next chunk, training step or sweep point, before an atomic write is committed, or at
    the latest when the block ends.
    """
    global _lost_interrupt, _depth
    try:
        old = signal.signal(signal.SIGTERM, _raise_interrupt)
    except (ValueError, OSError):  # not the main thread, or no signals here
        yield
        return
    previous_hook = sys.unraisablehook

    def record_lost_interrupt(unraisable) -> None:
        global _lost_interrupt
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            _lost_interrupt = True
        else:
            previous_hook(unraisable)

    if _depth == 0:
        _lost_interrupt = False
    _depth += 1
    sys.unraisablehook = record_lost_interrupt
    try:
        yield
        raise_if_interrupted()
    finally:
        _depth -= 1
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, old)
        if _depth == 0:  # an inner block leaves a pending interrupt to the outer one
            _lost_interrupt = False


def finish_process(status: int) -> int:
    """End a command-line process quietly once its command has returned ``status``.

    After the command, the interpreter still tears down (atexit callbacks: torch's operator
    libraries, numba, tqdm), and a Ctrl-C or SIGTERM arriving then would print a traceback
    ("Exception ignored in atexit callback ... KeyboardInterrupt") or kill the process by the
    signal. The work is finished and written, so from here on such a signal ends the process
    at once with the command's own status; stdout and stderr are flushed first. For the
    console entry points only (it changes the process's signal handlers).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def exit_now(signum, frame):  # pragma: no cover - exercised through subprocess tests
        os._exit(status)

    try:
        signal.signal(signal.SIGINT, exit_now)
        signal.signal(signal.SIGTERM, exit_now)
    except (ValueError, OSError):  # not the main thread, or no signals here
        pass
    return status


def describe_os_error(exc: OSError) -> str:
    """A one-line description of a file-system error (full disk, permission, ...)."""
    names = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
             errno.EROFS: "read-only file system", errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}
    what = names.get(exc.errno, exc.strerror or type(exc).__name__)
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"{what}{where}"


def describe_memory_error(exc: MemoryError) -> str:
    """A one-line description of a MemoryError (numpy's names the array it could not allocate)."""
    detail = str(exc).strip()
    return f"not enough memory{': ' + detail if detail else ''}; lower the sizes"


def describe_error(exc: BaseException) -> str | None:
    """The one line a command or script answers ``exc`` with (status 2): an input the library
    refuses (:class:`~photonics.errors.PhotonicsError`), a missing file, any other file-system
    error (:func:`describe_os_error`) or a MemoryError (:func:`describe_memory_error`); None for
    anything else (an interrupt, a bug)."""
    if isinstance(exc, (PhotonicsError, FileNotFoundError)):
        return str(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, MemoryError):
        return describe_memory_error(exc)
    return None


def show_progress(requested: bool = True) -> bool:
    """Whether a command shows progress bars: asked for, and stderr is an interactive terminal
    (a log file or a pipe gets no bar updates)."""
    return bool(requested) and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def progress(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm progress bar, shown only when :func:`show_progress` (``enabled``); every item
    (or ``update``) first raises an interrupt Python dropped (:func:`raise_if_interrupted`)."""
    return _bar_class()(iterable, disable=not show_progress(enabled), **kwargs)


@functools.lru_cache(maxsize=1)
def _bar_class():
    from tqdm.auto import tqdm

    class InterruptibleBar(tqdm):
        def __iter__(self):
            return interruptible(super().__iter__())

        def update(self, n=1):
            raise_if_interrupted()
            return super().update(n)

    return InterruptibleBar


# ---- stand-alone scripts ------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (got {value})")
    return value


def positive_int_list(text: str) -> list[int]:
    """argparse type: comma-separated integers >= 1 (``"1,64,512"``), at least one."""
    parts = [t.strip() for t in text.split(",") if t.strip()]
    try:
        if not parts:
            raise argparse.ArgumentTypeError("empty")
        return [positive_int(t) for t in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1 (got {text!r})") from None


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 (got {text!r})")
    return value


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def script_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """An argparse parser for the stand-alone script ``prog`` whose usage errors are one line
    and status 2 (``<prog>: error: argument --frames: must be an integer >= 1 (got 0) (see
    --help)``), like the library's commands."""
    return _OneLineParser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


def warn_no_effect(argv: list[str] | None, options: tuple[str, ...], because: str) -> list[str]:
    """Warn (logging, once) about the ``options`` given on the command line ``argv`` (None: this
    process's) that ``because`` overrides, e.g. sizes under ``--quick``; returns them."""
    import logging

    given = sys.argv[1:] if argv is None else argv
    hit = [o for o in options if any(x == o or x.startswith(o + "=") for x in given)]
    if hit:
        logging.getLogger("photonics.instrument").warning("%s: no effect %s", ", ".join(hit), because)
    return hit


def run_script(script: str, work: Callable[[], object], *, cleanup: Callable[[], None] | None = None,
               kept: Callable[[], str] | None = None) -> int:
    """Run a stand-alone script's ``work()`` the way the commands run; returns the exit status.

    ``work`` returns an exit status (an int) or anything else for 0. An input the library
    refuses, a file-system error (missing file, read-only folder, full disk) or a MemoryError (a
    size too large for this machine) ends with one line ``<script>: error: ...`` on stderr
    (:func:`describe_error`) and status 2; Ctrl-C or SIGTERM (also when it surfaces inside a
    numba kernel) with the line ``<script>: interrupted`` and status 130, preceded by
    ``kept()`` when that names results already written. ``cleanup()`` runs before the message
    in both cases. Other exceptions (bugs) propagate.
    """
    try:
        with terminate_as_interrupt():
            status = work()
        return status if isinstance(status, int) and not isinstance(status, bool) else 0
    except BaseException as exc:
        message = describe_error(exc)
        if message is None and not is_interrupt(exc):
            raise
        if cleanup is not None:
            cleanup()
        if message is not None:
            sys.stderr.write(f"{script}: error: {message}\n")
            return 2
        note = kept() if kept is not None else ""
        sys.stderr.write(f"\n{note + chr(10) if note else ''}{script}: interrupted\n")
        return 130
