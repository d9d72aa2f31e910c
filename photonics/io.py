"""Storage primitives: the one atomic writer, strict JSON, and the HDF5 file envelope.

Atomic writes
-------------
Every file the toolkit writes (HDF5, JSON, TOML, PNG, CSV, checkpoints, IDX) goes through
:func:`atomic_path`: the content is written to a temporary file ``.<name>.tmp-<pid>`` in the
destination folder and renamed into place only when complete, so a crash, a full disk or an
interrupt never leaves a half-written file under the final name. Temporary files left by a
process that was killed (SIGKILL, power loss) are removed by the next write to the same
name once their process is gone (:func:`remove_stale_temporaries`).

JSON
----
:func:`to_jsonable` / :func:`write_json_atomic` write standard JSON (RFC 8259): numpy scalars
and arrays become numbers and lists, paths strings, and the non-finite floats that JSON
cannot hold become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (never the non-standard
``Infinity`` / ``NaN`` tokens).

HDF5 envelope
-------------
Every HDF5 file written here carries, as root attributes, ``schema`` (:data:`SCHEMA_VERSION`),
``kind`` (``"photonics.device"``, ``"photonics.frames"``...), ``package_version`` and, where
relevant, ``config`` (a device config as JSON) and ``seed``; every dataset carries a
``unit`` attribute. :func:`open_h5` checks kind and schema and raises
:class:`~photonics.errors.FileFormatError` with the reason.

This module knows no device or config class (it sits below :mod:`photonics.config`):
device files are written by :mod:`photonics.device`, frame and result records by
:mod:`photonics.records`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import FileFormatError, ShapeError
from .instrument import raise_if_interrupted
from .version import __version__

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "atomic_path",
    "atomic_write",
    "remove_stale_temporaries",
    "write_text_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "json_text",
    "to_jsonable",
    "atomic_h5",
    "open_h5",
    "stored_json_attr",
    "folder_lock",
    "check_array_shape",
]

SCHEMA_VERSION = 1
_TMP_MARK = ".tmp-"


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of earlier writes of ``path`` whose writing process is gone.

    Returns the paths removed. A temporary of a live process (another writer) is left alone.
    """
    path = Path(path)
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.name}{_TMP_MARK}"
    try:
        candidates = list(folder.glob(f"{prefix}*"))
    except OSError:
        return removed
    for p in candidates:
        tail = p.name[len(prefix):]
        if not tail.isdigit() or _pid_alive(int(tail)):
            continue
        try:
            p.unlink()
            removed.append(p)
            log.info("removed %s, left by an interrupted write", p)
        except OSError:
            pass
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    The caller writes the complete file to the yielded path (any library: h5py, torch.save,
    matplotlib...). On an exception (including KeyboardInterrupt) the temporary file is
    deleted and ``path`` is untouched; an existing ``path`` is replaced only by a complete
    new file. The destination folder must exist.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist")
    remove_stale_temporaries(path)
    tmp = _tmp_path(path)
    try:
        yield tmp
        raise_if_interrupted()  # an interrupt Python dropped during the write abandons it too
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[Any]:
    """``open(path, mode)`` for writing, atomically (see :func:`atomic_path`); mode ``"w"`` or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb' (got {mode!r})")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: numpy scalars/arrays -> numbers/lists, paths -> strings,
    tuples -> lists, non-finite floats -> ``"inf"``, ``"-inf"``, ``"nan"``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as standard JSON text (see :func:`to_jsonable`; keys sorted)."""
    return json.dumps(to_jsonable(data), indent=indent, sort_keys=True, allow_nan=False)


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as standard JSON (see :func:`to_jsonable`), atomically; returns the path."""
    return write_text_atomic(path, json_text(data, indent=indent) + "\n")


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, kind: str, *, config=None, seed: int | None = None) -> Iterator[Any]:
    """Open a new HDF5 file for writing, atomically, with the envelope attributes.

    Yields an ``h5py.File`` on a temporary path next to ``path``; on normal exit the file is
    closed and renamed to ``path``, on an exception it is deleted and ``path`` is untouched.
    ``config``: an object with ``to_json()`` (a :class:`~photonics.config.DeviceConfig`),
    stored as the ``config`` attribute.
    """
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["schema"] = SCHEMA_VERSION
            fh.attrs["kind"] = kind
            fh.attrs["package_version"] = __version__
            if config is not None:
                fh.attrs["config"] = config.to_json()
            if seed is not None:
                fh.attrs["seed"] = int(seed)
            yield fh


def open_h5(path: str | os.PathLike, kind: str):
    """Open an existing file for reading after checking it is a ``kind`` file of our schema."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    try:
        file_kind = fh.attrs.get("kind")
        if isinstance(file_kind, bytes):
            file_kind = file_kind.decode()
        if file_kind is None:
            raise FileFormatError(f"{path}: no 'kind' attribute; not written by photonics")
        if file_kind != kind:
            raise FileFormatError(f"{path}: is a {file_kind!r} file, expected {kind!r}")
        schema = int(fh.attrs.get("schema", -1))
        if schema != SCHEMA_VERSION:
            raise FileFormatError(f"{path}: schema version {schema} is not supported (this version reads {SCHEMA_VERSION})")
    except Exception:
        fh.close()
        raise
    return fh


def stored_json_attr(fh, name: str, path) -> str | None:
    """The text of a JSON-valued root attribute (e.g. ``config``), or None when absent."""
    text = fh.attrs.get(name)
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode()
    if not isinstance(text, str):
        raise FileFormatError(f"{path}: attribute {name!r} must be a JSON string (got {type(text).__name__})")
    return text


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str, lock_name: str = ".lock") -> Iterator[None]:
    """Exclusive lock of ``folder`` for the block (an flock, released if the process dies).

    A second process that tries to lock the same folder gets a ConfigError naming ``what``
    holds it (e.g. "another dfa train run"), instead of mixing its files with the first's.
    """
    import fcntl

    from .errors import ConfigError

    path = Path(folder) / lock_name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{what} is writing {folder} (its lock is held); wait for it or use another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


def check_array_shape(arr: np.ndarray, shape: tuple, name: str) -> None:
    """Raise ShapeError unless ``arr.shape == shape`` (None entries match anything)."""
    if len(arr.shape) != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape)):
        raise ShapeError(f"{name} must have shape {shape} (got {arr.shape})")
