"""The run report's sections, one function each, in page order. Each returns the section's HTML
chunks (none when the run has nothing for it)."""
from __future__ import annotations

import base64
import json
import shlex
from collections import Counter, defaultdict
from pathlib import Path

from ..gate.thresholds import limit_text
from ..results.contract import condition_text, could_not_fail, is_number
from ..results.contract import verdict as run_verdict
from .figures import Figures, fig1, fig2, fig3, fig_implementation, fig_tokens
from .html import NO_CI, E, by_number, fmt, g, head, int_text, table
from .limits import source_of
from .tables import device_text, failing_table, headroom_table, measurements_table, summary_table

WER_NOTE = ("WER is in % of the reference words; it can exceed 100 % because inserted words count as "
            "errors too.")
SUITE_ORDER = ("noise", "additivity", "homogeneity", "frequency_response", "tokens", "implementation")  # plugin suites after


def load_errors(run: dict) -> list[dict]:
    """The run's codec-load errors (``kind: codec_load``), one per codec."""
    seen, out = set(), []
    for e in run.get("errors") or []:
        if isinstance(e, dict) and e.get("kind") == "codec_load" and str(e.get("codec")) not in seen:
            seen.add(str(e.get("codec")))
            out.append(e)
    return out


def command_text(run: dict) -> str:
    """The command of the run as a person would type it (``pytest ...``)."""
    cmd = run.get("command")
    if isinstance(cmd, str) and cmd:
        return cmd
    argv = [str(a) for a in run.get("argv") or []]
    return shlex.join(["pytest", *argv])


def verdict(doc: dict) -> list[str]:
    """Title, the run's line, the verdict banner (naming a codec that could not be loaded)."""
    run = doc["run"]
    status, text = run_verdict(doc)
    cls = {"PASS": "pass", "FAIL": "fail", "ERROR": "error"}.get(status, "meas")
    errs = load_errors(run)
    if errs:  # the banner names the codec(s); the box below says why, once
        text = "ERROR: codec could not be loaded — " + ", ".join(str(e.get("codec")) for e in errs)
    if run.get("finished") is None:
        text += " (run interrupted: partial results)"
    return [head(f"codec-conformance {E(str(run.get('id')))}"),
            f"<h1>codec-conformance report</h1><div class='small'>run {E(str(run.get('id')))} · profile "
            f"{E(str(run.get('profile')))} · seed {E(str(run.get('seed')))} · device {E(str(run.get('device')))} · "
            f"started {E(str(run.get('started')))} · finished {E(str(run.get('finished')))}</div>",
            f"<div class='banner {cls}'>{E(text)}</div>"]


def codec_load_errors(run: dict) -> list[str]:
    """One box per codec that could not be loaded: why, and how many of its tests reported it."""
    out = []
    for e in load_errors(run):
        n = sum(1 for x in run.get("errors") or [] if isinstance(x, dict) and x.get("kind") == "codec_load"
                and x.get("codec") == e.get("codec"))
        skipped = e.get("skipped")
        out.append(f"<div class='danger'>Codec <code>{E(e.get('codec'))}</code> could not be loaded: "
                   f"{E(e.get('message'))}<br><span class='small'>Its tests did not run: "
                   f"{n} test(s) reported the error, the others were skipped"
                   f"{f' ({int_text(skipped)})' if is_number(skipped) else ''}.</span></div>")
    return out


def warnings(doc: dict) -> list[str]:
    """Provenance warnings, impossible to miss: untrained weights, stand-in evaluators, a synthetic
    corpus, unreadable or silent files, WER against the ASR's own transcript."""
    run = doc["run"]
    out = []
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
    return out


def verdict_grid(recs: list[dict]) -> list[str]:
    """Pass/fail counts per codec x bitrate x suite."""
    if not recs:
        return []
    out = ["<h2>Verdict per codec × bitrate × suite</h2><table><tr><th>codec</th><th>bitrate (kbps)</th>"]
    seen = {r.get("suite") for r in recs}
    suites = [s for s in SUITE_ORDER if s in seen]
    suites += sorted(s for s in seen if isinstance(s, str) and s not in suites)  # plugin suites
    out.append("".join(f"<th>{E(s)}</th>" for s in suites) + "</tr>")
    cells: defaultdict = defaultdict(lambda: [0, 0, 0])
    for r in recs:
        k = (r["codec"], r["bitrate_kbps"], r["suite"])
        cells[k][0 if r.get("passed") is True else 1 if r.get("passed") is False else 2] += 1
    for codec, br in sorted({(r["codec"], r["bitrate_kbps"]) for r in recs}, key=by_number):
        out.append(f"<tr><td>{E(codec)}</td><td>{g(br)}</td>")
        for s in suites:
            p, f, m = cells[(codec, br, s)]
            cl = "bad" if f else "ok" if p else "na"
            txt = f"{f} failed / {p + f}" if f else (f"{p} passed" if p else "")
            if m:
                txt += f" ({m} measured)"
            out.append(f"<td class='{cl}'>{E(txt or '—')}</td>")
        out.append("</tr>")
    out.append("</table>")
    return out


