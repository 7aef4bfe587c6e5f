"""The report's record tables: failing checks, the worst delta per metric, the headroom of the
passing checks, every measurement. Labels and units come from the results file (``declared``)."""
from __future__ import annotations

import json
from pathlib import Path

from ..gate.baseline import record_change, rule_text
from ..gate.thresholds import limit_text
from ..results.contract import condition_text, could_not_fail, direction_of, is_number, worsening
from .declared import column_order, label_of, unit_of
from .html import CI_NOTE, E, bare, by_number, ci_of, display, g, int_text, num, num_ci, table, td_num
from .limits import excess, excess_ci, source_of


def _source_cell(th: dict) -> str:
    f, k = source_of(th) if th else ("", "")
    return (f"<td title='{E(f)}'><code>{E(Path(f).name) if f else '—'}</code>"
            f"{'<br><span class=small>[' + E(k) + ']</span>' if k else ''}</td>")


def _baseline_cell(r: dict, unit: str) -> str:
    """Why a baseline check passed or failed, compact (it sits early in the row, visible at 1,400
    px): base → now, the change new − base with its interval, the status and the rule applied."""
    b = r.get("baseline") if isinstance(r.get("baseline"), dict) else None
    if not b:
        return "<td class='na'>no baseline</td>"
    ch = record_change(r)
    reg = worsening(direction_of(r), float(b["value"]), float(r["value"])) if ch is not None else None
    cci = ci_of(b, "change_ci")
    status = b.get("status", "ok" if b.get("passed") else "REGRESSED")
    change = (f"<br>change {num(ch, unit, sign=True)}"
              + (f" [{bare(cci[0], unit, sign=True)}, {bare(cci[1], unit, sign=True)}]" if cci else "")
              + (f" ({num(reg, unit, sign=True)} worse)" if reg is not None and reg > 0 else "")) if ch is not None else ""
    dv = f" data-v='{ch * display(unit)[0]!r}'" if ch is not None else ""
    return (f"<td class='base'{dv}>{num(b.get('value'), unit)} → {num(r.get('value'), unit)} "
            f"<b>{E(status)}</b>{change}<br><span class='small'>{E(rule_text(b))}</span></td>")


def _ids_cell(g_: list[dict]) -> str:
    """The test ids of identical rows (five, then how many more), with their count."""
    ids = "<br>".join(E(x.get("test_id")) for x in g_[:5]) + (f"<br>… {len(g_) - 5} more" if len(g_) > 5 else "")
    return f"<td class='id'>{'<b>×' + str(len(g_)) + '</b> ' if len(g_) > 1 else ''}{ids}</td>"


def _failing_row(doc: dict, g_: list[dict], has_base: bool, has_ce: bool) -> str:
    r = g_[0]
    unit = unit_of(r, doc)
    th: dict = r["threshold"] if isinstance(r.get("threshold"), dict) else {}
    ex = excess(r)
    worse = num_ci(ex, excess_ci(r), unit) if ex is not None else "—"
    if ex is not None and unit and display(unit)[1] != "%":  # (an interval already ends its line)
        worse += f"{'' if worse.endswith('</span>') else '<br>'}<span class='small'>{E(unit)}</span>"
    why = E(r.get("failure")) if r.get("failure") else ""
    cells = [f"<td>{E(r['codec'])}</td>", f"<td class='num'>{g(r['bitrate_kbps'])}</td>", f"<td>{E(r['suite'])}</td>",
             f"<td>{E(condition_text(r['condition']))}</td>",
             f"<td>{E(label_of(r['metric'], doc))}<br><span class='small'>{E(r['metric'])}"
             f"{' · unit ' + E(display(unit)[1]) if unit else ''}</span></td>",
             *([_baseline_cell(r, unit)] if has_base else []),
             td_num(r.get("value"), unit, ci=ci_of(r, "value_ci95")),
             td_num(r.get("oracle"), unit, ci=ci_of(r, "oracle_ci95")),
             td_num(r.get("delta"), unit, sign=True, ci=ci_of(r, "delta_ci95")),
             f"<td>{E(limit_text(th)) if th else '—'}</td>",
             f"<td class='num bad' data-v='{(ex or 0) * display(unit)[0]!r}'><b>{worse}</b>{'<br>' + why if why else ''}</td>",
             _source_cell(th)]
    if has_ce:
        ce = r.get("counterexample")
        cells.append(f"<td class='ce'><code>{E(json.dumps(ce))}</code></td>" if ce else
                     "<td class='na'>not a property test</td>")
    cells.append(_ids_cell(g_))
    return "<tr>" + "".join(cells) + "</tr>"


