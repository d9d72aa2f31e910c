"""The sweep store: append-only JSON lines, torn lines after a crash, the folder lock."""

import json
import logging

import pytest

from dfa.studies.sweep import SweepStore
from dfa.studies.sweep.store import RECORD_VERSION
from photonics.errors import ConfigError, FileFormatError


def _rec(i, **kw):
    return {"record_version": RECORD_VERSION, "id": f"p{i}", "status": "ok", "metrics": {"accuracy": i / 10}, **kw}


def test_append_and_read_back(tmp_path):
    store = SweepStore(tmp_path / "s")
    assert store.records() == {}
    for i in range(3):
        store.append(_rec(i))
    recs = store.records()
    assert list(recs) == ["p0", "p1", "p2"] and recs["p2"]["metrics"]["accuracy"] == 0.2
    lines = store.results_path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4  # one complete line per record
    store.append(_rec(1, metrics={"accuracy": 0.9}))  # a rerun (retry) of a point: the last line wins
    assert store.records()["p1"]["metrics"]["accuracy"] == 0.9
    with pytest.raises(ValueError):  # NaN is not valid JSON: records are sanitised before
        store.append(_rec(5, metrics={"accuracy": float("nan")}))


def test_torn_last_line_is_skipped_and_terminated_by_the_next_append(tmp_path, caplog):
    store = SweepStore(tmp_path)
    store.append(_rec(0))
    store.append(_rec(1))
    full = store.results_path.read_bytes()
    store.results_path.write_bytes(full + json.dumps(_rec(2)).encode()[:25])  # crash in the middle of a write
    with caplog.at_level(logging.WARNING):
        recs = store.records()
    assert set(recs) == {"p0", "p1"} and any("torn record skipped" in r.getMessage() for r in caplog.records)
    store.append(_rec(3))
    assert set(store.records()) == {"p0", "p1", "p3"}
    text = store.results_path.read_text().split("\n")
    assert json.loads(text[-2])["id"] == "p3"  # on its own line, after the terminated torn one


def test_unreadable_and_foreign_lines_are_skipped(tmp_path, caplog):
    store = SweepStore(tmp_path)
    store.results_path.write_text('{"id": "x", "record_version": 99}\nnot json\n' + json.dumps(_rec(4)) + "\n")
    with caplog.at_level(logging.WARNING):
        assert set(store.records()) == {"p4"}
    assert sum("unreadable record skipped" in r.getMessage() for r in caplog.records) == 2


def test_lock_is_exclusive_and_released(tmp_path):
    a, b = SweepStore(tmp_path), SweepStore(tmp_path)
    with a.lock():
        with pytest.raises(ConfigError, match="another dfa sweep is writing"):
            with b.lock():
                pass
    with b.lock():  # released on exit
        pass


def test_plan_files(tmp_path):
    store = SweepStore(tmp_path / "s")
    with pytest.raises(FileNotFoundError):
        store.read_plan()
    store.write_plan({"spec": {}, "cells": []}, "[sweep]\n")
    assert store.read_plan() == {"spec": {}, "cells": []}
    assert (tmp_path / "s" / "spec.toml").read_text() == "[sweep]\n"
    (tmp_path / "s" / "sweep.json").write_text("{")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        store.read_plan()
    with pytest.raises(FileNotFoundError, match="holds no sweep"):
        SweepStore(tmp_path / "empty", create=False)
    assert not [p for p in (tmp_path / "s").iterdir() if ".tmp-" in p.name]  # no temporary file left behind
