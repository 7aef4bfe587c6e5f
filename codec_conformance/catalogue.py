"""The catalogue: what a metric, a condition kind and a suite *is*, declared once beside its code
and read by everything else (the plugin, the scheduler, thresholds, calibration, results and,
through ``results.json``, the report).

- A metric class carries ``info = MetricInfo(...)`` (label, unit, direction, minimal meaningful
  difference, gated, relative cost, corpus, stand-in, ...); a variant of a metric (``pesq_nb``,
  ``estoi``) is a line of its class's ``VARIANTS`` table, not a branch.
- A condition kind is a :class:`codec_conformance.data.conditions.ConditionKind` (its grid per
  profile, how it is applied, its record field and figure axis).
- A suite module carries ``SUITE = SuiteInfo(...)`` (its parameters, what it measures besides
  the registered metrics, the one function from a record's condition to its thresholds key).

Built-in condition kinds and suites are listed here; others come from the entry-point groups
``codec_conformance.conditions`` (a ConditionKind) and ``codec_conformance.suites`` (a module
holding ``SUITE``, or a SuiteInfo), as codecs and metrics come from ``codec_conformance.codecs``
and ``codec_conformance.metrics``. This module is light: it imports declarations only when asked.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Callable, Iterable, Mapping

from .errors import ConformanceError

DIRECTIONS = ("higher", "lower", "two-sided")  # two-sided: the ideal is 0, |value| lower is better
CONDITION_GROUP = "codec_conformance.conditions"
SUITE_GROUP = "codec_conformance.suites"


@dataclass(frozen=True)
class MetricInfo:
    """What a measured quantity is (a registered metric, or a suite's own measurement)."""

    name: str
    label: str                          # for people: figure titles, report tables
    unit: str
    direction: str                      # higher | lower | two-sided
    min_meaningful_difference: float    # the smallest change that matters, in ``unit``
    gated: bool = True                  # False: recorded, never gated (no threshold, no baseline)
    cost: float = 1.0                   # relative seconds of one noise test (standard profile, 2 cores)
    corpus: str = "speech"              # which corpus it is scored on: speech | emotion
    stand_in: bool = False              # computed with an offline substitute for the paper's model
    default: bool = True                # in every profile's metric list (else only via --codec-metrics)
    requires: str | None = None         # the option that must be set for it to run by default
    min_margin: float = 0.05            # smallest margin --codec-update-thresholds adds, in ``unit``
    note: str = ""                      # a caveat shown with the evaluator (a proxy, ...)
    # the values the quantity can take, in ``unit`` (PESQ-WB 1.04..4.64, EER 0..0.5 = chance): a
    # limit that no value inside can cross is a check that cannot fail (gate/thresholds.py)
    bounds: tuple[float, float] = (-math.inf, math.inf)
    max_margin: float = math.inf        # largest margin calibration may add (gate/calibration.py)
    # figures (the report): the smallest y-axis span a figure of this quantity shows, in ``unit``
    # (a tiny difference does not fill an axis; None: 5 % of the largest value's magnitude)
    plot_span: float | None = None
    in_figure: bool = False             # a column of Fig. 1 (noise robustness, codec vs oracle)
    # Fig. 1's column order (None: after the numbered ones, by name). Metrics that declare the same
    # number share a column: the one measured shows; of two measured, the one that is not a
    # stand-in (emotion accuracy over its prosody proxy)
    figure_order: int | None = None

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name!r}: direction {self.direction!r}, use one of {DIRECTIONS}")
        if self.corpus not in ("speech", "emotion"):
            raise ValueError(f"metric {self.name!r}: corpus {self.corpus!r}, use speech or emotion")
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"metric {self.name!r}: bounds {self.bounds} are empty; give (lowest, highest)")
        if self.plot_span is not None and not self.plot_span > 0:
            raise ValueError(f"metric {self.name!r}: plot_span {self.plot_span} must be > 0 (or None)")

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def to_json(self) -> dict:
        """The entry of results.json's top-level ``metrics`` block."""
        return {"label": self.label, "unit": self.unit, "direction": self.direction,
                "min_meaningful_difference": self.min_meaningful_difference, "gated": self.gated,
                "stand_in": self.stand_in, "plot_span": self.plot_span, "in_figure": self.in_figure,
                "figure_order": self.figure_order}


def threshold_key(condition: dict) -> str:
    """The default thresholds key of a record's condition (``[bitrate."6".<suite>.<key>]``): the
    mixture of an additivity record, else the condition kind."""
    return condition.get("mixture") or condition["kind"]


@dataclass(frozen=True)
class SuiteInfo:
    """A suite: its record ``suite`` name (the thresholds file's key), the parameters it adds to
    its tests, the conditions it can write, and the ONE function from a record's condition to
    the thresholds key, used both to look a limit up and to write one (and, over
    :attr:`conditions`, to say which keys a thresholds file may use)."""

    name: str
    label: str
    conditions: Callable[[], Iterable[dict]]        # every kind of condition record it writes
    params: Mapping[str, Callable[[Any], list]] = field(default_factory=dict)  # fixture -> f(session) -> [(id, value)]
    quantities: tuple[MetricInfo, ...] = ()         # what it measures besides the registered metrics
    key: Callable[[dict], str] = threshold_key
    limit_on_delta: bool = False                    # calibration: limits on codec - oracle (max_delta)
    calibrated: frozenset[str] | None = None        # calibration: the metrics given limits (None: all gated)
    cost: Mapping[str, float] = field(default_factory=dict)  # test function -> relative cost
    item_cost: Callable[[dict], float] | None = None  # params of a test -> relative cost (overrides cost)

    def keys(self) -> set[str]:
        return {self.key(c) for c in self.conditions()}