def failing_table(doc: dict, bad: list[dict]) -> str:
    """The failed checks, the furthest past its limit first; identical failures (all but the test
    id) once, with their count."""
    has_ce = any(r.get("counterexample") for r in bad)
    has_base = any(isinstance(r.get("baseline"), dict) for r in bad)
    groups: dict[str, list] = {}
    for r in bad:
        sig = json.dumps({k: v for k, v in r.items() if k not in ("test_id", "examples", "audio", "details")},
                         sort_keys=True, default=str)
        groups.setdefault(sig, []).append(r)
    # the baseline's column early (after the metric), compact: visible at 1,400 px (issue 26)
    header = ["codec", "kbps", "suite", "condition", "metric"]
    header += ["baseline → now, change [interval], rule"] if has_base else []
    header += ["value", "oracle", "delta", "limit", "<b>worse by</b>", "threshold source (file, key)"]
    header += ["counterexample"] if has_ce else []
    header += ["test"]
    ordered = sorted(groups.values(), key=lambda g_: -(excess(g_[0]) or 0.0) * display(unit_of(g_[0], doc))[0])
    rows = [_failing_row(doc, g_, has_base, has_ce) for g_ in ordered]
    return f"<p class='small'>{CI_NOTE}</p>" + table("failing", header, rows)


def _summary_cell(doc: dict, sel: list[dict]) -> str:
    if not sel:
        return "<td class='na'>—</td>"
    worst = max(sel, key=lambda r: worsening(direction_of(r), 0.0, float(r["delta"])))
    unit = unit_of(worst, doc)
    failed = any(r.get("passed") is False for r in sel)
    cls = "bad" if failed else "ok" if any(r.get("passed") is True for r in sel) else "na"
    dci = ci_of(worst, "delta_ci95")  # an interval ends its own line
    return (f"<td class='num {cls}' data-v='{float(worst['delta']) * display(unit)[0]!r}' "
            f"title='{E(condition_text(worst['condition']))}'>"
            f"{num_ci(worst['delta'], dci, unit, sign=True)}"
            f"{'' if dci else '<br>'}<span class='small'>{E(worst['condition'].get('kind'))}</span></td>")


def summary_table(doc: dict) -> str:
    """Codec x metric: the worst delta of each metric over the noise conditions (Fig. 1's metrics
    first, in its order)."""
    recs = [r for r in doc["records"] if r.get("suite") == "noise" and is_number(r.get("delta"))]
    if not recs:
        return ""
    metrics = sorted({r["metric"] for r in recs}, key=lambda m: column_order(m, doc))
    points = sorted({(r["codec"], r["bitrate_kbps"]) for r in recs}, key=by_number)
    rows = []
    for p in points:
        cells = [f"<td>{E(p[0])}</td><td class='num'>{g(p[1])}</td>"]
        for m in metrics:
            cells.append(_summary_cell(doc, [r for r in recs if (r["codec"], r["bitrate_kbps"]) == p
                                             and r["metric"] == m]))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = ["codec", "kbps"] + [f"{E(label_of(m, doc))} Δ<br><span class='small'>"
                                f"{E(display(unit_of({'metric': m}, doc))[1])}</span>" for m in metrics]
    return ("<h2>Summary: worst Δ (codec − oracle) per metric over the noise conditions</h2>"
            "<p class='small'>Worst in each metric's own direction; the cell names the condition; red where a "
            f"check of that metric failed. {CI_NOTE}</p>" + table("summary", head, rows, filterable=False))


