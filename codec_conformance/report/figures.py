"""The report's figures, drawn from results.json alone: Fig. 1 noise robustness (codec vs oracle,
one column per metric that declares ``in_figure``), linearity, frequency response, token
robustness.

Figures are inline SVG (``<img>`` data URIs, so nothing in them can run); each is also written as
SVG and PDF into ``RUN_DIR/figures/`` (``fig1-noise.pdf`` ...), sized for a paper column (3.5 in)
or page (7.1 in) with fonts of at least 7 pt at that size.
"""
from __future__ import annotations

import base64
import io
import re
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..results.contract import direction_of, is_number
from ..results.run_folder import atomic_write_text
from .declared import axis_label, declaration, figure_columns, plot_span, unit_of
from .html import CI_LABEL, CI_WHAT, E, display, g
from .html import ci_of as _ci
from .limits import limit_in_value

FIG1_ROWS = ("ambient", "white", "reverb")   # first, in this order; other degraded kinds follow
PAGE_IN, COLUMN_IN = 7.1, 3.5
RC = {"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
      "legend.fontsize": 7, "lines.linewidth": 1.0, "lines.markersize": 3.5, "svg.fonttype": "path",
      "pdf.fonttype": 42, "axes.linewidth": 0.6, "grid.linewidth": 0.4, "savefig.dpi": 300}
BAND_EDGES_HZ = ((100.0, "100 Hz"), (2000.0, "2 kHz"), (8000.0, "8 kHz"))


def _plt() -> Any:
    # matplotlib is imported when a figure is drawn, not with the package: it is slow to import
    # and only the report needs it
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


class Figures:
    """Draws the report's figures and writes each as SVG + PDF into ``out_dir`` (when given)."""

    def __init__(self, doc: dict, out_dir: Path | None):
        self.doc, self.out_dir, self.n = doc, out_dir, 0
        self.written: list[Path] = []

    def section(self, title: str, name: str, draw: Callable[[dict], Any], caption: str = "") -> str:
        """``caption``: HTML; ``{ci}`` in it is replaced by what the figure's whiskers are
        (``ci_caption``)."""
        try:
            fig = draw(self.doc)
        except Exception as exc:  # a figure must not cost the report
            return f"<h2>{E(title)}</h2><p>Figure not drawn: {E(type(exc).__name__)}: {E(exc)}</p>"
        if fig is None:
            return ""  # no data for it in this run (a -k selection): left out, not drawn empty
        self.n += 1
        plt = _plt()
        stem = f"fig{self.n}-{name}"
        buf = io.StringIO()
        with plt.rc_context(RC):  # the save reads the rc too: PDF fonts as TrueType (Type 42), not Type 3
            fig.savefig(buf, format="svg")
        svg = _class_ci(buf.getvalue())
        links = self._write(fig, stem, svg) if self.out_dir is not None else ""
        caption = caption.replace("{ci}", ci_caption(fig))
        w_px = int(round(fig.get_figwidth() * 140))
        plt.close(fig)
        b64 = base64.b64encode(svg.encode()).decode()
        return (f"<h2>Figure {self.n} — {E(title)}</h2><figure><img class='fig' style='width:{w_px}px' "
                f"alt='{E(title)}' src='data:image/svg+xml;base64,{b64}'><figcaption class='small'>{caption}{links}"
                f"</figcaption></figure>")

    def _write(self, fig: Any, stem: str, svg: str) -> str:
        """Writes the figure's SVG and PDF files; the caption's links to them (or why not)."""
        assert self.out_dir is not None
        plt = _plt()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            for ext in ("svg", "pdf"):
                p = self.out_dir / f"{stem}.{ext}"
                if ext == "svg":
                    atomic_write_text(p, svg)
                else:
                    with plt.rc_context(RC):
                        fig.savefig(p, format="pdf")
                self.written.append(p)
            rel = E(self.out_dir.name)
            return (f" <span class='small'>Files: <a href='{rel}/{stem}.svg'>{stem}.svg</a> · "
                    f"<a href='{rel}/{stem}.pdf'>{stem}.pdf</a> "
                    f"({fig.get_figwidth():.1f} × {fig.get_figheight():.1f} in)</span>")
        except OSError as exc:
            return f" <span class='small'>(figure files not written: {E(exc)})</span>"