def failing(doc: dict) -> list[str]:
    """The failing checks (or "None."), unless the run has no record because its codec failed to load."""
    recs = doc["records"]
    bad = [r for r in recs if r.get("passed") is False]
    if not recs and load_errors(doc["run"]):
        return []
    return [f"<h2>Failing checks ({len(bad)})</h2>", failing_table(doc, bad) if bad else "<p>None.</p>"]


def test_errors(run: dict) -> list[str]:
    """Tests that raised (not a codec that failed to load), grouped by message."""
    errors = [e for e in run.get("errors") or [] if isinstance(e, dict) and e.get("kind") != "codec_load"]
    if not errors:
        return []
    by_msg: dict[str, list] = {}
    for e in errors:
        by_msg.setdefault(str(e.get("message")), []).append(e)
    out = [f"<h2>Test errors ({len(errors)})</h2><table><tr><th>message</th><th>tests</th></tr>"]
    for msg, es in by_msg.items():
        ids = "<br>".join(E(e.get("test_id")) for e in es[:5]) + (f"<br>… {len(es) - 5} more" if len(es) > 5 else "")
        out.append(f"<tr><td><pre style='white-space:pre-wrap'>{E(msg)}</pre></td>"
                   f"<td class='id'>{'<b>×' + str(len(es)) + '</b> ' if len(es) > 1 else ''}{ids}</td></tr>")
    out.append("</table>")
    return out


def summary(doc: dict) -> list[str]:
    return [summary_table(doc)]


def figures(doc: dict, figures_dir: Path | None) -> list[str]:
    """Figures 1-4 (each left out when the run has no data for it)."""
    figs = Figures(doc, figures_dir)
    return [figs.section("noise robustness (codec vs oracle)", "noise", fig1,
                         "Each metric has one y-range over all conditions. Dashed black: the oracle (the degraded, "
                         "uncoded input). Red ticks: the threshold as a bound on the value (oracle + max_delta, or "
                         "the value limit); open diamonds: the baseline. {ci} "
                         f"{WER_NOTE} EER is in % of trials."),
            figs.section("linearity", "linearity", fig2,
                         "Left: median SER of f(x+y) against f(x)+f(y) (higher is more additive). Right: output "
                         "gain vs input gain against the ideal diagonal. " + NO_CI["linearity"]),
            figs.section("frequency response", "frequency-response", fig3,
                         "Exponential sine sweep, deconvolved, 1/6-octave smoothing. The vertical lines are the "
                         "band edges of the checks: low band below 100 Hz, mid band 100 Hz–2 kHz, high band "
                         "2–8 kHz. " + NO_CI["frequency_response"]),
            figs.section("token robustness: agreement of the codes per RVQ level", "tokens", fig_tokens,
                         "Fraction of frames whose code is unchanged (0-1); level 1 bold. " + NO_CI["tokens"]),
            figs.section("implementation: batch, length, chunks, repeated runs", "implementation", fig_implementation,
                         "Each panel one quantity of the implementation suite per condition (batch: N utterances "
                         "as one batch vs each alone; length: a 1-sample, 10 ms, half-frame and odd-length input; "
                         "chunked: chunks of 0.5, 1, 2 s vs the whole; repeat / fresh_process: a second run in this "
                         "process / in a new one). An SER of 120 dB means identical outputs. Red ticks: the limit. "
                         + NO_CI["implementation"])]


def _audio_tag(run_dir: Path, rel: str | None) -> str:
    if not rel:
        return "—"
    p = (run_dir / rel).resolve()
    if run_dir.resolve() not in p.parents or not p.is_file():
        return "<em>missing</em>"
    b64 = base64.b64encode(p.read_bytes()).decode()
    return f'<audio controls preload="none" src="data:audio/flac;base64,{b64}"></audio>'


