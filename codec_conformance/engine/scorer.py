"""The scorer: builds each metric once (its declaration's ``from_settings``) and scores a corpus'
signals, memoised per (metric, corpus, tag) and cached by content on disk."""
from __future__ import annotations

import threading
from typing import Any, Hashable

import numpy as np

from ..catalogue import metric_info
from ..codecs.cache import Cache
from ..data.corpus import Corpus
from ..metrics import build_metric
from ..metrics.base import Metric, MetricResult
from ..metrics.threads import apply_torch_threads
from ..progress import Stages
from ..settings import Settings


class Scorer:
    def __init__(self, settings: Settings, device: str, cache: Cache, timing: dict[str, float], stages: Stages):
        self.settings = settings
        self.device = device
        self.cache = cache
        self.stages = stages          # times (and may show) the stages of long work
        self.timing = timing          # shared with the session's telemetry: evaluator_s
        self.metric_s: dict[str, float] = {}      # evaluator seconds per metric
        self._lock = threading.RLock()
        self._metrics: dict[str, Metric] = {}
        self._scores: dict[tuple, MetricResult] = {}

    def metric(self, name: str) -> Metric:
        with self._lock:
            if name not in self._metrics:
                with self.stages.stage(f"loading the {name} evaluator", "loading evaluators", announce=True):
                    self._metrics[name] = build_metric(name, self.settings, device=self.device)
                apply_torch_threads()
            return self._metrics[name]

    def device_of(self, name: str) -> str:
        """The device metric ``name``'s evaluator holds (a model on cuda:N, or cpu); cpu for one
        that holds none (a signal metric: PESQ, STOI, ...) or that this process never built (the
        quantity is computed from the signals in NumPy)."""
        with self._lock:
            m = self._metrics.get(name)
        dev = getattr(m, "device", None) if m is not None else None
        return str(dev) if isinstance(dev, str) and dev else "cpu"

    def score(self, metric_name: str, corpus: Corpus, signals: list[np.ndarray],
              tag: tuple[Hashable, ...]) -> MetricResult:
        import time

        key = (metric_name, corpus.name, tag)
        with self._lock:
            if key not in self._scores:
                m = self.metric(metric_name)
                m.stages = self.stages  # a long scoring says how far it is
                t0 = time.perf_counter()
                with self.stages.stage(f"{metric_name}: scoring {len(signals)} items ({tag[0]})", f"scoring {metric_name}"):
                    self._scores[key] = score_speech_items(m, corpus, signals, self.cache)
                dt = time.perf_counter() - t0
                self.timing["evaluator_s"] += dt
                self.metric_s[metric_name] = self.metric_s.get(metric_name, 0.0) + dt
            return self._scores[key]

    def evaluator_infos(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, m in self._metrics.items():
            out[name] = {"name": m.evaluator or m.name, "stand_in": bool(m.stand_in),
                         "version": str(m.version), "description": m.description,
                         "higher_is_better": m.higher_is_better}
            if m.evaluator_settings:
                out[name]["settings"] = m.evaluator_settings
            if metric_info(m).note:
                out[name]["note"] = metric_info(m).note
        return out


def score_speech_items(metric: Metric, corpus: Corpus, signals: list[np.ndarray],
                       cache: Cache | None = None) -> MetricResult:
    """``metric.compute`` over the items that hold speech; near-silent items are undefined, with
    their reason, and keep their place in ``per_item`` (never dropped, never given a number)."""
    keep = [k for k, u in enumerate(corpus.items) if u.silent is None]
    silent = {u.id: f"no speech in the clean item: {u.silent}" for u in corpus.items if u.silent is not None}
    if len(keep) == len(corpus.items):
        return metric.compute(corpus.items, signals, [u.audio for u in corpus.items], corpus.sample_rate,
                              cache=cache)
    n = len(corpus.items)
    if not keep:
        return MetricResult(None, [None] * n, n, silent)
    items = [corpus.items[k] for k in keep]
    res = metric.compute(items, [signals[k] for k in keep], [u.audio for u in items], corpus.sample_rate,
                         cache=cache)
    per = res.per_item
    if len(per) == len(keep):  # per-item values back at their places; set metrics (EER) have none
        per = [None] * n
        for k, v in zip(keep, res.per_item):
            per[k] = v
    weights: list[float | None] | None = None
    if res.weights is not None and len(res.weights) == len(keep):
        weights = [None] * n
        for k, w in zip(keep, res.weights):
            weights[k] = w
    # a set metric's resampler indexes the kept items only: no interval then (rare)
    return MetricResult(res.value, per, n, {**silent, **res.undefined}, res.details, weights=weights)