def ci_caption(fig: Any) -> str:
    """What the whiskers of a figure are, and which points have none (counted while drawing)."""
    with_ci, without = getattr(fig, "_ci_points", (0, 0))
    if with_ci and not without:
        return f"Whiskers: the {CI_WHAT}."
    if with_ci:
        return (f"Whiskers: the {CI_WHAT}; {without} of {with_ci + without} points have no interval (fewer than "
                "two items or speakers) and are drawn without.")
    return ("No interval: the records carry none (fewer than two items or speakers, or a file written before "
            "intervals); points drawn without whiskers.")


def _class_ci(svg: str) -> str:
    """Marks the SVG groups of the interval whiskers (gid ``ci-...``) with ``class="ci"``."""
    return re.sub(r'<g id="(ci-[A-Za-z0-9_-]+)">', r'<g id="\1" class="ci">', svg)


def _whiskers(ax: Any, X: list, cis: list, f: float, color: str, label: str | None = None) -> int:
    """95 % interval whiskers at the x positions that have one (``cis[i]`` ``(lo, hi)`` in the
    record's unit, shown times ``f``; None: no whisker there, not a zero-length one); gids
    ``ci-bars-N-k`` / ``ci-caps-N-k`` in the SVG. Counts the points with and without an interval
    on the figure (``ci_caption``). Returns how many were drawn."""
    pts = [(x, c[0] * f, c[1] * f) for x, c in zip(X, cis) if c is not None]
    fig = ax.figure
    with_ci, without = getattr(fig, "_ci_points", (0, 0))
    fig._ci_points = (with_ci + len(pts), without + len(cis) - len(pts))
    if not pts:
        return 0
    n = getattr(fig, "_ci_count", 0)
    # drawn from lo to hi about the interval's middle: right even where a value lies outside it
    cont = ax.errorbar([x for x, _, _ in pts], [(lo + hi) / 2 for _, lo, hi in pts],
                       yerr=[(hi - lo) / 2 for _, lo, hi in pts], fmt="none", ecolor=color, capsize=2, lw=0.7,
                       label=label)
    for k, a in enumerate(cont.lines[2]):
        a.set_gid(f"ci-bars-{n}-{k}")
    for k, a in enumerate(cont.lines[1]):
        a.set_gid(f"ci-caps-{n}-{k}")
    fig._ci_count = n + 1
    return len(pts)


def _series_label(r: dict) -> str:
    return f"{r['codec']} {g(r['bitrate_kbps'])} kbps"


# ------------------------------------------------------------------ Fig. 1: noise robustness
def fig1_rows(doc: dict, recs: list[dict]) -> list[str]:
    kinds = {r["condition"]["kind"] for r in recs} - {"clean"}
    return [k for k in FIG1_ROWS if k in kinds] + sorted(k for k in kinds if k not in FIG1_ROWS and isinstance(k, str))


def _xkey(row: str, doc: dict | None = None) -> tuple[str, str]:
    """(condition field, axis label) of a condition kind, from the file's ``conditions`` block."""
    c = ((doc or {}).get("conditions") or {}).get(row) if isinstance(doc, dict) else None
    if isinstance(c, dict) and c.get("axis"):
        return str(c["axis"]), str(c.get("axis_label") or c["axis"])
    return ("rt60_s", "RT60 (s)") if row == "reverb" else ("snr_db", "SNR (dB)")


def _x_of(r: dict, row: str, doc: dict | None = None) -> float | str:
    c = r.get("condition") or {}
    key, _ = _xkey(row, doc)
    x: Any = c.get(key)
    if is_number(x):
        return float(x)
    return str(c.get("source") or c.get("kind"))


