"""Self-contained HTML report drawn from ``results.json`` alone (plus the run's audio clips).

No network: figures are inline SVG (``<img>`` data URIs, so nothing in them can run), audio
inline FLAC data URIs; each figure is also written as SVG and PDF into ``RUN_DIR/figures/``
(``fig1-noise.pdf`` ...), sized for a paper column (3.5 in) or page (7.1 in) with fonts of at
least 7 pt at that size. Tables sort (click a header) and filter with a few lines of inline
script. Every value that reaches the HTML is escaped (``E`` takes anything) or formatted from a
checked number (``_fmt``, ``_g``, ``_int``), whatever type the file declares: a crafted
results.json cannot inject markup.
"""
from __future__ import annotations

import base64
import html
import json
import re
import shlex
import textwrap
from collections import defaultdict
from pathlib import Path

from .contract import could_not_fail, direction_of, is_number, load_results, worsening
from .run_folder import atomic_write_text
from .contract import verdict as run_verdict
from ..gate.thresholds import limit_text


def E(v) -> str:
    """Any value as HTML-escaped text (quotes too: safe in attributes)."""
    return html.escape(str(v), quote=True)


FIG1_ROWS = ("ambient", "white", "reverb")   # first, in this order; other degraded kinds follow
FIG1_COLS = ("mel_distance", "pesq", "wer", "eer", "emotion")
NAMES = {"mel_distance": "Mel distance", "pesq": "PESQ", "pesq_nb": "PESQ-NB", "wer": "WER", "eer": "EER",
         "prosody_corr": "Prosody corr.\n(emotion PROXY)", "emotion_acc": "Emotion acc.", "stoi": "STOI",
         "estoi": "ESTOI", "si_sdr": "SI-SDR", "dnsmos": "DNSMOS", "ser_db": "SER",
         "token_agreement": "token agreement", "unit_edit_rate": "unit edit rate",
         "low_band_boost_db": "low-band boost", "mid_band_ripple_db": "mid-band ripple",
         "high_band_rolloff_db": "high-band roll-off", "passband_gain_db": "passband gain"}
# the unit a metric is reported in when its record does not say (older files)
DEFAULT_UNITS = {"mel_distance": "log10-mel L1", "pesq": "MOS-LQO", "pesq_nb": "MOS-LQO", "stoi": "0-1",
                 "estoi": "0-1", "si_sdr": "dB", "wer": "fraction", "eer": "fraction", "prosody_corr": "correlation",
                 "emotion_acc": "fraction", "dnsmos": "MOS", "ser_db": "dB"}
# smallest y-span of a metric's axis (in display units): a tiny difference does not fill an axis
MIN_SPAN = {"mel_distance": 0.2, "pesq": 0.5, "pesq_nb": 0.5, "stoi": 0.1, "estoi": 0.1, "si_sdr": 5.0,
            "wer": 10.0, "eer": 10.0, "prosody_corr": 0.1, "emotion_acc": 10.0, "dnsmos": 0.5}
WER_NOTE = ("WER is in % of the reference words; it can exceed 100 % because inserted words count as "
            "errors too.")
# what a whisker / a bracketed interval is (records' ``*_ci95`` fields, docs/statistics.md)
CI_WHAT = "95 % bootstrap interval over utterances (speakers for EER)"
CI_LABEL = "95 % bootstrap interval"
# the figures whose records carry no interval say so in their caption (not silently)
NO_CI = {"linearity": "No interval: the SER is a median over generated examples (the gated value their worst "
                      "case), each gain a single measurement.",
         "frequency_response": "No interval: a single sweep measurement.",
         "tokens": "No interval: one measurement per condition (not bootstrapped)."}
CI_NOTE = (f"[lo, hi]: the {CI_WHAT}; a value without brackets has no interval (a worst case, a single "
           "measurement, fewer than two items or speakers, or a file written before intervals).")


def fig1_rows(doc, recs) -> list[str]:
    kinds = {r["condition"]["kind"] for r in recs} - {"clean"}
    return [k for k in FIG1_ROWS if k in kinds] + sorted(k for k in kinds if k not in FIG1_ROWS and isinstance(k, str))


def _meta(doc: dict | None, metric: str) -> dict:
    """Metric metadata of the results file (a top-level ``metrics`` block, when the file has one)."""
    block = (doc or {}).get("metrics") if isinstance(doc, dict) else None
    m = block.get(metric) if isinstance(block, dict) else None
    return m if isinstance(m, dict) else {}


def unit_of(r: dict, doc: dict | None = None) -> str:
    u = r.get("unit") or _meta(doc, r.get("metric")).get("unit") or DEFAULT_UNITS.get(r.get("metric"), "")
    return u if isinstance(u, str) else ""


def display(unit: str) -> tuple[float, str]:
    """(factor, unit shown): fractions are shown in % (WER 0.12 -> 12 %)."""
    if unit == "fraction":
        return 100.0, "%"
    return 1.0, unit


def label_of(metric: str, doc: dict | None = None) -> str:
    lab = _meta(doc, metric).get("label")
    return lab if isinstance(lab, str) and lab else NAMES.get(metric, metric)


def axis_label(metric: str, unit: str, direction: str | None, doc=None, sep: str = " ") -> str:
    _, shown = display(unit)
    arrow = {"higher": " ↑", "lower": " ↓", "two-sided": " (ideal 0)"}.get(direction or "", "")
    return f"{label_of(metric, doc)}{f'{sep}({shown})' if shown else ''}{arrow}"


# ------------------------------------------------------------------ formatting
def _fmt(v, nd=3):
    if v is None:
        return "—"
    if is_number(v):
        v = float(v)
        return f"{v:.{nd}g}" if abs(v) < 1e4 else f"{v:.3e}"
    return E(v)


def _g(v) -> str:
    """A number as ``:g`` (bitrates, levels); anything else escaped."""
    return f"{float(v):g}" if is_number(v) else E(v)


def _int(v) -> str:
    return str(int(v)) if is_number(v) and float(v) == int(v) else _fmt(v)


def _num(v, unit: str = "", nd: int = 3, sign: bool = False) -> str:
    """A number in its display unit (fractions as %), or a dash."""
    if not is_number(v):
        return "—" if v is None else E(v)
    f, shown = display(unit)
    x = float(v) * f
    txt = (f"{x:+.{nd}g}" if sign else f"{x:.{nd}g}") if abs(x) < 1e4 else f"{x:.3e}"
    return txt + (" %" if shown == "%" else "")


def _cond(c) -> str:
    if not isinstance(c, dict):
        return str(c)
    return ", ".join(f"{k}={v}" for k, v in c.items() if v is not None)


