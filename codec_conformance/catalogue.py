"""The catalogue: what a metric, a condition kind and a suite *is*, declared once beside its code
and read by everything else (the plugin, the scheduler, thresholds, calibration, results and,
through ``results.json``, the report).

- A metric class carries ``info = MetricInfo(...)`` (label, unit, direction, minimal meaningful
  difference, gated, relative cost, corpus, stand-in, ...); a variant of a metric (``pesq_nb``,
  ``estoi``) is a line of its class's ``VARIANTS`` table, not a branch.
- A condition is a kind and its parameters (:class:`Condition`); a condition kind is a
  :class:`ConditionKind` (its grid per profile, how it is applied, the parameter its figures
  plot, what it needs from the run: the noise bank, the RIRs).
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
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .errors import ConformanceError
from .registry import load_metric_class, metric_names
from .results.contract import DIRECTIONS, condition_record
from .settings import Profile, Settings

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


# ----------------------------------------------------------------------------- conditions
# how a parameter reads in a condition's id (a test id: ``ambient-10dB``); another parameter
# reads ``<name>-<value>`` (``lowpass-cutoff_hz-4000``)
PARAM_TEXT: dict[str, Callable[[Any], str]] = {
    "snr_db": lambda v: f"{v:g}dB",
    "rt60_s": lambda v: f"rt60-{v:g}s",
    "gain_db": lambda v: f"gain{v:+g}dB",
    "level_dbfs": lambda v: f"{v:g}dBFS",
    "source": lambda v: str(v).replace("/", "_").rsplit(".", 1)[0],
}
ParamValue = float | str


@dataclass(frozen=True)
class Condition:
    """A condition: its kind and its parameters (``ambient`` at ``snr_db=10``); immutable and
    hashable. Its id (the test id's part) and its record are built from these alone."""

    kind: str
    params: tuple[tuple[str, ParamValue], ...] = ()   # (name, value), sorted by name

    @classmethod
    def of(cls, kind: str, **params: ParamValue | None) -> "Condition":
        """``Condition.of("ambient", snr_db=10)``; a parameter given as None is left out."""
        return cls(kind, tuple(sorted((k, float(v) if isinstance(v, (int, float)) else v)
                                      for k, v in params.items() if v is not None)))

    def get(self, name: str) -> ParamValue | None:
        return dict(self.params).get(name)

    def __getitem__(self, name: str) -> ParamValue:
        got = self.get(name)
        if got is None:
            raise KeyError(f"condition {self.id} has no parameter {name!r}; it has {[k for k, _ in self.params]}")
        return got

    @property
    def id(self) -> str:
        values = dict(self.params)
        known = [PARAM_TEXT[k](values[k]) for k in PARAM_TEXT if k in values]
        other = [f"{k}-{v:g}" if isinstance(v, float) else f"{k}-{v}" for k, v in self.params if k not in PARAM_TEXT]
        return "-".join([self.kind, *known, *other])

    def to_record(self) -> dict:
        """The record's condition: every parameter (the noise file or RIR included: two measured
        RIRs are two records)."""
        return condition_record(self.kind, **dict(self.params))


@dataclass(frozen=True)
class ConditionContext:
    """What applying a condition to one item may use: the run's seed, the item, and what its kind
    declares it needs (``needs``) of the run: the noise bank, the RIR bank."""

    seed: int
    item_id: str
    noise_bank: Any = None
    rir_bank: Any = None


NEEDS = ("noise_bank", "rir_bank")  # what a condition kind may need of the run


@dataclass(frozen=True)
class ConditionKind:
    """A kind of degradation, declared once: how it is applied, its grid per profile, the
    parameter that varies across the grid (the x axis of its figure), what it needs of the run,
    which suites use it. New kinds come from the entry-point group ``codec_conformance.conditions``.

    ``apply(cond, speech, sr, rng, ctx)`` returns the degraded float32 signal; ``rng`` is seeded
    by (run seed, condition id, item id) and ``ctx`` is a :class:`ConditionContext`. ``grid`` is
    either {profile name: axis values} or ``f(profile, settings) -> [Condition]``."""

    name: str
    label: str
    apply: Callable[..., np.ndarray]
    grid: Mapping[str, Sequence[float]] | Callable[..., list] = field(default_factory=dict)
    axis: str | None = None          # the parameter a grid varies (snr_db, cutoff_hz, ...) or None
    axis_label: str = ""
    suites: tuple[str, ...] = ("noise", "tokens")
    reference: bool = False          # the undegraded reference (clean): no token comparison against itself
    needs: tuple[str, ...] = ()      # of NEEDS: what apply reads from its ConditionContext

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"condition kind {self.name!r}: needs {sorted(unknown)}; it may need {NEEDS}")

    def conditions(self, profile: Profile, settings: Settings | None = None) -> list[Condition]:
        if callable(self.grid):
            return list(self.grid(profile, settings))
        values = self.grid.get(profile.name, ())
        if self.axis is None:
            return [Condition(self.name)] if values or not self.grid else []
        return [Condition.of(self.name, **{self.axis: float(v)}) for v in values]

    def to_json(self) -> dict:
        """The entry of results.json's top-level ``conditions`` block."""
        return {"label": self.label, "axis": self.axis, "axis_label": self.axis_label}


# ----------------------------------------------------------------------------- built-ins
BUILTIN_CONDITIONS = ("codec_conformance.data.conditions:CLEAN", "codec_conformance.data.conditions:AMBIENT",
                      "codec_conformance.data.conditions:WHITE", "codec_conformance.data.conditions:REVERB",
                      "codec_conformance.data.conditions:GAIN")
BUILTIN_SUITES = tuple(f"codec_conformance.suites.{m}" for m in (
    "test_noise_robustness", "test_additivity", "test_homogeneity", "test_frequency_response",
    "test_token_robustness", "test_implementation", "test_golden"))


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


def metric_info(cls: object) -> MetricInfo:
    """A metric class's (or object's) declaration, its ``info``."""
    got = getattr(cls, "info", None)
    if not isinstance(got, MetricInfo):
        raise ConformanceError(f"metric {getattr(cls, '__name__', cls)!r} declares no MetricInfo: give it "
                               "info = MetricInfo(name, label, unit, direction, min_meaningful_difference, ...)")
    return got


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


__all__ = ["MetricInfo", "SuiteInfo", "Condition", "ConditionContext", "ConditionKind", "threshold_key", "condition_kinds", "suites", "suite", "metrics",
           "quantities", "info", "metric_info", "gated_names", "catalogue_json"]