def _y_range(vals: list[float], min_span: float | None,
             bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float, float]:
    """The axis' range: the values', at least ``min_span`` wide (display units; None: 5 % of the
    largest magnitude), kept within the quantity's declared ``bounds`` where the data allow
    (widened to ``min_span``, a PESQ near its floor is not shown below 1.04), padded."""
    lo, hi = min(vals), max(vals)
    span = max(hi - lo, min_span if min_span is not None else 0.05 * max(abs(hi), abs(lo), 1e-9))
    mid = (lo + hi) / 2
    lo, hi = mid - span / 2, mid + span / 2
    if lo < bounds[0] <= min(vals):
        lo, hi = bounds[0], bounds[0] + span
    elif hi > bounds[1] >= max(vals):
        lo, hi = bounds[1] - span, bounds[1]
    pad = 0.08 * span
    return lo - pad, hi + pad


def _bounds(met: str, doc: dict, f: float) -> tuple[float, float]:
    """The quantity's declared bounds in display units ((-inf, inf) where not declared)."""
    b = declaration(doc, met, "bounds")
    if isinstance(b, (list, tuple)) and len(b) == 2:
        lo = float(b[0]) * f if is_number(b[0]) else -np.inf
        hi = float(b[1]) * f if is_number(b[1]) else np.inf
        if lo < hi:
            return lo, hi
    return -np.inf, np.inf


def _limits_in_range(mrecs: list[dict], rows: list[str], f: float, data: list[float],
                     min_span: float | None, bounds: tuple[float, float]) -> list[float]:
    """The limits (display units) that may widen a metric's axis: within the quantity's bounds and
    within one data span (at least ``min_span``) of the data. A limit further off (a delta limit
    judged at an oracle near the floor: PESQ 1.05 - 1.55 = -0.5) does not stretch the axis; it is
    drawn at the axis' edge (``_fig1_series``)."""
    if not data:
        return []
    lo, hi = min(data), max(data)
    margin = max(hi - lo, min_span or 0.0)
    out = []
    for r in mrecs:
        v = limit_in_value(r) if r["condition"].get("kind") in rows else None
        if v is not None and bounds[0] <= v * f <= bounds[1] and lo - margin <= v * f <= hi + margin:
            out.append(v * f)
    return out


def fig1(doc: dict) -> Any:
    """Noise robustness: rows = condition kinds present, columns = the metrics present that declare
    ``in_figure`` (in their ``figure_order``); one y-range per metric across rows; categorical x
    when a row has a single SNR / RT60; oracle dashed; the threshold (as a bound on the value) and
    the baseline where the records carry them; 95 % intervals as whiskers when the records carry
    ``value_ci95`` / ``oracle_ci95``."""
    recs = [r for r in doc["records"] if r.get("suite") == "noise" and isinstance(r.get("condition"), dict)]
    cols = figure_columns({r["metric"] for r in recs}, doc)
    rows = [k for k in fig1_rows(doc, recs) if any(r["condition"].get("kind") == k and r["metric"] in cols for r in recs)]
    if not rows or not cols:
        return None
    plt = _plt()
    series_names = sorted({_series_label(r) for r in recs}, key=str)
    colors = {s: f"C{i % 10}" for i, s in enumerate(series_names)}
    with plt.rc_context(RC):
        w = PAGE_IN if len(cols) > 2 else COLUMN_IN
        fig, axes = plt.subplots(len(rows), len(cols), figsize=(w, 1.45 * len(rows) + 0.55), squeeze=False)
        for j, met in enumerate(cols):
            _fig1_column(axes, j, met, [r for r in recs if r["metric"] == met], rows, colors, doc)
        _fig1_legend(fig, axes, w)
    return fig