def _by_number(t):
    """Sort key of (codec, bitrate) pairs that never compares a number with a string."""
    return tuple((0, float(x), "") if is_number(x) else (1, 0.0, str(x)) for x in t)


def _ci(r: dict, key: str):
    """A record's 95 % interval ``[lo, hi]`` (issue 14's ``*_ci95`` fields), or None."""
    v = r.get(key)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(is_number(x) for x in v):
        return float(v[0]), float(v[1])
    return None


def _bare(v: float, unit: str = "", nd: int = 3, sign: bool = False) -> str:
    """A number in its display unit without the unit (the bounds of an interval)."""
    return _num(v, unit, nd, sign).removesuffix(" %")


def _num_ci(v, ci, unit: str = "", sign: bool = False) -> str:
    """A value and its 95 % interval, the one form of every table: ``0.117 [0.068, 0.172]``
    (``11.7 % [6.8, 17.2]`` in %); the value alone when it has no interval."""
    txt = _num(v, unit, sign=sign)
    if ci is None or not is_number(v):
        return txt
    return f"{txt} <span class='ci'>[{_bare(ci[0], unit, sign=sign)}, {_bare(ci[1], unit, sign=sign)}]</span>"


def excess(r: dict):
    """How far a gated record is past its threshold, in the metric's unit: > 0 failed by that much,
    <= 0 passed with that much headroom (negated). None when there is no numeric threshold."""
    th = r.get("threshold")
    if not isinstance(th, dict) or not is_number(th.get("limit")):
        return None
    lim, kind, d = float(th["limit"]), th.get("kind"), direction_of(r)
    v, dl = r.get("value"), r.get("delta")
    if kind == "max_delta":
        if not is_number(dl):
            return None
        return lim - float(dl) if d == "higher" else float(dl) - lim
    if not is_number(v):
        return None
    v = float(v)
    if kind == "min_value":
        return lim - v
    if kind == "max_value":
        return v - lim
    if kind == "range" and is_number(th.get("upper")):
        return max(lim - v, v - float(th["upper"]))
    return None


def excess_ci(r: dict):
    """The 95 % interval of ``excess`` (how far past / inside its limit), from the record's
    ``delta_ci95`` (max_delta) or ``value_ci95`` (value limits); None for a range threshold or a
    record without one. ``excess`` is monotone in the delta / value, so its bounds are those of
    the interval's ends."""
    th = r.get("threshold")
    if not isinstance(th, dict) or th.get("kind") not in ("max_delta", "min_value", "max_value"):
        return None
    key = "delta" if th["kind"] == "max_delta" else "value"
    ci = _ci(r, f"{key}_ci95")
    if ci is None:
        return None
    ends = [excess(dict(r, **{key: x})) for x in ci]
    if any(e is None for e in ends):
        return None
    return min(ends), max(ends)


def limit_in_value(r: dict):
    """The threshold as a bound on the value (for figures): oracle + max_delta, or the value limit."""
    th = r.get("threshold")
    if not isinstance(th, dict) or not is_number(th.get("limit")):
        return None
    if th.get("kind") == "max_delta":
        return float(r["oracle"]) + float(th["limit"]) if is_number(r.get("oracle")) else None
    if th.get("kind") in ("min_value", "max_value"):
        return float(th["limit"])
    return None


def _source(th: dict) -> tuple[str, str]:
    """(file, key) of a threshold's source ``path [bitrate.suite.condition.metric]``."""
    src = str(th.get("source") or "")
    if src.endswith("]") and " [" in src:
        f, k = src[:-1].rsplit(" [", 1)
        return f, k
    return src, ""


# ------------------------------------------------------------------ figures
PAGE_IN, COLUMN_IN = 7.1, 3.5
RC = {"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
      "legend.fontsize": 7, "lines.linewidth": 1.0, "lines.markersize": 3.5, "svg.fonttype": "path",
      "pdf.fonttype": 42, "axes.linewidth": 0.6, "grid.linewidth": 0.4, "savefig.dpi": 300}


class Figures:
    """Draws the report's figures and writes each as SVG + PDF into ``out_dir`` (when given)."""

    def __init__(self, doc: dict, out_dir: Path | None):
        self.doc, self.out_dir, self.n = doc, out_dir, 0
        self.written: list[Path] = []

    def section(self, title: str, name: str, draw, caption: str = "") -> str:
        """``caption``: HTML; ``{ci}`` in it is replaced by what the figure's whiskers are
        (``ci_caption``)."""
        try:
            fig = draw(self.doc)
        except Exception as exc:  # a figure must not cost the report
            return f"<h2>{E(title)}</h2><p>Figure not drawn: {E(type(exc).__name__)}: {E(exc)}</p>"
        if fig is None:
            return ""  # no data for it in this run (a -k selection): left out, not drawn empty
        self.n += 1
        import matplotlib.pyplot as plt
        stem = f"fig{self.n}-{name}"
        import io
        buf = io.StringIO()
        with plt.rc_context(RC):  # the save reads the rc too: PDF fonts as TrueType (Type 42), not Type 3
            fig.savefig(buf, format="svg")
        svg = _class_ci(buf.getvalue())
        links = ""
        if self.out_dir is not None:
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
                links = (f" <span class='small'>Files: <a href='{rel}/{stem}.svg'>{stem}.svg</a> · "
                         f"<a href='{rel}/{stem}.pdf'>{stem}.pdf</a> "
                         f"({fig.get_figwidth():.1f} × {fig.get_figheight():.1f} in)</span>")
            except OSError as exc:
                links = f" <span class='small'>(figure files not written: {E(exc)})</span>"
        caption = caption.replace("{ci}", ci_caption(fig))
        w_px = int(round(fig.get_figwidth() * 140))
        plt.close(fig)
        b64 = base64.b64encode(svg.encode()).decode()
        return (f"<h2>Figure {self.n} — {E(title)}</h2><figure><img class='fig' style='width:{w_px}px' "
                f"alt='{E(title)}' src='data:image/svg+xml;base64,{b64}'><figcaption class='small'>{caption}{links}"
                f"</figcaption></figure>")


def ci_caption(fig) -> str:
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


def _whiskers(ax, X, cis, f: float, color: str, label: str | None = None) -> int:
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


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _series_label(r):
    return f"{r['codec']} {_g(r['bitrate_kbps'])} kbps"


