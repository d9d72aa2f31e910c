"""Aggregating a sweep's records: metric mean and spread over seeds per cell, privacy, table.

A *group* is a parameter combination x method; its values are the metric of the group's
cells (one per seed) whose point finished (``status == "ok"``). Spread = sample standard
deviation over seeds (ddof = 1; 0 for one seed). A method whose cells map to the same point
for every combination (BP and digital DFA in a device sweep) is flagged ``reference``.
Privacy: the largest epsilon over the seeds of a group (each seed is a different device).
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["summarize", "format_summary", "metric_value"]


def metric_value(record: dict | None, metric: str) -> float | None:
    """The record's final ``metric`` (None unless the point finished)."""
    if not record or record.get("status") != "ok":
        return None
    v = (record.get("metrics") or {}).get(metric)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _num(v):
    if v == "inf":
        return math.inf
    return None if v is None else float(v)


def summarize(plan: dict, records: dict) -> dict:
    """Aggregate ``records`` (id -> record) over the cells of ``plan`` (the sweep.json dict)."""
    metric = plan.get("metric") or plan.get("primary_metric") or "accuracy"
    groups: dict[tuple, dict] = {}
    per_method_points: dict[tuple, set] = {}
    for cell in plan["cells"]:
        key = (cell["method"], json.dumps(cell["assignment"], sort_keys=True))
        g = groups.setdefault(
            key,
            {"method": cell["method"], "assignment": cell["assignment"], "seeds": [], "values": [], "points": [], "missing": 0,
             "failed": 0, "errors": [], "epsilon_total": [], "epsilon_step": [], "privacy_reason": None, "photons": [],
             "device_time_s": [], "optical_frames": []},
        )
        per_method_points.setdefault((cell["method"], cell["seed"]), set()).add(cell["point"])
        rec = records.get(cell["point"])
        g["seeds"].append(cell["seed"])
        g["points"].append(cell["point"])
        if rec is None:
            g["missing"] += 1
            continue
        if rec.get("status") != "ok":
            g["failed"] += 1
            g["errors"].append(f"seed {cell['seed']}: {rec.get('status')}: {rec.get('error')}")
            continue
        v = metric_value(rec, metric)
        if v is not None:
            g["values"].append(v)
        g["device_time_s"].append(float(rec.get("device_time_s", 0.0)))
        g["optical_frames"].append(int(rec.get("optical_frames", 0)))
        if rec.get("budget"):
            g["photons"].append(float(rec["budget"]["photons"]))
        p = rec.get("privacy")
        if p:
            if p.get("applicable"):
                if p.get("epsilon_total") is not None:
                    g["epsilon_total"].append(_num(p["epsilon_total"]))
                g["epsilon_step"].append(_num(p["epsilon_step"]))
            else:
                g["privacy_reason"] = p.get("reason")
    methods = {}
    for (m, _seed), pts in per_method_points.items():
        info = methods.setdefault(m, {"reference": True})
        info["reference"] = info["reference"] and len(pts) == 1
    out_groups = []
    for g in groups.values():
        vals = np.asarray(g["values"], dtype=float)
        n = vals.size
        g["n"] = int(n)
        g["mean"] = float(vals.mean()) if n else None
        g["sd"] = float(vals.std(ddof=1)) if n > 1 else (0.0 if n == 1 else None)
        g["epsilon_total_max"] = max(g["epsilon_total"]) if g["epsilon_total"] else None
        g["epsilon_step_max"] = max(g["epsilon_step"]) if g["epsilon_step"] else None
        g["photons_mean"] = float(np.mean(g["photons"])) if g["photons"] else None
        g["reference"] = methods[g["method"]]["reference"] and len(plan.get("parameters", [])) > 0
        out_groups.append(g)
    n_points = len({c["point"] for c in plan["cells"]})
    done = {c["point"] for c in plan["cells"] if c["point"] in records}
    return {
        "metric": metric,
        "parameters": list(plan.get("parameters", [])),
        "methods": methods,
        "groups": out_groups,
        "n_points": n_points,
        "n_done": len(done),
        "privacy_delta": plan.get("spec", {}).get("privacy_delta"),
        "band": "mean +- 1 sample standard deviation over seeds",
    }


def _fmt_value(v, metric: str) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}" if metric in ("accuracy", "train_accuracy") else f"{v:.4f}"


def _fmt_eps(v) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v:.3g}"


def format_summary(summary: dict) -> str:
    """Plain-text table: one row per parameter combination, one column per method (+ epsilon)."""
    metric = summary["metric"]
    params = summary["parameters"]
    unit = " [%]" if metric in ("accuracy", "train_accuracy") else ""
    rows: dict[str, dict] = {}
    methods: list[str] = []
    optical: list[str] = []
    for g in summary["groups"]:
        key = json.dumps(g["assignment"], sort_keys=True)
        row = rows.setdefault(key, {"assignment": g["assignment"], "cells": {}})
        row["cells"][g["method"]] = g
        if g["method"] not in methods:
            methods.append(g["method"])
        if (g["epsilon_step"] or g["privacy_reason"]) and g["method"] not in optical:
            optical.append(g["method"])
    head = list(params) + [f"{m} {metric}{unit}" + (" (ref)" if summary["methods"].get(m, {}).get("reference") and params else "") for m in methods]
    head += [f"{m} eps_total" for m in optical]
    table = []
    for row in rows.values():
        line = [_fmt_param(row["assignment"].get(p)) for p in params]
        for m in methods:
            g = row["cells"].get(m)
            if g is None:
                line.append("")
                continue
            txt = _fmt_value(g["mean"], metric)
            if g["n"] > 1:
                txt += f" ± {_fmt_value(g['sd'], metric)}"
            txt += f" ({g['n']}"
            if g["failed"]:
                txt += f", {g['failed']} failed"
            if g["missing"]:
                txt += f", {g['missing']} to run"
            txt += ")"
            line.append(txt)
        for m in optical:
            g = row["cells"].get(m)
            line.append(_fmt_eps(g["epsilon_total_max"]) if g and g["epsilon_total_max"] is not None else ("n/a" if g and g["privacy_reason"] else "-"))
        table.append(line)
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in table]
    notes = [f"{summary['n_done']}/{summary['n_points']} runs done; {summary['band']}"]
    if optical and summary.get("privacy_delta"):
        notes.append(f"eps_total: (eps, delta={summary['privacy_delta']:g}) of the optical error projection over training, worst seed (see dfa.studies.privacy)")
    reasons = {g["privacy_reason"] for g in summary["groups"] if g["privacy_reason"]}
    for r in sorted(reasons):
        notes.append(f"privacy not applicable: {r}")
    return "\n".join(lines + notes)


def _fmt_param(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