def _column_ys(mrecs: list[dict], rows: list[str], f: float) -> list[float]:
    """The data a metric's panels draw (not the clean reference, which has none; not the limits:
    ``_limits_in_range``), in display units."""
    ys = []
    for r in mrecs:
        if r["condition"].get("kind") not in rows:
            continue
        v: Any
        for v in (r.get("value"), r.get("oracle"),
                  (r.get("baseline") or {}).get("value") if isinstance(r.get("baseline"), dict) else None):
            if is_number(v):
                ys.append(float(v) * f)
        for k in ("value_ci95", "oracle_ci95"):
            ci = _ci(r, k)
            if ci:
                ys += [ci[0] * f, ci[1] * f]
    return ys


def _fig1_column(axes: Any, j: int, met: str, mrecs: list[dict], rows: list[str], colors: dict, doc: dict) -> None:
    """Column ``j`` of Fig. 1: metric ``met`` in every row (condition kind), one y-range."""
    unit = unit_of(mrecs[0], doc) if mrecs else ""
    f, _ = display(unit)
    ys = _column_ys(mrecs, rows, f)
    span = plot_span(met, doc)
    min_span = span * f if span is not None else None
    bounds = _bounds(met, doc, f)
    ylim = _y_range(ys + _limits_in_range(mrecs, rows, f, ys, min_span, bounds), min_span, bounds) if ys else None
    for i, row in enumerate(rows):
        ax = axes[i][j]
        sel = [r for r in mrecs if r["condition"].get("kind") == row]
        if not sel:
            ax.axis("off")
            continue
        _fig1_panel(ax, sel, row, colors, f, doc, ylim)
        if ylim:
            ax.set_ylim(*ylim)
        if i == 0:
            title = axis_label(met, unit, direction_of(mrecs[0]), doc, sep="\n")  # a long label wraps
            ax.set_title("\n".join(textwrap.fill(t, 22) for t in title.split("\n")), fontsize=7)
        if j == 0:
            ax.set_ylabel(row)
        below = rows[i + 1] if i + 1 < len(rows) else None
        # every x axis named: a panel whose lower neighbour plots another quantity (SNR above
        # RT60) or nothing carries its own label
        if below is None or not any(r["condition"].get("kind") == below for r in mrecs) \
                or _xkey(below, doc)[1] != _xkey(row, doc)[1]:
            ax.set_xlabel(_xkey(row, doc)[1])
        ax.grid(alpha=0.3)


def _fig1_panel(ax: Any, sel: list[dict], row: str, colors: dict, f: float, doc: dict,
                ylim: tuple[float, float] | None = None) -> None:
    """One panel: each series (codec x bitrate), the oracle, limits, baselines, whiskers."""
    xs = sorted({_x_of(r, row, doc) for r in sel},
                key=lambda x: (isinstance(x, str), x if not isinstance(x, str) else 0, str(x)))
    numeric = len(xs) > 1 and all(isinstance(x, float) for x in xs)

    def pos(x: Any) -> float:
        return float(x) if numeric else float(xs.index(x))

    series = defaultdict(list)
    oracle: dict = {}
    for r in sel:
        series[_series_label(r)].append(r)
        oracle.setdefault(_x_of(r, row, doc), r)
    # with intervals, each series (and the oracle) is dodged sideways a little so that
    # whiskers at the same x do not hide each other; without, points sit on their x
    drawn = [lab for lab in colors if any(is_number(r.get("value")) for r in series.get(lab, []))]
    has_ci = any(_ci(r, k) for r in sel for k in ("value_ci95", "oracle_ci95"))
    slots = len(drawn) + 1
    nums = [x for x in xs if isinstance(x, float)]  # all of xs when numeric
    step = (0.05 * (max(nums) - min(nums)) if numeric else 0.1) if has_ci and slots > 1 else 0.0
    dodge = {lab: (k - (slots - 1) / 2) * step for k, lab in enumerate([*drawn, "oracle"])}
    for lab in drawn:
        pts = sorted(((pos(_x_of(r, row, doc)) + dodge[lab], r) for r in series.get(lab, [])
                      if is_number(r.get("value"))), key=lambda t: t[0])
        _fig1_series(ax, pts, lab, colors[lab], f, ylim)
    op = sorted(((pos(x) + dodge["oracle"], r) for x, r in oracle.items() if is_number(r.get("oracle"))),
                key=lambda t: t[0])
    if op:
        OX, OY = [p for p, _ in op], [float(r["oracle"]) * f for _, r in op]
        ax.plot(OX, OY, "k--", marker="x", label="oracle (uncoded)")
        _whiskers(ax, OX, [_ci(r, "oracle_ci95") for _, r in op], f, "k", label=CI_LABEL)
    if not numeric:
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([f"{x:g}" if isinstance(x, float) else str(x)[:12] for x in xs])
        ax.set_xlim(-0.6, len(xs) - 0.4)


