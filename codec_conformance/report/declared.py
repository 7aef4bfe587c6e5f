"""What the report knows about a quantity: results.json's top-level ``metrics`` block (which the
run writes from the catalogue: label, unit, direction, ``plot_span``, ``in_figure``,
``figure_order``, ...), and for a file written before a key existed, the catalogue's declaration
of that metric name (:func:`codec_conformance.catalogue.info`). The report holds no table of
metric names: a new metric reaches every table and Fig. 1 through its ``MetricInfo`` alone.
"""
from __future__ import annotations

from typing import Any

from ..catalogue import MetricInfo, info
from ..errors import ConformanceError
from ..results.contract import is_number
from .html import display


def metrics_block(*docs: dict | None) -> dict:
    """The ``metrics`` blocks of results documents, joined (a later document's entry wins)."""
    out: dict = {}
    for d in docs:
        block = d.get("metrics") if isinstance(d, dict) else None
        if isinstance(block, dict):
            out.update(block)
    return out


def _entry(doc: dict | None, metric: Any) -> dict:
    """The metric's entry of the file's ``metrics`` block, or {} (no block, no entry)."""
    m = metrics_block(doc).get(metric) if isinstance(metric, str) else None
    return m if isinstance(m, dict) else {}


def _catalogue(metric: Any) -> MetricInfo | None:
    if not isinstance(metric, str):
        return None
    try:
        return info(metric)
    except ConformanceError:  # a plugin that cannot be loaded must not cost the report
        return None


def declaration(doc: dict | None, metric: Any, key: str) -> Any:
    """``key`` of the metric's declaration: the file's, else (a file written before the key
    existed) the catalogue's; None when neither has it."""
    m = _entry(doc, metric)
    if key in m:
        return m[key]
    return getattr(_catalogue(metric), key, None)


def unit_of(r: dict, doc: dict | None = None) -> str:
    """A record's unit: its own, else its metric's declared one."""
    u = r.get("unit") or declaration(doc, r.get("metric"), "unit")
    return u if isinstance(u, str) else ""


def label_of(metric: Any, doc: dict | None = None) -> str:
    lab = declaration(doc, metric, "label")
    return lab if isinstance(lab, str) and lab else str(metric)


def axis_label(metric: str, unit: str, direction: str | None, doc: dict | None = None, sep: str = " ") -> str:
    _, shown = display(unit)
    arrow = {"higher": " ↑", "lower": " ↓", "two-sided": " (ideal 0)"}.get(direction or "", "")
    return f"{label_of(metric, doc)}{f'{sep}({shown})' if shown else ''}{arrow}"


def plot_span(metric: Any, doc: dict | None = None) -> float | None:
    """The smallest y-span of the metric's axis, in its unit (None: not declared)."""
    v = declaration(doc, metric, "plot_span")
    return float(v) if is_number(v) and float(v) > 0 else None


def in_figure(metric: Any, doc: dict | None = None) -> bool:
    return declaration(doc, metric, "in_figure") is True


def gated(metric: Any, doc: dict | None = None) -> bool:
    return declaration(doc, metric, "gated") is not False


def figure_columns(present: set, doc: dict | None = None) -> list[str]:
    """Fig. 1's columns among the metrics ``present``: the declared ``in_figure`` ones in their
    ``figure_order`` (the undeclared order after, by name); of metrics that share an order, one
    column: the one that is not a stand-in (emotion accuracy over its prosody proxy). Without any,
    every gated metric present (else every one)."""
    def order(m: str) -> tuple:
        o = declaration(doc, m, "figure_order")
        return (0, float(o)) if is_number(o) else (1, 0.0)

    shown = sorted((m for m in present if isinstance(m, str) and in_figure(m, doc)),
                   key=lambda m: (order(m), declaration(doc, m, "stand_in") is True, m))
    cols: list[str] = []
    for m in shown:
        if order(m)[0] == 1 or not cols or order(cols[-1]) != order(m):
            cols.append(m)
    if cols:
        return cols
    names = {m for m in present if isinstance(m, str)}
    return sorted(m for m in names if gated(m, doc)) or sorted(names)


def column_order(metric: str, doc: dict | None = None) -> tuple:
    """Sort key of a metric among the table columns: Fig. 1's columns first, in their order."""
    o = declaration(doc, metric, "figure_order")
    return (0, float(o), metric) if in_figure(metric, doc) and is_number(o) else (1, 0.0, metric)
