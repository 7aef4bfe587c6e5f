"""Uncertainty of a record and the paired baseline test (docs/statistics.md).

- :func:`record_statistics`: seeded percentile bootstrap over the corpus' resampling units
  (utterances; speakers for EER, whose trials pair utterances) of a metric's value, its oracle and
  the paired delta (codec - oracle recomputed on the same draw), plus the compact per-item arrays
  that let a later run test its change against this one item by item.
- :func:`paired_worsening`: the baseline gate's test on the items two runs share: the one-sided
  bootstrap p-value and bound of the worsening (new - base, in the bad direction), at the level
  the gate asks for (family-wise: gate/baseline.py).

Every statistic is recomputed on a draw as the metric computes it: the mean of per-item values,
corpus WER (total errors / total reference words: a words-weighted mean of per-item WER), EER
(the metric's own resampler, which rebuilds the trial list from the drawn utterances).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.audio import stable_seed

N_BOOT = 2000          # bootstrap draws (percentile intervals: the 2.5 / 97.5 % points vary by ~0.3 %)
N_TEST = 4000          # draws of the baseline test's standard error (vectorised)
CONFIDENCE = 0.95
ITEM_DIGITS = 6        # significant digits of the per-item values written into results.json


def _seed(*parts) -> int:
    return stable_seed("bootstrap", *[str(p) for p in parts])


def draws(groups: list, n_boot: int, seed: int) -> list[np.ndarray]:
    """``n_boot`` bootstrap draws of item indices: the distinct ``groups`` (one per item: its
    resampling unit) are drawn with replacement and each drawn group brings all its items."""
    labels = list(dict.fromkeys(groups))
    members = {g: np.array([i for i, x in enumerate(groups) if x == g]) for g in labels}
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(labels), size=(n_boot, len(labels)))
    return [np.concatenate([members[labels[k]] for k in row]) for row in picks]


def statistic(result):
    """``f(indices) -> float | None``: the metric's aggregate recomputed on the given items (their
    positions in ``result.per_item``), or None when it cannot be (no per-item values, no
    resampler)."""
    if getattr(result, "resample", None) is not None:
        return result.resample
    per = result.per_item
    if not per or len(per) != result.n_items:
        return None
    v = np.array([np.nan if x is None else float(x) for x in per])
    w = np.ones(len(v)) if getattr(result, "weights", None) is None else \
        np.array([0.0 if x is None else float(x) for x in result.weights])
    w = np.where(np.isnan(v), 0.0, w)
    v0 = np.nan_to_num(v)

    def f(idx):
        sw = w[idx].sum()
        return float((w[idx] * v0[idx]).sum() / sw) if sw > 0 else None
    return f


def resampling_groups(result, items) -> list:
    """One resampling unit per item: the speaker for a metric whose trials pair utterances (EER),
    else the utterance itself."""
    if getattr(result, "resample_by", None) == "speaker":
        return [u.speaker for u in items]
    return [u.id for u in items]


def interval(values) -> list[float] | None:
    """Percentile interval of the finite values (None when fewer than half the draws gave one)."""
    a = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if len(a) < max(2, len(values) // 2):
        return None
    lo, hi = np.quantile(a, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
    return [float(lo), float(hi)]


def median_interval(values: list[float], seed: int) -> list[float] | None:
    """95 % percentile bootstrap interval of the median of ``values`` (the drawn examples of a
    property: its spread from one set of draws to another, i.e. from one seed to another)."""
    a = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if len(a) < 4:
        return None
    idx = np.random.default_rng(seed).integers(0, len(a), (N_BOOT, len(a)))
    return interval(list(np.median(a[idx], axis=1)))


def record_statistics(value, oracle, items, seed, *key) -> dict:
    """``value_ci95``, ``oracle_ci95``, ``delta_ci95`` ([lo, hi] or None) and ``per_item`` (the
    per-item arrays for the paired baseline test, or None) of one record whose codec and oracle
    results ``value`` and ``oracle`` were computed on ``items``. ``seed`` and ``key`` (metric,
    condition...) seed the draws, so a rerun gives the same intervals."""
    out: dict[str, Any] = {"value_ci95": None, "oracle_ci95": None, "delta_ci95": None, "per_item": None}
    fv = statistic(value)
    fo = statistic(oracle) if oracle is not None else None
    if fv is None or len(items) < 2:
        return out
    groups = resampling_groups(value, items)
    if len(set(groups)) < 2:
        return out
    idx_all = draws(groups, N_BOOT, _seed(seed, *key))
    vs = [fv(idx) for idx in idx_all]
    out["value_ci95"] = interval(vs)
    if fo is not None:
        os_ = [fo(idx) for idx in idx_all]
        out["oracle_ci95"] = interval(os_)
        out["delta_ci95"] = interval([None if a is None or b is None else a - b for a, b in zip(vs, os_)])
    out["per_item"] = per_item_arrays(value, oracle, items)
    return out


def _round(x):
    return None if x is None else float(f"{float(x):.{ITEM_DIGITS}g}")


def per_item_arrays(value, oracle, items) -> dict | None:
    """``{"ids": [...], "value": [...], "oracle": [...], "weights": [...] (WER: reference words)}``
    for metrics whose aggregate is a (weighted) mean of per-item values; None for set metrics
    without one (EER)."""
    if getattr(value, "resample", None) is not None or len(value.per_item) != len(items):
        return None
    out = {"ids": [u.id for u in items], "value": [_round(v) for v in value.per_item]}
    if oracle is not None and len(oracle.per_item) == len(items):
        out["oracle"] = [_round(v) for v in oracle.per_item]
    if getattr(value, "weights", None) is not None:
        out["weights"] = [_round(w) for w in value.weights]
    return out


# ------------------------------------------------------------------ paired baseline test
def paired_worsening(base: dict | None, new: dict | None, direction: str, seed: int = 0,
                     alpha: float = 1 - CONFIDENCE) -> dict | None:
    """The worsening of ``new`` against ``base`` (positive = worse) on the items both records'
    ``per_item`` arrays share with a value on both sides: its one-sided p-values (of "no worsening"
    and of "no improvement") and its one-sided ``1 - alpha`` bounds, from the standard error of a
    seeded bootstrap over those items (N_TEST draws; the statistic recomputed as the metric computes
    it, e.g. corpus WER) and Student's t. None when the records carry no per-item arrays or share
    fewer than 2 items."""
    if not base or not new:
        return None
    # with the oracle on both sides, judge the delta (codec - oracle) item by item: what the codec
    # does to its input, whatever noise draw that input got (another --codec-seed moves the oracle
    # and the codec together); with one seed the oracle is identical and this is the value change
    use_delta = base.get("oracle") is not None and new.get("oracle") is not None

    def values(side):
        if not use_delta:
            return side["value"]
        return [None if v is None or o is None else v - o for v, o in zip(side["value"], side["oracle"])]
    b = {i: (v, w) for i, v, w in zip(base["ids"], values(base), base.get("weights") or [1.0] * len(base["ids"]))}
    n = {i: (v, w) for i, v, w in zip(new["ids"], values(new), new.get("weights") or [1.0] * len(new["ids"]))}
    common = [i for i in n if i in b and b[i][0] is not None and n[i][0] is not None]
    sign = {"higher": -1.0, "lower": 1.0}.get(direction)
    if len(common) < 2 or sign is None:  # two-sided quantities have no per-item arrays
        return None
    vb = np.array([b[i][0] for i in common], float)
    vn = np.array([n[i][0] for i in common], float)
    wb = np.array([b[i][1] or 0.0 for i in common], float)  # WER: the reference's word counts
    wn = np.array([n[i][1] or 0.0 for i in common], float)
    if wb.sum() <= 0 or wn.sum() <= 0:
        return None
    est = float(sign * ((wn * vn).sum() / wn.sum() - (wb * vb).sum() / wb.sum()))
    idx = np.random.default_rng(seed).integers(0, len(common), (N_TEST, len(common)))
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = sign * ((wn[idx] * vn[idx]).sum(1) / wn[idx].sum(1) - (wb[idx] * vb[idx]).sum(1) / wb[idx].sum(1))
    boots = boots[np.isfinite(boots)]
    if len(boots) < 2:
        return None
    # the bootstrap's spread of a mean of n items is the plug-in one, low by sqrt((n-1)/n), and its
    # tails are normal; at a family-wise level (alpha = 0.05 / 36) a percentile bootstrap of 16
    # items flags an unchanged codec ~5x too often. So: the bootstrap standard error, corrected,
    # against Student's t with n - 1 degrees of freedom (exact for normal item deltas).
    k = len(common)
    se = float(np.std(boots, ddof=1) * np.sqrt(k / (k - 1)))
    return {**_one_sided(est, se, alpha, df=k - 1), "n_common": k, "standard_error": se,
            "method": "paired bootstrap standard error over shared items with Student's t, of "
                      + ("delta (codec - oracle)" if use_delta else "value")}


def unpaired_worsening(base_value: float, base_ci, new_value: float, new_ci, direction: str,
                       alpha: float = 1 - CONFIDENCE) -> dict | None:
    """For records without per-item arrays (EER) but with intervals on both sides: the worsening,
    its one-sided p-values and ``1 - alpha`` bounds from the two intervals (normal approximation:
    each half-width is 1.96 standard errors; the runs are treated as independent, which is
    conservative when they share items)."""
    if base_ci is None or new_ci is None or direction not in ("higher", "lower"):
        return None
    sign = -1.0 if direction == "higher" else 1.0
    est = sign * (new_value - base_value)
    se = float(np.hypot((base_ci[1] - base_ci[0]) / 2 / 1.96, (new_ci[1] - new_ci[0]) / 2 / 1.96))
    return {**_one_sided(est, se, alpha), "n_common": None, "method": "unpaired, from the two 95 % intervals"}


def _one_sided(est: float, se: float, alpha: float, df: int | None = None) -> dict:
    """The worsening ``est`` with standard error ``se``: the one-sided p-values of "no worsening"
    and of "no improvement", and the one-sided ``1 - alpha`` bounds, from Student's t with ``df``
    degrees of freedom (the normal distribution when ``df`` is None)."""
    from scipy.stats import norm, t
    dist = norm() if df is None else t(df)
    if se <= 0:
        p_worse, p_better = (0.0 if est > 0 else 1.0), (0.0 if est < 0 else 1.0)
    else:
        p_worse, p_better = float(dist.sf(est / se)), float(dist.cdf(est / se))
    half = float(dist.ppf(1 - alpha) * se)
    return {"worsening": float(est), "p_worse": p_worse, "p_better": p_better, "lower": float(est - half),
            "upper": float(est + half), "confidence": 1 - alpha}
