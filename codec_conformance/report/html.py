"""The page's building blocks: escaping, number formatting, tables, CSS and the sort/filter script.

Every value that reaches the HTML is escaped (``E`` takes anything) or formatted from a checked
number (``fmt``, ``g``, ``int_text``, ``num``), whatever type the file declares: a crafted
results.json cannot inject markup.
"""
from __future__ import annotations

import html
from typing import Any

from ..results.contract import is_number

# what a whisker / a bracketed interval is (records' ``*_ci95`` fields, docs/statistics.md)
CI_WHAT = "95 % bootstrap interval over utterances (speakers for EER)"
CI_LABEL = "95 % bootstrap interval"
CI_NOTE = (f"[lo, hi]: the {CI_WHAT}; a value without brackets has no interval (a worst case, a single "
           "measurement, fewer than two items or speakers, or a file written before intervals).")
# the figures whose records carry no interval say so in their caption (not silently)
NO_CI = {"linearity": "No interval: the SER is a median over generated examples (the gated value their worst "
                      "case), each gain a single measurement.",
         "frequency_response": "No interval: a single sweep measurement.",
         "tokens": "No interval: one measurement per condition (not bootstrapped).",
         "implementation": "No interval: the worst item of one measurement per condition."}


def E(v: Any) -> str:
    """Any value as HTML-escaped text (quotes too: safe in attributes)."""
    return html.escape(str(v), quote=True)


def fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "—"
    if is_number(v):
        x = float(v)
        return f"{x:.{nd}g}" if abs(x) < 1e4 else f"{x:.3e}"
    return E(v)


def g(v: Any) -> str:
    """A number as ``:g`` (bitrates, levels); anything else escaped."""
    return f"{float(v):g}" if is_number(v) else E(v)


def int_text(v: Any) -> str:
    return str(int(v)) if is_number(v) and float(v) == int(v) else fmt(v)


def display(unit: str) -> tuple[float, str]:
    """(factor, unit shown): fractions are shown in % (WER 0.12 -> 12 %)."""
    if unit == "fraction":
        return 100.0, "%"
    return 1.0, unit


def num(v: Any, unit: str = "", nd: int = 3, sign: bool = False) -> str:
    """A number in its display unit (fractions as %), or a dash."""
    if not is_number(v):
        return "—" if v is None else E(v)
    f, shown = display(unit)
    x = float(v) * f
    txt = (f"{x:+.{nd}g}" if sign else f"{x:.{nd}g}") if abs(x) < 1e4 else f"{x:.3e}"
    return txt + (" %" if shown == "%" else "")


def bare(v: float, unit: str = "", nd: int = 3, sign: bool = False) -> str:
    """A number in its display unit without the unit (the bounds of an interval)."""
    return num(v, unit, nd, sign).removesuffix(" %")


def ci_of(r: dict | None, key: str) -> tuple[float, float] | None:
    """A record's (or compare row's) interval ``[lo, hi]`` (issue 14's ``*_ci95`` fields), or None."""
    v = (r or {}).get(key)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(is_number(x) for x in v):
        return float(v[0]), float(v[1])
    return None


def num_ci(v: Any, ci: tuple[float, float] | None, unit: str = "", sign: bool = False) -> str:
    """A value and its 95 % interval, the one form of every table: ``0.117 [0.068, 0.172]``
    (``11.7 % [6.8, 17.2]`` in %); the value alone when it has no interval."""
    txt = num(v, unit, sign=sign)
    if ci is None or not is_number(v):
        return txt
    return f"{txt} <span class='ci'>[{bare(ci[0], unit, sign=sign)}, {bare(ci[1], unit, sign=sign)}]</span>"


def by_number(t: tuple) -> tuple:
    """Sort key of (codec, bitrate) pairs that never compares a number with a string."""
    return tuple((0, float(x), "") if is_number(x) else (1, 0.0, str(x)) for x in t)


def table(tid: str, header: list[str], rows: list[str], filterable: bool = True) -> str:
    """A sortable table (``header``: HTML), with a filter box when it has more than five rows."""
    filt = (f"<input class='filter' data-table='{tid}' placeholder='filter rows (any text)…' "
            f"aria-label='filter {tid}'>") if filterable and len(rows) > 5 else ""
    return (f"{filt}<table id='{tid}' class='sortable'><tbody><tr>{''.join(f'<th>{h}</th>' for h in header)}</tr>"
            + "".join(rows) + "</tbody></table>")


def td_num(v: Any, unit: str = "", sign: bool = False, cls: str = "num",
           ci: tuple[float, float] | None = None) -> str:
    """A table cell of a number (with its 95 % interval ``ci`` when given); it sorts by the number."""
    dv = f" data-v='{float(v) * display(unit)[0]!r}'" if is_number(v) else ""
    return f"<td class='{cls}'{dv}>{num_ci(v, ci, unit, sign=sign)}</td>"


def head(title: str) -> str:
    """The page's start: doctype, title, the style sheet."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>\n"
            f"<style>{CSS}</style></head><body>")


def tail() -> str:
    """The page's end: the sort/filter script."""
    return f"<script>{JS}</script></body></html>"


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
td.base{min-width:150px;max-width:230px;font-size:12px;overflow-wrap:anywhere}
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