def _fig1_series(ax: Any, pts: list[tuple[float, dict]], lab: str, color: str, f: float,
                 ylim: tuple[float, float] | None = None) -> None:
    """One series' values (with whiskers), its limits (red ticks; a limit beyond the axis ``ylim``
    as a red triangle on its edge, pointing out) and baselines (open diamonds)."""
    X = [p for p, _ in pts]
    Y = [float(r["value"]) * f for _, r in pts]
    ax.plot(X, Y, marker="o", color=color, label=lab)
    _whiskers(ax, X, [_ci(r, "value_ci95") for _, r in pts], f, color, label=CI_LABEL)
    lim = [(x, v * f) for x, r in pts if (v := limit_in_value(r)) is not None]
    lo, hi = ylim if ylim else (-np.inf, np.inf)
    inside = [(x, v) for x, v in lim if lo <= v <= hi]
    if inside:
        ax.plot([x for x, _ in inside], [v for _, v in inside], ls="none", marker="_", ms=9, mew=1.4,
                color="#c0392b", label="limit (threshold)")
    for edge, marker, off in ((lo, "v", [x for x, v in lim if v < lo]), (hi, "^", [x for x, v in lim if v > hi])):
        if off:
            ax.plot(off, [edge] * len(off), ls="none", marker=marker, ms=4, color="#c0392b", clip_on=False,
                    label="limit beyond the axis (▲/▼ at its edge)")
    base = [(x, r["baseline"]["value"]) for x, r in pts
            if isinstance(r.get("baseline"), dict) and is_number(r["baseline"].get("value"))]
    if base:
        ax.plot([x for x, _ in base], [v * f for _, v in base], ls="none", marker="D", ms=3,
                mfc="none", color="grey", label="baseline")


def _fig1_legend(fig: Any, axes: Any, w: float) -> None:
    """One legend under the figure: every label once, the whiskers' entry neutral and last."""
    handles: dict = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if CI_LABEL in handles:  # one neutral entry for every series' whiskers, last
        from matplotlib.lines import Line2D  # matplotlib: imported when drawing (see _plt)
        del handles[CI_LABEL]
        handles[CI_LABEL] = Line2D([], [], color="#555", marker="|", ls="none", ms=7, mew=0.8)
    ncol = max(1, min(len(handles), 4 if w == PAGE_IN else 2))
    legend_rows = -(-len(handles) // ncol)
    fig.tight_layout(rect=(0, min(0.4, (0.17 * legend_rows + 0.08) / fig.get_figheight()), 1, 1))
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=ncol, frameon=False)


# ------------------------------------------------------------------ Fig. 2: linearity
def fig2(doc: dict) -> Any:
    """Linearity: additivity SER (median) vs bitrate, and output vs input gain; a panel without
    data is left out."""
    by = defaultdict(list)
    for r in doc["records"]:
        if r.get("suite") == "additivity" and r.get("metric") == "ser_db" and is_number(r.get("median")):
            by[(r["codec"], (r.get("condition") or {}).get("mixture"))].append((float(r["bitrate_kbps"]), r))
    gains = [c for c in doc["curves"] if c.get("kind") == "homogeneity_gain"]
    panels = (["add"] if by else []) + (["gain"] if gains else [])
    if not panels:
        return None
    plt = _plt()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(panels), figsize=(PAGE_IN if len(panels) == 2 else COLUMN_IN, 2.3),
                                 squeeze=False)
        for ax, p in zip(axes[0], panels):
            if p == "add":
                _additivity_panel(ax, by)
            else:
                _gain_panel(ax, gains)
            ax.grid(alpha=0.3)
            hl = dict(zip(*reversed(ax.get_legend_handles_labels())))  # one entry per label
            # under the axes, not over the points (issue 26: the legend covered a point)
            ax.legend(list(hl.values()), list(hl.keys()), frameon=False, loc="upper center",
                      bbox_to_anchor=(0.5, -0.3), ncol=min(2, len(hl)), borderaxespad=0.0)
        fig.tight_layout()
    return fig