# ----------------------------------------------------------------------------- built-ins
BUILTIN_CONDITIONS = tuple(f"codec_conformance.data.conditions:{k}" for k in ("CLEAN", "AMBIENT", "WHITE", "REVERB",
                                                                                "GAIN"))
BUILTIN_SUITES = tuple(f"codec_conformance.suites.{m}" for m in (
    "test_noise_robustness", "test_additivity", "test_homogeneity", "test_frequency_response",
    "test_token_robustness"))


def _load(spec: str):
    mod, _, attr = spec.partition(":")
    obj = importlib.import_module(mod)
    return getattr(obj, attr) if attr else obj


def _plugins(group: str) -> list:
    out = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            out.append(ep.load())
        except Exception as exc:  # noqa: BLE001  (a broken plugin: one clear error)
            raise ConformanceError(f"entry point {ep.name!r} of {group} ({ep.value}) cannot be loaded: "
                                   f"{type(exc).__name__}: {exc}") from None
    return out


@lru_cache(maxsize=1)
def condition_kinds() -> dict:
    """name -> ConditionKind, built-ins first (clean, ambient, white, reverb), then plugins."""
    from .data.conditions import ConditionKind
    out: dict = {}
    for obj in [_load(s) for s in BUILTIN_CONDITIONS] + _plugins(CONDITION_GROUP):
        if not isinstance(obj, ConditionKind):
            raise ConformanceError(f"{CONDITION_GROUP}: {obj!r} is not a ConditionKind")
        out[obj.name] = obj
    return out


@lru_cache(maxsize=1)
def suites() -> dict:
    """name -> SuiteInfo, the built-in suites, then plugins' (a module with ``SUITE``, or one)."""
    out: dict = {}
    for obj in [_load(s) for s in BUILTIN_SUITES] + _plugins(SUITE_GROUP):
        info = getattr(obj, "SUITE", obj)
        if not isinstance(info, SuiteInfo):
            raise ConformanceError(f"{SUITE_GROUP}: {obj!r} holds no SuiteInfo (SUITE)")
        out[info.name] = info
    return out


def suite(name: str) -> SuiteInfo:
    s = suites()
    if name not in s:
        raise ConformanceError(f"unknown suite {name!r}; known: {', '.join(s)}")
    return s[name]


@lru_cache(maxsize=1)
def metrics() -> dict:
    """name -> MetricInfo of every registered metric (entry points ``codec_conformance.metrics``)."""
    from .registry import load_metric_class, metric_names
    return {n: metric_info(load_metric_class(n)) for n in metric_names()}


@lru_cache(maxsize=1)
def quantities() -> dict:
    """name -> MetricInfo of everything a record's ``metric`` may be: the registered metrics and
    the suites' own measurements."""
    out = dict(metrics())
    for s in suites().values():
        for q in s.quantities:
            out.setdefault(q.name, q)
    return out


def info(name: str) -> MetricInfo | None:
    return quantities().get(name)


def metric_info(cls) -> MetricInfo:
    """A metric class's (or object's) declaration; a plugin metric written before ``info``
    existed gets one from its ``name``, ``higher_is_better``, ``unit`` and ``gated``."""
    got = getattr(cls, "info", None)
    if isinstance(got, MetricInfo):
        return got
    name = str(getattr(cls, "name", getattr(cls, "__name__", "metric")))
    return MetricInfo(name=name, label=name, unit=str(getattr(cls, "unit", "")),
                      direction="higher" if getattr(cls, "higher_is_better", True) else "lower",
                      min_meaningful_difference=float(getattr(cls, "min_meaningful_difference", 0.0)),
                      gated=bool(getattr(cls, "gated", True)), stand_in=bool(getattr(cls, "stand_in", False)))


def gated_names() -> set[str]:
    """Every metric key a thresholds file may name: the gated quantities."""
    return {n for n, q in quantities().items() if q.gated}


def catalogue_json(metric_names: Iterable[str], condition_kinds_seen: Iterable[str]) -> dict:
    """The ``metrics`` and ``conditions`` blocks of results.json for the names a run recorded."""
    qs, ks = quantities(), condition_kinds()
    return {"metrics": {m: qs[m].to_json() for m in metric_names if m in qs},
            "conditions": {k: ks[k].to_json() for k in condition_kinds_seen if k in ks}}


def clear() -> None:
    """Forget the loaded declarations (tests that add entry points)."""
    for f in (condition_kinds, suites, metrics, quantities):
        f.cache_clear()


__all__ = ["MetricInfo", "SuiteInfo", "threshold_key", "condition_kinds", "suites", "suite", "metrics",
           "quantities", "info", "metric_info", "gated_names", "catalogue_json"]