def _xkey(row: str, doc: dict | None = None) -> tuple[str, str]:
    """(condition field, axis label) of a condition kind, from the file's ``conditions`` block."""
    c = ((doc or {}).get("conditions") or {}).get(row) if isinstance(doc, dict) else None
    if isinstance(c, dict) and c.get("axis"):
        return str(c["axis"]), str(c.get("axis_label") or c["axis"])
    return ("rt60_s", "RT60 (s)") if row == "reverb" else ("snr_db", "SNR (dB)")


def _x_of(r: dict, row: str, doc: dict | None = None):
    c = r.get("condition") or {}
    key, _ = _xkey(row, doc)
    x = c.get(key)
    if is_number(x):
        return float(x)
    return str(c.get("source") or c.get("kind"))


def _y_range(vals: list[float], metric: str) -> tuple[float, float]:
    lo, hi = min(vals), max(vals)
    span = max(hi - lo, MIN_SPAN.get(metric, 0.05 * max(abs(hi), abs(lo), 1e-9)))
    mid = (lo + hi) / 2
    lo, hi = mid - span / 2, mid + span / 2
    pad = 0.08 * span
    return lo - pad, hi + pad


def fig1(doc):
    """Noise robustness: rows = condition kinds present, columns = metrics present; one y-range per
    metric across rows; categorical x when a row has a single SNR / RT60; oracle dashed; the
    threshold (as a bound on the value) and the baseline where the records carry them; 95 %
    intervals as whiskers when the records carry ``value_ci95`` / ``oracle_ci95``."""
    recs = [r for r in doc["records"] if r.get("suite") == "noise" and isinstance(r.get("condition"), dict)]
    present = {r["metric"] for r in recs}
    emo = "emotion_acc" if "emotion_acc" in present else "prosody_corr"
    cols = [c for c in (emo if c == "emotion" else c for c in FIG1_COLS) if c in present]
    if not cols:
        cols = sorted(present - {"si_sdr"}) or sorted(present)
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
            mrecs = [r for r in recs if r["metric"] == met]
            unit = unit_of(mrecs[0], doc) if mrecs else ""
            f, _ = display(unit)
            ys = []
            for r in mrecs:  # what the metric's panels draw (not the clean reference, which has none)
                if r["condition"].get("kind") not in rows:
                    continue
                for v in (r.get("value"), r.get("oracle"), limit_in_value(r),
                          (r.get("baseline") or {}).get("value") if isinstance(r.get("baseline"), dict) else None):
                    if is_number(v):
                        ys.append(float(v) * f)
                for k in ("value_ci95", "oracle_ci95"):
                    ci = _ci(r, k)
                    if ci:
                        ys += [ci[0] * f, ci[1] * f]
            for i, row in enumerate(rows):
                ax = axes[i][j]
                sel = [r for r in mrecs if r["condition"].get("kind") == row]
                if not sel:
                    ax.axis("off")
                    continue
                xs = sorted({_x_of(r, row, doc) for r in sel}, key=lambda x: (isinstance(x, str), x if not isinstance(x, str) else 0, str(x)))
                numeric = len(xs) > 1 and all(isinstance(x, float) for x in xs)
                pos = (lambda x: x) if numeric else (lambda x, _xs=xs: _xs.index(x))
                series = defaultdict(list)
                oracle = {}
                for r in sel:
                    series[_series_label(r)].append(r)
                    oracle.setdefault(_x_of(r, row, doc), r)
                # with intervals, each series (and the oracle) is dodged sideways a little so that
                # whiskers at the same x do not hide each other; without, points sit on their x
                drawn = [lab for lab in series_names if any(is_number(r.get("value")) for r in series.get(lab, []))]
                has_ci = any(_ci(r, k) for r in sel for k in ("value_ci95", "oracle_ci95"))
                slots = len(drawn) + 1
                step = (0.05 * (max(xs) - min(xs)) if numeric else 0.1) if has_ci and slots > 1 else 0.0
                dodge = {lab: (k - (slots - 1) / 2) * step for k, lab in enumerate([*drawn, "oracle"])}
                for lab in drawn:
                    pts = sorted(((pos(_x_of(r, row, doc)) + dodge[lab], r) for r in series.get(lab, [])
                                  if is_number(r.get("value"))), key=lambda t: t[0])
                    X = [p for p, _ in pts]
                    Y = [float(r["value"]) * f for _, r in pts]
                    ax.plot(X, Y, marker="o", color=colors[lab], label=lab)
                    _whiskers(ax, X, [_ci(r, "value_ci95") for _, r in pts], f, colors[lab], label=CI_LABEL)
                    lim = [(x, limit_in_value(r)) for x, r in pts if limit_in_value(r) is not None]
                    if lim:
                        ax.plot([x for x, _ in lim], [v * f for _, v in lim], ls="none", marker="_", ms=9, mew=1.4,
                                color="#c0392b", label="limit (threshold)")
                    base = [(x, r["baseline"]["value"]) for x, r in pts
                            if isinstance(r.get("baseline"), dict) and is_number(r["baseline"].get("value"))]
                    if base:
                        ax.plot([x for x, _ in base], [v * f for _, v in base], ls="none", marker="D", ms=3,
                                mfc="none", color="grey", label="baseline")
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
                if ys:
                    ax.set_ylim(*_y_range(ys, met))
                if i == 0:
                    title = axis_label(met, unit, direction_of(mrecs[0]), doc, sep="\n")  # a long label wraps
                    ax.set_title("\n".join(textwrap.fill(t, 22) for t in title.split("\n")), fontsize=7)
                if j == 0:
                    ax.set_ylabel(row)
                if i == len(rows) - 1 or not any(r["condition"].get("kind") == rows[i + 1] for r in mrecs):
                    ax.set_xlabel(_xkey(row, doc)[1])
                ax.grid(alpha=0.3)
        handles = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        if CI_LABEL in handles:  # one neutral entry for every series' whiskers, last
            from matplotlib.lines import Line2D
            del handles[CI_LABEL]
            handles[CI_LABEL] = Line2D([], [], color="#555", marker="|", ls="none", ms=7, mew=0.8)
        ncol = max(1, min(len(handles), 4 if w == PAGE_IN else 2))
        legend_rows = -(-len(handles) // ncol)
        fig.tight_layout(rect=(0, min(0.4, (0.17 * legend_rows + 0.08) / fig.get_figheight()), 1, 1))
        if handles:
            fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=ncol, frameon=False)
    return fig