def _additivity_panel(ax: Any, by: dict) -> None:
    rates = sorted({b for pts in by.values() for b, _ in pts})
    numeric = len(rates) > 1
    for (codec, kind), pts in sorted(by.items(), key=lambda kv: str(kv[0])):
        pts = sorted(pts, key=lambda t: t[0])
        X = [b if numeric else rates.index(b) for b, _ in pts]
        Y = [float(r["median"]) for _, r in pts]
        ax.plot(X, Y, marker="o", label=f"{codec} ({kind})")
        lim = [(x, v) for x, (_, r) in zip(X, pts) if (v := limit_in_value(r)) is not None]
        if lim:
            ax.plot([x for x, _ in lim], [v for _, v in lim], ls="none", marker="_", ms=9, mew=1.4,
                    color="#c0392b", label="limit on the minimum SER")
    if numeric:
        ax.set_xscale("log")
        ax.set_xticks(rates)
        ax.set_xticklabels([f"{b:g}" for b in rates])
        ax.minorticks_off()
    else:
        ax.set_xticks(range(len(rates)))
        ax.set_xticklabels([f"{b:g}" for b in rates])
        ax.set_xlim(-0.6, len(rates) - 0.4)
    ax.set_xlabel("bitrate (kbps)")
    ax.set_ylabel("additivity SER, median (dB) ↑")
    ax.set_title("Additivity vs bitrate")


def _gain_panel(ax: Any, gains: list[dict]) -> None:
    for c in gains:
        pts = [(x, y) for x, y in zip(c["x"], c["y"]) if is_number(x) and is_number(y)]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=f"{c['codec']} {g(c['bitrate_kbps'])} kbps")
    lo, hi = -42, 14
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="ideal (linear)")
    ax.set_xlabel("input gain (dB)")
    ax.set_ylabel("output gain (dB)")
    ax.set_title("Homogeneity: output vs input gain")


