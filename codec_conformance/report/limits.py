"""A record against its threshold: how far past (or inside) its limit, the limit as a bound on the
value (for the figures), where the limit came from."""
from __future__ import annotations

from typing import Any

from ..results.contract import direction_of, is_number
from .html import ci_of


def excess(r: dict) -> float | None:
    """How far a gated record is past its threshold, in the metric's unit: > 0 failed by that much,
    <= 0 passed with that much headroom (negated). None when there is no numeric threshold."""
    th = r.get("threshold")
    if not isinstance(th, dict) or not is_number(th.get("limit")):
        return None
    lim, kind, d = float(th["limit"]), th.get("kind"), direction_of(r)
    v: Any = r.get("value")
    dl: Any = r.get("delta")
    if kind == "max_delta":
        if not is_number(dl):
            return None
        return lim - float(dl) if d == "higher" else float(dl) - lim
    if not is_number(v):
        return None
    x = float(v)
    if kind == "min_value":
        return lim - x
    if kind == "max_value":
        return x - lim
    if kind == "range" and is_number(th.get("upper")):
        return max(lim - x, x - float(th["upper"]))
    return None


def excess_ci(r: dict) -> tuple[float, float] | None:
    """The 95 % interval of ``excess`` (how far past / inside its limit), from the record's
    ``delta_ci95`` (max_delta) or ``value_ci95`` (value limits); None for a range threshold or a
    record without one. ``excess`` is monotone in the delta / value, so its bounds are those of
    the interval's ends."""
    th = r.get("threshold")
    if not isinstance(th, dict) or th.get("kind") not in ("max_delta", "min_value", "max_value"):
        return None
    key = "delta" if th["kind"] == "max_delta" else "value"
    ci = ci_of(r, f"{key}_ci95")
    if ci is None:
        return None
    ends = [excess(dict(r, **{key: x})) for x in ci]
    lo, hi = ends
    if lo is None or hi is None:
        return None
    return min(lo, hi), max(lo, hi)


def limit_in_value(r: dict) -> float | None:
    """The threshold as a bound on the value (for figures): oracle + max_delta, or the value limit."""
    th = r.get("threshold")
    if not isinstance(th, dict) or not is_number(th.get("limit")):
        return None
    if th.get("kind") == "max_delta":
        return float(r["oracle"]) + float(th["limit"]) if is_number(r.get("oracle")) else None
    if th.get("kind") in ("min_value", "max_value"):
        return float(th["limit"])
    return None


def source_of(th: dict) -> tuple[str, str]:
    """(file, key) of a threshold's source ``path [bitrate.suite.condition.metric]``."""
    src = str(th.get("source") or "")
    if src.endswith("]") and " [" in src:
        f, k = src[:-1].rsplit(" [", 1)
        return f, k
    return src, ""