def fig2(doc):
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
                rates = sorted({b for pts in by.values() for b, _ in pts})
                numeric = len(rates) > 1
                for (codec, kind), pts in sorted(by.items(), key=lambda kv: str(kv[0])):
                    pts = sorted(pts, key=lambda t: t[0])
                    X = [b if numeric else rates.index(b) for b, _ in pts]
                    Y = [float(r["median"]) for _, r in pts]
                    line, = ax.plot(X, Y, marker="o", label=f"{codec} ({kind})")
                    lim = [(x, limit_in_value(r)) for x, (_, r) in zip(X, pts) if limit_in_value(r) is not None]
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
            else:
                for c in gains:
                    pts = [(x, y) for x, y in zip(c["x"], c["y"]) if is_number(x) and is_number(y)]
                    if pts:
                        ax.plot(*zip(*pts), marker=".", label=f"{c['codec']} {_g(c['bitrate_kbps'])} kbps")
                lo, hi = -42, 14
                ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="ideal (linear)")
                ax.set_xlabel("input gain (dB)")
                ax.set_ylabel("output gain (dB)")
                ax.set_title("Homogeneity: output vs input gain")
            ax.grid(alpha=0.3)
            hl = dict(zip(*reversed(ax.get_legend_handles_labels())))  # one entry per label
            ax.legend(list(hl.values()), list(hl.keys()), frameon=False)
        fig.tight_layout()
    return fig


BAND_EDGES_HZ = ((100.0, "100 Hz"), (2000.0, "2 kHz"), (8000.0, "8 kHz"))


