"""Baseline comparison: the checkpoint gate of ``--codec-baseline`` and ``codec-conformance
compare``. Records are matched by :func:`results.record_key`; each quantity is judged in its own
direction (higher, lower, or two-sided around 0) against ONE rule: its declared **minimal
meaningful difference** (``MetricInfo.min_meaningful_difference`` in the catalogue, for the
registered metrics and the suites' own quantities alike: SER, band levels, token measures) and,
where the records carry per-item values or intervals, a statistical test (docs/statistics.md).

A change is judged by the test when one is possible: paired over the items both runs share when
both records carry per-item values, else from the two records' 95 % intervals. The family is one
checkpoint's verdict: every testable record of the baseline at the same codec and bitrate (a
smoke noise suite: 36); each is tested at ``FAMILY_ALPHA / family size`` (Bonferroni), so the
chance that an unchanged codec's verdict at one bitrate flips is at most FAMILY_ALPHA, however
many records it has. A quantity without a test (no per-item values, no intervals: one number per
record, as the frequency response) is judged by its minimal meaningful difference alone. A worst
case over random draws (linearity, token gain: the record carries the draws' ``median`` and its
95 % interval ``median_ci95``) moves with the seed (another seed draws other examples), so it is
judged by the median of its draws: a significant worsening of the median (the unpaired test from
the two intervals) by at least the minimal meaningful difference. (A file whose records carry the
median without its interval: it regresses only when the median worsened by the minimal meaningful
difference too, else ``not significant``.)

Statuses (one vocabulary, used by the plugin's records, ``compare``'s text, ``--json`` and its
HTML page):

- ``REGRESSED``: worse by at least the minimal meaningful difference, and — where there is a
  test — significantly worse at the family-wise level (one-sided p of "no worsening" <= alpha).
- ``improved``: the mirror image (better by at least the minimal meaningful difference, and
  significantly better where there is a test).
- ``not significant``: there is a test and the change is not significant at the family-wise
  level in either direction, whatever its size; the row carries the change's interval
  (``change_ci``: the two one-sided ``1 - alpha`` bounds, a ``1 - 2 alpha`` interval) and the
  one-sided p-value of the observed direction (``p_value``, against ``alpha``).
- ``negligible``: the change is smaller than the minimal meaningful difference (significant
  or without a test).
- ``UNDEFINED``: the new value is null/NaN where the base had a number (a regression).
- ``MISSING``: the new run lacks a record the base had at a codec, bitrate and suite it covers
  (a regression).
- ``not gated``: a quantity that is recorded and never gated (SI-SDR): shown, never a regression.
- ``no base value``: the base itself has no number: nothing to compare with.

REGRESSED, UNDEFINED and MISSING fail the gate (:data:`BAD`); every other status passes.
"""
from __future__ import annotations

from collections import Counter
from enum import StrEnum
from dataclasses import dataclass, field
from typing import Any

from ..catalogue import info
from ..data.audio import stable_seed
from ..errors import ConformanceError
from ..results.contract import describe_key, direction_of, is_number, record_key, worsening
from .statistics import paired_worsening, unpaired_worsening

class Status(StrEnum):
    """A baseline comparison's verdict on one quantity: the words the terminal, the HTML and
    ``compare --json`` use. REGRESSED, UNDEFINED and MISSING fail the gate (:data:`BAD`)."""

    REGRESSED = "REGRESSED"
    IMPROVED = "improved"
    NOT_SIGNIFICANT = "not significant"
    NEGLIGIBLE = "negligible"
    UNDEFINED = "UNDEFINED"
    MISSING = "MISSING"
    NOT_GATED = "not gated"
    NO_BASE = "no base value"


BAD = frozenset({Status.REGRESSED, Status.UNDEFINED, Status.MISSING})
FAMILY_ALPHA = 0.05  # chance that one codec-bitrate verdict flips with nothing changed (Bonferroni)
_EPS = 1e-9          # "at least the minimal difference" holds for 2.0 -> 2.5 (0.5 dB) despite rounding


