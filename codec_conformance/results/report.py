"""Self-contained HTML report drawn from ``results.json`` alone (plus the run's audio clips).

No network: figures are inline PNG, audio inline FLAC data URIs. Every value that reaches the
HTML is escaped (``E`` takes anything) or formatted from a checked number (``_fmt``, ``_g``,
``_int``), whatever type the file declares: a crafted results.json cannot inject markup.
"""
from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from .records import atomic_write_text, is_number, load_results
from .records import verdict as run_verdict
from ..gate.thresholds import limit_text


def E(v) -> str:
    """Any value as HTML-escaped text (quotes too: safe in attributes)."""
    return html.escape(str(v), quote=True)


FIG1_ROWS = ("ambient", "white", "reverb")   # first, in this order; other degraded kinds follow
FIG1_COLS = ("mel_distance", "pesq", "wer", "eer", "emotion")
ARROWS = {"higher": "↑", "lower": "↓", "two-sided": "↕ (0 ideal)"}


def label(doc, metric) -> str:
    """A metric's label with its direction, from the file's ``metrics`` block (its name when the
    file has none): the report reads what each metric is from results.json alone."""
    m = (doc.get("metrics") or {}).get(metric)
    if not isinstance(m, dict):
        return str(metric)
    return f"{m.get('label', metric)} {ARROWS.get(m.get('direction'), '')}".strip()


def unit(doc, metric) -> str:
    m = (doc.get("metrics") or {}).get(metric)
    return str(m.get("unit", "")) if isinstance(m, dict) else ""


def fig1_rows(doc, recs) -> list[str]:
    kinds = {r["condition"]["kind"] for r in recs} - {"clean"}
    return [k for k in FIG1_ROWS if k in kinds] + sorted(k for k in kinds if k not in FIG1_ROWS and isinstance(k, str))


def axis_of(doc, kind) -> tuple[str, str]:
    """(condition field, axis label) of a condition kind, from the file's ``conditions`` block."""
    c = (doc.get("conditions") or {}).get(kind)
    if isinstance(c, dict) and c.get("axis"):
        return str(c["axis"]), str(c.get("axis_label") or c["axis"])
    return ("rt60_s", "RT60 (s)") if kind == "reverb" else ("snr_db", "SNR (dB)")


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


def _cond(c) -> str:
    if not isinstance(c, dict):
        return str(c)
    return ", ".join(f"{k}={v}" for k, v in c.items() if v is not None)


def _by_number(t):
    """Sort key of (codec, bitrate) pairs that never compares a number with a string."""
    return tuple((0, float(x), "") if is_number(x) else (1, 0.0, str(x)) for x in t)


def _figure(draw, doc) -> str:
    try:
        return draw(doc)
    except Exception as exc:  # a figure must not cost the report
        return f"<p>Figure not drawn: {E(type(exc).__name__)}: {E(exc)}</p>"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _series_label(r):
    return f"{r['codec']} {_g(r['bitrate_kbps'])} kbps"