def listen(recs: list[dict], run_dir: Path) -> list[str]:
    """Worst-case audio: the worst *noisy* condition per codec and bitrate (clean only when no noisy
    clip exists)."""
    worst: dict = {}
    for r in recs:
        if not isinstance(r.get("audio"), dict):
            continue
        k = (r["codec"], r["bitrate_kbps"])
        noisy = (r.get("condition") or {}).get("kind") not in (None, "clean")
        rank = (noisy, float(r["delta"]) if is_number(r.get("delta")) else float("-inf"))
        if k not in worst or rank > worst[k][0]:
            worst[k] = (rank, r)
    if not worst:
        return []
    out = ["<h2>Listen: worst noisy condition per codec and bitrate (largest Mel-distance increase)</h2><table>"
           "<tr><th>codec</th><th>condition</th><th>item</th><th>clean</th><th>noisy (input)</th><th>coded</th></tr>"]
    for (codec, br), (_, r) in sorted(worst.items(), key=lambda kv: by_number(kv[0])):
        a = r["audio"]
        out.append(f"<tr><td>{E(codec)} {g(br)} kbps</td><td>{E(condition_text(r['condition']))}</td>"
                   f"<td>{E(str(a.get('item')))}</td><td>{_audio_tag(run_dir, a.get('clean'))}</td>"
                   f"<td>{_audio_tag(run_dir, a.get('noisy'))}</td><td>{_audio_tag(run_dir, a.get('coded'))}</td></tr>")
    out.append("</table>")
    return out


def headroom(doc: dict) -> list[str]:
    good = [r for r in doc["records"] if r.get("passed") is True]
    return [headroom_table(doc, good)] if good else []


def could_not_fail_limits(recs: list[dict]) -> list[str]:
    """Limits that no value could cross at the record's oracle: neither passes nor failures."""
    idle = [r for r in recs if could_not_fail(r)]
    if not idle:
        return []
    rows = [f"<tr><td>{E(r['codec'])}</td><td class='num'>{g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
            f"<td>{E(condition_text(r['condition']))}</td><td>{E(r['metric'])}</td><td>{E(limit_text(r['threshold']))}</td>"
            f"<td>{E(could_not_fail(r))}</td></tr>" for r in idle]
    return [f"<h2>Limits that could not fail ({len(idle)}), not counted</h2><p class='small'>At these records' "
            "oracle no value of the metric can cross the limit (the degraded input already scores at the "
            "metric's bound), so they are neither passes nor failures.</p>"
            + table("idle", ["codec", "kbps", "suite", "condition", "metric", "limit", "why"], rows, False)]


def measurements(doc: dict) -> list[str]:
    return [measurements_table(doc, doc["records"])] if doc["records"] else []


def durations(run: dict) -> list[str]:
    """Seconds per test (slowest first, folded) and per stage of work."""
    out = []
    durs = run.get("durations")
    if isinstance(durs, dict) and durs:
        items = sorted(((k, v) for k, v in durs.items() if is_number(v)), key=lambda kv: -float(kv[1]))
        total = sum(float(v) for _, v in items)
        rows = [f"<tr><td class='id'>{E(k)}</td><td class='num' data-v='{float(v)!r}'>{float(v):.2f}</td></tr>"
                for k, v in items]
        out.append(f"<h2>Test durations</h2><details><summary>{len(items)} tests, {total:.1f} s in all; slowest: "
                   f"{E(items[0][0])} ({float(items[0][1]):.1f} s)</summary>"
                   + table("durations", ["test", "seconds"], rows) + "</details>")
    stages = (run.get("timing") or {}).get("stages") if isinstance(run.get("timing"), dict) else None
    if isinstance(stages, dict) and stages:
        out.append("<table><tr><th>stage</th><th>seconds</th></tr>" + "".join(
            f"<tr><td>{E(k)}</td><td class='num'>{fmt(v)}</td></tr>" for k, v in stages.items()) + "</table>")
    return out