class BaselineMismatch(ConformanceError):
    """The baseline shares no record with the run it is compared with."""


def _number(v) -> float | None:
    return float(v) if is_number(v) else None


def declared_difference(metric: str) -> float | None:
    """The declared minimal meaningful difference of ``metric`` in its unit (the catalogue's
    MetricInfo: registered metrics and suite quantities), or None when the catalogue does not
    know the name."""
    q = info(metric)
    return None if q is None else float(q.min_meaningful_difference)


def min_meaningful_difference(metric: str, declared: dict | None = None) -> float:
    """The smallest change of ``metric`` that matters, in its unit: the catalogue's declaration
    (docs/statistics.md), else the one a results file's top-level ``metrics`` block carries
    (``declared``: a metric of a plugin not installed here), else 0 (any change counts)."""
    mmd = declared_difference(metric)
    if mmd is None and declared:
        got = (declared.get(metric) or {}).get("min_meaningful_difference")
        mmd = float(got) if got is not None and is_number(got) else None
    return 0.0 if mmd is None else mmd


def trusted(record: dict, side: str = "") -> tuple[dict, list[str]]:
    """``record`` without the supporting data that contradicts its own numbers, and why: a
    ``per_item`` whose (weighted) mean is not the record's ``value`` (or whose oracle array's
    mean is not its ``oracle``), a ``value_ci95`` that does not hold the value, a
    ``median_ci95`` that does not hold the median. The verdict is judged from the values: a
    crafted or damaged file cannot turn a changed value into "not significant" with copied
    per-item arrays. (A record's ``passed`` is never read here.)"""
    out, why = dict(record), []
    tag = f"{side} " if side else ""
    pi = record.get("per_item")
    if pi:
        total: Any
        for field_, total in (("value", record.get("value")), ("oracle", record.get("oracle"))):
            if field_ == "oracle" and pi.get("oracle") is None:
                continue
            mean = _weighted_mean(pi.get(field_) or [], pi.get("weights"))
            if mean is None or not is_number(total) or abs(mean - float(total)) > _AGREE * max(1.0, abs(float(total))):
                out.pop("per_item")
                why.append(f"{tag}per_item: the mean of its {field_}s "
                           f"({'none' if mean is None else f'{mean:.6g}'}) is not the record's {field_} "
                           f"({total if not is_number(total) else f'{float(total):.6g}'})")
                break
    for ci, centre in (("value_ci95", "value"), ("median_ci95", "median")):
        bounds, c = record.get(ci), _number(record.get(centre))
        if bounds is not None and c is not None and not _holds(bounds, c):
            out.pop(ci)
            why.append(f"{tag}{ci} {list(bounds)} does not hold its {centre} {c:.6g}")
    return out, why


_AGREE = 1e-4  # per-item values carry 6 significant digits: their mean agrees with the value to ~1e-6


def _weighted_mean(values: list, weights: list | None) -> float | None:
    ws = weights if weights else [1.0] * len(values)
    pairs = [(float(v), float(w or 0.0)) for v, w in zip(values, ws) if is_number(v)]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if pairs and total > 0 else None


def _holds(bounds, x: float) -> bool:
    try:
        lo, hi = float(bounds[0]), float(bounds[1])
    except (TypeError, ValueError, IndexError):
        return False
    slack = _AGREE * max(1.0, abs(x))
    return lo - slack <= x <= hi + slack


def testable(record: dict) -> bool:
    """A gated record with per-item values or an interval: one the statistical test can judge
    (one member of its codec-bitrate family)."""
    return (record.get("gated", True) is not False
            and (bool(record.get("per_item")) or record.get("value_ci95") is not None or over_draws(record)))


def family_sizes(base_records: list[dict]) -> Counter:
    """(codec, bitrate_kbps) -> the number of the baseline's testable records there."""
    return Counter(record_key(r)[:2] for r in base_records if testable(trusted(r)[0]))


