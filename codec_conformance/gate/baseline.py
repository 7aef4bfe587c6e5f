"""Baseline comparison: the checkpoint gate of ``--codec-baseline`` and ``codec-conformance
compare``. Records are matched by :func:`results.record_key`; each quantity is judged in its own
direction (higher, lower, or two-sided around 0); quantities that are recorded but never gated
(SI-SDR) are shown and never count as a regression. A value that is undefined (null, NaN,
missing) on the new side where the base had a number is a regression.

A metric's change is judged by a statistical test (docs/statistics.md): paired over the items
both runs share when both records carry per-item values, else from the two records' 95 %
intervals; it is a regression when the worsening is significant at the family-wise level and at
least the metric's minimal meaningful difference. The family is one checkpoint's verdict: every
testable record of the baseline at the same codec and bitrate (a smoke noise suite: 36); each is
tested at ``FAMILY_ALPHA / family size`` (Bonferroni), so the chance that an unchanged codec's
verdict at one bitrate flips is at most FAMILY_ALPHA, however many records it has. Quantities
without a test (linearity, frequency response, tokens) keep the relative tolerance rule."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import ConformanceError
from ..results.records import describe_key, direction_of, is_number, record_key, worsening

REGRESSED, UNDEFINED, MISSING = "REGRESSED", "UNDEFINED", "MISSING"
BAD = (REGRESSED, UNDEFINED, MISSING)
FAMILY_ALPHA = 0.05  # chance that one codec-bitrate verdict flips with nothing changed (Bonferroni)


class BaselineMismatch(ConformanceError):
    """The baseline shares no record with the run it is compared with."""


def _number(v) -> float | None:
    return float(v) if is_number(v) else None


def tolerance_for(base_value: float, tolerance: float) -> float:
    return max(0.01, tolerance * abs(base_value))


@lru_cache(maxsize=None)
def min_meaningful_difference(metric: str) -> float | None:
    """The smallest change of ``metric`` that matters, in its unit: the metric class' attribute
    ``min_meaningful_difference`` (declared beside the metric; docs/statistics.md), or None for
    quantities that are not registered metrics (SER, band levels, token measures)."""
    from ..registry import load_metric_class
    try:
        cls = load_metric_class(metric)
    except Exception:  # noqa: BLE001  (not a registered metric)
        return None
    value = getattr(cls, "min_meaningful_difference", None)
    return None if value is None else float(value)


def testable(record: dict) -> bool:
    """A gated record of a registered metric with per-item values or an interval: one the
    statistical test can judge (one member of its codec-bitrate family)."""
    return (record.get("gated", True) is not False and min_meaningful_difference(record["metric"]) is not None
            and (bool(record.get("per_item")) or record.get("value_ci95") is not None))


def family_sizes(base_records: list[dict]) -> Counter:
    """(codec, bitrate_kbps) -> the number of the baseline's testable records there."""
    return Counter(record_key(r)[:2] for r in base_records if testable(r))


def statistical_test(base: dict, new: dict, direction: str, alpha: float) -> dict | None:
    """The paired test on the items both records share (their ``per_item`` arrays), else an
    unpaired test from the two records' 95 % intervals, else None (then the tolerance rule);
    bounds at the one-sided level ``1 - alpha``."""
    from ..data.audio import stable_seed
    from .statistics import paired_worsening, unpaired_worsening
    test = paired_worsening(base.get("per_item"), new.get("per_item"), direction,
                            seed=stable_seed("baseline", *map(str, record_key(new))), alpha=alpha)
    if test is None and is_number(base.get("value")) and is_number(new.get("value")):
        test = unpaired_worsening(float(base["value"]), base.get("value_ci95"), float(new["value"]),
                                  new.get("value_ci95"), direction, alpha=alpha)
    return test


def judge(base: dict, new: dict | None, tolerance: float, family_size: int = 1) -> dict:
    """One row: base and new value, change, tolerance and status (same, improved, REGRESSED,
    UNDEFINED, MISSING, not gated, no base value). ``family_size``: the testable records of the
    baseline at this codec and bitrate (:func:`family_sizes`); each is tested at
    ``FAMILY_ALPHA / family_size``."""
    ref = new if new is not None else base
    row = {"key": record_key(ref), "codec": ref["codec"], "bitrate_kbps": ref["bitrate_kbps"],
           "suite": ref["suite"], "condition": ref.get("condition") or {}, "metric": ref["metric"],
           "direction": direction_of(ref), "base": _number(base.get("value")),
           "new": None if new is None else _number(new.get("value")), "change": None, "tolerance": None}
    gated = base.get("gated", True) is not False and (new is None or new.get("gated", True) is not False)
    if not gated:
        row["status"] = "not gated"
    elif row["base"] is None:
        row["status"] = "no base value"
    elif new is None:
        row["status"] = MISSING
    elif row["new"] is None:
        row["status"] = UNDEFINED
    else:
        row["change"] = row["new"] - row["base"]
        mmd = min_meaningful_difference(ref["metric"])
        alpha = FAMILY_ALPHA / max(1, family_size)
        test = statistical_test(base, new, row["direction"], alpha) if mmd is not None else None
        if test is not None:
            # a regression is significant at the family-wise level (one-sided p <= alpha) AND
            # meaningful (the worsening >= the metric's minimal meaningful difference)
            row["tolerance"] = mmd
            row["test"] = {**test, "alpha": alpha, "family_size": max(1, family_size),
                           "min_meaningful_difference": mmd}
            if test["p_worse"] <= alpha and test["worsening"] >= mmd:
                row["status"] = REGRESSED
            elif test["p_better"] <= alpha and -test["worsening"] >= mmd:
                row["status"] = "improved"
            else:
                row["status"] = "same"
        else:  # no items or intervals to test with: the relative tolerance of --codec-baseline-tolerance
            tol = tolerance_for(row["base"], tolerance)
            worse = worsening(row["direction"], row["base"], row["new"])
            row["tolerance"] = tol
            row["status"] = REGRESSED if worse > tol else "improved" if worse < -tol else "same"
    return row


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


def compare(base_records: list[dict], new_records: list[dict], tolerance: float,
            base_name: str = "the baseline", new_name: str = "this run") -> Comparison:
    """Every record of ``new`` with a counterpart in ``base``, plus base records that ``new``
    should have had (same codec, bitrate and suite) but lacks. Raises BaselineMismatch when the
    two share no record at all."""
    base = {record_key(r): r for r in base_records}
    new = {record_key(r): r for r in new_records}
    common = [k for k in new if k in base]
    if not common:
        raise BaselineMismatch(mismatch_message(base_records, new_records, base_name, new_name))
    family = family_sizes(base_records)
    out = Comparison([judge(base[k], new[k], tolerance, family[k[:2]]) for k in common])
    covered = {k[:3] for k in new}
    out.rows += [judge(base[k], None, tolerance) for k in base if k not in new and k[:3] in covered]
    return out
