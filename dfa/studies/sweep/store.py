"""The results store of a sweep: one folder, one append-only JSON-lines file, crash-safe.

Layout of ``--out DIR``::

    results.jsonl    one line per finished point (the whole record: metrics, learning curves,
                     frames, device time, configs, noise budget, privacy), appended as points
                     finish
    sweep.json       the plan of the last invocation (spec, cells -> point ids), atomic
    spec.toml        a copy of the spec file, atomic
    summary.json     aggregated metrics per cell (mean, sd, n over seeds), atomic
    plots/*.png      written by ``dfa sweep`` and ``dfa sweep --plot DIR``
    .lock            held (flock) while a sweep writes the folder

Crash safety: a record is appended with one ``write`` of the complete line followed by
``fsync``, by the single process that drives the sweep (workers return records, they do not
write). A point is done exactly when its line is in the file. A crash can at worst leave a
torn last line: readers skip an unparseable line (with a warning) and the next append first
terminates it, so the point simply runs again. Everything else is written to a temporary file
and renamed into place. Re-running the same command reads the finished ids and skips them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Iterator

from photonics.errors import FileFormatError

log = logging.getLogger(__name__)

__all__ = ["SweepStore", "RECORD_VERSION"]

RECORD_VERSION = 1
RESULTS = "results.jsonl"
PLAN = "sweep.json"
SPEC_COPY = "spec.toml"
SUMMARY = "summary.json"
LOCK = ".lock"


class SweepStore:
    """The folder of one sweep (see the module docstring).

    Parameters
    ----------
    root : path
        The folder; created (with parents) when ``create`` is True.
    create : bool
        Create it if missing; otherwise it must exist and hold a sweep.
    """

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not (self.root / PLAN).is_file() and not (self.root / RESULTS).is_file():
            raise FileNotFoundError(f"{str(self.root)!r} holds no sweep (no {PLAN} or {RESULTS}); run dfa sweep SPEC --out {self.root} first")

    @property
    def results_path(self) -> Path:
        return self.root / RESULTS

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    # ---- lock ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock of the folder for the duration of a sweep (released if the process dies)."""
        from photonics.io import folder_lock

        with folder_lock(self.root, "another dfa sweep", LOCK):
            yield

    # ---- records ---------------------------------------------------------------------------
    def append(self, record: dict) -> None:
        """Append one complete record as one line, then fsync (the point is then done)."""
        line = json.dumps(record, sort_keys=True, allow_nan=False, separators=(",", ":")) + "\n"
        data = line.encode()
        path = self.results_path
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if not new and path.stat().st_size > 0:
                with open(path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":  # a torn line from a crash: terminate it first
                        data = b"\n" + data
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(self.root)

    def records(self) -> dict[str, dict]:
        """Finished records by point id (the last line of an id wins; torn lines are skipped)."""
        out: dict[str, dict] = {}
        path = self.results_path
        if not path.exists():
            return out
        with open(path, "rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or "id" not in rec or rec.get("record_version") != RECORD_VERSION:
                    raise ValueError("not a sweep record")
            except ValueError as exc:
                torn = i == len(lines) - 1 or (i == len(lines) - 2 and not lines[-1])
                log.warning("%s line %d: %s record skipped (%s)", path, i + 1, "torn" if torn else "unreadable", str(exc)[:80])
                continue
            out[rec["id"]] = rec
        return out

    # ---- plan, spec, summary -------------------------------------------------------------------
    def write_plan(self, plan_dict: dict, spec_text: str = "") -> None:
        from photonics.io import write_json_atomic, write_text_atomic

        write_json_atomic(self.root / PLAN, plan_dict)
        if spec_text:
            write_text_atomic(self.root / SPEC_COPY, spec_text)

    def read_plan(self) -> dict:
        path = self.root / PLAN
        if not path.is_file():
            raise FileNotFoundError(f"{str(path)!r} does not exist: the folder holds no sweep plan")
        try:
            plan = json.loads(path.read_text())
        except ValueError as exc:
            raise FileFormatError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(plan, dict) or "cells" not in plan or "spec" not in plan:
            raise FileFormatError(f"{path}: not a dfa sweep plan")
        return plan

    def write_summary(self, summary: dict) -> None:
        from photonics.io import write_json_atomic

        write_json_atomic(self.root / SUMMARY, summary)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