def statistical_test(base: dict, new: dict, direction: str, alpha: float) -> dict | None:
    """The paired test on the items both records share (their ``per_item`` arrays), else an
    unpaired test from the two records' 95 % intervals, else None (then the minimal meaningful
    difference alone); bounds at the one-sided level ``1 - alpha``."""
    test = paired_worsening(base.get("per_item"), new.get("per_item"), direction,
                            seed=stable_seed("baseline", *map(str, record_key(new))), alpha=alpha)
    if test is None and is_number(base.get("value")) and is_number(new.get("value")):
        test = unpaired_worsening(float(base["value"]), base.get("value_ci95"), float(new["value"]),
                                  new.get("value_ci95"), direction, alpha=alpha)
    if test is None and over_draws(base) and over_draws(new):
        # a worst case over random draws: judged by the draws' median and its interval
        test = unpaired_worsening(float(base["median"]), base["median_ci95"], float(new["median"]),
                                  new["median_ci95"], direction, alpha=alpha)
        if test is not None:
            test = {**test, "method": "the median of the property's draws, from the two runs' intervals of it "
                                      "(the worst case moves with the seed's draws)"}
    return test


def over_draws(record: dict) -> bool:
    """A worst case over a property's random draws: the record carries the draws' median and its
    95 % interval (additivity, homogeneity, token gain)."""
    return is_number(record.get("median")) and record.get("median_ci95") is not None


def change_interval(test: dict, direction: str) -> list[float]:
    """The test's bounds of the worsening (positive = worse) as an interval of the change
    new - base (two-sided ``1 - 2 alpha``)."""
    lo, hi = test["lower"], test["upper"]
    return [-hi, -lo] if direction == "higher" else [lo, hi]


def judge(base: dict, new: dict | None, family_size: int = 1, declared: dict | None = None) -> dict:
    """One row: base and new value, change, the minimal meaningful difference, the test (change
    interval, p-value) where there is one, and the status (module docstring). ``family_size``:
    the testable records of the baseline at this codec and bitrate (:func:`family_sizes`); each
    is tested at ``FAMILY_ALPHA / family_size``. ``declared``: a results file's ``metrics``
    block, for quantities the catalogue here does not know."""
    ref = new if new is not None else base
    # direction and whether it is gated: the quantity's declaration (catalogue), else the
    # baseline's record; never the new file's say-so (a crafted 'gated: false' or a flipped
    # direction must not hide a regression)
    q = info(ref["metric"])
    row = {"key": record_key(ref), "codec": ref["codec"], "bitrate_kbps": ref["bitrate_kbps"],
           "suite": ref["suite"], "condition": ref.get("condition") or {}, "metric": ref["metric"],
           "direction": q.direction if q is not None else direction_of(base), "base": _number(base.get("value")),
           "new": None if new is None else _number(new.get("value")), "change": None,
           "min_meaningful_difference": min_meaningful_difference(ref["metric"], declared),
           "change_ci": None, "change_ci_confidence": None, "p_value": None, "alpha": None}
    gated = base.get("gated", True) is not False and (q is None or q.gated)
    base, ignored = trusted(base, "base")
    if new is not None:
        new, more = trusted(new, "new")
        ignored += more
    if ignored:
        row["ignored"] = ignored
    if not gated:
        row["status"] = Status.NOT_GATED
    elif row["base"] is None:
        row["status"] = Status.NO_BASE
    elif new is None:
        row["status"] = Status.MISSING
    elif row["new"] is None:
        row["status"] = Status.UNDEFINED
    else:
        row["change"] = row["new"] - row["base"]
        mmd = row["min_meaningful_difference"]
        alpha = FAMILY_ALPHA / max(1, family_size)
        test = statistical_test(base, new, row["direction"], alpha)
        if test is not None:
            # a regression is significant at the family-wise level (one-sided p <= alpha) AND
            # meaningful (the worsening >= the quantity's minimal meaningful difference)
            worse = test["worsening"]
            row["test"] = {**test, "alpha": alpha, "family_size": max(1, family_size),
                           "min_meaningful_difference": mmd}
            row["change_ci"] = change_interval(test, row["direction"])
            row["change_ci_confidence"] = 1 - 2 * alpha
            row["p_value"] = test["p_worse"] if worse >= 0 else test["p_better"]
            row["alpha"] = alpha
            if test["p_worse"] <= alpha and worse > 0:
                row["status"] = Status.REGRESSED if worse >= mmd - _EPS else Status.NEGLIGIBLE
            elif test["p_better"] <= alpha and worse < 0:
                row["status"] = Status.IMPROVED if -worse >= mmd - _EPS else Status.NEGLIGIBLE
            else:
                row["status"] = Status.NOT_SIGNIFICANT
        else:  # one number per record, nothing to test with: the minimal meaningful difference alone
            worse = worsening(row["direction"], row["base"], row["new"])
            row["status"] = (Status.REGRESSED if worse > 0 and worse >= mmd - _EPS
                             else Status.IMPROVED if worse < 0 and -worse >= mmd - _EPS else Status.NEGLIGIBLE)
            if is_number(base.get("median")) and is_number(new.get("median")) and row["status"] != Status.NEGLIGIBLE:
                # (files without the median's interval)
                # a worst case over random draws: the median of the draws must move the same way
                moved = worsening(row["direction"], float(base["median"]), float(new["median"]))
                row["median_change"] = float(new["median"]) - float(base["median"])
                if (moved < mmd - _EPS) if worse > 0 else (-moved < mmd - _EPS):
                    row["status"] = Status.NOT_SIGNIFICANT
    return row