def headroom_table(doc: dict, good: list[dict]) -> str:
    """How far each passing check is from its limit, the closest to failing first."""
    rows = []
    for r in sorted(good, key=lambda r: (excess(r) is None, -(excess(r) or 0.0))):
        unit = unit_of(r, doc)
        ex, eci = excess(r), excess_ci(r)  # headroom = -excess
        th = r.get("threshold") if isinstance(r.get("threshold"), dict) else {}
        f, k = source_of(th) if th else ("", "")
        rows.append(f"<tr><td>{E(r['codec'])}</td><td class='num'>{g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
                    f"<td>{E(condition_text(r['condition']))}</td><td>{E(r['metric'])}</td>"
                    f"{td_num(r.get('value'), unit, ci=ci_of(r, 'value_ci95'))}"
                    f"{td_num(r.get('delta'), unit, sign=True, ci=ci_of(r, 'delta_ci95'))}"
                    f"<td>{E(limit_text(th)) if th else 'baseline only'}</td>"
                    + (td_num(-ex, unit, ci=(-eci[1], -eci[0]) if eci else None) if ex is not None
                       else "<td class='na'>—</td>")
                    + f"<td class='small' title='{E(f)}'><code>{E(Path(f).name)}</code> {E(k)}</td></tr>")
    return ("<h2>Headroom of the passing checks</h2><p class='small'>How far each passing check is from its limit, in "
            f"the metric's unit (smallest first: the checks closest to failing). {CI_NOTE}</p>"
            + table("headroom", ["codec", "kbps", "suite", "condition", "metric", "value", "delta", "limit",
                                 "headroom", "threshold source"], rows))


def device_text(r: dict) -> str | None:
    """Where a record was computed, ``codec / evaluator`` (``cpu / cuda:0``; ``—`` for a quantity
    computed without one), or None (a file before records carried ``device``)."""
    d = r.get("device")
    if not isinstance(d, dict) or not (d.get("codec") or d.get("evaluator")):
        return None
    return " / ".join(str(d.get(k)) if d.get(k) else "—" for k in ("codec", "evaluator"))


def _measurement_row(doc: dict, r: dict, has_dev: bool = False) -> str:
    unit = unit_of(r, doc)
    p = r.get("passed")
    cl, txt = ("ok", "pass") if p is True else ("bad", "FAIL") if p is False else \
        ("na", "could not fail") if could_not_fail(r) else ("na", "not gated")
    und = r.get("n_undefined") or 0
    why = r.get("undefined_reasons") or {}
    return (f"<tr><td>{E(r['codec'])}</td><td class='num'>{g(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
            f"<td>{E(condition_text(r['condition']))}</td><td>{E(r['metric'])}{' (stand-in)' if r.get('stand_in') else ''}</td>"
            f"<td>{E(display(unit)[1])}</td>{td_num(r['value'], unit, ci=ci_of(r, 'value_ci95'))}"
            f"{td_num(r['oracle'], unit, ci=ci_of(r, 'oracle_ci95'))}"
            f"{td_num(r['delta'], unit, sign=True, ci=ci_of(r, 'delta_ci95'))}"
            f"<td class='{cl}'>{txt}</td><td title='{E(json.dumps(why))}'>{int_text(r['n_items'])}"
            f"{f' ({int_text(und)})' if und else ''}</td>"
            + (f"<td class='small'>{E(device_text(r) or '—')}</td>" if has_dev else "") + "</tr>")


def measurements_table(doc: dict, recs: list[dict]) -> str:
    """Every record; where any record says where it was computed, a device column (codec /
    evaluator)."""
    has_dev = any(device_text(r) for r in recs)
    rows = [_measurement_row(doc, r, has_dev) for r in recs]
    return (f"<h2>All measurements ({len(recs)})</h2><p class='small'>{CI_NOTE}</p>" + table(
        "records", ["codec", "kbps", "suite", "condition", "metric", "unit", "value", "oracle", "delta",
                    "passed", "items (undefined)"] + (["device (codec / evaluator)"] if has_dev else []), rows))