# ------------------------------------------------------------------ Fig. 3: frequency response
def fig3(doc: dict) -> Any:
    """Frequency response with the band edges of the checks (100 Hz, 2 kHz, 8 kHz) drawn and
    labelled; one y-range from the data (at least 20 dB)."""
    curves = [c for c in doc["curves"] if c.get("kind") == "frequency_response"]
    if not curves:
        return None
    plt = _plt()
    styles = {0.0: "-", -6.0: "--", -20.0: ":"}
    ys: list[float] = []
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(PAGE_IN, 2.6))
        codecs = sorted({(str(c["codec"]), g(c["bitrate_kbps"])) for c in curves})
        colors = {k: f"C{i % 10}" for i, k in enumerate(codecs)}
        for c in sorted(curves, key=_curve_order):
            pts = [(x, y) for x, y in zip(c["x"], c["y"]) if is_number(x) and is_number(y) and x > 0]
            if not pts:
                continue
            lvl = c.get("level_dbfs")
            ax.semilogx(*zip(*pts), styles.get(lvl, "-."), color=colors[(str(c["codec"]), g(c["bitrate_kbps"]))],
                        label=f"{c['codec']} {g(c['bitrate_kbps'])} kbps @ {g(lvl)} dBFS")
            ys += [y for _, y in pts]
        lo, hi = (min(ys), max(ys)) if ys else (-40.0, 15.0)
        if hi - lo < 20:
            mid = (hi + lo) / 2
            lo, hi = mid - 10, mid + 10
        ax.set_ylim(lo - 3, hi + 5)
        for f_hz, lab in BAND_EDGES_HZ:
            ax.axvline(f_hz, color="grey", lw=0.7, ls="-")
            ax.text(f_hz, hi + 4.5, lab, rotation=0, ha="center", va="top", fontsize=7, color="#444",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        _frequency_axis(ax, curves)
        ax.set_ylabel("magnitude (dB re input)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(ncol=2, frameon=False, loc="lower left")
        fig.tight_layout()
    return fig


def _curve_order(c: dict) -> tuple:
    return (str(c["codec"]), float(c["bitrate_kbps"]) if is_number(c["bitrate_kbps"]) else 0.0,
            -(float(c["level_dbfs"]) if is_number(c.get("level_dbfs")) else 0.0))


def _frequency_axis(ax: Any, curves: list[dict]) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # matplotlib: see _plt
    ax.set_xlim(20, max(8000.0 * 1.25, max((x for c in curves for x in c["x"] if is_number(x)), default=8000)))
    ax.xaxis.set_major_locator(FixedLocator([20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
    ax.set_xlabel("frequency (Hz)")


# ------------------------------------------------------------------ token robustness
def fig_tokens(doc: dict) -> Any:
    """Token agreement per RVQ level vs SNR (level 1 bold), one row per codec x bitrate, one
    column per noise kind present; the agreement-vs-gain curves beside them."""
    recs = [r for r in doc["records"] if r.get("suite") == "tokens" and r.get("metric") == "token_agreement"
            and isinstance(r.get("agreement_per_level"), list) and is_number((r.get("condition") or {}).get("snr_db"))]
    gains = [c for c in doc["curves"] if c.get("kind") == "token_gain"]
    points = sorted({(str(r["codec"]), float(r["bitrate_kbps"])) for r in recs}
                    | {(str(c["codec"]), float(c["bitrate_kbps"])) for c in gains})
    if not points:
        return None
    kinds = [k for k in ("white", "ambient") if any(r["condition"].get("kind") == k for r in recs)]
    kinds += ["gain"] if gains else []
    plt = _plt()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(points), len(kinds), figsize=(PAGE_IN if len(kinds) > 1 else COLUMN_IN,
                                                                   1.7 * len(points) + 0.2), squeeze=False)
        for row, (codec, br) in enumerate(points):
            for col, kind in enumerate(kinds):
                ax = axes[row][col]
                mine = [x for x in (gains if kind == "gain" else recs)
                        if (str(x["codec"]), float(x["bitrate_kbps"])) == (codec, br)]
                drew = _token_gain_panel(ax, mine) if kind == "gain" else _token_noise_panel(ax, mine, kind)
                if not drew:
                    ax.axis("off")
                    continue
                ax.legend(frameon=False)
                ax.set_ylim(0, 1.02)
                ax.set_title(f"{codec} {br:g} kbps — {kind}")
                ax.set_ylabel("token agreement (0-1)")
                ax.grid(alpha=0.3)
        fig.tight_layout()
    return fig


def _token_gain_panel(ax: Any, sel: list[dict]) -> bool:
    for c in sel:
        ax.plot(c["x"], c["y"], marker=".", label=str(c.get("label", "")))
    ax.set_xlabel("input gain (dB)")
    return bool(sel)


def _token_noise_panel(ax: Any, recs: list[dict], kind: str) -> bool:
    sel = sorted((r for r in recs if r["condition"].get("kind") == kind), key=lambda r: r["condition"]["snr_db"])
    if sel:
        snrs = [r["condition"]["snr_db"] for r in sel]
        numeric = len(snrs) > 1
        X = snrs if numeric else list(range(len(snrs)))
        levels = np.array([r["agreement_per_level"] for r in sel], dtype=float)
        for lv in range(levels.shape[1]):
            ax.plot(X, levels[:, lv], lw=1.8 if lv == 0 else 0.6, color="C0" if lv == 0 else "grey",
                    alpha=1.0 if lv == 0 else 0.5, marker="o" if not numeric else None,
                    label="level 1" if lv == 0 else ("other levels" if lv == 1 else None))
        if not numeric:
            ax.set_xticks(X)
            ax.set_xticklabels([f"{s:g}" for s in snrs])
    ax.set_xlabel("SNR (dB)")
    return bool(sel)


# ------------------------------------------------------------------ implementation
def _impl_x(r: dict) -> str:
    """A condition of the implementation suite as an x tick: its kind and its parameters."""
    c = r.get("condition") or {}
    params = [f"{v:g}" if is_number(v) else str(v) for k, v in c.items() if k not in ("kind", "input_samples")
              and v is not None]
    return " ".join([str(c.get("kind")), *params])


def fig_implementation(doc: dict) -> Any:
    """The implementation suite: one panel per quantity it recorded (label and unit declared in
    the file's ``metrics`` block; fractions in %), its conditions on a categorical x axis, one
    marker series per codec x bitrate, the limit of each record as a red tick beside its marker
    (both ends of a range)."""
    from matplotlib.lines import Line2D  # matplotlib: see _plt
    recs = [r for r in doc["records"] if r.get("suite") == "implementation" and isinstance(r.get("condition"), dict)
            and is_number(r.get("value"))]
    mets = sorted({str(r["metric"]) for r in recs})
    if not mets:
        return None
    plt = _plt()
    series = sorted({_series_label(r) for r in recs}, key=str)
    colors = {s: f"C{i % 10}" for i, s in enumerate(series)}
    ncols = min(3, len(mets))
    nrows = -(-len(mets) // ncols)
    height = 2.0 * nrows + 0.5
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(PAGE_IN if ncols > 1 else COLUMN_IN, height), squeeze=False)
        for k, met in enumerate(mets):
            ax = axes[k // ncols][k % ncols]
            mine = [r for r in recs if r["metric"] == met]
            unit = unit_of({"metric": met}, doc)
            f, _ = display(unit)
            ticks = sorted({_impl_x(r) for r in mine})
            ys: list[float] = []
            offset = {s: (i - (len(series) - 1) / 2) * min(0.08, 0.6 / max(1, len(series)))
                      for i, s in enumerate(series)}
            for s in series:
                pts = [(ticks.index(_impl_x(r)), float(r["value"]) * f) for r in mine if _series_label(r) == s]
                if pts:
                    off = offset[s]
                    ax.plot([x + off for x, _ in pts], [y for _, y in pts], "o", color=colors[s], ms=3.5)
                    ys += [y for _, y in pts]
            for r in mine:
                th = r.get("threshold") if isinstance(r.get("threshold"), dict) else {}
                ends: list[Any] = [limit_in_value(r)] if th.get("kind") != "range" else [th.get("limit"), th.get("upper")]
                for v in ends:
                    if is_number(v):
                        ax.plot([ticks.index(_impl_x(r)) + offset[_series_label(r)]], [float(v) * f], "_", color="red",
                                ms=6, mew=1.2)
                        ys.append(float(v) * f)
            span = plot_span(met, doc)
            lo, hi = _y_range(ys, None if span is None else span * f, _bounds(met, doc, f))
            ax.set_ylim(lo, hi)
            ax.set_xticks(range(len(ticks)))
            ax.set_xticklabels(ticks, rotation=25, ha="right")
            ax.set_title(textwrap.fill(axis_label(met, unit, declaration(doc, met, "direction"), doc), 34))
            ax.grid(alpha=0.3)
        for k in range(len(mets), nrows * ncols):
            axes[k // ncols][k % ncols].axis("off")
        handles = [Line2D([], [], marker="o", ls="", color=colors[s], label=s) for s in series]
        handles.append(Line2D([], [], marker="_", ls="", color="red", ms=9, mew=1.2, label="limit"))
        fig.legend(handles=handles, loc="upper center", ncol=min(5, len(handles)), frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / height))
    return fig