def judged_text(row: dict) -> str:
    """How a row was judged, in words (compare's text, the plugin's failure line): the change's
    interval and p-value where there was a test, and the minimal meaningful difference."""
    parts = []
    if row.get("change_ci") is not None:
        lo, hi = row["change_ci"]
        parts.append(f"change {row['change']:+.3g} [{lo:+.3g}, {hi:+.3g}] "
                     f"({100 * row['change_ci_confidence']:.3g} %), p={row['p_value']:.2g} "
                     f"(alpha {row['alpha']:.2g})")
    elif row.get("change") is not None:
        parts.append(f"change {row['change']:+.3g}, no interval")
    if row.get("median_change") is not None:
        parts.append(f"a worst case over random draws: their median changed {row['median_change']:+.3g}")
    if row.get("min_meaningful_difference") is not None and row["status"] not in (Status.NOT_GATED, Status.NO_BASE):
        parts.append(f"min. meaningful difference {row['min_meaningful_difference']:g}")
    if row.get("ignored"):
        parts.append("ignored, as it contradicts the values: " + "; ".join(row["ignored"]))
    return "; ".join(parts)


def record_change(record: dict) -> float | None:
    """A record's change against its baseline block, new - base (None without both numbers)."""
    b = record.get("baseline")
    base, new = _number(b.get("value")) if isinstance(b, dict) else None, _number(record.get("value"))
    return None if base is None or new is None else new - base


def rule_text(block: dict) -> str:
    """The rule a record's ``baseline`` block was judged by, in words (the report's failing table,
    JUnit's ``baseline.rule``): the minimal meaningful difference and, where there was a test, the
    significance level (``alpha`` = (1 - ``change_ci_confidence``) / 2) and the p-value."""
    mmd, conf, p = (_number(block.get(k)) for k in ("min_meaningful_difference", "change_ci_confidence", "p_value"))
    diff = f"worse by ≥ {mmd:g} (min. meaningful difference)" if mmd is not None else "worse by any amount"
    if block.get("change_ci") is None:
        return f"REGRESSED if {diff}; no test (one number per record)"
    alpha = f" = {(1 - conf) / 2:.2g}" if conf is not None else ""
    return (f"REGRESSED if {diff} and significantly worse (one-sided p ≤ α{alpha})"
            + (f"; p = {p:.2g}" if p is not None else ""))


