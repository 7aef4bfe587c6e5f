"""``codec-conformance compare BASE NEW --html OUT.html``: the checkpoint-vs-checkpoint page.

Regressions first, every row with its status (gate/baseline.py's vocabulary: REGRESSED,
improved, not significant, negligible, ...), both values, the change and its interval (the
baseline test's own ``change_ci`` where there was a test, with its p-value; else a conservative
interval from the two records' ``value_ci95``), the quantity's minimal meaningful difference, then
the figures of both runs drawn on the same axes (BASE and NEW as separate series, so a shift is
read directly). Labels and units are the compared files' own (their ``metrics`` blocks, NEW's
entry winning), as in the run report. One self-contained file, as the run report.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..gate.baseline import BAD, RULE, Comparison, Status, ordered_rows, p_text
from ..results.contract import condition_text, record_key
from ..results.run_folder import atomic_write_text
from .declared import label_of, metrics_block, unit_of
from .figures import Figures, fig1, fig2, fig3
from .html import CI_NOTE, NO_CI, E, ci_of, display, head, num, table, tail, td_num

HEADER = ["status", "codec", "kbps", "suite", "condition", "metric", "unit", "BASE", "NEW", "change", "p",
          "min. diff."]
EXPLAINED = ("<p class='small'>change = NEW − BASE in the metric's unit; its interval is the baseline test's "
             "(the two one-sided 1 − α bounds; paired over shared items, of codec − oracle where both runs "
             "carry the oracle) where there was a test, else a conservative one from the two runs' 95 % "
             "intervals; p: the test's one-sided p-value of the observed direction, against α = 0.05 / the "
             "records of its codec and bitrate. Statuses: REGRESSED / improved — at least the minimal "
             "meaningful difference (min. diff.) and, where there is a test, significant; not significant — "
             "the interval holds 0; negligible — smaller than min. diff. "
             f"{CI_NOTE}</p>")


def change_interval(row: dict, base: dict | None, new: dict | None) -> tuple[float, float] | None:
    """(lo, hi) of new - base, or None: the baseline test's interval where there was a test, else
    (conservative) the difference of the two 95 % intervals' ends (wider than a paired interval)."""
    own = ci_of(row, "change_ci")
    if own:
        return own
    b, n = ci_of(base, "value_ci95"), ci_of(new, "value_ci95")
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


def _banner(base_doc: dict, new_doc: dict, rows: list[dict], n_bad: int, base_name: str, new_name: str) -> list[str]:
    cls = "fail" if n_bad else "pass"
    verdict = (f"{n_bad} of {len(rows)} comparable records regressed or became undefined/missing"
               if n_bad else f"no regression in {len(rows)} comparable records")
    out = [head("codec-conformance compare") + "<h1>codec-conformance: checkpoint comparison</h1>",
           f"<div class='small'>BASE <code>{E(base_name)}</code> (run {E(base_doc['run'].get('id'))}) · NEW "
           f"<code>{E(new_name)}</code> (run {E(new_doc['run'].get('id'))}) · {E(RULE)}</div>",
           f"<div class='banner {cls}'>{E(verdict)}</div>"]
    for tag, d in (("BASE", base_doc), ("NEW", new_doc)):
        for c in d.get("codecs") or []:
            if c.get("weights") == "random-init":
                out.append(f"<div class='danger'>{tag}: codec {E(c.get('name'))} has random-init weights — a pipeline "
                           "check, not a checkpoint.</div>")
    return out


def _row(r: dict, base: dict | None, new: dict | None, declared: dict) -> str:
    """One compare row: status, what, both values, the change with its interval, p, min. diff."""
    unit = unit_of(new or base or {}, declared)
    ci = change_interval(r, base, new)
    level = "" if r.get("change_ci_confidence") is None else \
        f"<br><span class='small'>{100 * r['change_ci_confidence']:.3g} % interval</span>"
    cls = "bad" if r["status"] in BAD else "ok" if r["status"] == Status.IMPROVED else "na"
    return (f"<tr><td class='{cls}'>{E(r['status'])}</td>"
            f"<td>{E(r['codec'])}</td><td class='num'>{num(r['bitrate_kbps'])}</td><td>{E(r['suite'])}</td>"
            f"<td>{E(condition_text(r['condition']))}</td><td>{E(label_of(r['metric'], declared))}</td>"
            f"<td>{E(display(unit)[1])}</td>"
            f"{td_num(r['base'], unit, ci=ci_of(base, 'value_ci95'))}{td_num(r['new'], unit, ci=ci_of(new, 'value_ci95'))}"
            f"{td_num(r.get('change'), unit, sign=True, ci=ci).removesuffix('</td>')}{level}</td>"
            f"<td class='num'>{E(p_text(r))}</td><td class='num'>{num(r.get('min_meaningful_difference'), unit)}</td></tr>")


def _figures(base_doc: dict, new_doc: dict, declared: dict, figures_dir: Path | None) -> list[str]:
    """Both runs' figures on the same axes (each run its own series)."""
    both = {"schema": base_doc.get("schema"), "run": dict(new_doc["run"]), "codecs": [],
            "metrics": declared["metrics"], "conditions": declared["conditions"],
            "records": _tagged(base_doc, "BASE")["records"] + _tagged(new_doc, "NEW")["records"],
            "curves": _tagged(base_doc, "BASE")["curves"] + _tagged(new_doc, "NEW")["curves"]}
    figs = Figures(both, figures_dir)
    return [figs.section("noise robustness, BASE and NEW on the same axes", "compare-noise", fig1,
                         "Each run is its own series (codec (BASE), codec (NEW)); the oracle is the uncoded input. {ci}"),
            figs.section("linearity, BASE and NEW", "compare-linearity", fig2, NO_CI["linearity"]),
            figs.section("frequency response, BASE and NEW", "compare-frequency-response", fig3,
                         NO_CI["frequency_response"])]


def render_compare(base_doc: dict, new_doc: dict, cmp: Comparison, base_name: str, new_name: str,
                   figures_dir: Path | None = None) -> str:
    """The compare page of ``cmp`` (gate/baseline.py's comparison of the two documents)."""
    declared: dict[str, Any] = {"metrics": metrics_block(base_doc, new_doc),
                                "conditions": {**(base_doc.get("conditions") or {}),
                                               **(new_doc.get("conditions") or {})}}
    base_by = {record_key(r): r for r in base_doc["records"]}
    new_by = {record_key(r): r for r in new_doc["records"]}
    rows = ordered_rows(cmp.rows)
    body = [_row(r, base_by.get(r["key"]), new_by.get(r["key"]), declared) for r in rows]
    return "\n".join([*_banner(base_doc, new_doc, rows, len(cmp.regressions), base_name, new_name),
                      f"<h2>Records, regressions first ({len(rows)})</h2>" + EXPLAINED + table("compare", HEADER, body),
                      *_figures(base_doc, new_doc, declared, figures_dir), tail()])


def write_compare_html(base_doc: dict, new_doc: dict, cmp: Comparison, base_name: Any, new_name: Any,
                       out_path: str | Path) -> Path:
    p = Path(out_path)
    page = render_compare(base_doc, new_doc, cmp, str(base_name), str(new_name),
                          figures_dir=p.parent / f"{p.stem}-figures")
    atomic_write_text(p, page)
    return p