def catalogue(doc: dict) -> list[str]:
    """What each metric and condition kind is (results.json's ``metrics`` and ``conditions``)."""
    out = []
    mets = doc.get("metrics") or {}
    run = doc.get("run")
    evaluators = run.get("evaluators") if isinstance(run, dict) else None
    evaluators = evaluators if isinstance(evaluators, dict) else {}
    if mets:
        out.append("<h2>Metrics</h2><table><tr><th>metric</th><th>label</th><th>unit</th><th>better</th>"
                   "<th>smallest meaningful difference</th><th>gated</th><th>stand-in</th></tr>")
        for k, m in sorted(mets.items()):
            m = m if isinstance(m, dict) else {}
            # the evaluator this run used where it has one (--codec-evaluators paper, an explicit
            # model), else the metric's declared default: the two tables never disagree
            ev = evaluators.get(k)
            ev_stand_in = ev.get("stand_in") if isinstance(ev, dict) else None
            stand_in = ev_stand_in if isinstance(ev_stand_in, bool) else m.get("stand_in")
            out.append(f"<tr><td><code>{E(k)}</code></td><td>{E(str(m.get('label', '')))}</td>"
                       f"<td>{E(str(m.get('unit', '')))}</td><td>{E(str(m.get('direction', '')))}</td>"
                       f"<td>{fmt(m.get('min_meaningful_difference'))}</td>"
                       f"<td>{'yes' if m.get('gated', True) else 'no (recorded)'}</td>"
                       f"<td>{'YES' if stand_in else 'no'}</td></tr>")
        out.append("</table>")
    conds = doc.get("conditions") or {}
    if conds:
        out.append("<table><tr><th>condition</th><th>label</th><th>axis</th></tr>")
        for k, c in sorted(conds.items()):
            c = c if isinstance(c, dict) else {}
            out.append(f"<tr><td><code>{E(k)}</code></td><td>{E(str(c.get('label', '')))}</td>"
                       f"<td>{E(str(c.get('axis_label') or ''))}</td></tr>")
        out.append("</table>")
    return out


def provenance(doc: dict) -> list[str]:
    """Codecs (weights, licence, checkpoint, hash, device, precision) and evaluators."""
    out = ["<h2>Provenance</h2><table><tr><th>codec</th><th>sample rate (Hz)</th><th>bitrates (kbps)</th>"
           "<th>weights</th><th>licence</th><th>checkpoint</th><th>SHA-256</th><th>device</th><th>precision</th></tr>"]
    for c in doc["codecs"]:
        own = f" <span class='small'>(calls itself {E(c['reported_name'])})</span>" if c.get("reported_name") else ""
        prec = c.get("precision")
        out.append(f"<tr><td>{E(c['name'])}{own}</td><td>{int_text(c.get('sample_rate'))}</td>"
                   f"<td>{', '.join(g(b) for b in c.get('bitrates_kbps') or [])}</td>"
                   f"<td>{E(str(c.get('weights') or '— (no weights)'))}</td><td>{E(str(c.get('licence') or '—'))}</td>"
                   f"<td>{E(str(c.get('checkpoint') or '—'))}</td>"
                   f"<td><code>{E(str(c.get('checkpoint_sha256') or '—'))}</code></td><td>{E(str(c.get('device')))}</td>"
                   f"<td>{E(str(prec)) if prec else '<span class=na>n/a (not a neural codec)</span>'}</td></tr>")
    out.append("</table>")
    devices = Counter(d for r in doc["records"] if (d := device_text(r)))
    if devices:  # where the records were computed (results contract: a record's device)
        out.append("<table><tr><th>device (codec / evaluator)</th><th>records</th></tr>" + "".join(
            f"<tr><td>{E(d)}</td><td class='num'>{n}</td></tr>" for d, n in sorted(devices.items())) + "</table>")
    out.append("<table><tr><th>evaluator</th><th>model</th><th>stand-in</th><th>description</th></tr>")
    for k, v in sorted(doc["run"].get("evaluators", {}).items()):
        out.append(f"<tr><td>{E(k)}</td><td>{E(str(v.get('name')))}</td><td>{'YES' if v.get('stand_in') else 'no'}</td>"
                   f"<td class='small'>{E(str(v.get('description', '')))}</td></tr>")
    out.append("</table>")
    return out


def run_settings(doc: dict) -> list[str]:
    """The command, the thresholds files used, the baseline, the corpora, package versions."""
    run = doc["run"]
    sources = sorted({source_of(r["threshold"])[0] for r in doc["records"]
                      if isinstance(r.get("threshold"), dict)} - {""})
    vers = run.get("versions") if isinstance(run.get("versions"), dict) else {}
    return ["<table>"
            f"<tr><th>command</th><td><code>{E(command_text(run))}</code></td></tr>"
            f"<tr><th>thresholds file(s) used</th><td>{'<br>'.join('<code>' + E(s) + '</code>' for s in sources) or 'none'}</td></tr>"
            f"<tr><th>baseline</th><td>{E(str((run.get('settings') or {}).get('baseline') or 'none'))}</td></tr>"
            f"<tr><th>corpora</th><td class='small'>{E(json.dumps(run.get('corpora', {})))}</td></tr></table>",
            "<table><tr><th>package</th><th>version</th></tr>" + "".join(
                f"<tr><td>{E(k)}</td><td>{E(v)}</td></tr>" for k, v in sorted(vers.items(), key=lambda kv: str(kv[0])))
            + "</table>"]