def fig3(doc):
    """Frequency response with the band edges of the checks (100 Hz, 2 kHz, 8 kHz) drawn and
    labelled; one y-range from the data (at least 20 dB)."""
    curves = [c for c in doc["curves"] if c.get("kind") == "frequency_response"]
    if not curves:
        return None
    plt = _plt()
    styles = {0.0: "-", -6.0: "--", -20.0: ":"}
    ys = []
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(PAGE_IN, 2.6))
        keyf = lambda c: (str(c["codec"]), float(c["bitrate_kbps"]) if is_number(c["bitrate_kbps"]) else 0.0,  # noqa: E731
                          -(float(c["level_dbfs"]) if is_number(c.get("level_dbfs")) else 0.0))
        codecs = sorted({(str(c["codec"]), _g(c["bitrate_kbps"])) for c in curves})
        colors = {k: f"C{i % 10}" for i, k in enumerate(codecs)}
        for c in sorted(curves, key=keyf):
            pts = [(x, y) for x, y in zip(c["x"], c["y"]) if is_number(x) and is_number(y) and x > 0]
            if not pts:
                continue
            lvl = c.get("level_dbfs")
            ax.semilogx(*zip(*pts), styles.get(lvl, "-."), color=colors[(str(c["codec"]), _g(c["bitrate_kbps"]))],
                        label=f"{c['codec']} {_g(c['bitrate_kbps'])} kbps @ {_g(lvl)} dBFS")
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
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
        ax.set_xlim(20, max(8000.0 * 1.25, max((x for c in curves for x in c["x"] if is_number(x)), default=8000)))
        ax.xaxis.set_major_locator(FixedLocator([20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("magnitude (dB re input)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(ncol=2, frameon=False, loc="lower left")
        fig.tight_layout()
    return fig


def fig_tokens(doc):
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
    import numpy as np
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(points), len(kinds), figsize=(PAGE_IN if len(kinds) > 1 else COLUMN_IN,
                                                                   1.7 * len(points) + 0.2), squeeze=False)
        for row, (codec, br) in enumerate(points):
            for col, kind in enumerate(kinds):
                ax = axes[row][col]
                if kind == "gain":
                    sel = [c for c in gains if (str(c["codec"]), float(c["bitrate_kbps"])) == (codec, br)]
                    for c in sel:
                        ax.plot(c["x"], c["y"], marker=".", label=str(c.get("label", "")))
                    ax.set_xlabel("input gain (dB)")
                else:
                    sel = sorted((r for r in recs if (str(r["codec"]), float(r["bitrate_kbps"])) == (codec, br)
                                  and r["condition"].get("kind") == kind), key=lambda r: r["condition"]["snr_db"])
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
                if not sel:
                    ax.axis("off")
                    continue
                ax.legend(frameon=False)
                ax.set_ylim(0, 1.02)
                ax.set_title(f"{codec} {br:g} kbps — {kind}")
                ax.set_ylabel("token agreement (0-1)")
                ax.grid(alpha=0.3)
        fig.tight_layout()
    return fig


# ------------------------------------------------------------------ page parts
def _audio_tag(run_dir: Path, rel: str | None) -> str:
    if not rel:
        return "—"
    p = (run_dir / rel).resolve()
    if run_dir.resolve() not in p.parents or not p.is_file():
        return "<em>missing</em>"
    b64 = base64.b64encode(p.read_bytes()).decode()
    return f'<audio controls preload="none" src="data:audio/flac;base64,{b64}"></audio>'


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1f24;max-width:1400px}
h1{margin:0 0 4px 0;font-size:24px} h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.banner{padding:14px 18px;border-radius:8px;font-size:20px;font-weight:600;margin:14px 0}
.pass{background:#dff5e1;color:#11631f}.fail{background:#fde2e1;color:#8a1010}.meas{background:#e8eefc;color:#1d3f8f}
.error{background:#4a0d0d;color:#fff}
.warn{background:#fff4d6;border:1px solid #e0b84a;padding:10px 14px;border-radius:6px;margin:8px 0}
.danger{background:#fde2e1;border:1px solid #d9534f;padding:10px 14px;border-radius:6px;margin:8px 0;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:8px 0;max-width:100%} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f6f8} td.ok{background:#e8f7ea} td.bad{background:#fbe3e2} td.na{color:#777}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.id{word-break:break-all;min-width:200px;max-width:320px;font-size:12px;color:#555} td.ce{max-width:280px;word-break:break-word}
table.sortable th{cursor:pointer} table.sortable th:after{content:" \\2195";color:#aaa;font-size:11px}
input.filter{margin:6px 0;padding:4px 8px;width:320px;font-size:13px}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px} .small{font-size:12px;color:#555}
img.fig{max-width:100%;background:#fff} figure{margin:8px 0} span.ci{display:block;color:#555;font-size:12px}
"""

# sortable and filterable tables: plain inline script, no library, nothing fetched
JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('tr:first-child th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var rows = Array.prototype.slice.call(t.rows, 1), asc = th.dataset.asc !== '1';
      th.dataset.asc = asc ? '1' : '0';
      function key(r){var c = r.cells[col]; if(!c) return ''; var v = c.dataset.v !== undefined ? c.dataset.v : c.textContent;
        var n = parseFloat(v); return isNaN(n) ? v.toLowerCase() : n;}
      rows.sort(function(a, b){var x = key(a), y = key(b); if(typeof x !== typeof y){x = String(x); y = String(y);}
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);});
      rows.forEach(function(r){t.tBodies[0].appendChild(r);});
    });
  });
});
document.querySelectorAll('input.filter').forEach(function(inp){
  inp.addEventListener('input', function(){
    var t = document.getElementById(inp.dataset.table), q = inp.value.toLowerCase();
    Array.prototype.slice.call(t.rows, 1).forEach(function(r){
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';});
  });
});
"""


def _table(tid: str, header: list[str], rows: list[str], filterable: bool = True) -> str:
    filt = (f"<input class='filter' data-table='{tid}' placeholder='filter rows (any text)…' "
            f"aria-label='filter {tid}'>") if filterable and len(rows) > 5 else ""
    return (f"{filt}<table id='{tid}' class='sortable'><tbody><tr>{''.join(f'<th>{h}</th>' for h in header)}</tr>"
            + "".join(rows) + "</tbody></table>")


def _td_num(v, unit="", sign=False, cls="num", ci=None) -> str:
    """A table cell of a number (with its 95 % interval ``ci`` when given); it sorts by the number."""
    dv = f" data-v='{float(v) * display(unit)[0]!r}'" if is_number(v) else ""
    return f"<td class='{cls}'{dv}>{_num_ci(v, ci, unit, sign=sign)}</td>"


def load_errors(run: dict) -> list[dict]:
    """The run's codec-load errors (``kind: codec_load``), one per codec."""
    seen, out = set(), []
    for e in run.get("errors") or []:
        if isinstance(e, dict) and e.get("kind") == "codec_load" and str(e.get("codec")) not in seen:
            seen.add(str(e.get("codec")))
            out.append(e)
    return out


def _failing_table(doc: dict, bad: list[dict]) -> str:
    has_ce = any(r.get("counterexample") for r in bad)
    has_base = any(isinstance(r.get("baseline"), dict) for r in bad)
    groups: dict[tuple, list] = {}
    for r in bad:  # identical failures (all but the test id) shown once, with their count
        sig = json.dumps({k: v for k, v in r.items() if k not in ("test_id", "examples", "audio", "details")},
                         sort_keys=True, default=str)
        groups.setdefault(sig, []).append(r)
    header = ["codec", "kbps", "suite", "condition", "metric", "value", "oracle", "delta", "limit",
              "<b>worse by</b>", "threshold source (file, key)"]
    header += ["baseline → now (regression)"] if has_base else []
    header += ["counterexample"] if has_ce else []
    header += ["test"]
    rows = []
    ordered = sorted(groups.values(), key=lambda g: -(excess(g[0]) or 0.0) * display(unit_of(g[0], doc))[0])
    for g in ordered:
        r = g[0]
        unit = unit_of(r, doc)
        th = r.get("threshold") if isinstance(r.get("threshold"), dict) else {}
        f, k = _source(th) if th else ("", "")
        ex = excess(r)
        worse = _num_ci(ex, excess_ci(r), unit) if ex is not None else "—"
        if ex is not None and unit and display(unit)[1] != "%":  # (an interval already ends its line)
            worse += f"{'' if worse.endswith('</span>') else '<br>'}<span class='small'>{E(unit)}</span>"
        why = E(r.get("failure")) if r.get("failure") else ""
        cells = [f"<td>{E(r['codec'])}</td>", f"<td class='num'>{_g(r['bitrate_kbps'])}</td>", f"<td>{E(r['suite'])}</td>",
                 f"<td>{E(_cond(r['condition']))}</td>",
                 f"<td>{E(label_of(r['metric'], doc))}<br><span class='small'>{E(r['metric'])}"
                 f"{' · unit ' + E(display(unit)[1]) if unit else ''}</span></td>",
                 _td_num(r.get("value"), unit, ci=_ci(r, "value_ci95")),
                 _td_num(r.get("oracle"), unit, ci=_ci(r, "oracle_ci95")),
                 _td_num(r.get("delta"), unit, sign=True, ci=_ci(r, "delta_ci95")),
                 f"<td>{E(limit_text(th)) if th else '—'}</td>",
                 f"<td class='num bad' data-v='{(ex or 0) * display(unit)[0]!r}'><b>{worse}</b>{'<br>' + why if why else ''}</td>",
                 f"<td title='{E(f)}'><code>{E(Path(f).name) if f else '—'}</code>"
                 f"{'<br><span class=small>[' + E(k) + ']</span>' if k else ''}</td>"]
        if has_base:
            b = r.get("baseline") if isinstance(r.get("baseline"), dict) else None
            if b:
                reg = worsening(direction_of(r), float(b["value"]), float(r["value"])) \
                    if is_number(b.get("value")) and is_number(r.get("value")) else None
                cells.append(f"<td>{_num(b.get('value'), unit)} → {_num(r.get('value'), unit)}"
                             f"{' (' + _num(reg, unit, sign=True) + ' worse)' if reg is not None else ''} "
                             f"<b>{E(b.get('status', 'ok' if b.get('passed') else 'REGRESSED'))}</b>"
                             + (f"<br><span class='small'>{E(b['judged'])}</span>" if b.get("judged") else "")
                             + "</td>")
            else:
                cells.append("<td class='na'>no baseline</td>")
        if has_ce:
            ce = r.get("counterexample")
            cells.append(f"<td class='ce'><code>{E(json.dumps(ce))}</code></td>" if ce else
                         "<td class='na'>not a property test</td>")
        ids = "<br>".join(E(x.get("test_id")) for x in g[:5]) + (f"<br>… {len(g) - 5} more" if len(g) > 5 else "")
        cells.append(f"<td class='id'>{'<b>×' + str(len(g)) + '</b> ' if len(g) > 1 else ''}{ids}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<p class='small'>{CI_NOTE}</p>" + _table("failing", header, rows)


def _summary_table(doc: dict) -> str:
    """Codec x metric: the worst delta of each metric over the noise conditions."""
    recs = [r for r in doc["records"] if r.get("suite") == "noise" and is_number(r.get("delta"))]
    if not recs:
        return ""
    metrics = sorted({r["metric"] for r in recs}, key=lambda m: (FIG1_COLS.index(m) if m in FIG1_COLS else 99, m))
    points = sorted({(r["codec"], r["bitrate_kbps"]) for r in recs}, key=_by_number)
    rows = []
    for p in points:
        cells = [f"<td>{E(p[0])}</td><td class='num'>{_g(p[1])}</td>"]
        for m in metrics:
            sel = [r for r in recs if (r["codec"], r["bitrate_kbps"]) == p and r["metric"] == m]
            if not sel:
                cells.append("<td class='na'>—</td>")
                continue
            worst = max(sel, key=lambda r: worsening(direction_of(r), 0.0, float(r["delta"])))
            unit = unit_of(worst, doc)
            failed = any(r.get("passed") is False for r in sel)
            cls = "bad" if failed else "ok" if any(r.get("passed") is True for r in sel) else "na"
            dci = _ci(worst, "delta_ci95")  # an interval ends its own line
            cells.append(f"<td class='num {cls}' data-v='{float(worst['delta']) * display(unit)[0]!r}' "
                         f"title='{E(_cond(worst['condition']))}'>"
                         f"{_num_ci(worst['delta'], dci, unit, sign=True)}"
                         f"{'' if dci else '<br>'}<span class='small'>{E(worst['condition'].get('kind'))}</span></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = ["codec", "kbps"] + [f"{E(label_of(m, doc))} Δ<br><span class='small'>"
                                f"{E(display(unit_of({'metric': m}, doc))[1])}</span>" for m in metrics]
    return ("<h2>Summary: worst Δ (codec − oracle) per metric over the noise conditions</h2>"
            "<p class='small'>Worst in each metric's own direction; the cell names the condition; red where a "
            f"check of that metric failed. {CI_NOTE}</p>" + _table("summary", head, rows, filterable=False))


def _headroom_table(doc: dict, good: list[dict]) -> str:
    rows = []
    for r in sorted(good, key=lambda r: (excess(r) is None, -(excess(r) or 0.0))):
        unit = unit_of(r, doc)
        ex, eci = excess(r), excess_ci(r)  # headroom = -excess
        th = r.get("threshold") if isinstance(r.get("threshold"), dict) else {}
        f, k = _source(th) if th else ("", "")
        rows.append(f"<tr><td>{E(r['codec'])}</td><td class='num'>{_g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
                    f"<td>{E(_cond(r['condition']))}</td><td>{E(r['metric'])}</td>"
                    f"{_td_num(r.get('value'), unit, ci=_ci(r, 'value_ci95'))}"
                    f"{_td_num(r.get('delta'), unit, sign=True, ci=_ci(r, 'delta_ci95'))}"
                    f"<td>{E(limit_text(th)) if th else 'baseline only'}</td>"
                    + (_td_num(-ex, unit, ci=(-eci[1], -eci[0]) if eci else None) if ex is not None
                       else "<td class='na'>—</td>")
                    + f"<td class='small' title='{E(f)}'><code>{E(Path(f).name)}</code> {E(k)}</td></tr>")
    return ("<h2>Headroom of the passing checks</h2><p class='small'>How far each passing check is from its limit, in "
            f"the metric's unit (smallest first: the checks closest to failing). {CI_NOTE}</p>"
            + _table("headroom", ["codec", "kbps", "suite", "condition", "metric", "value", "delta", "limit",
                                  "headroom", "threshold source"], rows))


def command_text(run: dict) -> str:
    """The command of the run as a person would type it (``pytest ...``)."""
    cmd = run.get("command")
    if isinstance(cmd, str) and cmd:
        return cmd
    argv = [str(a) for a in run.get("argv") or []]
    return shlex.join(["pytest", *argv])


def render(doc: dict, run_dir: Path, figures_dir: Path | None = None) -> str:
    run = doc["run"]
    recs = doc["records"]
    status, verdict = run_verdict(doc)
    cls = {"PASS": "pass", "FAIL": "fail", "ERROR": "error"}.get(status, "meas")
    errs = load_errors(run)
    if errs:  # the banner names the codec(s); the box below says why, once
        verdict = "ERROR: codec could not be loaded — " + ", ".join(str(e.get("codec")) for e in errs)
    if run.get("finished") is None:
        verdict += " (run interrupted: partial results)"
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>codec-conformance {E(str(run.get('id')))}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>codec-conformance report</h1><div class='small'>run {E(str(run.get('id')))} · profile "
           f"{E(str(run.get('profile')))} · seed {E(str(run.get('seed')))} · device {E(str(run.get('device')))} · "
           f"started {E(str(run.get('started')))} · finished {E(str(run.get('finished')))}</div>",
           f"<div class='banner {cls}'>{E(verdict)}</div>"]
    for e in errs:
        n = sum(1 for x in run.get("errors") or [] if isinstance(x, dict) and x.get("kind") == "codec_load"
                and x.get("codec") == e.get("codec"))
        skipped = e.get("skipped")
        out.append(f"<div class='danger'>Codec <code>{E(e.get('codec'))}</code> could not be loaded: "
                   f"{E(e.get('message'))}<br><span class='small'>Its tests did not run: "
                   f"{n} test(s) reported the error, the others were skipped"
                   f"{f' ({_int(skipped)})' if is_number(skipped) else ''}.</span></div>")
    # provenance warnings, impossible to miss
    for c in doc["codecs"]:
        if c.get("weights") == "random-init":
            out.append(f"<div class='danger'>Codec {E(c['name'])}: weights: random-init — untrained weights; "
                       "these numbers check the pipeline only and say nothing about the codec.</div>")
    stand = {k: v for k, v in run.get("evaluators", {}).items() if v.get("stand_in")}
    if stand:
        items = "".join(f"<li><b>{E(k)}</b>: {E(str(v.get('name')))}"
                        + (f" — {E(v['note'])}" if v.get("note") else "") + "</li>" for k, v in sorted(stand.items()))
        out.append(f"<div class='warn'><b>Stand-in evaluators</b> (offline substitutes for the paper's models; "
                   f"absolute values are not comparable with the paper):<ul>{items}</ul></div>")
    corp = run.get("corpora", {})
    sp = corp.get("speech", {})
    if sp.get("synthetic"):
        out.append(f"<div class='warn'><b>Synthetic speech corpus</b>: {E(sp.get('description', ''))}. "
                   "Pass <code>--codec-corpus DIR</code> for real speech.</div>")
    for kind, c in sorted(corp.items()):  # files that could not be read, items without speech
        if c.get("skipped"):
            lst = "".join(f"<li><code>{E(k)}</code>: {E(str(v))}</li>" for k, v in sorted(c["skipped"].items()))
            out.append(f"<div class='warn'><b>{len(c['skipped'])} {E(kind)} file(s) could not be read and were "
                       f"skipped</b>:<ul>{lst}</ul></div>")
        if c.get("silent"):
            lst = "".join(f"<li>{E(k)}: {E(str(v))}</li>" for k, v in sorted(c["silent"].items()))
            out.append(f"<div class='warn'><b>{len(c['silent'])} {E(kind)} item(s) hold no measurable speech</b> "
                       f"and are undefined (counted per record) for every metric and property:<ul>{lst}</ul></div>")
    if sp.get("transcripts") == "clean-asr":
        out.append("<div class='warn'>No reference transcripts: WER is measured against the ASR transcript "
                   "of the clean signal.</div>")
    # pass/fail table
    if recs:
        out.append("<h2>Verdict per codec × bitrate × suite</h2><table><tr><th>codec</th><th>bitrate (kbps)</th>")
        seen = {r.get("suite") for r in recs}
        suites = [s for s in ("noise", "additivity", "homogeneity", "frequency_response", "tokens") if s in seen]
        suites += sorted(s for s in seen if isinstance(s, str) and s not in suites)  # plugin suites
        out.append("".join(f"<th>{E(s)}</th>" for s in suites) + "</tr>")
        cells = defaultdict(lambda: [0, 0, 0])
        for r in recs:
            k = (r["codec"], r["bitrate_kbps"], r["suite"])
            cells[k][0 if r.get("passed") is True else 1 if r.get("passed") is False else 2] += 1
        for codec, br in sorted({(r["codec"], r["bitrate_kbps"]) for r in recs}, key=_by_number):
            out.append(f"<tr><td>{E(codec)}</td><td>{_g(br)}</td>")
            for s in suites:
                p, f, m = cells[(codec, br, s)]
                cl = "bad" if f else "ok" if p else "na"
                txt = f"{f} failed / {p + f}" if f else (f"{p} passed" if p else "")
                if m:
                    txt += f" ({m} measured)"
                out.append(f"<td class='{cl}'>{E(txt or '—')}</td>")
            out.append("</tr>")
        out.append("</table>")
    # failures
    bad = [r for r in recs if r.get("passed") is False]
    if recs or not errs:
        out.append(f"<h2>Failing checks ({len(bad)})</h2>")
        out.append(_failing_table(doc, bad) if bad else "<p>None.</p>")
    errors = [e for e in run.get("errors") or [] if isinstance(e, dict) and e.get("kind") != "codec_load"]
    if errors:
        by_msg: dict[str, list] = {}
        for e in errors:
            by_msg.setdefault(str(e.get("message")), []).append(e)
        out.append(f"<h2>Test errors ({len(errors)})</h2><table><tr><th>message</th><th>tests</th></tr>")
        for msg, es in by_msg.items():
            ids = "<br>".join(E(e.get("test_id")) for e in es[:5]) + (f"<br>… {len(es) - 5} more" if len(es) > 5 else "")
            out.append(f"<tr><td><pre style='white-space:pre-wrap'>{E(msg)}</pre></td>"
                       f"<td class='id'>{'<b>×' + str(len(es)) + '</b> ' if len(es) > 1 else ''}{ids}</td></tr>")
        out.append("</table>")
    out.append(_summary_table(doc))
    # figures
    figs = Figures(doc, figures_dir)
    out.append(figs.section("noise robustness (codec vs oracle)", "noise", fig1,
                            "Each metric has one y-range over all conditions. Dashed black: the oracle (the degraded, "
                            "uncoded input). Red ticks: the threshold as a bound on the value (oracle + max_delta, or "
                            "the value limit); open diamonds: the baseline. {ci} "
                            f"{WER_NOTE} EER is in % of trials."))
    out.append(figs.section("linearity", "linearity", fig2,
                            "Left: median SER of f(x+y) against f(x)+f(y) (higher is more additive). Right: output "
                            "gain vs input gain against the ideal diagonal. " + NO_CI["linearity"]))
    out.append(figs.section("frequency response", "frequency-response", fig3,
                            "Exponential sine sweep, deconvolved, 1/6-octave smoothing. The vertical lines are the "
                            "band edges of the checks: low band below 100 Hz, mid band 100 Hz–2 kHz, high band "
                            "2–8 kHz. " + NO_CI["frequency_response"]))
    out.append(figs.section("token robustness: agreement of the codes per RVQ level", "tokens", fig_tokens,
                            "Fraction of frames whose code is unchanged (0-1); level 1 bold. " + NO_CI["tokens"]))
    # worst-case audio: the worst *noisy* condition (clean only when no noisy clip exists)
    clips = [r for r in recs if isinstance(r.get("audio"), dict)]
    if clips:
        worst = {}
        for r in clips:
            k = (r["codec"], r["bitrate_kbps"])
            noisy = (r.get("condition") or {}).get("kind") not in (None, "clean")
            rank = (noisy, float(r["delta"]) if is_number(r.get("delta")) else float("-inf"))
            if k not in worst or rank > worst[k][0]:
                worst[k] = (rank, r)
        out.append("<h2>Listen: worst noisy condition per codec and bitrate (largest Mel-distance increase)</h2><table>"
                   "<tr><th>codec</th><th>condition</th><th>item</th><th>clean</th><th>noisy (input)</th><th>coded</th></tr>")
        for (codec, br), (_, r) in sorted(worst.items(), key=lambda kv: _by_number(kv[0])):
            a = r["audio"]
            cond = _cond(r["condition"])
            out.append(f"<tr><td>{E(codec)} {_g(br)} kbps</td><td>{E(cond)}</td><td>{E(str(a.get('item')))}</td>"
                       f"<td>{_audio_tag(run_dir, a.get('clean'))}</td><td>{_audio_tag(run_dir, a.get('noisy'))}</td>"
                       f"<td>{_audio_tag(run_dir, a.get('coded'))}</td></tr>")
        out.append("</table>")
    good = [r for r in recs if r.get("passed") is True]
    if good:
        out.append(_headroom_table(doc, good))
    idle = [r for r in recs if could_not_fail(r)]
    if idle:
        rows = [f"<tr><td>{E(r['codec'])}</td><td class='num'>{_g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
                f"<td>{E(_cond(r['condition']))}</td><td>{E(r['metric'])}</td><td>{E(limit_text(r['threshold']))}</td>"
                f"<td>{E(could_not_fail(r))}</td></tr>" for r in idle]
        out.append(f"<h2>Limits that could not fail ({len(idle)}), not counted</h2><p class='small'>At these records' "
                   "oracle no value of the metric can cross the limit (the degraded input already scores at the "
                   "metric's bound), so they are neither passes nor failures.</p>"
                   + _table("idle", ["codec", "kbps", "suite", "condition", "metric", "limit", "why"], rows, False))
    # all records
    if recs:
        rows = []
        for r in recs:
            unit = unit_of(r, doc)
            p = r.get("passed")
            cl, txt = ("ok", "pass") if p is True else ("bad", "FAIL") if p is False else \
                ("na", "could not fail") if could_not_fail(r) else ("na", "not gated")
            und = r.get("n_undefined") or 0
            why = r.get("undefined_reasons") or {}
            rows.append(f"<tr><td>{E(r['codec'])}</td><td class='num'>{_g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
                        f"<td>{E(_cond(r['condition']))}</td><td>{E(r['metric'])}{' (stand-in)' if r.get('stand_in') else ''}</td>"
                        f"<td>{E(display(unit)[1])}</td>{_td_num(r['value'], unit, ci=_ci(r, 'value_ci95'))}"
                        f"{_td_num(r['oracle'], unit, ci=_ci(r, 'oracle_ci95'))}"
                        f"{_td_num(r['delta'], unit, sign=True, ci=_ci(r, 'delta_ci95'))}"
                        f"<td class='{cl}'>{txt}</td><td title='{E(json.dumps(why))}'>{_int(r['n_items'])}"
                        f"{f' ({_int(und)})' if und else ''}</td></tr>")
        out.append(f"<h2>All measurements ({len(recs)})</h2><p class='small'>{CI_NOTE}</p>" + _table(
            "records", ["codec", "kbps", "suite", "condition", "metric", "unit", "value", "oracle", "delta",
                        "passed", "items (undefined)"], rows))
    durations = run.get("durations")
    if isinstance(durations, dict) and durations:
        items = sorted(((k, v) for k, v in durations.items() if is_number(v)), key=lambda kv: -float(kv[1]))
        total = sum(float(v) for _, v in items)
        rows = [f"<tr><td class='id'>{E(k)}</td><td class='num' data-v='{float(v)!r}'>{float(v):.2f}</td></tr>"
                for k, v in items]
        out.append(f"<h2>Test durations</h2><details><summary>{len(items)} tests, {total:.1f} s in all; slowest: "
                   f"{E(items[0][0])} ({float(items[0][1]):.1f} s)</summary>"
                   + _table("durations", ["test", "seconds"], rows) + "</details>")
    stages = (run.get("timing") or {}).get("stages") if isinstance(run.get("timing"), dict) else None
    if isinstance(stages, dict) and stages:
        out.append("<table><tr><th>stage</th><th>seconds</th></tr>" + "".join(
            f"<tr><td>{E(k)}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in stages.items()) + "</table>")
    # what each metric and condition kind is (results.json's catalogue blocks)
    mets = doc.get("metrics") or {}
    if mets:
        out.append("<h2>Metrics</h2><table><tr><th>metric</th><th>label</th><th>unit</th><th>better</th>"
                   "<th>smallest meaningful difference</th><th>gated</th><th>stand-in</th></tr>")
        for k, m in sorted(mets.items()):
            m = m if isinstance(m, dict) else {}
            out.append(f"<tr><td><code>{E(k)}</code></td><td>{E(str(m.get('label', '')))}</td>"
                       f"<td>{E(str(m.get('unit', '')))}</td><td>{E(str(m.get('direction', '')))}</td>"
                       f"<td>{_fmt(m.get('min_meaningful_difference'))}</td>"
                       f"<td>{'yes' if m.get('gated', True) else 'no (recorded)'}</td>"
                       f"<td>{'YES' if m.get('stand_in') else 'no'}</td></tr>")
        out.append("</table>")
    conds = doc.get("conditions") or {}
    if conds:
        out.append("<table><tr><th>condition</th><th>label</th><th>axis</th></tr>")
        for k, c in sorted(conds.items()):
            c = c if isinstance(c, dict) else {}
            out.append(f"<tr><td><code>{E(k)}</code></td><td>{E(str(c.get('label', '')))}</td>"
                       f"<td>{E(str(c.get('axis_label') or ''))}</td></tr>")
        out.append("</table>")
    # provenance
    out.append("<h2>Provenance</h2><table><tr><th>codec</th><th>sample rate (Hz)</th><th>bitrates (kbps)</th>"
               "<th>weights</th><th>checkpoint</th><th>SHA-256</th><th>device</th><th>precision</th></tr>")
    for c in doc["codecs"]:
        own = f" <span class='small'>(calls itself {E(c['reported_name'])})</span>" if c.get("reported_name") else ""
        prec = c.get("precision")
        out.append(f"<tr><td>{E(c['name'])}{own}</td><td>{_int(c.get('sample_rate'))}</td>"
                   f"<td>{', '.join(_g(b) for b in c.get('bitrates_kbps') or [])}</td>"
                   f"<td>{E(str(c.get('weights') or '— (no weights)'))}</td><td>{E(str(c.get('checkpoint') or '—'))}</td>"
                   f"<td><code>{E(str(c.get('checkpoint_sha256') or '—'))}</code></td><td>{E(str(c.get('device')))}</td>"
                   f"<td>{E(str(prec)) if prec else '<span class=na>n/a (not a neural codec)</span>'}</td></tr>")
    out.append("</table><table><tr><th>evaluator</th><th>model</th><th>stand-in</th><th>description</th></tr>")
    for k, v in sorted(run.get("evaluators", {}).items()):
        out.append(f"<tr><td>{E(k)}</td><td>{E(str(v.get('name')))}</td><td>{'YES' if v.get('stand_in') else 'no'}</td>"
                   f"<td class='small'>{E(str(v.get('description', '')))}</td></tr>")
    out.append("</table>")
    sources = sorted({_source(r["threshold"])[0] for r in recs if isinstance(r.get("threshold"), dict)} - {""})
    vers = run.get("versions") if isinstance(run.get("versions"), dict) else {}
    out.append("<table>"
               f"<tr><th>command</th><td><code>{E(command_text(run))}</code></td></tr>"
               f"<tr><th>thresholds file(s) used</th><td>{'<br>'.join('<code>' + E(s) + '</code>' for s in sources) or 'none'}</td></tr>"
               f"<tr><th>baseline</th><td>{E(str((run.get('settings') or {}).get('baseline') or 'none'))}</td></tr>"
               f"<tr><th>corpora</th><td class='small'>{E(json.dumps(corp))}</td></tr></table>")
    out.append("<table><tr><th>package</th><th>version</th></tr>" + "".join(
        f"<tr><td>{E(k)}</td><td>{E(v)}</td></tr>" for k, v in sorted(vers.items(), key=lambda kv: str(kv[0])))
               + "</table>")
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out)


def write_html(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    doc = load_results(run_dir)
    p = run_dir / "index.html"
    # same permissions as results.json; no temporary left; figures/ beside it
    atomic_write_text(p, render(doc, run_dir, figures_dir=run_dir / "figures"))
    return p