RULE = ("regression: worse by at least min diff (the quantity's declared minimal meaningful difference) and, "
        "where there is a test, significantly (one-sided p <= α = 0.05 / the records of its codec and bitrate); "
        "not significant: the change's interval holds 0; negligible: smaller than min diff")
# the order of compare's rows (its text, --json and HTML page): the regressions first
STATUS_ORDER = {Status.REGRESSED: 0, Status.UNDEFINED: 0, Status.MISSING: 0, Status.IMPROVED: 1,
                Status.NOT_SIGNIFICANT: 2, Status.NEGLIGIBLE: 3}


def ordered_rows(rows: list[dict]) -> list[dict]:
    """Regressions first (the largest change first), then improvements, then the rest."""
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r["status"], 4),
                                       -abs(r["change"]) if isinstance(r.get("change"), (int, float)) else 0.0))


def p_text(r: dict) -> str:
    """The row's one-sided p-value against its alpha, or a dash where the quantity had no test."""
    return "—" if r.get("p_value") is None else f"{r['p_value']:.2g} (α {r['alpha']:.2g})"


@dataclass
class Comparison:
    rows: list[dict] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict]:
        return [r for r in self.rows if r["status"] in BAD]


def key_summary(records: list[dict]) -> dict:
    """What a set of records covers, for a message about what did not match."""
    return {"codecs": sorted({str(r["codec"]) for r in records}),
            "bitrates_kbps": sorted({float(r["bitrate_kbps"]) for r in records}),
            "suites": sorted({r["suite"] for r in records}),
            "condition kinds": sorted({str((r.get("condition") or {}).get("kind")) for r in records}),
            "metrics": sorted({r["metric"] for r in records})}


def mismatch_message(base: list[dict], new: list[dict], base_name: str, new_name: str) -> str:
    a, b = key_summary(base), key_summary(new)
    lines = [f"no record of {new_name} matches a record of {base_name} "
             "(records match on codec, bitrate, suite, condition and metric):"]
    for k in a:
        if a[k] != b[k]:
            fmt = (lambda xs: ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in xs) or "none")
            lines.append(f"  {k}: {base_name} has {fmt(a[k])}; {new_name} has {fmt(b[k])}")
    if len(lines) == 1:
        ex = [describe_key(record_key(r)) for r in (base[:1] + new[:1])]
        lines.append("  the sets cover the same codecs/bitrates/suites but differ in condition details, e.g. "
                     + " vs ".join(ex))
    return "\n".join(lines)


def check_covers_codecs(records: list[dict], codecs: list[str], path) -> None:
    """Up front (before any work): the baseline at ``path`` must hold records of at least one
    codec of the run, else the gate would silently compare nothing."""
    have = sorted({str(r["codec"]) for r in records})
    if not set(have) & set(codecs):
        raise BaselineMismatch(f"--codec-baseline {path}: it has records of codec(s) {', '.join(have) or 'none'}, "
                               f"this run tests {', '.join(codecs)}; a baseline must come from a run of the same "
                               "codec id (the --codec value)")


def compare(base_records: list[dict], new_records: list[dict], base_name: str = "the baseline",
            new_name: str = "this run", declared: dict | None = None) -> Comparison:
    """Every record of ``new`` with a counterpart in ``base``, plus base records that ``new``
    should have had (same codec, bitrate and suite) but lacks. Raises BaselineMismatch when the
    two share no record at all. ``declared``: the results files' ``metrics`` blocks (merged), for
    quantities the catalogue here does not know."""
    base = {record_key(r): r for r in base_records}
    new = {record_key(r): r for r in new_records}
    common = [k for k in new if k in base]
    if not common:
        raise BaselineMismatch(mismatch_message(base_records, new_records, base_name, new_name))
    family = family_sizes(base_records)
    out = Comparison([judge(base[k], new[k], family[k[:2]], declared) for k in common])
    covered = {k[:3] for k in new}
    out.rows += [judge(base[k], None, declared=declared) for k in base if k not in new and k[:3] in covered]
    return out