def fig1(doc) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in doc["records"] if r["suite"] == "noise"]
    if not recs:
        return "<p>No noise-robustness records.</p>"
    emo = "emotion_acc" if any(r["metric"] == "emotion_acc" for r in recs) else "prosody_corr"
    cols = [emo if c == "emotion" else c for c in FIG1_COLS]
    rows = fig1_rows(doc, recs) or list(FIG1_ROWS)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.2 * len(cols), 2.6 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        xkey, xlabel = axis_of(doc, row)
        for j, met in enumerate(cols):
            ax = axes[i][j]
            sel = [r for r in recs if r["condition"]["kind"] == row and r["metric"] == met]
            series = defaultdict(list)
            oracle = {}
            for k, r in enumerate(sel):
                x = r["condition"].get(xkey)
                x = k if x is None else x
                series[_series_label(r)].append((x, r["value"]))
                oracle[x] = r["oracle"]
            for lab, pts in sorted(series.items()):
                pts = sorted((x, y) for x, y in pts if y is not None)
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=lab)
            op = sorted((x, y) for x, y in oracle.items() if y is not None)
            if op:
                ax.plot(*zip(*op), "k--", marker="x", label="oracle (uncoded)")
            if i == 0:
                ax.set_title(label(doc, met), fontsize=9)
            if j == 0:
                ax.set_ylabel(row, fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    h, l = axes[0][0].get_legend_handles_labels()
    if h:
        fig.legend(h, l, loc="lower center", ncol=min(6, len(l)), fontsize=8, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout()
    return _png(fig)


def fig2(doc) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    by = defaultdict(list)
    for r in doc["records"]:
        if r["suite"] == "additivity" and r["metric"] == "ser_db" and r.get("median") is not None:
            by[(r["codec"], r["condition"].get("mixture"))].append((r["bitrate_kbps"], r["median"]))
    for (codec, kind), pts in sorted(by.items()):
        a1.plot(*zip(*sorted(pts)), marker="o", label=f"{codec} ({kind})")
    a1.set_xscale("log")
    a1.set_xlabel("bitrate (kbps)")
    a1.set_ylabel("additivity SER, median (dB) ↑")
    a1.set_title("Additivity vs bitrate", fontsize=10)
    a1.grid(alpha=0.3)
    if by:
        a1.legend(fontsize=7)
    for c in doc["curves"]:
        if c["kind"] == "homogeneity_gain":
            a2.plot(c["x"], c["y"], marker=".", label=f"{c['codec']} {c['bitrate_kbps']:g} kbps")
    lo, hi = -42, 14
    a2.plot([lo, hi], [lo, hi], "k--", lw=1, label="ideal (linear)")
    a2.set_xlabel("input gain (dB)")
    a2.set_ylabel("output gain (dB)")
    a2.set_title("Homogeneity: output vs input gain", fontsize=10)
    a2.grid(alpha=0.3)
    a2.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def fig3(doc) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [c for c in doc["curves"] if c["kind"] == "frequency_response"]
    if not curves:
        return "<p>No frequency-response curves.</p>"
    fig, ax = plt.subplots(figsize=(10, 4))
    styles = {0.0: "-", -6.0: "--", -20.0: ":"}
    for c in sorted(curves, key=lambda c: (c["codec"], c["bitrate_kbps"], -(c["level_dbfs"] or 0))):
        ax.semilogx(c["x"], c["y"], styles.get(c["level_dbfs"], "-."),
                    label=f"{c['codec']} {c['bitrate_kbps']:g} kbps @ {c['level_dbfs']:g} dBFS")
    for f in (100, 2000):
        ax.axvline(f, color="grey", lw=0.8)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("magnitude (dB re input)")
    ax.set_ylim(-40, 15)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Frequency response (exponential sine sweep, 1/6-octave smoothing)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def fig_tokens(doc) -> str:
    """Token agreement per RVQ level vs SNR (level 1 bold), one row per codec x bitrate, one
    column per noise kind; the agreement-vs-gain curves beside them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in doc["records"] if r.get("suite") == "tokens" and r.get("metric") == "token_agreement"
            and isinstance(r.get("agreement_per_level"), list) and is_number((r.get("condition") or {}).get("snr_db"))]
    gains = [c for c in doc["curves"] if c.get("kind") == "token_gain"]
    points = sorted({(str(r["codec"]), float(r["bitrate_kbps"])) for r in recs}
                    | {(str(c["codec"]), float(c["bitrate_kbps"])) for c in gains})
    if not points:
        return "<p>No token measurements (no codec under test exposes its codes).</p>"
    kinds = ("white", "ambient", "gain")
    fig, axes = plt.subplots(len(points), len(kinds), figsize=(10, 2.6 * len(points)), squeeze=False)
    for row, (codec, br) in enumerate(points):
        for col, kind in enumerate(kinds):
            ax = axes[row][col]
            if kind == "gain":
                for c in gains:
                    if (str(c["codec"]), float(c["bitrate_kbps"])) == (codec, br):
                        ax.plot(c["x"], c["y"], marker=".", label=str(c.get("label", "")))
                ax.set_xlabel("input gain (dB)")
                ax.legend(fontsize=6)
            else:
                sel = sorted((r for r in recs if (str(r["codec"]), float(r["bitrate_kbps"])) == (codec, br)
                              and r["condition"].get("kind") == kind), key=lambda r: r["condition"]["snr_db"])
                if sel:
                    snrs = [r["condition"]["snr_db"] for r in sel]
                    levels = np.array([r["agreement_per_level"] for r in sel], dtype=float)
                    for lv in range(levels.shape[1]):
                        ax.plot(snrs, levels[:, lv], lw=2.2 if lv == 0 else 0.7, color="C0" if lv == 0 else "grey",
                                alpha=1.0 if lv == 0 else 0.5, label="level 1" if lv == 0 else None)
                    ax.legend(fontsize=6)
                ax.set_xlabel("SNR (dB)")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{codec} {br:g} kbps — {kind}", fontsize=8)
            ax.set_ylabel("token agreement")
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _audio_tag(run_dir: Path, rel: str | None) -> str:
    if not rel:
        return ""
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
.warn{background:#fff4d6;border:1px solid #e0b84a;padding:10px 14px;border-radius:6px;margin:8px 0}
.danger{background:#fde2e1;border:1px solid #d9534f;padding:10px 14px;border-radius:6px;margin:8px 0;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f6f8} td.ok{background:#e8f7ea} td.bad{background:#fbe3e2} td.na{color:#777}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px} .small{font-size:12px;color:#555}
img{max-width:100%}
"""


def render(doc: dict, run_dir: Path) -> str:
    run = doc["run"]
    recs = doc["records"]
    status, verdict = run_verdict(doc)
    cls = {"PASS": "pass", "FAIL": "fail"}.get(status, "meas")
    if run.get("finished") is None:
        verdict += " (run interrupted: partial results)"
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>codec-conformance {E(str(run.get('id')))}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>codec-conformance report</h1><div class='small'>run {E(str(run.get('id')))} · profile "
           f"{E(str(run.get('profile')))} · seed {E(str(run.get('seed')))} · device {E(str(run.get('device')))} · "
           f"started {E(str(run.get('started')))} · finished {E(str(run.get('finished')))}</div>",
           f"<div class='banner {cls}'>{E(verdict)}</div>"]
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
    out.append("<h2>Verdict per codec × bitrate × suite</h2><table><tr><th>codec</th><th>bitrate (kbps)</th>")
    suites = ["noise", "additivity", "homogeneity", "frequency_response"]
    seen = {r.get("suite") for r in recs}
    suites += sorted(s for s in seen if isinstance(s, str) and s not in suites)  # tokens, plugin suites
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
    out.append(f"<h2>Failing checks ({len(bad)})</h2>")
    if bad:
        out.append("<table><tr><th>codec</th><th>kbps</th><th>suite</th><th>condition</th><th>metric</th>"
                   "<th>value</th><th>oracle</th><th>delta</th><th>threshold</th><th>counterexample</th><th>test</th></tr>")
        for r in bad:
            th = r.get("threshold") or {}
            cond = _cond(r["condition"])
            ce = r.get("counterexample")
            base = r.get("baseline")
            thtxt = limit_text(th) if th else ""  # plain text: the cell is escaped below
            if base and not base.get("passed"):
                bv, tv = base.get("value"), base.get("tolerance")  # plain text: the cell is escaped below
                tol = f" ± {float(tv):.3g}" if is_number(tv) else ""
                val = f"{float(bv):.4g}" if is_number(bv) else "—"
                thtxt += f"; baseline {val}{tol} {base.get('status', 'REGRESSED')}"
            if r.get("failure"):
                thtxt += f"; {r['failure']}"
            out.append(f"<tr><td>{E(r['codec'])}</td><td>{_g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
                       f"<td>{E(cond)}</td><td>{E(r['metric'])}</td><td>{_fmt(r['value'])}</td>"
                       f"<td>{_fmt(r['oracle'])}</td><td>{_fmt(r['delta'])}</td><td>{E(thtxt)}<br>"
                       f"<span class='small'>{E(str(th.get('source', '')))}</span></td>"
                       f"<td><code>{E(json.dumps(ce)) if ce else ''}</code></td><td class='small'>{E(r['test_id'])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>None.</p>")
    errors = run.get("errors") or []
    if errors:
        out.append(f"<h2>Test errors ({len(errors)})</h2><table><tr><th>test</th><th>message</th></tr>")
        for e in errors:
            out.append(f"<tr><td class='small'>{E(e['test_id'])}</td><td><pre>{E(e['message'])}</pre></td></tr>")
        out.append("</table>")
    # figures
    out.append("<h2>Figure 1 — noise robustness (codec vs oracle)</h2>" + _figure(fig1, doc))
    out.append("<h2>Figure 2 — linearity</h2>" + _figure(fig2, doc))
    out.append("<h2>Figure 3 — frequency response</h2>" + _figure(fig3, doc))
    if any(r.get("suite") == "tokens" for r in recs):
        out.append("<h2>Token robustness — agreement of the codes per RVQ level</h2>" + _figure(fig_tokens, doc))
    # worst-case audio
    clips = [r for r in recs if isinstance(r.get("audio"), dict)]
    if clips:
        worst = {}
        for r in clips:
            k = (r["codec"], r["bitrate_kbps"])
            if is_number(r.get("delta")) and (k not in worst or r["delta"] > worst[k]["delta"]):
                worst[k] = r
        out.append("<h2>Listen: worst case per codec and bitrate (largest Mel-distance increase)</h2><table>"
                   "<tr><th>codec</th><th>condition</th><th>item</th><th>clean</th><th>noisy (input)</th><th>coded</th></tr>")
        for (codec, br), r in sorted(worst.items(), key=lambda kv: _by_number(kv[0])):
            a = r["audio"]
            cond = _cond(r["condition"])
            out.append(f"<tr><td>{E(codec)} {_g(br)} kbps</td><td>{E(cond)}</td><td>{E(str(a.get('item')))}</td>"
                       f"<td>{_audio_tag(run_dir, a.get('clean'))}</td><td>{_audio_tag(run_dir, a.get('noisy'))}</td>"
                       f"<td>{_audio_tag(run_dir, a.get('coded'))}</td></tr>")
        out.append("</table>")
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
    # all records
    out.append(f"<h2>All measurements ({len(recs)})</h2><table><tr><th>codec</th><th>kbps</th><th>suite</th>"
               "<th>condition</th><th>metric</th><th>value</th><th>oracle</th><th>delta</th><th>unit</th><th>passed</th>"
               "<th>items (undefined)</th></tr>")
    for r in recs:
        cond = _cond(r["condition"])
        p = r.get("passed")
        cl, txt = ("ok", "pass") if p is True else ("bad", "FAIL") if p is False else ("na", "not gated")
        und = r.get("n_undefined") or 0
        why = r.get("undefined_reasons") or {}
        out.append(f"<tr><td>{E(r['codec'])}</td><td>{_g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
                   f"<td>{E(cond)}</td><td>{E(r['metric'])}{' (stand-in)' if r.get('stand_in') else ''}</td>"
                   f"<td>{_fmt(r['value'])}</td><td>{_fmt(r['oracle'])}</td><td>{_fmt(r['delta'])}</td>"
                   f"<td>{E(unit(doc, r['metric']) or str(r.get('unit') or ''))}</td><td class='{cl}'>{txt}</td><td title='{E(json.dumps(why))}'>{_int(r['n_items'])}"
                   f"{f' ({_int(und)})' if und else ''}</td></tr>")
    out.append("</table>")
    # provenance
    out.append("<h2>Provenance</h2><table><tr><th>codec</th><th>sample rate</th><th>bitrates (kbps)</th>"
               "<th>weights</th><th>checkpoint</th><th>SHA-256</th><th>device</th><th>precision</th></tr>")
    for c in doc["codecs"]:
        own = f" <span class='small'>(calls itself {E(c['reported_name'])})</span>" if c.get("reported_name") else ""
        out.append(f"<tr><td>{E(c['name'])}{own}</td><td>{_int(c.get('sample_rate'))}</td>"
                   f"<td>{', '.join(_g(b) for b in c.get('bitrates_kbps') or [])}</td>"
                   f"<td>{E(str(c.get('weights')))}</td><td>{E(str(c.get('checkpoint')))}</td>"
                   f"<td><code>{E(str(c.get('checkpoint_sha256')))}</code></td><td>{E(str(c.get('device')))}</td>"
                   f"<td>{E(str(c.get('precision', 'native')))}</td></tr>")
    out.append("</table><table><tr><th>evaluator</th><th>model</th><th>stand-in</th><th>description</th></tr>")
    for k, v in sorted(run.get("evaluators", {}).items()):
        out.append(f"<tr><td>{E(k)}</td><td>{E(str(v.get('name')))}</td><td>{'YES' if v.get('stand_in') else 'no'}</td>"
                   f"<td class='small'>{E(str(v.get('description', '')))}</td></tr>")
    out.append("</table>")
    out.append(f"<table><tr><th>versions</th><td>{E(json.dumps(run.get('versions', {})))}</td></tr>"
               f"<tr><th>corpora</th><td class='small'>{E(json.dumps(corp))}</td></tr>"
               f"<tr><th>command</th><td><code>{E(' '.join(map(str, run.get('argv', []))))}</code></td></tr></table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_html(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    doc = load_results(run_dir)
    p = run_dir / "index.html"
    atomic_write_text(p, render(doc, run_dir))  # same permissions as results.json; no temporary left
    return p
