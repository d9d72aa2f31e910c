"""The results of ``dfa reproduce``: console table, Markdown page, JSON and plot.

Every output of a scaled-down variant says so in its title (console, page, plot) and in
``results.json`` (``"scaled_down": true`` with the description of what was scaled down).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from photonics.io import atomic_path, write_json_atomic, write_text_atomic

__all__ = ["format_outcome", "write_page", "outcome_json", "SCALED_LABEL"]

#: the words every output of a scaled-down variant carries
SCALED_LABEL = "SCALED-DOWN VARIANT"


def _f(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _title(outcome) -> str:
    exp = outcome.experiment
    t = f"{exp.id}: {exp.title}"
    if outcome.scaled:
        t += f" [{SCALED_LABEL}: {exp.scaled['description']}]"
    if not outcome.complete:
        t += " [PARTIAL: interrupted]"
    return t


def _rows(outcome) -> list[list[str]]:
    unit = outcome.unit
    rows = []
    for m, sm in outcome.summaries.items():
        paper = "—" if outcome.comparable else "n/a (other task)"
        if sm.paper is not None:
            if sm.paper.value is None:
                paper = "n/a"
            else:
                paper = _f(sm.paper.value) + (f" ± {_f(sm.paper.spread)}" if sm.paper.spread is not None else "")
        ours = "—" if sm.n == 0 else (f"{_f(sm.mean)} ± {_f(sm.half_width)}" if sm.n > 1 else f"{_f(sm.mean)} (1 seed)")
        z = sm.z
        rows.append([m, paper, ours, "—" if z is None else f"{z:+.1f}", str(sm.n)])
    return rows, unit


def _metric_label(outcome) -> str:
    return outcome.metric_label()


def format_outcome(outcome) -> str:
    """Plain-text table: per method paper | ours (mean ± 95 % interval) | (ours - paper) / half-width | seeds."""
    exp = outcome.experiment
    rows, unit = _rows(outcome)
    head = ["method", f"paper [{unit}]" if unit else "paper", f"ours, mean ± 95% CI [{unit}]" if unit else "ours, mean ± 95% CI",
            "(ours-paper)/CI", "seeds"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)] if rows else [len(h) for h in head]
    lines = [_title(outcome), f"  paper: {exp.describe_paper()}"]
    if outcome.scaled:
        lines.append(f"  {SCALED_LABEL}: {exp.scaled['description']}; not comparable number for number with the paper")
    lines.append(f"  ours: {_metric_label(outcome)}; data: {outcome.data_description}")
    lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines.append("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for a, b, mu, hw, n in outcome.gaps:
        lines.append(f"  gap {a} - {b}: {_f(mu)} ± {_f(hw)} {unit} (paired over {n} seeds, 95 % CI)")
    ex = outcome.execution
    if ex:
        lines.append(f"  threads: torch {ex.get('torch_threads')}, numba/BLAS {ex.get('threads')}; {ex.get('machine', '')}")
    return "\n".join(lines)


def _markdown(outcome, command: str) -> str:
    exp = outcome.experiment
    rows, unit = _rows(outcome)
    u = f" [{unit}]" if unit else ""
    out = [f"# {_title(outcome)}", ""]
    if outcome.scaled:
        out += [f"**{SCALED_LABEL}**: {exp.scaled['description']}. The numbers below are not comparable number for number "
                "with the paper's.", ""]
    out += [
        f"* paper: {exp.citation}; {exp.table}",
        f"* paper's metric: {exp.metric_label()}; split: {exp.split}",
        f"* our metric: {_metric_label(outcome)}",
        f"* data: {outcome.data_description}",
        f"* seeds: {', '.join(str(s) for s in outcome.seeds if s in outcome.per_seed)} "
        "(each seed: initial weights, batch order, feedback matrices, optical device)",
        "* interval: mean ± t(0.975, n-1) s / sqrt(n) over the seeds (95 %); (ours - paper) / CI is the difference in "
        "units of that half-width (|.| <= 1: the paper's number lies inside our interval)",
    ]
    ex = outcome.execution
    if ex:
        out.append(f"* threads: torch {ex.get('torch_threads')}, numba/BLAS {ex.get('threads')}; machine: {ex.get('machine', '')}; "
                   f"torch {ex.get('torch')}, numpy {ex.get('numpy')}")
    if command:
        out.append(f"* command: `{command}`")
    if exp.notes:
        out += ["", exp.notes.strip()]
    out += ["", f"| method | paper{u} | ours, mean ± 95 % CI{u} | (ours − paper) / CI | seeds |", "|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    missing = [(m, sm.paper.note) for m, sm in outcome.summaries.items() if sm.paper is not None and sm.paper.note]
    if missing:
        out += [""] + [f"* {m}: {note}" for m, note in missing]
    if outcome.gaps:
        out += ["", f"Gaps between methods (paired over seeds, 95 % CI){u}:", ""]
        out += [f"* {a} − {b}: {_f(mu)} ± {_f(hw)} ({n} seeds)" for a, b, mu, hw, n in outcome.gaps]
    out += ["", "Per seed" + u + ":", "", "| seed | " + " | ".join(outcome.methods) + " |", "|---" * (len(outcome.methods) + 1) + "|"]
    for s in outcome.seeds:
        if s in outcome.per_seed:
            out.append(f"| {s} | " + " | ".join(_f(outcome.per_seed[s].get(m)) for m in outcome.methods) + " |")
    out += ["", f"Files: `results.json`, `results.png`, one run folder per seed (`seed-N/`, resumable). Metric: {outcome.metric_key}."]
    return "\n".join(out) + "\n"


def _plot(outcome, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = outcome.experiment
    ms = list(outcome.summaries)
    fig, ax = plt.subplots(figsize=(1.3 * len(ms) + 2.5, 3.6))
    for i, m in enumerate(ms):
        sm = outcome.summaries[m]
        if sm.n:
            ax.scatter([i] * sm.n, sm.values, s=10, color="0.6", zorder=2)
            ax.errorbar([i], [sm.mean], yerr=[[0 if not math.isfinite(sm.half_width) else sm.half_width]], fmt="o",
                        color="C0", capsize=4, zorder=3, label="ours: mean ± 95 % CI" if i == 0 else None)
        if sm.paper is not None and sm.paper.value is not None:
            ax.scatter([i], [sm.paper.value], marker="*", s=120, color="C3", zorder=4,
                       label="paper" if not any(outcome.summaries[k].paper and outcome.summaries[k].paper.value is not None
                                                 for k in ms[:i]) else None)
    ax.set_xticks(range(len(ms)), ms, rotation=20)
    ax.set_ylabel(_metric_label(outcome))
    title = exp.id + (f"\n{SCALED_LABEL}: {exp.scaled['description']}" if outcome.scaled else "")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def write_page(outcome, *, command: str = "", plots: bool = True) -> list[Path]:
    """Write ``results.md``, ``results.json`` and (with ``plots``) ``results.png`` into ``outcome.out``."""
    out = Path(outcome.out)
    files = [write_text_atomic(out / "results.md", _markdown(outcome, command)),
             write_json_atomic(out / "results.json", {**outcome_json(outcome), "command": command})]
    if plots and outcome.summaries:
        files.append(_plot(outcome, out / "results.png"))
    return files


def outcome_json(outcome) -> dict:
    """JSON-able summary of an outcome (``results.json``)."""
    exp = outcome.experiment

    def num(v):
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v

    return {
        "experiment": exp.id,
        "title": exp.title,
        "citation": exp.citation,
        "table": exp.table,
        "metric": outcome.metric,
        "unit": outcome.unit,
        "paper_comparable": outcome.comparable,
        "split": exp.split,
        "scaled_down": outcome.scaled,
        "scaled_description": exp.scaled.get("description") if (outcome.scaled and exp.scaled) else None,
        "complete": outcome.complete,
        "seeds": [s for s in outcome.seeds if s in outcome.per_seed],
        "per_seed": {str(s): v for s, v in outcome.per_seed.items()},
        "methods": {
            m: {"values": list(sm.values), "mean": num(sm.mean), "sd": num(sm.sd), "half_width_95": num(sm.half_width), "n": sm.n,
                "paper": None if sm.paper is None else dataclasses.asdict(sm.paper), "z": num(sm.z)}
            for m, sm in outcome.summaries.items()
        },
        "gaps": [{"a": a, "b": b, "mean": num(mu), "half_width_95": num(hw), "n": n} for a, b, mu, hw, n in outcome.gaps],
        "execution": outcome.execution,
        "data": outcome.data_description,
    }
