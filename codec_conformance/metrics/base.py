"""Metric records and the evaluator contract.

Every metric declares ``name``, ``higher_is_better``, ``unit``, ``version`` and ``stand_in``
(True when it is computed with an offline substitute for the paper's model). ``compute`` takes
the items, the signals under test and the clean references (all at 16 kHz) and returns a
:class:`MetricResult`. Items for which the metric is undefined are counted with a reason, never
dropped or replaced.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MetricResult:
    value: float | None                     # aggregate; None when undefined for every item
    per_item: list[float | None] = field(default_factory=list)
    n_items: int = 0
    undefined: dict[str, str] = field(default_factory=dict)  # item id -> reason
    details: dict = field(default_factory=dict)
    # for the bootstrap (gate/statistics.py): per-item weights of a weighted mean (WER: reference
    # words), or the aggregate recomputed on item positions (EER) and its resampling unit
    weights: list[float | None] | None = None
    resample: object = None            # callable(indices) -> float | None
    resample_by: str = "item"          # "item" | "speaker"

    @property
    def n_undefined(self) -> int:
        return len(self.undefined)


class Metric:
    name = "metric"
    higher_is_better = True
    unit = ""
    version = "1"
    stand_in = False
    scope = "item"          # "item": mean over items; "set": one value from all items (WER, EER)
    description = ""
    evaluator = None        # name of the model behind it, when there is one
    evaluator_settings = None  # dict of settings that fix its output (decoding, threads), for provenance
    gated = True            # False: recorded, never gated (no threshold, no baseline regression)
    # smallest change that matters, in the metric's unit: the baseline gate flags a worsening only
    # when it is both significant and at least this large (docs/statistics.md); None: no minimum
    min_meaningful_difference: float | None = None

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    def info(self) -> dict:
        return {"name": self.name, "higher_is_better": self.higher_is_better, "unit": self.unit,
                "version": self.version, "stand_in": self.stand_in, "evaluator": self.evaluator, "gated": self.gated,
                "description": self.description}

    # item metrics implement this; return a float, or raise Undefined(reason)
    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt) -> float:
        raise NotImplementedError

    def compute(self, items, signals, refs, sr: int, cache=None) -> MetricResult:
        per, undef = [], {}
        for utt, deg, ref in zip(items, signals, refs):
            key = None
            if cache is not None:
                from ..data.audio import content_hash
                key = content_hash("metric", self.name, self.version, ref, deg, sr)
                hit = cache.get_json(key)
                if hit is not None:
                    per.append(hit.get("v"))
                    if hit.get("why"):
                        undef[utt.id] = hit["why"]
                    continue
            try:
                v = float(self.item(ref, deg, sr, utt))
                if not np.isfinite(v):
                    raise Undefined(f"{self.name} returned {v}")
                per.append(v)
                rec = {"v": v}
            except Undefined as u:
                per.append(None)
                undef[utt.id] = str(u)
                rec = {"v": None, "why": str(u)}
            if key is not None:
                cache.put_json(key, rec)
        vals = [v for v in per if v is not None]
        return MetricResult(float(np.mean(vals)) if vals else None, per, len(items), undef)


class LazyModelMetric(Metric):
    """A metric backed by a model that is loaded on first use (``make_model``); its name,
    stand-in flag and version come from that model."""

    _model_obj = None

    def make_model(self):
        raise NotImplementedError

    @property
    def model_obj(self):
        if self._model_obj is None:
            self._model_obj = self.make_model()
        return self._model_obj

    @property
    def evaluator(self):
        return self.model_obj.name

    @property
    def stand_in(self):
        return self.model_obj.stand_in

    @property
    def version(self):
        return f"1/{self.model_obj.name}/{self.model_obj.version}{self.version_suffix}"

    version_suffix = ""


class Undefined(Exception):
    """The metric has no value for this item; the message is the reason."""
