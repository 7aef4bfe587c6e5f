"""``codec-conformance compare BASE NEW --html OUT.html``: the checkpoint-vs-checkpoint page.

Regressions first, every row with its status (gate/baseline.py's vocabulary: REGRESSED,
improved, not significant, negligible, ...), both values, the change and its interval (the
baseline test's own ``change_ci`` where there was a test, with its p-value; else a conservative
interval from the two records' ``value_ci95``), the quantity's minimal meaningful difference, then the figures of both runs drawn on the same axes (BASE and NEW as
separate series, so a shift is read directly). One self-contained file, as the run report.
"""
from __future__ import annotations

import copy
from pathlib import Path

from .contract import is_number, record_key
from .run_folder import atomic_write_text
from .report import (CI_NOTE, CSS, JS, NO_CI, E, Figures, _cond, _num, _table, _td_num, display, fig1, fig2, fig3,
                     label_of, unit_of)


def _ci(r, key):
    v = (r or {}).get(key)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(is_number(x) for x in v):
        return float(v[0]), float(v[1])
    return None


def change_interval(row: dict, base: dict | None, new: dict | None):
    """(lo, hi) of new - base, or None: the baseline test's interval where there was a test, else
    (conservative) the difference of the two 95 % intervals' ends (wider than a paired interval)."""
    own = _ci(row, "change_ci")
    if own:
        return own
    b, n = _ci(base, "value_ci95"), _ci(new, "value_ci95")
    if b and n:
        return n[0] - b[1], n[1] - b[0]
    return None


def _tagged(doc: dict, tag: str) -> dict:
    d = copy.deepcopy(doc)
    for r in d["records"]:
        r["codec"] = f"{r['codec']} ({tag})"
    for c in d["curves"]:
        c["codec"] = f"{c['codec']} ({tag})"
    return d


def render_compare(base_doc: dict, new_doc: dict, cmp, base_name: str, new_name: str,
                   figures_dir: Path | None = None) -> str:
    from ..cli import RULE, ordered_rows, p_text
    from ..gate.baseline import BAD, IMPROVED
    base_by = {record_key(r): r for r in base_doc["records"]}
    new_by = {record_key(r): r for r in new_doc["records"]}
    rows = ordered_rows(cmp.rows)
    n_bad = len(cmp.regressions)
    cls = "fail" if n_bad else "pass"
    verdict = (f"{n_bad} of {len(rows)} comparable records regressed or became undefined/missing"
               if n_bad else f"no regression in {len(rows)} comparable records")
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>codec-conformance compare</title>",
           f"<style>{CSS}</style></head><body><h1>codec-conformance: checkpoint comparison</h1>",
           f"<div class='small'>BASE <code>{E(base_name)}</code> (run {E(base_doc['run'].get('id'))}) · NEW "
           f"<code>{E(new_name)}</code> (run {E(new_doc['run'].get('id'))}) · {E(RULE)}</div>", f"<div class='banner {cls}'>{E(verdict)}</div>"]
    for tag, d in (("BASE", base_doc), ("NEW", new_doc)):
        for c in d.get("codecs") or []:
            if c.get("weights") == "random-init":
                out.append(f"<div class='danger'>{tag}: codec {E(c.get('name'))} has random-init weights — a pipeline "
                           "check, not a checkpoint.</div>")
    body = []
    for r in rows:
        base, new = base_by.get(r["key"]), new_by.get(r["key"])
        ref = new or base or {}
        unit = unit_of(ref)
        ci = change_interval(r, base, new)
        bad = r["status"] in BAD
        ch = r.get("change")
        level = "" if r.get("change_ci_confidence") is None else \
            f"<br><span class='small'>{100 * r['change_ci_confidence']:.3g} % interval</span>"
        body.append(
            f"<tr><td class='{'bad' if bad else 'ok' if r['status'] == IMPROVED else 'na'}'>{E(r['status'])}</td>"
            f"<td>{E(r['codec'])}</td><td class='num'>{_num(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
            f"<td>{E(_cond(r['condition']))}</td><td>{E(label_of(r['metric']))}</td><td>{E(display(unit)[1])}</td>"
            f"{_td_num(r['base'], unit, ci=_ci(base, 'value_ci95'))}{_td_num(r['new'], unit, ci=_ci(new, 'value_ci95'))}"
            f"{_td_num(ch, unit, sign=True, ci=ci).removesuffix('</td>')}{level}</td>"
            f"<td class='num'>{E(p_text(r))}</td><td class='num'>{_num(r.get('min_meaningful_difference'), unit)}</td></tr>")
    out.append(f"<h2>Records, regressions first ({len(rows)})</h2>"
               "<p class='small'>change = NEW − BASE in the metric's unit; its interval is the baseline test's "
               "(the two one-sided 1 − α bounds; paired over shared items, of codec − oracle where both runs "
               "carry the oracle) where there was a test, else a conservative one from the two runs' 95 % "
               "intervals; p: the test's one-sided p-value of the observed direction, against α = 0.05 / the "
               "records of its codec and bitrate. Statuses: REGRESSED / improved — at least the minimal "
               "meaningful difference (min. diff.) and, where there is a test, significant; not significant — "
               "the interval holds 0; negligible — smaller than min. diff. "
               f"{CI_NOTE}</p>"
               + _table("compare", ["status", "codec", "kbps", "suite", "condition", "metric", "unit", "BASE", "NEW",
                                    "change", "p", "min. diff."], body))
    both = {"schema": base_doc.get("schema"), "run": dict(new_doc["run"]), "codecs": [],
            "records": _tagged(base_doc, "BASE")["records"] + _tagged(new_doc, "NEW")["records"],
            "curves": _tagged(base_doc, "BASE")["curves"] + _tagged(new_doc, "NEW")["curves"]}
    figs = Figures(both, figures_dir)
    out.append(figs.section("noise robustness, BASE and NEW on the same axes", "compare-noise", fig1,
                            "Each run is its own series (codec (BASE), codec (NEW)); the oracle is the uncoded input. {ci}"))
    out.append(figs.section("linearity, BASE and NEW", "compare-linearity", fig2, NO_CI["linearity"]))
    out.append(figs.section("frequency response, BASE and NEW", "compare-frequency-response", fig3, NO_CI["frequency_response"]))
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out)


def write_compare_html(base_doc, new_doc, cmp, base_name, new_name, out_path) -> Path:
    p = Path(out_path)
    html = render_compare(base_doc, new_doc, cmp, str(base_name), str(new_name),
                          figures_dir=p.parent / f"{p.stem}-figures")
    atomic_write_text(p, html)
    return p
