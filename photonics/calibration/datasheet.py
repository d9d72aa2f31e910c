"""The EMVA 1288 datasheet: one self-contained HTML page with every figure, its uncertainty and the
standard's plots (PNG, embedded as base64), for a simulated device or for recorded frames.

The page holds the operating point (image size, bit depth, wavelength, exposures, series
mode, frames), the table of results (value, standard uncertainty, unit, meaning, and, for a
simulated device, the ground truth and the relative error), and the plots of
:data:`photonics.plotting.emva1288_plots.DATASHEET_PLOTS`: photon transfer, sensitivity, SNR,
linearity, dark current, DSNU/PRNU spectrograms, defect-pixel histograms, dark and flat images.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import os
from pathlib import Path

from ..version import __version__
from .emva1288 import EMVA1288Result, emva_quantities
from .result import relative_error

log = logging.getLogger(__name__)

__all__ = ["write_datasheet", "datasheet_html"]

_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.92em; }
td.num { text-align: right; font-family: monospace; }
figure { display: inline-block; margin: 0.6em; vertical-align: top; }
figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; }
"""


def _fmt(v: float, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}g}"


def datasheet_html(result: EMVA1288Result, *, truth: dict | None = None, title: str | None = None, plots: bool = True,
                   pngs: dict | None = None) -> str:
    """The datasheet of ``result`` as an HTML string (see the module docstring).

    ``pngs``: plots already rendered (file name of :data:`DATASHEET_PLOTS` -> PNG bytes);
    the others are rendered here.
    """
    from ..plotting.emva1288_plots import DATASHEET_PLOTS

    truth = truth or {}
    p = result.photon_transfer
    e = html.escape
    title = title or f"EMVA 1288 datasheet: {result.source}"
    op = [
        ("source", result.source),
        ("standard", "EMVA 1288 Release 4.0, linear sensors"),
        ("image", f"{result.image_cols} x {result.image_rows} pixels (width x height)"),
        ("bit depth", str(result.bit_depth) if result.bit_depth > 0 else "unknown"),
        ("wavelength", f"{result.wavelength_m * 1e9:.4g} nm" if math.isfinite(result.wavelength_m) else "unknown"),
        ("pixel pitch", f"{result.pixel_pitch_m * 1e6:.4g} um" if math.isfinite(result.pixel_pitch_m) else "unknown"),
        ("series", f"{result.mode}: {p.illumination.size} levels, {p.frames_per_level} frames each"
                   + (f", exposure {p.exposure_s * 1e3:.4g} ms" if result.mode == "irradiance"
                      else f", exposures {p.level_exposure_s.min() * 1e3:.4g}-{p.level_exposure_s.max() * 1e3:.4g} ms")),
    ]
    if result.dark_current is not None:
        d = result.dark_current
        op.append(("dark series", f"{d.exposure_s.size} exposures, {d.exposure_s.min() * 1e3:.4g}-{d.exposure_s.max() * 1e3:.4g} ms"))
    if result.fixed_pattern is not None:
        m = result.fixed_pattern
        op.append(("spatial stacks", f"L = {m.n_frames} bright / {m.n_dark_frames} dark frames at {m.exposure_s * 1e3:.4g} ms, "
                                     f"flat signal {m.flat_signal_dn.value:.4g} DN"))
    if p.quantization_limited:
        op.append(("note", "the dark noise is below 0.49 DN: quantization-limited (0.24 DN^2 used)"))
    out = [f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{e(title)}</h1>", "<h2>Operating point</h2><table>"]
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in op]
    out.append("</table><h2>Results</h2><p>Uncertainties are standard (1 sigma) statistical errors from the frames used.</p><table>")
    has_truth = any(k in truth for k in emva_quantities(result))
    head = "<tr><th>quantity</th><th>value</th><th>uncertainty</th><th>unit</th><th>meaning</th>"
    head += "<th>truth</th><th>rel. error</th></tr>" if has_truth else "</tr>"
    out.append(head)
    for name, (m, desc) in emva_quantities(result).items():
        row = (f"<tr><td>{e(name)}</td><td class='num'>{_fmt(m.value)}</td><td class='num'>{_fmt(m.uncertainty, 2)}</td>"
               f"<td>{e(m.unit)}</td><td>{e(desc)}</td>")
        if has_truth:
            tv = truth.get(name)
            rel = relative_error(m.value, tv) if tv is not None else None
            row += f"<td class='num'>{_fmt(tv)}</td><td class='num'>{'-' if rel is None else f'{100 * rel:+.2f} %'}</td>"
        out.append(row + "</tr>")
    out.append("</table>")
    if plots:
        out.append("<h2>Plots</h2>")
        for fname, caption, fn in DATASHEET_PLOTS:
            png = (pngs or {}).get(fname) or fn(result)
            if png is None:
                continue
            b64 = base64.b64encode(png).decode("ascii")
            out.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{b64}'><figcaption>{e(caption)}</figcaption></figure>")
    out.append(f"<p><small>Written by photonics {e(__version__)}.</small></p></body></html>\n")
    return "\n".join(out)


def write_datasheet(result: EMVA1288Result, path: str | os.PathLike, *, truth: dict | None = None, title: str | None = None,
                    plots: bool = True, pngs: dict | None = None) -> Path:
    """Write the HTML datasheet of ``result`` (atomically) and return its path.

    ``truth``: ground-truth values by quantity name (simulated devices), shown next to the
    estimates; ``plots=False`` leaves the plots out (a quick table).
    """
    from ..io import write_text_atomic

    path = write_text_atomic(path, datasheet_html(result, truth=truth, title=title, plots=plots, pngs=pngs))
    log.info("wrote the EMVA 1288 datasheet %s", path)
    return path
