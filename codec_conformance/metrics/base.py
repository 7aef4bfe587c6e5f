"""Metric records and the evaluator contract.

Every metric declares itself once, in ``info = MetricInfo(...)`` (see
:mod:`codec_conformance.catalogue`): label, unit, direction, minimal meaningful difference,
gated, relative cost, corpus, stand-in. ``name``, ``higher_is_better``, ``unit``, ``gated`` and
``min_meaningful_difference`` are class attributes read from it. A variant (``pesq_nb``) is a
line of ``VARIANTS``: {name: (changes to info, constructor keywords)}. ``compute`` takes
the items, the signals under test and the clean references (all at 16 kHz) and returns a
:class:`MetricResult`. Items for which the metric is undefined are counted with a reason, never
dropped or replaced.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..catalogue import MetricInfo
from ..data.audio import content_hash
from ..progress import Stages


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
    info: ClassVar[MetricInfo] = MetricInfo("metric", "metric", "", "higher", 0.0)
    VARIANTS: ClassVar[dict[str, tuple[dict, dict]]] = {}
    name = "metric"
    higher_is_better = True
    unit = ""
    gated = True
    min_meaningful_difference = 0.0
    version = "1"
    stand_in = False
    description = ""
    evaluator: str | None = None  # name of the model behind it, when there is one
    # settings that fix its output (decoding, threads), for provenance
    evaluator_settings: dict[str, Any] | None = None
    stages: Stages = Stages()  # where long scoring says how far it is (the engine hands its own over)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "info" in cls.__dict__:  # the declaration is the one source of these attributes
            i = cls.info
            cls.name, cls.higher_is_better, cls.unit, cls.gated = i.name, i.higher_is_better, i.unit, i.gated
            cls.min_meaningful_difference = i.min_meaningful_difference
            if not isinstance(getattr(cls, "stand_in", None), property):
                cls.stand_in = i.stand_in

    @classmethod
    def variant(cls, name: str) -> type:
        """The class of variant ``name`` (a line of ``VARIANTS``): its own info, bound keywords."""
        cache = cls.__dict__.get("_variants")
        if cache is None:
            cache = {}
            cls._variants = cache  # type: ignore[attr-defined]
        if name not in cache:
            changes, bound = cls.VARIANTS[name]
            base_init = cls.__init__

            def __init__(self, *args, **kwargs):
                base_init(self, *args, **{**bound, **kwargs})

            cache[name] = type(f"{cls.__name__}_{name}", (cls,), {
                "info": replace(cls.info, name=name, **changes), "VARIANTS": {}, "__init__": __init__,
                "__module__": cls.__module__, "__doc__": cls.__doc__})
        return cache[name]

    @classmethod
    def from_settings(cls, settings=None, device: str = "cpu") -> "Metric":
        """The metric as a run builds it: with the run's evaluator options (``settings``, None
        outside a run) on ``device``. Metrics that need options override this."""
        return cls()

    @property
    def direction(self) -> str:
        return self.info.direction

    # item metrics implement this; return a float, or raise Undefined(reason)
    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt) -> float:
        raise NotImplementedError

    def compute(self, items, signals, refs, sr: int, cache=None) -> MetricResult:
        per, undef = [], {}
        for utt, deg, ref in zip(items, signals, refs):
            key = None
            if cache is not None:
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
                rec: dict = {"v": v}
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
